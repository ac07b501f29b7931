// Package stripe is the Stripe gateway: deposits through Stripe Checkout (a hosted page in payment mode), their
// webhooks read with stripe-go's signature check, and refunds of the PaymentIntent. Each adapter has its own
// stripe-go client bound to its API base and secret key, never the package-global stripe.Key: many tenants'
// gateways (each a brokerage's own Stripe account) live in one process.
package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	stripeclient "github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// DefaultAPIBase is Stripe's API.
const DefaultAPIBase = "https://api.stripe.com"

// Tolerance is how far a webhook's signed timestamp may be from now (Stripe's own default): older is a replay.
const Tolerance = 300 * time.Second

// MetadataKey names our deposit reference in the metadata of the Checkout Session and of its PaymentIntent.
const MetadataKey = "deposit"

// Config is one Stripe gateway's setup, stored as JSON with the gateway. It holds no secret.
type Config struct {
	// APIBase is Stripe's API, or stripe-mock's (BD_STRIPE_API_URL) in tests and `make run`. Empty: DefaultAPIBase.
	APIBase string `json:"api_base,omitempty"`
	// Currencies the gateway takes (upper-case ISO codes, e.g. ["USD", "EUR"]). Empty: every fiat currency
	// BrokerDesk handles (the gateway's own currency list in the payments module narrows it further).
	Currencies []string `json:"currencies,omitempty"`
}

// Secrets are a Stripe gateway's secrets, stored sealed and never shown again.
type Secrets struct {
	// SecretKey is the account's secret (sk_live_..., sk_test_...) or restricted (rk_...) key.
	SecretKey string `json:"secret_key"`
	// WebhookSecrets are the webhook endpoint's signing secrets (whsec_...). While Stripe rolls the secret both are
	// listed: a signature valid under any of them is accepted.
	WebhookSecrets []string `json:"webhook_secrets"`
}

// cryptoAssets are currencies infra/money handles that Stripe Checkout does not take.
var cryptoAssets = []string{"USDT", "USDC", "BTC", "ETH"}

const maxWebhookSecrets = 4

// Validate checks the configuration with its secrets and names every bad field at once (*validation.Error).
func (c Config) Validate(s Secrets) error {
	var f validation.Fields
	testKey := strings.HasPrefix(s.SecretKey, "sk_test_") || strings.HasPrefix(s.SecretKey, "rk_test_")
	if c.APIBase != "" {
		u, err := url.Parse(c.APIBase)
		switch {
		case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
			f.Add("api_base", "an absolute URL without credentials, query or fragment")
		case u.Scheme == "https":
		case u.Scheme == "http" && testKey:
			// stripe-mock speaks plain HTTP; a live key never travels in clear.
		default:
			f.Add("api_base", "must be https (plain http only for stripe-mock, with a test key)")
		}
	}
	for i, code := range c.Currencies {
		field := fmt.Sprintf("currencies[%d]", i)
		_, known := money.Lookup(code)
		switch {
		case !known:
			f.Add(field, fmt.Sprintf("%q is not a currency BrokerDesk handles", code))
		case slices.Contains(cryptoAssets, code):
			f.Add(field, fmt.Sprintf("Stripe does not take %s", code))
		case slices.Contains(c.Currencies[:i], code):
			f.Add(field, fmt.Sprintf("%s is listed twice", code))
		}
	}
	switch {
	case strings.TrimSpace(s.SecretKey) == "":
		f.Add("secret_key", "is required")
	case !hasAnyPrefix(s.SecretKey, "sk_live_", "sk_test_", "rk_live_", "rk_test_") || strings.ContainsAny(s.SecretKey, " \r\n\x00"):
		f.Add("secret_key", "a Stripe secret key (sk_live_..., sk_test_...) or restricted key (rk_...)")
	}
	f.Check(len(s.WebhookSecrets) >= 1 && len(s.WebhookSecrets) <= maxWebhookSecrets, "webhook_secrets",
		fmt.Sprintf("1 to %d webhook signing secrets (two while Stripe rolls the secret)", maxWebhookSecrets))
	for i, w := range s.WebhookSecrets {
		field := fmt.Sprintf("webhook_secrets[%d]", i)
		switch {
		case !strings.HasPrefix(w, "whsec_") || len(w) <= len("whsec_"):
			f.Add(field, "a webhook signing secret (whsec_...)")
		case slices.Contains(s.WebhookSecrets[:i], w):
			f.Add(field, "listed twice")
		}
	}
	return f.Err()
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Adapter is a configured Stripe gateway. It is safe for concurrent use.
type Adapter struct {
	api        *stripeclient.API
	currencies []string
	secrets    []string
}

var _ payments.Adapter = (*Adapter)(nil)

// New returns the adapter of cfg with its secrets; client makes the calls to Stripe (nil: stripe-go's default
// client). A configuration that does not validate is its *validation.Error.
func New(cfg Config, sec Secrets, client *http.Client) (*Adapter, error) {
	if err := cfg.Validate(sec); err != nil {
		return nil, err
	}
	base := cfg.APIBase
	if base == "" {
		base = DefaultAPIBase
	}
	backends := stripego.NewBackendsWithConfig(&stripego.BackendConfig{
		URL:        stripego.String(base),
		HTTPClient: client,
		// Failures are returned to the caller, who logs them with the tenant; stripe-go's own logger would print
		// to stderr without either.
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
	})
	return &Adapter{
		api:        stripeclient.New(sec.SecretKey, backends),
		currencies: slices.Clone(cfg.Currencies),
		secrets:    slices.Clone(sec.WebhookSecrets),
	}, nil
}

// takes reports whether the gateway takes currency code.
func (a *Adapter) takes(code string) bool {
	if len(a.currencies) > 0 {
		return slices.Contains(a.currencies, code)
	}
	_, known := money.Lookup(code)
	return known && !slices.Contains(cryptoAssets, code)
}

// Begin creates a Checkout Session in payment mode for the deposit: one line of d.Amount (Stripe amounts are minor
// units, as ours), our reference as client_reference_id and in the Session's and the PaymentIntent's metadata
// (only payment_intent_data.metadata reaches the PaymentIntent, and so its charges and refunds), the client's
// email, the way back, and d.IdempotencyKey. The client goes to the Session's URL; its id is the ExternalID.
func (a *Adapter) Begin(ctx context.Context, d payments.Checkout) (payments.Started, error) {
	var f validation.Fields
	f.Required("reference", d.Reference)
	f.MaxLen("reference", d.Reference, 200) // client_reference_id's limit
	f.Check(d.Amount.Minor > 0, "amount", "must be positive")
	f.Check(a.takes(d.Amount.Currency.Code), "currency", fmt.Sprintf("this gateway does not take %q", d.Amount.Currency.Code))
	f.Required("return_url", d.ReturnURL)
	if err := f.Err(); err != nil {
		return payments.Started{}, err
	}
	name := d.Description
	if name == "" {
		name = "Deposit"
	}
	meta := map[string]string{MetadataKey: d.Reference}
	p := &stripego.CheckoutSessionParams{
		Mode:              stripego.String(string(stripego.CheckoutSessionModePayment)),
		ClientReferenceID: stripego.String(d.Reference),
		SuccessURL:        stripego.String(d.ReturnURL),
		LineItems: []*stripego.CheckoutSessionLineItemParams{{
			Quantity: stripego.Int64(1),
			PriceData: &stripego.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripego.String(strings.ToLower(d.Amount.Currency.Code)),
				UnitAmount:  stripego.Int64(d.Amount.Minor),
				ProductData: &stripego.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripego.String(name)},
			},
		}},
		Metadata:          meta,
		PaymentIntentData: &stripego.CheckoutSessionPaymentIntentDataParams{Metadata: meta},
	}
	if d.CancelURL != "" {
		p.CancelURL = stripego.String(d.CancelURL)
	}
	if d.ClientEmail != "" {
		p.CustomerEmail = stripego.String(d.ClientEmail)
	}
	if d.Description != "" {
		p.PaymentIntentData.Description = stripego.String(d.Description)
	}
	p.Context = ctx
	if d.IdempotencyKey != "" {
		p.SetIdempotencyKey(d.IdempotencyKey)
	}
	s, err := a.api.CheckoutSessions.New(p)
	if err != nil {
		return payments.Started{}, processorError("create the checkout session", err)
	}
	if s.URL == "" || s.ID == "" {
		return payments.Started{}, fmt.Errorf("%w: stripe: the checkout session came back without its id or URL", payments.ErrProcessor)
	}
	return payments.Started{RedirectURL: s.URL, ExternalID: s.ID}, nil
}

// Refund refunds r.Amount of the PaymentIntent r.ExternalID, once per r.IdempotencyKey. r.Reason, free text, goes
// into the refund's metadata (Stripe's own reason field takes three fixed words).
func (a *Adapter) Refund(ctx context.Context, r payments.RefundRequest) (payments.Refunded, error) {
	var f validation.Fields
	f.Check(strings.HasPrefix(r.ExternalID, "pi_"), "external_id", "a PaymentIntent id (pi_...)")
	f.Check(r.Amount.Minor > 0, "amount", "must be positive")
	if err := f.Err(); err != nil {
		return payments.Refunded{}, err
	}
	p := &stripego.RefundParams{
		PaymentIntent: stripego.String(r.ExternalID),
		Amount:        stripego.Int64(r.Amount.Minor),
	}
	if r.Reason != "" {
		p.Metadata = map[string]string{"reason": truncate(r.Reason, 500)}
	}
	p.Context = ctx
	if r.IdempotencyKey != "" {
		p.SetIdempotencyKey(r.IdempotencyKey)
	}
	ref, err := a.api.Refunds.New(p)
	if err != nil {
		return payments.Refunded{}, processorError("refund "+r.ExternalID, err)
	}
	return payments.Refunded{ExternalID: ref.ID, Status: string(ref.Status)}, nil
}

// processorError is payments.ErrProcessor with what Stripe said (its message, code and request id, for support).
func processorError(op string, err error) error {
	var se *stripego.Error
	if errors.As(err, &se) {
		what := string(se.Type)
		if se.Code != "" {
			what += "/" + string(se.Code)
		}
		if declined(se.HTTPStatusCode) {
			return fmt.Errorf("%w: %w: stripe: %s: %s (%s, HTTP %d, request %s)", payments.ErrProcessor, payments.ErrDeclined, op, se.Msg, what,
				se.HTTPStatusCode, se.RequestID)
		}
		return fmt.Errorf("%w: stripe: %s: %s (%s, HTTP %d, request %s)", payments.ErrProcessor, op, se.Msg, what,
			se.HTTPStatusCode, se.RequestID)
	}
	return fmt.Errorf("%w: stripe: %s: %w", payments.ErrProcessor, op, err)
}

// declined reports whether Stripe's status says it will not do the request (4xx), not an idempotency conflict
// (409: another request with the key is in flight) or a rate limit (429), after which asking again may succeed.
func declined(status int) bool {
	return status >= 400 && status <= 499 && status != http.StatusConflict && status != http.StatusTooManyRequests
}

// truncate cuts s to at most n bytes, dropping a character cut in half.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// Event types the deposit flow reads.
const (
	EventSessionCompleted      = "checkout.session.completed"
	EventSessionAsyncSucceeded = "checkout.session.async_payment_succeeded"
	EventSessionAsyncFailed    = "checkout.session.async_payment_failed"
	EventSessionExpired        = "checkout.session.expired"
	EventChargeRefunded        = "charge.refunded"
)

// Parse authenticates a webhook with stripe-go (Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">; any
// v1 under any configured secret) within Tolerance of now, and reads it:
//
//	checkout.session.completed, payment_status paid     -> paid
//	checkout.session.completed, payment_status unpaid   -> pending (a delayed method: the async events follow)
//	checkout.session.async_payment_succeeded            -> paid
//	checkout.session.async_payment_failed, .expired     -> failed
//	charge.refunded                                     -> refunded (Amount: the charge's amount_refunded so far)
//	anything else                                       -> ignored
//
// The API version of the event is the webhook endpoint's (the account's), not stripe-go's, so a mismatch is not an
// error: the fields read here have kept their shape across versions.
func (a *Adapter) Parse(h http.Header, body []byte, now time.Time) (payments.Notification, error) {
	header := h.Get("Stripe-Signature")
	if header == "" {
		return payments.Notification{}, fmt.Errorf("%w: no Stripe-Signature header", payments.ErrBadSignature)
	}
	// stripe-go measures the tolerance against the wall clock; the flow's clock is now. The header's timestamp is
	// read here as stripe-go reads it (the last t=), checked against now, and stripe-go checks the signature.
	signed, ok := signedAt(header)
	if !ok {
		return payments.Notification{}, fmt.Errorf("%w: the Stripe-Signature header has no timestamp", payments.ErrBadSignature)
	}
	if d := now.Sub(signed); d > Tolerance || d < -Tolerance {
		return payments.Notification{}, fmt.Errorf("%w: signed %v from now, beyond the %v tolerance", payments.ErrBadSignature,
			d.Round(time.Second), Tolerance)
	}
	opts := webhook.ConstructEventOptions{IgnoreTolerance: true, IgnoreAPIVersionMismatch: true}
	var ev stripego.Event
	var err error
	for _, secret := range a.secrets {
		ev, err = webhook.ConstructEventWithOptions(body, header, secret, opts)
		if !errors.Is(err, webhook.ErrNoValidSignature) {
			break
		}
	}
	switch {
	case errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader),
		errors.Is(err, webhook.ErrTooOld):
		return payments.Notification{}, fmt.Errorf("%w: %w", payments.ErrBadSignature, err)
	case err != nil:
		// Only a signed body reaches stripe-go's JSON decoding.
		return payments.Notification{}, fmt.Errorf("%w: %v", payments.ErrMalformed, err)
	}
	if ev.ID == "" || ev.Type == "" {
		return payments.Notification{}, fmt.Errorf("%w: an event without id or type", payments.ErrMalformed)
	}
	n := payments.Notification{EventID: ev.ID, Type: string(ev.Type), Status: payments.NotifiedIgnored}
	switch n.Type {
	case EventSessionCompleted, EventSessionAsyncSucceeded, EventSessionAsyncFailed, EventSessionExpired:
		return readSession(n, ev)
	case EventChargeRefunded:
		return readCharge(n, ev)
	}
	return n, nil
}

// signedAt returns the header's timestamp the way stripe-go reads it: the last t= of the comma-separated pairs.
func signedAt(header string) (time.Time, bool) {
	var t time.Time
	found := false
	for pair := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(pair, "=")
		if k != "t" {
			continue
		}
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		t, found = time.Unix(sec, 0), true
	}
	return t, found
}

// session is what the flow reads of a Checkout Session. Amounts stay text (json.Number) until money.Parse reads them.
type session struct {
	ID                string            `json:"id"`
	ClientReferenceID string            `json:"client_reference_id"`
	Metadata          map[string]string `json:"metadata"`
	PaymentIntent     json.RawMessage   `json:"payment_intent"`
	PaymentStatus     string            `json:"payment_status"`
	AmountTotal       json.Number       `json:"amount_total"`
	Currency          string            `json:"currency"`
}

// charge is what the flow reads of a Charge.
type charge struct {
	ID             string            `json:"id"`
	Metadata       map[string]string `json:"metadata"`
	PaymentIntent  json.RawMessage   `json:"payment_intent"`
	AmountRefunded json.Number       `json:"amount_refunded"`
	Currency       string            `json:"currency"`
}

func readSession(n payments.Notification, ev stripego.Event) (payments.Notification, error) {
	var s session
	if err := decodeObject(ev, &s); err != nil {
		return payments.Notification{}, err
	}
	switch {
	case n.Type == EventSessionCompleted && s.PaymentStatus == "paid":
		n.Status = payments.NotifiedPaid
	case n.Type == EventSessionCompleted && s.PaymentStatus == "unpaid":
		n.Status = payments.NotifiedPending
	case n.Type == EventSessionCompleted:
		// no_payment_required: nothing was paid, nothing to credit.
		n.Status = payments.NotifiedIgnored
	case n.Type == EventSessionAsyncSucceeded:
		n.Status = payments.NotifiedPaid
	default:
		n.Status = payments.NotifiedFailed
	}
	n.Reference = s.ClientReferenceID
	if n.Reference == "" {
		n.Reference = s.Metadata[MetadataKey]
	}
	var err error
	if n.ExternalID, err = objectID(s.PaymentIntent); err != nil {
		return payments.Notification{}, err
	}
	if s.AmountTotal != "" {
		if n.Amount, err = readAmount(s.AmountTotal, s.Currency); err != nil {
			return payments.Notification{}, err
		}
		n.AmountKnown = true
	}
	return n, nil
}

func readCharge(n payments.Notification, ev stripego.Event) (payments.Notification, error) {
	var c charge
	if err := decodeObject(ev, &c); err != nil {
		return payments.Notification{}, err
	}
	n.Status = payments.NotifiedRefunded
	n.Reference = c.Metadata[MetadataKey]
	var err error
	if n.ExternalID, err = objectID(c.PaymentIntent); err != nil {
		return payments.Notification{}, err
	}
	if c.AmountRefunded != "" {
		if n.Amount, err = readAmount(c.AmountRefunded, c.Currency); err != nil {
			return payments.Notification{}, err
		}
		n.AmountKnown = true
	}
	return n, nil
}

func decodeObject(ev stripego.Event, v any) error {
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return fmt.Errorf("%w: %s without data.object", payments.ErrMalformed, ev.Type)
	}
	if err := json.Unmarshal(ev.Data.Raw, v); err != nil {
		return fmt.Errorf("%w: %s: %v", payments.ErrMalformed, ev.Type, err)
	}
	return nil
}

// objectID reads an expandable field: an id, an expanded object's id, or null ("").
func objectID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id, nil
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("%w: payment_intent is neither an id nor an object", payments.ErrMalformed)
	}
	return obj.ID, nil
}

// readAmount reads a Stripe amount: an integer of minor units (Stripe's minor units are infra/money's, three-decimal
// currencies included), refused with any decimal point or exponent, in a lower-case currency code.
func readAmount(minor json.Number, code string) (money.Amount, error) {
	cur, ok := money.Lookup(strings.ToUpper(code))
	if !ok {
		return money.Amount{}, fmt.Errorf("%w: %q is not a currency BrokerDesk handles", payments.ErrMalformed, truncate(code, 16))
	}
	v, err := money.Parse(string(minor), money.Currency{Code: cur.Code, Exponent: 0})
	if err != nil || v < 0 {
		return money.Amount{}, fmt.Errorf("%w: %q is not an amount in minor units", payments.ErrMalformed, truncate(string(minor), 32))
	}
	return money.Amount{Minor: v, Currency: cur}, nil
}

// Acknowledge is 200 {"received":true} for a handled event; 400 for a bad signature (as the flow answers those);
// 500 otherwise, so Stripe retries (for up to three days in live mode).
func (a *Adapter) Acknowledge(_ payments.Notification, err error) payments.Ack {
	switch {
	case errors.Is(err, payments.ErrBadSignature):
		return payments.Ack{Status: http.StatusBadRequest, ContentType: "application/json", Body: []byte(`{"received":false}`)}
	case err != nil:
		return payments.Ack{Status: http.StatusInternalServerError, ContentType: "application/json", Body: []byte(`{"received":false}`)}
	}
	return payments.Ack{Status: http.StatusOK, ContentType: "application/json", Body: []byte(`{"received":true}`)}
}
