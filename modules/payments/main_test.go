package payments_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/blob/blobtest"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/generic"
	"github.com/brokerdesk/brokerdesk/modules/payments/stripe"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) {
	tenanttest.Main(m, localsvc.Postgres, localsvc.StripeMock, localsvc.MinIO)
}

var usd = money.MustLookup("USD")

const (
	stripeSecret = "whsec_test_brokerdesk_0123456789"
	ipnSecret    = "ipn-secret-brokerdesk-0123"
)

// bundle is one test's world: a tenant with a Stripe gateway (stripe-mock) and a NOWPayments gateway (a stand-in
// processor over HTTPS), and the real services around payments.
type bundle struct {
	p        *tenanttest.Platform
	ten      tenants.Tenant
	hall     *events.Hall
	trail    *audit.Service
	clients  *clients.Service
	ledger   *ledger.Service
	svc      *payments.Service
	nowpay   *processor
	clock    *tenanttest.Clock
	registry *prometheus.Registry
	store    *blob.S3   // manual deposits' evidence, on a bucket of the test's own
	s3       *s3.Client // the bucket as S3 sees it
	bucket   string
}

func setup(t testing.TB) *bundle {
	t.Helper()
	p := tenanttest.Shared(t)
	b := &bundle{p: p, ten: p.NewTenant(t, ""), hall: events.New(events.Options{Gate: p.Gate}), trail: audit.NewService(p.Gate),
		clock: tenanttest.NewClock(time.Now()), registry: prometheus.NewRegistry()}
	ids := identitytest.New(t, p.Gate, b.trail)
	b.clients = clients.NewService(clients.Options{Gate: p.Gate, Audit: b.trail, Portal: ids, Events: b.hall})
	var err error
	if b.ledger, err = ledger.New(ledger.Options{Gate: p.Gate, Events: b.hall}); err != nil {
		t.Fatal(err)
	}
	sealer, err := auth.ParseSealer("d1:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	b.nowpay = newProcessor(t)
	o := blobtest.Options(t)
	if b.store, err = blob.NewS3(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	b.s3, b.bucket = blobtest.Client(t, o), o.Bucket
	if b.svc, err = payments.New(payments.Options{Gate: p.Gate, Audit: b.trail, Ledger: b.ledger, Clients: b.clients, Events: b.hall,
		Portal: ids, Store: b.store, Sealer: sealer, Kinds: []payments.Kind{stripe.Kind(), generic.Kind()}, HTTP: b.nowpay.client(),
		TenantURL: identitytest.TenantURL, Metrics: b.registry, Now: b.clock.Now}); err != nil {
		t.Fatal(err)
	}
	b.svc.Subscribe(b.hall)
	if err := b.hall.Err(); err != nil {
		t.Fatal(err)
	}
	b.gateway(t, "card", "stripe", map[string]any{"api_base": os.Getenv("BD_STRIPE_API_URL")},
		map[string]any{"secret_key": "sk_test_brokerdesk", "webhook_secrets": []string{stripeSecret}})
	cfg := generic.NOWPayments()
	cfg.Create.URL = b.nowpay.srv.URL + "/v1/invoice"
	b.gateway(t, "crypto", "generic", cfg, map[string]any{"webhook_secrets": []string{ipnSecret}, "api_key": "np-key"})
	return b
}

func (b *bundle) gateway(t testing.TB, slug, kind string, config, secrets any) {
	t.Helper()
	cfg, _ := json.Marshal(config)
	sec, _ := json.Marshal(secrets)
	if _, err := b.svc.SaveGateway(context.Background(), b.ten, audit.System("test"), payments.GatewayInput{Slug: slug, Name: slug + " gateway",
		Kind: kind, Config: cfg, Secrets: sec, Currencies: []string{"USD", "EUR"}, Enabled: true,
		Limits: map[string]payments.Limit{"USD": {Min: 1000, Max: 10_000_000}}}); err != nil {
		t.Fatalf("gateway %s: %v", slug, err)
	}
}

// client adds a client in status (kyc_approved may deposit).
func (b *bundle) client(t testing.TB, status clients.Status) uuid.UUID {
	t.Helper()
	id := uuid.New()
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, kyc_approved_at)
			VALUES ($1, $2, 'Ada', 'Lovelace', 'GB', '+442079460958', '1990-04-25', $3, CASE WHEN $3 = 'kyc_approved' THEN now() END)`,
			id, "ada."+tenanttest.RandomLabel(8)+"@example.com", string(status))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// deposit starts a deposit of amount USD through gateway for client.
func (b *bundle) deposit(t testing.TB, client uuid.UUID, gateway, amount string) payments.Deposit {
	t.Helper()
	d, err := b.svc.StartDeposit(context.Background(), b.ten, client, payments.DepositRequest{Gateway: gateway, Amount: amount, Currency: "USD"})
	if err != nil {
		t.Fatalf("start deposit: %v", err)
	}
	return d
}

// stripeEvent is a signed Stripe webhook about the Checkout Session of reference, whose payment (PaymentIntent, the
// processor's payment id) is the same in every event about it, as at Stripe.
func stripeEvent(id, typ, reference string, amount int64, currency, paymentStatus string, at time.Time) (http.Header, []byte) {
	body := fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":"2023-10-16","created":%d,"data":{"object":`+
		`{"id":"cs_test_%s","object":"checkout.session","amount_total":%d,"client_reference_id":%q,"currency":%q,`+
		`"metadata":{"deposit":%q},"mode":"payment","payment_intent":"pi_%s","payment_status":%q,"status":"complete"}},`+
		`"livemode":false,"pending_webhooks":1,"type":%q}`, id, at.Unix(), id, amount, reference, currency, reference, reference, paymentStatus, typ)
	p := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: at})
	h := http.Header{}
	h.Set("Stripe-Signature", p.Header)
	return h, body
}

// stripeSigned signs body as Stripe signs its webhooks.
func stripeSigned(body []byte, at time.Time) http.Header {
	p := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: at})
	h := http.Header{}
	h.Set("Stripe-Signature", p.Header)
	return h
}

func (b *bundle) callback(t testing.TB, gateway string, h http.Header, body []byte) payments.CallbackResult {
	t.Helper()
	r, err := b.svc.HandleCallback(context.Background(), b.ten, gateway, h, body)
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	return r
}

func (b *bundle) wallet(t testing.TB, client uuid.UUID) int64 {
	t.Helper()
	bal, err := b.ledger.Balance(context.Background(), b.ten, ledger.ClientWallet(client, usd).Code)
	if err != nil {
		return 0
	}
	return bal.Posted
}

func (b *bundle) verifyLedger(t testing.TB) {
	t.Helper()
	r, err := b.ledger.Verify(context.Background(), b.ten)
	if err != nil || !r.OK() {
		t.Fatalf("ledger verify: %v %v", r.Problem, err)
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

// published counts the outbox rows of events of type eventType (one per event, for all its Later subscribers).
func (b *bundle) published(t testing.TB, eventType string) int {
	return b.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1`, events.PublishType(eventType))
}

var auditSystem = audit.System("test")
