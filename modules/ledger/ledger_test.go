package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres) }

var usd, jpy = money.MustLookup("USD"), money.MustLookup("JPY")

type bundle struct {
	p   *tenanttest.Platform
	ten tenants.Tenant
	svc *ledger.Service
}

func setup(t testing.TB) *bundle {
	t.Helper()
	p := tenanttest.Shared(t)
	svc, err := ledger.New(ledger.Options{Gate: p.Gate, Events: events.New(events.Options{Gate: p.Gate})})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{p: p, ten: p.NewTenant(t, ""), svc: svc}
}

// post records e in a transaction of its own.
func (b *bundle) post(e ledger.Entry) (ledger.Transaction, error) {
	var out ledger.Transaction
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = b.svc.PostTx(ctx, tx, e)
		return err
	})
	return out, err
}

// deposit credits client's wallet with minor units of c from a gateway's clearing account.
func deposit(key string, client uuid.UUID, minor int64, c money.Currency) ledger.Entry {
	return ledger.Entry{Key: key, Kind: "deposit", Description: "test deposit", Postings: []ledger.Posting{
		{Account: ledger.Clearing("stripe", c), Amount: -minor},
		{Account: ledger.ClientWallet(client, c), Amount: minor},
	}}
}

func (b *bundle) balance(t *testing.T, code string) ledger.Balance {
	t.Helper()
	bal, err := b.svc.Balance(context.Background(), b.ten, code)
	if err != nil {
		t.Fatalf("balance of %s: %v", code, err)
	}
	return bal
}

func (b *bundle) verifyClean(t *testing.T) ledger.Report {
	t.Helper()
	r, err := b.svc.Verify(context.Background(), b.ten)
	if err != nil || !r.OK() {
		t.Fatalf("verify: %v %v", r.Problem, err)
	}
	return r
}

func TestADepositCreditsTheWalletFromTheGatewaysClearingAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := uuid.New()
	tr, err := b.post(deposit("dep:1", client, 50000, usd))
	if err != nil || tr.Replayed || len(tr.Postings) != 2 || tr.Status != ledger.StatusPosted {
		t.Fatalf("post: %+v %v", tr, err)
	}
	w := b.balance(t, ledger.ClientWallet(client, usd).Code)
	if w.Posted != 50000 || w.Available() != 50000 || !w.Account.NoOverdraft || w.Account.Owner != client {
		t.Errorf("wallet %+v", w)
	}
	if c := b.balance(t, ledger.Clearing("stripe", usd).Code); c.Posted != -50000 || c.Account.Shards != 64 {
		t.Errorf("clearing %+v", c)
	}
	if r := b.verifyClean(t); r.Transactions != 1 || r.Postings != 2 || r.Accounts != 2 {
		t.Errorf("report %+v", r)
	}
}

func TestTheSameKeyWithTheSameContentReturnsTheFirstTransactionAndMovesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := uuid.New()
	first, err := b.post(deposit("dep:once", client, 1000, usd))
	if err != nil {
		t.Fatal(err)
	}
	again := deposit("dep:once", client, 1000, usd)
	again.Description = "worded differently on a retry"
	second, err := b.post(again)
	if err != nil || !second.Replayed || second.ID != first.ID {
		t.Fatalf("replay: %+v %v", second, err)
	}
	if w := b.balance(t, ledger.ClientWallet(client, usd).Code); w.Posted != 1000 {
		t.Errorf("wallet %d after a replay, want 1000", w.Posted)
	}
	b.verifyClean(t)
}

func TestTheSameKeyWithOtherContentIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := uuid.New()
	if _, err := b.post(deposit("dep:x", client, 1000, usd)); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]ledger.Entry{
		"another amount": deposit("dep:x", client, 1001, usd),
		"another client": deposit("dep:x", uuid.New(), 1000, usd),
		"another kind":   {Key: "dep:x", Kind: "correction", Postings: deposit("", client, 1000, usd).Postings},
	} {
		if _, err := b.post(e); !errors.Is(err, ledger.ErrKeyReused) {
			t.Errorf("%s: %v, want ErrKeyReused", name, err)
		}
	}
	if w := b.balance(t, ledger.ClientWallet(client, usd).Code); w.Posted != 1000 {
		t.Errorf("wallet %d, want 1000", w.Posted)
	}
}

func TestMalformedOrUnbalancedEntriesAreRefusedAndWriteNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := uuid.New()
	wallet := ledger.ClientWallet(client, usd)
	bad := func(mutate func(*ledger.Entry)) ledger.Entry {
		e := deposit("k:"+uuid.NewString(), client, 100, usd)
		mutate(&e)
		return e
	}
	for _, c := range []struct {
		name string
		e    ledger.Entry
		want error
	}{
		{"unbalanced", bad(func(e *ledger.Entry) { e.Postings[1].Amount = 99 }), ledger.ErrUnbalanced},
		{"currencies mixed", bad(func(e *ledger.Entry) { e.Postings[0].Account = ledger.Clearing("stripe", jpy) }), ledger.ErrUnbalanced},
		{"one posting", bad(func(e *ledger.Entry) { e.Postings = e.Postings[:1] }), ledger.ErrInvalid},
		{"zero amount", bad(func(e *ledger.Entry) { e.Postings[0].Amount, e.Postings[1].Amount = 0, 0 }), ledger.ErrInvalid},
		{"an amount over the ledger's bound", bad(func(e *ledger.Entry) {
			e.Postings[0].Amount, e.Postings[1].Amount = -ledger.MaxAmount-1, ledger.MaxAmount+1
		}), ledger.ErrInvalid},
		{"no key", bad(func(e *ledger.Entry) { e.Key = "" }), ledger.ErrInvalid},
		{"bad kind", bad(func(e *ledger.Entry) { e.Kind = "Deposit!" }), ledger.ErrInvalid},
		{"bad code", bad(func(e *ledger.Entry) { e.Postings[1].Account.Code = "client wallet" }), ledger.ErrInvalid},
		{"unknown currency", bad(func(e *ledger.Entry) {
			e.Postings[0].Account.Currency, e.Postings[1].Account.Currency = money.Currency{Code: "XXX", Exponent: 2}, money.Currency{Code: "XXX", Exponent: 2}
		}), ledger.ErrInvalid},
		{"a sharded no-overdraft account", bad(func(e *ledger.Entry) { e.Postings[1].Account.Shards = 4 }), ledger.ErrInvalid},
	} {
		if _, err := b.post(c.e); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := b.svc.Balance(context.Background(), b.ten, wallet.Code); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("a refused entry left the wallet behind: %v", err)
	}
	// An account recorded with one shape cannot be posted to with another under the same code.
	if _, err := b.post(deposit("ok", client, 100, usd)); err != nil {
		t.Fatal(err)
	}
	reshaped := deposit("reshaped", client, 100, usd)
	reshaped.Postings[1].Account.NoOverdraft = false
	if _, err := b.post(reshaped); !errors.Is(err, ledger.ErrAccountMismatch) {
		t.Errorf("reshaped account: %v", err)
	}
}

func TestPostgresRefusesToChangeOrDeletePostingsAndTransactions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.post(deposit("dep:1", uuid.New(), 100, usd)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE ledger_postings SET amount = amount * 2`,
		`DELETE FROM ledger_postings`,
		`UPDATE ledger_transactions SET description = 'rewritten'`,
		`DELETE FROM ledger_transactions`,
		`TRUNCATE ledger_postings`,
		`DELETE FROM ledger_accounts`,
	} {
		err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, q)
			return err
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" { // insufficient_privilege: the privilege, or the trigger
			t.Errorf("%s as the application: %v, want insufficient_privilege", q, err)
		}
	}
	// Even a role that bypasses privileges meets the trigger.
	conn, err := pgx.Connect(context.Background(), b.p.URLs[b.ten.Cluster])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `UPDATE `+pgx.Identifier{b.ten.Schema, "ledger_postings"}.Sanitize()+` SET amount = 1`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("as the superuser: %v, want the append-only trigger", err)
	}
	b.verifyClean(t)
}

// The wallet covers exactly 100 holds of 10.00; 500 arrive at once. Exactly 100 are accepted, the others are
// refused for insufficient funds, and the ledger still verifies.
func TestAWalletNeverGoesBelowZeroUnderConcurrentHolds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := uuid.New()
	if _, err := b.post(deposit("fund", client, 100*1000, usd)); err != nil {
		t.Fatal(err)
	}
	var ok, refused, other atomic.Int32
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
				_, err := b.svc.HoldTx(ctx, tx, ledger.Entry{Key: fmt.Sprintf("wd:%d", i), Kind: "withdrawal_hold", Postings: []ledger.Posting{
					{Account: ledger.ClientWallet(client, usd), Amount: -1000},
					{Account: ledger.WithdrawalsPayable(usd), Amount: 1000},
				}})
				return err
			})
			var insufficient *ledger.InsufficientFundsError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &insufficient) && insufficient.Needed == 1000:
				refused.Add(1)
			default:
				other.Add(1)
				t.Errorf("hold %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 || refused.Load() != 400 || other.Load() != 0 {
		t.Fatalf("%d accepted, %d refused, %d failed otherwise; want 100 and 400", ok.Load(), refused.Load(), other.Load())
	}
	w := b.balance(t, ledger.ClientWallet(client, usd).Code)
	if w.Posted != 100000 || w.PendingDebits != 100000 || w.Available() != 0 {
		t.Errorf("wallet %+v", w)
	}
	b.verifyClean(t)
}

func TestAHoldPostedInPartReleasesTheRestAndAVoidReleasesAll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := uuid.New()
	wallet := ledger.ClientWallet(client, usd)
	if _, err := b.post(deposit("fund", client, 10000, usd)); err != nil {
		t.Fatal(err)
	}
	hold := func(key string, minor int64) ledger.Transaction {
		var h ledger.Transaction
		err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			h, err = b.svc.HoldTx(ctx, tx, ledger.Entry{Key: key, Kind: "withdrawal_hold", Postings: []ledger.Posting{
				{Account: wallet, Amount: -minor}, {Account: ledger.WithdrawalsPayable(usd), Amount: minor}}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	resolve := func(f func(ctx context.Context, tx pgx.Tx) (ledger.Transaction, error)) error {
		return b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error { _, err := f(ctx, tx); return err })
	}
	h1 := hold("h1", 6000)
	if w := b.balance(t, wallet.Code); w.Posted != 10000 || w.Available() != 4000 {
		t.Fatalf("after the hold: %+v", w)
	}
	if err := resolve(func(ctx context.Context, tx pgx.Tx) (ledger.Transaction, error) {
		return b.svc.PostHoldTx(ctx, tx, "h1:post", h1.ID, 6001, "too much")
	}); !errors.Is(err, ledger.ErrInvalid) {
		t.Errorf("posting more than held: %v", err)
	}
	if err := resolve(func(ctx context.Context, tx pgx.Tx) (ledger.Transaction, error) {
		return b.svc.PostHoldTx(ctx, tx, "h1:post", h1.ID, 5000, "paid out 50.00 of 60.00")
	}); err != nil {
		t.Fatal(err)
	}
	if w := b.balance(t, wallet.Code); w.Posted != 5000 || w.PendingDebits != 0 || w.Available() != 5000 {
		t.Errorf("after the partial post: %+v", w)
	}
	if err := resolve(func(ctx context.Context, tx pgx.Tx) (ledger.Transaction, error) {
		return b.svc.VoidHoldTx(ctx, tx, "h1:void", h1.ID, "too late")
	}); !errors.Is(err, ledger.ErrHoldResolved) {
		t.Errorf("voiding a posted hold: %v", err)
	}
	h2 := hold("h2", 5000)
	if err := resolve(func(ctx context.Context, tx pgx.Tx) (ledger.Transaction, error) {
		return b.svc.VoidHoldTx(ctx, tx, "h2:void", h2.ID, "refused by finance")
	}); err != nil {
		t.Fatal(err)
	}
	if w := b.balance(t, wallet.Code); w.Posted != 5000 || w.PendingDebits != 0 || w.Available() != 5000 {
		t.Errorf("after the void: %+v", w)
	}
	if p := b.balance(t, ledger.WithdrawalsPayable(usd).Code); p.Posted != 5000 || p.PendingCredits != 0 {
		t.Errorf("payable %+v", p)
	}
	b.verifyClean(t)
}

func TestDepositsSpreadTheClearingAccountOverItsBalanceRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 64 {
		if _, err := b.post(deposit(fmt.Sprintf("dep:%d", i), uuid.New(), 100, usd)); err != nil {
			t.Fatal(err)
		}
	}
	var used int
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
			WHERE a.code = $1 AND b.posted <> 0`, ledger.Clearing("stripe", usd).Code).Scan(&used)
	})
	if err != nil {
		t.Fatal(err)
	}
	if used < 8 {
		t.Errorf("64 deposits used %d of the clearing account's 16 balance rows", used)
	}
	if c := b.balance(t, ledger.Clearing("stripe", usd).Code); c.Posted != -6400 {
		t.Errorf("clearing %d, want -6400", c.Posted)
	}
	b.verifyClean(t)
}

func TestVerifyNamesTheFirstDiscrepancy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := uuid.New()
	if _, err := b.post(deposit("dep", client, 2500, usd)); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), b.p.URLs[b.ten.Cluster])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	schema := pgx.Identifier{b.ten.Schema}.Sanitize()
	// A balance row edited behind the ledger's back.
	if _, err := conn.Exec(context.Background(), `UPDATE `+schema+`.ledger_balances SET posted = posted + 1
		WHERE account_id = (SELECT id FROM `+schema+`.ledger_accounts WHERE code = $1)`, ledger.ClientWallet(client, usd).Code); err != nil {
		t.Fatal(err)
	}
	r, err := b.svc.Verify(context.Background(), b.ten)
	if err != nil || r.OK() || r.Problem.Kind != ledger.ProblemBalance || r.Problem.Account != ledger.ClientWallet(client, usd).Code ||
		!strings.Contains(r.Problem.Detail, "kept posted 25.01") {
		t.Fatalf("verify after a balance edit: %+v %v", r.Problem, err)
	}
	// A posting rewritten with the triggers off: the transaction no longer balances, and that is named first.
	if _, err := conn.Exec(context.Background(), `BEGIN; SET LOCAL session_replication_role = replica;
		UPDATE `+schema+`.ledger_postings SET amount = 2600 WHERE amount = 2500; COMMIT`); err != nil {
		t.Fatal(err)
	}
	r, err = b.svc.Verify(context.Background(), b.ten)
	if err != nil || r.OK() || r.Problem.Kind != ledger.ProblemUnbalanced {
		t.Fatalf("verify after a posting edit: %+v %v", r.Problem, err)
	}
}

func TestHistoryPagesAnAccountNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := uuid.New()
	for i := range 7 {
		if _, err := b.post(deposit(fmt.Sprintf("dep:%d", i), client, int64(100*(i+1)), usd)); err != nil {
			t.Fatal(err)
		}
	}
	code := ledger.ClientWallet(client, usd).Code
	var seen []int64
	cursor := ""
	for {
		page, err := b.svc.History(context.Background(), b.ten, code, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page.Lines {
			seen = append(seen, l.Amount)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	want := []int64{700, 600, 500, 400, 300, 200, 100}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("history %v, want %v", seen, want)
	}
	if _, err := b.svc.History(context.Background(), b.ten, code, "not-a-cursor", 3); !errors.Is(err, ledger.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

// Tenant B's ledger knows nothing of tenant A's accounts.
func TestAnotherTenantsLedgerIsNotReachable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := uuid.New()
	if _, err := b.post(deposit("dep", client, 100, usd)); err != nil {
		t.Fatal(err)
	}
	other := b.p.NewTenant(t, "")
	if _, err := b.svc.Balance(context.Background(), other, ledger.ClientWallet(client, usd).Code); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("another tenant read the balance: %v", err)
	}
	if list, err := b.svc.ClientBalances(context.Background(), other, client); err != nil || len(list) != 0 {
		t.Errorf("another tenant's client balances: %v %v", list, err)
	}
}

// Entry.Guard: a transaction that guards an account without an overdraft check of its own is refused when it would
// take it below zero available, one that does not guard it is not, and a guard must name one of the postings'
// single-row accounts.
func TestAGuardedTransactionNeverOverdrawsAnAccountWithoutItsOwnCheck(t *testing.T) {
	t.Parallel()
	b := setup(t)
	partner, client := uuid.New(), uuid.New()
	wallet := ledger.PartnerWallet(partner, usd)
	if _, err := b.post(ledger.Entry{Key: "earn", Kind: "partner_earnings", Postings: []ledger.Posting{
		{Account: wallet, Amount: 5000}, {Account: ledger.IBCommissions(usd), Amount: -5000}}}); err != nil {
		t.Fatal(err)
	}
	payout := func(key string, amount int64, guard ...string) error {
		_, err := b.post(ledger.Entry{Key: key, Kind: "partner_payout", Guard: guard, Postings: []ledger.Posting{
			{Account: wallet, Amount: -amount}, {Account: ledger.ClientWallet(client, usd), Amount: amount}}})
		return err
	}
	var short *ledger.InsufficientFundsError
	if err := payout("p1", 5001, wallet.Code); !errors.As(err, &short) || short.Available != 5000 || short.Needed != 5001 {
		t.Errorf("a guarded overdraft: %v", err)
	}
	if err := payout("p2", 5000, wallet.Code); err != nil {
		t.Errorf("a guarded payout of everything: %v", err)
	}
	if err := payout("p3", 1, ledger.IBCommissions(usd).Code); !errors.Is(err, ledger.ErrInvalid) {
		t.Errorf("a guard on an account the transaction does not touch: %v", err)
	}
	// Without the guard (a cancelled deal's reversal), the wallet may go below zero.
	if _, err := b.post(ledger.Entry{Key: "reversal", Kind: "partner_earnings", Postings: []ledger.Posting{
		{Account: wallet, Amount: -700}, {Account: ledger.IBCommissions(usd), Amount: 700}}}); err != nil {
		t.Errorf("an unguarded debit: %v", err)
	}
	if w := b.balance(t, wallet.Code); w.Posted != -700 {
		t.Errorf("the partner wallet: %+v", w)
	}
	b.verifyClean(t)
}

// A batch posts each entry as its own transaction (its key, its postings) and moves the clearing account once, in
// one of its rows; a batch with a key recorded before records nothing, and one it would take a wallet below zero
// records nothing either.
func TestABatchPostsEachTransactionAndMovesASharedAccountOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	one, two := uuid.New(), uuid.New()
	each := func(entries ...ledger.Entry) ([]ledger.Transaction, error) {
		var out []ledger.Transaction
		err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			out, err = b.svc.PostEachTx(ctx, tx, entries)
			return err
		})
		return out, err
	}
	trs, err := each(deposit("batch:1", one, 1000, usd), deposit("batch:2", two, 2000, usd), deposit("batch:3", one, 300, usd))
	if err != nil || len(trs) != 3 {
		t.Fatalf("batch: %+v %v", trs, err)
	}
	for i, tr := range trs {
		if tr.Key != fmt.Sprintf("batch:%d", i+1) || len(tr.Postings) != 2 || tr.Postings[0].ID == tr.Postings[1].ID || tr.Replayed {
			t.Errorf("transaction %d: %+v", i, tr)
		}
	}
	if w := b.balance(t, ledger.ClientWallet(one, usd).Code); w.Posted != 1300 {
		t.Errorf("wallet one %d", w.Posted)
	}
	var rows int
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
			WHERE a.code = $1 AND b.posted <> 0`, ledger.Clearing("stripe", usd).Code).Scan(&rows)
	}); err != nil || rows != 1 {
		t.Errorf("the batch moved %d of the clearing account's rows, want 1 (%v)", rows, err)
	}
	// A key recorded before fails the whole batch; the new key in it is not recorded.
	if _, err := each(deposit("batch:4", two, 10, usd), deposit("batch:2", two, 2000, usd)); !errors.Is(err, ledger.ErrRecordedBefore) {
		t.Errorf("a batch with a recorded key: %v", err)
	}
	// A batch that would overdraw a wallet as a whole records nothing.
	spend := ledger.Entry{Key: "spend", Kind: "withdrawal", Postings: []ledger.Posting{
		{Account: ledger.ClientWallet(two, usd), Amount: -1500}, {Account: ledger.WithdrawalsPayable(usd), Amount: 1500}}}
	spend2 := spend
	spend2.Key = "spend2"
	if _, err := each(spend, spend2); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Errorf("an overdrawing batch: %v", err)
	}
	if r := b.verifyClean(t); r.Transactions != 3 {
		t.Errorf("%d transactions, want the first batch's 3", r.Transactions)
	}
}
