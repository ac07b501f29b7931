package tradingdesk_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/bonuses"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// Credit bonuses through the desk: the bonus engine (modules/bonuses) with its Desk seam answered by this desk, the
// events delivered through the hall's outbox rows, the desk's credit task run as the worker runs it, against the
// simulator and the MT5 connector over its protocol fake.

// bonusDesk is a bundle with the bonus engine over its desk, ledger and hall, and a clock the test moves.
type bonusDesk struct {
	b      *bundle
	bon    *bonuses.Service
	tt     *jobs.Tasks
	mu     sync.Mutex
	offset time.Duration
	spread map[string]bool // "<task type>/<row id>": a published event's row already run for that task type
}

func (b *bundle) bonusEngine(t testing.TB) *bonusDesk {
	t.Helper()
	bd := &bonusDesk{b: b}
	var err error
	if bd.bon, err = bonuses.New(bonuses.Options{Gate: b.p.Gate, Audit: b.trail, Clients: b.cl, Ledger: b.led, Desk: b.svc, Now: bd.clock}); err != nil {
		t.Fatal(err)
	}
	bd.bon.Subscribe(b.hall)
	bd.bon.Door().Trail()
	bd.tt = jobs.NewTasks(b.p.Registry)
	b.svc.Tasks(bd.tt)
	bd.bon.Tasks(bd.tt)
	b.hall.Register(bd.tt)
	if err := errors.Join(bd.tt.Err(), b.hall.Err()); err != nil {
		t.Fatal(err)
	}
	return bd
}

func (bd *bonusDesk) clock() time.Time {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	return time.Now().Add(bd.offset)
}

func (bd *bonusDesk) advance(d time.Duration) {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	bd.offset += d
}

// run processes the tasks of typ not yet run, each times times (a redelivery), and answers how many: the outbox
// rows of typ (marked enqueued), and the rows of published events the relay spreads to typ (each once per typ: other
// subscribers' tasks are made of the same rows).
func (bd *bonusDesk) run(t testing.TB, typ string, times int) int {
	t.Helper()
	ctx := context.Background()
	type row struct {
		id      uuid.UUID
		key     string
		payload json.RawMessage
	}
	var rows []row
	if err := bd.b.p.Gate.Scope(ctx, bd.b.ten, func(ctx context.Context, tx pgx.Tx) error {
		rs, err := tx.Query(ctx, `WITH own AS (UPDATE outbox SET enqueued_at = now() WHERE task_type = $1 AND enqueued_at IS NULL
				RETURNING id, idem_key, coalesce(payload, 'null'::jsonb) AS payload, created_at)
			SELECT id, idem_key, payload FROM (SELECT * FROM own
				UNION ALL SELECT id, idem_key, payload, created_at FROM outbox WHERE task_type = ANY($2)) x ORDER BY created_at, id`,
			typ, bd.b.hall.RowTypes(typ))
		if err != nil {
			return err
		}
		rows, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.key, &x.payload)
		})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	bd.mu.Lock()
	if bd.spread == nil {
		bd.spread = map[string]bool{}
	}
	rows = slices.DeleteFunc(rows, func(r row) bool {
		done := bd.spread[typ+"/"+r.id.String()]
		bd.spread[typ+"/"+r.id.String()] = true
		return done
	})
	bd.mu.Unlock()
	for range times {
		if jobs.IsBatch(typ) { // one batch of them all, as the worker aggregates them
			b := jobs.Batch{TenantID: bd.b.ten.ID}
			for _, r := range rows {
				b.Items = append(b.Items, jobs.Envelope{TenantID: bd.b.ten.ID, Key: r.key, Payload: r.payload})
			}
			task, err := jobs.NewBatchTask(typ, b)
			if err == nil {
				err = bd.tt.Mux().ProcessTask(ctx, task)
			}
			if err != nil {
				t.Fatalf("batch %s: %v", typ, err)
			}
			continue
		}
		for _, r := range rows {
			task, err := jobs.NewTask(typ, bd.b.ten.ID, r.key, r.payload)
			if err != nil {
				t.Fatal(err)
			}
			if err := bd.tt.Mux().ProcessTask(ctx, task); err != nil {
				t.Fatalf("task %s %s: %v", typ, r.key, err)
			}
		}
	}
	return len(rows)
}

// rule makes a credit rule: a fixed 100.00 USD on any deposit, 1 lot of turnover, 30 days.
func (bd *bonusDesk) rule(t testing.TB) {
	t.Helper()
	if _, err := bd.bon.CreateRule(context.Background(), bd.b.ten, admin, "Credit 100", "USD", bonuses.Terms{Active: true,
		Fixed: decimal.RequireFromString("100"), LotsPerUnit: decimal.RequireFromString("0.01"), ValidDays: 30,
		CreditTo: bonuses.CreditToTradingAccount}); err != nil {
		t.Fatal(err)
	}
	bd.advance(time.Second)
}

// deposit announces the client's completed deposit deliveries times (each a new event, as a redelivered publish
// would be) and runs the grant's deliveries.
func (bd *bonusDesk) deposit(t testing.TB, client uuid.UUID, deliveries int) uuid.UUID {
	t.Helper()
	e := payments.DepositCompleted{DepositID: uuid.New(), ClientID: client, Amount: 50000, Currency: "USD", Exponent: 2, DepositNumber: 1,
		GatewayID: uuid.New(), GatewayKind: "stripe", LedgerTx: uuid.New()}
	for range deliveries {
		if err := bd.b.p.Gate.Scope(context.Background(), bd.b.ten, func(ctx context.Context, tx pgx.Tx) error {
			return bd.b.hall.Publish(ctx, tx, bd.b.ten, e)
		}); err != nil {
			t.Fatal(err)
		}
	}
	bd.run(t, events.TaskType("bonuses.grant"), 1)
	return e.DepositID
}

func (bd *bonusDesk) bonuses(t testing.TB, client uuid.UUID) []bonuses.Bonus {
	t.Helper()
	bs, err := bd.bon.ClientBonuses(context.Background(), bd.b.ten, client)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// credits carries the pending credit operations to the platform and tells the engine how they ended.
func (bd *bonusDesk) credits(t testing.TB) int {
	t.Helper()
	n := bd.run(t, tradingdesk.TaskCredit, 1)
	bd.run(t, events.TaskType("bonuses.credit_finished"), 1)
	return n
}

func (bd *bonusDesk) stopOut(t testing.TB, want int) {
	t.Helper()
	n, err := bd.bon.WriteOffStoppedOut(context.Background(), bd.b.ten)
	if err != nil || n != want {
		t.Fatalf("stop-out wrote off %d (%v), want %d", n, err, want)
	}
}

func (bd *bonusDesk) balance(t testing.TB, spec ledger.AccountSpec) int64 {
	t.Helper()
	bal, err := bd.b.led.Balance(context.Background(), bd.b.ten, spec.Code)
	if errors.Is(err, ledger.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bal.Posted
}

func (b *bundle) simCredit(t testing.TB, login string) string {
	t.Helper()
	acc, err := b.sim.Account(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	return acc.Credit.StringFixed(2)
}

// A credit bonus on the simulator: granted once though its deposit is announced twice, and credited once though
// the platform's first answer is lost and the task runs again; written off at stop-out (the account's equity fell
// to its credit after the client's own money was seen beside it), cancelled and expired (the credit taken out each
// time), and released to the wallet when its turnover is met; a client without a USD account gets none, and says
// why. Another brokerage reaches none of it.
func TestACreditBonusIsCreditedOnceAndTakenOutWhenItEnds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	bd := b.bonusEngine(t)
	bd.rule(t)

	// No account in USD: not granted, and the evaluation says why.
	lone, _ := b.client(t, clients.StatusKYCApproved, "standard")
	bd.deposit(t, lone, 1)
	if n := b.count(t, `SELECT count(*) FROM bonus_evaluations WHERE client_id = $1 AND outcome = 'not_granted' AND reason = 'no_trading_account'
		AND explanation->'decision'->>'says' LIKE '%no trading account in USD%'`, lone); n != 1 {
		t.Fatalf("%d explained evaluations for a client without an account", n)
	}

	// Ann: 500.00 of her own on the account, then the bonus; the first credit call's answer is lost.
	ann, acc := b.walletTrader(t, 100_000)
	b.transfer(t, ann, acc, tradingdesk.ToAccount, "500.00")
	b.runTasks(t, tradingdesk.TaskTransfer)
	bd.deposit(t, ann, 2)
	bs := bd.bonuses(t, ann)
	if len(bs) != 1 || bs[0].Status != "open" || bs[0].Amount.Minor != 10000 {
		t.Fatalf("Ann's bonuses %+v", bs)
	}
	list, err := b.svc.Credits(ctx, b.ten, ann, false)
	if err != nil || len(list) != 1 || list[0].Kind != trading.CreditIn || list[0].Key != "bonus:"+bs[0].ID.String()+":credit_in" {
		t.Fatalf("credit operations %+v %v", list, err)
	}
	b.sim.Faults.DropNextBalanceAnswer()
	if err := b.svc.RunCredit(ctx, b.ten, list[0].ID, false); err == nil {
		t.Fatal("a lost answer completed the credit")
	}
	if n := bd.credits(t); n != 1 {
		t.Fatalf("%d credit tasks", n)
	}
	if err := b.svc.RunCredit(ctx, b.ten, list[0].ID, false); err != nil { // delivered again: done, nothing moves
		t.Fatal(err)
	}
	if got := b.simCredit(t, acc.Login); got != "100.00" {
		t.Fatalf("the platform's credit %s, want 100.00 once", got)
	}
	if got := bd.balance(t, bonuses.ClientBonusCredit(ann, usd)); got != 10000 {
		t.Fatalf("bonus credit account %d", got)
	}
	if n := b.count(t, `SELECT count(*) FROM bonuses WHERE client_id = $1 AND credited_at IS NOT NULL AND credit_login = $2`, ann, acc.Login); n != 1 {
		t.Fatal("the bonus is not marked credited on the account")
	}
	if r := bonuses.ToBonusResponse(bd.bonuses(t, ann)[0]); r.CreditTo != "trading_account" || r.CreditLogin != acc.Login || r.CreditedAt == nil || r.Forfeited != "0.00" {
		t.Fatalf("the bonus in the API says it went to %q on %q at %v (forfeited %s)", r.CreditTo, r.CreditLogin, r.CreditedAt, r.Forfeited)
	}

	// Stop-out: the own money is seen, then taken out by hand; equity = credit writes the bonus off.
	bd.stopOut(t, 0)
	if err := b.sim.Faults.BalanceByHand(acc.Login, decimal.RequireFromString("-500"), "loss"); err != nil {
		t.Fatal(err)
	}
	bd.stopOut(t, 1)
	if bs := bd.bonuses(t, ann); bs[0].Status != "written_off" || !strings.Contains(bs[0].CloseReason, "stop-out on account "+acc.Login) {
		t.Fatalf("after the stop-out %+v", bs[0])
	}
	bd.credits(t)
	if got := b.simCredit(t, acc.Login); got != "0.00" {
		t.Fatalf("the platform's credit %s after the write-off", got)
	}
	if s := b.sentences(t); !strings.Contains(s, "wrote off Ada Lovelace's bonus of 100.00 USD (Credit 100): stop-out on account "+acc.Login) ||
		!strings.Contains(s, "The trading server booked a credit_out of 100.00 USD on Ada Lovelace's account "+acc.Login) ||
		!strings.Contains(s, "The trading server credited Ada Lovelace's bonus of 100.00 USD on account "+acc.Login) {
		t.Fatalf("sentences:\n%s", s)
	}

	// Bob: two bonuses on an account with no money of his own (equity = credit, never written off for it); one
	// cancelled, one expired: each takes its credit out.
	bob, bacc := b.walletTrader(t, 0)
	bd.deposit(t, bob, 1)
	bd.advance(time.Second)
	bd.deposit(t, bob, 1)
	bd.credits(t)
	if got := b.simCredit(t, bacc.Login); got != "200.00" {
		t.Fatalf("Bob's credit %s", got)
	}
	bd.stopOut(t, 0)
	// A dealer takes 40.00 of the credit off by hand: the last credit_out takes what is left.
	if _, err := b.sim.BalanceOperation(ctx, trading.BalanceOp{Login: bacc.Login, Kind: trading.CreditOut, Amount: decimal.RequireFromString("40"),
		OperationID: "dealer-by-hand"}); err != nil {
		t.Fatal(err)
	}
	bbs := bd.bonuses(t, bob)
	if err := bd.bon.Cancel(ctx, b.ten, admin, bbs[1].ID, "duplicate account"); err != nil {
		t.Fatal(err)
	}
	bd.credits(t)
	if got := b.simCredit(t, bacc.Login); got != "60.00" {
		t.Fatalf("Bob's credit %s after a cancellation", got)
	}
	bd.advance(31 * 24 * time.Hour)
	if n, err := bd.bon.ExpireDue(ctx, b.ten, 10); err != nil || n != 1 {
		t.Fatalf("expired %d %v", n, err)
	}
	bd.credits(t)
	if got := b.simCredit(t, bacc.Login); got != "0.00" {
		t.Fatalf("Bob's credit %s after the expiry", got)
	}
	if got := bd.balance(t, bonuses.ClientBonusCredit(bob, usd)); got != 0 {
		t.Fatalf("Bob's bonus credit account %d", got)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_credits WHERE client_id = $1 AND kind = 'credit_out' AND status = 'done' AND amount = 10000
		AND moved = 6000`, bob); n != 1 {
		t.Fatal("the last credit_out did not record the 60.00 it took of the 100.00 asked")
	}
	if s := b.sentences(t); !strings.Contains(s, "The trading server booked a credit_out of 60.00 USD on Ada Lovelace's account "+bacc.Login+
		" (Bonus Credit 100 expired) (100.00 USD asked; the account had no more credit)") {
		t.Fatalf("sentences:\n%s", s)
	}

	// Cy: turnover met, the bonus is released to the wallet and its credit taken out.
	cy, cacc := b.walletTrader(t, 0)
	bd.deposit(t, cy, 1)
	bd.credits(t)
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.hall.Publish(ctx, tx, b.ten, tradingdesk.DealClosed{DealAccount: tradingdesk.DealAccount{ServerID: cacc.ServerID, Login: cacc.Login,
			AccountID: &cacc.ID, ClientID: &cy}, Deal: tradingdesk.Deal{Ticket: "t1", PositionID: "p1", Action: trading.ActionSell,
			Entry: trading.EntryOut, Symbol: "EURUSD", Volume: decimal.RequireFromString("1"), Price: decimal.RequireFromString("1.1"),
			Time: bd.clock().UTC().Truncate(time.Microsecond)}})
	}); err != nil {
		t.Fatal(err)
	}
	bd.run(t, events.BatchTaskType("bonuses.deal_closed"), 1)
	if cbs := bd.bonuses(t, cy); cbs[0].Status != "released" {
		t.Fatalf("Cy's bonus %+v", cbs[0])
	}
	bd.credits(t)
	if got, w := b.simCredit(t, cacc.Login), b.wallet(t, cy); got != "0.00" || w.Posted != 10000 {
		t.Fatalf("after the release: credit %s, wallet %+v", got, w)
	}
	if got := bd.balance(t, ledger.BonusLiability(usd)); got != -10000 {
		t.Fatalf("the liability %d: only Cy's released bonus is spent", got)
	}
	if rep, err := b.led.Verify(ctx, b.ten); err != nil || !rep.OK() {
		t.Fatalf("ledger verify: %v %v", rep.Problem, err)
	}

	// Another brokerage reaches none of it.
	other := b.p.NewTenant(t, "")
	if err := bd.bon.Cancel(ctx, other, admin, bbs[0].ID, "not yours"); !errors.Is(err, bonuses.ErrNotFound) {
		t.Fatalf("another tenant cancels: %v", err)
	}
	if _, err := b.svc.GetCredit(ctx, other, list[0].ID); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Fatalf("another tenant reads a credit: %v", err)
	}
	if n, err := bd.bon.WriteOffStoppedOut(ctx, other); err != nil || n != 0 {
		t.Fatalf("another tenant's stop-out: %d %v", n, err)
	}
}

// On MT5 (the real connector over its protocol fake): the credit's lost answer is found again by its operation's
// tag (credited once), and the stop-out takes it out.
func TestACreditBonusOnMT5IsBookedOnceAndWrittenOffAtStopOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	v := startMT5(t, b)
	bd := b.bonusEngine(t)
	bd.rule(t)
	client, _, acc := b.openOn(t, v)
	b.fund(t, client, 100_000)
	b.transfer(t, client, acc, tradingdesk.ToAccount, "500.00")
	b.runTasks(t, tradingdesk.TaskTransfer)
	bd.deposit(t, client, 1)
	list, err := b.svc.Credits(ctx, b.ten, client, false)
	if err != nil || len(list) != 1 {
		t.Fatalf("credits %+v %v", list, err)
	}
	v.dropNextMoneyAnswer()
	// The connector asks again at once and finds the operation by its tag, or the task's next run does.
	_ = b.svc.RunCredit(ctx, b.ten, list[0].ID, false)
	if v.dropPending() {
		t.Fatal("the platform's answer was not lost")
	}
	bd.credits(t)
	credit := func() string {
		var out string
		b.onPlatform(t, v, func(c trading.Connector) error {
			a, err := c.Account(ctx, acc.Login)
			out = a.Credit.StringFixed(2)
			return err
		})
		return out
	}
	if got := credit(); got != "100.00" {
		t.Fatalf("MT5 credit %s, want 100.00 once", got)
	}
	bd.stopOut(t, 0)
	b.onPlatform(t, v, func(c trading.Connector) error {
		_, err := c.BalanceOperation(ctx, trading.BalanceOp{Login: acc.Login, Kind: trading.Withdrawal, Amount: decimal.RequireFromString("500"),
			OperationID: "by-hand-loss"})
		return err
	})
	bd.stopOut(t, 1)
	bd.credits(t)
	if got := credit(); got != "0.00" {
		t.Fatalf("MT5 credit %s after the write-off", got)
	}
	if bs := bd.bonuses(t, client); bs[0].Status != "written_off" {
		t.Fatalf("bonus %+v", bs[0])
	}
}

// The platform refuses the credit: the operation fails (audited), and the engine cancels the bonus and reverses its
// grant; nothing is taken out, since nothing was credited.
func TestARefusedCreditCancelsTheBonus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.faults(t)
	bd := b.bonusEngine(t)
	bd.rule(t)
	dee, acc := b.walletTrader(t, 0)
	f.mu.Lock()
	f.balanceFails, f.balanceErr = 1, &trading.PlatformError{Kind: trading.ErrInvalidRequest, Platform: trading.PlatformSimulator,
		Op: "balance_operation", Code: "no_credit_allowed", Message: "credit is not allowed in this group"}
	f.mu.Unlock()
	bd.deposit(t, dee, 1)
	bd.credits(t)
	bs := bd.bonuses(t, dee)
	if len(bs) != 1 || bs[0].Status != "cancelled" || !strings.Contains(bs[0].CloseReason, "credit is not allowed in this group") {
		t.Fatalf("bonuses %+v", bs)
	}
	if got := bd.balance(t, bonuses.ClientBonusCredit(dee, usd)); got != 0 {
		t.Fatalf("bonus credit account %d", got)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_credits WHERE client_id = $1`, dee); n != 1 {
		t.Fatalf("%d credit operations: a refused credit asks nothing to be taken out", n)
	}
	if got := b.simCredit(t, acc.Login); got != "0.00" {
		t.Fatalf("credit %s", got)
	}
	if s := b.sentences(t); !strings.Contains(s, "The trading server did not book a credit_in of 100.00 USD on Ada Lovelace's account "+acc.Login) ||
		!strings.Contains(s, "cancelled Ada Lovelace's bonus of 100.00 USD (Credit 100): the trading server refused the credit on account "+acc.Login) {
		t.Fatalf("sentences:\n%s", s)
	}
}

// The platform books the credit but its answer never comes back before the task's last attempt: the operation stays
// pending with its outcome unknown (audited, listed for finance), the bonus stays open and uncredited; finance's
// retry asks by the same operation id, which the platform answers Replayed: credited once.
func TestACreditWhoseOutcomeIsUnknownWaitsForFinanceAndIsBookedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := b.faults(t)
	bd := b.bonusEngine(t)
	bd.rule(t)
	eve, acc := b.walletTrader(t, 0)
	bd.deposit(t, eve, 1)
	list, err := b.svc.Credits(ctx, b.ten, eve, false)
	if err != nil || len(list) != 1 {
		t.Fatalf("credits %+v %v", list, err)
	}
	f.mu.Lock()
	f.dropBalance = 1
	f.mu.Unlock()
	if err := b.svc.RunCredit(ctx, b.ten, list[0].ID, true); err == nil {
		t.Fatal("the last attempt without an answer completed")
	}
	unknown, err := b.svc.Credits(ctx, b.ten, uuid.Nil, true)
	if err != nil || len(unknown) != 1 || unknown[0].Status != tradingdesk.RequestPending || !unknown[0].OutcomeUnknown {
		t.Fatalf("unknown credits %+v %v", unknown, err)
	}
	if n := b.count(t, `SELECT count(*) FROM bonuses WHERE client_id = $1 AND status = 'open' AND credited_at IS NULL`, eve); n != 1 {
		t.Fatal("the bonus is not open and uncredited while its credit is unknown")
	}
	if _, err := b.svc.RetryCredit(ctx, b.ten, admin, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := bd.credits(t); n != 2 { // the first task (run by hand above), and the retry's

		t.Fatalf("%d credit tasks", n)
	}
	if got := b.simCredit(t, acc.Login); got != "100.00" {
		t.Fatalf("credit %s, want 100.00 once", got)
	}
	if n := b.count(t, `SELECT count(*) FROM bonuses WHERE client_id = $1 AND credited_at IS NOT NULL`, eve); n != 1 {
		t.Fatal("the bonus is not marked credited")
	}
	if _, err := b.svc.RetryCredit(ctx, b.ten, admin, list[0].ID); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Fatalf("a retry of a done credit: %v", err)
	}
	if s := b.sentences(t); !strings.Contains(s, "The trading server never answered about a credit_in of 100.00 USD on Ada Lovelace's account "+acc.Login) ||
		!strings.Contains(s, "asked the trading server again about a credit_in of 100.00 USD") {
		t.Fatalf("sentences:\n%s", s)
	}
}
