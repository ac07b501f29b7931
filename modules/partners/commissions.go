package partners

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/ledger"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Commission is one row of partner_commissions: what a deal (or a first deposit) paid a partner at a level, why it
// paid nothing, or the reversal of an earlier row.
type Commission struct {
	ID          int64
	Source      string // deal or cpa
	ServerID    uuid.UUID
	Ticket      string // the deal's ticket, or the deposit's id
	Generation  int
	Login       string
	AccountID   *uuid.UUID
	ClientID    *uuid.UUID
	Level       int
	PartnerID   *uuid.UUID
	PlanID      *uuid.UUID
	PlanVersion int
	Kind        string // paid, nothing, reversal
	Amount      int64  // minor units of Currency; negative for a reversal
	Currency    string
	Symbol      string
	Lots        decimal.Decimal
	DealTime    time.Time
	Reason      Reason
	Explanation Explanation
	Reverses    *int64
	CreatedAt   time.Time
	// Posted is when the batch poster credited the row to the wallet (nil: not yet, or a row without money).
	Posted *time.Time
}

// CommissionFilter narrows rows; zero fields do not filter.
type CommissionFilter struct {
	Partner  *uuid.UUID
	Client   *uuid.UUID
	ServerID *uuid.UUID
	Ticket   string
	From, To *time.Time // the deal's time, From included
	Symbol   string
	Level    int
	Kind     string
	Reason   Reason
}

// dealConditions are the filters the commission list and the report share, as SQL on partner_commissions c with
// their values added through arg: the deals' period [from, to), the symbol (any case) and the level (0: any).
func dealConditions(arg func(any) string, from, to *time.Time, symbol string, level int) string {
	var q string
	if from != nil {
		q += ` AND c.deal_time >= ` + arg(*from)
	}
	if to != nil {
		q += ` AND c.deal_time < ` + arg(*to)
	}
	if symbol != "" {
		q += ` AND upper(c.symbol) = upper(` + arg(symbol) + `)`
	}
	if level > 0 {
		q += ` AND c.level = ` + arg(level)
	}
	return q
}

// Commissions lists up to limit (at most 1000) rows matching f, newest deal first.
func (s *Service) Commissions(ctx context.Context, t tenants.Tenant, f CommissionFilter, limit int) ([]Commission, error) {
	q := `SELECT c.id, c.source, c.server_id, c.ticket, c.generation, c.login, c.account_id, c.client_id, c.level, c.partner_id, c.plan_id,
		c.plan_version, c.kind, c.amount, c.currency, c.symbol, c.lots, c.deal_time, c.reason, c.explanation, c.reverses, c.created_at, p.posted_at
		FROM partner_commissions c LEFT JOIN partner_commission_writes p ON p.id = c.write_id WHERE true`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Partner != nil {
		q += ` AND c.partner_id = ` + arg(*f.Partner)
	}
	if f.Client != nil {
		q += ` AND c.client_id = ` + arg(*f.Client)
	}
	if f.ServerID != nil {
		q += ` AND c.server_id = ` + arg(*f.ServerID)
	}
	if f.Ticket != "" {
		q += ` AND c.ticket = ` + arg(f.Ticket)
	}
	q += dealConditions(arg, f.From, f.To, f.Symbol, f.Level)
	if f.Kind != "" {
		q += ` AND c.kind = ` + arg(f.Kind)
	}
	if f.Reason != "" {
		q += ` AND c.reason = ` + arg(string(f.Reason))
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	q += ` ORDER BY c.deal_time DESC, c.id DESC LIMIT ` + arg(limit)
	var out []Commission
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Commission, error) {
			var c Commission
			var level int16
			var reason string
			var expl []byte
			if err := r.Scan(&c.ID, &c.Source, &c.ServerID, &c.Ticket, &c.Generation, &c.Login, &c.AccountID, &c.ClientID, &level, &c.PartnerID,
				&c.PlanID, &c.PlanVersion, &c.Kind, &c.Amount, &c.Currency, &c.Symbol, &c.Lots, &c.DealTime, &reason, &expl, &c.Reverses,
				&c.CreatedAt, &c.Posted); err != nil {
				return c, err
			}
			c.Level, c.Reason = int(level), Reason(reason)
			return c, json.Unmarshal(expl, &c.Explanation)
		})
		return err
	})
	return out, err
}

// Earned sums a partner's rows per currency (paid minus reversed), in minor units: what its wallet holds once
// every row is posted. It reads the posted rows' sums and the rows not yet posted (every row that carries money is
// in a write of the poster's queue, written with it), so its cost follows the poster's backlog, not the partner's
// history.
func (s *Service) Earned(ctx context.Context, t tenants.Tenant, partner uuid.UUID) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		// What is posted (partner_posted_sums, moved when writes are marked posted) and what is not yet, in one snapshot:
		// the sum of every row of the partner that carries money, without reading them all.
		rows, err := tx.Query(ctx, earnedSQL, partner)
		if err != nil {
			return err
		}
		var cur string
		var sum int64
		_, err = pgx.ForEachRow(rows, []any{&cur, &sum}, func() error { out[cur] = sum; return nil })
		return err
	})
	return out, err
}

// earnedSQL is a partner's posted sums and its rows in the writes not yet posted (partner_commission_writes, the
// poster's queue: a write's rows are those of its id range that name it), in one snapshot. Each due write's rows are
// read by a range of the primary key (OFFSET 0 keeps the planner from joining the whole table instead).
const earnedSQL = `SELECT currency, sum(amount)::bigint FROM (
		SELECT currency, amount FROM partner_posted_sums WHERE partner_id = $1
		UNION ALL
		SELECT c.currency, c.amount FROM partner_commission_writes w CROSS JOIN LATERAL (
			SELECT currency, amount FROM partner_commissions c
			WHERE c.id BETWEEN w.first_id AND w.last_id AND c.write_id = w.id AND c.partner_id = $1 OFFSET 0) c
		WHERE w.batch_id IS NULL) s
	GROUP BY currency`

// Wallets reads a partner's wallet in the ledger for each currency its rows are in (posted balance, minor units):
// once every row is posted it equals Earned, and the difference meanwhile is what waits for the next batch.
func (s *Service) Wallets(ctx context.Context, t tenants.Tenant, partner uuid.UUID, currencies []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, code := range currencies {
		c, ok := money.Lookup(code)
		if !ok {
			continue
		}
		b, err := s.o.Ledger.Balance(ctx, t, ledger.PartnerWallet(partner, c).Code)
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			out[code] = 0
		case err != nil:
			return nil, err
		default:
			out[code] = b.Posted
		}
	}
	return out, nil
}
