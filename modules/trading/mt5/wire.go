package mt5

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// The Web API's JSON is read with a small scanner instead of encoding/json struct decoding for two reasons:
// MT5 field names are case-sensitive while encoding/json matches keys case-insensitively, and the same field may
// arrive as a JSON string ("26000.00") or as a JSON number (26000.00) depending on the server build. The scanner
// only walks input that json.Valid has accepted, so it can stay simple; string values with escapes (group names
// with backslashes) are handed to encoding/json to unescape.

var errMalformed = errors.New("malformed JSON from the MT5 server")

// forEachField calls fn with every key and raw value of the JSON object obj, in order. obj must be valid JSON.
// Keys are passed as bytes because a switch on string(key) does not allocate: a deal has some forty fields.
func forEachField(obj []byte, fn func(key, val []byte) error) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return fmt.Errorf("%w: want an object", errMalformed)
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return fmt.Errorf("%w: want a key", errMalformed)
		}
		end, err := stringEnd(obj, i)
		if err != nil {
			return err
		}
		key, err := keyOf(obj[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return fmt.Errorf("%w: want ':'", errMalformed)
		}
		i = skipSpace(obj, i+1)
		vend, err := valueEnd(obj, i)
		if err != nil {
			return err
		}
		if err := fn(key, obj[i:vend]); err != nil {
			return err
		}
		i = skipSpace(obj, vend)
		if i >= len(obj) {
			return fmt.Errorf("%w: unterminated object", errMalformed)
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return nil
		default:
			return fmt.Errorf("%w: want ',' or '}'", errMalformed)
		}
	}
}

// forEachElement calls fn with every raw element of the JSON array arr. A JSON null is an empty array, which is
// how some server builds answer a query that matched nothing.
func forEachElement(arr []byte, fn func(elem []byte) error) error {
	i := skipSpace(arr, 0)
	if bytes.Equal(bytes.TrimSpace(arr), []byte("null")) {
		return nil
	}
	if i >= len(arr) || arr[i] != '[' {
		return fmt.Errorf("%w: want an array", errMalformed)
	}
	i = skipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return nil
	}
	for {
		end, err := valueEnd(arr, i)
		if err != nil {
			return err
		}
		if err := fn(arr[i:end]); err != nil {
			return err
		}
		i = skipSpace(arr, end)
		if i >= len(arr) {
			return fmt.Errorf("%w: unterminated array", errMalformed)
		}
		switch arr[i] {
		case ',':
			i = skipSpace(arr, i+1)
		case ']':
			return nil
		default:
			return fmt.Errorf("%w: want ',' or ']'", errMalformed)
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the closing quote of the string starting at b[i].
// A quote ends the string unless an odd number of backslashes precedes it; IndexByte finds candidates fast.
func stringEnd(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			break
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		j = q + 1
	}
	return 0, fmt.Errorf("%w: unterminated string", errMalformed)
}

// valueEnd returns the index just past the JSON value starting at b[i].
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: missing value", errMalformed)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := stringEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: unterminated value", errMalformed)
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("%w: empty value", errMalformed)
		}
		return j, nil
	}
}

// keyOf returns an object key's text; only keys with escapes or invalid UTF-8 are copied.
func keyOf(raw []byte) ([]byte, error) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, nil
	}
	s, err := unquote(raw)
	return []byte(s), err
}

// unquote turns a raw JSON string (quotes included) into its Go value; only strings with escapes pay for
// encoding/json.
func unquote(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", fmt.Errorf("%w: want a string", errMalformed)
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: %v", errMalformed, err)
	}
	return s, nil
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

// parseEnvelope validates the whole body once and splits it into its parts.
func parseEnvelope(body []byte) (envelope, error) {
	var env envelope
	if !json.Valid(body) {
		return env, fmt.Errorf("%w: answer is not JSON", errMalformed)
	}
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
