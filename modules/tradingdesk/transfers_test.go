package tradingdesk_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

var usd, _ = money.Lookup("USD")

// walletTrader is an approved client with a funded USD wallet (minor units) and a Standard USD account on the
// simulator, opened through the desk.
func (b *bundle) walletTrader(t testing.TB, wallet int64) (uuid.UUID, tradingdesk.Account) {
	t.Helper()
	ctx := context.Background()
	if b.count(t, `SELECT count(*) FROM account_types`) == 0 {
		b.offer(t)
	}
	client, _ := b.client(t, clients.StatusKYCApproved, "standard")
	r := b.open(t, client, "standard", "USD", 100)
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err != nil {
		t.Fatal(err)
	}
	list, err := b.svc.ClientAccounts(ctx, b.ten, client)
	if err != nil || len(list) != 1 {
		t.Fatalf("accounts: %+v %v", list, err)
	}
	if wallet > 0 {
		b.fund(t, client, wallet)
	}
	return client, list[0]
}

// fund credits the client's USD wallet as a deposit through a gateway would.
func (b *bundle) fund(t testing.TB, client uuid.UUID, minor int64) {
	t.Helper()
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := b.led.PostTx(ctx, tx, ledger.Entry{Key: "test-deposit:" + uuid.NewString(), Kind: "deposit", Postings: []ledger.Posting{
			{Account: ledger.Clearing("test", usd), Amount: -minor}, {Account: ledger.ClientWallet(client, usd), Amount: minor}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// exec runs a statement in the bundle's tenant (a test's setting of a row).
func (b *bundle) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, q, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) wallet(t testing.TB, client uuid.UUID) ledger.Balance {
	t.Helper()
	bal, err := b.led.Balance(context.Background(), b.ten, ledger.ClientWallet(client, usd).Code)
	if err != nil {
		t.Fatal(err)
	}
	return bal
}

// agree checks the ledger verifies clean and that what it says is on the server is what the platform holds on
// the logins (the simulator's balances, in cents).
func (b *bundle) agree(t testing.TB, server uuid.UUID, logins ...string) {
	t.Helper()
	ctx := context.Background()
	rep, err := b.led.Verify(ctx, b.ten)
	if err != nil || !rep.OK() {
		t.Fatalf("ledger verify: %v %v", rep.Problem, err)
	}
	var onPlatform int64
	for _, l := range logins {
		acc, err := b.sim.Account(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		onPlatform += acc.Balance.Shift(2).IntPart()
	}
	bal, err := b.led.Balance(ctx, b.ten, ledger.TradingServer(server, usd).Code)
	if errors.Is(err, ledger.ErrNotFound) {
		bal = ledger.Balance{}
	} else if err != nil {
		t.Fatal(err)
	}
	if bal.Posted != onPlatform {
		t.Fatalf("the ledger has %d cents posted on the server, the platform %d", bal.Posted, onPlatform)
	}
}

func (b *bundle) transfer(t testing.TB, client uuid.UUID, acc tradingdesk.Account, dir tradingdesk.TransferDirection, amount string) tradingdesk.Transfer {
	t.Helper()
	x, err := b.svc.RequestTransfer(context.Background(), b.ten, client, tradingdesk.TransferInput{Account: acc.ID, Direction: dir,
		Amount: amount, Currency: "USD"})
	if err != nil {
		t.Fatalf("transfer %s %s: %v", dir, amount, err)
	}
	return x
}

func (b *bundle) transferNow(t testing.TB, id uuid.UUID) tradingdesk.Transfer {
	t.Helper()
	x, err := b.svc.GetTransfer(context.Background(), b.ten, id, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func fieldOf(err error) string {
	v, ok := validation.As(err)
	if !ok || len(v.Fields) == 0 {
		return ""
	}
	return v.Fields[0].Field
}

// Money moves both ways through the worker: to the account it is held on the wallet at once (available drops,
// posted does not), and the worker's deposit on the platform posts the hold; back to the wallet the worker
// withdraws on the platform and posts to the wallet. The ledger and the platform agree, the trail reads as
// sentences and the client reads the outcome in words.
func TestMoneyMovesBetweenTheWalletAndTheAccountThroughTheWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client, acc := b.walletTrader(t, 100_000)
	x := b.transfer(t, client, acc, tradingdesk.ToAccount, "250.00")
	if w := b.wallet(t, client); x.Status != tradingdesk.RequestPending || x.HoldTx == nil || w.Available() != 75_000 || w.Posted != 100_000 {
		t.Fatalf("requested: %+v, wallet %+v", x, w)
	}
	if n := b.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1`, tradingdesk.TaskTransfer); n != 1 {
		t.Fatalf("%d transfer tasks in the outbox", n)
	}
	if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); err != nil {
		t.Fatal(err)
	}
	x = b.transferNow(t, x.ID)
	if w := b.wallet(t, client); x.Status != tradingdesk.RequestDone || x.Ticket == "" || x.LedgerTx == nil || w.Posted != 75_000 || w.PendingDebits != 0 {
		t.Fatalf("done: %+v, wallet %+v", x, w)
	}
	if want := "250.00 USD moved from your wallet to account " + acc.Login + "."; x.Outcome() != want {
		t.Errorf("outcome %q, want %q", x.Outcome(), want)
	}
	b.agree(t, acc.ServerID, acc.Login)
	if list, err := b.svc.ClientAccounts(ctx, b.ten, client); err != nil || list[0].Balance == nil || list[0].Balance.Minor != 25_000 {
		t.Fatalf("the account's balance as the platform answered after the transfer: %+v %v", list, err)
	}
	// A duplicate delivery does nothing.
	if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); err != nil {
		t.Fatal(err)
	}

	back := b.transfer(t, client, acc, tradingdesk.ToWallet, "100")
	if back.HoldTx != nil || b.wallet(t, client).Available() != 75_000 {
		t.Fatalf("a transfer to the wallet holds nothing: %+v", back)
	}
	if err := b.svc.RunTransfer(ctx, b.ten, back.ID, false); err != nil {
		t.Fatal(err)
	}
	back = b.transferNow(t, back.ID)
	if w := b.wallet(t, client); back.Status != tradingdesk.RequestDone || w.Posted != 85_000 {
		t.Fatalf("back: %+v, wallet %+v", back, w)
	}
	b.agree(t, acc.ServerID, acc.Login)
	said := b.sentences(t)
	for _, want := range []string{"Ada Lovelace moved 250.00 USD from their wallet to account " + acc.Login,
		"Ada Lovelace moved 100.00 USD from account " + acc.Login + " to their wallet"} {
		if !strings.Contains(said, want) {
			t.Errorf("the trail lacks %q:\n%s", want, said)
		}
	}
	list, err := b.svc.Transfers(ctx, b.ten, tradingdesk.TransferFilter{Client: client})
	if err != nil || len(list) != 2 || list[0].ID != back.ID {
		t.Fatalf("the client's transfers: %+v %v", list, err)
	}
}

// The platform applies the operation but its answer is lost, both ways: the transfer stays pending (the hold is
// kept, nothing is posted), and the retry with the same operation id finds it Replayed and completes: the money
// moved once on the platform and once in the ledger.
func TestALostAnswerMovesTheMoneyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := b.faults(t)
	client, acc := b.walletTrader(t, 100_000)
	for _, c := range []struct {
		dir    tradingdesk.TransferDirection
		amount string
		wallet int64
	}{{tradingdesk.ToAccount, "400.00", 60_000}, {tradingdesk.ToWallet, "150.00", 75_000}} {
		x := b.transfer(t, client, acc, c.dir, c.amount)
		f.mu.Lock()
		f.dropBalance = 1
		f.mu.Unlock()
		if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); !errors.Is(err, trading.ErrUnavailable) {
			t.Fatalf("%s: the lost answer: %v", c.dir, err)
		}
		if got := b.transferNow(t, x.ID); got.Status != tradingdesk.RequestPending || got.LedgerTx != nil {
			t.Fatalf("%s after the lost answer: %+v", c.dir, got)
		}
		if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); err != nil {
			t.Fatalf("%s: the retry: %v", c.dir, err)
		}
		if got := b.transferNow(t, x.ID); got.Status != tradingdesk.RequestDone || got.Calls != 2 {
			t.Fatalf("%s after the retry: %+v", c.dir, got)
		}
		if w := b.wallet(t, client); w.Posted != c.wallet || w.PendingDebits != 0 {
			t.Fatalf("%s: wallet %+v, want %d posted", c.dir, w, c.wallet)
		}
		b.agree(t, acc.ServerID, acc.Login)
	}
	if on, _ := b.sim.Account(ctx, acc.Login); !on.Balance.Equal(decimal.RequireFromString("250")) {
		t.Fatalf("the platform holds %s", on.Balance)
	}
}

// failingLedger is the ledger with its next post refused: the worker "killed" after the platform moved the money
// and before the ledger committed.
type failingLedger struct {
	tradingdesk.Ledger
}

var errKilled = errors.New("the worker was killed here")

func (failingLedger) PostTx(context.Context, pgx.Tx, ledger.Entry) (ledger.Transaction, error) {
	return ledger.Transaction{}, errKilled
}

func (failingLedger) PostHoldTx(context.Context, pgx.Tx, string, uuid.UUID, int64, string) (ledger.Transaction, error) {
	return ledger.Transaction{}, errKilled
}

// A worker killed between the platform call and the ledger post, both ways: the restarted worker finds the
// platform's operation Replayed and posts then; the ledger and the platform agree afterwards.
func TestAWorkerKilledBetweenThePlatformAndTheLedgerIsMadeWholeByTheNextRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client, acc := b.walletTrader(t, 50_000)
	killed := b.service(t, func(o *tradingdesk.Options) { o.Ledger = failingLedger{b.led} })
	for _, dir := range []tradingdesk.TransferDirection{tradingdesk.ToAccount, tradingdesk.ToWallet} {
		x := b.transfer(t, client, acc, dir, "200.00")
		if err := killed.RunTransfer(ctx, b.ten, x.ID, false); !errors.Is(err, errKilled) {
			t.Fatalf("%s: the killed run: %v", dir, err)
		}
		if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); err != nil {
			t.Fatalf("%s: the next run: %v", dir, err)
		}
		if got := b.transferNow(t, x.ID); got.Status != tradingdesk.RequestDone {
			t.Fatalf("%s: %+v", dir, got)
		}
		b.agree(t, acc.ServerID, acc.Login)
	}
	if w := b.wallet(t, client); w.Posted != 50_000 || w.PendingDebits != 0 {
		t.Fatalf("wallet %+v", w)
	}
}

// The ledger refuses an overdraft under lock: a transfer above the wallet's available balance is refused with
// what is available, and 50 concurrent transfers against a wallet that covers exactly 20 accept exactly 20.
func TestTheWalletNeverGoesBelowZero(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client, acc := b.walletTrader(t, 20_000)
	_, err := b.svc.RequestTransfer(ctx, b.ten, client, tradingdesk.TransferInput{Account: acc.ID, Direction: tradingdesk.ToAccount,
		Amount: "200.01", Currency: "USD"})
	if fieldOf(err) != "amount" || !strings.Contains(err.Error(), "200.00 USD available") {
		t.Fatalf("an overdraft: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, refused := 0, 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.svc.RequestTransfer(ctx, b.ten, client, tradingdesk.TransferInput{Account: acc.ID, Direction: tradingdesk.ToAccount,
				Amount: "10.00", Currency: "USD"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case fieldOf(err) == "amount":
				refused++
			default:
				t.Errorf("transfer: %v", err)
			}
		}()
	}
	wg.Wait()
	if accepted != 20 || refused != 30 {
		t.Fatalf("%d accepted, %d refused", accepted, refused)
	}
	if w := b.wallet(t, client); w.Available() != 0 || w.PendingDebits != 20_000 {
		t.Fatalf("wallet %+v", w)
	}
	b.agree(t, acc.ServerID, acc.Login)
}

// Back to the wallet, the account's free margin read at the run is what may leave: a transfer above it fails with
// the figure and moves nothing; a platform refusal of a transfer to the account voids its hold.
func TestAShortFreeMarginOrARefusalFailsTheTransferAndMovesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := b.faults(t)
	client, acc := b.walletTrader(t, 10_000)
	in := b.transfer(t, client, acc, tradingdesk.ToAccount, "50.00")
	if err := b.svc.RunTransfer(ctx, b.ten, in.ID, false); err != nil {
		t.Fatal(err)
	}
	x := b.transfer(t, client, acc, tradingdesk.ToWallet, "80.00")
	if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); err == nil {
		t.Fatal("a run that fails the transfer says so (its task then asks for no retry)")
	}
	x = b.transferNow(t, x.ID)
	if x.Status != tradingdesk.RequestFailed || x.Failure != "account "+acc.Login+" has 50.00 USD of free margin" || x.Calls != 0 {
		t.Fatalf("short: %+v", x)
	}
	if !strings.Contains(x.Outcome(), "did not go through") {
		t.Errorf("outcome: %q", x.Outcome())
	}

	f.mu.Lock()
	f.balanceFails, f.balanceErr = 1, &trading.PlatformError{Kind: trading.ErrInvalidRequest, Platform: trading.PlatformSimulator,
		Op: "balance_operation", Code: "bad_account", Message: "the account is read-only"}
	f.mu.Unlock()
	y := b.transfer(t, client, acc, tradingdesk.ToAccount, "30.00")
	if err := b.svc.RunTransfer(ctx, b.ten, y.ID, false); err == nil {
		t.Fatal("a refused transfer's run says so")
	}
	y = b.transferNow(t, y.ID)
	if w := b.wallet(t, client); y.Status != tradingdesk.RequestFailed || !strings.Contains(y.Failure, "read-only") || w.Available() != 5_000 || w.PendingDebits != 0 {
		t.Fatalf("refused: %+v, wallet %+v", y, w)
	}
	b.agree(t, acc.ServerID, acc.Login)
	said := b.sentences(t)
	if !strings.Contains(said, "The transfer of 80.00 USD from account "+acc.Login+" to Ada Lovelace's wallet failed: account "+acc.Login+" has 50.00 USD of free margin; no money moved") {
		t.Errorf("trail:\n%s", said)
	}
}

// When the task's retries run out while the platform's answer is unknown, the transfer stays pending with its hold
// (never voided blindly) and is listed for finance; finance's retry asks again by the same id, and the platform's
// Replayed answer completes it.
func TestAnUnknownOutcomeWaitsForFinanceAndIsResolvedByTheSameID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := b.faults(t)
	client, acc := b.walletTrader(t, 30_000)
	x := b.transfer(t, client, acc, tradingdesk.ToAccount, "120.00")
	f.mu.Lock()
	f.dropBalance = 1
	f.mu.Unlock()
	if err := b.svc.RunTransfer(ctx, b.ten, x.ID, true); err == nil {
		t.Fatal("the last run reports the unknown outcome")
	}
	x = b.transferNow(t, x.ID)
	if w := b.wallet(t, client); x.Status != tradingdesk.RequestPending || !x.OutcomeUnknown || w.PendingDebits != 12_000 {
		t.Fatalf("unknown: %+v, wallet %+v", x, w)
	}
	list, err := b.svc.Transfers(ctx, b.ten, tradingdesk.TransferFilter{Unknown: true})
	if err != nil || len(list) != 1 || list[0].ID != x.ID {
		t.Fatalf("finance's list: %+v %v", list, err)
	}
	if _, _, unknown, err := b.svc.TransferCounts(ctx, b.ten, 0); err != nil || unknown != 1 {
		t.Fatalf("counts: %d %v", unknown, err)
	}
	if _, err := b.svc.RetryTransfer(ctx, b.ten, admin, x.ID); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1`, tradingdesk.TaskTransfer); n != 2 {
		t.Fatalf("%d transfer tasks in the outbox", n)
	}
	if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); err != nil {
		t.Fatal(err)
	}
	if x = b.transferNow(t, x.ID); x.Status != tradingdesk.RequestDone || x.OutcomeUnknown {
		t.Fatalf("resolved: %+v", x)
	}
	b.agree(t, acc.ServerID, acc.Login)
	if _, err := b.svc.RetryTransfer(ctx, b.ten, admin, x.ID); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Fatalf("a retry of a done transfer: %v", err)
	}

	// A week on, the platform may no longer recognise the id (MT5 looks a week back): the retry is refused.
	old := b.transfer(t, client, acc, tradingdesk.ToAccount, "5.00")
	b.exec(t, `UPDATE trading_transfers SET calls = 1, outcome_unknown = true, created_at = now() - interval '7 days' WHERE id = $1`, old.ID)
	if _, err := b.svc.RetryTransfer(ctx, b.ten, admin, old.ID); !errors.Is(err, tradingdesk.ErrTooLateToRetry) {
		t.Fatalf("a retry after a week: %v", err)
	}
}

// The gate, the account and the amount refuse before anything is held: another client's account (not found), another
// currency (no FX yet), too many decimals, zero, a demo account, and a suspended client.
func TestTheGateTheAccountAndTheAmountRefuseATransfer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client, acc := b.walletTrader(t, 10_000)
	other, _ := b.client(t, clients.StatusKYCApproved, "standard")
	for _, c := range []struct {
		who    uuid.UUID
		in     tradingdesk.TransferInput
		field  string
		reason string
	}{
		{client, tradingdesk.TransferInput{Account: acc.ID, Direction: tradingdesk.ToAccount, Amount: "1.00", Currency: "EUR"}, "currency", "not offered yet"},
		{client, tradingdesk.TransferInput{Account: acc.ID, Direction: tradingdesk.ToAccount, Amount: "1.001", Currency: "USD"}, "amount", "at most 2 decimals"},
		{client, tradingdesk.TransferInput{Account: acc.ID, Direction: tradingdesk.ToWallet, Amount: "0", Currency: "USD"}, "amount", "more than zero"},
		{client, tradingdesk.TransferInput{Account: acc.ID, Direction: "sideways", Amount: "1", Currency: "USD"}, "direction", ""},
	} {
		_, err := b.svc.RequestTransfer(ctx, b.ten, c.who, c.in)
		if fieldOf(err) != c.field || !strings.Contains(fmt.Sprint(err), c.reason) {
			t.Errorf("%+v: %v", c.in, err)
		}
	}
	if _, err := b.svc.RequestTransfer(ctx, b.ten, other, tradingdesk.TransferInput{Account: acc.ID, Direction: tradingdesk.ToAccount,
		Amount: "1.00", Currency: "USD"}); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("another client's account: %v", err)
	}
	// A demo account's money is practice money: it never comes from or goes to the wallet.
	b.exec(t, `UPDATE trading_servers SET live = false WHERE id = $1`, acc.ServerID)
	_, err := b.svc.RequestTransfer(ctx, b.ten, client, tradingdesk.TransferInput{Account: acc.ID, Direction: tradingdesk.ToWallet, Amount: "1", Currency: "USD"})
	if fieldOf(err) != "account" || !strings.Contains(err.Error(), "demo account") {
		t.Errorf("a demo account: %v", err)
	}
	b.exec(t, `UPDATE trading_servers SET live = true WHERE id = $1`, acc.ServerID)
	b.exec(t, `UPDATE clients SET status = 'suspended' WHERE id = $1`, client)
	_, err = b.svc.RequestTransfer(ctx, b.ten, client, tradingdesk.TransferInput{Account: acc.ID, Direction: tradingdesk.ToAccount, Amount: "1", Currency: "USD"})
	if !errors.Is(err, tradingdesk.ErrNotAllowed) || !strings.Contains(err.Error(), "suspended") {
		t.Fatalf("the gate: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_transfers`); n != 0 || b.wallet(t, client).PendingDebits != 0 {
		t.Fatalf("%d transfers recorded", n)
	}
	b.agree(t, acc.ServerID, acc.Login)
}

// The first money into an account must reach its type's smallest first deposit in the account's currency (422
// naming amount, with the minimum, and nothing held); once a first deposit is pending or done, smaller ones go
// through. A failed first deposit does not count; an account linked with money the platform held before the CRM knew
// it has had its first.
func TestAFirstDepositBelowTheTypesMinimumIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client, acc := b.walletTrader(t, 100_000)
	b.exec(t, `UPDATE account_types SET min_first_deposit = '{"USD": 10000}' WHERE slug = 'standard'`)
	move := func(amount string) (tradingdesk.Transfer, error) {
		return b.svc.RequestTransfer(ctx, b.ten, client, tradingdesk.TransferInput{Account: acc.ID, Direction: tradingdesk.ToAccount,
			Amount: amount, Currency: "USD"})
	}
	if _, err := move("99.99"); fieldOf(err) != "amount" || !strings.Contains(err.Error(), "the first deposit to a Standard account is at least 100.00 USD") {
		t.Fatalf("below the minimum: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_transfers`); n != 0 || b.wallet(t, client).PendingDebits != 0 {
		t.Fatalf("%d transfers recorded after the refusal", n)
	}
	first, err := move("100.00")
	if err != nil {
		t.Fatalf("at the minimum: %v", err)
	}
	if _, err := move("5.00"); err != nil { // the first is pending: this one is the second
		t.Fatalf("a second, smaller deposit: %v", err)
	}
	b.exec(t, `UPDATE trading_transfers SET status = 'failed' WHERE id = $1 OR id <> $1`, first.ID) // both refused by the platform
	if _, err := move("5.00"); fieldOf(err) != "amount" {
		t.Fatalf("after the first deposit failed: %v", err)
	}
	b.exec(t, `UPDATE trading_accounts SET opening_balance_at = now() WHERE id = $1`, acc.ID)
	if _, err := move("5.00"); err != nil {
		t.Fatalf("an account linked with its opening balance: %v", err)
	}
}

// Another tenant's worker, asked to run tenant A's transfer, finds nothing; its reads find nothing either.
func TestTenantBNeverSeesOrMovesTenantAsTransfers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client, acc := b.walletTrader(t, 10_000)
	x := b.transfer(t, client, acc, tradingdesk.ToAccount, "10.00")
	other := b.p.NewTenant(t, "")
	if err := b.svc.RunTransfer(ctx, other, x.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.GetTransfer(ctx, other, x.ID, uuid.Nil); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Fatalf("B reads A's transfer: %v", err)
	}
	if list, err := b.svc.Transfers(ctx, other, tradingdesk.TransferFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("B's list: %+v %v", list, err)
	}
	if got := b.transferNow(t, x.ID); got.Status != tradingdesk.RequestPending || got.Calls != 0 {
		t.Fatalf("A's transfer after B's run: %+v", got)
	}
}

// A run that finds the transfer claimed by another (a delivery that overlapped an expired lease) calls nothing and
// asks to be retried; once the claim lapses a run moves the money, once.
func TestATransferRunWaitsForTheRunThatHoldsIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := b.faults(t)
	client, acc := b.walletTrader(t, 10_000)
	x := b.transfer(t, client, acc, tradingdesk.ToAccount, "20.00")
	b.exec(t, `UPDATE trading_transfers SET claimed_until = now() + interval '1 minute' WHERE id = $1`, x.ID)
	if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); !errors.Is(err, tradingdesk.ErrClaimed) {
		t.Fatalf("a run beside another: %v", err)
	}
	f.mu.Lock()
	calls := f.balanceCalls
	f.mu.Unlock()
	if got := b.transferNow(t, x.ID); calls != 0 || got.Calls != 0 {
		t.Fatalf("the waiting run called the platform: %d calls, transfer %+v", calls, got)
	}
	b.exec(t, `UPDATE trading_transfers SET claimed_until = now() - interval '1 second' WHERE id = $1`, x.ID) // lapsed
	if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_transfers WHERE claimed_until IS NOT NULL OR status <> 'done'`); n != 0 {
		t.Fatalf("%d transfers still claimed or not done", n)
	}
	b.agree(t, acc.ServerID, acc.Login)
}
