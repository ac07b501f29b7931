package mt5

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading/wirejson"
)

// The Web API's JSON is read with the trading connectors' shared scanner (wirejson) instead of encoding/json struct
// decoding for two reasons: MT5 field names are case-sensitive while encoding/json matches keys case-insensitively,
// and the same field may arrive as a JSON string ("26000.00") or as a JSON number (26000.00) depending on the
// server build. The scanner checks the whole text against JSON's grammar as it walks; the readers below turn raw
// values into MT5's meaning.

var errMalformed = errors.New("malformed JSON from the MT5 server")

// malformed marks a scanner error as the server's.
func malformed(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %v", errMalformed, err)
}

// eachField calls fn with every key and raw value of the object r is at, in order. Keys are passed as bytes
// because a switch on string(key) does not allocate: a deal has some forty fields.
func eachField(r *wirejson.Reader, fn func(key, val []byte) error) error {
	for key := range r.Object() {
		val, err := r.Raw()
		if err != nil {
			break
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	return malformed(r.Err())
}

// forEachField calls fn with every key and raw value of the JSON object obj, which must be all of obj.
func forEachField(obj []byte, fn func(key, val []byte) error) error {
	r := wirejson.NewReader(obj)
	if err := eachField(r, fn); err != nil {
		return err
	}
	return malformed(r.End())
}

// forEachElement calls fn with the reader at each element of the JSON array arr, for fn to read. A JSON null is
// an empty array, which is how some server builds answer a query that matched nothing.
func forEachElement(arr []byte, fn func(r *wirejson.Reader) error) error {
	r := wirejson.NewReader(arr)
	if null, err := r.Null(); err != nil || null {
		return malformed(r.End())
	}
	for range r.Array() {
		if err := fn(r); err != nil {
			return err
		}
	}
	return malformed(r.End())
}

// unquote is a raw JSON string's value.
func unquote(raw []byte) (string, error) {
	s, err := wirejson.Unquote(raw)
	return s, malformed(err)
}

// textOf reads a string field; a number or null is accepted and rendered as its text, since the server is not
// consistent about quoting.
func textOf(val []byte) (string, error) {
	if len(val) > 0 && val[0] == '"' {
		return unquote(val)
	}
	if string(val) == "null" {
		return "", nil
	}
	if len(val) > 0 && (val[0] == '{' || val[0] == '[') {
		return "", fmt.Errorf("%w: want a string, got %.20s", errMalformed, val)
	}
	return string(val), nil
}

// numberText returns the text of a numeric field that may be quoted or bare; "" for null or "".
func numberText(val []byte) (string, error) {
	if len(val) > 0 && val[0] == '"' {
		s, err := unquote(val)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(s), nil
	}
	if string(val) == "null" {
		return "", nil
	}
	if len(val) == 0 || val[0] == '{' || val[0] == '[' || val[0] == 't' || val[0] == 'f' {
		return "", fmt.Errorf("%w: want a number, got %.20s", errMalformed, val)
	}
	return string(val), nil
}

// decimalOf reads a money, price or volume field exactly. The format is checked before shopspring/decimal sees
// it: a hostile exponent such as 1e999999999 would otherwise become a number whose text is a billion digits.
func decimalOf(val []byte) (decimal.Decimal, error) {
	s, err := numberText(val)
	if err != nil || s == "" {
		return decimal.Decimal{}, err
	}
	if !plainNumber(s) {
		return decimal.Decimal{}, fmt.Errorf("%w: not a decimal number: %.40q", errMalformed, s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return d, nil
}

// plainNumber accepts -?digits[.digits][e[+-]digits] with at most 40 characters and an exponent of at most two
// digits.
func plainNumber(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	i := 0
	if s[0] == '-' {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 || exp > 2 {
			return false
		}
	}
	return i == len(s)
}

// intOf reads an integer field (login, ticket, action, time, volume), quoted or bare.
func intOf(val []byte) (int64, error) {
	s, err := numberText(val)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: not an integer: %.40q", errMalformed, s)
	}
	return n, nil
}

// uintOf reads an unsigned 64-bit id (MT5 logins and tickets are UINT64).
func uintOf(val []byte) (uint64, error) {
	s, err := numberText(val)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: not an id: %.40q", errMalformed, s)
	}
	return n, nil
}

// envelope is the outer shape of every Web API answer: {"retcode":"<int> <text>","answer":...}; the auth calls put
// srv_rand and cli_rand_answer beside retcode instead of inside answer.
type envelope struct {
	Code          int
	Text          string
	Answer        []byte
	SrvRand       string
	CliRandAnswer string
}

// parseEnvelope checks the whole body once and splits it into its parts.
func parseEnvelope(body []byte) (envelope, error) {
	var env envelope
	haveRetcode := false
	err := forEachField(body, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "retcode":
			var s string
			if s, err = textOf(val); err == nil {
				env.Code, env.Text, err = parseRetcode(s)
				haveRetcode = true
			}
		case "answer":
			env.Answer = val
		case "srv_rand":
			env.SrvRand, err = textOf(val)
		case "cli_rand_answer":
			env.CliRandAnswer, err = textOf(val)
		}
		return err
	})
	if err != nil {
		return env, err
	}
	if !haveRetcode {
		return env, fmt.Errorf("%w: answer has no retcode", errMalformed)
	}
	return env, nil
}

// parseRetcode splits "<int> <text>" ("0 Done", "13 Not found"); a bare integer is accepted.
func parseRetcode(s string) (int, string, error) {
	s = strings.TrimSpace(s)
	num, text, _ := strings.Cut(s, " ")
	if num == "" || len(num) > 9 {
		return 0, "", fmt.Errorf("%w: bad retcode %.40q", errMalformed, s)
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return 0, "", fmt.Errorf("%w: bad retcode %.40q", errMalformed, s)
		}
	}
	code, _ := strconv.Atoi(num) // nine digits always fit
	return code, strings.TrimSpace(text), nil
}
