package withdrawals_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/blob/blobtest"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/bonuses"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/generic"
	"github.com/brokerdesk/brokerdesk/modules/payments/stripe"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) {
	tenanttest.Main(m, localsvc.Postgres, localsvc.Redis, localsvc.StripeMock, localsvc.MinIO)
}

var usd = money.MustLookup("USD")

const stripeSecret = "whsec_test_brokerdesk_0123456789"

// bundle is one test's world: a tenant, the real ledger, clients, documents and payments (a Stripe gateway on
// stripe-mock), and the withdrawals service over them.
type bundle struct {
	p     *tenanttest.Platform
	ten   tenants.Tenant
	hall  *events.Hall
	trail *audit.Service
	cl    *clients.Service
	led   *ledger.Service
	pay   *payments.Service
	svc   *withdrawals.Service
	bon   *bonuses.Service // the bonus engine, answering Bonuses (setupWithBonuses only)
}

func setup(t testing.TB) *bundle {
	t.Helper()
	return setupWith(t, nil)
}

// setupWith is setup with the HTTP client payments' adapters call processors with (a stand-in's TLS client).
func setupWith(t testing.TB, httpClient *http.Client) *bundle {
	t.Helper()
	return build(t, httpClient, false)
}

// setupWithBonuses is setup with the real bonus engine answering the bonus check and booking forfeitures.
func setupWithBonuses(t testing.TB) *bundle {
	t.Helper()
	return build(t, nil, true)
}

func build(t testing.TB, httpClient *http.Client, withBonuses bool) *bundle {
	t.Helper()
	p := tenanttest.Shared(t)
	if httpClient != nil {
		// A bundle whose gateways answer differently gets a platform of its own: another test's worker relays every
		// tenant of the shared platform, and would pay this one's withdrawals through gateways that answer.
		p = tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	}
	b := &bundle{p: p, ten: p.NewTenant(t, ""), hall: events.New(events.Options{Gate: p.Gate}), trail: audit.NewService(p.Gate)}
	ids := identitytest.New(t, p.Gate, b.trail)
	b.cl = clients.NewService(clients.Options{Gate: p.Gate, Audit: b.trail, Portal: ids, Events: b.hall})
	b.cl.Door().Trail()
	var err error
	if b.led, err = ledger.New(ledger.Options{Gate: p.Gate, Events: b.hall}); err != nil {
		t.Fatal(err)
	}
	sealer, err := auth.ParseSealer("d1:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	store, err := blob.NewS3(context.Background(), blobtest.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := documents.NewService(documents.Options{Gate: p.Gate, Audit: b.trail, Clients: b.cl, Store: store, Events: b.hall})
	if err != nil {
		t.Fatal(err)
	}
	if b.pay, err = payments.New(payments.Options{Gate: p.Gate, Audit: b.trail, Ledger: b.led, Clients: b.cl, Events: b.hall,
		Portal: ids, Store: store, Sealer: sealer, Kinds: []payments.Kind{stripe.Kind(), generic.Kind()}, TenantURL: identitytest.TenantURL, HTTP: httpClient}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"api_base": os.Getenv("BD_STRIPE_API_URL")})
	sec, _ := json.Marshal(map[string]any{"secret_key": "sk_test_brokerdesk", "webhook_secrets": []string{stripeSecret}})
	if _, err := b.pay.SaveGateway(context.Background(), b.ten, audit.System("test"), payments.GatewayInput{Slug: "card", Name: "Card",
		Kind: "stripe", Config: cfg, Secrets: sec, Currencies: []string{"USD"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	var bon withdrawals.Bonuses
	if withBonuses {
		if b.bon, err = bonuses.New(bonuses.Options{Gate: p.Gate, Audit: b.trail, Clients: b.cl, Ledger: b.led, Events: b.hall}); err != nil {
			t.Fatal(err)
		}
		b.bon.Door().Trail()
		b.bon.Subscribe(b.hall)
		bon = b.bon
	}
	if b.svc, err = withdrawals.New(withdrawals.Options{Gate: p.Gate, Audit: b.trail, Ledger: b.led, Clients: b.cl, Documents: docs,
		MoneyIn: b.pay, Payer: b.pay, Portal: noPortal{}, Events: b.hall, Bonuses: bon}); err != nil {
		t.Fatal(err)
	}
	b.svc.Door().Trail()
	b.svc.Subscribe(b.hall)
	b.pay.Subscribe(b.hall)
	return b
}

// noPortal: the service's tests call it without a portal login; the portal's routes and the code confirmation are
// tested through HTTP in cmd/brokerdesk.
type noPortal struct{}

func (noPortal) PortalClientID(context.Context, tenants.Tenant, uuid.UUID) (uuid.UUID, error) {
	return uuid.Nil, identity.ErrNoClient
}

func (noPortal) TwoFactorOn(context.Context, tenants.Tenant, uuid.UUID) (bool, error) {
	return false, nil
}

func (noPortal) ConfirmWithCode(context.Context, tenants.Tenant, identity.Kind, uuid.UUID, string, string) error {
	return identity.ErrConfirmationCode
}

// client adds a client in status with tier.
func (b *bundle) client(t testing.TB, status clients.Status, tier string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	b.exec(t, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, tier, kyc_approved_at)
		VALUES ($1, $2, 'Ada', 'Lovelace', 'GB', '+442079460958', '1990-04-25', $3, $4, CASE WHEN $3 = 'kyc_approved' THEN now() END)`,
		id, "ada."+tenanttest.RandomLabel(8)+"@example.com", string(status), tier)
	return id
}

func (b *bundle) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, q, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, q, args...).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// fund credits the client's USD wallet outside payments (no deposit row: nothing to refund to a card, and no
// deposit for the trading check to compare with).
func (b *bundle) fund(t testing.TB, client uuid.UUID, minor int64) {
	t.Helper()
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := b.led.PostTx(ctx, tx, ledger.Entry{Key: "test-fund:" + uuid.NewString(), Kind: "deposit", Postings: []ledger.Posting{
			{Account: ledger.Clearing("test", usd), Amount: -minor}, {Account: ledger.ClientWallet(client, usd), Amount: minor}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// cardDeposit deposits amount USD by card through Stripe (stripe-mock for the Checkout Session, a signed callback
// as Stripe sends it), so the wallet is credited and the deposit can be refunded to its PaymentIntent.
func (b *bundle) cardDeposit(t testing.TB, client uuid.UUID, amount string) payments.Deposit {
	t.Helper()
	ctx := context.Background()
	d, err := b.pay.StartDeposit(ctx, b.ten, client, payments.DepositRequest{Gateway: "card", Amount: amount, Currency: "USD"})
	if err != nil {
		t.Fatalf("start deposit: %v", err)
	}
	ref, at := d.ID.String(), time.Now()
	body := fmt.Appendf(nil, `{"id":"evt_%s","object":"event","api_version":"2023-10-16","created":%d,"data":{"object":`+
		`{"id":"cs_test_%s","object":"checkout.session","amount_total":%d,"client_reference_id":%q,"currency":"usd",`+
		`"metadata":{"deposit":%q},"mode":"payment","payment_intent":"pi_%s","payment_status":"paid","status":"complete"}},`+
		`"livemode":false,"pending_webhooks":1,"type":"checkout.session.completed"}`, ref, at.Unix(), ref, d.Amount.Minor, ref, ref, ref)
	p := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: at})
	h := http.Header{}
	h.Set("Stripe-Signature", p.Header)
	r, err := b.pay.HandleCallback(ctx, b.ten, "card", h, body)
	if err != nil || r.Outcome != payments.OutcomeCredited {
		t.Fatalf("callback: %+v %v", r, err)
	}
	return d
}

func (b *bundle) wallet(t testing.TB, client uuid.UUID) ledger.Balance {
	t.Helper()
	bal, err := b.led.Balance(context.Background(), b.ten, ledger.ClientWallet(client, usd).Code)
	if err != nil {
		t.Fatal(err)
	}
	return bal
}

func (b *bundle) verifyLedger(t testing.TB) {
	t.Helper()
	r, err := b.led.Verify(context.Background(), b.ten)
	if err != nil || !r.OK() {
		t.Fatalf("ledger verify: %v %v", r.Problem, err)
	}
}

// work runs the hall's Later deliveries on a worker of the test's own (Redis, the outbox relay).
func (b *bundle) work(t *testing.T) {
	t.Helper()
	if err := b.hall.Err(); err != nil {
		t.Fatal(err)
	}
	opt, err := jobs.RedisOpt(localsvc.RedisDB(t))
	if err != nil {
		t.Fatal(err)
	}
	tasks := jobs.NewTasks(b.p.Registry)
	b.hall.Register(tasks)
	b.svc.Tasks(tasks)
	if err := tasks.Err(); err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServer(opt, jobs.WithBatches(asynq.Config{Concurrency: 4, Queues: jobs.QueueWeights,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 10 * time.Millisecond }}))
	if err := srv.Start(tasks.Mux()); err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	ctx, cancel := context.WithCancel(context.Background())
	relay := jobs.NewRelay(b.p.Registry, b.p.Gate, b.p.Clusters, client, jobs.RelayOptions{Spread: b.hall.Spread})
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Shutdown()
		client.Close()
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
