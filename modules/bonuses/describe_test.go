package bonuses

import (
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

// What a rule does and why a deposit got nothing, in the words the pages show.
func TestRulesAndDecisionsReadAsSentences(t *testing.T) {
	from, until := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	with := func(f func(*Terms)) Terms { r := secondDeposit(); f(&r); return r }
	for _, tc := range []struct {
		name                               string
		r                                  Terms
		describe, trigger, award, turnover string
	}{
		{"the demo rule", DemoTerms(),
			"50% of the 2nd deposit up to 500.00 USD, released after 0.5 lots per USD of bonus (positions held 1 min or more), expires after 60 days, once per client.",
			"the 2nd deposit in USD", "50% up to 500.00 USD, once per client", "0.5 lots per USD, positions held 1 min or more, expires after 60 days"},
		{"a fixed award on any deposit in a range, through a gateway, for a tier and countries, in a campaign, paused",
			with(func(r *Terms) {
				r.Active, r.DepositNumber, r.Percent, r.Cap, r.Fixed = false, 0, dec("0"), dec("0"), dec("25")
				r.MinDeposit, r.MaxDeposit, r.GatewayKinds, r.Tiers, r.Countries = dec("100"), dec("1000"), []string{"stripe"}, []string{"gold"}, []string{"DE", "FR"}
				r.From, r.Until, r.MaxPerClient, r.MaxPerMonth, r.ValidDays, r.MinHoldSeconds = &from, &until, 3, dec("50"), 1, 7200
			}),
			"Paused (grants nothing): 25.00 USD on any deposit of 100.00 USD to 1,000.00 USD, through stripe, for tier gold, for clients in DE, FR, from 1 Mar 2026 00:00 UTC until 1 Apr 2026 00:00 UTC, released after 0.5 lots per USD of bonus (positions held 2 h or more), expires after 1 day, at most 3 per client, at most 50.00 USD a month.",
			"any deposit of 100.00 USD to 1,000.00 USD, through stripe, for tier gold, for clients in DE, FR, from 1 Mar 2026 00:00 UTC until 1 Apr 2026 00:00 UTC",
			"25.00 USD, at most 3 per client, at most 50.00 USD a month", "0.5 lots per USD, positions held 2 h or more, expires after 1 day"},
		{"the 11th deposit, no cap", with(func(r *Terms) { r.DepositNumber, r.Cap = 11, dec("0") }),
			"50% of the 11th deposit in USD, released after 0.5 lots per USD of bonus, expires after 60 days.", "the 11th deposit in USD", "50%",
			"0.5 lots per USD, expires after 60 days"},
	} {
		if got := tc.r.Describe(usd); got != tc.describe {
			t.Errorf("%s: Describe\n got %q\nwant %q", tc.name, got, tc.describe)
		}
		if got := tc.r.TriggerWords(usd); got != tc.trigger {
			t.Errorf("%s: TriggerWords %q, want %q", tc.name, got, tc.trigger)
		}
		if got := tc.r.AwardWords(usd); got != tc.award {
			t.Errorf("%s: AwardWords %q, want %q", tc.name, got, tc.award)
		}
		if got := tc.r.TurnoverWords(usd); got != tc.turnover {
			t.Errorf("%s: TurnoverWords %q, want %q", tc.name, got, tc.turnover)
		}
	}
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 13: "13th", 21: "21st", 22: "22nd", 103: "103rd", 112: "112th"} {
		if got := web.Ordinal(n); got != want {
			t.Errorf("Ordinal(%d) = %q, want %q", n, got, want)
		}
	}

	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	base := Deposit{Amount: 40000, Currency: usd, Number: 2, GatewayKind: "stripe", At: at, Tier: "standard", Country: "GB"}
	for _, tc := range []struct {
		r    Terms
		d    func(*Deposit)
		want string
	}{
		{secondDeposit(), func(d *Deposit) { d.Number = 1 },
			"No bonus: the deposit is not the client's deposit number the rule asks for (it was the client's 1st deposit; the rule takes the 2nd)."},
		{with(func(r *Terms) { r.MinDeposit = dec("500") }), func(*Deposit) {},
			"No bonus: the deposit is below the rule's minimum (400.00 USD; the minimum is 500.00 USD)."},
		{with(func(r *Terms) { r.Tiers = []string{"gold", "vip"} }), func(*Deposit) {},
			"No bonus: the client's tier is not one the rule covers (the client's tier is standard; the rule takes gold or vip)."},
		{with(func(r *Terms) { r.Until = &from }), func(*Deposit) {},
			"No bonus: the deposit came after the campaign ended (the deposit came 10 Mar 2026 12:00 UTC; the campaign runs until 1 Mar 2026 00:00 UTC)."},
		{with(func(r *Terms) { r.MaxPerClient = 1 }), func(d *Deposit) { d.Granted = 1 },
			"No bonus: the client already has as many bonuses of this rule as it allows (the client had 1; the rule gives at most 1)."},
		{secondDeposit(), func(*Deposit) {}, "Bonus of 200.00 USD (50% of 400.00 USD); released after 100.00 lots of turnover, expires 9 May 2026."},
	} {
		d := base
		tc.d(&d)
		dec := tc.r.Evaluate(usd, d)
		e := Evaluation{Granted: dec.Reason == "", Reason: dec.Reason, Explanation: Explanation{Rule: "R", Version: 1, Terms: tc.r, Decision: dec,
			Deposit: inputs{Amount: "400.00", Currency: "USD", Number: d.Number, GatewayKind: d.GatewayKind, At: d.At, Tier: d.Tier, Country: d.Country,
				Granted: d.Granted}}}
		if got := WhyWords(e); got != tc.want {
			t.Errorf("WhyWords\n got %q\nwant %q", got, tc.want)
		}
	}
}
