package dxtrade

import (
	"bytes"
	"errors"
	"fmt"
)

// The order history is the one answer that comes in bulk (a sync reads every account's history, page after page),
// and encoding/json spends most of its time there validating and skipping fields a deal does not need
// (executions, links, margin rates). parseOrders reads it with a small strict reader instead: only the fields of
// wireOrder are decoded, everything else is checked and skipped in place, and the per-value rules are the very
// functions the encoding/json path uses (parseNumToken, parseTimeToken, parseFlexToken, unquote).
//
// It is meant to decode exactly what encoding/json would decode into wireOrder, including its corners (ASCII
// case-insensitive keys, the last duplicate key winning, null leaving a string unchanged): the tests fuzz the two
// against each other, and never let this reader accept input that is not valid JSON.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// parseOrders reads the order-history answer {orders: [...]}.
func parseOrders(body []byte) ([]wireOrder, error) {
	r := &jsonReader{b: body}
	var orders []wireOrder
	r.peek()
	if r.i == len(r.b) {
		return nil, errors.New("order history answer: empty answer")
	}
	switch r.peek() {
	case 'n':
		if err := r.word("null"); err != nil {
			return nil, err
		}
	default:
		err := r.object(1, func(key []byte) error {
			if foldKey(key) == "orders" {
				return r.orders(&orders, 2)
			}
			return r.skip(2)
		})
		if err != nil {
			return nil, err
		}
	}
	if r.peek(); r.i != len(r.b) { // not peek() != 0: a NUL byte is data too
		return nil, r.errorf("data after the answer")
	}
	return orders, nil
}

type jsonReader struct {
	b []byte
	i int
}

func (r *jsonReader) errorf(format string, args ...any) error {
	return fmt.Errorf("order history answer: offset %d: %s", r.i, fmt.Sprintf(format, args...))
}

// peek skips white space and returns the next byte, 0 at the end (a 0 in the input never matches what a caller
// expects, so only the end-of-answer check must look at r.i instead).
func (r *jsonReader) peek() byte {
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

func (r *jsonReader) word(w string) error {
	if !bytes.HasPrefix(r.b[r.i:], []byte(w)) {
		return r.errorf("expected %s", w)
	}
	r.i += len(w)
	return nil
}

// object reads {"key": value, ...}, calling field with the reader on each value.
func (r *jsonReader) object(depth int, field func(key []byte) error) error {
	if depth > maxJSONDepth {
		return r.errorf("nested too deep")
	}
	if r.peek() != '{' {
		return r.errorf("expected an object")
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		if r.peek() != '"' {
			return r.errorf("expected a key")
		}
		raw, plain, err := r.stringToken()
		if err != nil {
			return err
		}
		key := raw[1 : len(raw)-1]
		if !plain {
			s, err := unquote(raw)
			if err != nil {
				return r.errorf("bad key: %v", err)
			}
			key = []byte(s)
		}
		if r.peek() != ':' {
			return r.errorf("expected ':'")
		}
		r.i++
		if err := field(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return r.errorf("expected ',' or '}'")
		}
	}
}

// array reads [value, ...], calling elem with the reader on each value.
func (r *jsonReader) array(depth int, elem func() error) error {
	if depth > maxJSONDepth {
		return r.errorf("nested too deep")
	}
	if r.peek() != '[' {
		return r.errorf("expected an array")
	}
	r.i++
	if r.peek() == ']' {
		r.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return nil
		default:
			return r.errorf("expected ',' or ']'")
		}
	}
}

// stringToken reads a string and returns it with its quotes; plain means no escapes and only ASCII, so the bytes
// between the quotes are the value.
func (r *jsonReader) stringToken() (raw []byte, plain bool, err error) {
	start := r.i
	plain = true
	for j := r.i + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			r.i = j + 1
			return r.b[start:r.i], plain, nil
		case c < 0x20:
			return nil, false, r.errorf("control character in a string")
		case c >= 0x80:
			plain = false
		case c == '\\':
			plain = false
			j++
			if j >= len(r.b) {
				return nil, false, r.errorf("unterminated string")
			}
			switch r.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(r.b) || !isHex(r.b[j+1]) || !isHex(r.b[j+2]) || !isHex(r.b[j+3]) || !isHex(r.b[j+4]) {
					return nil, false, r.errorf("bad \\u escape")
				}
				j += 4
			default:
				return nil, false, r.errorf("bad escape")
			}
		}
	}
	return nil, false, r.errorf("unterminated string")
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// number reads a number by JSON's grammar.
func (r *jsonReader) number() error {
	b, j := r.b, r.i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return r.errorf("expected a value")
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return r.errorf("bad number")
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return r.errorf("bad number")
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	r.i = j
	return nil
}

// skip checks and passes over any value. It walks objects and arrays itself rather than through object and
// array, whose callbacks would cost an allocation per skipped value (executions, links and the like).
func (r *jsonReader) skip(depth int) error {
	if depth > maxJSONDepth {
		return r.errorf("nested too deep")
	}
	switch r.peek() {
	case '{':
		r.i++
		if r.peek() == '}' {
			r.i++
			return nil
		}
		for {
			if r.peek() != '"' {
				return r.errorf("expected a key")
			}
			if _, _, err := r.stringToken(); err != nil {
				return err
			}
			if r.peek() != ':' {
				return r.errorf("expected ':'")
			}
			r.i++
			if err := r.skip(depth + 1); err != nil {
				return err
			}
			switch r.peek() {
			case ',':
				r.i++
			case '}':
				r.i++
				return nil
			default:
				return r.errorf("expected ',' or '}'")
			}
		}
	case '[':
		r.i++
		if r.peek() == ']' {
			r.i++
			return nil
		}
		for {
			if err := r.skip(depth + 1); err != nil {
				return err
			}
			switch r.peek() {
			case ',':
				r.i++
			case ']':
				r.i++
				return nil
			default:
				return r.errorf("expected ',' or ']'")
			}
		}
	case '"':
		_, _, err := r.stringToken()
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

// token returns the raw bytes of the next value, checked.
func (r *jsonReader) token(depth int) ([]byte, error) {
	r.peek()
	start := r.i
	if err := r.skip(depth); err != nil {
		return nil, err
	}
	return r.b[start:r.i], nil
}

// str decodes a string value into dst; null leaves dst as it was, as encoding/json does.
func (r *jsonReader) str(dst *string) error {
	switch r.peek() {
	case 'n':
		return r.word("null")
	case '"':
		raw, plain, err := r.stringToken()
		if err != nil {
			return err
		}
		if plain {
			*dst = intern(raw[1 : len(raw)-1])
			return nil
		}
		s, err := unquote(raw)
		if err != nil {
			return r.errorf("bad string: %v", err)
		}
		*dst = s
		return nil
	default:
		return r.errorf("expected a string")
	}
}

func (r *jsonReader) num(dst *num, depth int) error {
	t, err := r.token(depth)
	if err != nil {
		return err
	}
	*dst, err = parseNumToken(t)
	return err
}

// slot returns s with length n+1 and element n to decode into. Like encoding/json it decodes into an element left
// over in the slice's capacity (possible only when a key repeats) rather than a fresh one.
func slot[T any](s []T, n int) ([]T, *T) {
	if n < cap(s) {
		s = s[:n+1]
	} else {
		var zero T
		s = append(s[:n], zero)
	}
	return s, &s[n]
}

// list decodes an array into *dst with elem for each element; null makes *dst nil.
func list[T any](r *jsonReader, dst *[]T, depth int, elem func(*T) error) error {
	if r.peek() == 'n' {
		*dst = nil
		return r.word("null")
	}
	s, n := *dst, 0
	err := r.array(depth, func() error {
		var p *T
		s, p = slot(s, n)
		n++
		if r.peek() == 'n' { // null into a struct changes nothing
			return r.word("null")
		}
		return elem(p)
	})
	*dst = s[:n]
	return err
}

func (r *jsonReader) orders(dst *[]wireOrder, depth int) error {
	return list(r, dst, depth, func(o *wireOrder) error {
		return r.object(depth+1, func(key []byte) error {
			d := depth + 2
			switch foldKey(key) {
			case "account":
				return r.str(&o.Account)
			case "orderid":
				t, err := r.token(d)
				if err != nil {
					return err
				}
				o.OrderID, err = parseFlexToken(t)
				return err
			case "ordercode":
				return r.str(&o.OrderCode)
			case "instrument":
				return r.str(&o.Instrument)
			case "status":
				return r.str(&o.Status)
			case "side":
				return r.str(&o.Side)
			case "transactiontime":
				t, err := r.token(d)
				if err != nil {
					return err
				}
				o.TransactionTime, err = parseTimeToken(t)
				return err
			case "legs":
				return list(r, &o.Legs, d, func(l *wireLeg) error { return r.leg(l, d+1) })
			case "cashtransactions":
				return list(r, &o.CashTransactions, d, func(c *wireCash) error { return r.cash(c, d+1) })
			default:
				return r.skip(d)
			}
		})
	})
}

func (r *jsonReader) leg(l *wireLeg, depth int) error {
	return r.object(depth, func(key []byte) error {
		d := depth + 1
		switch foldKey(key) {
		case "instrument":
			return r.str(&l.Instrument)
		case "positioneffect":
			return r.str(&l.PositionEffect)
		case "positioncode":
			return r.str(&l.PositionCode)
		case "side":
			return r.str(&l.Side)
		case "price":
			return r.num(&l.Price, d)
		case "quantity":
			return r.num(&l.Quantity, d)
		case "filledquantity":
			return r.num(&l.FilledQuantity, d)
		case "averageprice":
			return r.num(&l.AveragePrice, d)
		default:
			return r.skip(d)
		}
	})
}

func (r *jsonReader) cash(c *wireCash, depth int) error {
	return r.object(depth, func(key []byte) error {
		switch foldKey(key) {
		case "type":
			return r.str(&c.Type)
		case "value":
			return r.num(&c.Value, depth+1)
		default:
			return r.skip(depth + 1)
		}
	})
}

// intern returns the strings nearly every order repeats without allocating them again.
func intern(b []byte) string {
	switch string(b) { // the compiler does not allocate to compare
	case "COMPLETED":
		return "COMPLETED"
	case "BUY":
		return "BUY"
	case "SELL":
		return "SELL"
	case "OPEN":
		return "OPEN"
	case "CLOSE":
		return "CLOSE"
	case "COMMISSION":
		return "COMMISSION"
	case "SETTLEMENT":
		return "SETTLEMENT"
	case "FINANCING":
		return "FINANCING"
	}
	return string(b)
}

// foldKey returns the field name (lower case) that key matches, or "". Keys match ASCII case-insensitively, as
// encoding/json matches them; the exact spelling DXtrade sends is tried first and needs no folding.
func foldKey(key []byte) string {
	if name := fieldName(key); name != "" {
		return name
	}
	const longest = len("cashtransactions")
	if len(key) > longest {
		return ""
	}
	var buf [longest]byte
	for i, c := range key {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 0x80:
			return ""
		}
		buf[i] = c
	}
	return fieldName(buf[:len(key)])
}

// fieldName maps the keys the reader decodes, as DXtrade spells them or lower-cased, to their lower-case name.
func fieldName(key []byte) string {
	switch string(key) {
	case "orders":
		return "orders"
	case "account":
		return "account"
	case "orderId", "orderid":
		return "orderid"
	case "orderCode", "ordercode":
		return "ordercode"
	case "instrument":
		return "instrument"
	case "status":
		return "status"
	case "side":
		return "side"
	case "transactionTime", "transactiontime":
		return "transactiontime"
	case "legs":
		return "legs"
	case "cashTransactions", "cashtransactions":
		return "cashtransactions"
	case "positionEffect", "positioneffect":
		return "positioneffect"
	case "positionCode", "positioncode":
		return "positioncode"
	case "price":
		return "price"
	case "quantity":
		return "quantity"
	case "filledQuantity", "filledquantity":
		return "filledquantity"
	case "averagePrice", "averageprice":
		return "averageprice"
	case "type":
		return "type"
	case "value":
		return "value"
	}
	return ""
}
