package withdrawals

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/tenants"
)

const withdrawalSelect = `SELECT w.id, w.client_id, c.first_name || ' ' || c.last_name, w.amount, w.currency, w.exponent, w.status, w.method,
	w.destination, w.hold_tx, w.resolve_tx, w.flagged, w.blocked, w.needs_second, w.reason, w.failure, w.paid_amount, w.expires_at, w.created_by,
	w.created_at, w.updated_at, w.finished_at
	FROM withdrawals w JOIN clients c ON c.id = w.client_id`

func scanWithdrawal(row pgx.Row) (Withdrawal, error) {
	var w Withdrawal
	var exp int16
	var status string
	err := row.Scan(&w.ID, &w.ClientID, &w.ClientName, &w.Amount.Minor, &w.Amount.Currency.Code, &exp, &status, &w.Method, &w.Destination,
		&w.HoldTx, &w.ResolveTx, &w.Flagged, &w.Blocked, &w.NeedsSecond, &w.Reason, &w.Failure, &w.PaidAmount, &w.ExpiresAt, &w.CreatedBy, &w.CreatedAt,
		&w.UpdatedAt, &w.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, ErrNotFound
	}
	w.Amount.Currency.Exponent, w.Status = int(exp), Status(status)
	return w, err
}

// withdrawalTx reads one withdrawal with its checks and legs.
func withdrawalTx(ctx context.Context, tx pgx.Tx, where string, args ...any) (Withdrawal, error) {
	w, err := scanWithdrawal(tx.QueryRow(ctx, withdrawalSelect+` WHERE `+where, args...))
	if err != nil {
		return w, err
	}
	rows, err := tx.Query(ctx, `SELECT name, outcome, answer, detail FROM withdrawal_checks WHERE withdrawal_id = $1 ORDER BY position`, w.ID)
	if err != nil {
		return w, err
	}
	w.Checks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Check, error) {
		var c Check
		var o string
		err := r.Scan(&c.Name, &o, &c.Answer, &c.Detail)
		c.Outcome = Outcome(o)
		return c, err
	})
	if err != nil {
		return w, fmt.Errorf("withdrawals: checks of %s: %w", w.ID, err)
	}
	if w.Decisions, err = decisionsTx(ctx, tx, w.ID); err != nil {
		return w, err
	}
	rows, err = tx.Query(ctx, `SELECT kind, amount, coalesce(deposit_id, '00000000-0000-0000-0000-000000000000'), gateway_slug, external_id, status, reference
		FROM withdrawal_legs WHERE withdrawal_id = $1 ORDER BY position`, w.ID)
	if err != nil {
		return w, err
	}
	w.Legs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Leg, error) {
		var l Leg
		var k string
		err := r.Scan(&k, &l.Amount.Minor, &l.DepositID, &l.GatewaySlug, &l.ExternalID, &l.Status, &l.Reference)
		l.Kind, l.Amount.Currency = LegKind(k), w.Amount.Currency
		return l, err
	})
	if err != nil {
		return w, fmt.Errorf("withdrawals: legs of %s: %w", w.ID, err)
	}
	return w, nil
}

func nullID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// Get reads one withdrawal; with client set, only that client's (another's is ErrNotFound).
func (s *Service) Get(ctx context.Context, t tenants.Tenant, id, client uuid.UUID) (Withdrawal, error) {
	var out Withdrawal
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = withdrawalTx(ctx, tx, `w.id = $1 AND ($2::uuid IS NULL OR w.client_id = $2)`, id, nullID(client))
		return err
	})
	return out, err
}

// Filter narrows List; zero fields do not filter.
type Filter struct {
	Status   Status
	Client   uuid.UUID
	Clients  []uuid.UUID // an account manager's own clients; nil: no limit
	Method   string
	Currency string
	// MinAmount and MaxAmount bound the amount in minor units of Currency (0: no bound).
	MinAmount, MaxAmount int64
	Flagged              bool
	Manager              uuid.UUID     // the clients' account manager
	Overdue              time.Duration // >0: open ones older than this
	PaidSince            time.Time     // paid ones finished since
	Limit                int           // default and most 200
}

// List lists withdrawals matching f: open ones oldest first (the queue's order: age against the SLA), the others
// newest first. Checks and legs are not read (Get reads them).
func (s *Service) List(ctx context.Context, t tenants.Tenant, f Filter) ([]Withdrawal, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Status != "" {
		where = append(where, "w.status = "+arg(string(f.Status)))
	}
	if f.Client != uuid.Nil {
		where = append(where, "w.client_id = "+arg(f.Client))
	}
	if f.Clients != nil {
		where = append(where, "w.client_id = ANY("+arg(f.Clients)+")")
	}
	if f.Method != "" {
		where = append(where, "w.method = "+arg(f.Method))
	}
	if f.Currency != "" {
		where = append(where, "w.currency = "+arg(f.Currency))
		if f.MinAmount > 0 {
			where = append(where, "w.amount >= "+arg(f.MinAmount))
		}
		if f.MaxAmount > 0 {
			where = append(where, "w.amount <= "+arg(f.MaxAmount))
		}
	}
	if f.Flagged {
		where = append(where, "w.flagged")
	}
	if f.Manager != uuid.Nil {
		where = append(where, "c.manager_id = "+arg(f.Manager))
	}
	if !f.PaidSince.IsZero() {
		where = append(where, "w.status = 'paid' AND w.finished_at >= "+arg(f.PaidSince))
	}
	if f.Overdue > 0 {
		where = append(where, "w.status IN ('pending', 'approved') AND w.created_at < now() - make_interval(secs => "+arg(f.Overdue.Seconds())+")")
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 200
	}
	q := withdrawalSelect
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY w.status IN ('pending', 'approved') DESC, CASE WHEN w.status IN ('pending', 'approved') THEN w.created_at END ASC,
		w.created_at DESC, w.id LIMIT ` + arg(f.Limit)
	var out []Withdrawal
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Withdrawal, error) { return scanWithdrawal(r) })
		return err
	})
	if out == nil {
		out = []Withdrawal{}
	}
	return out, err
}

// amountOf is a decimal string of currency code as minor units (for filters).
func amountOf(s, code string) (int64, bool) {
	c, ok := money.Lookup(code)
	if !ok {
		return 0, false
	}
	v, err := money.Parse(s, c)
	return v, err == nil && v >= 0
}

// Counts are the finance dashboard's figures: open withdrawals, those older than the SLA, those paid since
// midnight UTC, and flagged ones waiting for compliance.
type Counts struct {
	Waiting, Overdue, PaidToday, Flagged int
}

// CountsOf counts t's withdrawals for the dashboard's tiles.
func (s *Service) CountsOf(ctx context.Context, t tenants.Tenant) (Counts, error) {
	st, err := s.Settings(ctx, t)
	if err != nil {
		return Counts{}, err
	}
	var c Counts
	now := s.o.Now().UTC()
	err = s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status IN ('pending', 'approved')),
			count(*) FILTER (WHERE status IN ('pending', 'approved') AND created_at < $1),
			count(*) FILTER (WHERE status = 'paid' AND finished_at >= $2),
			count(*) FILTER (WHERE status = 'pending' AND flagged AND NOT EXISTS (SELECT 1 FROM withdrawal_decisions d
				WHERE d.withdrawal_id = withdrawals.id AND d.kind = 'compliance_cleared'))
			FROM withdrawals WHERE status IN ('pending', 'approved') OR finished_at >= $2`,
			now.Add(-time.Duration(st.SLAHours)*time.Hour), now.Truncate(24*time.Hour)).Scan(&c.Waiting, &c.Overdue, &c.PaidToday, &c.Flagged)
	})
	return c, err
}
