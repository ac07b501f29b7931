package bonuses

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
)

// What a rule's terms do, in words: the rules page's columns and the form's preview ("50% of the 2nd deposit up to
// 500.00 USD, released after 0.5 lots per USD of bonus, expires after 60 days").

func amountWords(d decimal.Decimal, c money.Currency) string {
	return money.Amount{Minor: minor(d, c), Currency: c}.String()
}

// depositWords is which deposit the rule takes: "the 2nd deposit", "any deposit".
func (r Terms) depositWords() string {
	if r.DepositNumber > 0 {
		return "the " + web.Ordinal(r.DepositNumber) + " deposit"
	}
	return "any deposit"
}

// TriggerWords are the deposits the rule takes, in words: "the 2nd deposit of 100.00 USD or more, through stripe,
// for tiers gold, from 1 Mar 2026 until 1 Apr 2026".
func (r Terms) TriggerWords(c money.Currency) string { return r.trigger(c, true) }

// trigger is TriggerWords; withCurrency says "in USD" when no amount bound names the currency.
func (r Terms) trigger(c money.Currency, withCurrency bool) string {
	s := r.depositWords()
	switch {
	case r.MinDeposit.IsPositive() && r.MaxDeposit.IsPositive():
		s += " of " + amountWords(r.MinDeposit, c) + " to " + amountWords(r.MaxDeposit, c)
	case r.MinDeposit.IsPositive():
		s += " of " + amountWords(r.MinDeposit, c) + " or more"
	case r.MaxDeposit.IsPositive():
		s += " of at most " + amountWords(r.MaxDeposit, c)
	case withCurrency:
		s += " in " + c.Code
	}
	var more []string
	if len(r.GatewayKinds) > 0 {
		more = append(more, "through "+strings.Join(r.GatewayKinds, " or "))
	}
	if len(r.Tiers) > 0 {
		more = append(more, "for tier "+strings.Join(r.Tiers, " or "))
	}
	if len(r.Countries) > 0 {
		more = append(more, "for clients in "+strings.Join(r.Countries, ", "))
	}
	if r.PromoCode != "" {
		more = append(more, "with the code "+r.PromoCode)
	}
	if w := r.campaignWords(); w != "" {
		more = append(more, w)
	}
	if len(more) > 0 {
		s += ", " + strings.Join(more, ", ")
	}
	return s
}

// campaignWords is the campaign's dates: "from 1 Mar 2026 00:00 UTC until 1 Apr 2026 00:00 UTC"; "" when open.
func (r Terms) campaignWords() string {
	day := func(t *time.Time) string { return t.UTC().Format("2 Jan 2006 15:04") + " UTC" }
	switch {
	case r.From != nil && r.Until != nil:
		return "from " + day(r.From) + " until " + day(r.Until)
	case r.From != nil:
		return "from " + day(r.From)
	case r.Until != nil:
		return "until " + day(r.Until)
	}
	return ""
}

// AwardWords is what the rule gives: "50% up to 500.00 USD", "100.00 USD", with the limits per client.
func (r Terms) AwardWords(c money.Currency) string {
	var s string
	if r.Fixed.IsPositive() {
		s = amountWords(r.Fixed, c)
	} else {
		s = r.Percent.String() + "%"
		if r.Cap.IsPositive() {
			s += " up to " + amountWords(r.Cap, c)
		}
	}
	switch {
	case r.MaxPerClient == 1:
		s += ", once per client"
	case r.MaxPerClient > 1:
		s += fmt.Sprintf(", at most %d per client", r.MaxPerClient)
	}
	if r.MaxPerMonth.IsPositive() {
		s += ", at most " + amountWords(r.MaxPerMonth, c) + " a month"
	}
	return s
}

// TurnoverWords is what releases the bonus and when it expires: "0.5 lots per USD, positions held 60 s or more,
// expires after 60 days".
func (r Terms) TurnoverWords(c money.Currency) string {
	s := r.LotsPerUnit.String() + " lots per " + c.Code
	if r.MinHoldSeconds > 0 {
		s += ", positions held " + holdWords(r.MinHoldSeconds) + " or more"
	}
	return s + ", expires after " + daysWords(r.ValidDays)
}

func holdWords(sec int64) string {
	d := time.Duration(sec) * time.Second
	switch {
	case sec%3600 == 0:
		return fmt.Sprintf("%d h", sec/3600)
	case sec%60 == 0:
		return fmt.Sprintf("%d min", sec/60)
	}
	return d.String()
}

func daysWords(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

// Describe is the rule in one sentence: "50% of the 2nd deposit up to 500.00 USD, released after 0.5 lots per USD
// of bonus, expires after 60 days, once per client."
func (r Terms) Describe(c money.Currency) string {
	var s string
	if r.Fixed.IsPositive() {
		s = amountWords(r.Fixed, c) + " on " + r.trigger(c, true)
	} else {
		s = r.Percent.String() + "% of " + r.trigger(c, !r.Cap.IsPositive())
		if r.Cap.IsPositive() {
			s += " up to " + amountWords(r.Cap, c)
		}
	}
	s += ", released after " + r.LotsPerUnit.String() + " lots per " + c.Code + " of bonus"
	if r.MinHoldSeconds > 0 {
		s += " (positions held " + holdWords(r.MinHoldSeconds) + " or more)"
	}
	s += ", expires after " + daysWords(r.ValidDays)
	switch {
	case r.MaxPerClient == 1:
		s += ", once per client"
	case r.MaxPerClient > 1:
		s += fmt.Sprintf(", at most %d per client", r.MaxPerClient)
	}
	if r.MaxPerMonth.IsPositive() {
		s += ", at most " + amountWords(r.MaxPerMonth, c) + " a month"
	}
	s += "."
	if !r.Active {
		s = "Paused (grants nothing): " + s
	}
	return s
}

var decimalHundred = decimal.NewFromInt(100)

// DepositWords is an evaluated deposit in words: "the 2nd deposit, 400.00 USD through stripe".
func DepositWords(d inputs) string {
	s := d.Amount + " " + d.Currency
	if d.Number > 0 {
		s = "the " + web.Ordinal(d.Number) + " deposit, " + s
	}
	if d.GatewayKind != "" {
		s += " through " + d.GatewayKind
	}
	return s
}

// WhyWords is a rule's decision on a deposit as a person reads it: the decision's sentence, and for a refusal the
// facts it was refused on ("No bonus: the deposit is below the rule's minimum (400.00 USD; the minimum is 500.00
// USD).").
func WhyWords(e Evaluation) string {
	says := e.Explanation.Decision.Says
	if e.Granted || e.Explanation.Rule == "" {
		return says
	}
	r, d := e.Explanation.Terms, e.Explanation.Deposit
	c, ok := money.Lookup(d.Currency)
	amt := func(x decimal.Decimal) string {
		if !ok {
			return x.String()
		}
		return amountWords(x, c)
	}
	var why string
	switch e.Reason {
	case ReasonDepositNumber:
		why = "it was the client's " + web.Ordinal(d.Number) + " deposit; the rule takes the " + web.Ordinal(r.DepositNumber)
	case ReasonTooSmall:
		why = d.Amount + " " + d.Currency + "; the minimum is " + amt(r.MinDeposit)
	case ReasonTooLarge:
		why = d.Amount + " " + d.Currency + "; the maximum is " + amt(r.MaxDeposit)
	case ReasonGateway:
		why = "it came through " + d.GatewayKind + "; the rule takes " + strings.Join(r.GatewayKinds, " or ")
	case ReasonTier:
		why = "the client's tier is " + d.Tier + "; the rule takes " + strings.Join(r.Tiers, " or ")
	case ReasonCountry:
		why = "the client's country is " + d.Country + "; the rule takes " + strings.Join(r.Countries, ", ")
	case ReasonBeforeCampaign, ReasonAfterCampaign:
		why = "the deposit came " + d.At.UTC().Format("2 Jan 2006 15:04") + " UTC; the campaign runs " + r.campaignWords()
	case ReasonMaxPerClient:
		why = fmt.Sprintf("the client had %d; the rule gives at most %d", d.Granted, r.MaxPerClient)
	case ReasonMonthUsed:
		why = "granted this month: " + d.GrantedThisMonth + "; the monthly maximum is " + amt(r.MaxPerMonth)
	case ReasonCurrency:
		why = "the deposit was in " + d.Currency
	}
	if why == "" {
		return says
	}
	return strings.TrimSuffix(says, ".") + " (" + why + ")."
}
