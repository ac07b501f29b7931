package stripe_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/stripe"
)

// stripe-mock answers the API calls (it sends no webhooks: the tests sign their own payloads, as Stripe would).
func TestMain(m *testing.M) { os.Exit(localsvc.RunTests(m, localsvc.StripeMock)) }

const (
	oldSecret = "whsec_old_0123456789abcdef"
	newSecret = "whsec_new_fedcba9876543210"
)

// now is the flow's clock in the webhook tests: far from the wall clock, so a check against time.Now would fail.
var now = time.Unix(1_900_000_000, 0)

// sent is one request that reached stripe-mock, as sent.
type sent struct {
	method, path string
	header       http.Header
	form         url.Values
}

// recorder passes requests on to stripe-mock and keeps what was sent.
type recorder struct {
	mu   sync.Mutex
	reqs []sent
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	form, _ := url.ParseQuery(string(body))
	r.mu.Lock()
	r.reqs = append(r.reqs, sent{req.Method, req.URL.Path, req.Header.Clone(), form})
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) only(t *testing.T) sent {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) != 1 {
		t.Fatalf("%d requests reached Stripe, want 1", len(r.reqs))
	}
	return r.reqs[0]
}

// against returns an adapter bound to stripe-mock with key, and the record of what it sends.
func against(t *testing.T, key string, currencies ...string) (*stripe.Adapter, *recorder) {
	t.Helper()
	base := os.Getenv("BD_STRIPE_API_URL")
	if base == "" {
		t.Fatal("BD_STRIPE_API_URL is not set")
	}
	rec := &recorder{}
	a, err := stripe.New(stripe.Config{APIBase: base, Currencies: currencies},
		stripe.Secrets{SecretKey: key, WebhookSecrets: []string{newSecret}}, &http.Client{Transport: rec, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return a, rec
}

func usd(minor int64) money.Amount {
	return money.Amount{Minor: minor, Currency: money.MustLookup("USD")}
}

func TestBeginCreatesAPaymentModeCheckoutSessionCarryingTheDepositReference(t *testing.T) {
	t.Parallel()
	a, rec := against(t, "sk_test_begin", "USD", "EUR")
	started, err := a.Begin(t.Context(), payments.Checkout{
		Reference: "dep_01J9Z", Amount: usd(12345), ClientEmail: "ann@example.com", Description: "Deposit to Harbour FX",
		ReturnURL: "https://portal.harbour.example/wallet?deposit=dep_01J9Z", CancelURL: "https://portal.harbour.example/wallet",
		CallbackURL: "https://harbour.example/api/v1/webhooks/payments/stripe", IdempotencyKey: "deposit-dep_01J9Z",
	})
	if err != nil {
		t.Fatal(err)
	}
	req := rec.only(t)
	if req.method != http.MethodPost || req.path != "/v1/checkout/sessions" {
		t.Fatalf("sent %s %s", req.method, req.path)
	}
	if got := req.header.Get("Authorization"); got != "Bearer sk_test_begin" {
		t.Errorf("Authorization %q", got)
	}
	if got := req.header.Get("Idempotency-Key"); got != "deposit-dep_01J9Z" {
		t.Errorf("Idempotency-Key %q", got)
	}
	for field, want := range map[string]string{
		"mode":                                          "payment",
		"client_reference_id":                           "dep_01J9Z",
		"metadata[deposit]":                             "dep_01J9Z",
		"payment_intent_data[metadata][deposit]":        "dep_01J9Z",
		"line_items[0][quantity]":                       "1",
		"line_items[0][price_data][currency]":           "usd",
		"line_items[0][price_data][unit_amount]":        "12345",
		"line_items[0][price_data][product_data][name]": "Deposit to Harbour FX",
		"customer_email":                                "ann@example.com",
		"success_url":                                   "https://portal.harbour.example/wallet?deposit=dep_01J9Z",
		"cancel_url":                                    "https://portal.harbour.example/wallet",
	} {
		if got := req.form.Get(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	// stripe-mock answers with its fixture: the answer was read, whatever its ids.
	if !strings.HasPrefix(started.ExternalID, "cs_") || !strings.HasPrefix(started.RedirectURL, "https://") {
		t.Errorf("started = %+v, want the session's id and URL", started)
	}
}

func TestBeginUsesTheZeroAndThreeDecimalCurrenciesMinorUnitsAsStripeDoes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		amount money.Amount
		want   string
	}{
		{money.Amount{Minor: 5000, Currency: money.MustLookup("JPY")}, "5000"},   // ¥5,000
		{money.Amount{Minor: 12340, Currency: money.MustLookup("KWD")}, "12340"}, // 12.340 KWD
	} {
		a, rec := against(t, "sk_test_units")
		if _, err := a.Begin(t.Context(), payments.Checkout{Reference: "dep_units", Amount: c.amount, ReturnURL: "https://p.example/w"}); err != nil {
			t.Fatal(err)
		}
		req := rec.only(t)
		if got := req.form.Get("line_items[0][price_data][unit_amount]"); got != c.want {
			t.Errorf("%s: unit_amount %q, want %q", c.amount, got, c.want)
		}
		if got := req.form.Get("line_items[0][price_data][currency]"); got != strings.ToLower(c.amount.Currency.Code) {
			t.Errorf("%s: currency %q", c.amount, got)
		}
	}
}

func TestBeginRefusesWhatTheGatewayDoesNotTakeWithoutCallingStripe(t *testing.T) {
	t.Parallel()
	a, rec := against(t, "sk_test_refuse", "EUR")
	_, err := a.Begin(t.Context(), payments.Checkout{Reference: "", Amount: usd(0)})
	v, ok := validation.As(err)
	if !ok {
		t.Fatalf("err = %v, want a validation error", err)
	}
	for _, field := range []string{"reference", "amount", "currency", "return_url"} {
		if v.Message(field) == "" {
			t.Errorf("no message for %s in %v", field, v)
		}
	}
	if len(rec.reqs) != 0 {
		t.Errorf("%d requests reached Stripe", len(rec.reqs))
	}
}

func TestRefundRefundsThePaymentIntentWithTheIdempotencyKey(t *testing.T) {
	t.Parallel()
	a, rec := against(t, "sk_test_refund")
	got, err := a.Refund(t.Context(), payments.RefundRequest{ExternalID: "pi_3OqRefund", Amount: usd(2500),
		IdempotencyKey: "refund-dep_7-1", Reason: "client asked, ticket 881"})
	if err != nil {
		t.Fatal(err)
	}
	req := rec.only(t)
	if req.method != http.MethodPost || req.path != "/v1/refunds" {
		t.Fatalf("sent %s %s", req.method, req.path)
	}
	for field, want := range map[string]string{
		"payment_intent": "pi_3OqRefund", "amount": "2500", "metadata[reason]": "client asked, ticket 881",
	} {
		if v := req.form.Get(field); v != want {
			t.Errorf("%s = %q, want %q", field, v, want)
		}
	}
	if k := req.header.Get("Idempotency-Key"); k != "refund-dep_7-1" {
		t.Errorf("Idempotency-Key %q", k)
	}
	if !strings.HasPrefix(got.ExternalID, "re_") || got.Status == "" {
		t.Errorf("refunded = %+v, want the refund's id and status", got)
	}
}

func TestEachGatewayCallsStripeWithItsOwnKeyNeverTheGlobalOne(t *testing.T) {
	t.Parallel()
	a, recA := against(t, "sk_test_brokerA")
	b, recB := against(t, "sk_test_brokerB")
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, ad := range []*stripe.Adapter{a, b} {
		wg.Go(func() {
			_, err := ad.Begin(t.Context(), payments.Checkout{Reference: "dep_iso", Amount: usd(1000), ReturnURL: "https://p.example/w"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := recA.only(t).header.Get("Authorization"); got != "Bearer sk_test_brokerA" {
		t.Errorf("gateway A sent %q", got)
	}
	if got := recB.only(t).header.Get("Authorization"); got != "Bearer sk_test_brokerB" {
		t.Errorf("gateway B sent %q", got)
	}
	if stripego.Key != "" {
		t.Errorf("the global stripe.Key was set")
	}
}

func TestStripesRefusalIsAProcessorErrorSayingWhatStripeSaid(t *testing.T) {
	t.Parallel()
	// stripe-mock refuses a key not shaped sk_test_<one word>, as Stripe refuses a revoked key: 401
	// invalid_request_error.
	a, _ := against(t, "sk_test_revoked_key")
	_, err := a.Begin(t.Context(), payments.Checkout{Reference: "dep_x", Amount: usd(1000), ReturnURL: "https://p.example/w"})
	if !errors.Is(err, payments.ErrProcessor) {
		t.Fatalf("err = %v, want ErrProcessor", err)
	}
	if !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "invalid_request_error") {
		t.Errorf("err = %v, want Stripe's status and error type", err)
	}
	_, err = a.Refund(t.Context(), payments.RefundRequest{ExternalID: "pi_1", Amount: usd(1)})
	if !errors.Is(err, payments.ErrProcessor) || !errors.Is(err, payments.ErrDeclined) {
		t.Fatalf("refund err = %v, want ErrProcessor and ErrDeclined (a 401: nothing happened at Stripe)", err)
	}
}

// Webhooks.

// event is a Stripe event in the documented envelope, with an API version other than stripe-go's (the endpoint's).
func event(id, typ, object string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":"2020-08-27","created":1899999990,`+
		`"data":{"object":%s},"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":%q}`,
		id, object, typ)
}

func session(paymentStatus string) string {
	return `{"id":"cs_test_a1B2c3","object":"checkout.session","amount_subtotal":12345,"amount_total":12345,` +
		`"client_reference_id":"dep_01J9Z","currency":"usd","customer_email":"ann@example.com",` +
		`"metadata":{"deposit":"dep_01J9Z"},"mode":"payment","payment_intent":"pi_3OqAbc","payment_status":"` +
		paymentStatus + `","status":"complete","url":null}`
}

func sign(body []byte, secret string, at time.Time) http.Header {
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	h := http.Header{}
	h.Set("Stripe-Signature", p.Header)
	return h
}

func webhookAdapter(t *testing.T, secrets ...string) *stripe.Adapter {
	t.Helper()
	a, err := stripe.New(stripe.Config{}, stripe.Secrets{SecretKey: "sk_test_hooks", WebhookSecrets: secrets}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseAcceptsOnlyCallbacksSignedWithAConfiguredSecretWithinTolerance(t *testing.T) {
	t.Parallel()
	body := event("evt_1", "checkout.session.completed", session("paid"))
	rotating := webhookAdapter(t, oldSecret, newSecret)
	rotated := webhookAdapter(t, newSecret)
	twoSignatures := sign(body, newSecret, now)
	twoSignatures.Set("Stripe-Signature", twoSignatures.Get("Stripe-Signature")+",v1="+strings.Repeat("ab", 32))
	for _, c := range []struct {
		name   string
		a      *stripe.Adapter
		header http.Header
		body   []byte
		ok     bool
	}{
		{"signed with the new secret", rotating, sign(body, newSecret, now.Add(-10*time.Second)), body, true},
		{"signed with the old secret while both are configured", rotating, sign(body, oldSecret, now), body, true},
		{"signed with the old secret after it was removed", rotated, sign(body, oldSecret, now), body, false},
		{"several v1 signatures, one valid", rotated, twoSignatures, body, true},
		{"wrong secret", rotating, sign(body, "whsec_someone_else", now), body, false},
		{"signed 301 s ago", rotating, sign(body, newSecret, now.Add(-301*time.Second)), body, false},
		{"signed 301 s in the future", rotating, sign(body, newSecret, now.Add(301*time.Second)), body, false},
		{"signed 299 s ago", rotating, sign(body, newSecret, now.Add(-299*time.Second)), body, true},
		{"body changed by one byte", rotating, sign(body, newSecret, now), bytes.Replace(body, []byte("12345"), []byte("92345"), 1), false},
		{"no header", rotating, http.Header{}, body, false},
		{"garbage header", rotating, http.Header{"Stripe-Signature": {"garbage"}}, body, false},
		{"timestamp not a number", rotating, http.Header{"Stripe-Signature": {"t=soon,v1=" + strings.Repeat("0", 64)}}, body, false},
		{"no v1 signature", rotating, http.Header{"Stripe-Signature": {fmt.Sprintf("t=%d,v0=abc", now.Unix())}}, body, false},
		{"signature not hex", rotating, http.Header{"Stripe-Signature": {fmt.Sprintf("t=%d,v1=zz", now.Unix())}}, body, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n, err := c.a.Parse(c.header, c.body, now)
			if c.ok {
				if err != nil || n.Status != payments.NotifiedPaid || n.EventID != "evt_1" {
					t.Fatalf("Parse = %+v, %v; want the paid event", n, err)
				}
				return
			}
			if !errors.Is(err, payments.ErrBadSignature) {
				t.Fatalf("Parse = %+v, %v; want ErrBadSignature", n, err)
			}
		})
	}
}

func TestParseMapsCheckoutAndRefundEventsToDepositStatuses(t *testing.T) {
	t.Parallel()
	a := webhookAdapter(t, newSecret)
	noClientRef := `{"id":"cs_test_x","object":"checkout.session","amount_total":5000,"client_reference_id":null,` +
		`"currency":"eur","metadata":{"deposit":"dep_meta"},"payment_intent":{"id":"pi_expanded","object":"payment_intent"},` +
		`"payment_status":"paid"}`
	expired := `{"id":"cs_test_e","object":"checkout.session","amount_total":12345,"client_reference_id":"dep_01J9Z",` +
		`"currency":"usd","metadata":{},"payment_intent":null,"payment_status":"unpaid","status":"expired"}`
	refunded := `{"id":"ch_3OqAbc","object":"charge","amount":12345,"amount_refunded":2500,"currency":"usd",` +
		`"metadata":{"deposit":"dep_01J9Z"},"payment_intent":"pi_3OqAbc","refunded":false}`
	refundedNoMeta := `{"id":"ch_3OqAbd","object":"charge","amount":12345,"amount_refunded":12345,"currency":"usd",` +
		`"metadata":{},"payment_intent":"pi_3OqAbd","refunded":true}`
	for _, c := range []struct {
		typ, object string
		want        payments.Notification
	}{
		{"checkout.session.completed", session("paid"), payments.Notification{Reference: "dep_01J9Z", ExternalID: "pi_3OqAbc",
			Status: payments.NotifiedPaid, Amount: usd(12345), AmountKnown: true}},
		{"checkout.session.completed", session("unpaid"), payments.Notification{Reference: "dep_01J9Z", ExternalID: "pi_3OqAbc",
			Status: payments.NotifiedPending, Amount: usd(12345), AmountKnown: true}},
		{"checkout.session.completed", session("no_payment_required"), payments.Notification{Reference: "dep_01J9Z",
			ExternalID: "pi_3OqAbc", Status: payments.NotifiedIgnored, Amount: usd(12345), AmountKnown: true}},
		{"checkout.session.async_payment_succeeded", session("paid"), payments.Notification{Reference: "dep_01J9Z",
			ExternalID: "pi_3OqAbc", Status: payments.NotifiedPaid, Amount: usd(12345), AmountKnown: true}},
		{"checkout.session.async_payment_failed", session("unpaid"), payments.Notification{Reference: "dep_01J9Z",
			ExternalID: "pi_3OqAbc", Status: payments.NotifiedFailed, Amount: usd(12345), AmountKnown: true}},
		{"checkout.session.expired", expired, payments.Notification{Reference: "dep_01J9Z", Status: payments.NotifiedFailed,
			Amount: usd(12345), AmountKnown: true}},
		{"checkout.session.completed", noClientRef, payments.Notification{Reference: "dep_meta", ExternalID: "pi_expanded",
			Status: payments.NotifiedPaid, Amount: money.Amount{Minor: 5000, Currency: money.MustLookup("EUR")}, AmountKnown: true}},
		{"charge.refunded", refunded, payments.Notification{Reference: "dep_01J9Z", ExternalID: "pi_3OqAbc",
			Status: payments.NotifiedRefunded, Amount: usd(2500), AmountKnown: true}},
		{"charge.refunded", refundedNoMeta, payments.Notification{ExternalID: "pi_3OqAbd", Status: payments.NotifiedRefunded,
			Amount: usd(12345), AmountKnown: true}},
		{"payment_intent.succeeded", `{"id":"pi_3OqAbc","object":"payment_intent","amount":12345,"currency":"usd"}`,
			payments.Notification{Status: payments.NotifiedIgnored}},
		{"customer.created", `{"id":"cus_1","object":"customer"}`, payments.Notification{Status: payments.NotifiedIgnored}},
	} {
		body := event("evt_map", c.typ, c.object)
		got, err := a.Parse(sign(body, newSecret, now), body, now)
		if err != nil {
			t.Errorf("%s: %v", c.typ, err)
			continue
		}
		c.want.EventID, c.want.Type = "evt_map", c.typ
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.typ, got, c.want)
		}
	}
}

func TestParseReadsAmountsAsIntegerMinorUnitsOfAKnownCurrency(t *testing.T) {
	t.Parallel()
	a := webhookAdapter(t, newSecret)
	obj := func(amount, currency string) string {
		return `{"id":"cs_1","object":"checkout.session","amount_total":` + amount + `,"client_reference_id":"dep_1",` +
			`"currency":"` + currency + `","payment_intent":"pi_1","payment_status":"paid"}`
	}
	for _, c := range []struct {
		amount, currency string
		want             money.Amount
		malformed        bool
	}{
		{"5000", "jpy", money.Amount{Minor: 5000, Currency: money.MustLookup("JPY")}, false},
		{"12340", "kwd", money.Amount{Minor: 12340, Currency: money.MustLookup("KWD")}, false},
		{"9007199254740993", "usd", usd(9007199254740993), false}, // beyond float64's integers: read exactly
		{"1000.5", "usd", money.Amount{}, true},
		{"1e3", "usd", money.Amount{}, true},
		{"-100", "usd", money.Amount{}, true},
		{`"lots"`, "usd", money.Amount{}, true},
		{"100", "xyz", money.Amount{}, true},
	} {
		body := event("evt_amt", "checkout.session.completed", obj(c.amount, c.currency))
		n, err := a.Parse(sign(body, newSecret, now), body, now)
		if c.malformed {
			if !errors.Is(err, payments.ErrMalformed) {
				t.Errorf("%s %s: %+v, %v; want ErrMalformed", c.amount, c.currency, n, err)
			}
			continue
		}
		if err != nil || !n.AmountKnown || n.Amount != c.want {
			t.Errorf("%s %s: %+v, %v; want %v", c.amount, c.currency, n, err, c.want)
		}
	}
}

func TestParseCallsAnAuthenticButUnreadableEventMalformed(t *testing.T) {
	t.Parallel()
	a := webhookAdapter(t, newSecret)
	for _, body := range [][]byte{
		[]byte(`not json`),
		[]byte(`{"id":"evt_1","type":"checkout.session.completed","data":{"object":"cs_1"}}`),
		[]byte(`{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"payment_intent":42}}}`),
		[]byte(`{"id":"","type":"checkout.session.completed","data":{"object":{}}}`),
	} {
		if _, err := a.Parse(sign(body, newSecret, now), body, now); !errors.Is(err, payments.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", body, err)
		}
	}
}

func TestAcknowledgeTellsStripeWhetherToRetry(t *testing.T) {
	t.Parallel()
	a := webhookAdapter(t, newSecret)
	ok := a.Acknowledge(payments.Notification{}, nil)
	if ok.Status != http.StatusOK || string(ok.Body) != `{"received":true}` || ok.ContentType != "application/json" {
		t.Errorf("handled: %+v", ok)
	}
	if got := a.Acknowledge(payments.Notification{}, errors.New("database down")); got.Status != http.StatusInternalServerError {
		t.Errorf("failed: %+v, want 500 so Stripe retries", got)
	}
	if got := a.Acknowledge(payments.Notification{}, payments.ErrBadSignature); got.Status != http.StatusBadRequest {
		t.Errorf("bad signature: %+v, want 400", got)
	}
}

func TestConfigValidateNamesEveryBadField(t *testing.T) {
	t.Parallel()
	err := stripe.Config{APIBase: "ftp://stripe.example", Currencies: []string{"XXX", "BTC", "USD", "USD"}}.
		Validate(stripe.Secrets{SecretKey: "pk_live_publishable", WebhookSecrets: []string{"secret", "whsec_a", "whsec_a"}})
	v, ok := validation.As(err)
	if !ok {
		t.Fatalf("err = %v, want a validation error", err)
	}
	want := []string{"api_base", "currencies[0]", "currencies[1]", "currencies[3]", "secret_key", "webhook_secrets[0]", "webhook_secrets[2]"}
	var got []string
	for _, f := range v.Fields {
		got = append(got, f.Field)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("fields %v, want %v", got, want)
	}
	if err := (stripe.Config{}).Validate(stripe.Secrets{SecretKey: "sk_live_x"}); err == nil || !strings.Contains(err.Error(), "webhook_secrets") {
		t.Errorf("no webhook secret: %v", err)
	}
	// A live key is never sent over plain HTTP to a remote host; a test key may (stripe-mock in a compose network).
	live := stripe.Config{APIBase: "http://stripe-mock.internal:12111"}
	if err := live.Validate(stripe.Secrets{SecretKey: "sk_live_x", WebhookSecrets: []string{newSecret}}); err == nil {
		t.Error("a live key over http was accepted")
	}
	if err := live.Validate(stripe.Secrets{SecretKey: "sk_test_x", WebhookSecrets: []string{newSecret}}); err != nil {
		t.Errorf("a test key over http to stripe-mock: %v", err)
	}
}

func TestKindReadsStoredJSONStrictlyAndNeverEchoesSecrets(t *testing.T) {
	t.Parallel()
	k := stripe.Kind()
	if k.Name != "stripe" {
		t.Errorf("name %q", k.Name)
	}
	good := []byte(`{"secret_key":"sk_test_kind","webhook_secrets":["whsec_kind"]}`)
	if err := k.Validate([]byte(`{"currencies":["USD"]}`), good); err != nil {
		t.Fatal(err)
	}
	err := k.Validate([]byte(`{"currency":["USD"]}`), []byte(`{"secret_key":"sk_live_TOPSECRET`))
	v, ok := validation.As(err)
	if !ok || v.Message("config") == "" || v.Message("secrets") == "" {
		t.Fatalf("err = %v, want config and secrets named", err)
	}
	if strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("the error quotes the secret: %v", err)
	}
	a, err := k.New([]byte(`{}`), good, nil)
	if err != nil || a == nil {
		t.Fatalf("New = %v, %v", a, err)
	}
}

// Parse never accepts a body the fuzzer did not sign with the secret, and never panics on one it did.
func FuzzParse(f *testing.F) {
	body := event("evt_f", "checkout.session.completed", session("paid"))
	f.Add(body, sign(body, "whsec_other", now).Get("Stripe-Signature"))
	f.Add(body, fmt.Sprintf("t=%d,v1=%s", now.Unix(), strings.Repeat("0", 64)))
	f.Add([]byte(`{}`), "t=1,v1=00")
	f.Add(event("evt_r", "charge.refunded", `{"amount_refunded":1e400,"currency":"usd","payment_intent":[]}`), "garbage")
	f.Add([]byte(`{"id":"e","type":"checkout.session.expired","data":{"object":{"amount_total":"12","currency":"BHD"}}}`), "")
	a, err := stripe.New(stripe.Config{}, stripe.Secrets{SecretKey: "sk_test_fuzz", WebhookSecrets: []string{newSecret}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		n, err := a.Parse(http.Header{"Stripe-Signature": {header}}, body, now)
		if !errors.Is(err, payments.ErrBadSignature) {
			t.Fatalf("an unsigned body was not refused: %+v, %v", n, err)
		}
		n, err = a.Parse(sign(body, newSecret, now), body, now)
		switch {
		case errors.Is(err, payments.ErrBadSignature):
			t.Fatalf("a signed body was refused: %v", err)
		case err == nil && (n.EventID == "" || n.Status == ""):
			t.Fatalf("accepted without an event id or status: %+v", n)
		case err == nil && n.AmountKnown && (n.Amount.Minor < 0 || n.Amount.Currency.Code == ""):
			t.Fatalf("accepted a negative or currency-less amount: %+v", n)
		}
	})
}

// What the demo's payment sandbox plays is a webhook the gateway's own Parse accepts and reads back.
func TestASimulatedWebhookIsOneTheGatewayAcceptsAndReadsBack(t *testing.T) {
	t.Parallel()
	kind := stripe.Kind()
	config := []byte(`{}`)
	secrets := []byte(`{"secret_key":"sk_test_sim","webhook_secrets":["` + newSecret + `"]}`)
	want := payments.Simulated{EventID: "evt_sim_1", Reference: "dep-1", ExternalID: "cs_test_sim", Status: payments.NotifiedPaid,
		Amount: money.Amount{Minor: 12345, Currency: money.MustLookup("USD")}}
	h, body, err := kind.Simulate(config, secrets, want, now)
	if err != nil {
		t.Fatal(err)
	}
	a, err := kind.New(config, secrets, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := a.Parse(h, body, now)
	if err != nil || n.Status != payments.NotifiedPaid || n.Reference != "dep-1" || n.EventID != "evt_sim_1" || n.Amount != want.Amount {
		t.Fatalf("read back %+v %v", n, err)
	}
}
