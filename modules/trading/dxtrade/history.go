package dxtrade

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/brokerdesk/brokerdesk/modules/trading/wirejson"
)

// The order history is the one answer that comes in bulk (a sync reads every account's history, page after page),
// and encoding/json spends most of its time there validating and skipping fields a deal does not need
// (executions, links, margin rates). parseOrders reads it with the trading connectors' strict scanner (wirejson)
// instead: only the fields of wireOrder are decoded, everything else is checked and skipped in place, and the
// per-value rules are the very functions the encoding/json path uses (parseNumToken, parseTimeToken,
// parseFlexToken, wirejson.Unquote).
//
// It is meant to decode exactly what encoding/json would decode into wireOrder, including its corners (ASCII
// case-insensitive keys, the last duplicate key winning, null leaving a string unchanged): the tests fuzz the two
// against each other, and never let this reader accept input that is not valid JSON.

// parseOrders reads the order-history answer {orders: [...]}.
func parseOrders(body []byte) ([]wireOrder, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("order history answer: empty answer")
	}
	r := wirejson.NewReader(body)
	var orders []wireOrder
	var err error
	if null, nerr := r.Null(); !null && nerr == nil {
		for key := range r.Object() {
			if foldKey(key) == "orders" {
				err = readOrders(r, &orders)
			} else {
				err = r.Skip()
			}
			if err != nil {
				break
			}
		}
	}
	if err == nil {
		err = r.End() // also the first error the reader met, wherever it was
	}
	if err != nil {
		return nil, fmt.Errorf("order history answer: %w", err)
	}
	return orders, nil
}

// str decodes a string value into dst; null leaves dst as it was, as encoding/json does.
func str(r *wirejson.Reader, dst *string) error {
	switch r.Peek() {
	case 'n':
		_, err := r.Null()
		return err
	case '"':
		raw, plain, err := r.StringToken()
		if err != nil {
			return err
		}
		if plain {
			*dst = intern(raw[1 : len(raw)-1])
			return nil
		}
		s, err := wirejson.Unquote(raw)
		if err != nil {
			return r.Errorf("bad string: %v", err)
		}
		*dst = s
		return nil
	default:
		return r.Errorf("expected a string")
	}
}

// numField decodes a number (or a numeric string, or null) into dst.
func numField(r *wirejson.Reader, dst *num) error {
	t, err := r.Raw()
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
func list[T any](r *wirejson.Reader, dst *[]T, elem func(*T) error) error {
	if null, err := r.Null(); null || err != nil {
		if err == nil {
			*dst = nil
		}
		return err
	}
	s := *dst
	n := 0
	var err error
	for range r.Array() {
		var p *T
		s, p = slot(s, n)
		n++
		var null bool
		if null, err = r.Null(); err == nil && !null { // null into a struct changes nothing
			err = elem(p)
		}
		if err != nil {
			break
		}
	}
	*dst = s[:n]
	if err != nil {
		return err
	}
	return r.Err()
}

func readOrders(r *wirejson.Reader, dst *[]wireOrder) error {
	return list(r, dst, func(o *wireOrder) error { return readOrder(r, o) })
}

func readOrder(r *wirejson.Reader, o *wireOrder) error {
	for key := range r.Object() {
		var err error
		switch foldKey(key) {
		case "account":
			err = str(r, &o.Account)
		case "orderid":
			var t []byte
			if t, err = r.Raw(); err == nil {
				o.OrderID, err = parseFlexToken(t)
			}
		case "ordercode":
			err = str(r, &o.OrderCode)
		case "instrument":
			err = str(r, &o.Instrument)
		case "status":
			err = str(r, &o.Status)
		case "side":
			err = str(r, &o.Side)
		case "transactiontime":
			var t []byte
			if t, err = r.Raw(); err == nil {
				o.TransactionTime, err = parseTimeToken(t)
			}
		case "legs":
			err = list(r, &o.Legs, func(l *wireLeg) error { return readLeg(r, l) })
		case "cashtransactions":
			err = list(r, &o.CashTransactions, func(c *wireCash) error { return readCash(r, c) })
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func readLeg(r *wirejson.Reader, l *wireLeg) error {
	for key := range r.Object() {
		var err error
		switch foldKey(key) {
		case "instrument":
			err = str(r, &l.Instrument)
		case "positioneffect":
			err = str(r, &l.PositionEffect)
		case "positioncode":
			err = str(r, &l.PositionCode)
		case "side":
			err = str(r, &l.Side)
		case "price":
			err = numField(r, &l.Price)
		case "quantity":
			err = numField(r, &l.Quantity)
		case "filledquantity":
			err = numField(r, &l.FilledQuantity)
		case "averageprice":
			err = numField(r, &l.AveragePrice)
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
}

func readCash(r *wirejson.Reader, c *wireCash) error {
	for key := range r.Object() {
		var err error
		switch foldKey(key) {
		case "type":
			err = str(r, &c.Type)
		case "value":
			err = numField(r, &c.Value)
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	return r.Err()
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
