package emails_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres, localsvc.Redis, localsvc.Mailpit) }

// bundle is one test's platform, service and private Asynq queue.
type bundle struct {
	p     *tenanttest.Platform
	svc   *emails.Service
	queue string
	redis asynq.RedisConnOpt
}

func tenantURL(t tenants.Tenant, path string) string {
	return "https://" + t.Slug + ".brokerdesk.test" + path
}

func setup(t *testing.T, p *tenanttest.Platform) *bundle {
	t.Helper()
	b := &bundle{p: p, queue: "t" + tenanttest.RandomLabel(12), redis: redisOpt(t)}
	b.svc = b.service(t, os.Getenv("BD_SMTP_ADDR"))
	return b
}

// service returns an emails service sending through the SMTP server at smtpAddr, with the bundle's Redis.
func (b *bundle) service(t *testing.T, smtpAddr string) *emails.Service {
	t.Helper()
	svc, err := emails.NewService(emails.Options{
		Registry: b.p.Registry, Brands: branding.NewService(b.p.Gate), From: "BrokerDesk <no-reply@brokerdesk.test>",
		MailerFor: func(from string) (emails.Mailer, error) {
			return mail.NewSender(smtpAddr, from, "", "")
		},
		TenantURL: tenantURL, Queue: b.queue, Redis: b.redis,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

// brandedTenant is a new tenant whose branding is Harbour Markets in green and orange.
func brandedTenant(t *testing.T, p *tenanttest.Platform) tenants.Tenant {
	t.Helper()
	ten := p.NewTenant(t, "")
	err := p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('branding', '{"name": "Harbour Markets", "primary_color": "#0a7d4f",
			"accent_color": "#e4572e", "logo_url": "/static/logo.png"}') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ten
}

func recipient() string { return "trader-" + tenanttest.RandomLabel(12) + "@example.com" }

// received is a message in Mailpit with its From header.
type received struct {
	localsvc.MailpitMessage
	FromName, FromAddress string
}

// inbox returns what Mailpit holds for to.
func inbox(t *testing.T, to string) []received {
	t.Helper()
	ctx := context.Background()
	base := os.Getenv("BD_MAILPIT_URL")
	msgs, err := localsvc.MailpitMessages(ctx, base, to)
	if err != nil {
		t.Fatal(err)
	}
	var out []received
	for _, m := range msgs {
		res, err := http.Get(base + "/api/v1/message/" + m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var full struct {
			From struct{ Name, Address string }
		}
		err = json.NewDecoder(res.Body).Decode(&full)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, received{MailpitMessage: m, FromName: full.From.Name, FromAddress: full.From.Address})
	}
	return out
}

// one waits for exactly one message to to and returns it.
func one(t *testing.T, to string) received {
	t.Helper()
	msgs := inbox(t, to)
	if len(msgs) != 1 {
		t.Fatalf("%d messages to %s, want 1", len(msgs), to)
	}
	return msgs[0]
}

func TestEveryTemplateRendersWithTheTenantsBrandSubjectAndLinks(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	b := setup(t, p)
	ten := brandedTenant(t, p)
	host := "https://" + ten.Slug + ".brokerdesk.test"
	cases := []struct {
		template string
		data     map[string]any
		subject  string
		link     string   // absolute link expected in text and HTML ("" for none)
		shows    []string // further text every body shows
	}{
		{emails.TemplateVerifyEmail, map[string]any{"FirstName": "Ada", "Link": "/portal/verify/abc123"},
			"Verify your email for Harbour Markets", host + "/portal/verify/abc123", nil},
		{emails.TemplateDocumentsReceived, map[string]any{"FirstName": "Ada", "Documents": []string{"Passport", "Proof of address"}},
			"We received your documents", "", []string{"Passport", "Proof of address"}},
		{emails.TemplateKYCApproved, map[string]any{"FirstName": "Ada", "PortalURL": host + "/portal"},
			"Your Harbour Markets account is approved", host + "/portal", nil},
		{emails.TemplateDocumentRejected, map[string]any{"FirstName": "Ada", "Document": "Passport", "Reason": "The photo page is cut off."},
			"Your document was not accepted", "", []string{"Passport", "The photo page is cut off."}},
		{emails.TemplateMoreInfoNeeded, map[string]any{"FirstName": "Ada", "Document": "Proof of address",
			"Message": "Please send a bill dated within 3 months.", "UploadURL": "/portal/documents"},
			"More information needed for your Proof of address", host + "/portal/documents", []string{"Please send a bill dated within 3 months."}},
		{emails.TemplateDocumentExpiring, map[string]any{"FirstName": "Ada", "Document": "Passport",
			"ExpiresOn": time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), "UploadURL": "/portal/documents"},
			"Your Passport expires on 15 January 2027", host + "/portal/documents", []string{"15 January 2027"}},
		{emails.TemplateDepositReceived, map[string]any{"FirstName": "Ada", "Amount": "1,250.00 USD", "Method": "Card (Stripe)",
			"Reference": "0190a3b4-7d1c-7f00-8000-000000000001", "WalletURL": "/portal/wallet"},
			"Deposit credited: 1,250.00 USD", host + "/portal/wallet", []string{"Card (Stripe)", "0190a3b4-7d1c-7f00-8000-000000000001"}},
		{emails.TemplateTradingAccountOpened, map[string]any{"FirstName": "Ada", "Kind": "live", "AccountType": "Standard", "Login": "700001",
			"Server": "MT5 Live", "Details": "USD, 1:100", "Password": "Xy7#kP2q!mW4", "InvestorPassword": "Rb3$tN8v?zL6", "AccountsURL": "/portal/trading"},
			"Your live account 700001 is open", host + "/portal/trading", []string{"700001", "MT5 Live", "Xy7#kP2q!mW4", "Rb3$tN8v?zL6"}},
		{emails.TemplateWithdrawalUpdate, map[string]any{"FirstName": "Ada", "Amount": "250.00 USD", "Step": "refused",
			"Message": "The bank account is not in your name. The money is back in your wallet.", "WalletURL": "/portal/wallet"},
			"Withdrawal refused: 250.00 USD", host + "/portal/wallet", []string{"250.00 USD", "The bank account is not in your name."}},
		{emails.TemplateTradingPasswordReset, map[string]any{"FirstName": "Ada", "Login": "700001", "Server": "MT5 Live", "Which": "investor (read-only)",
			"Password": "Xy7#kP2q!mW4", "AccountsURL": "/portal/trading"},
			"A new investor (read-only) password for account 700001", host + "/portal/trading", []string{"700001", "MT5 Live", "Xy7#kP2q!mW4"}},
		{emails.TemplateBonusGranted, map[string]any{"FirstName": "Ada", "Amount": "200.00 USD", "Rule": "2nd deposit 50% up to $500",
			"Lots": "100.00", "ExpiresOn": time.Date(2027, 3, 9, 0, 0, 0, 0, time.UTC), "BonusesURL": "/portal/bonuses"},
			"Bonus granted: 200.00 USD", host + "/portal/bonuses", []string{"2nd deposit 50% up to $500", "100.00 lots", "9 March 2027"}},
		{emails.TemplateBonusReleased, map[string]any{"FirstName": "Ada", "Amount": "200.00 USD", "Rule": "2nd deposit 50% up to $500",
			"Lots": "100.00", "WalletURL": "/portal/wallet"},
			"Bonus released to your wallet: 200.00 USD", host + "/portal/wallet", []string{"100.00 lots", "you can withdraw it"}},
		{emails.TemplateBonusForfeited, map[string]any{"FirstName": "Ada", "Amount": "120.00 USD", "Rule": "Welcome 100%",
			"Reason": "You withdrew 300.00 USD while the bonus was open.", "BonusesURL": "/portal/bonuses"},
			"Bonus forfeited: 120.00 USD", host + "/portal/bonuses", []string{"Welcome 100%", "You withdrew 300.00 USD while the bonus was open."}},
		{emails.TemplateBonusExpired, map[string]any{"FirstName": "Ada", "Amount": "200.00 USD", "Rule": "2nd deposit 50% up to $500",
			"Done": "12.50", "Lots": "100.00", "BonusesURL": "/portal/bonuses"},
			"Bonus expired: 200.00 USD", host + "/portal/bonuses", []string{"expired with 12.50 of 100.00 lots traded", "removed"}},
		{emails.TemplateBonusCancelled, map[string]any{"FirstName": "Ada", "Amount": "200.00 USD", "Rule": "Welcome 100%",
			"Reason": "The bonus was granted on a deposit that was charged back.", "BonusesURL": "/portal/bonuses"},
			"Bonus cancelled: 200.00 USD", host + "/portal/bonuses", []string{"Welcome 100%", "cancelled by", "charged back"}},
	}
	if len(cases) != len(emails.Templates()) {
		t.Fatalf("cases cover %d templates, the module has %d", len(cases), len(emails.Templates()))
	}
	for _, c := range cases {
		to := recipient()
		if err := b.svc.Send(context.Background(), ten, emails.Email{Template: c.template, To: to, Data: c.data}); err != nil {
			t.Fatalf("%s: %v", c.template, err)
		}
		m := one(t, to)
		if m.Subject != c.subject {
			t.Errorf("%s: subject %q, want %q", c.template, m.Subject, c.subject)
		}
		if m.FromName != "Harbour Markets" || m.FromAddress != "no-reply@brokerdesk.test" {
			t.Errorf("%s: from %q <%s>, want Harbour Markets <no-reply@brokerdesk.test>", c.template, m.FromName, m.FromAddress)
		}
		for _, want := range []string{"Harbour Markets", "#0a7d4f", "#e4572e", `src="` + host + `/static/logo.png"`, "Hello Ada,"} {
			if !strings.Contains(m.HTML, want) {
				t.Errorf("%s: HTML lacks %q", c.template, want)
			}
		}
		if !strings.Contains(m.Text, "Hello Ada,") || !strings.Contains(m.Text, "Harbour Markets") {
			t.Errorf("%s: text lacks the greeting or the brand: %q", c.template, m.Text)
		}
		if c.link != "" && (!strings.Contains(m.Text, c.link) || !strings.Contains(m.HTML, `href="`+c.link+`"`)) {
			t.Errorf("%s: link %s missing from text or HTML", c.template, c.link)
		}
		for _, s := range c.shows {
			if !strings.Contains(m.Text, s) || !strings.Contains(m.HTML, s) {
				t.Errorf("%s: %q missing from text or HTML", c.template, s)
			}
		}
	}
}

func TestValuesInDataAreEscapedInHTMLAndCannotBreakHeaders(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	b := setup(t, p)
	ten := brandedTenant(t, p)
	to := recipient()
	err := b.svc.Send(context.Background(), ten, emails.Email{Template: emails.TemplateMoreInfoNeeded, To: to, Data: map[string]any{
		"FirstName": "<script>alert(1)</script>", "Document": "Passport\r\nBcc: victim@example.com",
		"Message": `"><img src=x onerror=alert(2)>`, "UploadURL": "/portal/documents?next=\"><script>",
	}})
	if err != nil {
		t.Fatal(err)
	}
	m := one(t, to)
	for _, bad := range []string{"<script>", "<img src=x", `"><script>`} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("HTML holds %q unescaped", bad)
		}
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(m.HTML, "&#34;&gt;&lt;img src=x") {
		t.Errorf("HTML does not show the first name and the message escaped")
	}
	if m.Subject != "More information needed for your Passport Bcc: victim@example.com" || len(m.To) != 1 || m.To[0] != to {
		t.Errorf("subject %q to %v: a value broke the headers", m.Subject, m.To)
	}
	if len(inbox(t, "victim@example.com")) != 0 {
		t.Error("a value in the subject added a recipient")
	}
}

func TestABrandWithBadColoursAndAScriptLogoFallsBackInTheEmail(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	b := setup(t, p)
	ten := p.NewTenant(t, "")
	err := p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('branding', '{"name": "Evil & Co", "primary_color": "red;}</style><script>x()</script>",
			"accent_color": "url(javascript:x)", "logo_url": "javascript:alert(1)"}') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	to := recipient()
	if err := b.svc.Send(context.Background(), ten, emails.Email{Template: emails.TemplateKYCApproved, To: to,
		Data: map[string]any{"FirstName": "Ada", "PortalURL": "/portal"}}); err != nil {
		t.Fatal(err)
	}
	m := one(t, to)
	for _, bad := range []string{"<script>", "javascript:", "red;", "<img"} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("HTML holds %q", bad)
		}
	}
	if !strings.Contains(m.HTML, "#1f4e79") || !strings.Contains(m.HTML, "Evil &amp; Co") || m.FromName != "Evil & Co" {
		t.Errorf("fallback colour or escaped name missing; from %q", m.FromName)
	}
}

// outboxRows counts the tenant's emails:send rows.
func outboxRows(t *testing.T, p *tenanttest.Platform, ten tenants.Tenant) int {
	t.Helper()
	var n int
	err := p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE task_type = $1`, emails.TaskSend).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func approved(to string) emails.Email {
	return emails.Email{Template: emails.TemplateKYCApproved, To: to, Data: map[string]any{"FirstName": "Ada", "PortalURL": "/portal"}}
}

func TestQueueWritesOneOutboxRowOnlyWhenTheTransactionCommits(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	b := setup(t, p)
	ten := p.NewTenant(t, "")
	ctx := context.Background()
	to := recipient()
	errRollback := errors.New("roll back")
	err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := b.svc.Queue(ctx, tx, ten, "approved:1", approved(to)); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	if n := outboxRows(t, p, ten); n != 0 {
		t.Fatalf("%d outbox rows after a rollback, want 0", n)
	}
	for i := range 2 { // the same key twice, in two transactions: one row
		err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			return b.svc.Queue(ctx, tx, ten, "approved:1", approved(to))
		})
		if err != nil {
			t.Fatalf("queue #%d: %v", i+1, err)
		}
		if n := outboxRows(t, p, ten); n != 1 {
			t.Fatalf("%d outbox rows after commit #%d, want 1", n, i+1)
		}
	}
	other := approved(to)
	other.Data["FirstName"] = "Bob"
	err = p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.svc.Queue(ctx, tx, ten, "approved:1", other)
	})
	if !errors.Is(err, jobs.ErrKeyReused) {
		t.Fatalf("same key, different email: %v; want jobs.ErrKeyReused", err)
	}
	if len(inbox(t, to)) != 0 {
		t.Fatal("Queue sent mail itself")
	}
}

func TestQueueRefusesAnEmailThatDoesNotFitItsTemplateAndWritesNothing(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	b := setup(t, p)
	ten := p.NewTenant(t, "")
	to := recipient()
	cases := []struct {
		name string
		e    emails.Email
		want error
	}{
		{"unknown template", emails.Email{Template: "welcome", To: to, Data: map[string]any{"FirstName": "Ada"}}, emails.ErrUnknownTemplate},
		{"missing value", emails.Email{Template: emails.TemplateKYCApproved, To: to, Data: map[string]any{"FirstName": "Ada"}}, emails.ErrInvalid},
		{"empty value", emails.Email{Template: emails.TemplateKYCApproved, To: to, Data: map[string]any{"FirstName": "  ", "PortalURL": "/portal"}}, emails.ErrInvalid},
		{"unknown key", emails.Email{Template: emails.TemplateKYCApproved, To: to, Data: map[string]any{"FirstName": "Ada", "PortalURL": "/portal", "Token": "s3cret"}}, emails.ErrInvalid},
		{"wrong type", emails.Email{Template: emails.TemplateDocumentsReceived, To: to, Data: map[string]any{"FirstName": "Ada", "Documents": "Passport"}}, emails.ErrInvalid},
		{"empty list", emails.Email{Template: emails.TemplateDocumentsReceived, To: to, Data: map[string]any{"FirstName": "Ada", "Documents": []string{}}}, emails.ErrInvalid},
		{"bad date", emails.Email{Template: emails.TemplateDocumentExpiring, To: to, Data: map[string]any{"FirstName": "Ada", "Document": "Passport", "ExpiresOn": "next week", "UploadURL": "/portal/documents"}}, emails.ErrInvalid},
		{"link to another host", emails.Email{Template: emails.TemplateKYCApproved, To: to, Data: map[string]any{"FirstName": "Ada", "PortalURL": "https://evil.example/portal"}}, emails.ErrInvalid},
		{"protocol-relative link", emails.Email{Template: emails.TemplateKYCApproved, To: to, Data: map[string]any{"FirstName": "Ada", "PortalURL": "//evil.example/portal"}}, emails.ErrInvalid},
		{"script link", emails.Email{Template: emails.TemplateKYCApproved, To: to, Data: map[string]any{"FirstName": "Ada", "PortalURL": "javascript:alert(1)"}}, emails.ErrInvalid},
		{"bad recipient", emails.Email{Template: emails.TemplateKYCApproved, To: "not an address", Data: map[string]any{"FirstName": "Ada", "PortalURL": "/portal"}}, emails.ErrInvalid},
	}
	for i, c := range cases {
		err := p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
			err := b.svc.Queue(ctx, tx, ten, fmt.Sprintf("bad:%d", i), c.e)
			if !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
			return nil // commit: the refusal itself must have written nothing
		})
		if err != nil {
			t.Fatal(err)
		}
		if errs := b.svc.Send(context.Background(), ten, c.e); !errors.Is(errs, c.want) {
			t.Errorf("%s: Send: %v, want %v", c.name, errs, c.want)
		}
	}
	if n := outboxRows(t, p, ten); n != 0 {
		t.Fatalf("%d outbox rows after refused emails, want 0", n)
	}
	if len(inbox(t, to)) != 0 {
		t.Fatal("a refused email was sent")
	}
}

// redisOpt points this test at a Redis database of its own choosing; the queue name is the test's own, so no
// other test's worker takes its tasks.
func redisOpt(t *testing.T) asynq.RedisConnOpt {
	t.Helper()
	opt, err := jobs.RedisOpt(localsvc.RedisDB(t))
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

func TestQueuedEmailIsRelayedAndSentOnceByTheRegisteredHandler(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	b := setup(t, p)
	ten := brandedTenant(t, p)
	ctx := context.Background()
	to := recipient()
	for range 2 { // a retried business transaction queues the same key again
		if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			return b.svc.Queue(ctx, tx, ten, "approved:client-1", approved(to))
		}); err != nil {
			t.Fatal(err)
		}
	}
	opt := b.redis
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	defer func() { _ = insp.DeleteQueue(b.queue, true) }()
	relay := jobs.NewRelay(p.Registry, p.Gate, p.Clusters, client, jobs.RelayOptions{})
	for range 2 { // a second pass finds nothing left to relay
		if _, err := relay.RelayTenant(ctx, ten); err != nil {
			t.Fatal(err)
		}
	}
	pending, err := insp.ListPendingTasks(b.queue)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Type != emails.TaskSend || pending[0].MaxRetry != 12 || pending[0].Timeout != time.Minute {
		t.Fatalf("tasks after relaying twice: %+v; want one emails:send with 12 retries and a minute's timeout", pending)
	}
	task := asynq.NewTask(pending[0].Type, pending[0].Payload)
	mux := tasksOf(b, b.svc)
	if err := mux.ProcessTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	m := one(t, to)
	if m.Subject != "Your Harbour Markets account is approved" || !strings.Contains(m.HTML, "https://"+ten.Slug+".brokerdesk.test/portal") {
		t.Fatalf("sent email: %q", m.Subject)
	}
	// Asynq delivers at least once (a worker died before Asynq recorded success, or the task was enqueued again
	// after the relay crashed): the second delivery finds the email sent and does nothing.
	if err := mux.ProcessTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if n := len(inbox(t, to)); n != 1 {
		t.Fatalf("%d messages after a duplicate delivery, want 1", n)
	}
}

func TestConcurrentDeliveriesOfOneQueuedEmailSendItOnce(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	b := setup(t, p)
	ten := p.NewTenant(t, "")
	to := recipient()
	task, err := jobs.NewTask(emails.TaskSend, ten.ID, "approved:concurrent", approved(to))
	if err != nil {
		t.Fatal(err)
	}
	mux := tasksOf(b, b.svc)
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- mux.ProcessTask(context.Background(), task) }()
	}
	ok := 0
	for range 4 {
		err := <-errs
		if errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("a concurrent delivery was archived: %v", err)
		}
		if err == nil {
			ok++
		}
	}
	if ok == 0 {
		t.Fatal("no delivery succeeded")
	}
	if n := len(inbox(t, to)); n != 1 {
		t.Fatalf("%d messages after 4 concurrent deliveries, want 1", n)
	}
}

func TestAFailedSendIsRetriedAndTheRetrySends(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	b := setup(t, p)
	ten := p.NewTenant(t, "")
	to := recipient()
	task, err := jobs.NewTask(emails.TaskSend, ten.ID, "approved:retry", approved(to))
	if err != nil {
		t.Fatal(err)
	}
	down := tasksOf(b, b.service(t, "127.0.0.1:1")) // nothing listens there: SMTP is down
	err = down.ProcessTask(context.Background(), task)
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("send with SMTP down: %v; want an error Asynq retries", err)
	}
	up := tasksOf(b, b.svc)
	if err := up.ProcessTask(context.Background(), task); err != nil {
		t.Fatalf("retry with SMTP up: %v", err)
	}
	if n := len(inbox(t, to)); n != 1 {
		t.Fatalf("%d messages after a failed send and its retry, want 1", n)
	}
}

func TestSendTaskOfATenantThatNoLongerExistsIsArchivedAndSendsNothing(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	b := setup(t, p)
	mux := tasksOf(b, b.svc)
	ctx := context.Background()
	to := recipient()
	gone, err := jobs.NewTask(emails.TaskSend, uuid.New(), "approved:1", approved(to))
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.ProcessTask(ctx, gone); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("task of an unknown tenant: %v; want SkipRetry (archived)", err)
	}
	// A deleted tenant is still in the registry: its task is dropped (success, nothing sent).
	ten := p.NewTenant(t, "")
	if _, _, err := p.Provisioner.Delete(ctx, ten.ID, t.TempDir(), "test", tenants.System("test")); err != nil {
		t.Fatal(err)
	}
	deleted, err := jobs.NewTask(emails.TaskSend, ten.ID, "approved:1", approved(to))
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.ProcessTask(ctx, deleted); err != nil {
		t.Fatalf("task of a deleted tenant: %v; want it dropped", err)
	}
	// A task whose email no longer fits its template cannot succeed by retrying: archived.
	live := p.NewTenant(t, "")
	bad, err := jobs.NewTask(emails.TaskSend, live.ID, "bad:1", emails.Email{Template: "gone", To: to})
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.ProcessTask(ctx, bad); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("task with an unknown template: %v; want SkipRetry", err)
	}
	if n := len(inbox(t, to)); n != 0 {
		t.Fatalf("%d messages sent for dropped tasks", n)
	}
}

// tasksOf is the worker's handler of the module's tasks, as its front door registers them.
func tasksOf(b *bundle, s *emails.Service) *asynq.ServeMux {
	t := jobs.NewTasks(b.p.Registry)
	s.Door().Tasks(t)
	return t.Mux()
}
