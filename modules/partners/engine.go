package partners

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The commission engine. Each closing deal is computed once per generation: the first computation is generation 0
// and each change of the deal on the platform adds one, after reversing what the previous generation paid. Where a
// deal stands is its row of partner_deal_states, written first and so locked while its rows are written:
//
//   - trading.deal_closed: computed only if the deal was never seen, so a redelivered, replayed or late event
//     (after a change was already applied) pays nothing twice;
//   - trading.deal_changed: applied only if it is not older than the last event applied to the deal (an older
//     change delivered late does not undo a newer one); every paid row not yet reversed gets a reversal row, then
//     the deal as it is now is computed as the next generation (or explained: cancelled, no longer closing).
//
// Every level up the tree at the deal's time gets a row keyed (deal, generation, level, plan version): paid, or
// "nothing" with its reason; a deal no partner could earn on gets one row at level 0 saying why.

// Sources of rows.
const (
	SourceDeal = "deal"
	SourceCPA  = "cpa"
)

// Kinds of rows.
const (
	KindPaid     = "paid"
	KindNothing  = "nothing"
	KindReversal = "reversal"
)

type row struct {
	source      string
	server      uuid.UUID
	ticket      string
	generation  int
	login       string
	account     *uuid.UUID
	client      *uuid.UUID
	level       int
	partner     *uuid.UUID
	plan        *uuid.UUID
	planVersion int
	kind        string
	amount      int64
	currency    string
	symbol      string
	lots        decimal.Decimal
	at          time.Time
	reason      Reason
	explanation Explanation
}

const insertRow = `WITH ins AS (
		INSERT INTO partner_commissions (source, server_id, ticket, generation, login, account_id, client_id, level, partner_id, plan_id,
			plan_version, kind, amount, currency, symbol, lots, deal_time, reason, explanation)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT DO NOTHING RETURNING id, kind)
	INSERT INTO partner_commission_postings (commission_id) SELECT id FROM ins WHERE kind <> 'nothing'`

// insertRowsTx writes rows unless their keys exist, in one round trip; a row with money joins the queue of the
// batch poster.
func insertRowsTx(ctx context.Context, tx pgx.Tx, rows ...row) error {
	var b pgx.Batch
	for _, r := range rows {
		expl, err := json.Marshal(r.explanation)
		if err != nil {
			return err
		}
		b.Queue(insertRow, r.source, r.server, r.ticket, r.generation, r.login, r.account, r.client, r.level, r.partner, r.plan, r.planVersion,
			r.kind, r.amount, r.currency, r.symbol, r.lots, r.at, string(r.reason), expl)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("partners: commission rows: %w", err)
	}
	return nil
}

func insertRowTx(ctx context.Context, tx pgx.Tx, r row) error { return insertRowsTx(ctx, tx, r) }

// onDealClosed computes a closing deal the first time the engine sees it.
func (s *Service) onDealClosed(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m events.Meta, e tradingdesk.DealClosed) error {
	tag, err := tx.Exec(ctx, `INSERT INTO partner_deal_states (server_id, ticket, generation, last_event_at) VALUES ($1, $2, 0, $3)
		ON CONFLICT DO NOTHING`, e.ServerID, e.Deal.Ticket, m.OccurredAt)
	if err != nil {
		return fmt.Errorf("partners: deal state: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil // seen before: computed, or changed since
	}
	return s.computeTx(ctx, tx, t, e.DealAccount, e.Deal, 0)
}

// onDealChanged reverses what a deal paid and computes it again as it is now.
func (s *Service) onDealChanged(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m events.Meta, e tradingdesk.DealChanged) error {
	closesNow := e.After != nil && e.After.Closes()
	var known bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partner_deal_states WHERE server_id = $1 AND ticket = $2)`,
		e.ServerID, e.Before.Ticket).Scan(&known); err != nil {
		return err
	}
	if !known && !e.Before.Closes() && !closesNow {
		return nil // an opening deal or a balance operation: never a commission
	}
	var gen int
	err := tx.QueryRow(ctx, `INSERT INTO partner_deal_states (server_id, ticket, generation, last_event_at) VALUES ($1, $2, 0, $3)
		ON CONFLICT (server_id, ticket) DO UPDATE SET generation = partner_deal_states.generation + 1, last_event_at = excluded.last_event_at
		WHERE partner_deal_states.last_event_at <= excluded.last_event_at RETURNING generation`, e.ServerID, e.Before.Ticket, m.OccurredAt).Scan(&gen)
	if errors.Is(err, pgx.ErrNoRows) {
		s.o.Log.InfoContext(ctx, "partners: an older change of a deal arrived after a newer one; ignored", "tenant", t.Slug,
			"server", e.ServerID, "ticket", e.Before.Ticket, "change", e.Change)
		return nil
	}
	if err != nil {
		return fmt.Errorf("partners: deal state: %w", err)
	}
	if gen > 0 {
		says := "the platform " + string(e.Change) + " the deal"
		rows, err := tx.Query(ctx, `WITH rev AS (
				INSERT INTO partner_commissions (source, server_id, ticket, generation, login, account_id, client_id, level, partner_id, plan_id,
					plan_version, kind, amount, currency, symbol, lots, deal_time, explanation, reverses)
				SELECT source, server_id, ticket, $3, login, account_id, client_id, level, partner_id, plan_id, plan_version, 'reversal', -amount,
					currency, symbol, lots, deal_time, jsonb_build_object('says', $4::text, 'change', $5::text), id
				FROM partner_commissions c WHERE source = 'deal' AND server_id = $1 AND ticket = $2 AND kind = 'paid'
					AND NOT EXISTS (SELECT 1 FROM partner_commissions r WHERE r.reverses = c.id)
				ON CONFLICT DO NOTHING RETURNING id, partner_id),
			posted AS (INSERT INTO partner_commission_postings (commission_id) SELECT id FROM rev)
			SELECT DISTINCT partner_id FROM rev WHERE partner_id IS NOT NULL`,
			e.ServerID, e.Before.Ticket, gen, says, string(e.Change))
		if err != nil {
			return fmt.Errorf("partners: reverse deal %s: %w", e.Before.Ticket, err)
		}
		reversed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*uuid.UUID, error) {
			var id uuid.UUID
			return &id, r.Scan(&id)
		})
		if err != nil {
			return fmt.Errorf("partners: reverse deal %s: %w", e.Before.Ticket, err)
		}
		server := e.ServerID
		if err := s.publishRecorded(ctx, tx, t, CommissionRecorded{Source: SourceDeal, ServerID: &server, Ticket: e.Before.Ticket, Generation: gen},
			reversed...); err != nil {
			return err
		}
	}
	switch {
	case e.After == nil:
		return s.explainDealTx(ctx, tx, e.DealAccount, e.Before, gen, ReasonCancelled)
	case !closesNow:
		return s.explainDealTx(ctx, tx, e.DealAccount, *e.After, gen, ReasonNotClosing)
	}
	return s.computeTx(ctx, tx, t, e.DealAccount, *e.After, gen)
}

func dealRow(a tradingdesk.DealAccount, d tradingdesk.Deal, gen int) row {
	return row{source: SourceDeal, server: a.ServerID, ticket: d.Ticket, generation: gen, login: a.Login, account: a.AccountID,
		client: a.ClientID, symbol: d.Symbol, lots: d.Volume.Abs(), at: d.Time}
}

// explainDealTx records why a whole deal pays no one (level 0).
func (s *Service) explainDealTx(ctx context.Context, tx pgx.Tx, a tradingdesk.DealAccount, d tradingdesk.Deal, gen int, r Reason) error {
	return insertRowTx(ctx, tx, explainRow(a, d, gen, r))
}

func explainRow(a tradingdesk.DealAccount, d tradingdesk.Deal, gen int, r Reason) row {
	rw := dealRow(a, d, gen)
	rw.kind, rw.reason, rw.explanation = KindNothing, r, Explanation{Symbol: d.Symbol, Lots: d.Volume.Abs().String(), Reason: r, Says: Explain[r]}
	return rw
}

// levelPartner is a partner up the tree as the engine needs it.
type levelPartner struct {
	id     uuid.UUID
	status Status
	plan   *uuid.UUID
	// version is the plan's version in force at the deal's time, when treeAtTx read it.
	version *Plan
}

// computeTx writes generation gen of a closing deal's rows: one per level up the tree at the deal's time, and
// announces them (partners.commission_recorded) to the partners they are of.
func (s *Service) computeTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, a tradingdesk.DealAccount, d tradingdesk.Deal, gen int) error {
	rows, err := s.dealRowsTx(ctx, tx, t, a, d, gen, computeWith{})
	if err != nil {
		return err
	}
	if err := insertRowsTx(ctx, tx, rows...); err != nil {
		return err
	}
	return s.publishDealRows(ctx, tx, t, a.ServerID, d.Ticket, gen, rows)
}

// publishDealRows announces generation gen of a deal's rows to the partners they are of (rows of no partner, a
// whole deal explained at level 0, announce nothing).
func (s *Service) publishDealRows(ctx context.Context, tx pgx.Tx, t tenants.Tenant, server uuid.UUID, ticket string, gen int, rows []row) error {
	ids := make([]*uuid.UUID, len(rows))
	for i := range rows {
		ids[i] = rows[i].partner
	}
	return s.publishRecorded(ctx, tx, t, CommissionRecorded{Source: SourceDeal, ServerID: &server, Ticket: ticket, Generation: gen}, ids...)
}

// computeWith says how dealRowsTx differs from the engine's first computation (a recalculation's).
type computeWith struct {
	// latestPlans computes every level with its partner's plan at its latest version, not the version in force at
	// the deal's time.
	latestPlans bool
	// held is the position's hold as a stored row explained it, when the deal's position is not known.
	held *int64
}

// dealRowsTx computes generation gen of a closing deal's rows without writing them: the chain up the tree at the
// deal's time, each level's plan, and what PayUp says each level pays (the same function the plan preview shows).
func (s *Service) dealRowsTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, a tradingdesk.DealAccount, d tradingdesk.Deal, gen int, with computeWith) ([]row, error) {
	if a.ClientID == nil {
		return []row{explainRow(a, d, gen, ReasonAccountUnknown)}, nil
	}
	levels, suffixes, err := treeAtTx(ctx, tx, *a.ClientID, d.Time)
	if err != nil {
		return nil, err
	}
	if len(levels) == 0 {
		return []row{explainRow(a, d, gen, ReasonNotAttributed)}, nil
	}
	// The plan version of every active partner with a plan: in force at the deal's time (read with the tree), or
	// the latest for a recalculation.
	chain := make([]Payer, len(levels))
	plans := map[uuid.UUID]Plan{}
	for i, lp := range levels {
		chain[i] = Payer{ID: lp.id, Status: lp.status}
		if lp.status != StatusActive || lp.plan == nil {
			continue
		}
		p, ok := plans[*lp.plan]
		if !ok {
			switch {
			case with.latestPlans:
				if p, err = planVersionTx(ctx, tx, *lp.plan, 0); err != nil {
					return nil, err
				}
			case lp.version != nil:
				p = *lp.version
			default:
				if p, err = planAtTx(ctx, tx, *lp.plan, d.Time); err != nil {
					return nil, err
				}
			}
			plans[*lp.plan] = p
		}
		chain[i].Plan = &p
	}
	trade := Trade{Symbol: d.Symbol, Lots: d.Volume.Abs(), HeldSeconds: with.held}
	needType, needHold := NeedsOf(chain)
	if needType && s.o.Trades != nil && a.AccountID != nil {
		if trade.AccountType, err = s.o.Trades.AccountType(ctx, t, *a.AccountID); err != nil {
			return nil, fmt.Errorf("partners: account type of %s: %w", a.Login, err)
		}
	}
	if needHold && trade.HeldSeconds == nil && s.o.Trades != nil && d.PositionID != "" {
		opened, ok, err := s.o.Trades.PositionOpened(ctx, t, a.ServerID, a.Login, d.PositionID, d.Time)
		if err != nil {
			return nil, fmt.Errorf("partners: opening of position %s: %w", d.PositionID, err)
		}
		if ok {
			held := int64(d.Time.Sub(opened) / time.Second)
			trade.HeldSeconds = &held
		}
	}
	batch := make([]row, 0, len(levels))
	for _, lv := range PayUp(chain, trade, suffixes) {
		rw := dealRow(a, d, gen)
		rw.level, rw.partner = lv.Level, &lv.Partner
		if lv.Plan != nil {
			rw.plan, rw.planVersion, rw.currency = &lv.Plan.ID, lv.Plan.Version, lv.Plan.Currency.Code
		}
		if lv.Outcome.Reason != "" {
			rw.kind, rw.reason = KindNothing, lv.Outcome.Reason
		} else {
			rw.kind, rw.amount = KindPaid, lv.Outcome.Amount
		}
		rw.explanation = lv.Outcome.Explanation
		batch = append(batch, rw)
	}
	return batch, nil
}

// treeAtTx is, in one round trip, the partners up the tree from the client's partner at time at (nearest first,
// with their status and plan; none when the client was attributed to no one then) and the tenant's suffixes.
func treeAtTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, at time.Time) ([]levelPartner, []string, error) {
	rows, err := tx.Query(ctx, `WITH RECURSIVE first AS (
			SELECT partner_id FROM partner_attributions WHERE client_id = $1 AND effective_from <= $2 ORDER BY effective_from DESC LIMIT 1),
		up(id, depth, path, cycle) AS (
			SELECT partner_id, 1, ARRAY[partner_id], false FROM first WHERE partner_id IS NOT NULL
			UNION ALL
			SELECT p.parent_id, up.depth + 1, up.path || p.parent_id, p.parent_id = ANY(up.path)
			FROM up CROSS JOIN LATERAL (SELECT parent_id FROM partner_parents WHERE partner_id = up.id AND effective_from <= $2
				ORDER BY effective_from DESC LIMIT 1) p
			WHERE p.parent_id IS NOT NULL AND NOT up.cycle)
		SELECT up.id, up.cycle, pa.status, pa.plan_id, coalesce((SELECT symbol_suffixes FROM partner_settings), '{}'),
			pv.name, pv.currency, pv.version, pv.rules, pv.created_at
		FROM up JOIN partners pa ON pa.id = up.id
		LEFT JOIN LATERAL (SELECT pl.name, pl.currency, v.version, v.rules, v.created_at FROM partner_plan_versions v
			JOIN partner_plans pl ON pl.id = v.plan_id WHERE v.plan_id = pa.plan_id
			ORDER BY (v.created_at <= $2) DESC, CASE WHEN v.created_at <= $2 THEN v.version ELSE -v.version END DESC LIMIT 1) pv ON true
		ORDER BY up.depth`, client, at)
	if err != nil {
		return nil, nil, err
	}
	var out []levelPartner
	var suffixes []string
	var lp levelPartner
	var cycle bool
	var name, currency *string
	var version *int32
	var rules []byte
	var created *time.Time
	if _, err := pgx.ForEachRow(rows, []any{&lp.id, &cycle, &lp.status, &lp.plan, &suffixes, &name, &currency, &version, &rules, &created}, func() error {
		if cycle {
			return fmt.Errorf("partners: the tree above client %s has a cycle at %s", client, at)
		}
		lp.version = nil
		if lp.plan != nil && version != nil {
			c, ok := money.Lookup(*currency)
			if !ok {
				return fmt.Errorf("partners: plan %s has an unknown currency %q", *name, *currency)
			}
			v := Plan{ID: *lp.plan, Name: *name, Currency: c, Version: int(*version), CreatedAt: *created}
			if err := json.Unmarshal(rules, &v.Rules); err != nil {
				return fmt.Errorf("partners: plan %s v%d: %w", v.Name, v.Version, err)
			}
			lp.version = &v
		}
		out = append(out, lp)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return out, suffixes, nil
}

func levelPartnersTx(ctx context.Context, tx pgx.Tx, chain []uuid.UUID) ([]levelPartner, error) {
	rows, err := tx.Query(ctx, `SELECT id, status, plan_id FROM partners WHERE id = ANY($1)`, chain)
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]levelPartner{}
	var lp levelPartner
	if _, err := pgx.ForEachRow(rows, []any{&lp.id, &lp.status, &lp.plan}, func() error {
		byID[lp.id] = lp
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]levelPartner, 0, len(chain))
	for _, id := range chain {
		out = append(out, byID[id])
	}
	return out, nil
}

// onDeposit pays CPA on a referred client's first deposit: once per client, to the partner it was attributed to
// then (level 1), under that partner's plan. Deposits of clients attributed to no one are not recorded.
func (s *Service) onDeposit(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m events.Meta, e payments.DepositCompleted) error {
	if e.DepositNumber != 1 {
		return nil
	}
	first, _, err := attributionTx(ctx, tx, e.ClientID, m.OccurredAt)
	if err != nil || first == nil {
		return err
	}
	levels, err := levelPartnersTx(ctx, tx, []uuid.UUID{*first})
	if err != nil {
		return err
	}
	lp := levels[0]
	client := e.ClientID
	rw := row{source: SourceCPA, ticket: e.DepositID.String(), client: &client, level: 1, partner: first, at: m.OccurredAt.UTC()}
	dc := money.Currency{Code: e.Currency, Exponent: e.Exponent}
	var out Outcome
	switch {
	case lp.status != StatusActive:
		out = nothing(Explanation{}, ReasonPartnerInactive)
	case lp.plan == nil:
		out = nothing(Explanation{}, ReasonNoPlan)
	default:
		p, err := planAtTx(ctx, tx, *lp.plan, m.OccurredAt)
		if err != nil {
			return err
		}
		rw.plan, rw.planVersion, rw.currency = &p.ID, p.Version, p.Currency.Code
		out = p.Rules.PayCPA(p.Currency, e.Amount, dc)
	}
	if out.Reason != "" {
		rw.kind, rw.reason = KindNothing, out.Reason
	} else {
		rw.kind, rw.amount = KindPaid, out.Amount
	}
	rw.explanation = out.Explanation
	if err := insertRowTx(ctx, tx, rw); err != nil {
		return err
	}
	return s.publishRecorded(ctx, tx, t, CommissionRecorded{Source: SourceCPA, Ticket: rw.ticket}, first)
}
