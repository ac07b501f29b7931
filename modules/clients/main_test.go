package clients_test

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres, localsvc.Mailpit) }

// bundle is one test's world: a tenant on the shared platform and the real services registration uses (identity
// for the portal login, emails through Mailpit).
type bundle struct {
	p     *tenanttest.Platform
	ten   tenants.Tenant
	trail *audit.Service
	ids   *identity.Service
	svc   *clients.Service
	clock *tenanttest.Clock
}

var tenantURL = identitytest.TenantURL

func setup(tb testing.TB) *bundle {
	tb.Helper()
	p := tenanttest.Shared(tb)
	b := &bundle{p: p, ten: p.NewTenant(tb, ""), trail: audit.NewService(p.Gate), clock: tenanttest.NewClock(time.Now())}
	b.ids = identitytest.New(tb, p.Gate, b.trail).Service
	mails, err := emails.NewService(emails.Options{Registry: p.Registry, Brands: branding.NewService(p.Gate),
		From: "BrokerDesk <no-reply@brokerdesk.test>", TenantURL: tenantURL,
		MailerFor: func(from string) (emails.Mailer, error) {
			return mail.NewSender(os.Getenv("BD_SMTP_ADDR"), from, "", "")
		}})
	if err != nil {
		tb.Fatal(err)
	}
	b.svc = clients.NewService(clients.Options{Gate: p.Gate, Audit: b.trail, Portal: b.ids, Emails: mails, Now: b.clock.Now})
	return b
}

// registration is a valid registration with a fresh email.
func registration() clients.Registration {
	return clients.Registration{Email: "trader." + tenanttest.RandomLabel(10) + "@example.com", Password: "Correct-Horse-Battery-9",
		FirstName: "Ada", LastName: "Lovelace", Country: "GB", Phone: "+44 20 7946 0958", DateOfBirth: "1990-04-25",
		MarketingConsent: true}
}

// sendVerifications runs the verification tasks waiting in the tenant's outbox, as the worker would.
func (b *bundle) sendVerifications(tb testing.TB) []jobs.Envelope {
	tb.Helper()
	ctx := context.Background()
	var envs []jobs.Envelope
	err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT idem_key, payload FROM outbox WHERE task_type = $1 AND enqueued_at IS NULL`, clients.TaskSendVerification)
		if err != nil {
			return err
		}
		envs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobs.Envelope, error) {
			e := jobs.Envelope{TenantID: b.ten.ID}
			return e, r.Scan(&e.Key, &e.Payload)
		})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET enqueued_at = now() WHERE task_type = $1 AND enqueued_at IS NULL`, clients.TaskSendVerification)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range envs {
		if err := b.svc.HandleSendVerification(ctx, b.ten, e); err != nil {
			tb.Fatal(err)
		}
	}
	return envs
}

var verifyLink = regexp.MustCompile(`/portal/verify/([A-Za-z0-9_-]+)`)

// tokensFor polls Mailpit until n verification emails to addr arrived and returns their tokens, newest first.
func tokensFor(tb testing.TB, addr string, n int) []string {
	tb.Helper()
	msgs := localsvc.AwaitMail(tb, addr, n, 10*time.Second)
	var out []string
	for _, m := range msgs {
		if l := verifyLink.FindStringSubmatch(m.Text); l != nil {
			out = append(out, l[1])
		}
	}
	if len(out) < n {
		tb.Fatalf("%d emails to %s, %d with a verification link", len(msgs), addr, len(out))
	}
	return out
}

// addStaff adds an active (or given status) staff user with roles and returns its id.
func (b *bundle) addStaff(tb testing.TB, status string, roles ...string) uuid.UUID {
	tb.Helper()
	id := uuid.New()
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO staff_users (id, email, full_name, roles, status) VALUES ($1, $2, 'Staff Member', $3, $4)`,
			id, id.String()+"@staff.test", roles, status)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// count runs a count query in the tenant's scope.
func (b *bundle) count(tb testing.TB, sql string, args ...any) int {
	tb.Helper()
	var n int
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, sql, args...).Scan(&n)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
