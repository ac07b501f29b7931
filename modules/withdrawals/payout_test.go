package withdrawals_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/generic"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
)

// payoutProcessor stands in for a crypto processor's "create payout" endpoint over HTTPS: it answers each payout
// with an id, once per idempotency key, and keeps what it was asked.
type payoutProcessor struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen map[string]string // idempotency key -> payout id
	got  []map[string]any
}

func newPayoutProcessor(t *testing.T) *payoutProcessor {
	p := &payoutProcessor{seen: map[string]string{}}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		if r.URL.Path != "/v1/payout" || r.Header.Get("x-api-key") != "np-key" || json.Unmarshal(body, &m) != nil {
			http.Error(w, `{"message":"bad request"}`, http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		key := r.Header.Get("Idempotency-Key")
		id, ok := p.seen[key]
		if !ok {
			id = "po_" + uuid.NewString()[:8]
			p.seen[key] = id
			p.got = append(p.got, m)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"` + id + `","status":"waiting"}`))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// A withdrawal paid out through the generic gateway: the worker's payout call (the destination and the reference in
// the processor's body, an idempotency key), then the processor's signed callback settles it and the hold is
// posted; the same callback again, and another about the same payout, pay nothing more.
func TestAGatewayPayoutIsSettledByItsSignedCallbackOnce(t *testing.T) {
	t.Parallel()
	proc := newPayoutProcessor(t)
	b := setupWith(t, proc.srv.Client())
	ctx := context.Background()
	cfg := generic.NOWPayments()
	cfg.Create.URL = proc.srv.URL + "/v1/invoice"
	cfg.Payout = &generic.Create{URL: proc.srv.URL + "/v1/payout", APIKeyHeader: "x-api-key", IdempotencyHeader: "Idempotency-Key",
		Body: `{"address":"{{destination}}","amount":"{{amount_number}}","currency":"{{currency_lower}}","unique_external_id":"{{reference}}",` +
			`"ipn_callback_url":"{{callback_url}}"}`, ExternalID: "id"}
	rawCfg, _ := json.Marshal(cfg)
	rawSec, _ := json.Marshal(map[string]any{"webhook_secrets": []string{"ipn-secret-withdrawals-01"}, "api_key": "np-key"})
	if _, err := b.pay.SaveGateway(ctx, b.ten, audit.System("test"), payments.GatewayInput{Slug: "crypto", Name: "Crypto (USDT)", Kind: "generic",
		Config: rawCfg, Secrets: rawSec, Currencies: []string{"USD"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	b.exec(t, `INSERT INTO settings (key, value) VALUES ('withdrawals', '{"flag_days": 0, "methods": ["bank", "crypto"]}')
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
	client := b.client(t, clients.StatusKYCApproved, "")
	b.fund(t, client, 500_00)
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "120.00", Currency: "USD", Method: "crypto",
		Destination: "TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE"})
	if err != nil || len(w.Legs) != 1 || w.Legs[0].Kind != withdrawals.LegGateway {
		t.Fatalf("request: %+v %v", w, err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, w.ID, "Fine."); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second run asks again with the same key: the processor answers the same payout
		if err := b.svc.RunPayout(ctx, b.ten, w.ID, false); err != nil {
			t.Fatal(err)
		}
	}
	w, _ = b.svc.Get(ctx, b.ten, w.ID, uuid.Nil)
	if w.Status != withdrawals.StatusApproved || w.Legs[0].Status != "sent" || !strings.HasPrefix(w.Legs[0].Reference, "po_") {
		t.Fatalf("sent: %s %+v", w.Status, w.Legs)
	}
	proc.mu.Lock()
	got := proc.got
	proc.mu.Unlock()
	if len(got) != 1 || got[0]["address"] != "TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE" || got[0]["amount"] != 120.00 ||
		!strings.HasPrefix(got[0]["unique_external_id"].(string), "payout:withdrawal:"+w.ID.String()) {
		t.Fatalf("the processor was asked %v", got)
	}
	callback := func(event string, status payments.NotifiedStatus) payments.CallbackResult {
		t.Helper()
		h, body, err := generic.Kind().Simulate(rawCfg, rawSec, payments.Simulated{EventID: event, Reference: got[0]["unique_external_id"].(string),
			ExternalID: w.Legs[0].Reference, Status: status, Amount: money.Amount{Minor: 120_00, Currency: usd}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r, err := b.pay.HandleCallback(ctx, b.ten, "crypto", h, body)
		if err != nil {
			t.Fatalf("callback: %v", err)
		}
		return r
	}
	if r := callback("evt-1", payments.NotifiedPaid); r.Outcome != payments.OutcomePayout {
		t.Fatalf("outcome %s", r.Outcome)
	}
	callback("evt-1", payments.NotifiedPaid) // delivered again
	callback("evt-2", payments.NotifiedPaid) // another event about the same payout
	w, _ = b.svc.Get(ctx, b.ten, w.ID, uuid.Nil)
	if w.Status != withdrawals.StatusPaid || w.PaidAmount != 120_00 || w.Legs[0].Status != "paid" {
		t.Fatalf("paid: %s %d %+v", w.Status, w.PaidAmount, w.Legs)
	}
	if bal := b.wallet(t, client); bal.Posted != 380_00 || bal.PendingDebits != 0 {
		t.Errorf("the wallet paid once: %+v", bal)
	}
	if n := b.count(t, `SELECT count(*) FROM payment_exceptions`); n != 0 {
		t.Errorf("%d exception cases: a payout's callback is not a deposit's", n)
	}
	b.verifyLedger(t)

	// A failed payout: the hold is released and the client told why.
	w2, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "50.00", Currency: "USD", Method: "crypto", Destination: "TQn9"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, w2.ID, "Fine."); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.RunPayout(ctx, b.ten, w2.ID, false); err != nil {
		t.Fatal(err)
	}
	proc.mu.Lock()
	ref := proc.got[len(proc.got)-1]["unique_external_id"].(string)
	proc.mu.Unlock()
	h, body, err := generic.Kind().Simulate(rawCfg, rawSec, payments.Simulated{EventID: "evt-3", Reference: ref, ExternalID: "po_x",
		Status: payments.NotifiedFailed, Amount: money.Amount{Minor: 50_00, Currency: usd}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pay.HandleCallback(ctx, b.ten, "crypto", h, body); err != nil {
		t.Fatal(err)
	}
	if w2, _ = b.svc.Get(ctx, b.ten, w2.ID, uuid.Nil); w2.Status != withdrawals.StatusFailed || !strings.Contains(w2.Failure, "through crypto failed") {
		t.Fatalf("failed: %s %q", w2.Status, w2.Failure)
	}
	if bal := b.wallet(t, client); bal.Available() != 380_00 {
		t.Errorf("available after the failed payout: %d", bal.Available())
	}
	b.verifyLedger(t)
}

// refundsUnreachable is an HTTP transport on which Stripe's refunds never answer (every other call goes through).
type refundsUnreachable struct{}

func (refundsUnreachable) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/v1/refunds") {
		return nil, io.ErrUnexpectedEOF
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A refund whose answer never comes, after the task's last retry, may have happened at Stripe: the withdrawal stays
// approved with its hold, the reason recorded, and finance marks it paid once the processor's dashboard shows it.
func TestARefundWhoseAnswerNeverComesKeepsTheHoldForFinance(t *testing.T) {
	t.Parallel()
	b := setupWith(t, &http.Client{Transport: refundsUnreachable{}, Timeout: 10 * time.Second})
	ctx := context.Background()
	b.exec(t, `INSERT INTO settings (key, value) VALUES ('withdrawals', '{"flag_days": 0}') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
	client := b.client(t, clients.StatusKYCApproved, "")
	b.cardDeposit(t, client, "90.00")
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "90.00", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, w.ID, "Fine."); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.RunPayout(ctx, b.ten, w.ID, false); err == nil {
		t.Fatal("a refund without an answer should be retried")
	}
	if err := b.svc.RunPayout(ctx, b.ten, w.ID, true); err != nil {
		t.Fatal(err)
	}
	w, _ = b.svc.Get(ctx, b.ten, w.ID, uuid.Nil)
	if w.Status != withdrawals.StatusApproved || !strings.Contains(w.Failure, "outcome is unknown") {
		t.Fatalf("after the last retry: %s %q", w.Status, w.Failure)
	}
	if bal := b.wallet(t, client); bal.PendingDebits != 90_00 {
		t.Errorf("the hold was touched: %+v", bal)
	}
	if w, err = b.svc.MarkPaid(ctx, b.ten, finActor2, fin2, w.ID, "re_seen_in_dashboard"); err != nil || w.Status != withdrawals.StatusPaid {
		t.Fatalf("marked paid: %+v %v", w, err)
	}
	b.verifyLedger(t)
}

// A refund Stripe declines (an HTTP 4xx: here a revoked key) did not happen: the withdrawal fails at once, without
// waiting for the retries, and the hold is released.
func TestARefundStripeDeclinesFailsTheWithdrawalAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.exec(t, `INSERT INTO settings (key, value) VALUES ('withdrawals', '{"flag_days": 0}') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
	client := b.client(t, clients.StatusKYCApproved, "")
	b.cardDeposit(t, client, "70.00")
	w, err := b.svc.Request(ctx, b.ten, client, uuid.Nil, withdrawals.Input{Amount: "70.00", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Approve(ctx, b.ten, finActor1, fin1, w.ID, "Fine."); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"api_base": os.Getenv("BD_STRIPE_API_URL")})
	sec, _ := json.Marshal(map[string]any{"secret_key": "sk_test_revoked_key", "webhook_secrets": []string{stripeSecret}})
	if _, err := b.pay.UpdateGateway(ctx, b.ten, audit.System("test"), payments.GatewayInput{Slug: "card", Name: "Card", Kind: "stripe",
		Config: cfg, Secrets: sec, Currencies: []string{"USD"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.RunPayout(ctx, b.ten, w.ID, false); err != nil {
		t.Fatal(err)
	}
	w, _ = b.svc.Get(ctx, b.ten, w.ID, uuid.Nil)
	if w.Status != withdrawals.StatusFailed || !strings.Contains(w.Failure, "card refund did not go through") {
		t.Fatalf("declined: %s %q", w.Status, w.Failure)
	}
	if bal := b.wallet(t, client); bal.Available() != 70_00 || bal.PendingDebits != 0 {
		t.Errorf("wallet: %+v", bal)
	}
	b.verifyLedger(t)
}
