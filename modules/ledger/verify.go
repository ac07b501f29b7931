package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// ProblemKind names what Verify found wrong.
type ProblemKind string

const (
	ProblemUnbalanced     ProblemKind = "unbalanced_transaction" // postings of a transaction do not sum to zero in a currency
	ProblemTooFewLegs     ProblemKind = "too_few_postings"       // a transaction other than a hold's void with fewer than two postings
	ProblemBalance        ProblemKind = "balance_mismatch"       // an account's kept balance differs from its postings
	ProblemOverdrawn      ProblemKind = "overdrawn"              // a no-overdraft account's available balance is below zero
	ProblemHoldOverposted ProblemKind = "hold_overposted"        // a hold posted for more than it held
)

// Problem is the first discrepancy Verify found, in words an operator can act on.
type Problem struct {
	Kind        ProblemKind `json:"kind"`
	Account     string      `json:"account,omitempty"`
	Transaction string      `json:"transaction,omitempty"`
	Detail      string      `json:"detail"`
}

func (p Problem) String() string {
	where := p.Account
	if where == "" {
		where = "transaction " + p.Transaction
	}
	return fmt.Sprintf("%s: %s: %s", p.Kind, where, p.Detail)
}

// Report is what Verify checked.
type Report struct {
	Transactions, Postings, Accounts int64
	Problem                          *Problem
	Took                             time.Duration
}

// OK reports whether nothing was wrong.
func (r Report) OK() bool { return r.Problem == nil }

// Verify recomputes every balance of t's ledger from its postings and checks every transaction: it balances per
// currency, it has two or more postings (a hold's void has none), no hold was posted for more than it held, every
// kept balance equals its recomputation, and no no-overdraft account is overdrawn. It names the first discrepancy
// in that order. It reads one consistent snapshot (repeatable read), so it can run while money moves.
func (s *Service) Verify(ctx context.Context, t tenants.Tenant) (Report, error) {
	start := time.Now()
	var r Report
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM ledger_transactions), (SELECT count(*) FROM ledger_postings),
			(SELECT count(*) FROM ledger_accounts)`).Scan(&r.Transactions, &r.Postings, &r.Accounts); err != nil {
			return err
		}
		checks := []func(context.Context, pgx.Tx) (*Problem, error){checkBalanced, checkLegs, checkHolds, checkBalances, checkOverdrawn}
		for _, check := range checks {
			p, err := check(ctx, tx)
			if err != nil {
				return err
			}
			if p != nil {
				r.Problem = p
				return nil
			}
		}
		return nil
	})
	r.Took = time.Since(start)
	if err != nil {
		return r, fmt.Errorf("ledger: verify %s: %w", t.Slug, err)
	}
	return r, nil
}

func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func checkBalanced(ctx context.Context, tx pgx.Tx) (*Problem, error) {
	var id, cur string
	var sum int64
	err := tx.QueryRow(ctx, `SELECT p.transaction_id::text, a.currency, sum(p.amount)::bigint FROM ledger_postings p
		JOIN ledger_accounts a ON a.id = p.account_id GROUP BY p.transaction_id, a.currency HAVING sum(p.amount) <> 0
		ORDER BY min(p.id) LIMIT 1`).Scan(&id, &cur, &sum)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Problem{Kind: ProblemUnbalanced, Transaction: id, Detail: fmt.Sprintf("its %s postings sum to %d minor units, not zero", cur, sum)}, nil
}

func checkLegs(ctx context.Context, tx pgx.Tx) (*Problem, error) {
	var id string
	var n int
	err := tx.QueryRow(ctx, `SELECT t.id::text, count(p.id)::int FROM ledger_transactions t LEFT JOIN ledger_postings p ON p.transaction_id = t.id
		WHERE t.kind <> 'hold_void' GROUP BY t.id HAVING count(p.id) < 2 ORDER BY min(t.created_at) LIMIT 1`).Scan(&id, &n)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Problem{Kind: ProblemTooFewLegs, Transaction: id, Detail: fmt.Sprintf("%d postings", n)}, nil
}

func checkHolds(ctx context.Context, tx pgx.Tx) (*Problem, error) {
	var id string
	var held, posted int64
	err := tx.QueryRow(ctx, `SELECT r.id::text, h.held, r.posted FROM
		(SELECT t.id, t.resolves, coalesce(sum(p.amount) FILTER (WHERE p.amount > 0), 0)::bigint AS posted
		   FROM ledger_transactions t LEFT JOIN ledger_postings p ON p.transaction_id = t.id
		  WHERE t.resolves IS NOT NULL GROUP BY t.id) r
		JOIN (SELECT transaction_id, sum(amount) FILTER (WHERE amount > 0)::bigint AS held FROM ledger_postings
		       WHERE pending GROUP BY transaction_id) h ON h.transaction_id = r.resolves
		WHERE r.posted > h.held LIMIT 1`).Scan(&id, &held, &posted)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Problem{Kind: ProblemHoldOverposted, Transaction: id, Detail: fmt.Sprintf("posts %d of a hold of %d", posted, held)}, nil
}

// checkBalances compares every account's kept balance (the sum of its balance rows) with its postings: posted ones,
// and the pending ones of holds nobody has resolved yet.
func checkBalances(ctx context.Context, tx pgx.Tx) (*Problem, error) {
	var code, cur string
	var exp int16
	var keptP, keptD, keptC, wantP, wantD, wantC int64
	err := tx.QueryRow(ctx, `WITH kept AS (
			SELECT account_id, sum(posted)::bigint AS p, sum(pending_debits)::bigint AS d, sum(pending_credits)::bigint AS c
			FROM ledger_balances GROUP BY account_id),
		open_holds AS (
			SELECT t.id FROM ledger_transactions t WHERE t.status = 'pending'
			AND NOT EXISTS (SELECT 1 FROM ledger_transactions r WHERE r.resolves = t.id)),
		computed AS (
			SELECT p.account_id,
				coalesce(sum(p.amount) FILTER (WHERE NOT p.pending), 0)::bigint AS p,
				coalesce(sum(-p.amount) FILTER (WHERE p.pending AND p.amount < 0 AND p.transaction_id IN (SELECT id FROM open_holds)), 0)::bigint AS d,
				coalesce(sum(p.amount) FILTER (WHERE p.pending AND p.amount > 0 AND p.transaction_id IN (SELECT id FROM open_holds)), 0)::bigint AS c
			FROM ledger_postings p GROUP BY p.account_id)
		SELECT a.code, a.currency, a.exponent, k.p, k.d, k.c, coalesce(c.p, 0), coalesce(c.d, 0), coalesce(c.c, 0)
		FROM ledger_accounts a JOIN kept k ON k.account_id = a.id LEFT JOIN computed c ON c.account_id = a.id
		WHERE k.p <> coalesce(c.p, 0) OR k.d <> coalesce(c.d, 0) OR k.c <> coalesce(c.c, 0)
		ORDER BY a.code LIMIT 1`).Scan(&code, &cur, &exp, &keptP, &keptD, &keptC, &wantP, &wantD, &wantC)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := money.Currency{Code: cur, Exponent: int(exp)}
	f := func(v int64) string { return money.Format(v, c) }
	return &Problem{Kind: ProblemBalance, Account: code, Detail: fmt.Sprintf(
		"kept posted %s, pending debits %s, pending credits %s; its postings say %s, %s, %s (%s)",
		f(keptP), f(keptD), f(keptC), f(wantP), f(wantD), f(wantC), cur)}, nil
}

func checkOverdrawn(ctx context.Context, tx pgx.Tx) (*Problem, error) {
	var code, cur string
	var exp int16
	var available int64
	err := tx.QueryRow(ctx, `SELECT a.code, a.currency, a.exponent, (sum(b.posted) - sum(b.pending_debits))::bigint
		FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id WHERE a.no_overdraft
		GROUP BY a.id HAVING sum(b.posted) - sum(b.pending_debits) < 0 ORDER BY a.code LIMIT 1`).Scan(&code, &cur, &exp, &available)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Problem{Kind: ProblemOverdrawn, Account: code, Detail: "available " + money.Format(available, money.Currency{Code: cur, Exponent: int(exp)}) + " " + cur}, nil
}
