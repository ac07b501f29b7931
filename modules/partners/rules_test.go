package partners

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
)

var usd = money.MustLookup("USD")

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func per(amounts ...string) []decimal.Decimal {
	out := make([]decimal.Decimal, len(amounts))
	for i, a := range amounts {
		out[i] = d(a)
	}
	return out
}

func secs(n int64) *int64 { return &n }

// testRules: metals pay 10/3/1 a lot, EURUSD 5 at level 1 only, anything else 7/2/1.
func testRules() Rules {
	return Rules{
		Groups: map[string][]string{"Metals": {"XAUUSD", "XAGUSD"}},
		Lines: []Line{
			{Symbol: "EURUSD", PerLot: per("5")},
			{Group: "Metals", PerLot: per("10", "3", "1")},
			{PerLot: per("7", "2", "1")},
		},
		PayOn: PayOnClose,
	}
}

func TestSymbolsAreNormalizedBeforeTheyAreMatched(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		symbol   string
		suffixes []string
		want     string
	}{
		{"XAUUSD.m", nil, "XAUUSD"},
		{"xauusd", nil, "XAUUSD"},
		{"EURUSD#", nil, "EURUSD"},
		{"EURUSDpro", []string{"pro"}, "EURUSD"},
		{"EURUSDm", []string{"m", "pro"}, "EURUSD"},
		{"EURUSDpro", []string{"m", "pro"}, "EURUSD"}, // the longest suffix first
		{"BTCm", []string{"m"}, "BTC"},
		{"ABm", []string{"m"}, "ABM"}, // fewer than three would remain: kept
		{"US30.cash", []string{"cash"}, "US30"},
	} {
		if got := Normalize(tc.symbol, tc.suffixes); got != tc.want {
			t.Errorf("Normalize(%q, %v) = %q, want %q", tc.symbol, tc.suffixes, got, tc.want)
		}
	}
}

func TestASymbolTakesItsOwnLineThenItsGroupThenTheDefault(t *testing.T) {
	t.Parallel()
	r := testRules()
	noDefault := testRules()
	noDefault.Lines = noDefault.Lines[:2]
	for _, tc := range []struct {
		name   string
		rules  Rules
		symbol string
		by     string
		ok     bool
	}{
		{"its own line", r, "EURUSD", "symbol EURUSD", true},
		{"its own line after the suffix", r, "EURUSD.m", "symbol EURUSD", true},
		{"its group", r, "XAUUSD", "group Metals", true},
		{"its group after the suffix (XAUUSD.m pays as XAUUSD)", r, "XAUUSD.m", "group Metals", true},
		{"the default", r, "GBPJPY", "default", true},
		{"unmatched without a default", noDefault, "GBPJPY", "", false},
	} {
		m, ok := tc.rules.Match(tc.symbol, nil)
		if ok != tc.ok || m.By != tc.by {
			t.Errorf("%s: Match(%q) = %+v, %v; want %q, %v", tc.name, tc.symbol, m, ok, tc.by, tc.ok)
		}
	}
}

func TestWhatALevelEarns(t *testing.T) {
	t.Parallel()
	pct := testRules()
	pct.PercentOfBelow = []LevelPercent{{Level: 2, Percent: d("20")}, {Level: 3, Percent: d("50")}}
	hold := testRules()
	hold.MinHoldSeconds = 180
	mod := testRules()
	mod.LotModifiers = map[string]decimal.Decimal{"raw": d("0.4")}
	mod.ExcludedAccountTypes = []string{"demo"}
	both := testRules()
	both.PayOn = PayOnBoth
	noDefault := testRules()
	noDefault.Lines = noDefault.Lines[:2]
	below := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		name   string
		rules  Rules
		level  int
		trade  Trade
		below  *int64
		amount int64
		reason Reason
	}{
		{"level 1 of the default line: 2 lots at 7.00", testRules(), 1, Trade{Symbol: "GBPJPY", Lots: d("2")}, nil, 1400, ""},
		{"level 2 of the default line: 2 lots at 2.00", testRules(), 2, Trade{Symbol: "GBPJPY", Lots: d("2")}, nil, 400, ""},
		{"level 3 of the default line: 2 lots at 1.00", testRules(), 3, Trade{Symbol: "GBPJPY", Lots: d("2")}, nil, 200, ""},
		{"level 4 is past every line", testRules(), 4, Trade{Symbol: "GBPJPY", Lots: d("2")}, nil, 0, ReasonLevelNotPaid},
		{"the symbol's line pays level 1 only", testRules(), 2, Trade{Symbol: "EURUSD", Lots: d("1")}, nil, 0, ReasonLevelNotPaid},
		{"a suffixed metal pays the metals' line", testRules(), 1, Trade{Symbol: "XAUUSD.m", Lots: d("0.5")}, nil, 500, ""},
		{"micro lots are exact", testRules(), 1, Trade{Symbol: "GBPJPY", Lots: d("0.01")}, nil, 7, ""},
		{"half a cent rounds away from zero", testRules(), 2, Trade{Symbol: "GBPJPY", Lots: d("0.0025")}, nil, 1, ""},
		{"less than half a cent pays nothing, and says so", testRules(), 3, Trade{Symbol: "GBPJPY", Lots: d("0.004")}, nil, 0, ReasonRoundsToZero},
		{"an unmatched symbol is reported", noDefault, 1, Trade{Symbol: "GBPJPY", Lots: d("1")}, nil, 0, ReasonSymbolUnmatched},
		{"percent of the level below", pct, 2, Trade{Symbol: "GBPJPY", Lots: d("1")}, below(700), 140, ""},
		{"percent of a percent", pct, 3, Trade{Symbol: "GBPJPY", Lots: d("1")}, below(140), 70, ""},
		{"percent of a level below in another currency", pct, 2, Trade{Symbol: "GBPJPY", Lots: d("1")}, nil, 0, ReasonCurrencyMismatch},
		{"held long enough", hold, 1, Trade{Symbol: "GBPJPY", Lots: d("1"), HeldSeconds: secs(180)}, nil, 700, ""},
		{"held too briefly", hold, 1, Trade{Symbol: "GBPJPY", Lots: d("1"), HeldSeconds: secs(179)}, nil, 0, ReasonHeldTooBriefly},
		{"hold unknown", hold, 1, Trade{Symbol: "GBPJPY", Lots: d("1")}, nil, 0, ReasonHoldUnknown},
		{"a lot modifier of the account type", mod, 1, Trade{Symbol: "GBPJPY", Lots: d("100"), AccountType: "raw"}, nil, 28000, ""},
		{"another account type pays whole lots", mod, 1, Trade{Symbol: "GBPJPY", Lots: d("1"), AccountType: "standard"}, nil, 700, ""},
		{"an excluded account type", mod, 1, Trade{Symbol: "GBPJPY", Lots: d("1"), AccountType: "demo"}, nil, 0, ReasonTypeExcluded},
		{"both sides", both, 1, Trade{Symbol: "GBPJPY", Lots: d("1")}, nil, 1400, ""},
		{"a sell's negative volume pays its size", testRules(), 1, Trade{Symbol: "GBPJPY", Lots: d("-1")}, nil, 700, ""},
	} {
		out := tc.rules.Pay(usd, tc.level, tc.trade, tc.below, nil)
		if out.Amount != tc.amount || out.Reason != tc.reason {
			t.Errorf("%s: paid %d (%q), want %d (%q); %+v", tc.name, out.Amount, out.Reason, tc.amount, tc.reason, out.Explanation)
		}
		if tc.reason != "" && out.Explanation.Says == "" {
			t.Errorf("%s: nothing paid and no words for why", tc.name)
		}
		if tc.reason == "" && (out.Explanation.MatchedBy == "" && out.Explanation.Percent == "" || out.Explanation.Amount == "") {
			t.Errorf("%s: the explanation misses the line or the amount: %+v", tc.name, out.Explanation)
		}
	}
}

func TestCPAPaysAFirstDepositOfAtLeastTheMinimum(t *testing.T) {
	t.Parallel()
	r := testRules()
	r.CPA = &CPA{Amount: d("250"), MinDeposit: d("100")}
	eur := money.MustLookup("EUR")
	for _, tc := range []struct {
		name    string
		rules   Rules
		deposit int64
		cur     money.Currency
		amount  int64
		reason  Reason
	}{
		{"at the minimum", r, 10000, usd, 25000, ""},
		{"below it", r, 9999, usd, 0, ReasonBelowMinDeposit},
		{"in another currency", r, 50000, eur, 0, ReasonDepositCurrency},
		{"a plan without CPA", testRules(), 50000, usd, 0, ReasonNoCPA},
	} {
		out := tc.rules.PayCPA(usd, tc.deposit, tc.cur)
		if out.Amount != tc.amount || out.Reason != tc.reason {
			t.Errorf("%s: %d (%q), want %d (%q)", tc.name, out.Amount, out.Reason, tc.amount, tc.reason)
		}
	}
}

func TestRulesRefuseWhatCannotBePaidNamingTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edit  func(r *Rules)
		field string
	}{
		{"no lines", func(r *Rules) { r.Lines = nil }, "lines"},
		{"a negative amount", func(r *Rules) { r.Lines[2].PerLot[0] = d("-1") }, "lines.2.per_lot.0"},
		{"too many decimals", func(r *Rules) { r.Lines[2].PerLot[1] = d("0.0000001") }, "lines.2.per_lot.1"},
		{"an unknown group", func(r *Rules) { r.Lines[1].Group = "Energies" }, "lines.1.group"},
		{"two default lines", func(r *Rules) { r.Lines = append(r.Lines, Line{PerLot: per("1")}) }, "lines.3"},
		{"a symbol and a group", func(r *Rules) { r.Lines[0].Group = "Metals" }, "lines.0"},
		{"a percent at level 1", func(r *Rules) { r.PercentOfBelow = []LevelPercent{{Level: 1, Percent: d("10")}} }, "percent_of_below.0.level"},
		{"a percent above 100", func(r *Rules) { r.PercentOfBelow = []LevelPercent{{Level: 2, Percent: d("101")}} }, "percent_of_below.0.percent"},
		{"pay on a side that does not exist", func(r *Rules) { r.PayOn = "middle" }, "pay_on"},
		{"a negative hold", func(r *Rules) { r.MinHoldSeconds = -1 }, "min_hold_seconds"},
		{"a zero modifier", func(r *Rules) { r.LotModifiers = map[string]decimal.Decimal{"raw": d("0")} }, "lot_modifiers.raw"},
	} {
		r := testRules()
		tc.edit(&r)
		err := r.Validate(usd)
		v, ok := validation.As(err)
		if !ok || v.Message(tc.field) == "" {
			t.Errorf("%s: %v, want a field error on %s", tc.name, err, tc.field)
		}
	}
	r := testRules()
	if err := r.Validate(usd); err != nil {
		t.Errorf("the test's rules: %v", err)
	}
}
