package generic_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/generic"
)

// The stand-ins play the processors' side over real HTTPS (the adapter refuses plain http), written from their public documentation: they answer
// the create-payment call the way the processor's API answers it, and sign and send callbacks the way the
// processor's docs say it signs them. They share no code with the adapter (no SortedJSON: the sorted text a
// stand-in signs is written out by hand, as the processor would serialise it).

// receiver is our side of the callbacks: a webhook endpoint that hands each callback to the adapter and answers
// with its acknowledgement, as the deposit flow does.
type receiver struct {
	srv   *httptest.Server
	got   chan parsed
	clock time.Time
}

type parsed struct {
	n   payments.Notification
	err error
}

func newReceiver(t *testing.T, a *generic.Adapter, clock time.Time) *receiver {
	t.Helper()
	r := &receiver{got: make(chan parsed, 16), clock: clock}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		n, err := a.Parse(req.Header, body, r.clock)
		r.got <- parsed{n, err}
		ack := a.Acknowledge(n, err)
		w.Header().Set("Content-Type", ack.ContentType)
		w.WriteHeader(ack.Status)
		w.Write(ack.Body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// next is the callback the receiver read last.
func (r *receiver) next(t *testing.T) parsed {
	t.Helper()
	select {
	case p := <-r.got:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no callback reached the receiver")
		return parsed{}
	}
}

// post delivers a callback and returns the answer.
func post(t *testing.T, url string, header http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// nowPayments stands in for api.nowpayments.io: POST /v1/invoice, and IPNs signed with the IPN secret.
type nowPayments struct {
	srv       *httptest.Server
	apiKey    string
	ipnSecret string
	mu        sync.Mutex
	invoices  []map[string]any
	headers   []http.Header
}

func newNOWPayments(t *testing.T, apiKey, ipnSecret string) *nowPayments {
	t.Helper()
	p := &nowPayments{apiKey: apiKey, ipnSecret: ipnSecret}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.URL.Path != "/v1/invoice" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.Header.Get("x-api-key") != p.apiKey {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"status":false,"statusCode":403,"code":"INVALID_API_KEY","message":"Invalid api key"}`)
			return
		}
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		var in map[string]any
		if err := dec.Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.invoices = append(p.invoices, in)
		p.headers = append(p.headers, r.Header.Clone())
		id := fmt.Sprintf("52229173%02d", len(p.invoices))
		p.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{
			"id": id, "token_id": "5998913548", "order_id": in["order_id"], "order_description": in["order_description"],
			"price_amount": fmt.Sprint(in["price_amount"]), "price_currency": in["price_currency"], "pay_currency": nil,
			"ipn_callback_url": in["ipn_callback_url"], "invoice_url": "https://nowpayments.io/payment/?iid=" + id,
			"success_url": in["success_url"], "cancel_url": in["cancel_url"], "created_at": "2026-12-03T09:10:03.986Z",
			"updated_at": "2026-12-03T09:10:03.986Z", "is_fixed_rate": false, "is_fee_paid_by_user": false,
		})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *nowPayments) invoice(t *testing.T, i int) (map[string]any, http.Header) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= len(p.invoices) {
		t.Fatalf("%d invoices created, want at least %d", len(p.invoices), i+1)
	}
	return p.invoices[i], p.headers[i]
}

// ipn is one IPN as NOWPayments documents it: the body as delivered (fields in their documented order, indented)
// and the text that is signed (the same fields, keys sorted, no whitespace, values as written).
type ipn struct {
	PaymentID, InvoiceID, Status, PriceAmount, PriceCurrency, OrderID string
}

func (i ipn) delivered() []byte {
	return fmt.Appendf(nil, `{
  "payment_id": %s,
  "parent_payment_id": null,
  "invoice_id": %s,
  "payment_status": %q,
  "pay_address": "TNDFkiSmBQorNFacb3735q8MnT29sn8BLn",
  "payin_extra_id": null,
  "price_amount": %s,
  "price_currency": %q,
  "pay_amount": 100.8765,
  "actually_paid": 100.8765,
  "actually_paid_at_fiat": 0,
  "pay_currency": "usdttrc20",
  "order_id": %q,
  "order_description": "D\u00e9p\u00f4t \u2014 Harbour FX / \"Gold\" account",
  "purchase_id": "6084744717",
  "outcome_amount": 99.1,
  "outcome_currency": "usdttrc20",
  "fee": {"currency": "usdttrc20", "depositFee": 0.09853637216235617, "withdrawalFee": 0, "serviceFee": 0},
  "created_at": "2026-12-03T09:12:54.942Z",
  "updated_at": "2026-12-03T09:23:06.244Z"
}`, i.PaymentID, i.InvoiceID, i.Status, i.PriceAmount, i.PriceCurrency, i.OrderID)
}

func (i ipn) signedText() []byte {
	return fmt.Appendf(nil, `{"actually_paid":100.8765,"actually_paid_at_fiat":0,"created_at":"2026-12-03T09:12:54.942Z",`+
		`"fee":{"currency":"usdttrc20","depositFee":0.09853637216235617,"serviceFee":0,"withdrawalFee":0},`+
		`"invoice_id":%s,"order_description":"Dépôt — Harbour FX / \"Gold\" account","order_id":%q,`+
		`"outcome_amount":99.1,"outcome_currency":"usdttrc20","parent_payment_id":null,`+
		`"pay_address":"TNDFkiSmBQorNFacb3735q8MnT29sn8BLn","pay_amount":100.8765,"pay_currency":"usdttrc20",`+
		`"payin_extra_id":null,"payment_id":%s,"payment_status":%q,"price_amount":%s,"price_currency":%q,`+
		`"purchase_id":"6084744717","updated_at":"2026-12-03T09:23:06.244Z"}`,
		i.InvoiceID, i.OrderID, i.PaymentID, i.Status, i.PriceAmount, i.PriceCurrency)
}

// sign is x-nowpayments-sig: hex HMAC-SHA512 of the sorted text with the IPN secret.
func (p *nowPayments) sign(i ipn) http.Header {
	m := hmac.New(sha512.New, []byte(p.ipnSecret))
	m.Write(i.signedText())
	return http.Header{"X-Nowpayments-Sig": {hex.EncodeToString(m.Sum(nil))}}
}

// send delivers the IPN to url, signed.
func (p *nowPayments) send(t *testing.T, url string, i ipn) (int, string) {
	t.Helper()
	return post(t, url, p.sign(i), i.delivered())
}

// coinbase stands in for api.commerce.coinbase.com: POST /charges, and webhooks signed with the shared secret.
type coinbase struct {
	srv          *httptest.Server
	apiKey       string
	sharedSecret string
	mu           sync.Mutex
	charges      []map[string]any
	headers      []http.Header
}

func newCoinbase(t *testing.T, apiKey, sharedSecret string) *coinbase {
	t.Helper()
	c := &coinbase{apiKey: apiKey, sharedSecret: sharedSecret}
	c.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.URL.Path != "/charges" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.Header.Get("X-CC-Api-Key") != c.apiKey {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"type":"authorization_error","message":"No such API key."}}`)
			return
		}
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.charges = append(c.charges, in)
		c.headers = append(c.headers, r.Header.Clone())
		c.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
			"id": "2aee9dd1-67b8-43ef-8dfe-977959850f27", "code": "XA6G6ZFR", "name": in["name"],
			"description": in["description"], "pricing_type": "fixed_price", "metadata": in["metadata"],
			"hosted_url": "https://commerce.coinbase.com/pay/2aee9dd1-67b8-43ef-8dfe-977959850f27",
			"pricing":    map[string]any{"local": in["local_price"]},
			"created_at": "2026-12-03T09:10:03Z", "expires_at": "2026-12-03T10:10:03Z",
		}, "warnings": []string{}})
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *coinbase) charge(t *testing.T, i int) (map[string]any, http.Header) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if i >= len(c.charges) {
		t.Fatalf("%d charges created, want at least %d", len(c.charges), i+1)
	}
	return c.charges[i], c.headers[i]
}

// event is a Coinbase Commerce webhook in its documented shape: the delivery (attempt_number, id, scheduled_for)
// around the event (id, type, data: the charge).
func cbEvent(eventID, typ, code, reference, amount, currency string) []byte {
	return fmt.Appendf(nil, `{"attempt_number":1,"event":{"api_version":"2018-03-22","created_at":"2026-12-03T09:29:20Z",`+
		`"data":{"id":"2aee9dd1-67b8-43ef-8dfe-977959850f27","code":%q,"name":"Deposit","description":"Deposit to Harbour FX",`+
		`"hosted_url":"https://commerce.coinbase.com/pay/2aee9dd1-67b8-43ef-8dfe-977959850f27",`+
		`"pricing":{"local":{"amount":%q,"currency":%q},"settlement":{"amount":%q,"currency":"USDC"}},`+
		`"metadata":{"deposit":%q},"pricing_type":"fixed_price",`+
		`"timeline":[{"status":"NEW","time":"2026-12-03T09:10:03Z"},{"status":"PENDING","time":"2026-12-03T09:29:19Z"}]},`+
		`"id":%q,"resource":"event","type":%q},"id":"7c8a5a1e-0d62-4c1f-9e33-1b1d8a0e3f11",`+
		`"scheduled_for":"2026-12-03T09:29:20Z"}`, code, amount, currency, amount, reference, eventID, typ)
}

// sign is X-CC-Webhook-Signature: hex HMAC-SHA256 of the raw body with the shared secret.
func (c *coinbase) sign(body []byte) http.Header {
	m := hmac.New(sha256.New, []byte(c.sharedSecret))
	m.Write(body)
	return http.Header{"X-Cc-Webhook-Signature": {hex.EncodeToString(m.Sum(nil))}}
}

func (c *coinbase) send(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	return post(t, url, c.sign(body), body)
}
