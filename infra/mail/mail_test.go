package mail_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/mail"
)

func TestMain(m *testing.M) { os.Exit(localsvc.RunTests(m, localsvc.Mailpit)) }

func TestSendDeliversTextAndHTMLThroughSMTP(t *testing.T) {
	t.Parallel()
	s, err := mail.NewSender(os.Getenv("BD_SMTP_ADDR"), "Demo Broker <no-reply@demo.example>", "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	to := "trader+" + t.Name() + "@example.com"
	to = strings.ToLower(strings.ReplaceAll(to, "/", "-"))
	err = s.Send(ctx, mail.Message{To: to, Subject: "Vérifiez votre email", Text: "Plain body ünïcode\nline two", HTML: "<p>HTML body</p>"})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := localsvc.MailpitMessages(ctx, os.Getenv("BD_MAILPIT_URL"), to)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("Mailpit holds %d messages for %s, want 1", len(msgs), to)
	}
	m := msgs[0]
	if m.Subject != "Vérifiez votre email" || !strings.Contains(m.Text, "Plain body ünïcode") || !strings.Contains(m.HTML, "<p>HTML body</p>") {
		t.Fatalf("message as received: %+v", m)
	}
}

func TestSendRefusesABadRecipient(t *testing.T) {
	t.Parallel()
	s, _ := mail.NewSender(os.Getenv("BD_SMTP_ADDR"), "no-reply@demo.example", "", "")
	if err := s.Send(context.Background(), mail.Message{To: "not an address", Subject: "x", Text: "x"}); err == nil {
		t.Fatal("sent to an invalid address")
	}
}
