// Package sandbox is the payment processor of `make run`: a local HTTPS service that answers a generic gateway's
// "create payment" call the way a crypto processor does (an invoice with payment instructions), so the demo
// brokerage's crypto deposits can be tried by hand with no processor account and no internet. It never moves money;
// the payment itself is confirmed from the back office's payment sandbox page, which plays the processor's signed
// callback (payments.Kind.Simulate). Only `brokerdesk dev` starts it.
package sandbox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/payments/generic"
)

// APIKey is the key the demo's gateway sends; the sandbox refuses any other.
const APIKey = "sandbox-api-key"

// Processor is a running sandbox.
type Processor struct {
	srv  *http.Server
	ln   net.Listener
	leaf *x509.Certificate

	mu       sync.Mutex
	invoices int
}

// Start listens on a free loopback port with a fresh self-signed certificate.
func Start() (*Processor, error) {
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	p := &Processor{ln: ln, leaf: cert.Leaf}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/invoice", p.invoice)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the sandbox's base URL (https://127.0.0.1:<port>).
func (p *Processor) URL() string { return "https://" + p.ln.Addr().String() }

// Client is an HTTP client that trusts the system's certificate authorities and the sandbox's certificate: the
// payments module's client under `make run`.
func (p *Processor) Client() *http.Client {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pool.AddCert(p.leaf)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: 20 * time.Second, Transport: tr}
}

// Close stops the sandbox.
func (p *Processor) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return p.srv.Shutdown(ctx)
}

// GatewayConfig is the configuration of a generic gateway that uses this sandbox: invoices created here with
// instructions to show, callbacks shaped and signed as NOWPayments' IPNs (HMAC-SHA512 over sorted JSON).
func (p *Processor) GatewayConfig() generic.Config {
	c := generic.NOWPayments()
	c.Create = generic.Create{URL: p.URL() + "/v1/invoice", APIKeyHeader: "x-api-key",
		Body: `{"price_amount":"{{amount_number}}","price_currency":"{{currency_lower}}","order_id":"{{reference}}",` +
			`"order_description":"{{description}}","ipn_callback_url":"{{callback_url}}"}`,
		Instructions: "instructions", ExternalID: "id"}
	return c
}

// invoice answers the create-payment call: an invoice id and the instructions the portal shows.
func (p *Processor) invoice(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("x-api-key") != APIKey {
		http.Error(w, `{"message":"Invalid api key"}`, http.StatusForbidden)
		return
	}
	var in struct {
		Amount   json.Number `json:"price_amount"`
		Currency string      `json:"price_currency"`
		Order    string      `json:"order_id"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.Order == "" {
		http.Error(w, `{"message":"order_id and price_amount are required"}`, http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.invoices++
	n := p.invoices
	p.mu.Unlock()
	id := fmt.Sprintf("sandbox-%d-%d", time.Now().Unix(), n)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"id": id, "order_id": in.Order,
		"instructions": fmt.Sprintf("Send %s %s worth of USDT (TRC-20) to TSandboxDemoAddr0000000000000000000 with reference %s. "+
			"This is the BrokerDesk payment sandbox: no money moves; confirm the payment from the back office's Payment sandbox page.",
			in.Amount, in.Currency, in.Order),
	})
}

// selfSigned makes a certificate for 127.0.0.1, valid for a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "BrokerDesk payment sandbox"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
