package dxtrade

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading/wirejson"
)

// This file holds DXtrade's JSON as it crosses the wire and the parsers that turn it into exact values. Every
// parser takes the raw body, so the fuzz tests exercise exactly what the connector runs.

// num is a decimal DXtrade sends as a JSON number (the usual case) or as a string. It never passes through float64.
type num struct {
	d  decimal.Decimal
	ok bool // present and not null: lets "fall back to another field" tell 0 from absent
}

// Bounds that keep a hostile or broken answer from turning one field into megabytes of digits when printed.
const (
	maxNumLen   = 64
	maxNumScale = 30
)

func (n *num) UnmarshalJSON(b []byte) error {
	v, err := parseNumToken(b)
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// parseNumToken reads one JSON value (number, string or null) as a num; null is absent.
func parseNumToken(b []byte) (num, error) {
	if string(b) == "null" {
		return num{}, nil
	}
	s := b
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if len(s) == 0 || len(s) > maxNumLen {
		return num{}, fmt.Errorf("decimal %.20q: empty or longer than %d characters", b, maxNumLen)
	}
	if d, ok := smallDecimal(s); ok {
		return num{d: d, ok: true}, nil
	}
	d, err := decimal.NewFromString(string(s))
	if err != nil {
		return num{}, fmt.Errorf("decimal %.20q: %w", b, err)
	}
	if e := d.Exponent(); e < -maxNumScale || e > maxNumScale {
		return num{}, fmt.Errorf("decimal %.20q: exponent %d out of range", b, e)
	}
	return num{d: d, ok: true}, nil
}

// smallDecimal parses [-]digits[.digits] with at most 18 digits, which is every price and amount a server sends,
// straight into the same value and exponent decimal.NewFromString would give, without its string building.
func smallDecimal(s []byte) (decimal.Decimal, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	var m int64
	digits, frac, dot := 0, 0, false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + int64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return decimal.Decimal{}, false
		}
	}
	if digits == 0 || digits > 18 {
		return decimal.Decimal{}, false
	}
	if neg {
		m = -m
	}
	return decimal.New(m, int32(-frac)), true
}

// or returns n, or other when n was absent.
func (n num) or(other num) decimal.Decimal {
	if n.ok {
		return n.d
	}
	return other.d
}

// jsonNum writes a decimal as a bare JSON number with every digit, which is what DXtrade expects for amounts.
type jsonNum decimal.Decimal

func (n jsonNum) MarshalJSON() ([]byte, error) { return []byte(decimal.Decimal(n).String()), nil }

// utcTime is a DXtrade timestamp: an ISO-8601 string (UTC, "Z" or an offset) or epoch milliseconds.
type utcTime time.Time

func (t *utcTime) UnmarshalJSON(b []byte) error {
	v, err := parseTimeToken(b)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// parseTimeToken reads one JSON value (string, epoch-milliseconds number or null) as a UTC time.
func parseTimeToken(b []byte) (utcTime, error) {
	if string(b) == "null" {
		return utcTime{}, nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := wirejson.Unquote(b)
		if err != nil {
			return utcTime{}, fmt.Errorf("time %.40q: %w", b, err)
		}
		tm, err := parseTime(s)
		if err != nil {
			return utcTime{}, err
		}
		return utcTime(tm), nil
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return utcTime{}, fmt.Errorf("time %.40q: neither a string nor epoch milliseconds", b)
	}
	return utcTime(time.UnixMilli(ms).UTC()), nil
}

func parseTime(s string) (time.Time, error) {
	if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return tm.UTC(), nil
	}
	// Without a zone the server still means UTC: DXtrade keeps every timestamp in UTC.
	if tm, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
		return tm, nil
	}
	return time.Time{}, fmt.Errorf("time %.40q is not ISO-8601", s)
}

// formatTime is how the connector writes times into queries: UTC with milliseconds, DXtrade's own precision.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// flexString is an identifier DXtrade sends as a string or a number (orderId, errorCode, timeout).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	v, err := parseFlexToken(b)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// parseFlexToken reads one JSON value (string, number or null) as an identifier.
func parseFlexToken(b []byte) (flexString, error) {
	switch {
	case string(b) == "null":
		return "", nil
	case len(b) > 0 && b[0] == '"':
		s, err := wirejson.Unquote(b)
		return flexString(s), err
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return "", fmt.Errorf("%.20q is neither a string nor a number", b)
		}
		return flexString(n), nil
	}
}

// decode is json.Unmarshal with the one rule every answer shares: a body must be a single JSON value.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty answer")
	}
	return json.Unmarshal(body, v)
}

// parseError reads {errorCode, errorMessage} (register API) or {errorCode, description} (trading API). It never
// fails: a body that is not an error object yields empty strings and the caller falls back to the HTTP status.
func parseError(body []byte) (code, message string) {
	var e struct {
		ErrorCode    flexString `json:"errorCode"`
		ErrorMessage string     `json:"errorMessage"`
		Description  string     `json:"description"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	message = e.ErrorMessage
	if message == "" {
		message = e.Description
	}
	return clip(string(e.ErrorCode), 64), clip(message, 512)
}

// clip keeps operator-facing text from an answer to a sane length.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// loginTTLFallback is used when a login answer has no usable timeout: short, because a wrong guess only costs a
// re-login, while a long one would cost a failed call first.
const loginTTLFallback = time.Minute

// parseLogin reads {sessionToken, timeout} where timeout is the session's idle lifetime in milliseconds.
func parseLogin(body []byte) (token string, ttl time.Duration, err error) {
	var l struct {
		SessionToken string     `json:"sessionToken"`
		Timeout      flexString `json:"timeout"`
	}
	if err := decode(body, &l); err != nil {
		return "", 0, fmt.Errorf("login answer: %w", err)
	}
	if l.SessionToken == "" || len(l.SessionToken) > 4096 {
		return "", 0, errors.New("login answer has no usable sessionToken")
	}
	for i := 0; i < len(l.SessionToken); i++ {
		// The token goes into a header: anything but visible ASCII would corrupt or split it.
		if c := l.SessionToken[i]; c <= ' ' || c >= 0x7f {
			return "", 0, errors.New("login answer's sessionToken has characters a header cannot carry")
		}
	}
	ttl = loginTTLFallback
	if ms, err := strconv.ParseInt(strings.TrimSpace(string(l.Timeout)), 10, 64); err == nil && ms > 0 &&
		ms < int64(24*time.Hour/time.Millisecond) {
		ttl = time.Duration(ms) * time.Millisecond
	}
	return l.SessionToken, ttl, nil
}

// wireCategory is one (domain, value) category assignment.
type wireCategory struct {
	Category string `json:"category"`
	Value    string `json:"value"`
}

// wireAccount is the register API's account record.
type wireAccount struct {
	ClearingCode string         `json:"clearingCode"`
	AccountCode  string         `json:"accountCode"`
	Status       string         `json:"status"`
	Currency     string         `json:"currency"`
	Balance      num            `json:"balance"`
	Credit       num            `json:"credit"`
	Categories   []wireCategory `json:"categories"`
	// Metadata stays raw so a read-modify-write puts back exactly what it read, whatever types the values have.
	Metadata map[string]json.RawMessage `json:"metadata"`
}

func (a *wireAccount) category(domain string) string {
	for _, c := range a.Categories {
		if c.Category == domain {
			return c.Value
		}
	}
	return ""
}

// metaString returns the metadata value at key when it is a JSON string.
func (a *wireAccount) metaString(key string) (string, bool) {
	raw, ok := a.Metadata[key]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func parseAccount(body []byte) (wireAccount, error) {
	var a wireAccount
	if err := decode(body, &a); err != nil {
		return wireAccount{}, fmt.Errorf("account answer: %w", err)
	}
	if a.AccountCode == "" {
		return wireAccount{}, errors.New("account answer has no accountCode")
	}
	return a, nil
}

// wireMetrics is one account's entry in the trading API's metrics answer.
type wireMetrics struct {
	Account        string `json:"account"`
	Balance        num    `json:"balance"`
	Credit         num    `json:"credit"`
	Equity         num    `json:"equity"`
	Margin         num    `json:"margin"`
	MarginFree     num    `json:"marginFree"`
	AvailableFunds num    `json:"availableFunds"`
	Positions      []struct {
		PositionCode string `json:"positionCode"`
		FPL          num    `json:"fpl"`
	} `json:"positions"`
}

// parseMetrics reads {metrics: [...]} and returns the entry for account (clearing:code), or the only entry.
func parseMetrics(body []byte, account string) (wireMetrics, error) {
	var l struct {
		Metrics []wireMetrics `json:"metrics"`
	}
	if err := decode(body, &l); err != nil {
		return wireMetrics{}, fmt.Errorf("metrics answer: %w", err)
	}
	for _, m := range l.Metrics {
		if m.Account == account || (m.Account == "" && len(l.Metrics) == 1) {
			return m, nil
		}
	}
	return wireMetrics{}, fmt.Errorf("metrics answer has no entry for %s", account)
}

// wirePosition is one open position from the trading API.
type wirePosition struct {
	Account        string  `json:"account"`
	PositionCode   string  `json:"positionCode"`
	Symbol         string  `json:"symbol"`
	Quantity       num     `json:"quantity"`
	Side           string  `json:"side"`
	OpenPrice      num     `json:"openPrice"`
	LastUpdateTime utcTime `json:"lastUpdateTime"`
}

func parsePositions(body []byte) ([]wirePosition, error) {
	var l struct {
		Positions []wirePosition `json:"positions"`
	}
	if err := decode(body, &l); err != nil {
		return nil, fmt.Errorf("positions answer: %w", err)
	}
	for _, p := range l.Positions {
		if p.PositionCode == "" {
			return nil, errors.New("positions answer has a position without positionCode")
		}
	}
	return l.Positions, nil
}

// wireOrder is one order of the order history with what a deal needs. parseOrders (history.go) fills it; the
// json tags are the field names, which the tests' encoding/json reference decoder also reads.
type wireOrder struct {
	Account          string     `json:"account"`
	OrderID          flexString `json:"orderId"`
	OrderCode        string     `json:"orderCode"`
	Instrument       string     `json:"instrument"`
	Status           string     `json:"status"`
	Side             string     `json:"side"`
	TransactionTime  utcTime    `json:"transactionTime"`
	Legs             []wireLeg  `json:"legs"`
	CashTransactions []wireCash `json:"cashTransactions"`
}

// wireLeg is one leg of an order; a plain market order has exactly one.
type wireLeg struct {
	Instrument     string `json:"instrument"`
	PositionEffect string `json:"positionEffect"`
	PositionCode   string `json:"positionCode"`
	Side           string `json:"side"`
	Price          num    `json:"price"`
	Quantity       num    `json:"quantity"`
	FilledQuantity num    `json:"filledQuantity"`
	AveragePrice   num    `json:"averagePrice"`
}

// wireCash is money an order moved: commission, realised P/L (SETTLEMENT), financing (swap) and others.
type wireCash struct {
	Type  string `json:"type"`
	Value num    `json:"value"`
}
