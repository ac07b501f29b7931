package partners

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The plan editor's preview is the engine's computation: for each deal of the table, delivered to the engine, the
// preview of the same deal (level-1 partner, time, symbol, lots, account type, hold) has the rows the engine wrote,
// level by level: partner, plan version, amount or reason, and the explanation word for word. A draft replaces its
// plan's version for the partners on it only.
func TestThePreviewOfADealIsWhatTheEngineWroteForIt(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	guard := testRules() // CHARLIE: a minimum hold, cent accounts at a hundredth, demo accounts excluded
	guard.MinHoldSeconds = 120
	guard.LotModifiers = map[string]decimal.Decimal{"cent": decimal.RequireFromString("0.01")}
	guard.ExcludedAccountTypes = []string{"demo"}
	pct := testRules() // BRAVO: a quarter of what CHARLIE earned
	pct.PercentOfBelow = []LevelPercent{{Level: 2, Percent: decimal.RequireFromString("25")}}
	guardPlan, pctPlan := tr.world.plan(t, "Guarded", guard), tr.world.plan(t, "Percent", pct)
	if err := tr.svc.SetPlan(ctx, tr.ten, staffer, tr.charlie, guardPlan.ID); err != nil {
		t.Fatal(err)
	}
	if err := tr.svc.SetPlan(ctx, tr.ten, staffer, tr.bravo, pctPlan.ID); err != nil {
		t.Fatal(err)
	}
	held := func(s int64) *int64 { return &s }
	at := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Microsecond)
	for i, tc := range []struct {
		name, symbol, lots, accountType string
		held                            *int64
	}{
		{"a symbol's own line, then a percent, then a level the line does not pay", "EURUSD", "1", "standard", held(600)},
		{"a group with a suffix on a cent account", "XAUUSD.m", "2", "cent", held(600)},
		{"held too briefly at level 1, a percent of nothing at level 2", "GBPJPY", "1", "standard", held(30)},
		{"the opening deal not found", "GBPJPY", "1.5", "standard", nil},
		{"an excluded account type", "USDJPY", "3", "demo", held(900)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ticket := strconv.Itoa(9500 + i)
			acct := tr.account(tr.dora, "5100"+strconv.Itoa(i))
			deal := closing(ticket, tc.symbol, tc.lots, at.Add(time.Duration(i)*time.Second))
			tr.trades.mu.Lock()
			tr.trades.types[*acct.AccountID] = tc.accountType
			if tc.held != nil {
				tr.trades.opened[deal.PositionID] = deal.Time.Add(-time.Duration(*tc.held) * time.Second)
			}
			tr.trades.mu.Unlock()
			tr.closed(t, acct, deal, time.Now())
			rows := tr.rows(t, CommissionFilter{Ticket: ticket})
			levels, err := tr.svc.Preview(ctx, tr.ten, PreviewInput{Partner: tr.charlie, At: deal.Time,
				Trade: Trade{Symbol: tc.symbol, Lots: decimal.RequireFromString(tc.lots), AccountType: tc.accountType, HeldSeconds: tc.held}})
			if err != nil {
				t.Fatal(err)
			}
			if len(levels) != len(rows) || len(rows) != 3 {
				t.Fatalf("%d levels previewed, %d rows written", len(levels), len(rows))
			}
			for j, r := range rows {
				l := levels[j]
				version := 0
				if l.Plan != nil {
					version = l.Plan.Version
				}
				we, _ := json.Marshal(r.Explanation)
				pe, _ := json.Marshal(l.Outcome.Explanation)
				if l.Level != r.Level || l.Partner != *r.PartnerID || l.Outcome.Amount != r.Amount || l.Outcome.Reason != r.Reason ||
					version != r.PlanVersion || string(we) != string(pe) || l.Draft {
					t.Errorf("level %d: previewed %+v %s, the engine wrote %+v %s", r.Level, l, pe, r, we)
				}
			}
		})
	}

	// The editor's recent deals are those deals, newest first, with what the engine knew: CHARLIE's plan needed the
	// account type and the hold, so its rows kept them.
	recent, err := tr.svc.RecentDeals(ctx, tr.ten, &guardPlan.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 3 || recent[0].Ticket != "9504" || recent[0].Trade.AccountType != "demo" || recent[0].Partner != tr.charlie ||
		recent[1].Ticket != "9503" || recent[1].Trade.HeldSeconds != nil || recent[2].Trade.HeldSeconds == nil || *recent[2].Trade.HeldSeconds != 30 {
		t.Errorf("recent deals: %+v", recent)
	}

	// A draft of the standard plan (ATLAS's) pays 9 a lot by default: only ATLAS's level changes.
	draft := testRules()
	draft.Lines[2].PerLot = per("9", "9", "9")
	std := tr.plan
	std.Rules, std.Version = draft, 0
	levels, err := tr.svc.Preview(ctx, tr.ten, PreviewInput{Partner: tr.charlie, At: time.Now(), Draft: &std,
		Trade: Trade{Symbol: "GBPJPY", Lots: decimal.NewFromInt(1), AccountType: "standard", HeldSeconds: held(600)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 3 || levels[0].Outcome.Amount != 700 || levels[1].Outcome.Amount != 175 || levels[2].Outcome.Amount != 900 ||
		levels[0].Draft || levels[1].Draft || !levels[2].Draft {
		t.Errorf("a draft of ATLAS's plan: %+v", levels)
	}
	if got, want := PreviewSays(levels), "this deal would pay Charlie Trading Club 7.00 USD, Bravo Introducers 1.75 USD and Atlas Partners 9.00 USD"; got != want {
		t.Errorf("says %q, want %q", got, want)
	}
}
