package bonuses

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// sendNow sends a queued email at once through the real emails service (to the test run's Mailpit), so the test
// reads what the client would get without running the outbox's relay and worker (modules/emails tests those).
type sendNow struct{ svc *emails.Service }

func (s sendNow) Queue(ctx context.Context, _ pgx.Tx, t tenants.Tenant, _ string, e emails.Email) error {
	return s.svc.Send(ctx, t, e)
}

// announcing gives w's engine an event hall (the outbox rows its subscribers' deliveries would be) and emails sent
// at once to the test run's Mailpit.
func announcing(t *testing.T, w *world) {
	t.Helper()
	mails, err := emails.NewService(emails.Options{Registry: w.p.Registry, Brands: branding.NewService(w.p.Gate),
		From: "BrokerDesk <no-reply@brokerdesk.test>", TenantURL: identitytest.TenantURL,
		MailerFor: func(from string) (emails.Mailer, error) {
			return mail.NewSender(os.Getenv("BD_SMTP_ADDR"), from, "", "")
		}})
	if err != nil {
		t.Fatal(err)
	}
	hall := events.New(events.Options{Gate: w.p.Gate})
	w.svc.o.Events, w.svc.o.Emails = hall, sendNow{mails}
	w.svc.Subscribe(hall)
	if err := hall.Err(); err != nil {
		t.Fatal(err)
	}
}

// A grant publishes bonus.granted in its transaction (an outbox row for the email's subscriber, once however often
// the deposit is redelivered), and the subscriber's delivery sends the client a branded email with the amount, the
// turnover and the expiry, linking to the portal's bonuses; a forfeiture's event sends its email with the reason;
// the release is announced in its transaction too.
func TestAGrantIsAnnouncedAndTheClientIsEmailed(t *testing.T) {
	t.Parallel()
	w := setup(t)
	announcing(t, w)
	w.rule(t, "2nd deposit 50% up to $500", secondDeposit())
	w.advance(time.Second)
	ann := w.client(t, "Ann", "GB", "standard")
	e := w.deposit(t, ann, 2, 40000)
	w.redeliver(t, e)

	var raw []json.RawMessage
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT payload->'event' FROM outbox WHERE task_type = $1`, events.PublishType(EventGranted))
		if err != nil {
			return err
		}
		raw, err = pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
		return err
	})
	if len(raw) != 1 {
		t.Fatalf("%d bonus.granted deliveries for the email, want 1", len(raw))
	}
	var g Granted
	if err := json.Unmarshal(raw[0], &g); err != nil || g.ClientID != ann || g.Amount != 20000 || g.Currency != "USD" {
		t.Fatalf("payload %s: %v", raw[0], err)
	}
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return w.svc.emailGranted(ctx, tx, w.ten, meta(w.clock()), g)
	})
	var to string
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT email FROM clients WHERE id = $1`, ann).Scan(&to)
	})
	m := localsvc.AwaitMail(t, to, 1, 10*time.Second)[0]
	if m.Subject != "Bonus granted: 200.00 USD" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"Hello Ann,", "2nd deposit 50% up to $500", "100.00 lots", "https://" + w.ten.Slug + ".brokerdesk.test/portal/bonuses"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the email lacks %q: %s", want, m.Text)
		}
	}

	// The forfeiture's event (published by the forfeiture) sends its email with the reason.
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return w.svc.emailForfeited(ctx, tx, w.ten, meta(w.clock()), Forfeited{BonusID: g.BonusID, ClientID: ann, Amount: 5000, Currency: "USD", Exponent: 2,
			Reason: "You withdrew 100.00 USD while the bonus was open."})
	})
	if m := localsvc.AwaitMail(t, to, 2, 10*time.Second)[0]; m.Subject != "Bonus forfeited: 50.00 USD" || !strings.Contains(m.Text, "You withdrew 100.00 USD") {
		t.Errorf("the forfeiture's email: %q %s", m.Subject, m.Text)
	}

	// The turnover met releases the bonus, announced in the same transaction.
	w.closed(t, w.account(ann), w.closingDeal("9001", "100", w.clock().Add(time.Minute), 2*time.Minute))
	var released int
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE task_type = $1 AND payload->'event'->>'bonus_id' = $2`,
			events.PublishType(EventReleased), g.BonusID.String()).Scan(&released)
	})
	if bs := w.bonuses(t, ann); released != 1 || bs[0].Status != "released" {
		t.Errorf("released: %d announcements, status %s", released, bs[0].Status)
	}
}

// An expiry and a cancellation are each announced in the transaction that reverses the grant (bonus.expired with
// the lots traded, bonus.cancelled with the reason), and their subscribers' deliveries email the client.
func TestAnExpiryAndACancellationAreAnnouncedAndTheClientIsEmailed(t *testing.T) {
	t.Parallel()
	w := setup(t)
	announcing(t, w)
	terms := secondDeposit()
	terms.ValidDays = 1
	w.rule(t, "Short", terms)
	w.advance(time.Second)
	gia, hal := w.client(t, "Gia", "GB", "standard"), w.client(t, "Hal", "GB", "standard")
	w.deposit(t, gia, 2, 40000)
	w.deposit(t, hal, 2, 10000)
	ctx := context.Background()
	if err := w.svc.Cancel(ctx, w.ten, staffer, w.bonuses(t, hal)[0].ID, "The bonus was granted on a deposit that was charged back."); err != nil {
		t.Fatal(err)
	}
	w.advance(25 * time.Hour)
	if n, err := w.svc.ExpireDue(ctx, w.ten, 10); err != nil || n != 1 {
		t.Fatalf("expired %d (%v)", n, err)
	}
	payload := func(eventType string, client any) json.RawMessage {
		t.Helper()
		var raw []json.RawMessage
		w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT payload->'event' FROM outbox WHERE task_type = $1 AND payload->'event'->>'client_id' = $2`,
				events.PublishType(eventType), client)
			if err != nil {
				return err
			}
			raw, err = pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
			return err
		})
		if len(raw) != 1 {
			t.Fatalf("%d %s events, want 1", len(raw), eventType)
		}
		return raw[0]
	}
	var ex Expired
	if err := json.Unmarshal(payload(EventExpired, gia.String()), &ex); err != nil || ex.Amount != 20000 || ex.LotsDone != "0.00" || ex.LotsRequired != "100.00" {
		t.Fatalf("bonus.expired %+v: %v", ex, err)
	}
	var ca Cancelled
	if err := json.Unmarshal(payload(EventCancelled, hal.String()), &ca); err != nil || ca.Amount != 5000 || !strings.Contains(ca.Reason, "charged back") {
		t.Fatalf("bonus.cancelled %+v: %v", ca, err)
	}
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return w.svc.emailExpired(ctx, tx, w.ten, meta(w.clock()), ex)
	})
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return w.svc.emailCancelled(ctx, tx, w.ten, meta(w.clock()), ca)
	})
	for client, want := range map[any][]string{
		gia: {"Bonus expired: 200.00 USD", "Short", "expired with 0.00 of 100.00 lots traded"},
		hal: {"Bonus cancelled: 50.00 USD", "Short", "charged back"},
	} {
		var to string
		w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT email FROM clients WHERE id = $1`, client).Scan(&to)
		})
		m := localsvc.AwaitMail(t, to, 1, 10*time.Second)[0]
		if m.Subject != want[0] {
			t.Errorf("subject %q, want %q", m.Subject, want[0])
		}
		for _, w := range want[1:] {
			if !strings.Contains(m.Text, w) {
				t.Errorf("%s's email lacks %q: %s", to, w, m.Text)
			}
		}
	}
}
