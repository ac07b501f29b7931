package ledger_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/ledger"
)

// seedPostings fills b's tenant with n deposits (2n postings) from one clearing account to 1,000 wallets, the first
// wallet taking every tenth one, written in bulk by SQL (the shape PostTx writes, balances included), and returns
// the busiest wallet's code.
func seedPostings(tb testing.TB, b *bundle, n int) string {
	tb.Helper()
	ctx := context.Background()
	first := uuid.New()
	err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		// One real deposit creates the accounts' shapes exactly as the ledger does.
		if _, err := b.svc.PostTx(ctx, tx, deposit("seed", first, 100, usd)); err != nil {
			return err
		}
		for _, q := range []string{
			`INSERT INTO ledger_accounts (id, code, kind, currency, exponent, owner_id, no_overdraft, shards, label)
			 SELECT gen_random_uuid(), 'client:' || gen_random_uuid() || ':USD', 'client_wallet', 'USD', 2, gen_random_uuid(), true, 1, 'Wallet USD'
			 FROM generate_series(1, 999)`,
			`INSERT INTO ledger_balances (account_id, shard) SELECT id, 0 FROM ledger_accounts a
			 WHERE NOT EXISTS (SELECT 1 FROM ledger_balances b WHERE b.account_id = a.id)`,
			`CREATE TEMP TABLE wallets ON COMMIT DROP AS
			 SELECT id, row_number() OVER (ORDER BY code = '` + ledger.ClientWallet(first, usd).Code + `' DESC, id) - 1 AS n
			 FROM ledger_accounts WHERE kind = 'client_wallet'`,
			`CREATE TEMP TABLE seed ON COMMIT DROP AS
			 SELECT g, gen_random_uuid() AS tx, CASE WHEN g % 10 = 0 THEN 0 ELSE g % 1000 END AS wallet, (g % 50000) + 100 AS amount
			 FROM generate_series(1, $1::int) g`,
			`INSERT INTO ledger_transactions (id, idem_key, kind, status, description, content_hash)
			 SELECT tx, 'bench:' || g, 'deposit', 'posted', 'Deposit through card', decode(repeat('00', 32), 'hex') FROM seed`,
			`INSERT INTO ledger_postings (transaction_id, account_id, amount, pending)
			 SELECT s.tx, a.id, -s.amount, false FROM seed s, ledger_accounts a WHERE a.code = 'clearing:stripe:USD'
			 UNION ALL SELECT s.tx, w.id, s.amount, false FROM seed s JOIN wallets w ON w.n = s.wallet`,
			`UPDATE ledger_balances b SET posted = t.sum FROM
			 (SELECT account_id, sum(amount) FILTER (WHERE NOT pending) AS sum FROM ledger_postings GROUP BY account_id) t
			 WHERE b.account_id = t.account_id AND b.shard = 0 AND b.account_id IN (SELECT id FROM wallets)`,
			`UPDATE ledger_balances b SET posted = CASE WHEN b.shard = 0 THEN t.sum ELSE 0 END FROM
			 (SELECT account_id, sum(amount) AS sum FROM ledger_postings GROUP BY account_id) t, ledger_accounts a
			 WHERE b.account_id = t.account_id AND a.id = t.account_id AND a.code = 'clearing:stripe:USD'`,
		} {
			var args []any
			if len(q) > 0 && containsArg(q) {
				args = []any{n}
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("seed %d postings: %v", 2*n, err)
	}
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `ANALYZE ledger_postings; ANALYZE ledger_accounts; ANALYZE ledger_balances; ANALYZE ledger_transactions`)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return ledger.ClientWallet(first, usd).Code
}

func containsArg(q string) bool {
	for i := 0; i+1 < len(q); i++ {
		if q[i] == '$' && q[i+1] == '1' {
			return true
		}
	}
	return false
}

// `ledger verify` over 1,000,000 postings (goal: under 10 s).
func BenchmarkVerifyOneMillionPostings(b *testing.B) {
	bb := setup(b)
	seedPostings(b, bb, 500_000)
	b.ResetTimer()
	for b.Loop() {
		r, err := bb.svc.Verify(context.Background(), bb.ten)
		if err != nil || !r.OK() || r.Postings < 1_000_000 {
			b.Fatalf("verify: %+v %v", r, err)
		}
	}
}

// A wallet with 100,000 postings: its balance, and the first page of its history (goal: under 20 ms each).
func BenchmarkWalletWithOneHundredThousandPostings(b *testing.B) {
	bb := setup(b)
	code := seedPostings(b, bb, 1_000_000) // the first wallet takes every tenth: 100,000 postings
	ctx := context.Background()
	b.Run("balance", func(b *testing.B) {
		for b.Loop() {
			if _, err := bb.svc.Balance(ctx, bb.ten, code); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("history page", func(b *testing.B) {
		for b.Loop() {
			page, err := bb.svc.History(ctx, bb.ten, code, "", 50)
			if err != nil || len(page.Lines) != 50 {
				b.Fatalf("history: %d lines, %v", len(page.Lines), err)
			}
		}
	})
	b.Run("history page 1000 deep", func(b *testing.B) {
		cursor := ""
		for range 20 {
			page, err := bb.svc.History(ctx, bb.ten, code, cursor, 50)
			if err != nil {
				b.Fatal(err)
			}
			cursor = page.Next
		}
		b.ResetTimer()
		for b.Loop() {
			if _, err := bb.svc.History(ctx, bb.ten, code, cursor, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
}
