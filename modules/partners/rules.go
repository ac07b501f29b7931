package partners

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// PayOn says which side of a trade a plan pays. The desk announces closing deals only (trading.deal_closed), so
// every side is paid when the position's closing deal is synced: "open" pays the lots the closing deal closes as
// the opening side, "both" pays them twice.
type PayOn string

const (
	PayOnClose PayOn = "close"
	PayOnOpen  PayOn = "open"
	PayOnBoth  PayOn = "both"
)

// Line is one line of a plan: what a lot of a symbol, of a group's symbols, or (neither set) of any other symbol
// pays at each level up the tree. PerLot[0] is level 1 (the client's own partner), PerLot[1] level 2, and so on;
// a level past the list pays nothing unless the plan pays it as a percent of the level below.
type Line struct {
	Symbol string            `json:"symbol,omitempty"`
	Group  string            `json:"group,omitempty"`
	PerLot []decimal.Decimal `json:"per_lot"`
}

// LevelPercent pays a level as a percent of what the level below it earned on the same deal (level 2 at 20 % of
// level 1), in place of the lines' per-lot amount at that level.
type LevelPercent struct {
	Level   int             `json:"level"`
	Percent decimal.Decimal `json:"percent"`
}

// CPA pays a referred client's partner (level 1) once, on the client's first completed deposit of at least
// MinDeposit (in the plan's currency).
type CPA struct {
	Amount     decimal.Decimal `json:"amount"`
	MinDeposit decimal.Decimal `json:"min_deposit"`
}

// Rules is what one version of a plan pays. Amounts are exact decimals in the plan's currency.
type Rules struct {
	Lines []Line `json:"lines"`
	// Groups name sets of symbols (as normalised: XAUUSD, not XAUUSD.m): {"Metals": ["XAUUSD", "XAGUSD"]}.
	Groups         map[string][]string `json:"groups,omitempty"`
	PercentOfBelow []LevelPercent      `json:"percent_of_below,omitempty"`
	PayOn          PayOn               `json:"pay_on"`
	// MinHoldSeconds: a position held less pays nothing (anti-scalping); 0 is off.
	MinHoldSeconds int `json:"min_hold_seconds,omitempty"`
	// LotModifiers scale the lots of deals on an account type (by slug): {"cent": "0.01", "raw": "0.4"}.
	LotModifiers map[string]decimal.Decimal `json:"lot_modifiers,omitempty"`
	// ExcludedAccountTypes pay nothing (by slug).
	ExcludedAccountTypes []string `json:"excluded_account_types,omitempty"`
	CPA                  *CPA     `json:"cpa,omitempty"`
}

// MaxLevels bounds a line's per-lot list; the tree itself has no depth limit (deeper levels pay nothing).
const MaxLevels = 20

// Validate checks rules for currency c and returns every refused field at once (a *validation.Error).
func (r *Rules) Validate(c money.Currency) error {
	var f validation.Fields
	if r.PayOn == "" {
		r.PayOn = PayOnClose
	}
	f.Check(r.PayOn == PayOnClose || r.PayOn == PayOnOpen || r.PayOn == PayOnBoth, "pay_on", "must be close, open or both")
	f.Check(r.MinHoldSeconds >= 0 && r.MinHoldSeconds <= 7*24*3600, "min_hold_seconds", "must be 0 (off) to 604800 (a week)")
	if len(r.Lines) == 0 {
		f.Add("lines", "a plan has at least one line")
	}
	exact := func(field string, d decimal.Decimal) {
		switch {
		case d.IsNegative():
			f.Add(field, "must not be negative")
		case -d.Exponent() > int32(c.Exponent)+4:
			f.Add(field, fmt.Sprintf("at most %d decimals", c.Exponent+4))
		case d.GreaterThan(decimal.NewFromInt(1_000_000)):
			f.Add(field, "must be at most 1000000")
		}
	}
	norm := map[string][]string{}
	for name, syms := range r.Groups {
		field := "groups." + name
		if strings.TrimSpace(name) == "" || len(name) > 64 || validation.Name(name) != "" {
			f.Add("groups", "a group's name is 1 to 64 characters")
		}
		if len(syms) == 0 {
			f.Add(field, "a group has at least one symbol")
		}
		for _, s := range syms {
			u := strings.ToUpper(strings.TrimSpace(s))
			if u == "" || len(u) > 32 || validation.Name(u) != "" {
				f.Add(field, "symbols are 1 to 32 characters")
				continue
			}
			norm[name] = append(norm[name], u)
		}
	}
	r.Groups = norm
	seen := map[string]bool{}
	for i := range r.Lines {
		l := &r.Lines[i]
		field := "lines." + strconv.Itoa(i)
		l.Symbol = strings.ToUpper(strings.TrimSpace(l.Symbol))
		l.Group = strings.TrimSpace(l.Group)
		if validation.Name(l.Symbol) != "" || validation.Name(l.Group) != "" || len(l.Symbol) > 32 {
			f.Add(field, "a symbol or group is one line of visible text, a symbol at most 32 characters")
		}
		key := "default"
		switch {
		case l.Symbol != "" && l.Group != "":
			f.Add(field, "a line names a symbol or a group, not both")
		case l.Symbol != "":
			key = "symbol " + l.Symbol
		case l.Group != "":
			key = "group " + l.Group
			if _, ok := r.Groups[l.Group]; !ok {
				f.Add(field+".group", "no group has this name")
			}
		}
		if seen[key] {
			f.Add(field, "another line already pays the "+key)
		}
		seen[key] = true
		if len(l.PerLot) == 0 || len(l.PerLot) > MaxLevels {
			f.Add(field+".per_lot", fmt.Sprintf("1 to %d amounts, level 1 first", MaxLevels))
		}
		for j, d := range l.PerLot {
			exact(field+".per_lot."+strconv.Itoa(j), d)
		}
	}
	levels := map[int]bool{}
	for i, p := range r.PercentOfBelow {
		field := "percent_of_below." + strconv.Itoa(i)
		switch {
		case p.Level < 2 || p.Level > MaxLevels:
			f.Add(field+".level", fmt.Sprintf("a level from 2 to %d (level 1 has nothing below it)", MaxLevels))
		case levels[p.Level]:
			f.Add(field+".level", "this level already has a percent")
		}
		levels[p.Level] = true
		if p.Percent.IsNegative() || p.Percent.GreaterThan(decimal.NewFromInt(100)) {
			f.Add(field+".percent", "from 0 to 100")
		}
	}
	for _, slug := range r.ExcludedAccountTypes {
		if validation.Name(slug) != "" || len(slug) > 64 {
			f.Add("excluded_account_types", "account type slugs are one line of visible text")
		}
	}
	for slug, m := range r.LotModifiers {
		if validation.Name(slug) != "" || len(slug) > 64 {
			f.Add("lot_modifiers", "account type slugs are one line of visible text")
		}
		if !m.IsPositive() || m.GreaterThan(decimal.NewFromInt(100)) {
			f.Add("lot_modifiers."+slug, "a modifier above 0, at most 100")
		}
	}
	if r.CPA != nil {
		exact("cpa.amount", r.CPA.Amount)
		exact("cpa.min_deposit", r.CPA.MinDeposit)
	}
	return f.Err()
}

// Normalize is how a platform's symbol is matched: upper case, without what follows a '.' or '#' (XAUUSD.m,
// EURUSD#), then without one of the tenant's suffixes (EURUSDpro with the suffix "pro"), longest first, as long as
// three characters remain.
func Normalize(symbol string, suffixes []string) string {
	s := strings.ToUpper(strings.TrimSpace(symbol))
	if i := strings.IndexAny(s, ".#"); i > 0 {
		s = s[:i]
	}
	list := slices.Clone(suffixes)
	slices.SortFunc(list, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, x := range list {
		x = strings.ToUpper(strings.TrimSpace(x))
		if x != "" && len(s)-len(x) >= 3 && strings.HasSuffix(s, x) {
			return s[:len(s)-len(x)]
		}
	}
	return s
}

// Match is which line of a plan a symbol took: the line and how it matched.
type Match struct {
	Line       int    `json:"line"`
	Normalized string `json:"normalized"`
	// By is "symbol XAUUSD", "group Metals" or "default".
	By string `json:"by"`
}

// Match finds the line paying symbol: a line of the symbol as the platform wrote it, then of its normalised
// form, then a group holding the normalised form, then the default line. No line: ok is false (the deal is
// reported as unmatched, never skipped in silence).
func (r Rules) Match(symbol string, suffixes []string) (Match, bool) {
	raw := strings.ToUpper(strings.TrimSpace(symbol))
	n := Normalize(symbol, suffixes)
	for _, want := range []string{raw, n} {
		for i, l := range r.Lines {
			if l.Symbol != "" && l.Symbol == want {
				return Match{Line: i, Normalized: n, By: "symbol " + l.Symbol}, true
			}
		}
	}
	// Groups in a fixed order, so a symbol in two groups always takes the same line.
	for i, l := range r.Lines {
		if l.Group != "" && slices.Contains(r.Groups[l.Group], n) {
			return Match{Line: i, Normalized: n, By: "group " + l.Group}, true
		}
	}
	for i, l := range r.Lines {
		if l.Symbol == "" && l.Group == "" {
			return Match{Line: i, Normalized: n, By: "default"}, true
		}
	}
	return Match{Line: -1, Normalized: n}, false
}

// Reason says why a deal (or a level of it) paid nothing.
type Reason string

const (
	ReasonAccountUnknown   Reason = "account_unknown"          // the login is no CRM account: no client to attribute
	ReasonNotAttributed    Reason = "client_not_attributed"    // the client had no partner at the deal's time
	ReasonPartnerInactive  Reason = "partner_not_active"       // the partner was not active (applied, suspended, rejected)
	ReasonNoPlan           Reason = "partner_has_no_plan"      // the partner has no plan
	ReasonSymbolUnmatched  Reason = "symbol_unmatched"         // no line of the plan pays the symbol
	ReasonHeldTooBriefly   Reason = "held_too_briefly"         // the position was held less than the plan's minimum
	ReasonHoldUnknown      Reason = "hold_unknown"             // the plan has a minimum hold and the opening deal was not found
	ReasonTypeExcluded     Reason = "account_type_excluded"    // the plan excludes the account's type
	ReasonLevelNotPaid     Reason = "level_not_paid"           // the plan pays no amount at this level
	ReasonRoundsToZero     Reason = "rounds_to_zero"           // the amount is below the currency's smallest unit
	ReasonNotClosing       Reason = "deal_not_closing"         // the deal (as changed) no longer closes a position
	ReasonCancelled        Reason = "deal_cancelled"           // the platform cancelled the deal
	ReasonCurrencyMismatch Reason = "currency_mismatch"        // a percent of the level below paid in another currency
	ReasonBelowMinDeposit  Reason = "deposit_below_minimum"    // CPA: the first deposit was below the plan's minimum
	ReasonNoCPA            Reason = "plan_pays_no_cpa"         // CPA: the partner's plan has no CPA
	ReasonDepositCurrency  Reason = "deposit_currency_differs" // CPA: the deposit is not in the plan's currency
)

// Explain is what each reason means, in the words the back office shows.
var Explain = map[Reason]string{
	ReasonAccountUnknown:   "the trading account is not one the CRM opened, so no client and no partner",
	ReasonNotAttributed:    "the client was not attributed to a partner at the deal's time",
	ReasonPartnerInactive:  "the partner was not active",
	ReasonNoPlan:           "the partner has no commission plan",
	ReasonSymbolUnmatched:  "no line of the plan pays this symbol",
	ReasonHeldTooBriefly:   "the position was held less than the plan's minimum",
	ReasonHoldUnknown:      "the plan has a minimum hold and the position's opening deal was not found",
	ReasonTypeExcluded:     "the plan excludes the account's type",
	ReasonLevelNotPaid:     "the plan pays nothing at this level",
	ReasonRoundsToZero:     "the amount is less than the currency's smallest unit",
	ReasonNotClosing:       "the deal no longer closes a position",
	ReasonCancelled:        "the platform cancelled the deal",
	ReasonCurrencyMismatch: "the level below was paid in another currency",
	ReasonBelowMinDeposit:  "the first deposit was below the plan's minimum",
	ReasonNoCPA:            "the plan pays no CPA",
	ReasonDepositCurrency:  "the deposit is not in the plan's currency",
}

// Trade is what a plan needs to know of a closing deal.
type Trade struct {
	Symbol string
	Lots   decimal.Decimal
	// AccountType is the account type's slug ("" when unknown).
	AccountType string
	// HeldSeconds is how long the position was open; nil when its opening deal was not found.
	HeldSeconds *int64
}

// Explanation is what a commission row keeps of how it was computed.
type Explanation struct {
	Symbol      string `json:"symbol,omitempty"`
	Normalized  string `json:"normalized,omitempty"`
	MatchedBy   string `json:"matched_by,omitempty"`
	Line        *int   `json:"line,omitempty"`
	PerLot      string `json:"per_lot,omitempty"`
	Percent     string `json:"percent_of_below,omitempty"`
	Below       string `json:"below,omitempty"`
	Lots        string `json:"lots,omitempty"`
	Modifier    string `json:"lot_modifier,omitempty"`
	AccountType string `json:"account_type,omitempty"`
	Sides       int    `json:"sides,omitempty"`
	PayOn       PayOn  `json:"pay_on,omitempty"`
	HeldSeconds *int64 `json:"held_seconds,omitempty"`
	MinHold     int    `json:"min_hold_seconds,omitempty"`
	Exact       string `json:"exact,omitempty"`
	Amount      string `json:"amount,omitempty"`
	Reason      Reason `json:"reason,omitempty"`
	Says        string `json:"says,omitempty"`
	// Deposit, for CPA rows: the first deposit's amount.
	Deposit string `json:"deposit,omitempty"`
}

// Outcome is what one level of a deal pays under a plan: Amount in minor units of c, or nothing with a Reason.
type Outcome struct {
	Amount      int64
	Reason      Reason
	Explanation Explanation
}

func nothing(e Explanation, r Reason) Outcome {
	e.Reason, e.Says = r, Explain[r]
	return Outcome{Reason: r, Explanation: e}
}

// Pay computes what level (1 the client's own partner) earns on trade under r, in currency c. below is what the
// level below earned on the same deal (minor units of c; nil at level 1 or when it was in another currency).
// Amounts are exact until the end, then rounded to c's minor unit, half away from zero.
func (r Rules) Pay(c money.Currency, level int, tr Trade, below *int64, suffixes []string) Outcome {
	e := Explanation{Symbol: tr.Symbol, PayOn: r.PayOn, AccountType: tr.AccountType}
	if slices.Contains(r.ExcludedAccountTypes, tr.AccountType) && tr.AccountType != "" {
		return nothing(e, ReasonTypeExcluded)
	}
	if r.MinHoldSeconds > 0 {
		e.MinHold = r.MinHoldSeconds
		e.HeldSeconds = tr.HeldSeconds
		if tr.HeldSeconds == nil {
			return nothing(e, ReasonHoldUnknown)
		}
		if *tr.HeldSeconds < int64(r.MinHoldSeconds) {
			return nothing(e, ReasonHeldTooBriefly)
		}
	}
	var exact decimal.Decimal
	if pct, ok := r.percentAt(level); ok {
		// A percent of what the level below earned on the deal: that level's line already matched the symbol.
		e.Percent = pct.String()
		if below == nil {
			return nothing(e, ReasonCurrencyMismatch)
		}
		b := decimal.New(*below, -int32(c.Exponent))
		e.Below = b.StringFixed(int32(c.Exponent))
		exact = b.Mul(pct).Div(decimal.NewFromInt(100))
	} else {
		m, ok := r.Match(tr.Symbol, suffixes)
		e.Normalized = m.Normalized
		if !ok {
			return nothing(e, ReasonSymbolUnmatched)
		}
		line := m.Line
		e.MatchedBy, e.Line = m.By, &line
		per := r.Lines[line].PerLot
		if level < 1 || level > len(per) || per[level-1].IsZero() {
			return nothing(e, ReasonLevelNotPaid)
		}
		lots := tr.Lots.Abs()
		e.Lots = lots.String()
		if mod, ok := r.LotModifiers[tr.AccountType]; ok && tr.AccountType != "" {
			e.Modifier = mod.String()
			lots = lots.Mul(mod)
		}
		sides := 1
		if r.PayOn == PayOnBoth {
			sides = 2
		}
		e.Sides = sides
		e.PerLot = per[level-1].String()
		exact = lots.Mul(per[level-1]).Mul(decimal.NewFromInt(int64(sides)))
	}
	e.Exact = exact.String()
	amount := exact.Round(int32(c.Exponent)).Shift(int32(c.Exponent)).IntPart()
	if amount <= 0 {
		return nothing(e, ReasonRoundsToZero)
	}
	e.Amount = money.Format(amount, c)
	return Outcome{Amount: amount, Explanation: e}
}

func (r Rules) percentAt(level int) (decimal.Decimal, bool) {
	for _, p := range r.PercentOfBelow {
		if p.Level == level {
			return p.Percent, true
		}
	}
	return decimal.Decimal{}, false
}

// PayCPA computes the CPA a plan pays on a first deposit of deposit minor units in currency dc.
func (r Rules) PayCPA(c money.Currency, deposit int64, dc money.Currency) Outcome {
	e := Explanation{Deposit: money.Format(deposit, dc) + " " + dc.Code}
	switch {
	case r.CPA == nil || r.CPA.Amount.IsZero():
		return nothing(e, ReasonNoCPA)
	case dc != c:
		return nothing(e, ReasonDepositCurrency)
	case decimal.New(deposit, -int32(dc.Exponent)).LessThan(r.CPA.MinDeposit):
		return nothing(e, ReasonBelowMinDeposit)
	}
	e.Exact = r.CPA.Amount.String()
	amount := r.CPA.Amount.Round(int32(c.Exponent)).Shift(int32(c.Exponent)).IntPart()
	if amount <= 0 {
		return nothing(e, ReasonRoundsToZero)
	}
	e.Amount = money.Format(amount, c)
	return Outcome{Amount: amount, Explanation: e}
}
