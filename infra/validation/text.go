package validation

import (
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The text rules every field of the product shares. Each function returns what is wrong with s in words a client
// can act on, or "" when s passes. The edge (infra/web) already refuses invalid UTF-8 and NUL in every input; these
// are what a field adds by its kind:
//
//   - Text: any text a person may write over several lines (a message, a note): tabs and line breaks are fine,
//     other control characters are not.
//   - SingleLine: one line (a reason, a label, a search): no control character at all.
//   - Name: a person's or a thing's name, shown to others: one line, and none of the invisible characters that
//     make one name look like another (bidi overrides, zero-width spaces and joiners: Unicode's format
//     characters, category Cf).
//   - Email: an address as typed into a form: one line, no invisible characters, no spaces, one plain
//     local@domain address.
//
// Messages are stable sentences: "must not contain control characters (line breaks, tabs, ...)".
const (
	msgUTF8      = "must be valid UTF-8 text"
	msgNUL       = "must not contain NUL characters"
	msgControl   = "must be one line, without control characters (line breaks, tabs and the like)"
	msgControlML = "must not contain control characters other than tabs and line breaks"
	msgInvisible = "must not contain invisible formatting characters (bidirectional overrides, zero-width spaces or joiners)"
	msgEmail     = "must be an email address"
)

// Text reports what is wrong with s as multi-line text.
func Text(s string) string { return textProblem(s, true) }

// SingleLine reports what is wrong with s as one line of text.
func SingleLine(s string) string { return textProblem(s, false) }

// Name reports what is wrong with s as a name.
func Name(s string) string {
	if p := SingleLine(s); p != "" {
		return p
	}
	if hasInvisible(s) {
		return msgInvisible
	}
	return ""
}

// Email reports what is wrong with s (already trimmed) as an email address: a single plain address, at most 254
// bytes, with a local part and a domain, and nothing invisible in it.
func Email(s string) string {
	if p := Name(s); p != "" {
		return p
	}
	at := strings.LastIndexByte(s, '@')
	if len(s) > 254 || at < 1 || at == len(s)-1 || strings.ContainsAny(s, " <>\"()[],;:\\") {
		return msgEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return msgEmail
	}
	return ""
}

// EdgeProblem is the edge's rule for every text input (JSON strings, query, form and path values): invalid UTF-8 and
// NUL are refused whatever the field. multiline false also refuses every other control character (query and
// path values are single-line by nature).
func EdgeProblem(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return msgUTF8
	}
	if strings.IndexByte(s, 0) >= 0 {
		return msgNUL
	}
	if !multiline {
		return textProblem(s, false)
	}
	return ""
}

func textProblem(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return msgUTF8
	}
	for _, r := range s {
		switch {
		case r == 0:
			return msgNUL
		case multiline && (r == '\t' || r == '\n' || r == '\r'):
		case unicode.IsControl(r), r == '\u2028', r == '\u2029': // C0, DEL, C1, and Unicode's line separators
			if multiline {
				return msgControlML
			}
			return msgControl
		}
	}
	return ""
}

// hasInvisible reports whether s holds a format character (Unicode category Cf): the bidirectional embeddings,
// overrides and isolates (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F), zero-width space, joiner and non-joiner
// (U+200B..U+200D), word joiner, BOM (U+FEFF), soft hyphen and the like.
func hasInvisible(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}

// Text records a problem when v is not acceptable multi-line text of at most max characters (0: no bound).
func (f *Fields) Text(field, v string, max int) { f.text(field, v, max, Text) }

// SingleLine records a problem when v is not one line of text of at most max characters (0: no bound).
func (f *Fields) SingleLine(field, v string, max int) { f.text(field, v, max, SingleLine) }

// Name records a problem when v is not acceptable as a name of at most max characters (0: no bound).
func (f *Fields) Name(field, v string, max int) { f.text(field, v, max, Name) }

// Email records a problem when v is not an email address (an empty v is left to Required).
func (f *Fields) Email(field, v string) {
	if v == "" {
		return
	}
	if p := Email(v); p != "" {
		f.Add(field, p)
	}
}

func (f *Fields) text(field, v string, max int, rule func(string) string) {
	if p := rule(v); p != "" {
		f.Add(field, p)
		return
	}
	if max > 0 {
		f.MaxLen(field, v, max)
	}
}

// MaxItems records a problem when a list of n items is longer than max.
func (f *Fields) MaxItems(field string, n, max int) {
	f.Check(n <= max, field, "may hold at most "+strconv.Itoa(max)+" items")
}

// Has reports whether a problem was recorded for field.
func (f *Fields) Has(field string) bool {
	for _, e := range f.errs {
		if e.Field == field {
			return true
		}
	}
	return false
}
