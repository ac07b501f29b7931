package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/tenants"
)

const accountColumns = `a.id, a.code, a.kind, a.currency, a.exponent, coalesce(a.owner_id, '00000000-0000-0000-0000-000000000000'),
	a.no_overdraft, a.shards, a.label, a.created_at`

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	var exp, shards int16
	err := row.Scan(&a.ID, &a.Code, &a.Kind, &a.Currency.Code, &exp, &a.Owner, &a.NoOverdraft, &shards, &a.Label, &a.CreatedAt)
	a.Currency.Exponent, a.Shards = int(exp), int(shards)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// spec is the account as a posting names it.
func (a Account) spec() AccountSpec {
	return AccountSpec{Code: a.Code, Kind: a.Kind, Currency: a.Currency, Owner: a.Owner, NoOverdraft: a.NoOverdraft,
		Shards: a.Shards, Label: a.Label}
}

// matches reports whether a recorded account has the shape spec asks for (its label may differ, and so may its
// spread over balance rows, which is how it was created).
func (a Account) matches(spec AccountSpec) bool {
	return a.Kind == spec.Kind && a.Currency == spec.Currency && a.Owner == spec.Owner && a.NoOverdraft == spec.NoOverdraft
}

// ensureAccountsTx returns the accounts of specs by code, creating the missing ones with their balance rows. An
// account recorded with another shape under the same code is a defect: ErrAccountMismatch.
func (s *Service) ensureAccountsTx(ctx context.Context, tx pgx.Tx, specs []AccountSpec) (map[string]Account, error) {
	codes := make([]string, 0, len(specs))
	want := map[string]AccountSpec{}
	for _, sp := range specs {
		if _, dup := want[sp.Code]; !dup {
			codes = append(codes, sp.Code)
		}
		want[sp.Code] = sp
	}
	got, err := s.accountsByCodeTx(ctx, tx, codes)
	if err != nil {
		return nil, err
	}
	// Missing accounts are created in the order of their codes, the same in every transaction: two transactions
	// creating the same two accounts queue at the first instead of waiting on each other in a cycle.
	slices.Sort(codes)
	for _, code := range codes {
		sp := want[code]
		if a, ok := got[code]; ok {
			if !a.matches(sp) {
				return nil, fmt.Errorf("%w: %s", ErrAccountMismatch, code)
			}
			continue
		}
		label := sp.Label
		if label == "" {
			label = sp.Code
		}
		var owner *uuid.UUID
		if sp.Owner != uuid.Nil {
			owner = &sp.Owner
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		// Two transactions creating the same account at once: the second waits on the code's index and then
		// finds the first's row.
		tag, err := tx.Exec(ctx, `INSERT INTO ledger_accounts (id, code, kind, currency, exponent, owner_id, no_overdraft, shards, label)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (code) DO NOTHING`,
			id, sp.Code, sp.Kind, sp.Currency.Code, sp.Currency.Exponent, owner, sp.NoOverdraft, sp.Shards, label)
		if err != nil {
			return nil, fmt.Errorf("ledger: create account %s: %w", sp.Code, err)
		}
		if tag.RowsAffected() == 1 {
			if _, err := tx.Exec(ctx, `INSERT INTO ledger_balances (account_id, shard) SELECT $1, generate_series(0, $2 - 1)`,
				id, sp.Shards); err != nil {
				return nil, fmt.Errorf("ledger: balance rows of %s: %w", sp.Code, err)
			}
		}
		a, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM ledger_accounts a WHERE a.code = $1`, sp.Code))
		if err != nil {
			return nil, fmt.Errorf("ledger: account %s: %w", sp.Code, err)
		}
		if !a.matches(sp) {
			return nil, fmt.Errorf("%w: %s", ErrAccountMismatch, sp.Code)
		}
		got[code] = a
	}
	return got, nil
}

func (s *Service) accountsByCodeTx(ctx context.Context, tx pgx.Tx, codes []string) (map[string]Account, error) {
	rows, err := tx.Query(ctx, `SELECT `+accountColumns+` FROM ledger_accounts a WHERE a.code = ANY($1)`, codes)
	if err != nil {
		return nil, fmt.Errorf("ledger: accounts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("ledger: accounts: %w", err)
	}
	out := make(map[string]Account, len(list))
	for _, a := range list {
		out[a.Code] = a
	}
	return out, nil
}

func (s *Service) accountByIDTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Account, error) {
	return scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM ledger_accounts a WHERE a.id = $1`, id))
}

const balanceColumns = accountColumns + `, sum(b.posted)::bigint, sum(b.pending_debits)::bigint, sum(b.pending_credits)::bigint`

func scanBalance(row pgx.Row) (Balance, error) {
	var b Balance
	var exp, shards int16
	a := &b.Account
	err := row.Scan(&a.ID, &a.Code, &a.Kind, &a.Currency.Code, &exp, &a.Owner, &a.NoOverdraft, &shards, &a.Label, &a.CreatedAt,
		&b.Posted, &b.PendingDebits, &b.PendingCredits)
	a.Currency.Exponent, a.Shards = int(exp), int(shards)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrNotFound
	}
	return b, err
}

// BalanceTx reads an account's balance by code in tx (ErrNotFound for an account never posted to).
func (s *Service) BalanceTx(ctx context.Context, tx pgx.Tx, code string) (Balance, error) {
	return scanBalance(tx.QueryRow(ctx, `SELECT `+balanceColumns+` FROM ledger_accounts a
		JOIN ledger_balances b ON b.account_id = a.id WHERE a.code = $1 GROUP BY a.id`, code))
}

// Balance reads an account's balance by code: one round trip, read-only.
func (s *Service) Balance(ctx context.Context, t tenants.Tenant, code string) (Balance, error) {
	var b Balance
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		b, err = s.BalanceTx(ctx, tx, code)
		return err
	})
	return b, err
}

// ClientBalances reads every account of a client (its wallets per currency), by currency.
func (s *Service) ClientBalances(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]Balance, error) {
	var out []Balance
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+balanceColumns+` FROM ledger_accounts a
			JOIN ledger_balances b ON b.account_id = a.id WHERE a.owner_id = $1 GROUP BY a.id ORDER BY a.currency, a.code`, client)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Balance, error) { return scanBalance(r) })
		return err
	})
	if out == nil {
		out = []Balance{}
	}
	return out, err
}

// Amount is a balance figure as money.
func (b Balance) Amount(minor int64) money.Amount {
	return money.Amount{Minor: minor, Currency: b.Account.Currency}
}
