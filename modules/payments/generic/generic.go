// Package generic is the configurable signed-webhook gateway: one adapter that speaks to the crypto and local
// processors brokers use, none of which share a protocol, from a configuration saying how the processor signs its
// callbacks (an HMAC over the raw body or over its key-sorted JSON, hex or base64, with or without a timestamp),
// where the facts are in a callback (dotted JSON paths), what its statuses mean, how to acknowledge it, and how to
// create a payment (a JSON POST built from a template). NOWPayments and CoinbaseCommerce are ready configurations.
//
// Refunds through these processors are made by hand (Refund is payments.ErrRefundUnsupported).
package generic

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// Adapter is a configured generic gateway. It is safe for concurrent use.
type Adapter struct {
	cfg     Config
	secrets [][]byte
	apiKey  string
	client  *http.Client
	newHash func() hash.Hash
	status  map[string]payments.NotifiedStatus
}

var _ payments.Adapter = (*Adapter)(nil)

// maxAnswer bounds what Begin reads of the processor's answer.
const maxAnswer = 1 << 20

// New returns the adapter of cfg with its secrets; client makes the create-payment calls (nil: a client with a
// 20 s timeout). A configuration that does not validate is its *validation.Error.
func New(cfg Config, sec Secrets, client *http.Client) (*Adapter, error) {
	if err := cfg.Validate(sec); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	a := &Adapter{cfg: cfg, apiKey: sec.APIKey, client: client, status: map[string]payments.NotifiedStatus{}}
	for _, s := range sec.WebhookSecrets {
		a.secrets = append(a.secrets, []byte(s))
	}
	a.newHash = sha256.New
	if cfg.Signature.Algorithm == HMACSHA512 {
		a.newHash = sha512.New
	}
	for st, values := range map[payments.NotifiedStatus][]string{
		payments.NotifiedPaid: cfg.Callback.Paid, payments.NotifiedPending: cfg.Callback.Pending,
		payments.NotifiedFailed: cfg.Callback.Failed, payments.NotifiedRefunded: cfg.Callback.Refunded,
	} {
		for _, v := range values {
			a.status[strings.ToLower(v)] = st
		}
	}
	return a, nil
}

// Begin creates the payment at the processor (Create) and returns its page or instructions.
func (a *Adapter) Begin(ctx context.Context, d payments.Checkout) (payments.Started, error) {
	var f validation.Fields
	f.Required("reference", d.Reference)
	f.Check(d.Amount.Minor > 0, "amount", "must be positive")
	if _, ok := money.Lookup(d.Amount.Currency.Code); !ok {
		f.Add("currency", fmt.Sprintf("%q is not a currency BrokerDesk handles", d.Amount.Currency.Code))
	}
	if err := f.Err(); err != nil {
		return payments.Started{}, err
	}
	body, err := a.render(d)
	if err != nil {
		return payments.Started{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.Create.URL, bytes.NewReader(body))
	if err != nil {
		return payments.Started{}, fmt.Errorf("generic: create payment: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range a.cfg.Create.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set(a.cfg.Create.APIKeyHeader, a.apiKey)
	if h := a.cfg.Create.IdempotencyHeader; h != "" && d.IdempotencyKey != "" {
		req.Header.Set(h, d.IdempotencyKey)
	}
	res, err := a.client.Do(req)
	if err != nil {
		return payments.Started{}, fmt.Errorf("%w: create payment at %s: %w", payments.ErrProcessor, req.URL.Host, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return payments.Started{}, fmt.Errorf("%w: create payment at %s: read the answer: %w", payments.ErrProcessor, req.URL.Host, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return payments.Started{}, fmt.Errorf("%w: create payment at %s: HTTP %d: %s", payments.ErrProcessor, req.URL.Host,
			res.StatusCode, snippet(answer))
	}
	tree, err := decodeJSON(answer)
	if err != nil {
		return payments.Started{}, fmt.Errorf("%w: create payment at %s: the answer is %v", payments.ErrProcessor, req.URL.Host, err)
	}
	var out payments.Started
	var ok bool
	if out.ExternalID, ok = scalar(tree, a.cfg.Create.ExternalID); !ok || out.ExternalID == "" {
		return payments.Started{}, fmt.Errorf("%w: create payment at %s: no %s in the answer", payments.ErrProcessor, req.URL.Host,
			a.cfg.Create.ExternalID)
	}
	if p := a.cfg.Create.RedirectURL; p != "" {
		out.RedirectURL, _ = scalar(tree, p)
		if out.RedirectURL != "" {
			// The client's browser is sent there: only a web page, never javascript: or data:.
			if u, err := url.Parse(out.RedirectURL); err != nil || u.Scheme != "https" || u.Host == "" {
				return payments.Started{}, fmt.Errorf("%w: create payment at %s: the redirect URL %q is not an https URL",
					payments.ErrProcessor, req.URL.Host, snippet([]byte(out.RedirectURL)))
			}
		}
	}
	if p := a.cfg.Create.Instructions; p != "" {
		out.Instructions, _ = scalar(tree, p)
	}
	if out.RedirectURL == "" && out.Instructions == "" {
		return payments.Started{}, fmt.Errorf("%w: create payment at %s: the answer has neither a redirect URL nor instructions",
			payments.ErrProcessor, req.URL.Host)
	}
	return out, nil
}

// render fills Create.Body's placeholders for d.
func (a *Adapter) render(d payments.Checkout) ([]byte, error) {
	amount := money.Format(d.Amount.Minor, d.Amount.Currency)
	return renderBody("create.body", a.cfg.Create.Body, amount, map[string]string{
		"reference": d.Reference, "amount": amount, "amount_number": amount,
		"currency": strings.ToUpper(d.Amount.Currency.Code), "currency_lower": strings.ToLower(d.Amount.Currency.Code),
		"callback_url": d.CallbackURL, "return_url": d.ReturnURL, "cancel_url": d.CancelURL,
		"description": d.Description, "email": d.ClientEmail, "idempotency_key": d.IdempotencyKey,
	})
}

// renderBody fills a body template's placeholders with values; {{amount_number}} alone is the JSON number amount.
func renderBody(field, body, amount string, values map[string]string) ([]byte, error) {
	tree, err := decodeJSON([]byte(body))
	if err != nil {
		return nil, fmt.Errorf("generic: %s: %w", field, err)
	}
	var fill func(v any) any
	fill = func(v any) any {
		switch x := v.(type) {
		case string:
			if x == "{{amount_number}}" {
				return json.Number(amount)
			}
			return placeholderRE.ReplaceAllStringFunc(x, func(m string) string { return values[m[2:len(m)-2]] })
		case []any:
			for i, e := range x {
				x[i] = fill(e)
			}
		case map[string]any:
			for k, e := range x {
				x[k] = fill(e)
			}
		}
		return v
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fill(tree)); err != nil {
		return nil, fmt.Errorf("generic: %s: %w", field, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Parse authenticates a callback (Signature) and reads it (Callback).
func (a *Adapter) Parse(h http.Header, body []byte, now time.Time) (payments.Notification, error) {
	tree, err := a.verify(h, body, now)
	if err != nil {
		return payments.Notification{}, err
	}
	if _, ok := tree.(map[string]any); !ok {
		return payments.Notification{}, fmt.Errorf("%w: the callback is not a JSON object", payments.ErrMalformed)
	}
	cb := a.cfg.Callback
	raw, ok := scalar(tree, cb.Status)
	if !ok || raw == "" {
		return payments.Notification{}, fmt.Errorf("%w: no status at %s", payments.ErrMalformed, cb.Status)
	}
	n := payments.Notification{Type: raw, Status: payments.NotifiedIgnored}
	if st, ok := a.status[strings.ToLower(raw)]; ok {
		n.Status = st
	}
	if n.Reference, ok = scalar(tree, cb.Reference); !ok && present(tree, cb.Reference) {
		return payments.Notification{}, fmt.Errorf("%w: %s is not a string or number", payments.ErrMalformed, cb.Reference)
	}
	if n.ExternalID, ok = scalar(tree, cb.ExternalID); !ok && present(tree, cb.ExternalID) {
		return payments.Notification{}, fmt.Errorf("%w: %s is not a string or number", payments.ErrMalformed, cb.ExternalID)
	}
	if cb.EventID != "" {
		n.EventID, _ = scalar(tree, cb.EventID)
	}
	if n.EventID == "" {
		if n.ExternalID == "" {
			return payments.Notification{}, fmt.Errorf("%w: neither an event id nor a payment id (%s)", payments.ErrMalformed, cb.ExternalID)
		}
		n.EventID = n.ExternalID + ":" + strings.ToLower(raw)
	}
	// An ignored callback is recorded, not acted on: a stray field in it must not make the processor retry it.
	if cb.Amount != "" && n.Status != payments.NotifiedIgnored && present(tree, cb.Amount) {
		amt, err := readAmount(tree, cb.Amount, cb.Currency)
		if err != nil {
			return payments.Notification{}, err
		}
		n.Amount, n.AmountKnown = amt, true
	}
	return n, nil
}

// verify checks the signature of body and returns its JSON, read once (the signature in sorted-json mode and the
// fields come from the same parse). Every failure is payments.ErrBadSignature but a body that is authentic and
// not JSON (raw mode), which is payments.ErrMalformed.
func (a *Adapter) verify(h http.Header, body []byte, now time.Time) (any, error) {
	sig := a.cfg.Signature
	given := strings.TrimSpace(h.Get(sig.Header))
	if given == "" {
		return nil, fmt.Errorf("%w: no %s header", payments.ErrBadSignature, sig.Header)
	}
	var mac []byte
	var err error
	if sig.Encoding == EncodingHex {
		mac, err = hex.DecodeString(given)
	} else {
		mac, err = base64.StdEncoding.DecodeString(given)
	}
	if err != nil || len(mac) != a.newHash().Size() {
		return nil, fmt.Errorf("%w: the %s header is not a %s %s signature", payments.ErrBadSignature, sig.Header, sig.Encoding, sig.Algorithm)
	}
	var prefix []byte
	if sig.TimestampHeader != "" {
		ts := strings.TrimSpace(h.Get(sig.TimestampHeader))
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: the %s header is not a Unix time", payments.ErrBadSignature, sig.TimestampHeader)
		}
		tol := int64(sig.ToleranceSeconds)
		if d := now.Unix() - sec; d > tol || d < -tol {
			return nil, fmt.Errorf("%w: signed %d s from now, beyond the %d s tolerance", payments.ErrBadSignature, d, tol)
		}
		prefix = append([]byte(ts), '.')
	}
	var tree any
	payload := body
	if sig.Payload == PayloadSortedJSON {
		if tree, err = decodeJSON(body); err != nil {
			return nil, fmt.Errorf("%w: the body must be JSON to be checked: %v", payments.ErrBadSignature, err)
		}
		var b bytes.Buffer
		writeSorted(&b, tree)
		payload = b.Bytes()
	}
	match := false
	for _, secret := range a.secrets {
		m := hmac.New(a.newHash, secret)
		m.Write(prefix)
		m.Write(payload)
		// Every secret is tried, so the time taken does not say which one matched.
		if hmac.Equal(m.Sum(nil), mac) {
			match = true
		}
	}
	if !match {
		return nil, fmt.Errorf("%w: the signature matches none of the gateway's secrets", payments.ErrBadSignature)
	}
	if tree == nil {
		if tree, err = decodeJSON(body); err != nil {
			return nil, fmt.Errorf("%w: %v", payments.ErrMalformed, err)
		}
	}
	return tree, nil
}

// readAmount reads a decimal amount and its currency; the amount is a JSON string or number, parsed from its text
// with money.Parse (no float, no more decimals than the currency has).
func readAmount(tree any, amountPath, currencyPath string) (money.Amount, error) {
	code, ok := scalar(tree, currencyPath)
	if !ok || code == "" {
		return money.Amount{}, fmt.Errorf("%w: no currency at %s", payments.ErrMalformed, currencyPath)
	}
	cur, ok := money.Lookup(strings.ToUpper(code))
	if !ok {
		return money.Amount{}, fmt.Errorf("%w: %q is not a currency BrokerDesk handles", payments.ErrMalformed, snippet([]byte(code)))
	}
	text, ok := scalar(tree, amountPath)
	if !ok {
		return money.Amount{}, fmt.Errorf("%w: %s is not an amount", payments.ErrMalformed, amountPath)
	}
	minor, err := money.Parse(text, cur)
	if err != nil {
		return money.Amount{}, fmt.Errorf("%w: %s: %w", payments.ErrMalformed, amountPath, err)
	}
	if minor < 0 {
		return money.Amount{}, fmt.Errorf("%w: %s is negative", payments.ErrMalformed, amountPath)
	}
	return money.Amount{Minor: minor, Currency: cur}, nil
}

// Acknowledge answers a handled callback with Config.Ack; an unhandled one 500 (400 when its signature failed,
// as the deposit flow answers those), so the processor retries it.
func (a *Adapter) Acknowledge(_ payments.Notification, err error) payments.Ack {
	switch {
	case errors.Is(err, payments.ErrBadSignature):
		return payments.Ack{Status: http.StatusBadRequest, ContentType: "text/plain; charset=utf-8"}
	case err != nil:
		return payments.Ack{Status: http.StatusInternalServerError, ContentType: "text/plain; charset=utf-8"}
	}
	ack := payments.Ack{Status: a.cfg.Ack.Status, ContentType: a.cfg.Ack.ContentType, Body: []byte(a.cfg.Ack.Body)}
	if ack.Status == 0 {
		ack.Status = http.StatusOK
	}
	if ack.ContentType == "" {
		ack.ContentType = "text/plain; charset=utf-8"
	}
	return ack
}

// Refund is payments.ErrRefundUnsupported: these processors' refunds (crypto sent back to an address the client
// gives) are made by hand.
func (a *Adapter) Refund(context.Context, payments.RefundRequest) (payments.Refunded, error) {
	return payments.Refunded{}, payments.ErrRefundUnsupported
}

// lookup follows a dotted path; a numeric segment indexes an array.
func lookup(tree any, path string) (any, bool) {
	v := tree
	for seg := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// present reports whether path holds a value other than null.
func present(tree any, path string) bool {
	v, ok := lookup(tree, path)
	return ok && v != nil
}

// scalar returns the text of the string or number at path (a number as written). ok is false when the path is
// absent, null, or holds anything else.
func scalar(tree any, path string) (string, bool) {
	v, _ := lookup(tree, path)
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	}
	return "", false
}

// snippet is at most 300 bytes of a processor's text, for an error message.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

var _ payments.Payouter = (*Adapter)(nil)

// Payout asks the processor to pay r.Amount to r.Destination (its "create payout" call, Config.Payout), once per
// r.IdempotencyKey where the processor takes an idempotency header. payments.ErrPayoutUnsupported when the gateway's
// configuration has no payout call. Its outcome arrives later as a signed callback carrying r.Reference.
func (a *Adapter) Payout(ctx context.Context, r payments.PayoutRequest) (payments.PaidOut, error) {
	po := a.cfg.Payout
	if po == nil {
		return payments.PaidOut{}, payments.ErrPayoutUnsupported
	}
	var f validation.Fields
	f.Required("reference", r.Reference)
	f.Required("destination", r.Destination)
	f.Check(r.Amount.Minor > 0, "amount", "must be positive")
	if err := f.Err(); err != nil {
		return payments.PaidOut{}, err
	}
	amount := money.Format(r.Amount.Minor, r.Amount.Currency)
	body, err := renderBody("payout.body", po.Body, amount, map[string]string{
		"reference": r.Reference, "amount": amount, "amount_number": amount,
		"currency": strings.ToUpper(r.Amount.Currency.Code), "currency_lower": strings.ToLower(r.Amount.Currency.Code),
		"callback_url": r.CallbackURL, "destination": r.Destination, "idempotency_key": r.IdempotencyKey,
	})
	if err != nil {
		return payments.PaidOut{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, po.URL, bytes.NewReader(body))
	if err != nil {
		return payments.PaidOut{}, fmt.Errorf("generic: create payout: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range po.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set(po.APIKeyHeader, a.apiKey)
	if h := po.IdempotencyHeader; h != "" && r.IdempotencyKey != "" {
		req.Header.Set(h, r.IdempotencyKey)
	}
	res, err := a.client.Do(req)
	if err != nil {
		return payments.PaidOut{}, fmt.Errorf("%w: create payout at %s: %w", payments.ErrProcessor, req.URL.Host, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return payments.PaidOut{}, fmt.Errorf("%w: create payout at %s: read the answer: %w", payments.ErrProcessor, req.URL.Host, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		if res.StatusCode >= 400 && res.StatusCode <= 499 && res.StatusCode != http.StatusConflict && res.StatusCode != http.StatusTooManyRequests {
			return payments.PaidOut{}, fmt.Errorf("%w: %w: create payout at %s: HTTP %d: %s", payments.ErrProcessor, payments.ErrDeclined, req.URL.Host,
				res.StatusCode, snippet(answer))
		}
		return payments.PaidOut{}, fmt.Errorf("%w: create payout at %s: HTTP %d: %s", payments.ErrProcessor, req.URL.Host, res.StatusCode, snippet(answer))
	}
	tree, err := decodeJSON(answer)
	if err != nil {
		return payments.PaidOut{}, fmt.Errorf("%w: create payout at %s: the answer is %v", payments.ErrProcessor, req.URL.Host, err)
	}
	id, ok := scalar(tree, po.ExternalID)
	if !ok || id == "" {
		return payments.PaidOut{}, fmt.Errorf("%w: create payout at %s: no %s in the answer", payments.ErrProcessor, req.URL.Host, po.ExternalID)
	}
	return payments.PaidOut{ExternalID: id}, nil
}
