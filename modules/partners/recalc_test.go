package partners

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A recalculation after a plan's new version and a move dated in the past: the preview shows the difference per
// deal and level and writes nothing; posting writes reversals and the new amounts as a new generation, which the
// batch poster posts; a second run finds nothing; the wallets equal the rows; other partners' rows stay theirs.
func TestARecalculationShowsTheDifferencePostsItOnceAndTheLedgerAgrees(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).UTC()
	tr.closed(t, tr.acct, closing("9401", "GBPJPY", "1", at), time.Now()) // 7 / 2 / 1
	tr.closed(t, tr.acct, closing("9402", "XAUUSD", "1", at), time.Now()) // 10 / 3 / 1
	tr.post(t)
	day := at.Format(time.DateOnly)
	period := RecalcInput{From: day, To: time.Now().UTC().Format(time.DateOnly)}

	for _, c := range []struct {
		in    RecalcInput
		field string
	}{
		{RecalcInput{From: "yesterday", To: day}, "from"},
		{RecalcInput{From: day, To: "2000-01-01"}, "to"},
		{RecalcInput{From: "2024-01-01", To: "2026-01-01"}, "to"},
		{RecalcInput{From: day, To: day, Post: true}, "reason"},
	} {
		if _, err := tr.svc.Recalculate(ctx, tr.ten, staffer, tr.charlie, c.in); fieldOf(err) != c.field {
			t.Errorf("%+v: %v, want a field error on %s", c.in, err, c.field)
		}
	}
	// Nothing changed yet: nothing differs.
	r, err := tr.svc.Recalculate(ctx, tr.ten, staffer, tr.charlie, period)
	if err != nil || r.Deals != 2 || r.Changed != 0 || len(r.Lines) != 0 {
		t.Fatalf("before any change: %+v %v", r, err)
	}

	// The plan's default line now pays 9 at level 1; metals are unchanged.
	rules := testRules()
	rules.Lines[2].PerLot = per("9", "2", "1")
	if _, err := tr.svc.EditPlan(ctx, tr.ten, staffer, tr.plan.ID, rules); err != nil {
		t.Fatal(err)
	}
	rows := len(tr.rows(t, CommissionFilter{}))
	r, err = tr.svc.Recalculate(ctx, tr.ten, staffer, tr.charlie, period)
	if err != nil || r.Changed != 1 || len(r.Lines) != 1 || r.Posted || r.ID != nil {
		t.Fatalf("the preview: %+v %v", r, err)
	}
	if l := r.Lines[0]; l.Ticket != "9401" || l.Level != 1 || l.Before != 700 || l.After != 900 || l.PlanVersion != 2 || r.Difference["USD"] != 200 {
		t.Errorf("the preview's line: %+v, difference %v", l, r.Difference)
	}
	if n := len(tr.rows(t, CommissionFilter{})); n != rows {
		t.Errorf("the preview wrote %d rows", n-rows)
	}

	post := period
	post.Post, post.Reason = true, "the new default rate applies from the start of the month"
	r, err = tr.svc.Recalculate(ctx, tr.ten, staffer, tr.charlie, post)
	if err != nil || r.Rows != 2 || r.ID == nil || r.Difference["USD"] != 200 {
		t.Fatalf("the post: %+v %v", r, err)
	}
	again, err := tr.svc.Recalculate(ctx, tr.ten, staffer, tr.charlie, post)
	if err != nil || again.Changed != 0 || again.Rows != 0 || again.ID != nil {
		t.Errorf("the second run: %+v %v", again, err)
	}
	tr.post(t)
	if got, want := tr.earned(t, tr.charlie), int64(900+1000); got != want || tr.wallet(t, tr.charlie) != want {
		t.Errorf("CHARLIE earned %d, wallet %d, want %d", got, tr.wallet(t, tr.charlie), want)
	}
	if got := tr.earned(t, tr.bravo); got != 200+300 || tr.wallet(t, tr.bravo) != got {
		t.Errorf("BRAVO's rows changed: %d, wallet %d", got, tr.wallet(t, tr.bravo))
	}

	// CHARLIE reports to ATLAS directly since before the deals: BRAVO no longer earns on them, ATLAS moves up a level.
	if err := tr.svc.Move(ctx, tr.ten, staffer, tr.charlie, &tr.atlas, at.Add(-time.Minute), "Charlie reports to Atlas directly"); err != nil {
		t.Fatal(err)
	}
	r, err = tr.svc.Recalculate(ctx, tr.ten, staffer, tr.atlas, period)
	if err != nil || r.Changed != 2 || len(r.Lines) != 4 {
		t.Fatalf("ATLAS's preview: %+v %v", r, err)
	}
	// Level 3 (1.00 a lot) becomes level 2 (2.00 and 3.00 a lot).
	if r.Difference["USD"] != (200-100)+(300-100) {
		t.Errorf("ATLAS's difference %v, lines %+v", r.Difference, r.Lines)
	}
	if _, err := tr.svc.Recalculate(ctx, tr.ten, staffer, tr.atlas, RecalcInput{From: period.From, To: period.To, Post: true, Reason: "the move"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.svc.Recalculate(ctx, tr.ten, staffer, tr.bravo, RecalcInput{From: period.From, To: period.To, Post: true, Reason: "the move"}); err != nil {
		t.Fatal(err)
	}
	tr.post(t)
	for name, c := range map[string]struct {
		id   uuid.UUID
		want int64
	}{"ATLAS": {tr.atlas, 500}, "BRAVO": {tr.bravo, 0}, "CHARLIE": {tr.charlie, 1900}} {
		if got := tr.earned(t, c.id); got != c.want || tr.wallet(t, c.id) != got {
			t.Errorf("%s earned %d, wallet %d, want %d", name, got, tr.wallet(t, c.id), c.want)
		}
	}
	rep, err := tr.led.Verify(ctx, tr.ten)
	if err != nil || !rep.OK() {
		t.Errorf("the ledger: %+v %v", rep, err)
	}
	// A later change of a deal still reverses everything not yet reversed and computes it as the engine does.
	tr.changed(t, tr.acct, closing("9401", "GBPJPY", "1", at), ptr(closing("9401", "GBPJPY", "2", at)), time.Now())
	tr.post(t)
	for _, id := range []uuid.UUID{tr.atlas, tr.bravo, tr.charlie} {
		if tr.earned(t, id) != tr.wallet(t, id) {
			t.Errorf("after a change: earned %d, wallet %d", tr.earned(t, id), tr.wallet(t, id))
		}
	}
}
