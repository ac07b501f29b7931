package partners

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// capture records the partners.commission_recorded events the world's service publishes.
func (w *world) capture() *[]CommissionRecorded {
	var got []CommissionRecorded
	hall := events.New(events.Options{Gate: w.p.Gate})
	events.OnTx(hall, "partners.test_capture", func(_ context.Context, _ pgx.Tx, _ tenants.Tenant, _ events.Meta, e CommissionRecorded) error {
		got = append(got, e)
		return nil
	})
	w.svc.o.Events = hall
	return &got
}

// A batch computes every deal as one at a time would: deals of clients at different levels, of a client attributed
// to no one and of an unknown account, on both sides of a tree move and of a plan edit, each through the tree and
// plan version of its own time.
func TestABatchWritesTheRowsOfTheSameDealsOneAtATime(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	eve := tr.client(t, "Eve") // BRAVO's own client: two levels
	tr.register(t, eve, "IB-BRAVO", tr.registered)
	nobody := tr.client(t, "Nadia") // attributed to no one
	move := time.Now().Add(-10 * time.Minute)
	delta := tr.partner(t, "Delta Markets", "IB-DELTA", &tr.plan.ID, nil)
	if err := tr.svc.Move(ctx, tr.ten, staffer, tr.charlie, &delta, move, "Charlie joined Delta's network"); err != nil {
		t.Fatal(err)
	}
	r := testRules()
	r.Lines[2].PerLot = per("9", "4", "1")
	if _, err := tr.svc.EditPlan(ctx, tr.ten, staffer, tr.plan.ID, r); err != nil { // version 2 from now on
		t.Fatal(err)
	}
	edited := time.Now().Add(time.Second)
	if err := tr.svc.SaveSettings(ctx, tr.ten, staffer, Settings{SymbolSuffixes: []string{"pro"}}); err != nil {
		t.Fatal(err)
	}
	unknown := tradingdesk.DealAccount{ServerID: tr.server, Login: "999999"}
	accts := []tradingdesk.DealAccount{tr.acct, tr.account(eve, "500101"), tr.account(nobody, "500102"), unknown}
	times := []time.Time{move.Add(-time.Minute), move.Add(time.Minute), edited.Add(time.Minute)}
	symbols := []string{"GBPJPY", "XAUUSD.m", "EURUSDpro"}
	type spec struct {
		a  tradingdesk.DealAccount
		at time.Time
		sy string
	}
	var specs []spec
	for _, a := range accts {
		for i, at := range times {
			specs = append(specs, spec{a, at, symbols[i]})
		}
	}
	var batch []events.Delivery[tradingdesk.DealClosed]
	for i, s := range specs {
		batch = append(batch, events.Delivery[tradingdesk.DealClosed]{Meta: meta(time.Now()),
			Event: tradingdesk.DealClosed{DealAccount: s.a, Deal: closing(fmt.Sprintf("b%d", i), s.sy, "1.5", s.at)}})
	}
	recorded := tr.capture()
	tr.closedBatch(t, batch...)
	for i, s := range specs {
		tr.closed(t, s.a, closing(fmt.Sprintf("s%d", i), s.sy, "1.5", s.at), time.Now())
	}
	all := tr.rows(t, CommissionFilter{})
	key := func(c Commission) string {
		e := c.Explanation
		return fmt.Sprintf("%d %v %v v%d %s %d %s %s %s %s %s", c.Level, c.PartnerID, c.PlanID, c.PlanVersion, c.Kind, c.Amount, c.Currency,
			c.Reason, c.Symbol, c.Lots, e.Amount+"/"+e.MatchedBy+"/"+e.Normalized)
	}
	byDeal := map[string][]string{}
	for _, c := range all {
		byDeal[c.Ticket] = append(byDeal[c.Ticket], key(c))
	}
	paidV2, paidDelta := false, false
	for i := range specs {
		b, s := byDeal[fmt.Sprintf("b%d", i)], byDeal[fmt.Sprintf("s%d", i)]
		slices.Sort(b)
		slices.Sort(s)
		if len(b) == 0 || !slices.Equal(b, s) {
			t.Errorf("deal %d: the batch wrote\n%s\none at a time\n%s", i, strings.Join(b, "\n"), strings.Join(s, "\n"))
		}
		for _, k := range b {
			paidV2 = paidV2 || strings.Contains(k, " v2 paid")
			paidDelta = paidDelta || strings.Contains(k, delta.String())
		}
	}
	if !paidV2 || !paidDelta {
		t.Errorf("the deals did not reach both plan versions and both trees (v2 %v, DELTA %v)", paidV2, paidDelta)
	}
	// The batch announced once, naming every partner its rows are of.
	if len(*recorded) == 0 || (*recorded)[0].Deals != len(specs) {
		t.Fatalf("the batch announced %+v", *recorded)
	}
	named := (*recorded)[0].Partners
	for _, p := range []uuid.UUID{tr.charlie, tr.bravo, tr.atlas, delta} {
		if !slices.Contains(named, p) {
			t.Errorf("the batch's announcement does not name %s: %v", p, named)
		}
	}

	// Delivered again (a replay: new event ids, the same deals): nothing more is written, posted or announced.
	before := len(all)
	posted := tr.post(t)
	for i := range batch {
		batch[i].Meta = meta(time.Now())
	}
	*recorded = nil
	tr.closedBatch(t, batch...)
	if n := len(tr.rows(t, CommissionFilter{})); n != before {
		t.Errorf("the replayed batch wrote %d rows more", n-before)
	}
	if n := tr.post(t); n != 0 || posted == 0 {
		t.Errorf("posted %d rows, then %d after the replay", posted, n)
	}
	if len(*recorded) != 0 {
		t.Errorf("the replayed batch announced %+v", *recorded)
	}
}

// A deal_changed can be delivered before its deal_closed (a batch waits a second or more): the change computes the
// deal as it now is, and the late deal_closed, in a batch with other deals, pays nothing twice.
func TestAChangeDeliveredBeforeItsBatchedCloseLeavesTheDealAsItIsNow(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	at := time.Now().Add(-time.Minute)
	resized, cancelled, other := closing("9301", "GBPJPY", "2", at), closing("9302", "GBPJPY", "2", at), closing("9303", "GBPJPY", "1", at)
	smaller := resized
	smaller.Volume = decimal.RequireFromString("1")
	t0 := time.Now()
	tr.changed(t, tr.acct, resized, &smaller, t0.Add(time.Second))
	tr.changed(t, tr.acct, cancelled, nil, t0.Add(time.Second))
	tr.closedBatch(t,
		events.Delivery[tradingdesk.DealClosed]{Meta: meta(t0), Event: tradingdesk.DealClosed{DealAccount: tr.acct, Deal: resized}},
		events.Delivery[tradingdesk.DealClosed]{Meta: meta(t0), Event: tradingdesk.DealClosed{DealAccount: tr.acct, Deal: cancelled}},
		events.Delivery[tradingdesk.DealClosed]{Meta: meta(t0), Event: tradingdesk.DealClosed{DealAccount: tr.acct, Deal: other}})
	if got := amounts(tr.rows(t, CommissionFilter{Ticket: "9301"})); got[tr.charlie] != 700 || got[tr.bravo] != 200 || got[tr.atlas] != 100 {
		t.Errorf("the resized deal pays %v, want what 1 lot pays (700/200/100)", got)
	}
	rows := tr.rows(t, CommissionFilter{Ticket: "9302"})
	if len(rows) != 1 || rows[0].Kind != KindNothing || rows[0].Reason != ReasonCancelled {
		t.Errorf("the cancelled deal's rows: %+v", rows)
	}
	if got := amounts(tr.rows(t, CommissionFilter{Ticket: "9303"})); got[tr.charlie] != 700 {
		t.Errorf("the other deal of the batch pays %v", got)
	}
}

// A batch's minimum hold is answered with one question about all of its positions, not one per deal, and each deal
// still gets its own position's hold.
func TestABatchAsksItsPositionsOpeningsOnce(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	held := testRules()
	held.MinHoldSeconds = 120
	if _, err := tr.svc.EditPlan(ctx, tr.ten, staffer, tr.plan.ID, held); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(time.Second)
	var batch []events.Delivery[tradingdesk.DealClosed]
	for i, hold := range []time.Duration{time.Hour, 30 * time.Second, 10 * time.Minute, time.Second} {
		d := closing(fmt.Sprintf("h%d", i), "EURUSD", "1", now)
		tr.trades.mu.Lock()
		tr.trades.opened[d.PositionID] = now.Add(-hold)
		tr.trades.mu.Unlock()
		batch = append(batch, events.Delivery[tradingdesk.DealClosed]{Meta: meta(time.Now()), Event: tradingdesk.DealClosed{DealAccount: tr.acct, Deal: d}})
	}
	tr.trades.mu.Lock()
	before := tr.trades.calls
	tr.trades.mu.Unlock()
	tr.closedBatch(t, batch...)
	tr.trades.mu.Lock()
	calls := tr.trades.calls - before
	tr.trades.mu.Unlock()
	if calls != 1 {
		t.Errorf("the batch asked about its positions %d times, want once", calls)
	}
	for i, paid := range []bool{true, false, true, false} {
		rows := tr.rows(t, CommissionFilter{Ticket: fmt.Sprintf("h%d", i), Partner: &tr.charlie})
		if len(rows) != 1 || (rows[0].Kind == KindPaid) != paid || (!paid && rows[0].Reason != ReasonHeldTooBriefly) {
			t.Errorf("deal h%d: %+v, paid %t", i, rows, paid)
		}
	}
}
