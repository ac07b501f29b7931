package partners

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/live"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A deal of CHARLIE's client, computed by the engine, wakes the live streams of CHARLIE, BRAVO and ATLAS (the rows
// are theirs) through Postgres's notification at commit, and no other stream: not a partner outside the subtree,
// not the same partner id under another tenant. A posted recalculation of CHARLIE wakes CHARLIE's stream only.
func TestRecordedRowsWakeTheirPartnersStreamsOnlyAndNeverAnotherTenants(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	hall := events.New(events.Options{Gate: tr.p.Gate})
	o := tr.svc.o
	o.Events = hall
	svc, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	svc.Subscribe(hall)
	if err := hall.Err(); err != nil {
		t.Fatal(err)
	}
	var pools []*pgxpool.Pool
	for _, name := range tr.p.Clusters.Names() {
		if pool, err := tr.p.Clusters.Pool(name); err == nil {
			pools = append(pools, pool)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go svc.Listen(ctx, pools)
	elsewhere := tr.partner(t, "Elsewhere Ltd", "IB-ELSE", &tr.plan.ID, nil)
	stream := func(tenant, partner uuid.UUID) <-chan struct{} {
		ch, cancel := svc.live.Subscribe(liveKey{tenant, partner})
		t.Cleanup(cancel)
		return ch
	}
	charlie, bravo, atlas := stream(tr.ten.ID, tr.charlie), stream(tr.ten.ID, tr.bravo), stream(tr.ten.ID, tr.atlas)
	outside, otherTenant := stream(tr.ten.ID, elsewhere), stream(uuid.New(), tr.charlie)

	// The listener is up once a notification of its own goes through: wait on a probe.
	probeKey := uuid.New()
	probe := stream(tr.ten.ID, probeKey)
	deadline := time.Now().Add(10 * time.Second)
	for !woken(probe) {
		if time.Now().After(deadline) {
			t.Fatal("the listener never heard a notification")
		}
		if _, err := pools[0].Exec(context.Background(), `SELECT pg_notify($1, $2)`, CommissionsChannel, tr.ten.ID.String()+" "+probeKey.String()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	deal := closing("9700", "EURUSD", "1", time.Now().Add(-time.Minute))
	tr.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return svc.onDealsClosed(ctx, tx, tr.ten, []events.Delivery[tradingdesk.DealClosed]{{Meta: meta(time.Now()),
			Event: tradingdesk.DealClosed{DealAccount: tr.acct, Deal: deal}}})
	})
	for name, ch := range map[string]<-chan struct{}{"CHARLIE": charlie, "BRAVO": bravo, "ATLAS": atlas} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s's stream was not woken by its rows", name)
		}
	}
	// One notification names every partner of the deal, read under one lock: the others are decided by now.
	if woken(outside) {
		t.Error("a partner outside the subtree was woken")
	}
	if woken(otherTenant) {
		t.Error("the same partner id under another tenant was woken")
	}

	// A posted recalculation announces the rows it writes too: CHARLIE's stream wakes (EURUSD now pays 6 a lot),
	// and no other, the other levels' rows being left as they were.
	rules := testRules()
	rules.Lines[0].PerLot = per("6")
	if _, err := svc.EditPlan(ctx, tr.ten, staffer, tr.plan.ID, rules); err != nil {
		t.Fatal(err)
	}
	r, err := svc.Recalculate(ctx, tr.ten, staffer, tr.charlie, RecalcInput{From: deal.Time.UTC().Format(time.DateOnly),
		To: time.Now().UTC().Format(time.DateOnly), Post: true, Reason: "EURUSD pays 6 a lot"})
	if err != nil || r.Rows != 2 {
		t.Fatalf("the recalculation: %+v %v", r, err)
	}
	select {
	case <-charlie:
	case <-time.After(10 * time.Second):
		t.Fatal("CHARLIE's stream was not woken by its recalculated rows")
	}
	if woken(bravo) || woken(atlas) || woken(outside) {
		t.Error("a recalculation of CHARLIE woke another partner's stream")
	}
}

// A notification wakes the streams it names: by tenant and partner, every partner of the tenant for "*", no one
// for a payload it cannot read.
func TestANotificationWakesTheStreamsItNamesOnly(t *testing.T) {
	t.Parallel()
	f := newLiveFeed(live.Options{})
	ten, other, a, b := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	sub := func(k liveKey) <-chan struct{} {
		ch, cancel := f.Subscribe(k)
		t.Cleanup(cancel)
		return ch
	}
	ta, tb, oa := sub(liveKey{ten, a}), sub(liveKey{ten, b}), sub(liveKey{other, a})
	for _, tc := range []struct {
		payload    string
		ta, tb, oa bool
	}{
		{ten.String() + " " + a.String(), true, false, false},
		{ten.String() + " " + b.String() + "," + a.String(), true, true, false},
		{ten.String() + " *", true, true, false},
		{other.String() + " " + a.String(), false, false, true},
		{"not a tenant " + a.String(), false, false, false},
		{ten.String(), false, false, false},
	} {
		notifyCommissions(f, tc.payload)
		if woken(ta) != tc.ta || woken(tb) != tc.tb || woken(oa) != tc.oa {
			t.Errorf("%q woke the wrong streams", tc.payload)
		}
	}
}
