package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Redacted replaces every value the audit trail must not keep.
const Redacted = "[redacted]"

// maxString is the longest string value kept in a diff. Anything longer is almost certainly a document, an image
// or an encoded blob under an innocent name, which the trail must not keep either; it is replaced by a note of
// its size.
const maxString = 4096

// MaxDiffBytes bounds a row's canonical diff: the log is for who changed what, not a copy store.
const MaxDiffBytes = 64 << 10

// secretParts are fragments of a normalised key (lower case, letters and digits only) that mark its value as a
// secret. Matching is by fragment so "new_password", "passwordHash", "TOTP-secret", "recovery_codes" and
// "api_key_id" are all caught: over-redacting an innocent field costs little, keeping a secret costs a lot.
var secretParts = []string{
	"password", "passwd", "passphrase", "secret", "token", "totp", "recovery", "apikey", "privatekey",
	"signingkey", "encryptionkey", "credential", "authorization", "cookie", "sessionid", "cvv", "cvc", "cardnumber",
}

// documentParts mark a document's (or image's) content. Unlike secrets, a document's metadata under the same
// word stays readable: "content_type", "content_length", "size_bytes" say what was uploaded without keeping it.
var documentParts = []string{"content", "bytes", "base64", "blob", "filedata", "imagedata"}

// sensitiveWhole are normalised keys that are sensitive only as a whole word: as fragments they would hit
// innocent keys ("otp" is inside "footprint", "pin" inside "spinner").
var sensitiveWhole = []string{"otp", "pin", "file", "document"}

// Sensitive reports whether values under this object key are redacted from the audit trail.
func Sensitive(key string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(key) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	k := b.String()
	for _, p := range secretParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	if slices.Contains(sensitiveWhole, k) || strings.HasPrefix(k, "otp") || strings.HasSuffix(k, "otp") {
		return true
	}
	metadata := strings.HasSuffix(k, "type") || strings.Contains(k, "length") || strings.Contains(k, "size")
	for _, p := range documentParts {
		if strings.Contains(k, p) && !metadata {
			return true
		}
	}
	return false
}

// Diff returns the canonical JSON of what changed from before to after, with secrets and document contents
// redacted. before and after are anything encoding/json marshals (structs, maps, json.RawMessage); nil means
// "did not exist" (a creation or a deletion).
//
// The result is an object keyed by the JSON Pointer (RFC 6901) of each changed value. Objects present on both
// sides are compared key by key; anything else (arrays, scalars, a value whose type changed) is compared whole.
// Each change is {"before": old, "after": new}, with "before" left out for an added value and "after" for a
// removed one. A value under a sensitive key (see Sensitive), at any depth, appears only as "[redacted]", so the
// trail still says a password changed without keeping either password.
func Diff(before, after any) ([]byte, error) {
	b, err := toGeneric(before)
	if err != nil {
		return nil, fmt.Errorf("audit diff: before: %w", err)
	}
	a, err := toGeneric(after)
	if err != nil {
		return nil, fmt.Errorf("audit diff: after: %w", err)
	}
	// A creation or deletion of an object lists each of its fields, so filters and readers see one shape.
	if b == absent && isObject(a) {
		b = map[string]any{}
	}
	if a == absent && isObject(b) {
		a = map[string]any{}
	}
	changes := map[string]any{}
	collect(changes, "", false, b, a)
	var buf bytes.Buffer
	if err := writeCanonical(&buf, changes); err != nil {
		return nil, fmt.Errorf("audit diff: %w", err)
	}
	if buf.Len() > MaxDiffBytes {
		return summarize(changes, buf.Len())
	}
	return buf.Bytes(), nil
}

// summarize is the diff of a change too large to keep whole (over MaxDiffBytes: a settings document of ten
// thousand rules replaced, say): the change is still recorded, as a summary rather than an error, in the diff's own
// shape so readers need nothing new. First each changed value is replaced by a note of its shape and size
// ("[omitted: array of 10000 items, 690123 bytes]"); if the paths alone are still too many, the changes are counted
// per top-level key ("[omitted: 10000 changed values]"); if even that is too large, one note counts them all.
// WeakenedKey's list is kept as it is when small: it is what the settings pages show of a weakening.
func summarize(changes map[string]any, size int) ([]byte, error) {
	keep := func(out map[string]any) {
		if w, ok := changes["/"+WeakenedKey]; ok {
			if b, err := CanonicalJSON(w); err == nil && len(b) <= maxString {
				out["/"+WeakenedKey] = w
			}
		}
	}
	levels := []func() map[string]any{
		func() map[string]any {
			out := make(map[string]any, len(changes))
			for path, c := range changes {
				sc := map[string]any{}
				for side, v := range c.(map[string]any) {
					sc[side] = describe(v)
				}
				out[path] = sc
			}
			keep(out)
			return out
		},
		func() map[string]any {
			counts := map[string]int{}
			for path := range changes {
				top, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
				counts["/"+top]++
			}
			out := make(map[string]any, len(counts))
			for top, n := range counts {
				out[top] = map[string]any{"after": fmt.Sprintf("[omitted: %d changed values]", n)}
			}
			keep(out)
			return out
		},
		func() map[string]any {
			return map[string]any{"": map[string]any{"after": fmt.Sprintf("[omitted: %d changed values, %d bytes of diff]", len(changes), size)}}
		},
	}
	for _, level := range levels {
		b, err := CanonicalJSON(level())
		if err != nil {
			return nil, fmt.Errorf("audit diff summary: %w", err)
		}
		if len(b) <= MaxDiffBytes {
			return b, nil
		}
	}
	return nil, fmt.Errorf("audit diff: a summary of %d changes is still over %d bytes", len(changes), MaxDiffBytes)
}

// describe notes a value's shape and size instead of keeping it.
func describe(v any) any {
	b, _ := CanonicalJSON(v)
	switch x := v.(type) {
	case []any:
		return fmt.Sprintf("[omitted: array of %d items, %d bytes]", len(x), len(b))
	case map[string]any:
		return fmt.Sprintf("[omitted: object of %d keys, %d bytes]", len(x), len(b))
	case string:
		if len(x) > 64 {
			return fmt.Sprintf("[omitted: %d bytes]", len(x))
		}
	}
	return v
}

// WeakenedKey is where a settings change that weakens a security or compliance rule lists, in words, what it
// weakened ("four-eyes approval turned off"): a field of the entry's After (not of its Before), so the diff keeps
// it as an added value. Such changes are recorded under their module's "<area>.settings_weakened" action.
const WeakenedKey = "weakened"

// Weakening is the last weakening of a settings document: who, when, what.
type Weakening struct {
	Actor Actor
	At    time.Time
	What  []string
}

// Notice is the weakening as one line for a settings page.
func (w Weakening) Notice() string {
	return "Last weakened " + w.At.UTC().Format("2006-01-02 15:04 UTC") + " by " + string(w.Actor.Kind) + " " + w.Actor.ID +
		": " + strings.Join(w.What, "; ") + "."
}

// WeakeningOf reads what a row's diff says was weakened (WeakenedKey), or nil.
func WeakeningOf(r Row) *Weakening {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(r.Diff, &d); err != nil {
		return nil
	}
	var w struct {
		After []string `json:"after"`
	}
	if err := json.Unmarshal(d["/"+WeakenedKey], &w); err != nil || len(w.After) == 0 {
		return nil
	}
	return &Weakening{Actor: r.Actor, At: r.At, What: w.After}
}

// LastWeakening returns the newest weakening recorded under action in t's trail, or nil when there is none.
func (s *Service) LastWeakening(ctx context.Context, t tenants.Tenant, action string) (*Weakening, error) {
	page, err := s.List(ctx, t, Filter{ActionPrefix: action}, "", 1)
	if err != nil || len(page.Rows) == 0 {
		return nil, err
	}
	return WeakeningOf(page.Rows[0]), nil
}

// absentValue marks a side that does not exist; it is never a JSON value.
type absentValue struct{}

var absent any = absentValue{}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// toGeneric turns v into JSON's generic form (map[string]any, []any, string, json.Number, bool, nil), keeping
// numbers as their literal text: amounts must never pass through float64.
func toGeneric(v any) (any, error) {
	if v == nil {
		return absent, nil
	}
	raw, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return out, nil
}

// collect adds to changes every difference between b and a at path. secret is true under a sensitive key.
func collect(changes map[string]any, path string, secret bool, b, a any) {
	bo, bObj := b.(map[string]any)
	ao, aObj := a.(map[string]any)
	if bObj && aObj {
		keys := make([]string, 0, len(bo)+len(ao))
		for k := range bo {
			keys = append(keys, k)
		}
		for k := range ao {
			if _, ok := bo[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			bv, ok := bo[k]
			if !ok {
				bv = absent
			}
			av, ok := ao[k]
			if !ok {
				av = absent
			}
			collect(changes, path+"/"+escapePointer(k), secret || Sensitive(k), bv, av)
		}
		return
	}
	if equal(b, a) {
		return
	}
	c := map[string]any{}
	if b != absent {
		c["before"] = scrub(b, secret)
	}
	if a != absent {
		c["after"] = scrub(a, secret)
	}
	changes[path] = c
}

// escapePointer escapes one JSON Pointer reference token (RFC 6901: "~" as "~0", "/" as "~1").
func escapePointer(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// scrub returns v with sensitive keys' values redacted at any depth and over-long strings replaced.
func scrub(v any, secret bool) any {
	if secret {
		return Redacted
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = scrub(e, Sensitive(k))
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = scrub(e, false)
		}
		return out
	case string:
		if len(x) > maxString {
			return "[omitted: " + strconv.Itoa(len(x)) + " bytes]"
		}
	}
	return v
}

// equal compares two generic JSON values; numbers by their literal text.
func equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b // string, json.Number, bool, nil, absent: all comparable
	}
}

// CanonicalJSON encodes a generic JSON value (as produced by encoding/json with UseNumber) canonically; see
// writeCanonical.
func CanonicalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeCanonical writes v with no insignificant whitespace, object keys sorted by their UTF-8 bytes, numbers as
// their literal text, and strings escaping only '"', '\' and U+0000..U+001F (as \b \f \n \r \t, else \u00xx);
// invalid UTF-8 becomes U+FFFD. The same value therefore always gives the same bytes, which is what the hash
// chain needs.
func writeCanonical(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case json.Number:
		if !json.Valid([]byte(x)) {
			return fmt.Errorf("invalid JSON number %q", string(x))
		}
		buf.WriteString(string(x))
	case string:
		writeString(buf, x)
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("not a generic JSON value: %T", v)
	}
	return nil
}

func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf.WriteByte('\\')
				buf.WriteByte(c)
			case c == '\b':
				buf.WriteString(`\b`)
			case c == '\f':
				buf.WriteString(`\f`)
			case c == '\n':
				buf.WriteString(`\n`)
			case c == '\r':
				buf.WriteString(`\r`)
			case c == '\t':
				buf.WriteString(`\t`)
			case c < 0x20:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			default:
				buf.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString("\uFFFD")
		} else {
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}
