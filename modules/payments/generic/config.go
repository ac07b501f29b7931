package generic

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// Config is one generic gateway's setup, stored as JSON with the gateway. It holds no secret: the signing secrets
// and the API key are Secrets.
type Config struct {
	// Signature says how callbacks are signed.
	Signature Signature `json:"signature"`
	// Callback says where a callback's facts are and what its statuses mean.
	Callback Callback `json:"callback"`
	// Ack is the answer the processor expects to a callback handled.
	Ack Ack `json:"ack"`
	// Create is the processor's "create payment" call that Begin makes.
	Create Create `json:"create"`
	// Payout, when the processor pays out, is its "create payout" call (withdrawals' payouts through this gateway):
	// the same shape as Create, with {{destination}} (the client's account at the processor) in its body and
	// ExternalID mapped; RedirectURL and Instructions are not used. Its callbacks carry the payout's reference
	// ("payout:...") back where Callback.Reference says.
	Payout *Create `json:"payout,omitempty"`
}

// Algorithms, payloads and encodings a Signature may name.
const (
	HMACSHA256 = "hmac-sha256"
	HMACSHA512 = "hmac-sha512"

	PayloadRaw        = "raw"         // the body's bytes exactly as received
	PayloadSortedJSON = "sorted-json" // SortedJSON(body)

	EncodingHex    = "hex"    // case-insensitive
	EncodingBase64 = "base64" // standard alphabet, padded
)

// Signature is how a processor signs its callbacks: an HMAC, keyed with the webhook secret, of the payload (or of
// "<timestamp>.<payload>" when the processor sends a timestamp header), encoded and sent in Header.
type Signature struct {
	// Header carries the signature ("x-nowpayments-sig"); the name is case-insensitive.
	Header string `json:"header"`
	// Algorithm is hmac-sha256 or hmac-sha512.
	Algorithm string `json:"algorithm"`
	// Payload is what is signed: raw (the body bytes) or sorted-json (see SortedJSON).
	Payload string `json:"payload"`
	// Encoding of the signature in the header: hex or base64.
	Encoding string `json:"encoding"`
	// TimestampHeader, when set, carries the Unix time (seconds) of the signature; the signed text is then
	// "<timestamp>.<payload>", and a timestamp further than ToleranceSeconds from now is refused (a replay).
	TimestampHeader  string `json:"timestamp_header,omitempty"`
	ToleranceSeconds int    `json:"tolerance_seconds,omitempty"`
}

// Callback maps a callback's JSON onto a Notification. Each field is a dotted path into the body ("order_id",
// "event.data.pricing.local.amount"; a number indexes an array: "items.0.id").
type Callback struct {
	// Reference is where our deposit reference comes back (the order id we sent in Create.Body).
	Reference string `json:"reference"`
	// ExternalID is the processor's id of the payment.
	ExternalID string `json:"external_id"`
	// EventID is the processor's id of this notification. Optional: when absent (in the mapping or in a
	// callback), the event id is "<external id>:<status>", so a status repeated is a duplicate.
	EventID string `json:"event_id,omitempty"`
	// Amount and Currency are what the processor says was paid: a decimal amount (a JSON string or number, read
	// as written, never through a float) and a currency code (any case). Both or neither.
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	// Status is where the payment's (or the event's) status is.
	Status string `json:"status"`
	// Paid, Pending, Failed and Refunded list the status values (compared case-insensitively) that mean each;
	// any other value is an authentic callback the deposit flow ignores.
	Paid     []string `json:"paid"`
	Pending  []string `json:"pending,omitempty"`
	Failed   []string `json:"failed,omitempty"`
	Refunded []string `json:"refunded,omitempty"`
}

// Ack is the HTTP answer to a callback handled. A callback that could not be handled is answered 500 (400 when its
// signature failed) with an empty body, so the processor retries.
type Ack struct {
	// Status is a 2xx code; 0 means 200.
	Status      int    `json:"status,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
}

// Create is the processor's "create payment" (invoice, charge) call: a JSON POST to URL, authenticated with the API
// key in APIKeyHeader, whose answer gives the page to redirect the client to or the instructions to show.
type Create struct {
	URL          string `json:"url"`
	APIKeyHeader string `json:"api_key_header"`
	// Headers are further fixed headers the processor wants ("X-CC-Version": "2018-03-22"). No secrets here.
	Headers map[string]string `json:"headers,omitempty"`
	// IdempotencyHeader, when the processor supports one, carries the deposit's idempotency key.
	IdempotencyHeader string `json:"idempotency_header,omitempty"`
	// Body is a JSON document with placeholders (see Placeholders). A string that is exactly one placeholder
	// becomes its value; {{amount_number}} alone in a string becomes a JSON number (the decimal text, exact);
	// placeholders inside longer strings are replaced by their text.
	Body string `json:"body"`
	// RedirectURL, Instructions and ExternalID are dotted paths into the answer. At least one of RedirectURL and
	// Instructions.
	RedirectURL  string `json:"redirect_url,omitempty"`
	Instructions string `json:"instructions,omitempty"`
	ExternalID   string `json:"external_id"`
}

// Placeholders are the names Create.Body may use, as {{name}}.
var Placeholders = []string{
	"reference",       // the deposit reference (Checkout.Reference)
	"amount",          // the amount as a decimal string with the currency's decimals ("100.00")
	"amount_number",   // the same digits as a JSON number (100.00)
	"currency",        // the currency code, upper case ("USD")
	"currency_lower",  // the currency code, lower case ("usd")
	"callback_url",    // this gateway's webhook URL
	"return_url",      // where the client goes back after paying
	"cancel_url",      // where the client goes back after giving up
	"description",     // what the client sees ("Deposit to Harbour FX")
	"email",           // the client's email
	"idempotency_key", // the deposit's (or payout's) idempotency key
	"destination",     // a payout's destination: the client's account at the processor ("" in a create)
}

// Secrets are a generic gateway's secrets, stored sealed and never shown again.
type Secrets struct {
	// WebhookSecrets sign callbacks. During a rotation both the old and the new secret are listed: a signature valid
	// under any of them is accepted.
	WebhookSecrets []string `json:"webhook_secrets"`
	// APIKey authenticates the create-payment call.
	APIKey string `json:"api_key"`
}

var (
	placeholderRE = regexp.MustCompile(`\{\{([a-z_]+)\}\}`)
	headerNameRE  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// maxSecrets bounds the rotation list: each secret is one more HMAC per callback.
const maxSecrets = 4

// Validate checks the configuration with its secrets and names every bad field at once (*validation.Error).
func (c Config) Validate(s Secrets) error {
	var f validation.Fields
	sig := c.Signature
	checkHeaderName(&f, "signature.header", sig.Header, true)
	f.Check(sig.Algorithm == HMACSHA256 || sig.Algorithm == HMACSHA512, "signature.algorithm", "hmac-sha256 or hmac-sha512")
	f.Check(sig.Payload == PayloadRaw || sig.Payload == PayloadSortedJSON, "signature.payload", "raw or sorted-json")
	f.Check(sig.Encoding == EncodingHex || sig.Encoding == EncodingBase64, "signature.encoding", "hex or base64")
	checkHeaderName(&f, "signature.timestamp_header", sig.TimestampHeader, false)
	switch {
	case sig.TimestampHeader != "":
		f.Check(sig.ToleranceSeconds >= 1 && sig.ToleranceSeconds <= 3600, "signature.tolerance_seconds",
			"1 to 3600 seconds when a timestamp header is set")
	case sig.ToleranceSeconds != 0:
		f.Add("signature.tolerance_seconds", "only with a timestamp header")
	}

	cb := c.Callback
	checkPath(&f, "callback.reference", cb.Reference, true)
	checkPath(&f, "callback.external_id", cb.ExternalID, true)
	checkPath(&f, "callback.event_id", cb.EventID, false)
	checkPath(&f, "callback.amount", cb.Amount, false)
	checkPath(&f, "callback.currency", cb.Currency, false)
	f.Check((cb.Amount == "") == (cb.Currency == ""), "callback.currency", "amount and currency are mapped together")
	checkPath(&f, "callback.status", cb.Status, true)
	f.Check(len(cb.Paid) > 0, "callback.paid", "at least one status value means paid")
	seen := map[string]string{}
	for _, l := range []struct {
		field  string
		values []string
	}{{"callback.paid", cb.Paid}, {"callback.pending", cb.Pending}, {"callback.failed", cb.Failed}, {"callback.refunded", cb.Refunded}} {
		for _, v := range l.values {
			k := strings.ToLower(v)
			switch other, dup := seen[k]; {
			case strings.TrimSpace(v) == "":
				f.Add(l.field, "a status value cannot be empty")
			case dup && other == l.field:
				f.Add(l.field, fmt.Sprintf("%q is listed twice", v))
			case dup:
				f.Add(l.field, fmt.Sprintf("%q is also in %s", v, other))
			default:
				seen[k] = l.field
			}
		}
	}

	f.Check(c.Ack.Status == 0 || (c.Ack.Status >= 200 && c.Ack.Status <= 299), "ack.status", "a 2xx status code")
	f.Check(!strings.ContainsAny(c.Ack.ContentType, "\r\n\x00"), "ack.content_type", "one line")
	f.Check(len(c.Ack.Body) <= 4096, "ack.body", "at most 4096 bytes")

	cr := c.Create
	checkURL(&f, "create.url", cr.URL)
	checkHeaderName(&f, "create.api_key_header", cr.APIKeyHeader, true)
	for name, v := range cr.Headers {
		checkHeaderName(&f, "create.headers", name, true)
		f.Check(!strings.ContainsAny(v, "\r\n\x00"), "create.headers", fmt.Sprintf("%s: one line", name))
	}
	checkHeaderName(&f, "create.idempotency_header", cr.IdempotencyHeader, false)
	if cr.Body == "" {
		f.Add("create.body", "is required")
	} else if err := checkTemplate(cr.Body); err != "" {
		f.Add("create.body", err)
	}
	checkPath(&f, "create.redirect_url", cr.RedirectURL, false)
	checkPath(&f, "create.instructions", cr.Instructions, false)
	f.Check(cr.RedirectURL != "" || cr.Instructions != "", "create.redirect_url", "the redirect URL or the instructions (or both) must be mapped")
	checkPath(&f, "create.external_id", cr.ExternalID, true)
	if po := c.Payout; po != nil {
		checkURL(&f, "payout.url", po.URL)
		checkHeaderName(&f, "payout.api_key_header", po.APIKeyHeader, true)
		for name, v := range po.Headers {
			checkHeaderName(&f, "payout.headers", name, true)
			f.Check(!strings.ContainsAny(v, "\r\n\x00"), "payout.headers", fmt.Sprintf("%s: one line", name))
		}
		checkHeaderName(&f, "payout.idempotency_header", po.IdempotencyHeader, false)
		if po.Body == "" {
			f.Add("payout.body", "is required")
		} else if err := checkTemplate(po.Body); err != "" {
			f.Add("payout.body", err)
		}
		checkPath(&f, "payout.external_id", po.ExternalID, true)
	}

	f.Check(len(s.WebhookSecrets) >= 1 && len(s.WebhookSecrets) <= maxSecrets, "webhook_secrets",
		fmt.Sprintf("1 to %d secrets (two while rotating)", maxSecrets))
	for i, w := range s.WebhookSecrets {
		field := fmt.Sprintf("webhook_secrets[%d]", i)
		f.Check(len(w) >= 8, field, "at least 8 characters")
		for _, earlier := range s.WebhookSecrets[:i] {
			if earlier == w {
				f.Add(field, "listed twice")
				break
			}
		}
	}
	f.Required("api_key", s.APIKey)
	f.Check(!strings.ContainsAny(s.APIKey, "\r\n\x00"), "api_key", "one line")
	return f.Err()
}

func checkHeaderName(f *validation.Fields, field, v string, required bool) {
	if v == "" {
		f.Check(!required, field, "is required")
		return
	}
	f.Check(headerNameRE.MatchString(v), field, fmt.Sprintf("%q is not an HTTP header name", v))
}

func checkPath(f *validation.Fields, field, p string, required bool) {
	if p == "" {
		f.Check(!required, field, "is required")
		return
	}
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" {
			f.Add(field, fmt.Sprintf("%q is not a dotted path (a.b.c)", p))
			return
		}
	}
}

// checkURL accepts https URLs only. The API key travels in a header; and the URL is set by a tenant's admin, so
// plain http would let one aim the server's POSTs at the unencrypted services beside it (an SSRF). Which hosts
// may be reached at all is the http.Client's to decide (New's client).
func checkURL(f *validation.Fields, field, raw string) {
	if raw == "" {
		f.Add(field, "is required")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.Fragment != "":
		f.Add(field, "an absolute URL without credentials or fragment")
	case u.Scheme != "https":
		f.Add(field, "must be https")
	}
}

// checkTemplate returns what is wrong with a Create.Body template, or "".
func checkTemplate(body string) string {
	tree, err := decodeJSON([]byte(body))
	if err != nil {
		return "must be a JSON object: " + err.Error()
	}
	if _, ok := tree.(map[string]any); !ok {
		return "must be a JSON object"
	}
	var names []string
	walkStrings(tree, func(s string) {
		for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
			names = append(names, m[1])
		}
	})
	hasReference := false
	for _, name := range names {
		if !slices.Contains(Placeholders, name) {
			return fmt.Sprintf("unknown placeholder {{%s}} (known: %s)", name, strings.Join(Placeholders, ", "))
		}
		hasReference = hasReference || name == "reference"
	}
	if !hasReference {
		return "must send {{reference}}: the processor carries it back in its callbacks"
	}
	return ""
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}
