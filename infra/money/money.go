// Package money is how BrokerDesk writes and reads amounts of money: an integer count of a currency's minor units
// (cents for USD, yen for JPY, fils for KWD), with the currency's ISO 4217 exponent, and never a float. Parse reads
// the decimal strings the API, forms and payment gateways use; Format writes them back. Every module that touches
// money (the ledger, deposits, withdrawals, bonuses, commissions) goes through these two functions.
package money

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Currency is an ISO 4217 currency (or a crypto asset the product supports) with its number of minor-unit digits.
type Currency struct {
	Code     string // "USD"
	Exponent int    // 2: one USD is 100 minor units
}

// String is the code.
func (c Currency) String() string { return c.Code }

// exponents are the currencies BrokerDesk handles: the ones forex brokers take deposits in, the three-decimal
// currencies of the Gulf and North Africa, and the stablecoins and coins crypto processors settle in (at the
// precision their processors report).
var exponents = map[string]int{
	"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "AUD": 2, "CAD": 2, "NZD": 2, "SGD": 2, "HKD": 2, "SEK": 2, "NOK": 2,
	"DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "RON": 2, "TRY": 2, "ZAR": 2, "MXN": 2, "BRL": 2, "INR": 2, "CNY": 2,
	"AED": 2, "SAR": 2, "QAR": 2, "ILS": 2, "THB": 2, "MYR": 2, "PHP": 2, "NGN": 2, "KES": 2, "EGP": 2,
	"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "IDR": 2,
	"KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
	"USDT": 6, "USDC": 6, "BTC": 8, "ETH": 8,
}

// Lookup returns the currency with code (upper case), and whether it is one BrokerDesk handles.
func Lookup(code string) (Currency, bool) {
	e, ok := exponents[code]
	return Currency{Code: code, Exponent: e}, ok
}

// MustLookup is Lookup for codes written in the program; it panics on an unknown one.
func MustLookup(code string) Currency {
	c, ok := Lookup(code)
	if !ok {
		panic("money: unknown currency " + code)
	}
	return c
}

// Codes lists every supported currency code, sorted.
func Codes() []string {
	out := make([]string, 0, len(exponents))
	for c := range exponents {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// ErrSyntax is wrapped by every Parse error about the text of an amount.
var ErrSyntax = errors.New("not an amount")

// maxDigits bounds the text Parse reads, well above any real amount (int64 holds 18 digits).
const maxDigits = 30

// Parse reads a decimal amount of c ("1234.5", "-0.01", "100") into minor units. It accepts an optional leading
// '-', digits, and at most c.Exponent digits after a '.'; it refuses everything else rather than guess: signs other
// than a leading '-', spaces, thousands separators, exponents ("1e3"), a bare or trailing '.', more decimals than
// the currency has (no rounding: 10.005 USD is an error, not 10.01), and amounts beyond int64.
func Parse(s string, c Currency) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrSyntax)
	}
	if len(s) > maxDigits+2 {
		return 0, fmt.Errorf("%w: too long", ErrSyntax)
	}
	neg := false
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") {
		return 0, fmt.Errorf("%w: %q needs digits on both sides of the point", ErrSyntax, s)
	}
	if len(frac) > c.Exponent {
		if c.Exponent == 0 {
			return 0, fmt.Errorf("%w: %s has no minor units", ErrSyntax, c.Code)
		}
		return 0, fmt.Errorf("%w: %s has at most %d decimals", ErrSyntax, c.Code, c.Exponent)
	}
	var v uint64
	digit := func(r byte) error {
		if r < '0' || r > '9' {
			return fmt.Errorf("%w: unexpected %q", ErrSyntax, r)
		}
		d := uint64(r - '0')
		if v > (math.MaxInt64-d)/10 {
			return fmt.Errorf("%w: too large", ErrSyntax)
		}
		v = v*10 + d
		return nil
	}
	for i := 0; i < len(whole); i++ {
		if err := digit(whole[i]); err != nil {
			return 0, err
		}
	}
	for i := 0; i < c.Exponent; i++ {
		r := byte('0')
		if i < len(frac) {
			r = frac[i]
		}
		if err := digit(r); err != nil {
			return 0, err
		}
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}

// Format writes minor units of c as a decimal string with exactly c.Exponent decimals ("1234.50", "-0.01",
// "100" for JPY): the form the API returns, and the inverse of Parse.
func Format(minor int64, c Currency) string {
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u // math.MinInt64 too: its magnitude fits in a uint64
	}
	digits := fmt.Sprintf("%0*d", c.Exponent+1, u)
	out := digits
	if c.Exponent > 0 {
		cut := len(digits) - c.Exponent
		out = digits[:cut] + "." + digits[cut:]
	}
	if neg {
		return "-" + out
	}
	return out
}

// Amount is a sum of money: minor units and their currency.
type Amount struct {
	Minor    int64
	Currency Currency
}

// String is the amount as people read it: "1,234.50 USD".
func (a Amount) String() string { return Grouped(a.Minor, a.Currency) + " " + a.Currency.Code }

// Decimal is the amount in Format's form ("1234.50").
func (a Amount) Decimal() string { return Format(a.Minor, a.Currency) }

// Grouped is Format with thousands separated by commas, for pages and emails ("1,234,567.50").
func Grouped(minor int64, c Currency) string {
	s := Format(minor, c)
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	var b strings.Builder
	for i := range len(whole) {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(whole[i])
	}
	if dot {
		return sign + b.String() + "." + frac
	}
	return sign + b.String()
}
