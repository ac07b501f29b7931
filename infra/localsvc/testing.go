package localsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// RunTests runs a test binary's tests with the given services, starting them (two Postgres clusters, fsync off)
// in a temporary directory unless the environment already names them, as it does under `make test`. Call it as
// os.Exit(localsvc.RunTests(m, ...)) from TestMain.
func RunTests(m *testing.M, services ...Service) int {
	dir, err := os.MkdirTemp("", "brokerdesk-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r, err := Start(ctx, Options{Dir: dir, Services: services, PostgresClusters: 2, Ephemeral: true, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "localsvc:", err)
		return 1
	}
	defer r.Stop()
	for _, kv := range r.Endpoints.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	return m.Run()
}

// MailpitMessage is a message as Mailpit's API reports it.
type MailpitMessage struct {
	ID      string
	Subject string
	Text    string
	HTML    string
	To      []string
}

// AwaitMail polls the test run's Mailpit (BD_MAILPIT_URL) until at least n messages to addr arrived and returns
// them, newest first; after timeout it fails tb, saying how many came.
func AwaitMail(tb testing.TB, addr string, n int, timeout time.Duration) []MailpitMessage {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs, err := MailpitMessages(context.Background(), os.Getenv("BD_MAILPIT_URL"), addr)
		if err != nil {
			tb.Fatal(err)
		}
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d emails to %s within %v, want %d", len(msgs), addr, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MailpitMessages returns the messages Mailpit holds for one recipient, newest first, with their bodies.
func MailpitMessages(ctx context.Context, mailpitURL, to string) ([]MailpitMessage, error) {
	var list struct {
		Messages []struct {
			ID      string
			Subject string
			To      []struct{ Address string }
		}
	}
	if err := getJSON(ctx, mailpitURL+"/api/v1/search?query="+url.QueryEscape("to:\""+to+"\""), &list); err != nil {
		return nil, err
	}
	var out []MailpitMessage
	for _, m := range list.Messages {
		var full struct{ Text, HTML string }
		if err := getJSON(ctx, mailpitURL+"/api/v1/message/"+m.ID, &full); err != nil {
			return nil, err
		}
		msg := MailpitMessage{ID: m.ID, Subject: m.Subject, Text: full.Text, HTML: full.HTML}
		for _, t := range m.To {
			msg.To = append(msg.To, t.Address)
		}
		out = append(out, msg)
	}
	return out, nil
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}
