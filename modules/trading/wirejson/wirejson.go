// Package wirejson reads the JSON that trading platforms answer with: one strict scanner that the connectors share
// instead of each writing its own.
//
// Connectors need what encoding/json does not give them. MT5's field names are case-sensitive while encoding/json
// matches keys in any case; numbers arrive as strings or as numbers depending on the server build and must be read
// exactly, never through float64; and bulk answers (a page of deals, an order history) are mostly fields a connector
// does not need, which encoding/json would decode or at least reflect over. So a Reader walks the text once,
// checking every byte against JSON's grammar (RFC 8259, as encoding/json does: it accepts exactly what json.Valid
// accepts, nesting limit included), hands out keys and raw values without copying, and leaves what a value means to
// the connector.
//
// A Reader is used like this:
//
//	r := wirejson.NewReader(body)
//	for key := range r.Object() {
//		switch string(key) { // no allocation
//		case "Login":
//			raw, err := r.Raw() // the value's bytes, checked; the caller reads them its way
//			...
//		default:
//			r.Skip()
//		}
//	}
//	if err := r.End(); err != nil { ... } // the first error met, or data after the value
//
// Inside Object and Array the loop body must read (or Skip) exactly one value per turn. Every error of the Reader's
// is returned where it happens and kept: the walks stop at the first, and Err and End report it. An error of the
// caller's own (a value of the right JSON kind that means nothing, such as a date that is not one) is not the
// Reader's: the caller must keep and return it, since Err and End will not.
package wirejson

import (
	"encoding/json"
	"fmt"
	"iter"
	"unicode/utf8"
)

// MaxDepth is how deeply values may nest: encoding/json's limit, so that both refuse the same texts.
const MaxDepth = 10000

// Error is a malformed text, with the byte offset where reading stopped.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg) }

// Reader walks one JSON text. The zero value reads an empty text; NewReader starts one.
type Reader struct {
	b     []byte
	i     int
	depth int
	err   error
}

// NewReader returns a Reader of b. It keeps b and hands out pieces of it: b must not change while they are used.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err is the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Errorf records an error at the current offset, unless one is recorded already, and returns the first error.
// Connectors use it for values that are well-formed JSON of the wrong kind.
func (r *Reader) Errorf(format string, args ...any) error {
	if r.err == nil {
		r.err = &Error{Offset: r.i, Msg: fmt.Sprintf(format, args...)}
	}
	return r.err
}

// Peek skips white space and returns the next byte, 0 at the end of the text. A NUL in the text is returned as 0
// too, so only End tells the end from a NUL.
func (r *Reader) Peek() byte {
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return c
		}
	}
	return 0
}

// End reports the first error met, or that something other than white space follows the value.
func (r *Reader) End() error {
	if r.err != nil {
		return r.err
	}
	if r.Peek(); r.i != len(r.b) {
		return r.Errorf("data after the value")
	}
	return nil
}

// begin consumes the opening byte of an object or an array and, when it is empty, the closing byte too. It
// reports whether there are members or elements to walk.
func (r *Reader) begin(opening, closing byte, what string) bool {
	if r.err != nil {
		return false
	}
	if r.Peek() != opening {
		r.Errorf("expected %s", what)
		return false
	}
	if r.depth >= MaxDepth {
		r.Errorf("nested too deep")
		return false
	}
	r.i++
	if r.Peek() == closing {
		r.i++
		return false
	}
	r.depth++
	return true
}

// next consumes what follows a member or an element: a comma (more follow, true) or the closing byte (false).
func (r *Reader) next(closing byte) bool {
	switch r.Peek() {
	case ',':
		r.i++
		return true
	case closing:
		r.i++
		r.depth--
		return false
	default:
		r.Errorf("expected ',' or '%c'", closing)
		return false
	}
}

// Object walks an object and yields each key, unescaped; the loop body then reads or skips the member's value.
// Keys without escapes come straight from the text and must not be kept beyond the next read. A repeated key is
// yielded again.
func (r *Reader) Object() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if !r.begin('{', '}', "an object") {
			return
		}
		for {
			if r.Peek() != '"' {
				r.Errorf("expected a key")
				return
			}
			key, err := r.key()
			if err != nil {
				return
			}
			if r.Peek() != ':' {
				r.Errorf("expected ':'")
				return
			}
			r.i++
			if !yield(key) || r.err != nil || !r.next('}') {
				return
			}
		}
	}
}

// Array walks an array and yields each element's index; the loop body then reads or skips the element.
func (r *Reader) Array() iter.Seq[int] {
	return func(yield func(int) bool) {
		if !r.begin('[', ']', "an array") {
			return
		}
		for n := 0; ; n++ {
			if !yield(n) || r.err != nil || !r.next(']') {
				return
			}
		}
	}
}

// key reads an object key and returns its text: the bytes of the text itself when they need no decoding.
func (r *Reader) key() ([]byte, error) {
	raw, plain, err := r.StringToken()
	if err != nil {
		return nil, err
	}
	inner := raw[1 : len(raw)-1]
	if plain {
		return inner, nil
	}
	s, err := Unquote(raw)
	if err != nil {
		return nil, r.Errorf("key: %v", err)
	}
	return []byte(s), nil
}

// StringToken reads a string and returns it with its quotes. plain means the bytes between the quotes are the value
// as they stand: no escapes and ASCII only. Unquote gives the value of any string token.
func (r *Reader) StringToken() (raw []byte, plain bool, err error) {
	if r.err != nil {
		return nil, false, r.err
	}
	if r.Peek() != '"' {
		return nil, false, r.Errorf("expected a string")
	}
	b, start := r.b, r.i
	plain = true
	for j := start + 1; j < len(b); j++ {
		c := b[j]
		if c >= 0x20 && c < 0x80 && c != '"' && c != '\\' {
			continue
		}
		switch {
		case c == '"':
			r.i = j + 1
			return b[start:r.i], plain, nil
		case c < 0x20:
			r.i = j
			return nil, false, r.Errorf("control character in a string")
		case c >= 0x80:
			plain = false
		default: // a backslash
			plain = false
			j++
			if j >= len(b) {
				break
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) || !isHex(b[j+1]) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) {
					r.i = j
					return nil, false, r.Errorf("bad \\u escape")
				}
				j += 4
			default:
				r.i = j
				return nil, false, r.Errorf("bad escape")
			}
		}
	}
	r.i = len(b)
	return nil, false, r.Errorf("unterminated string")
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// Unquote is a string token's value. Tokens without escapes that are valid UTF-8 (nearly all) are copied as they
// stand; the rest are decoded by encoding/json, so escapes, surrogate pairs and invalid UTF-8 (replaced by U+FFFD)
// come out as encoding/json gives them.
func Unquote(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && asIs(raw[1:len(raw)-1]) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("not a JSON string: %w", err)
	}
	return s, nil
}

// asIs reports whether a string's bytes are its value: no escapes, no control characters, valid UTF-8.
func asIs(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// Null reads a null if one is next (true) and otherwise reads nothing.
func (r *Reader) Null() (bool, error) {
	if r.err != nil {
		return false, r.err
	}
	if r.Peek() != 'n' {
		return false, nil
	}
	return true, r.word("null")
}

func (r *Reader) word(w string) error {
	if len(r.b)-r.i < len(w) || string(r.b[r.i:r.i+len(w)]) != w {
		return r.Errorf("expected %s", w)
	}
	r.i += len(w)
	return nil
}

// number reads a number by JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *Reader) number() error {
	b, j := r.b, r.i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		j = digits(b, j)
	default:
		return r.Errorf("expected a value")
	}
	if j < len(b) && b[j] == '.' {
		if j++; digits(b, j) == j {
			r.i = j
			return r.Errorf("bad number")
		}
		j = digits(b, j)
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		if j++; j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if digits(b, j) == j {
			r.i = j
			return r.Errorf("bad number")
		}
		j = digits(b, j)
	}
	r.i = j
	return nil
}

// digits returns the index just past the run of decimal digits that starts at b[j] (j itself when there is none).
func digits(b []byte, j int) int {
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	return j
}

// Skip checks and passes over the next value.
func (r *Reader) Skip() error {
	if r.err != nil {
		return r.err
	}
	switch r.Peek() {
	case '{', '[':
		return r.skipNested()
	case '"':
		_, _, err := r.StringToken()
		return err
	case 't':
		return r.word("true")
	case 'f':
		return r.word("false")
	case 'n':
		return r.word("null")
	default:
		return r.number()
	}
}

// skipNested passes over an object or an array. It walks them itself rather than through Object and Array, whose
// yield calls would cost a closure per skipped value.
func (r *Reader) skipNested() error {
	opening, closing := r.Peek(), byte('}')
	if opening == '[' {
		closing = ']'
	}
	if !r.begin(opening, closing, "a value") {
		return r.err
	}
	for {
		if closing == '}' {
			if r.Peek() != '"' {
				return r.Errorf("expected a key")
			}
			if _, _, err := r.StringToken(); err != nil {
				return err
			}
			if r.Peek() != ':' {
				return r.Errorf("expected ':'")
			}
			r.i++
		}
		if err := r.Skip(); err != nil {
			return err
		}
		if !r.next(closing) {
			return r.err
		}
	}
}

// Raw reads the next value, checked, and returns its bytes as they stand in the text.
func (r *Reader) Raw() ([]byte, error) {
	r.Peek()
	start := r.i
	if err := r.Skip(); err != nil {
		return nil, err
	}
	return r.b[start:r.i], nil
}
