package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/sandbox"
	"github.com/brokerdesk/brokerdesk/tenants"
)

const (
	testStripeSecret = "whsec_cmd_test_0123456789abcdef"
	testIPNSecret    = "ipn_cmd_test_0123456789abcdef"
)

// paymentsWorld is a running server and worker with a tenant whose demo trader is approved, a Stripe gateway on
// stripe-mock ("card") and a generic gateway on the local payment sandbox ("crypto").
type paymentsWorld struct {
	a      *app
	base   string
	ten    tenants.Tenant
	trader string // the portal access token
	email  string
}

func paymentsSetup(t *testing.T) *paymentsWorld {
	t.Helper()
	sb, err := sandbox.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	// A Redis database of its own: this test runs a worker, which must see only its own tasks.
	a, base, _ := startServerWiring(t, map[string]string{"BD_REDIS_URL": localsvc.RedisDB(t)}, wiring{paymentHTTP: sb.Client()})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := a.startWorker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); w.Shutdown() })
	ten, _ := demoTenant(t, a)
	pw := &paymentsWorld{a: a, base: base, ten: ten, email: identity.DemoTraderEmail(ten)}
	// The demo trader's KYC is approved (the review's moves, as compliance makes them).
	err = a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		var id uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT id FROM clients WHERE email = $1`, pw.email).Scan(&id); err != nil {
			return err
		}
		for _, to := range []clients.Status{clients.StatusKYCSubmitted, clients.StatusKYCApproved} {
			if err := a.clients.TransitionTx(ctx, tx, ten, id, to, "test: documents approved", audit.System("test")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	save := func(slug, kind string, config, secrets any) {
		cfg, _ := json.Marshal(config)
		sec, _ := json.Marshal(secrets)
		if _, err := a.payments.SaveGateway(ctx, ten, audit.System("test"), payments.GatewayInput{Slug: slug, Name: slug, Kind: kind,
			Config: cfg, Secrets: sec, Currencies: []string{"USD"}, Enabled: true}); err != nil {
			t.Fatalf("gateway %s: %v", slug, err)
		}
	}
	save("card", "stripe", map[string]any{"api_base": os.Getenv("BD_STRIPE_API_URL")},
		map[string]any{"secret_key": "sk_test_cmd", "webhook_secrets": []string{testStripeSecret}})
	save("crypto", "generic", sb.GatewayConfig(), map[string]any{"webhook_secrets": []string{testIPNSecret}, "api_key": sandbox.APIKey})
	r := request(t, base, hostOf(ten), "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: pw.email, Password: identity.DemoPassword})
	var tok identity.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
		t.Fatalf("portal login: %d %s", r.status, r.body)
	}
	pw.trader = tok.AccessToken
	return pw
}

// deposit starts a deposit through the portal API.
func (w *paymentsWorld) deposit(t *testing.T, gateway, amount string) payments.DepositResponse {
	t.Helper()
	r := request(t, w.base, hostOf(w.ten), "POST", "/api/v1/portal/deposits", w.trader,
		payments.DepositRequestBody{Gateway: gateway, Amount: amount, Currency: "USD"}, "Idempotency-Key", uuid.NewString())
	var d payments.DepositResponse
	if err := json.Unmarshal([]byte(r.body), &d); err != nil || r.status != 201 {
		t.Fatalf("deposit through %s: %d %s", gateway, r.status, r.body)
	}
	return d
}

// webhook posts a callback exactly as the processor would.
func (w *paymentsWorld) webhook(t *testing.T, gateway string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.base+payments.WebhookPath(gateway), bytes.NewReader(body))
	req.Host = hostOf(w.ten)
	req.Header = h.Clone()
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (w *paymentsWorld) available(t *testing.T) string {
	t.Helper()
	r := request(t, w.base, hostOf(w.ten), "GET", "/api/v1/portal/wallet", w.trader, nil)
	var wr payments.WalletResponse
	if err := json.Unmarshal([]byte(r.body), &wr); err != nil || r.status != 200 {
		t.Fatalf("wallet: %d %s", r.status, r.body)
	}
	if len(wr.Balances) == 0 {
		return "0"
	}
	return wr.Balances[0].Available
}

func signedStripe(id, reference string, amount int64) (http.Header, []byte) {
	body := fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":"2023-10-16","created":%d,"data":{"object":`+
		`{"id":"cs_test_%s","object":"checkout.session","amount_total":%d,"client_reference_id":%q,"currency":"usd",`+
		`"metadata":{"deposit":%q},"mode":"payment","payment_intent":"pi_%s","payment_status":"paid","status":"complete"}},`+
		`"livemode":false,"pending_webhooks":1,"type":"checkout.session.completed"}`, id, time.Now().Unix(), id, amount, reference, reference, reference)
	p := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: testStripeSecret})
	h := http.Header{}
	h.Set("Stripe-Signature", p.Header)
	return h, body
}

// signedIPN is an IPN as NOWPayments signs it (the payment sandbox speaks that protocol): HMAC-SHA512 of the body
// with its keys sorted and no whitespace.
func signedIPN(paymentID, order, status, amount string) (http.Header, []byte) {
	body := fmt.Appendf(nil, `{"order_id":%q,"payment_id":%s,"payment_status":%q,"price_amount":%s,"price_currency":"usd"}`,
		order, paymentID, status, amount)
	mac := hmac.New(sha512.New, []byte(testIPNSecret))
	mac.Write(body)
	h := http.Header{}
	h.Set("x-nowpayments-sig", hex.EncodeToString(mac.Sum(nil)))
	return h, body
}

// The deposit flow end to end over HTTP and the worker, through each gateway: the portal starts it, the processor's
// signed callback credits the wallet once (a redelivery and a forged callback move nothing), the worker sends the
// branded receipt, and the audit trail has each credit.
func TestDepositsThroughEachGatewayAreCreditedOnceOverHTTPAndReceipted(t *testing.T) {
	t.Parallel()
	w := paymentsSetup(t)

	card := w.deposit(t, "card", "250.00")
	if card.Status != payments.StatusPending || card.RedirectURL == "" {
		t.Fatalf("card deposit: %+v", card)
	}
	h, body := signedStripe("evt_cmd_1", card.ID, 25000)
	if st, b := w.webhook(t, "card", h, body); st != 200 || !strings.Contains(b, `"received":true`) {
		t.Fatalf("stripe callback: %d %s", st, b)
	}
	if st, _ := w.webhook(t, "card", h, body); st != 200 {
		t.Fatalf("stripe redelivery: %d", st)
	}
	forged := bytes.Replace(body, []byte("25000"), []byte("95000"), 1)
	if st, b := w.webhook(t, "card", h, forged); st != 400 || !strings.Contains(b, "/problems/bad-signature") {
		t.Fatalf("a forged callback: %d %s", st, b)
	}
	if got := w.available(t); got != "250.00" {
		t.Fatalf("wallet after the card deposit: %s", got)
	}

	crypto := w.deposit(t, "crypto", "100.00")
	if crypto.Instructions == "" || !strings.Contains(crypto.Instructions, crypto.ID) {
		t.Fatalf("crypto deposit's instructions: %+v", crypto)
	}
	h, body = signedIPN("9001", crypto.ID, "confirming", "100")
	if st, b := w.webhook(t, "crypto", h, body); st != 200 || b != "OK" {
		t.Fatalf("IPN confirming: %d %q", st, b)
	}
	h, body = signedIPN("9001", crypto.ID, "finished", "100")
	if st, b := w.webhook(t, "crypto", h, body); st != 200 || b != "OK" {
		t.Fatalf("IPN finished: %d %q", st, b)
	}
	if got := w.available(t); got != "350.00" {
		t.Fatalf("wallet after both deposits: %s", got)
	}

	// The worker sends one receipt per deposit.
	msgs := localsvc.AwaitMail(t, w.email, 2, 30*time.Second)
	subjects := []string{msgs[0].Subject, msgs[1].Subject}
	joined := strings.Join(subjects, " | ")
	if !strings.Contains(joined, "Deposit credited: 250.00 USD") || !strings.Contains(joined, "Deposit credited: 100.00 USD") {
		t.Errorf("receipts: %v", subjects)
	}
	page, err := w.a.audit.List(context.Background(), w.ten, audit.Filter{ActionPrefix: payments.ActionDepositCompleted}, "", 10)
	if err != nil || len(page.Rows) != 2 {
		t.Errorf("audit rows of completed deposits: %d %v", len(page.Rows), err)
	}
	if r, err := w.a.ledger.Verify(context.Background(), w.ten); err != nil || !r.OK() {
		t.Errorf("ledger verify: %v %v", r.Problem, err)
	}
}
