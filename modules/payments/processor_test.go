package payments_test

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// processor plays NOWPayments' side over HTTPS, from its public documentation: it answers the invoice call with an
// invoice URL, and signs IPNs as NOWPayments does (HMAC-SHA512 of the body with its keys sorted, no whitespace).
type processor struct {
	srv      *httptest.Server
	mu       sync.Mutex
	invoices []map[string]any
}

func newProcessor(t testing.TB) *processor {
	t.Helper()
	p := &processor{}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/invoice" || r.Header.Get("x-api-key") != "np-key" {
			http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		var in map[string]any
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, `{"message":"bad json"}`, http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.invoices = append(p.invoices, in)
		n := len(p.invoices)
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"%d","order_id":%q,"invoice_url":"https://nowpayments.io/payment/?iid=%d"}`, 5000+n, in["order_id"], 5000+n)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// client trusts the stand-in's certificate (and only it: nothing else is reachable from a test anyway).
func (p *processor) client() *http.Client { return p.srv.Client() }

// ipn is a signed NOWPayments IPN: its fields written in sorted key order without whitespace, as NOWPayments signs.
func ipn(paymentID, order, status, amount string) (http.Header, []byte) {
	body := fmt.Appendf(nil, `{"actually_paid":0.0123,"order_id":%q,"pay_currency":"btc","payment_id":%s,"payment_status":%q,`+
		`"price_amount":%s,"price_currency":"usd"}`, order, paymentID, status, amount)
	mac := hmac.New(sha512.New, []byte(ipnSecret))
	mac.Write(body)
	h := http.Header{}
	h.Set("x-nowpayments-sig", hex.EncodeToString(mac.Sum(nil)))
	return h, body
}
