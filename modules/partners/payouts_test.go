package partners

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
)

// earningPartner is a partner whose client is alex, on the tree's plan, with 70.00 USD posted to its wallet (one
// client's 10 lots of GBPJPY at 7.00 a lot).
func earningPartner(t *testing.T, tr *tree, code string) (Partner, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	alex := tr.client(t, "Alex")
	p, err := tr.svc.CreatePartner(ctx, tr.ten, staffer, PartnerInput{Name: "Alex Atlas " + code, ClientID: &alex, PlanID: &tr.plan.ID, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	zed := tr.client(t, "Zed")
	tr.register(t, zed, code, tr.registered)
	tr.closed(t, tr.account(zed, "6"+code[len(code)-4:]), closing(code+"-1", "GBPJPY", "10", time.Now().Add(-time.Minute)), time.Now())
	tr.post(t)
	if got := tr.wallet(t, p.ID); got != 7000 {
		t.Fatalf("the partner's wallet holds %d, want 7000", got)
	}
	return p, alex
}

func fieldOf(err error) string {
	if v, ok := validation.As(err); ok && len(v.Fields) > 0 {
		return v.Fields[0].Field
	}
	return ""
}

// A partner's payouts: bad input names the field; 30 requests of 10.00 at once against a wallet of 70.00 move
// exactly 7 (the ledger's guard under the wallet's lock), the rest are told the amount is more than available; a
// repeat of a key moves nothing and answers the first payout, the same key for another amount is refused; the
// client wallet got what the partner wallet gave, and wallet = earned - paid out.
func TestPayoutsMoveEarningsToTheClientWalletOnceAndNeverOverdraw(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	p, alex := earningPartner(t, tr, "IB-ALEX1")
	actor := audit.Actor{Kind: audit.ActorClient, ID: alex.String()}

	for _, c := range []struct {
		in    PayoutInput
		field string
	}{
		{PayoutInput{Amount: "", Key: "k"}, "amount"},
		{PayoutInput{Amount: "ten", Key: "k"}, "amount"},
		{PayoutInput{Amount: "0", Key: "k"}, "amount"},
		{PayoutInput{Amount: "-5", Key: "k"}, "amount"},
		{PayoutInput{Amount: "1.001", Key: "k"}, "amount"},
		{PayoutInput{Amount: "1e3", Key: "k"}, "amount"},
		{PayoutInput{Amount: "70.01", Key: "k"}, "amount"}, // one cent more than the wallet holds
		{PayoutInput{Amount: "1", Currency: "XXX", Key: "k"}, "currency"},
		{PayoutInput{Amount: "1", Destination: "bank", Key: "k"}, "destination"},
		{PayoutInput{Amount: "1"}, "key"},
	} {
		_, err := tr.svc.RequestPayout(ctx, tr.ten, actor, p, c.in)
		if fieldOf(err) != c.field {
			t.Errorf("%+v: %v, want a field error on %s", c.in, err, c.field)
		}
	}
	if got := tr.wallet(t, p.ID); got != 7000 {
		t.Fatalf("refused payouts moved money: wallet %d", got)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var paid []Payout
	refused := 0
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			po, err := tr.svc.RequestPayout(ctx, tr.ten, actor, p, PayoutInput{Amount: "10.00", Key: "at-once-" + strconv.Itoa(i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				paid = append(paid, po)
			case fieldOf(err) == "amount":
				refused++
			default:
				t.Errorf("payout %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if len(paid) != 7 || refused != 23 {
		t.Fatalf("%d paid and %d refused, want 7 and 23", len(paid), refused)
	}
	if got := tr.wallet(t, p.ID); got != 0 {
		t.Errorf("the partner wallet holds %d after paying out everything", got)
	}
	b, err := tr.led.Balance(ctx, tr.ten, ledger.ClientWallet(alex, usd).Code)
	if err != nil || b.Posted != 7000 {
		t.Errorf("Alex's wallet: %+v %v", b, err)
	}

	// A repeat of a key answers the first payout and moves nothing; another amount under it is refused.
	again, err := tr.svc.RequestPayout(ctx, tr.ten, actor, p, PayoutInput{Amount: "10.00", Key: paidKey(t, tr, paid[0])})
	if err != nil || !again.Replayed || again.ID != paid[0].ID {
		t.Errorf("the repeat: %+v %v", again, err)
	}
	if _, err := tr.svc.RequestPayout(ctx, tr.ten, actor, p, PayoutInput{Amount: "5.00", Key: paidKey(t, tr, paid[0])}); !errors.Is(err, ErrPayoutKeyReused) {
		t.Errorf("the same key for another amount: %v", err)
	}

	earned, _ := tr.svc.Earned(ctx, tr.ten, p.ID)
	out, _ := tr.svc.PaidOut(ctx, tr.ten, p.ID)
	if earned["USD"]-out["USD"] != tr.wallet(t, p.ID) || out["USD"] != 7000 {
		t.Errorf("earned %v, paid out %v, wallet %d", earned, out, tr.wallet(t, p.ID))
	}
	list, err := tr.svc.Payouts(ctx, tr.ten, p.ID, 100)
	if err != nil || len(list) != 7 {
		t.Errorf("the history: %d payouts, %v", len(list), err)
	}
	rep, err := tr.led.Verify(ctx, tr.ten)
	if err != nil || !rep.OK() {
		t.Errorf("the ledger: %+v %v", rep, err)
	}
	page, err := tr.trail.List(ctx, tr.ten, audit.Filter{TargetType: partnerTarget, TargetID: p.ID.String()}, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range page.Rows {
		if r.Action == ActionPayout {
			n++
		}
	}
	if n != 7 {
		t.Errorf("%d payouts audited, want 7", n)
	}

	// A partner of another tenant with the same key: its own payout, nothing of this one's.
	other := threeLevels(t)
	q, _ := earningPartner(t, other, "IB-ALEX2")
	if list, err := other.svc.Payouts(ctx, other.ten, p.ID, 100); err != nil || len(list) != 0 {
		t.Errorf("tenant B reads tenant A's partner's payouts: %d %v", len(list), err)
	}
	po, err := other.svc.RequestPayout(ctx, other.ten, audit.Actor{Kind: audit.ActorClient, ID: q.ClientID.String()}, q,
		PayoutInput{Amount: "1", Key: paidKey(t, tr, paid[0])})
	if err != nil || po.Replayed {
		t.Errorf("tenant B's payout under the same key: %+v %v", po, err)
	}
}

func paidKey(t *testing.T, tr *tree, po Payout) string {
	t.Helper()
	for i := range 30 {
		if payoutID(po.PartnerID, "at-once-"+strconv.Itoa(i)) == po.ID {
			return "at-once-" + strconv.Itoa(i)
		}
	}
	t.Fatalf("no key of payout %s", po.ID)
	return ""
}

func TestPayoutsAndRecalculationsReadAsSentences(t *testing.T) {
	t.Parallel()
	alex := audit.Ref{Name: "Alex Atlas"}
	ivan := audit.Ref{Name: "Ivan IB-Manager"}
	atlas := audit.Ref{Name: "Atlas Partners"}
	type m = map[string]any
	for _, c := range []struct {
		action string
		actor  audit.Ref
		after  any
		want   string
	}{
		{ActionPayout, alex, m{"amount": "120.00 USD", "destination": "wallet"}, "Alex Atlas moved 120.00 USD of partner earnings to their wallet"},
		{ActionPayout, alex, m{"amount": "5.00 USD", "destination": "withdrawal"}, "Alex Atlas moved 5.00 USD of partner earnings to their wallet, to withdraw"},
		{ActionRecalculated, ivan, m{"from": "2026-11-01", "to": "2026-11-30", "deals": "3", "difference": "+4.50 USD", "reason": "the November rate applies"},
			"Ivan IB-Manager recalculated the commissions of Atlas Partners from 2026-11-01 to 2026-11-30 with today's tree and plans: 3 deals changed by +4.50 USD: the November rate applies"},
	} {
		svc := audit.NewService(nil)
		svc.Phrases(Phrases()...)
		diff, err := audit.Diff(nil, c.after)
		if err != nil {
			t.Fatal(err)
		}
		row := audit.Row{Action: c.action, Actor: audit.Actor{Kind: audit.ActorClient, ID: "a1"}, Target: audit.Target{Type: partnerTarget, ID: "p1"}, Diff: diff}
		told := svc.TellOne(audit.NewEvent(row, c.actor, atlas))
		if got := told.Sentence.String(); got != c.want || !told.Known {
			t.Errorf("%s:\n got %q\nwant %q", c.action, got, c.want)
		}
	}
}
