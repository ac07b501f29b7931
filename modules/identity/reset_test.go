package identity_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

type outboxRow struct {
	key     string
	payload map[string]string
}

// resetTasks are the tenant's password-reset outbox rows, oldest first.
func (b *bundle) resetTasks(t *testing.T) []outboxRow {
	t.Helper()
	var out []outboxRow
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT idem_key, payload FROM outbox WHERE task_type = $1 ORDER BY id`, identity.TaskPasswordReset)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r outboxRow
			var raw []byte
			if err := rows.Scan(&r.key, &raw); err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &r.payload); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (b *bundle) countRows(t *testing.T, sql string) int {
	t.Helper()
	var n int
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, sql).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestResetRequestDoesTheSameWorkWhetherOrNotTheAddressHasALogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	known := "ada-" + b.ten.Slug + "@harbour.example"
	unknown := "nobody-" + b.ten.Slug + "@harbour.example"
	b.addStaff(t, known, goodPassword, "admin")
	for _, e := range []string{"  " + strings.ToUpper(known) + " ", unknown, known} {
		if r := do(t, b.app, "POST", "/api/v1/auth/staff/password-reset", "", identity.ResetRequest{Email: e}); r.Status != 202 {
			t.Fatalf("reset request for %q: %d %s", e, r.Status, r.Body)
		}
	}
	// In the request: one outbox row each, with the kind and the normalised address, a key per request; nothing
	// looked up, minted, audited or sent.
	tasks := b.resetTasks(t)
	if len(tasks) != 3 {
		t.Fatalf("outbox rows: %+v", tasks)
	}
	for i, want := range []string{known, unknown, known} {
		if tasks[i].payload["kind"] != "staff" || tasks[i].payload["email"] != want || len(tasks[i].payload) != 2 {
			t.Errorf("row %d payload %v, want staff %s", i, tasks[i].payload, want)
		}
	}
	if tasks[0].key == tasks[2].key {
		t.Fatal("two requests for one address share an idempotency key: the second would send nothing")
	}
	if n := b.countRows(t, `SELECT count(*) FROM password_resets`); n != 0 {
		t.Fatalf("%d reset links minted in the request", n)
	}
	if got := b.actions(t); count(got, identity.ActionResetRequested) != 0 {
		t.Fatalf("audited in the request: %v", got)
	}

	// The worker: two links to the known address, nothing to the unknown one.
	b.deliver(t)
	deadline := time.Now().Add(10 * time.Second)
	for b.countRows(t, `SELECT count(*) FROM password_resets`) < 2 || !strings.Contains(b.logs.String(), "nothing sent") {
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not handle the three tasks:\n%s", b.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	localsvc.AwaitMail(t, known, 2, 10*time.Second)
	if msgs, _ := localsvc.MailpitMessages(context.Background(), os.Getenv("BD_MAILPIT_URL"), known); len(msgs) != 2 {
		t.Fatalf("%d emails to the known address, want 2", len(msgs))
	}
	if msgs, _ := localsvc.MailpitMessages(context.Background(), os.Getenv("BD_MAILPIT_URL"), unknown); len(msgs) != 0 {
		t.Fatalf("an email went to an address without a login: %+v", msgs)
	}
	if got := b.actions(t); count(got, identity.ActionResetRequested) != 2 {
		t.Fatalf("audit: %v", got)
	}
}
