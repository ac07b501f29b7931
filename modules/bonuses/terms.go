package bonuses

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// Terms is what one version of a bonus rule grants and asks. Amounts are exact decimals in the rule's currency;
// the engine works in minor units of it.
type Terms struct {
	// Active: a paused rule is evaluated and explained ("rule paused") but grants nothing.
	Active bool `json:"active"`

	// Trigger conditions on a completed deposit; an empty condition accepts every deposit.
	// DepositNumber is which of the client's completed deposits qualifies (2: the second); 0 is any.
	DepositNumber int `json:"deposit_number,omitempty"`
	// MinDeposit and MaxDeposit bound the deposit's amount, inclusive; zero is no bound. The deposit must be in
	// the rule's currency.
	MinDeposit decimal.Decimal `json:"min_deposit"`
	MaxDeposit decimal.Decimal `json:"max_deposit"`
	// GatewayKinds are the payment gateways' kinds that qualify ("stripe", "generic"); none: every gateway.
	GatewayKinds []string `json:"gateway_kinds,omitempty"`
	// Tiers and Countries are the client's tier and ISO country that qualify; none: every one.
	Tiers     []string `json:"tiers,omitempty"`
	Countries []string `json:"countries,omitempty"`
	// PromoCode, when set, must be the code the client typed at deposit time (compared without case; payments keeps
	// it on the deposit and deposit.completed carries it).
	PromoCode string `json:"promo_code,omitempty"`
	// From and Until bound the campaign: deposits completed in [From, Until) qualify; nil is open.
	From  *time.Time `json:"from,omitempty"`
	Until *time.Time `json:"until,omitempty"`

	// Award: Percent of the deposit (50 is 50 %) up to Cap (zero: no cap), or a Fixed amount. Exactly one.
	Percent decimal.Decimal `json:"percent"`
	Cap     decimal.Decimal `json:"cap"`
	Fixed   decimal.Decimal `json:"fixed"`

	// LotsPerUnit is the turnover required per unit of bonus (0.5: a 100.00 USD bonus needs 50 lots). It is
	// required: a bonus without turnover would be a gift of withdrawable money.
	LotsPerUnit decimal.Decimal `json:"lots_per_unit"`
	// MinHoldSeconds: a deal whose position was held less counts no turnover (anti-scalping); 0 is off.
	MinHoldSeconds int64 `json:"min_hold_seconds,omitempty"`
	// ValidDays: an open bonus expires (is removed) that many days after it was granted.
	ValidDays int `json:"valid_days"`
	// MaxPerClient bounds how many bonuses of this rule one client gets; 0 is no bound.
	MaxPerClient int `json:"max_per_client,omitempty"`
	// MaxPerMonth bounds what one client is granted under this rule in a calendar month (UTC); a grant is cut to
	// what is left of it; zero is no bound.
	MaxPerMonth decimal.Decimal `json:"max_per_month"`

	// Forfeit is what a withdrawal from the wallet in the bonus's currency gives up of an open bonus: "full" (the
	// whole bonus, on any withdrawal; "" in versions made before the term) or "pro_rata" (the withdrawal's share of
	// the withdrawable balance): Forfeits, in forfeit.go.
	Forfeit string `json:"forfeit,omitempty"`

	// CreditTo is where the bonus goes: CreditToBonusBalance (the ledger's bonus balance; "" in versions made
	// before the term existed) or CreditToTradingAccount (credit on the client's trading account, credit.go).
	CreditTo string `json:"credit_to,omitempty"`
}

// Bounds of terms.
const (
	MaxValidDays      = 3650
	MaxMinHoldSeconds = 7 * 24 * 3600
)

// Validate checks terms for currency c, normalising lists, and returns every refused field at once.
func (r *Terms) Validate(c money.Currency) error {
	var f validation.Fields
	amount := func(field string, d decimal.Decimal) {
		switch {
		case d.IsNegative():
			f.Add(field, "must not be negative")
		case d.Exponent() < -int32(c.Exponent) && !d.Equal(d.Round(int32(c.Exponent))):
			f.Add(field, fmt.Sprintf("has more than %d decimals for %s", c.Exponent, c.Code))
		case d.GreaterThan(decimal.New(1, 12)):
			f.Add(field, "is too large")
		}
	}
	amount("min_deposit", r.MinDeposit)
	amount("max_deposit", r.MaxDeposit)
	amount("cap", r.Cap)
	amount("fixed", r.Fixed)
	amount("max_per_month", r.MaxPerMonth)
	if r.MaxDeposit.IsPositive() && r.MinDeposit.GreaterThan(r.MaxDeposit) {
		f.Add("max_deposit", "must be at least min_deposit")
	}
	f.Check(r.DepositNumber >= 0 && r.DepositNumber <= 1000, "deposit_number", "must be 0 (any) to 1000")
	switch {
	case r.Percent.IsPositive() == r.Fixed.IsPositive():
		f.Add("percent", "give either a percent of the deposit or a fixed amount")
	case r.Percent.IsNegative() || r.Percent.GreaterThan(decimal.NewFromInt(1000)):
		f.Add("percent", "must be more than 0 and at most 1000")
	case r.Percent.Exponent() < -4:
		f.Add("percent", "has more than 4 decimals")
	}
	if r.Fixed.IsPositive() && r.Cap.IsPositive() {
		f.Add("cap", "a fixed amount has no cap")
	}
	if !r.LotsPerUnit.IsPositive() || r.LotsPerUnit.GreaterThan(decimal.NewFromInt(100)) {
		f.Add("lots_per_unit", "must be more than 0 and at most 100 lots per unit of bonus")
	} else if r.LotsPerUnit.Exponent() < -4 {
		f.Add("lots_per_unit", "has more than 4 decimals")
	}
	f.Check(r.MinHoldSeconds >= 0 && r.MinHoldSeconds <= MaxMinHoldSeconds, "min_hold_seconds", "must be 0 (off) to 604800 (a week)")
	f.Check(r.ValidDays >= 1 && r.ValidDays <= MaxValidDays, "valid_days", "must be 1 to 3650 days")
	f.Check(r.MaxPerClient >= 0 && r.MaxPerClient <= 1000, "max_per_client", "must be 0 (no bound) to 1000")
	if msg, ok := r.validateForfeit(); !ok {
		f.Add("forfeit", msg)
	}
	switch r.CreditTo = strings.ToLower(strings.TrimSpace(r.CreditTo)); r.CreditTo {
	case "":
		r.CreditTo = CreditToBonusBalance
	case CreditToBonusBalance, CreditToTradingAccount:
	default:
		f.Add("credit_to", "bonus_balance or trading_account")
	}
	if r.From != nil && r.Until != nil && !r.From.Before(*r.Until) {
		f.Add("until", "must be after from")
	}
	r.PromoCode = strings.TrimSpace(r.PromoCode)
	if r.PromoCode != "" && (len(r.PromoCode) > 32 || validation.Name(r.PromoCode) != "" || strings.ContainsAny(r.PromoCode, " \t")) {
		f.Add("promo_code", "a promo code is 1 to 32 characters without spaces")
	}
	norm := func(field string, xs []string, upper bool, check func(string) bool) []string {
		var out []string
		for _, x := range xs {
			x = strings.TrimSpace(x)
			if upper {
				x = strings.ToUpper(x)
			} else {
				x = strings.ToLower(x)
			}
			if x == "" {
				continue
			}
			if !check(x) {
				f.Add(field, fmt.Sprintf("%q is not one", x))
				continue
			}
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
		return out
	}
	word := func(x string) bool { return len(x) <= 32 && validation.Name(x) == "" && !strings.ContainsAny(x, " \t") }
	r.GatewayKinds = norm("gateway_kinds", r.GatewayKinds, false, word)
	r.Tiers = norm("tiers", r.Tiers, false, word)
	r.Countries = norm("countries", r.Countries, true, func(x string) bool {
		return len(x) == 2 && x[0] >= 'A' && x[0] <= 'Z' && x[1] >= 'A' && x[1] <= 'Z'
	})
	return f.Err()
}

// Deposit is what a rule is evaluated on: a completed deposit and its client, as the engine read them.
type Deposit struct {
	Amount   int64 // minor units of Currency
	Currency money.Currency
	// Number is which of the client's completed deposits this is (1: the first).
	Number      int
	GatewayKind string
	PromoCode   string
	At          time.Time
	Tier        string
	Country     string
	// CreditAccount is the login of the trading account a rule with credit_to trading_account credits (the
	// engine's choice, credit.go); "" when the client has none.
	CreditAccount string
	// Granted is how many bonuses of the rule the client holds already (any status); GrantedThisMonth is what
	// they amount to in the deposit's calendar month (UTC), in minor units of the rule's currency.
	Granted          int
	GrantedThisMonth int64
}

// Reason says why a rule granted nothing; "" when it granted.
type Reason string

const (
	ReasonPaused         Reason = "paused"
	ReasonCurrency       Reason = "currency"
	ReasonDepositNumber  Reason = "deposit_number"
	ReasonTooSmall       Reason = "below_min_deposit"
	ReasonTooLarge       Reason = "above_max_deposit"
	ReasonGateway        Reason = "gateway"
	ReasonTier           Reason = "tier"
	ReasonCountry        Reason = "country"
	ReasonPromoCode      Reason = "promo_code"
	ReasonBeforeCampaign Reason = "before_campaign"
	ReasonAfterCampaign  Reason = "after_campaign"
	ReasonMaxPerClient   Reason = "max_per_client"
	ReasonMonthUsed      Reason = "max_per_month"
	ReasonZero           Reason = "zero_award"
	ReasonNoAccount      Reason = "no_trading_account"
)

// Explain is each reason as a person reads it.
var Explain = map[Reason]string{
	ReasonPaused:         "the rule is paused",
	ReasonCurrency:       "the deposit is not in the rule's currency",
	ReasonDepositNumber:  "the deposit is not the client's deposit number the rule asks for",
	ReasonTooSmall:       "the deposit is below the rule's minimum",
	ReasonTooLarge:       "the deposit is above the rule's maximum",
	ReasonGateway:        "the deposit came through a gateway the rule does not cover",
	ReasonTier:           "the client's tier is not one the rule covers",
	ReasonCountry:        "the client's country is not one the rule covers",
	ReasonPromoCode:      "the deposit does not carry the rule's promo code",
	ReasonBeforeCampaign: "the deposit came before the campaign started",
	ReasonAfterCampaign:  "the deposit came after the campaign ended",
	ReasonMaxPerClient:   "the client already has as many bonuses of this rule as it allows",
	ReasonMonthUsed:      "the client already reached the rule's monthly maximum",
	ReasonZero:           "the award rounds to nothing",
	ReasonNoAccount:      "the client has no live trading account in the rule's currency to credit",
}

// Decision is a rule's answer for a deposit: the amount granted (0 with a Reason when nothing), the turnover it
// asks and when it expires, and the sentence that explains it.
type Decision struct {
	Amount         int64           `json:"amount"`
	LotsRequired   decimal.Decimal `json:"lots_required"`
	MinHoldSeconds int64           `json:"min_hold_seconds"`
	ExpiresAt      time.Time       `json:"expires_at"`
	Reason         Reason          `json:"reason,omitempty"`
	Says           string          `json:"says"`
}

// dec2 reads a constant decimal of the code.
func dec2(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// minor is d in minor units of c (d has at most c's decimals: Validate checked).
func minor(d decimal.Decimal, c money.Currency) int64 {
	return d.Shift(int32(c.Exponent)).IntPart()
}

// Evaluate is the rule's whole decision for a deposit: pure, so every condition and the award's arithmetic are
// table-tested. Percent awards round down to the minor unit (a client is never granted a fraction the rule did
// not give); turnover rounds up to the hundredth of a lot.
func (r Terms) Evaluate(c money.Currency, d Deposit) Decision {
	no := func(why Reason) Decision { return Decision{Reason: why, Says: "No bonus: " + Explain[why] + "."} }
	switch {
	case !r.Active:
		return no(ReasonPaused)
	case d.Currency.Code != c.Code:
		return no(ReasonCurrency)
	case r.DepositNumber > 0 && d.Number != r.DepositNumber:
		return no(ReasonDepositNumber)
	case r.MinDeposit.IsPositive() && d.Amount < minor(r.MinDeposit, c):
		return no(ReasonTooSmall)
	case r.MaxDeposit.IsPositive() && d.Amount > minor(r.MaxDeposit, c):
		return no(ReasonTooLarge)
	case len(r.GatewayKinds) > 0 && !slices.Contains(r.GatewayKinds, strings.ToLower(d.GatewayKind)):
		return no(ReasonGateway)
	case len(r.Tiers) > 0 && !slices.Contains(r.Tiers, strings.ToLower(d.Tier)):
		return no(ReasonTier)
	case len(r.Countries) > 0 && !slices.Contains(r.Countries, strings.ToUpper(d.Country)):
		return no(ReasonCountry)
	case r.PromoCode != "" && !strings.EqualFold(r.PromoCode, strings.TrimSpace(d.PromoCode)):
		return no(ReasonPromoCode)
	case r.From != nil && d.At.Before(*r.From):
		return no(ReasonBeforeCampaign)
	case r.Until != nil && !d.At.Before(*r.Until):
		return no(ReasonAfterCampaign)
	case r.MaxPerClient > 0 && d.Granted >= r.MaxPerClient:
		return no(ReasonMaxPerClient)
	case r.CreditTo == CreditToTradingAccount && d.CreditAccount == "":
		out := no(ReasonNoAccount)
		out.Says = "No bonus: there is no trading account in " + c.Code + " (" + Explain[ReasonNoAccount] + ")."
		return out
	}
	var amt int64
	var how string
	if r.Fixed.IsPositive() {
		amt, how = minor(r.Fixed, c), "a fixed "+money.Format(minor(r.Fixed, c), c)+" "+c.Code
	} else {
		amt = decimal.NewFromInt(d.Amount).Mul(r.Percent).Div(decimal.NewFromInt(100)).Floor().IntPart()
		how = r.Percent.String() + "% of " + money.Format(d.Amount, c) + " " + c.Code
		if r.Cap.IsPositive() && amt > minor(r.Cap, c) {
			amt, how = minor(r.Cap, c), how+", capped at "+money.Format(minor(r.Cap, c), c)
		}
	}
	if r.MaxPerMonth.IsPositive() {
		left := minor(r.MaxPerMonth, c) - d.GrantedThisMonth
		if left <= 0 {
			return no(ReasonMonthUsed)
		}
		if amt > left {
			amt, how = left, how+", cut to the "+money.Format(left, c)+" left of the monthly maximum"
		}
	}
	if amt <= 0 {
		return no(ReasonZero)
	}
	lots := lotsFor(amt, c, r.LotsPerUnit)
	if r.CreditTo == CreditToTradingAccount {
		how += ", credited on trading account " + d.CreditAccount
	}
	exp := d.At.UTC().AddDate(0, 0, r.ValidDays)
	return Decision{Amount: amt, LotsRequired: lots, MinHoldSeconds: r.MinHoldSeconds, ExpiresAt: exp,
		Says: fmt.Sprintf("Bonus of %s %s (%s); released after %s lots of turnover, expires %s.", money.Format(amt, c), c.Code, how,
			lots.StringFixed(2), exp.Format("2 Jan 2006"))}
}
