package payments_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
)

// sent is a callback a test hands to HandleCallback, and what came back.
type sent struct {
	b      *bundle
	h      http.Header
	body   []byte
	result payments.CallbackResult
	err    error
}

// inOneGroup hands every callback to HandleCallback at once while the group commits are held, waits until all of
// them are queued, then lets the groups run and waits for every answer.
func inOneGroup(t *testing.T, svc *payments.Service, list []*sent) {
	t.Helper()
	release := svc.HoldGroups()
	var wg sync.WaitGroup
	for _, s := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.result, s.err = svc.HandleCallback(context.Background(), s.b.ten, "card", s.h, s.body)
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for svc.Waiting() < len(list) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // waiting on the condition: every callback queued
	}
	release()
	wg.Wait()
}

// groupSizes reads the group-size histogram: how many groups, and their callbacks in all.
func (b *bundle) groupSizes(t *testing.T) (groups uint64, callbacks float64) {
	t.Helper()
	fams, err := b.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "brokerdesk_payment_callback_group_size" {
			var h *dto.Histogram = f.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}

// A group of callbacks writes exactly what the same callbacks write one at a time: each deposit credited once with
// one ledger transaction, numbered 1..k among its client's deposits in the order the callbacks came, one
// deposit.completed per deposit in the outbox (the receipt), one audit row per deposit saying the same, one
// callback row credited and naming its deposit; the wallets hold their deposits and the ledger verifies.
func TestAGroupOfCallbacksWritesWhatOneAtATimeWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// The first client's first deposit is credited alone, before the group: the group's number from 2.
	first := b.client(t, clients.StatusKYCApproved)
	d0 := b.deposit(t, first, "card", "10.00")
	h, body := stripeEvent("evt_alone", "checkout.session.completed", d0.ID.String(), 1000, "usd", "paid", b.clock.Now())
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeCredited {
		t.Fatalf("alone: %+v", r)
	}
	owners := []uuid.UUID{first, first, first, b.client(t, clients.StatusKYCApproved), b.client(t, clients.StatusKYCApproved)}
	owners = append(owners, owners[3])
	amounts := []string{"11.00", "12.00", "13.00", "20.00", "30.00", "21.00"}
	var deps []payments.Deposit
	var list []*sent
	for i, c := range owners {
		d := b.deposit(t, c, "card", amounts[i])
		deps = append(deps, d)
		h, body := stripeEvent("evt_g"+d.ID.String(), "checkout.session.completed", d.ID.String(), d.Amount.Minor, "usd", "paid", b.clock.Now())
		list = append(list, &sent{b: b, h: h, body: body})
	}
	inOneGroup(t, b.svc, list)
	if n, sum := b.groupSizes(t); n != 2 || sum != float64(1+len(list)) {
		t.Errorf("%d groups of %v callbacks in all, want the one alone and one of %d", n, sum, len(list))
	}
	for i, s := range list {
		if s.err != nil || s.result.Outcome != payments.OutcomeCredited || s.result.Deposit != deps[i].ID || s.result.Callback == uuid.Nil ||
			s.result.Ack.Status != 200 {
			t.Errorf("callback %d: %+v %v", i, s.result, s.err)
		}
	}
	// Each client's deposits are numbered on from its last, in the order their callbacks queued (which the
	// goroutines above decide): as sets, 2..4 for the first client, 1..2 and 1 for the others.
	numbers := map[uuid.UUID][]int{}
	for i, d := range deps {
		got, err := b.svc.Deposit(ctx, b.ten, d.ID)
		if err != nil || got.Status != payments.StatusCompleted || got.LedgerTx == nil || got.CompletedAt == nil {
			t.Errorf("deposit %d: %+v %v", i, got, err)
		}
		numbers[got.ClientID] = append(numbers[got.ClientID], got.DepositNumber)
		id := d.ID.String()
		for q, want := range map[string]int{
			`SELECT count(*) FROM ledger_transactions WHERE idem_key = 'deposit:' || $1`:                                                                         1,
			`SELECT count(*) FROM payment_callbacks WHERE deposit_id = $1::uuid AND outcome = 'credited'`:                                                        1,
			`SELECT count(*) FROM audit_log WHERE action = 'deposit.completed' AND target_id = $1 AND actor_id = 'payments'`:                                     1,
			`SELECT count(*) FROM outbox WHERE task_type = '` + events.PublishType(payments.EventDepositCompleted) + `' AND payload::text LIKE '%' || $1 || '%'`: 1,
		} {
			if n := b.count(t, q, id); n != want {
				t.Errorf("deposit %d: %d rows of %q, want %d", i, n, q, want)
			}
		}
	}
	for c, want := range map[uuid.UUID][]int{first: {2, 3, 4}, owners[3]: {1, 2}, owners[4]: {1}} {
		got := numbers[c]
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("numbers of %s: %v, want %v", c, got, want)
		}
	}
	// The audit rows of the group say what the one alone says: the same fields, this deposit's figures.
	diffOf := func(id uuid.UUID) map[string]any {
		var m map[string]any
		if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT diff FROM audit_log WHERE action = 'deposit.completed' AND target_id = $1`, id.String()).Scan(&m)
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	alone, grouped := diffOf(d0.ID), diffOf(deps[1].ID)
	if len(alone) == 0 || len(alone) != len(grouped) {
		t.Errorf("audit diff alone %v, in a group %v", alone, grouped)
	}
	for k := range alone {
		if _, ok := grouped[k]; !ok {
			t.Errorf("the group's audit row lacks %q: %v", k, grouped)
		}
	}
	for c, want := range map[uuid.UUID]int64{first: 1000 + 1100 + 1200 + 1300, owners[3]: 2000 + 2100, owners[4]: 3000} {
		if w := b.wallet(t, c); w != want {
			t.Errorf("wallet of %s: %d, want %d", c, w, want)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM payment_callbacks`); n != 1+len(list) {
		t.Errorf("%d callback rows", n)
	}
	b.verifyLedger(t)
}

// A group with callbacks that leave the straight path completes the others and sends each odd one to its usual
// outcome, as if it had come alone: a wrong amount and a suspended client are cases with the money held, an
// unknown reference is a case, the same event delivered twice is a duplicate, a second confirmation of a deposit
// the group credits is already done.
func TestAGroupSendsItsOddCallbacksToTheirUsualOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	good := []payments.Deposit{b.deposit(t, b.client(t, clients.StatusKYCApproved), "card", "40.00"),
		b.deposit(t, b.client(t, clients.StatusKYCApproved), "card", "50.00")}
	wrongAmount := b.deposit(t, b.client(t, clients.StatusKYCApproved), "card", "60.00")
	suspended := b.client(t, clients.StatusKYCApproved)
	refused := b.deposit(t, suspended, "card", "70.00")
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.clients.TransitionTx(ctx, tx, b.ten, suspended, clients.StatusSuspended, "test", auditSystem)
	}); err != nil {
		t.Fatal(err)
	}
	now := b.clock.Now()
	call := func(event string, d uuid.UUID, amount int64) *sent {
		h, body := stripeEvent(event, "checkout.session.completed", d.String(), amount, "usd", "paid", now)
		return &sent{b: b, h: h, body: body}
	}
	list := []*sent{
		call("evt_good0", good[0].ID, 4000),
		call("evt_wrong", wrongAmount.ID, 5999),
		call("evt_good1", good[1].ID, 5000),
		call("evt_unknown", uuid.New(), 1234),
		call("evt_refused", refused.ID, 7000),
		call("evt_good0", good[0].ID, 4000),       // the same event again
		call("evt_good1_again", good[1].ID, 5000), // another event confirming the same payment
	}
	inOneGroup(t, b.svc, list)
	// The callbacks queued in the order their goroutines ran: of two about one deposit, either may be first.
	want := []payments.Outcome{payments.OutcomeCredited, payments.OutcomeException, payments.OutcomeCredited, payments.OutcomeException,
		payments.OutcomeException, payments.OutcomeDuplicate, payments.OutcomeAlreadyDone}
	for _, pair := range [][2]int{{0, 5}, {2, 6}} {
		if list[pair[0]].result.Outcome != payments.OutcomeCredited {
			want[pair[0]], want[pair[1]] = want[pair[1]], want[pair[0]]
		}
	}
	for i, s := range list {
		if s.err != nil || s.result.Outcome != want[i] || s.result.Ack.Status != 200 {
			t.Errorf("callback %d: %+v %v, want %s", i, s.result, s.err, want[i])
		}
	}
	for kind, want := range map[payments.CaseKind]int{payments.CaseAmountMismatch: 1, payments.CaseUnknownReference: 1, payments.CaseClientRefused: 1} {
		if n := b.count(t, `SELECT count(*) FROM payment_exceptions WHERE kind = $1`, string(kind)); n != want {
			t.Errorf("%d %s cases, want %d", n, kind, want)
		}
	}
	for _, d := range good {
		if got, _ := b.svc.Deposit(ctx, b.ten, d.ID); got.Status != payments.StatusCompleted || got.DepositNumber != 1 {
			t.Errorf("good deposit: %+v", got)
		}
	}
	for _, d := range []payments.Deposit{wrongAmount, refused} {
		if got, _ := b.svc.Deposit(ctx, b.ten, d.ID); got.Status != payments.StatusProcessing {
			t.Errorf("held deposit %s: %s, want processing", d.ID, got.Status)
		}
	}
	if s, _ := b.ledger.Balance(ctx, b.ten, ledger.Suspense(usd).Code); s.Posted != 5999+1234+7000 {
		t.Errorf("suspense %d", s.Posted)
	}
	if n := b.count(t, `SELECT count(*) FROM payment_callbacks`); n != len(list)-1 {
		t.Errorf("%d callback rows, want %d (the duplicate is not a row)", n, len(list)-1)
	}
	b.verifyLedger(t)
}

// A group whose transaction fails (here: one deposit's ledger key was taken by other money, so the group's batch
// of ledger transactions is refused) sends every callback alone: the others are credited, the bad one fails alone
// and is answered so that the processor retries, with nothing of it recorded.
func TestAGroupWhoseTransactionFailsSendsEachCallbackAlone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var deps []payments.Deposit
	var list []*sent
	for i := range 4 {
		d := b.deposit(t, b.client(t, clients.StatusKYCApproved), "card", "25.00")
		deps = append(deps, d)
		h, body := stripeEvent("evt_f"+string(rune('a'+i)), "checkout.session.completed", d.ID.String(), 2500, "usd", "paid", b.clock.Now())
		list = append(list, &sent{b: b, h: h, body: body})
	}
	bad := deps[2]
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := b.ledger.PostTx(ctx, tx, ledger.Entry{Key: "deposit:" + bad.ID.String(), Kind: "test", Postings: []ledger.Posting{
			{Account: ledger.Suspense(usd), Amount: -1}, {Account: ledger.WriteOff(usd), Amount: 1}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	inOneGroup(t, b.svc, list)
	if n, sum := b.groupSizes(t); n != 1 || sum != 4 {
		t.Errorf("%d groups of %v callbacks, want one of 4", n, sum)
	}
	for i, s := range list {
		if i == 2 {
			if !errors.Is(s.err, ledger.ErrKeyReused) || s.result.Ack.Status < 500 {
				t.Errorf("the bad callback: %+v %v", s.result, s.err)
			}
			continue
		}
		if s.err != nil || s.result.Outcome != payments.OutcomeCredited {
			t.Errorf("callback %d: %+v %v", i, s.result, s.err)
		}
	}
	if got, _ := b.svc.Deposit(ctx, b.ten, bad.ID); got.Status != payments.StatusPending {
		t.Errorf("the bad deposit: %s", got.Status)
	}
	if n := b.count(t, `SELECT count(*) FROM payment_callbacks`); n != 3 {
		t.Errorf("%d callback rows, want 3", n)
	}
	b.verifyLedger(t)
}

// Callbacks of two tenants waiting at once form a group per tenant: each tenant's deposits are credited in its
// own schema, and neither's callbacks are recorded in the other's.
func TestGroupsNeverMixTenants(t *testing.T) {
	t.Parallel()
	a := setup(t)
	other := *a // the same service, another tenant with a gateway of the same slug
	other.ten = a.p.NewTenant(t, "")
	other.gateway(t, "card", "stripe", map[string]any{"api_base": os.Getenv("BD_STRIPE_API_URL")}, map[string]any{"secret_key": "sk_test_brokerdesk",
		"webhook_secrets": []string{stripeSecret}})
	var list []*sent
	for _, b := range []*bundle{a, &other, a, &other} {
		d := b.deposit(t, b.client(t, clients.StatusKYCApproved), "card", "15.00")
		h, body := stripeEvent("evt_t"+d.ID.String(), "checkout.session.completed", d.ID.String(), 1500, "usd", "paid", b.clock.Now())
		list = append(list, &sent{b: b, h: h, body: body})
	}
	inOneGroup(t, a.svc, list)
	if n, sum := a.groupSizes(t); n != 2 || sum != 4 {
		t.Errorf("%d groups of %v callbacks, want two of 2", n, sum)
	}
	for i, s := range list {
		if s.err != nil || s.result.Outcome != payments.OutcomeCredited {
			t.Errorf("callback %d: %+v %v", i, s.result, s.err)
		}
	}
	for _, b := range []*bundle{a, &other} {
		if n := b.count(t, `SELECT count(*) FROM payment_callbacks WHERE outcome = 'credited'`); n != 2 {
			t.Errorf("tenant %s: %d credited callbacks, want its own 2", b.ten.Slug, n)
		}
		b.verifyLedger(t)
	}
}

// Two groups of one gateway run side by side: while the first waits inside its transaction (its deposits, its
// clients' wallets and deposit counts locked), a second group of other clients commits. A third group with a
// client of the first queues behind it at that client's wallet, never in a cycle, and numbers on from the first.
func TestTwoGroupsOfAGatewayRunSideBySide(t *testing.T) {
	t.Parallel()
	b := setup(t)
	shared, other, later := b.client(t, clients.StatusKYCApproved), b.client(t, clients.StatusKYCApproved), b.client(t, clients.StatusKYCApproved)
	send := func(owner uuid.UUID, amount string) (*sent, payments.Deposit) {
		d := b.deposit(t, owner, "card", amount)
		h, body := stripeEvent("evt_s"+d.ID.String(), "checkout.session.completed", d.ID.String(), d.Amount.Minor, "usd", "paid", b.clock.Now())
		return &sent{b: b, h: h, body: body}, d
	}
	// The gateway's clearing account exists (a first deposit credited alone), as it does but for a gateway's
	// very first deposits: a group creating it would hold the others' creation until it commits.
	if s, _ := send(b.client(t, clients.StatusKYCApproved), "19.00"); b.callback(t, "card", s.h, s.body).Outcome != payments.OutcomeCredited {
		t.Fatal("the first deposit alone was not credited")
	}
	firstIn, letFirstGo := make(chan struct{}), make(chan struct{})
	var groupsIn atomic.Int32
	b.svc.InGroupTx(func(size int) {
		if groupsIn.Add(1) == 1 { // the first group only
			close(firstIn)
			<-letFirstGo
		}
	})
	answer := func(s *sent) chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.result, s.err = b.svc.HandleCallback(context.Background(), b.ten, "card", s.h, s.body)
		}()
		return done
	}
	// The first group: two deposits of the shared client and one of another, taken together.
	var first []*sent
	var firstDone []chan struct{}
	release := b.svc.HoldGroups()
	for _, x := range []struct {
		owner  uuid.UUID
		amount string
	}{{shared, "10.00"}, {shared, "11.00"}, {other, "12.00"}} {
		s, _ := send(x.owner, x.amount)
		first = append(first, s)
		firstDone = append(firstDone, answer(s))
	}
	for b.svc.Waiting() < len(first) {
		time.Sleep(time.Millisecond) // waiting on the condition: every callback queued
	}
	release()
	<-firstIn
	// The second group, of a client of its own, commits while the first is still inside its transaction.
	second, _ := send(later, "13.00")
	select {
	case <-answer(second):
	case <-time.After(20 * time.Second):
		t.Fatal("a second group of the gateway did not commit while the first was inside its transaction")
	}
	if second.err != nil || second.result.Outcome != payments.OutcomeCredited {
		t.Fatalf("second group: %+v %v", second.result, second.err)
	}
	// The third, with the first group's shared client, waits for it; then everything commits.
	third, thirdDeposit := send(shared, "14.00")
	thirdDone := answer(third)
	close(letFirstGo)
	for _, done := range append(firstDone, thirdDone) {
		<-done
	}
	for i, s := range append(first, third) {
		if s.err != nil || s.result.Outcome != payments.OutcomeCredited {
			t.Errorf("callback %d: %+v %v", i, s.result, s.err)
		}
	}
	got, err := b.svc.Deposit(context.Background(), b.ten, thirdDeposit.ID)
	if err != nil || got.DepositNumber != 3 {
		t.Errorf("the shared client's deposit after the first group's two: number %d (%v), want 3", got.DepositNumber, err)
	}
	if n, sum := b.groupSizes(t); n != 4 || sum != 6 {
		t.Errorf("%d groups of %v callbacks, want the one alone and three of 5 in all", n, sum)
	}
	for c, want := range map[uuid.UUID]int64{shared: 1000 + 1100 + 1400, other: 1200, later: 1300} {
		if w := b.wallet(t, c); w != want {
			t.Errorf("wallet of %s: %d, want %d", c, w, want)
		}
	}
	b.verifyLedger(t)
}

// A handler whose request is cancelled while its callback waits for a group takes it out of the queue: nothing is
// recorded, and the processor's next delivery is credited once.
func TestACallbackCancelledWhileWaitingIsNotRecordedAndItsRedeliveryIsCredited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.deposit(t, b.client(t, clients.StatusKYCApproved), "card", "33.00")
	h, body := stripeEvent("evt_cancel", "checkout.session.completed", d.ID.String(), 3300, "usd", "paid", b.clock.Now())
	release := b.svc.HoldGroups()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.svc.HandleCallback(ctx, b.ten, "card", h, body)
		errc <- err
	}()
	for b.svc.Waiting() < 1 {
		time.Sleep(time.Millisecond) // waiting on the condition: the callback queued
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled handler: %v", err)
	}
	release()
	if n := b.count(t, `SELECT count(*) FROM payment_callbacks`); n != 0 {
		t.Errorf("%d callback rows after the cancellation", n)
	}
	if r := b.callback(t, "card", h, body); r.Outcome != payments.OutcomeCredited {
		t.Errorf("redelivery: %+v", r)
	}
	if w := b.wallet(t, d.ClientID); w != 3300 {
		t.Errorf("wallet %d", w)
	}
}

// A client with completed deposits but no count row yet (none in normal running) is numbered on from its
// completed deposits, alone or in a group.
func TestNumbersCountCompletedDepositsWhenAClientHasNoCountRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client := b.client(t, clients.StatusKYCApproved)
	d := b.deposit(t, client, "card", "10.00")
	h, body := stripeEvent("evt_n1", "checkout.session.completed", d.ID.String(), 1000, "usd", "paid", b.clock.Now())
	b.callback(t, "card", h, body)
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM deposit_counts WHERE client_id = $1`, client)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var list []*sent
	var deps []payments.Deposit
	for i := range 2 {
		d := b.deposit(t, client, "card", "10.00")
		deps = append(deps, d)
		h, body := stripeEvent("evt_n"+string(rune('2'+i)), "checkout.session.completed", d.ID.String(), 1000, "usd", "paid", b.clock.Now())
		list = append(list, &sent{b: b, h: h, body: body})
	}
	inOneGroup(t, b.svc, list)
	var got []int
	for _, d := range deps {
		dep, err := b.svc.Deposit(ctx, b.ten, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, dep.DepositNumber)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{2, 3}) {
		t.Errorf("numbers %v, want 2 and 3", got)
	}
	if n := b.count(t, `SELECT completed FROM deposit_counts WHERE client_id = $1`, client); n != 3 {
		t.Errorf("count row %d, want 3", n)
	}
}
