package generic_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/generic"
)

const (
	npAPIKey   = "A7M40XV-CG1448Z-KVVED3G-NW3V0TK"
	npIPNOld   = "ipn-secret-old-3f9a1c"
	npIPNNew   = "ipn-secret-new-8b2d7e"
	cbAPIKey   = "cc-api-key-2226376d"
	cbShared   = "cc-shared-secret-6e1f"
	tsSecret   = "acme-webhook-secret-1"
	reference  = "dep_01J9ZK4"
	callbackTo = "https://harbour.example/api/v1/webhooks/payments/crypto"
)

var clock = time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)

func usd(minor int64) money.Amount {
	return money.Amount{Minor: minor, Currency: money.MustLookup("USD")}
}

func checkout(amount money.Amount) payments.Checkout {
	return payments.Checkout{
		Reference: reference, Amount: amount, ClientEmail: "ann@example.com", Description: "Deposit to Harbour FX",
		ReturnURL: "https://portal.harbour.example/wallet", CancelURL: "https://portal.harbour.example/wallet?cancelled=1",
		CallbackURL: callbackTo, IdempotencyKey: "deposit-" + reference,
	}
}

// nowPaymentsAdapter is the NOWPayments preset pointed at the stand-in.
func nowPaymentsAdapter(t *testing.T, p *nowPayments, ipnSecrets ...string) *generic.Adapter {
	t.Helper()
	cfg := generic.NOWPayments()
	var client *http.Client
	if p != nil {
		cfg.Create.URL, client = p.srv.URL+"/v1/invoice", p.srv.Client()
	}
	a, err := generic.New(cfg, generic.Secrets{WebhookSecrets: ipnSecrets, APIKey: npAPIKey}, client)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func coinbaseAdapter(t *testing.T, c *coinbase, secrets ...string) *generic.Adapter {
	t.Helper()
	cfg := generic.CoinbaseCommerce()
	var client *http.Client
	if c != nil {
		cfg.Create.URL, client = c.srv.URL+"/charges", c.srv.Client()
	}
	a, err := generic.New(cfg, generic.Secrets{WebhookSecrets: secrets, APIKey: cbAPIKey}, client)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNOWPaymentsInvoiceThenSignedIPNsReadAsThePendingThenPaidDeposit(t *testing.T) {
	t.Parallel()
	np := newNOWPayments(t, npAPIKey, npIPNNew)
	a := nowPaymentsAdapter(t, np, npIPNNew)
	started, err := a.Begin(t.Context(), checkout(usd(10000)))
	if err != nil {
		t.Fatal(err)
	}
	inv, hdr := np.invoice(t, 0)
	if hdr.Get("x-api-key") != npAPIKey || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", hdr)
	}
	for field, want := range map[string]any{
		"price_amount": json.Number("100.00"), "price_currency": "usd", "order_id": reference,
		"order_description": "Deposit to Harbour FX", "ipn_callback_url": callbackTo,
		"success_url": "https://portal.harbour.example/wallet", "cancel_url": "https://portal.harbour.example/wallet?cancelled=1",
	} {
		if inv[field] != want {
			t.Errorf("invoice %s = %#v, want %#v", field, inv[field], want)
		}
	}
	if started.RedirectURL != "https://nowpayments.io/payment/?iid=5222917301" || started.ExternalID != "5222917301" {
		t.Errorf("started = %+v", started)
	}

	rcv := newReceiver(t, a, clock)
	for _, c := range []struct {
		status string
		want   payments.NotifiedStatus
	}{{"waiting", payments.NotifiedPending}, {"confirming", payments.NotifiedPending}, {"finished", payments.NotifiedPaid}} {
		code, body := np.send(t, rcv.srv.URL, ipn{PaymentID: "4409701815", InvoiceID: started.ExternalID, Status: c.status,
			PriceAmount: "100", PriceCurrency: "usd", OrderID: inv["order_id"].(string)})
		got := rcv.next(t)
		if got.err != nil {
			t.Fatalf("%s: %v", c.status, got.err)
		}
		want := payments.Notification{EventID: "4409701815:" + c.status, Type: c.status, Reference: reference,
			ExternalID: "4409701815", Status: c.want, Amount: usd(10000), AmountKnown: true}
		if got.n != want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.status, got.n, want)
		}
		if code != http.StatusOK || body != "OK" {
			t.Errorf("%s: answered %d %q", c.status, code, body)
		}
	}
}

func TestCoinbaseCommerceChargeThenSignedWebhooksReadAsThePendingThenPaidDeposit(t *testing.T) {
	t.Parallel()
	cb := newCoinbase(t, cbAPIKey, cbShared)
	a := coinbaseAdapter(t, cb, cbShared)
	started, err := a.Begin(t.Context(), checkout(money.Amount{Minor: 25050, Currency: money.MustLookup("EUR")}))
	if err != nil {
		t.Fatal(err)
	}
	ch, hdr := cb.charge(t, 0)
	if hdr.Get("X-CC-Api-Key") != cbAPIKey || hdr.Get("X-CC-Version") != "2018-03-22" {
		t.Errorf("headers %v", hdr)
	}
	if ch["pricing_type"] != "fixed_price" || ch["redirect_url"] != "https://portal.harbour.example/wallet" {
		t.Errorf("charge %v", ch)
	}
	if lp, _ := ch["local_price"].(map[string]any); lp["amount"] != "250.50" || lp["currency"] != "EUR" {
		t.Errorf("local_price %v", ch["local_price"])
	}
	if md, _ := ch["metadata"].(map[string]any); md["deposit"] != reference {
		t.Errorf("metadata %v", ch["metadata"])
	}
	if started.RedirectURL != "https://commerce.coinbase.com/pay/2aee9dd1-67b8-43ef-8dfe-977959850f27" || started.ExternalID != "XA6G6ZFR" {
		t.Errorf("started = %+v", started)
	}

	rcv := newReceiver(t, a, clock)
	eur := money.Amount{Minor: 25050, Currency: money.MustLookup("EUR")}
	for i, c := range []struct {
		typ  string
		want payments.Notification
	}{
		{"charge:created", payments.Notification{Status: payments.NotifiedIgnored}},
		{"charge:pending", payments.Notification{Status: payments.NotifiedPending, Amount: eur, AmountKnown: true}},
		{"charge:confirmed", payments.Notification{Status: payments.NotifiedPaid, Amount: eur, AmountKnown: true}},
	} {
		eventID := fmt.Sprintf("24934862-d980-46cb-9402-43c81b0cdba%d", i)
		code, body := cb.send(t, rcv.srv.URL, cbEvent(eventID, c.typ, "XA6G6ZFR", reference, "250.50", "EUR"))
		got := rcv.next(t)
		if got.err != nil {
			t.Fatalf("%s: %v", c.typ, got.err)
		}
		c.want.EventID, c.want.Type, c.want.Reference, c.want.ExternalID = eventID, c.typ, reference, "XA6G6ZFR"
		if got.n != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.typ, got.n, c.want)
		}
		if code != http.StatusOK {
			t.Errorf("%s: answered %d %q", c.typ, code, body)
		}
	}
	failed := cbEvent("24934862-d980-46cb-9402-43c81b0cdbaf", "charge:failed", "XA6G6ZFR", reference, "250.50", "EUR")
	cb.send(t, rcv.srv.URL, failed)
	if got := rcv.next(t); got.err != nil || got.n.Status != payments.NotifiedFailed {
		t.Errorf("charge:failed: %+v", got)
	}
}

// timestamped is a processor of the third kind the gateway speaks: HMAC-SHA256 in base64 over "<timestamp>.<raw
// body>", the timestamp in its own header, five minutes of tolerance.
func timestamped() generic.Config {
	c := generic.CoinbaseCommerce()
	c.Signature = generic.Signature{Header: "X-Acme-Signature", Algorithm: generic.HMACSHA256, Payload: generic.PayloadRaw,
		Encoding: generic.EncodingBase64, TimestampHeader: "X-Acme-Timestamp", ToleranceSeconds: 300}
	return c
}

func signTimestamped(body []byte, secret string, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return http.Header{"X-Acme-Signature": {base64.StdEncoding.EncodeToString(m.Sum(nil))}, "X-Acme-Timestamp": {ts}}
}

func TestParseAcceptsOnlyCallbacksSignedWithAConfiguredSecret(t *testing.T) {
	t.Parallel()
	np := &nowPayments{ipnSecret: npIPNNew}
	npOld := &nowPayments{ipnSecret: npIPNOld}
	npOther := &nowPayments{ipnSecret: "someone-elses-secret"}
	paid := ipn{PaymentID: "4409701815", InvoiceID: "5222917301", Status: "finished", PriceAmount: "100", PriceCurrency: "usd", OrderID: reference}
	npRotating := nowPaymentsAdapter(t, nil, npIPNOld, npIPNNew)
	npRotated := nowPaymentsAdapter(t, nil, npIPNNew)

	cb := &coinbase{sharedSecret: cbShared}
	cbEv := cbEvent("evt-sig", "charge:confirmed", "XA6G6ZFR", reference, "250.50", "EUR")
	cbA := coinbaseAdapter(t, nil, cbShared)
	upper := cb.sign(cbEv)
	upper.Set("X-CC-Webhook-Signature", strings.ToUpper(upper.Get("X-CC-Webhook-Signature")))

	ts, err := generic.New(timestamped(), generic.Secrets{WebhookSecrets: []string{tsSecret}, APIKey: "k"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	noTimestamp := signTimestamped(cbEv, tsSecret, clock)
	noTimestamp.Del("X-Acme-Timestamp")

	oneByte := func(b []byte, from, to string) []byte { return []byte(strings.Replace(string(b), from, to, 1)) }
	for _, c := range []struct {
		name   string
		a      *generic.Adapter
		header http.Header
		body   []byte
		ok     bool
	}{
		{"NOWPayments: signed with the new secret", npRotating, np.sign(paid), paid.delivered(), true},
		{"NOWPayments: signed with the old secret while both are configured", npRotating, npOld.sign(paid), paid.delivered(), true},
		{"NOWPayments: signed with the old secret after it was removed", npRotated, npOld.sign(paid), paid.delivered(), false},
		{"NOWPayments: the sorted text itself", npRotated, np.sign(paid), paid.signedText(), true},
		{"NOWPayments: wrong secret", npRotating, npOther.sign(paid), paid.delivered(), false},
		{"NOWPayments: amount changed by one byte", npRotating, np.sign(paid), oneByte(paid.delivered(), `"price_amount": 100`, `"price_amount": 900`), false},
		{"NOWPayments: number rewritten (100 as 100.0)", npRotating, np.sign(paid), oneByte(paid.delivered(), `"price_amount": 100`, `"price_amount": 100.0`), false},
		{"NOWPayments: missing header", npRotating, http.Header{}, paid.delivered(), false},
		{"NOWPayments: garbage header", npRotating, http.Header{"X-Nowpayments-Sig": {"not-a-signature"}}, paid.delivered(), false},
		{"NOWPayments: signature of the wrong length", npRotating, http.Header{"X-Nowpayments-Sig": {strings.Repeat("ab", 32)}}, paid.delivered(), false},
		{"NOWPayments: body not JSON", npRotating, np.sign(paid), []byte(`finished`), false},
		{"Coinbase: valid", cbA, cb.sign(cbEv), cbEv, true},
		{"Coinbase: hex in upper case", cbA, upper, cbEv, true},
		{"Coinbase: body changed by one byte", cbA, cb.sign(cbEv), oneByte(cbEv, "250.50", "950.50"), false},
		{"Coinbase: whitespace added (raw body signed)", cbA, cb.sign(cbEv), append([]byte(" "), cbEv...), false},
		{"Coinbase: wrong secret", cbA, (&coinbase{sharedSecret: "nope"}).sign(cbEv), cbEv, false},
		{"Coinbase: missing header", cbA, http.Header{}, cbEv, false},
		{"Coinbase: garbage header", cbA, http.Header{"X-Cc-Webhook-Signature": {"sha256=zzz"}}, cbEv, false},
		{"timestamped: valid", ts, signTimestamped(cbEv, tsSecret, clock.Add(-299*time.Second)), cbEv, true},
		{"timestamped: stale", ts, signTimestamped(cbEv, tsSecret, clock.Add(-301*time.Second)), cbEv, false},
		{"timestamped: from the future", ts, signTimestamped(cbEv, tsSecret, clock.Add(301*time.Second)), cbEv, false},
		{"timestamped: no timestamp", ts, noTimestamp, cbEv, false},
		{"timestamped: wrong secret", ts, signTimestamped(cbEv, "other-secret", clock), cbEv, false},
		{"timestamped: body changed by one byte", ts, signTimestamped(cbEv, tsSecret, clock), oneByte(cbEv, "XA6G6ZFR", "XA6G6ZFS"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n, err := c.a.Parse(c.header, c.body, clock)
			if c.ok {
				if err != nil || n.Status != payments.NotifiedPaid {
					t.Fatalf("Parse = %+v, %v; want paid", n, err)
				}
				return
			}
			if !errors.Is(err, payments.ErrBadSignature) {
				t.Fatalf("Parse = %+v, %v; want ErrBadSignature", n, err)
			}
		})
	}
}

func TestParseReadsAmountsAsWrittenInTheCurrencysDecimals(t *testing.T) {
	t.Parallel()
	np := &nowPayments{ipnSecret: npIPNNew}
	a := nowPaymentsAdapter(t, nil, npIPNNew)
	for _, c := range []struct {
		amount, currency, status string
		want                     money.Amount
		malformed                bool
	}{
		{"0.1", "usd", "finished", usd(10), false},
		{`"250.5"`, "eur", "finished", money.Amount{Minor: 25050, Currency: money.MustLookup("EUR")}, false},
		{"1.234", "bhd", "finished", money.Amount{Minor: 1234, Currency: money.MustLookup("BHD")}, false},
		{"92233720368547758.07", "usd", "finished", usd(9223372036854775807), false},
		{"10.005", "usd", "finished", money.Amount{}, true},
		{"1e2", "usd", "finished", money.Amount{}, true},
		{"-5", "usd", "finished", money.Amount{}, true},
		{"100", "doge", "finished", money.Amount{}, true},
		{"true", "usd", "finished", money.Amount{}, true},
		{"10.005", "usd", "some_new_status", money.Amount{}, false}, // ignored: its amount is not read
	} {
		i := ipn{PaymentID: "1", InvoiceID: "2", Status: c.status, PriceAmount: c.amount, PriceCurrency: c.currency, OrderID: reference}
		n, err := a.Parse(np.sign(i), i.delivered(), clock)
		switch {
		case c.malformed:
			if !errors.Is(err, payments.ErrMalformed) {
				t.Errorf("%s %s: %+v, %v; want ErrMalformed", c.amount, c.currency, n, err)
			}
		case err != nil:
			t.Errorf("%s %s: %v", c.amount, c.currency, err)
		case c.status == "some_new_status":
			if n.Status != payments.NotifiedIgnored || n.AmountKnown {
				t.Errorf("unknown status: %+v", n)
			}
		case !n.AmountKnown || n.Amount != c.want:
			t.Errorf("%s %s: %+v, want %v", c.amount, c.currency, n.Amount, c.want)
		}
	}
}

func TestParseCallsAnAuthenticButUnreadableCallbackMalformed(t *testing.T) {
	t.Parallel()
	cb := &coinbase{sharedSecret: cbShared}
	a := coinbaseAdapter(t, nil, cbShared)
	for _, body := range []string{
		`not json at all`,
		`["an","array"]`,
		`{"event":{"id":"e1","data":{"code":"X"}}}`,                               // no status
		`{"event":{"type":"charge:confirmed","data":{}}}`,                         // neither event id nor charge code
		`{"event":{"id":"e1","type":"charge:confirmed","data":{"code":{"a":1}}}}`, // code not a string
		`{"event":{"id":"e1","type":"charge:confirmed","data":{"code":"X","pricing":{"local":{"amount":"1.00"}}}}}`,
	} {
		if _, err := a.Parse(cb.sign([]byte(body)), []byte(body), clock); !errors.Is(err, payments.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", body, err)
		}
	}
}

func TestBeginSendsTemplateValuesAsJSONValuesNeverAsJSONText(t *testing.T) {
	t.Parallel()
	cb := newCoinbase(t, cbAPIKey, cbShared)
	a := coinbaseAdapter(t, cb, cbShared)
	d := checkout(usd(100))
	d.Description = `Gold","pricing_type":"no_price","x":"`
	if _, err := a.Begin(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	ch, _ := cb.charge(t, 0)
	if ch["pricing_type"] != "fixed_price" || ch["name"] != d.Description {
		t.Errorf("the description escaped its string: %v", ch)
	}
}

func TestBeginReportsWhatTheProcessorAnsweredAsAProcessorError(t *testing.T) {
	t.Parallel()
	np := newNOWPayments(t, "another-key", npIPNNew)
	a := nowPaymentsAdapter(t, np, npIPNNew)
	_, err := a.Begin(t.Context(), checkout(usd(100)))
	if !errors.Is(err, payments.ErrProcessor) || !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "Invalid api key") {
		t.Errorf("refused: %v", err)
	}

	for name, answer := range map[string]string{
		"no redirect":        `{"id":"1"}`,
		"a javascript: link": `{"id":"1","invoice_url":"javascript:alert(1)"}`,
		"no id":              `{"invoice_url":"https://nowpayments.io/payment/?iid=1"}`,
		"not JSON":           `<html>maintenance</html>`,
	} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(answer)) }))
		cfg := generic.NOWPayments()
		cfg.Create.URL = srv.URL
		a, err := generic.New(cfg, generic.Secrets{WebhookSecrets: []string{npIPNNew}, APIKey: npAPIKey}, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Begin(t.Context(), checkout(usd(100))); !errors.Is(err, payments.ErrProcessor) {
			t.Errorf("%s: %v, want ErrProcessor", name, err)
		}
		srv.Close()
	}

	if _, err := a.Begin(t.Context(), payments.Checkout{Amount: usd(-1)}); err == nil {
		t.Error("a deposit without reference or amount was sent")
	} else if v, ok := validation.As(err); !ok || v.Message("reference") == "" || v.Message("amount") == "" {
		t.Errorf("err = %v, want reference and amount named", err)
	}
}

func TestAcknowledgeAnswersAsConfiguredOrAsksForARetry(t *testing.T) {
	t.Parallel()
	a := coinbaseAdapter(t, nil, cbShared)
	if got := a.Acknowledge(payments.Notification{}, nil); got.Status != 200 || string(got.Body) != "OK" {
		t.Errorf("handled: %+v", got)
	}
	if got := a.Acknowledge(payments.Notification{}, errors.New("database down")); got.Status != 500 || len(got.Body) != 0 {
		t.Errorf("failed: %+v, want 500 so the processor retries", got)
	}
	if got := a.Acknowledge(payments.Notification{}, payments.ErrBadSignature); got.Status != 400 {
		t.Errorf("bad signature: %+v, want 400", got)
	}
}

func TestRefundIsMadeByHand(t *testing.T) {
	t.Parallel()
	a := nowPaymentsAdapter(t, nil, npIPNNew)
	if _, err := a.Refund(t.Context(), payments.RefundRequest{ExternalID: "1", Amount: usd(100)}); !errors.Is(err, payments.ErrRefundUnsupported) {
		t.Errorf("Refund = %v, want ErrRefundUnsupported", err)
	}
}

func TestConfigValidateNamesEveryBadField(t *testing.T) {
	t.Parallel()
	c := generic.Config{
		Signature: generic.Signature{Header: "x sig", Algorithm: "md5", Payload: "xml", Encoding: "base32", ToleranceSeconds: 60},
		Callback: generic.Callback{Reference: "", ExternalID: "a..b", Amount: "price_amount", Status: "status",
			Paid: []string{"done"}, Failed: []string{"DONE", ""}},
		Ack: generic.Ack{Status: 302, ContentType: "text/plain\r\nSet-Cookie: x"},
		Create: generic.Create{URL: "http://127.0.0.1:8080/invoice", APIKeyHeader: "", Headers: map[string]string{"X-V": "1\n2"},
			Body: `{"order":"{{order_id}}"}`, ExternalID: ""},
	}
	err := c.Validate(generic.Secrets{WebhookSecrets: []string{"short", "short"}, APIKey: ""})
	v, ok := validation.As(err)
	if !ok {
		t.Fatalf("err = %v, want a validation error", err)
	}
	for _, field := range []string{
		"signature.header", "signature.algorithm", "signature.payload", "signature.encoding", "signature.tolerance_seconds",
		"callback.reference", "callback.external_id", "callback.currency", "callback.failed", "ack.status", "ack.content_type",
		"create.url", "create.api_key_header", "create.headers", "create.body", "create.redirect_url", "create.external_id",
		"webhook_secrets[0]", "webhook_secrets[1]", "api_key",
	} {
		if v.Message(field) == "" {
			t.Errorf("%s not named", field)
		}
	}
	if !strings.Contains(v.Message("create.body"), "{{order_id}}") {
		t.Errorf("create.body: %q", v.Message("create.body"))
	}
	if err := (generic.Config{}).Validate(generic.Secrets{}); err == nil || !strings.Contains(err.Error(), "webhook_secrets") {
		t.Errorf("no secrets: %v", err)
	}
}

func TestPresetsAreReadyOnceTheirSecretsAreGiven(t *testing.T) {
	t.Parallel()
	k := generic.Kind()
	if k.Name != "generic" {
		t.Errorf("name %q", k.Name)
	}
	secrets := []byte(`{"webhook_secrets":["ipn-secret-123456"],"api_key":"key"}`)
	for _, name := range []string{"nowpayments", "coinbase-commerce"} {
		preset, ok := k.Presets[name]
		if !ok {
			t.Fatalf("no preset %q", name)
		}
		if err := k.Validate(preset, secrets); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := k.Validate(preset, []byte(`{}`)); err == nil {
			t.Errorf("%s validated without secrets", name)
		}
		if a, err := k.New(preset, secrets, nil); err != nil || a == nil {
			t.Errorf("%s: New = %v", name, err)
		}
	}
	err := k.Validate([]byte(`{"signatur":{}}`), []byte(`{"api_key":"TOPSECRET`))
	if v, ok := validation.As(err); !ok || v.Message("config") == "" || v.Message("secrets") == "" {
		t.Errorf("misspelt config and broken secrets: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("the error quotes the secret: %v", err)
	}
}
