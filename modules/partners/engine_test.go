package partners

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// tree is ATLAS > BRAVO > CHARLIE, each on the 7/2/1 plan (metals 10/3/1), and a client of CHARLIE's registered
// an hour ago.
type tree struct {
	*world
	plan                  Plan
	atlas, bravo, charlie uuid.UUID
	dora                  uuid.UUID
	acct                  tradingdesk.DealAccount
	registered            time.Time
}

func threeLevels(t *testing.T) *tree {
	w := setup(t)
	tr := &tree{world: w, plan: w.plan(t, "Standard IB", testRules()), registered: time.Now().Add(-time.Hour).UTC()}
	tr.atlas = w.partner(t, "Atlas Partners", "IB-ATLAS", &tr.plan.ID, nil)
	tr.bravo = w.partner(t, "Bravo Introducers", "IB-BRAVO", &tr.plan.ID, &tr.atlas)
	tr.charlie = w.partner(t, "Charlie Trading Club", "IB-CHARLIE", &tr.plan.ID, &tr.bravo)
	tr.dora = w.client(t, "Dora")
	tr.acct = w.account(tr.dora, "500001")
	w.register(t, tr.dora, "ib-charlie", tr.registered) // codes compare without case
	return tr
}

func amounts(rows []Commission) map[uuid.UUID]int64 {
	out := map[uuid.UUID]int64{}
	for _, r := range rows {
		if r.PartnerID != nil {
			out[*r.PartnerID] += r.Amount
		}
	}
	return out
}

func TestADealPaysEveryLevelUpTheTreeOnceHoweverOftenItIsDelivered(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	at := time.Now().Add(-time.Minute)
	deal := closing("9001", "XAUUSD.m", "2", at)
	for range 3 { // redelivered and replayed: new event ids, the same deal
		tr.closed(t, tr.acct, deal, time.Now())
	}
	rows := tr.rows(t, CommissionFilter{Ticket: "9001"})
	if len(rows) != 3 {
		t.Fatalf("%d rows, want one per level: %+v", len(rows), rows)
	}
	want := map[uuid.UUID]int64{tr.charlie: 2000, tr.bravo: 600, tr.atlas: 200}
	for i, r := range rows {
		if r.Level != i+1 || r.Kind != KindPaid || r.Amount != want[*r.PartnerID] || r.PlanVersion != 1 || r.Currency != "USD" {
			t.Errorf("row %d: %+v", i, r)
		}
		e := r.Explanation
		if e.MatchedBy != "group Metals" || e.Normalized != "XAUUSD" || e.Lots != "2" || e.Amount == "" || r.Symbol != "XAUUSD.m" ||
			*r.ClientID != tr.dora || *r.AccountID != *tr.acct.AccountID {
			t.Errorf("row %d does not explain itself: %+v %+v", i, r, e)
		}
	}
	if n := tr.post(t); n != 3 {
		t.Errorf("posted %d rows, want 3", n)
	}
	if n := tr.post(t); n != 0 {
		t.Errorf("posted %d rows again", n)
	}
	for id, amount := range want {
		if got := tr.wallet(t, id); got != amount {
			t.Errorf("wallet %s holds %d, want %d", id, got, amount)
		}
	}
	if e, w, err := tr.svc.money(context.Background(), tr.ten, tr.charlie); err != nil || e["USD"] != 2000 || w["USD"] != 2000 {
		t.Errorf("CHARLIE earned %v, wallet %v (%v)", e, w, err)
	}
	report, err := tr.led.Verify(context.Background(), tr.ten)
	if err != nil || !report.OK() {
		t.Errorf("ledger verify: %+v %v", report, err)
	}
}

func TestAChangedThenCancelledDealReversesWhatItPaidWithNewRows(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	at := time.Now().Add(-time.Minute)
	deal := closing("9002", "GBPJPY", "2", at)
	t0 := time.Now()
	tr.closed(t, tr.acct, deal, t0)
	tr.post(t)
	smaller := deal
	smaller.Volume = decimal.RequireFromString("1")
	tr.changed(t, tr.acct, deal, &smaller, t0.Add(time.Second))
	rows := tr.rows(t, CommissionFilter{Ticket: "9002"})
	if got := amounts(rows); got[tr.charlie] != 700 || got[tr.bravo] != 200 || got[tr.atlas] != 100 {
		t.Errorf("after the change the deal pays %v, want 700/200/100", got)
	}
	reversals := 0
	for _, r := range rows {
		if r.Kind == KindReversal {
			reversals++
			if r.Reverses == nil || r.Generation != 1 || r.Explanation.Says == "" {
				t.Errorf("a reversal without its row or words: %+v", r)
			}
		}
	}
	if reversals != 3 {
		t.Errorf("%d reversals, want 3", reversals)
	}
	tr.post(t)
	tr.changed(t, tr.acct, smaller, nil, t0.Add(2*time.Second))
	rows = tr.rows(t, CommissionFilter{Ticket: "9002"})
	for id, sum := range amounts(rows) {
		if sum != 0 {
			t.Errorf("partner %s still earns %d on a cancelled deal", id, sum)
		}
	}
	last := rows[len(rows)-1]
	if last.Kind != KindNothing || last.Reason != ReasonCancelled || last.Generation != 2 {
		t.Errorf("the cancellation is not explained: %+v", last)
	}
	if len(rows) != 3+3+3+3+1 {
		t.Errorf("%d rows, want 13 (paid, reversed, paid again, reversed again, cancelled)", len(rows))
	}
	tr.post(t)
	for _, id := range []uuid.UUID{tr.atlas, tr.bravo, tr.charlie} {
		if got, want := tr.wallet(t, id), tr.earned(t, id); got != want || got != 0 {
			t.Errorf("wallet %d, rows %d", got, want)
		}
	}
	// Rows are never edited: the tenant's role has no UPDATE (migration 0036), and the trigger refuses one anyway.
	err := tr.p.Gate.Scope(context.Background(), tr.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE partner_commissions SET amount = 1 WHERE ticket = '9002'`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "permission denied for table partner_commissions") {
		t.Errorf("an UPDATE of a commission row: %v", err)
	}
}

func TestEventsOutOfOrderLeaveTheDealAsItIsNow(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	at := time.Now().Add(-time.Minute)
	deal := closing("9003", "GBPJPY", "2", at)
	bigger := deal
	bigger.Volume = decimal.RequireFromString("3")
	biggest := deal
	biggest.Volume = decimal.RequireFromString("4")
	t0 := time.Now()
	// The change is delivered first, then the deal's first announcement (retried late), then an older change.
	tr.changed(t, tr.acct, bigger, &biggest, t0.Add(2*time.Second))
	tr.closed(t, tr.acct, deal, t0)
	tr.changed(t, tr.acct, deal, &bigger, t0.Add(time.Second))
	got := amounts(tr.rows(t, CommissionFilter{Ticket: "9003"}))
	if got[tr.charlie] != 2800 || got[tr.bravo] != 800 || got[tr.atlas] != 400 {
		t.Errorf("the deal pays %v, want what 4 lots pay (2800/800/400)", got)
	}
	// A change to a deal that never closed a position (an opening deal) records nothing.
	opening := closing("9004", "GBPJPY", "1", at)
	opening.Entry = "in"
	tr.changed(t, tr.acct, opening, &opening, t0)
	if rows := tr.rows(t, CommissionFilter{Ticket: "9004"}); len(rows) != 0 {
		t.Errorf("an opening deal's change recorded %+v", rows)
	}
}

func TestATreeMoveTakesEffectFromItsDateAndLeavesEarlierDealsWhereTheyWereEarned(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	move := time.Now().Add(-10 * time.Minute)
	delta := tr.partner(t, "Delta Markets", "IB-DELTA", &tr.plan.ID, nil)
	// From move on, CHARLIE sits under DELTA, not BRAVO.
	if err := tr.svc.Move(ctx, tr.ten, staffer, tr.charlie, &delta, move, "Charlie joined Delta's network"); err != nil {
		t.Fatal(err)
	}
	before := closing("9010", "GBPJPY", "1", move.Add(-time.Minute))
	after := closing("9011", "GBPJPY", "1", move.Add(time.Minute))
	tr.closed(t, tr.acct, before, time.Now())
	tr.closed(t, tr.acct, after, time.Now())
	if got := amounts(tr.rows(t, CommissionFilter{Ticket: "9010"})); got[tr.bravo] != 200 || got[tr.atlas] != 100 || got[delta] != 0 {
		t.Errorf("the deal before the move pays %v, want BRAVO 200 and ATLAS 100", got)
	}
	if got := amounts(tr.rows(t, CommissionFilter{Ticket: "9011"})); got[delta] != 200 || got[tr.bravo] != 0 || got[tr.atlas] != 0 {
		t.Errorf("the deal after the move pays %v, want DELTA 200 alone above CHARLIE", got)
	}
	// A move that makes a cycle is refused, naming the field; so is one without a reason.
	err := tr.svc.Move(ctx, tr.ten, staffer, delta, &tr.charlie, time.Now(), "loop") // CHARLIE is under DELTA now
	if v, ok := validation.As(err); !ok || v.Message("parent_id") == "" {
		t.Errorf("a cycle: %v", err)
	}
	if v, ok := validation.As(tr.svc.Move(ctx, tr.ten, staffer, tr.atlas, nil, time.Now(), " ")); !ok || v.Message("reason") == "" {
		t.Error("a move without a reason was not refused on reason")
	}
	chain, err := tr.svc.Chain(ctx, tr.ten, tr.charlie, time.Now())
	if err != nil || len(chain) != 2 || chain[1] != delta {
		t.Errorf("the chain now: %v %v", chain, err)
	}
}

func TestWhyADealPaidNothingIsAnsweredByItsRows(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	strict := testRules()
	strict.Lines = strict.Lines[:2] // no default line
	strict.MinHoldSeconds = 180
	strict.ExcludedAccountTypes = []string{"cent"}
	strictPlan := tr.plan
	var err error
	if strictPlan, err = tr.svc.EditPlan(ctx, tr.ten, staffer, tr.plan.ID, strict); err != nil {
		t.Fatal(err)
	}
	if strictPlan.Version != 2 {
		t.Fatalf("an edit made version %d", strictPlan.Version)
	}
	now := time.Now()
	cent := tr.account(tr.dora, "500002")
	tr.trades.types[*cent.AccountID] = "cent"
	tr.trades.opened["p9021"] = now.Add(-time.Hour)
	tr.trades.opened["p9022"] = now.Add(-time.Hour)
	tr.trades.opened["p9023"] = now.Add(-30 * time.Second)
	stranger := tradingdesk.DealAccount{ServerID: tr.server, Login: "777"}
	for _, tc := range []struct {
		ticket string
		acct   tradingdesk.DealAccount
		deal   tradingdesk.Deal
		level  int
		reason Reason
	}{
		{"9020", tr.acct, closing("9020", "EURUSD", "1", tr.registered.Add(-time.Minute)), 0, ReasonNotAttributed},
		{"9021", tr.acct, closing("9021", "GBPJPY", "1", now), 1, ReasonSymbolUnmatched},
		{"9022", cent, closing("9022", "EURUSD", "1", now), 1, ReasonTypeExcluded},
		{"9023", tr.acct, closing("9023", "EURUSD", "1", now), 1, ReasonHeldTooBriefly},
		{"9024", tr.acct, closing("9024", "EURUSD", "1", now), 1, ReasonHoldUnknown},
		{"9025", stranger, closing("9025", "EURUSD", "1", now), 0, ReasonAccountUnknown},
	} {
		tr.closed(t, tc.acct, tc.deal, time.Now())
		rows := tr.rows(t, CommissionFilter{Ticket: tc.ticket})
		if len(rows) == 0 {
			t.Errorf("%s: no row says why it paid nothing", tc.reason)
			continue
		}
		r := rows[0]
		if r.Kind != KindNothing || r.Amount != 0 || r.Reason != tc.reason || r.Level != tc.level || r.Explanation.Says != Explain[tc.reason] {
			t.Errorf("%s: %+v", tc.reason, r)
		}
		if tc.level == 1 && r.PlanVersion != 2 {
			t.Errorf("%s: computed with plan version %d, want 2", tc.reason, r.PlanVersion)
		}
	}
	// The same filter answers the back office's question.
	if rows := tr.rows(t, CommissionFilter{Reason: ReasonSymbolUnmatched}); len(rows) != 3 {
		t.Errorf("%d unmatched rows, want one per level of 9021", len(rows))
	}
}

func TestRegistrationAttributesAClientToTheCodesPartnerAndStaffReattributeWithAReason(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	p, err := tr.svc.AttributedTo(ctx, tr.ten, tr.dora, time.Now())
	if err != nil || p == nil || *p != tr.charlie {
		t.Fatalf("the client registered with CHARLIE's code is attributed to %v (%v)", p, err)
	}
	stranger := tr.client(t, "Eve")
	tr.register(t, stranger, "NO-SUCH-CODE", time.Now())
	if p, _ := tr.svc.AttributedTo(ctx, tr.ten, stranger, time.Now()); p != nil {
		t.Errorf("an unknown code attributed the client to %v", p)
	}
	if v, ok := validation.As(tr.svc.Attribute(ctx, tr.ten, staffer, tr.dora, &tr.bravo, time.Time{}, "")); !ok || v.Message("reason") == "" {
		t.Error("a re-attribution without a reason was not refused on reason")
	}
	from := time.Now().Add(-time.Minute)
	if err := tr.svc.Attribute(ctx, tr.ten, staffer, tr.dora, &tr.bravo, from, "the client asked to follow Bravo"); err != nil {
		t.Fatal(err)
	}
	if p, _ := tr.svc.AttributedTo(ctx, tr.ten, tr.dora, from.Add(-time.Second)); p == nil || *p != tr.charlie {
		t.Errorf("before the re-attribution the client belongs to %v", p)
	}
	tr.closed(t, tr.acct, closing("9030", "GBPJPY", "1", time.Now()), time.Now())
	if got := amounts(tr.rows(t, CommissionFilter{Ticket: "9030"})); got[tr.bravo] != 700 || got[tr.atlas] != 200 || got[tr.charlie] != 0 {
		t.Errorf("after the re-attribution the deal pays %v", got)
	}
	page, err := tr.trail.List(ctx, tr.ten, audit.Filter{TargetType: "client", TargetID: tr.dora.String()}, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range page.Rows {
		if r.Action == ActionClientAttributed && strings.Contains(string(r.Diff), "the client asked to follow Bravo") {
			found = true
		}
	}
	if !found {
		t.Error("the re-attribution is not in the audit trail")
	}
}

func TestAnApplicationWaitsForAnIBManagerAndEarnsNothingUntilApproved(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	applicant := tr.client(t, "Fred")
	p, err := tr.svc.Apply(ctx, tr.ten, applicant, "I run a trading community")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != StatusApplied || p.Name != "Fred Trader" {
		t.Fatalf("the application: %+v", p)
	}
	if _, err := tr.svc.Apply(ctx, tr.ten, applicant, "again"); err == nil {
		t.Error("a second application of the same client was accepted")
	}
	if err := tr.svc.AddCode(ctx, tr.ten, staffer, p.ID, "FRED", "webinar"); err != nil {
		t.Fatal(err)
	}
	if err := tr.svc.Move(ctx, tr.ten, staffer, p.ID, &tr.charlie, tr.registered.Add(-time.Hour), "joins Charlie's network"); err != nil {
		t.Fatal(err)
	}
	referred := tr.client(t, "Gina")
	tr.register(t, referred, "fred", tr.registered)
	acct := tr.account(referred, "500010")
	tr.closed(t, acct, closing("9040", "GBPJPY", "1", time.Now()), time.Now())
	rows := tr.rows(t, CommissionFilter{Ticket: "9040"})
	if len(rows) != 4 || rows[0].Reason != ReasonPartnerInactive || rows[1].Amount != 200 {
		t.Errorf("a deal under an applicant: %+v", rows)
	}
	if _, err := tr.svc.Approve(ctx, tr.ten, staffer, p.ID, &tr.plan.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.svc.Approve(ctx, tr.ten, staffer, p.ID, nil); !errors.Is(err, ErrState) {
		t.Errorf("approving twice: %v", err)
	}
	tr.closed(t, acct, closing("9041", "GBPJPY", "1", time.Now()), time.Now())
	if got := amounts(tr.rows(t, CommissionFilter{Ticket: "9041"})); got[p.ID] != 700 || got[tr.charlie] != 200 || got[tr.bravo] != 100 || got[tr.atlas] != 0 {
		t.Errorf("a deal under the approved partner pays %v (four levels, the plan pays three)", got)
	}
}

func TestCPAIsPaidOncePerClient(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	r := testRules()
	r.CPA = &CPA{Amount: decimal.RequireFromString("200"), MinDeposit: decimal.RequireFromString("100")}
	if _, err := tr.svc.EditPlan(ctx, tr.ten, staffer, tr.plan.ID, r); err != nil {
		t.Fatal(err)
	}
	deposit := func(n int, amount int64) {
		tr.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
			return tr.svc.onDeposit(ctx, tx, tr.ten, meta(time.Now()), payments.DepositCompleted{DepositID: uuid.New(), ClientID: tr.dora,
				Amount: amount, Currency: "USD", Exponent: 2, DepositNumber: n})
		})
	}
	deposit(1, 50000)
	deposit(1, 50000) // a first deposit announced twice (another deposit id)
	deposit(2, 90000)
	rows := tr.rows(t, CommissionFilter{Client: &tr.dora, Kind: KindPaid})
	if len(rows) != 1 || rows[0].Source != SourceCPA || rows[0].Amount != 20000 || *rows[0].PartnerID != tr.charlie {
		t.Errorf("CPA rows: %+v", rows)
	}
}

func TestAnotherTenantSeesNoneOfThis(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	other := setup(t)
	if _, err := other.svc.Partner(ctx, other.ten, tr.atlas); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant reads ATLAS: %v", err)
	}
	tr.closed(t, tr.acct, closing("9050", "GBPJPY", "1", time.Now()), time.Now())
	if rows, err := other.svc.Commissions(ctx, other.ten, CommissionFilter{Partner: &tr.atlas}, 10); err != nil || len(rows) != 0 {
		t.Errorf("another tenant lists ATLAS's rows: %v %v", rows, err)
	}
	// The same client id delivered in the other tenant attributes nothing there: the code is not its partner's.
	other.register(t, other.client(t, "Hal"), "IB-ATLAS", time.Now())
	if list, _ := other.svc.Partners(ctx, other.ten, ""); len(list) != 0 {
		t.Errorf("the other tenant has partners: %+v", list)
	}
}

// A move dated in the past is refused when a later change of the tree would then make a cycle, and a plan paying
// level 2 as a percent of level 1 pays it from the row below.
func TestALaterCycleIsRefusedAndAPercentOfTheLevelBelowIsPaid(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	now := time.Now()
	// From an hour ago ATLAS sits under a new partner ECHO; ECHO under CHARLIE from yesterday would be a loop from
	// the hour on (CHARLIE > BRAVO > ATLAS > ECHO > CHARLIE), though not yesterday.
	echo := tr.partner(t, "Echo Capital", "IB-ECHO", &tr.plan.ID, nil)
	if err := tr.svc.Move(ctx, tr.ten, staffer, tr.atlas, &echo, now.Add(-time.Hour), "Atlas joined Echo"); err != nil {
		t.Fatal(err)
	}
	err := tr.svc.Move(ctx, tr.ten, staffer, echo, &tr.charlie, now.Add(-24*time.Hour), "loop later")
	if v, ok := validation.As(err); !ok || v.Message("parent_id") == "" {
		t.Errorf("a move that loops from a later change on: %v", err)
	}
	pct := testRules()
	pct.PercentOfBelow = []LevelPercent{{Level: 2, Percent: decimal.RequireFromString("25")}}
	if _, err := tr.svc.EditPlan(ctx, tr.ten, staffer, tr.plan.ID, pct); err != nil {
		t.Fatal(err)
	}
	tr.closed(t, tr.acct, closing("9060", "GBPJPY", "2", time.Now()), time.Now())
	rows := tr.rows(t, CommissionFilter{Ticket: "9060"})
	if len(rows) != 4 || rows[0].Amount != 1400 || rows[1].Amount != 350 || rows[1].Explanation.Percent != "25" || rows[1].Explanation.Below != "14.00" ||
		rows[2].Amount != 200 || rows[3].Reason != ReasonLevelNotPaid {
		t.Errorf("a deal under a plan paying level 2 at 25%% of level 1: %+v", rows)
	}
}
