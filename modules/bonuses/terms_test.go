package bonuses

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
)

var usd = money.MustLookup("USD")

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// secondDeposit is the seed's rule: 50 % of the 2nd deposit up to 500.00 USD, 0.5 lots per dollar, 60 days.
func secondDeposit() Terms {
	return Terms{Active: true, DepositNumber: 2, Percent: dec("50"), Cap: dec("500"), LotsPerUnit: dec("0.5"), ValidDays: 60}
}

func TestEvaluateConditions(t *testing.T) {
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	from, until := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	base := Deposit{Amount: 40000, Currency: usd, Number: 2, GatewayKind: "stripe", At: at, Tier: "standard", Country: "GB"}
	with := func(f func(*Terms)) Terms { r := secondDeposit(); f(&r); return r }
	dep := func(f func(*Deposit)) Deposit { d := base; f(&d); return d }
	for _, tc := range []struct {
		name string
		r    Terms
		d    Deposit
		want Reason
	}{
		{"the 2nd deposit earns it", secondDeposit(), base, ""},
		{"the 1st deposit does not", secondDeposit(), dep(func(d *Deposit) { d.Number = 1 }), ReasonDepositNumber},
		{"the 3rd deposit does not", secondDeposit(), dep(func(d *Deposit) { d.Number = 3 }), ReasonDepositNumber},
		{"any deposit when no ordinal is set", with(func(r *Terms) { r.DepositNumber = 0 }), dep(func(d *Deposit) { d.Number = 7 }), ""},
		{"a paused rule grants nothing", with(func(r *Terms) { r.Active = false }), base, ReasonPaused},
		{"another currency", secondDeposit(), dep(func(d *Deposit) { d.Currency = money.MustLookup("EUR") }), ReasonCurrency},
		{"below the minimum", with(func(r *Terms) { r.MinDeposit = dec("400.01") }), base, ReasonTooSmall},
		{"at the minimum", with(func(r *Terms) { r.MinDeposit = dec("400") }), base, ""},
		{"above the maximum", with(func(r *Terms) { r.MaxDeposit = dec("399.99") }), base, ReasonTooLarge},
		{"at the maximum", with(func(r *Terms) { r.MaxDeposit = dec("400.00") }), base, ""},
		{"a gateway not covered", with(func(r *Terms) { r.GatewayKinds = []string{"generic"} }), base, ReasonGateway},
		{"a gateway covered", with(func(r *Terms) { r.GatewayKinds = []string{"generic", "stripe"} }), base, ""},
		{"a tier not covered", with(func(r *Terms) { r.Tiers = []string{"vip"} }), base, ReasonTier},
		{"a tier covered", with(func(r *Terms) { r.Tiers = []string{"standard"} }), base, ""},
		{"a country not covered", with(func(r *Terms) { r.Countries = []string{"DE", "FR"} }), base, ReasonCountry},
		{"a country covered", with(func(r *Terms) { r.Countries = []string{"GB"} }), base, ""},
		{"no promo code typed", with(func(r *Terms) { r.PromoCode = "SPRING50" }), base, ReasonPromoCode},
		{"another promo code", with(func(r *Terms) { r.PromoCode = "SPRING50" }), dep(func(d *Deposit) { d.PromoCode = "SUMMER" }), ReasonPromoCode},
		{"the promo code, any case", with(func(r *Terms) { r.PromoCode = "SPRING50" }), dep(func(d *Deposit) { d.PromoCode = " spring50 " }), ""},
		{"before the campaign", with(func(r *Terms) { r.From = &until }), base, ReasonBeforeCampaign},
		{"in the campaign", with(func(r *Terms) { r.From, r.Until = &from, &until }), base, ""},
		{"at the campaign's first instant", with(func(r *Terms) { r.From = &at }), base, ""},
		{"at the campaign's end (exclusive)", with(func(r *Terms) { r.Until = &at }), base, ReasonAfterCampaign},
		{"after the campaign", with(func(r *Terms) { r.Until = &from }), base, ReasonAfterCampaign},
		{"the client holds the maximum already", with(func(r *Terms) { r.MaxPerClient = 1 }), dep(func(d *Deposit) { d.Granted = 1 }), ReasonMaxPerClient},
		{"below the maximum per client", with(func(r *Terms) { r.MaxPerClient = 2 }), dep(func(d *Deposit) { d.Granted = 1 }), ""},
		{"the month's maximum used", with(func(r *Terms) { r.MaxPerMonth = dec("1000") }), dep(func(d *Deposit) { d.GrantedThisMonth = 100000 }), ReasonMonthUsed},
		{"a percent that rounds to nothing", secondDeposit(), dep(func(d *Deposit) { d.Amount = 1 }), ReasonZero},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.Evaluate(usd, tc.d)
			if got.Reason != tc.want {
				t.Fatalf("reason %q, want %q (%s)", got.Reason, tc.want, got.Says)
			}
			if (got.Amount > 0) != (tc.want == "") {
				t.Fatalf("amount %d with reason %q", got.Amount, got.Reason)
			}
			if tc.want != "" && !strings.Contains(got.Says, Explain[tc.want]) {
				t.Fatalf("says %q", got.Says)
			}
		})
	}
}

func TestEvaluateAwardMathsIsExactInMinorUnits(t *testing.T) {
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	jpy := money.MustLookup("JPY")
	for _, tc := range []struct {
		name      string
		r         Terms
		c         money.Currency
		amount    int64
		thisMonth int64
		want      int64
		lots      string
	}{
		{"50% of 400.00", secondDeposit(), usd, 40000, 0, 20000, "100.00"},
		{"50% capped at 500.00", secondDeposit(), usd, 250000, 0, 50000, "250.00"},
		{"50% of 0.03 rounds down to 0.01", secondDeposit(), usd, 3, 0, 1, "0.01"},
		{"33.3333% of 100.00 rounds down", Terms{Active: true, Percent: dec("33.3333"), LotsPerUnit: dec("1"), ValidDays: 30}, usd, 10000, 0, 3333, "33.33"},
		{"turnover rounds up to a hundredth of a lot", Terms{Active: true, Percent: dec("10"), LotsPerUnit: dec("0.333"), ValidDays: 30}, usd, 10000, 0, 1000, "3.33"},
		{"turnover 0.335 lots rounds up", Terms{Active: true, Fixed: dec("1.01"), LotsPerUnit: dec("0.3317"), ValidDays: 30}, usd, 500, 0, 101, "0.34"},
		{"a fixed amount", Terms{Active: true, Fixed: dec("25.50"), LotsPerUnit: dec("2"), ValidDays: 30}, usd, 1000000, 0, 2550, "51.00"},
		{"cut to what is left of the month", Terms{Active: true, Percent: dec("100"), MaxPerMonth: dec("10000"), LotsPerUnit: dec("0.5"), ValidDays: 30}, usd, 500000, 800000, 200000, "1000.00"},
		{"a currency without decimals", Terms{Active: true, Percent: dec("50"), Cap: dec("50000"), LotsPerUnit: dec("0.005"), ValidDays: 30}, jpy, 123457, 0, 50000, "250.00"},
		{"a currency without decimals, uncapped", Terms{Active: true, Percent: dec("50"), LotsPerUnit: dec("0.005"), ValidDays: 30}, jpy, 12345, 0, 6172, "30.86"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.Evaluate(tc.c, Deposit{Amount: tc.amount, Currency: tc.c, Number: 2, At: at, GrantedThisMonth: tc.thisMonth})
			if got.Reason != "" || got.Amount != tc.want {
				t.Fatalf("amount %d (%s), want %d", got.Amount, got.Says, tc.want)
			}
			if got.LotsRequired.StringFixed(2) != tc.lots {
				t.Fatalf("lots %s, want %s", got.LotsRequired, tc.lots)
			}
			if want := at.AddDate(0, 0, tc.r.ValidDays); !got.ExpiresAt.Equal(want) {
				t.Fatalf("expires %s, want %s", got.ExpiresAt, want)
			}
		})
	}
}

func TestTermsValidateNamesEachRefusedField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		f     func(*Terms)
		field string
	}{
		{"neither percent nor fixed", func(r *Terms) { r.Percent = decimal.Zero }, "percent"},
		{"both percent and fixed", func(r *Terms) { r.Fixed = dec("10") }, "percent"},
		{"a negative percent", func(r *Terms) { r.Percent = dec("-5") }, "percent"},
		{"a cap with three decimals", func(r *Terms) { r.Cap = dec("1.005") }, "cap"},
		{"no turnover", func(r *Terms) { r.LotsPerUnit = decimal.Zero }, "lots_per_unit"},
		{"no validity", func(r *Terms) { r.ValidDays = 0 }, "valid_days"},
		{"a hold over a week", func(r *Terms) { r.MinHoldSeconds = MaxMinHoldSeconds + 1 }, "min_hold_seconds"},
		{"min above max", func(r *Terms) { r.MinDeposit, r.MaxDeposit = dec("100"), dec("50") }, "max_deposit"},
		{"a country that is not one", func(r *Terms) { r.Countries = []string{"GBR"} }, "countries"},
		{"a campaign that ends before it starts", func(r *Terms) {
			a, b := time.Now(), time.Now().Add(-time.Hour)
			r.From, r.Until = &a, &b
		}, "until"},
		{"a promo code with a space", func(r *Terms) { r.PromoCode = "SPRING 50" }, "promo_code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := secondDeposit()
			tc.f(&r)
			err := r.Validate(usd)
			ve, ok := validation.As(err)
			if !ok || ve.Message(tc.field) == "" {
				t.Fatalf("want a problem with %s, got %v", tc.field, err)
			}
		})
	}
	r := secondDeposit()
	r.Countries, r.Tiers = []string{" gb", "GB", ""}, []string{"VIP"}
	if err := r.Validate(usd); err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Countries, ",") != "GB" || r.Tiers[0] != "vip" {
		t.Fatalf("not normalised: %v %v", r.Countries, r.Tiers)
	}
}

// credit_to: a bonus balance by default (versions made before the term read "" and are normalised), or credit on
// the client's trading account, which needs one in the rule's currency.
func TestCreditToIsValidatedAndNeedsATradingAccount(t *testing.T) {
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		creditTo string
		want     string // the normalised term; "" when refused
		problem  bool
	}{
		{"absent is the bonus balance", "", CreditToBonusBalance, false},
		{"the bonus balance", "bonus_balance", CreditToBonusBalance, false},
		{"a trading account, any case", " Trading_Account ", CreditToTradingAccount, false},
		{"anything else", "wallet", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := secondDeposit()
			r.CreditTo = tc.creditTo
			err := r.Validate(usd)
			if tc.problem {
				if ve, ok := validation.As(err); !ok || ve.Message("credit_to") == "" {
					t.Fatalf("want a problem with credit_to, got %v", err)
				}
				return
			}
			if err != nil || r.CreditTo != tc.want {
				t.Fatalf("%q: %v", r.CreditTo, err)
			}
		})
	}
	base := Deposit{Amount: 40000, Currency: usd, Number: 2, At: at}
	for _, tc := range []struct {
		name     string
		creditTo string
		account  string
		want     Reason
		says     string
	}{
		{"a bonus balance needs no account", CreditToBonusBalance, "", "", "Bonus of 200.00 USD (50% of 400.00 USD);"},
		{"credit on the client's account", CreditToTradingAccount, "700001", "", "credited on trading account 700001"},
		{"no account in the rule's currency", CreditToTradingAccount, "", ReasonNoAccount, "No bonus: there is no trading account in USD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := secondDeposit()
			r.CreditTo = tc.creditTo
			d := base
			d.CreditAccount = tc.account
			got := r.Evaluate(usd, d)
			if got.Reason != tc.want || !strings.Contains(got.Says, tc.says) || (tc.want == "") != (got.Amount == 20000) {
				t.Fatalf("%q %d %q", got.Reason, got.Amount, got.Says)
			}
		})
	}
}
