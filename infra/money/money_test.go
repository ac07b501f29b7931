package money_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/money"
)

func TestParseReadsDecimalsInMinorUnitsOfEachCurrency(t *testing.T) {
	t.Parallel()
	usd, jpy, kwd, btc := money.MustLookup("USD"), money.MustLookup("JPY"), money.MustLookup("KWD"), money.MustLookup("BTC")
	for _, c := range []struct {
		in   string
		cur  money.Currency
		want int64
	}{
		{"0", usd, 0},
		{"12", usd, 1200},
		{"12.3", usd, 1230},
		{"12.34", usd, 1234},
		{"-0.01", usd, -1},
		{"0012.30", usd, 1230},
		{"1500", jpy, 1500},
		{"1.234", kwd, 1234},
		{"0.5", kwd, 500},
		{"0.00000001", btc, 1},
		{"92233720368547758.07", usd, math.MaxInt64},
		{"-92233720368547758.07", usd, -math.MaxInt64},
	} {
		got, err := money.Parse(c.in, c.cur)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q, %s) = %d, %v; want %d", c.in, c.cur, got, err, c.want)
		}
	}
}

func TestParseRefusesWhatItWouldHaveToGuess(t *testing.T) {
	t.Parallel()
	usd, jpy := money.MustLookup("USD"), money.MustLookup("JPY")
	for _, c := range []struct {
		in  string
		cur money.Currency
	}{
		{"", usd}, {"-", usd}, {".5", usd}, {"5.", usd}, {"+5", usd}, {" 5", usd}, {"5 ", usd}, {"1,000.00", usd},
		{"1e3", usd}, {"10.005", usd}, {"0x10", usd}, {"--1", usd}, {"1.2.3", usd}, {"NaN", usd}, {"Inf", usd},
		{"1.5", jpy}, {"92233720368547758.08", usd}, {strings.Repeat("9", 40), usd}, {"١٢", usd}, {"12\x00", usd},
	} {
		if got, err := money.Parse(c.in, c.cur); !errors.Is(err, money.ErrSyntax) {
			t.Errorf("Parse(%q, %s) = %d, %v; want ErrSyntax", c.in, c.cur, got, err)
		}
	}
}

func TestFormatWritesExactlyTheCurrencysDecimals(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		minor int64
		cur   string
		want  string
	}{
		{0, "USD", "0.00"}, {1, "USD", "0.01"}, {-1, "USD", "-0.01"}, {123456, "USD", "1234.56"}, {1500, "JPY", "1500"},
		{1234, "KWD", "1.234"}, {1, "BTC", "0.00000001"}, {math.MinInt64, "USD", "-92233720368547758.08"},
	} {
		if got := money.Format(c.minor, money.MustLookup(c.cur)); got != c.want {
			t.Errorf("Format(%d, %s) = %q, want %q", c.minor, c.cur, got, c.want)
		}
	}
	if got := (money.Amount{Minor: 123456789, Currency: money.MustLookup("USD")}).String(); got != "1,234,567.89 USD" {
		t.Errorf("String = %q", got)
	}
	if got := money.Grouped(-100000, money.MustLookup("JPY")); got != "-100,000" {
		t.Errorf("Grouped = %q", got)
	}
}

func TestLookupKnowsExponentsAndRefusesUnknownCodes(t *testing.T) {
	t.Parallel()
	for code, exp := range map[string]int{"USD": 2, "JPY": 0, "KWD": 3, "BHD": 3, "OMR": 3, "USDT": 6} {
		if c, ok := money.Lookup(code); !ok || c.Exponent != exp {
			t.Errorf("Lookup(%s) = %+v %v, want exponent %d", code, c, ok, exp)
		}
	}
	for _, code := range []string{"usd", "XXX", "", "US"} {
		if _, ok := money.Lookup(code); ok {
			t.Errorf("Lookup(%q) succeeded", code)
		}
	}
}

// Parse and Format are inverses: every amount Format writes parses back to itself, and every text Parse accepts
// formats to the same value with its decimals padded.
func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"0", "12.34", "-0.01", "1e3", "10.005", "92233720368547758.07", ".5", "007.10"} {
		f.Add(s, int64(1234), uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, minor int64, pick uint8) {
		codes := money.Codes()
		cur := money.MustLookup(codes[int(pick)%len(codes)])
		if minor != math.MinInt64 {
			back, err := money.Parse(money.Format(minor, cur), cur)
			if err != nil || back != minor {
				t.Fatalf("Parse(Format(%d, %s)) = %d, %v", minor, cur, back, err)
			}
		}
		v, err := money.Parse(s, cur)
		if err != nil {
			return
		}
		again, err := money.Parse(money.Format(v, cur), cur)
		if err != nil || again != v {
			t.Fatalf("%q parsed to %d, whose Format %q parses to %d, %v", s, v, money.Format(v, cur), again, err)
		}
		if strings.ContainsAny(s, " +,eE") {
			t.Fatalf("%q was accepted", s)
		}
	})
}
