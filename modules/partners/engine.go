package partners

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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

// The batch poster's queue: every statement that inserts rows with money (as ins, RETURNING id and kind) draws a
// write id first (writeID, as w), gives it to those rows (write_id) and records the write
// (partner_commission_writes: the ids' range and how many; queueWrite), so the queue grows by one row per statement,
// not per commission, and the write is visible exactly when its rows are (batches.go posts it).
const (
	writeID    = `w AS MATERIALIZED (SELECT nextval('partner_commission_writes_id_seq') AS id)`
	queueWrite = `queued AS (INSERT INTO partner_commission_writes (id, first_id, last_id, row_count)
			SELECT (SELECT id FROM w), min(id), max(id), count(*) FROM ins WHERE kind <> 'nothing' HAVING count(*) > 0)`
)

// insertRowsTx writes rows unless their keys exist, in one statement however many; the rows with money join the
// queue of the batch poster as one write. It answers the partners of the rows it inserted (a row already there, a redelivered
// deal's, counts for nothing).
func insertRowsTx(ctx context.Context, tx pgx.Tx, rows ...row) ([]*uuid.UUID, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	n := len(rows)
	var (
		sources, tickets, logins, kinds, currencies, symbols, reasons, expls = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		// pgx's own types: uuid.UUID and decimal.Decimal would go through driver.Valuer, element by element (half the
		// engine's CPU in the process before, docs/benchmarks.md).
		servers, accounts, clients, partners, plans = make([]pgtype.UUID, n), make([]pgtype.UUID, n), make([]pgtype.UUID, n),
			make([]pgtype.UUID, n), make([]pgtype.UUID, n)
		gens, levels, versions = make([]int32, n), make([]int32, n), make([]int32, n)
		amounts                = make([]int64, n)
		lots                   = make([]pgtype.Numeric, n)
		times                  = make([]time.Time, n)
	)
	for i, r := range rows {
		expl, err := json.Marshal(r.explanation)
		if err != nil {
			return nil, err
		}
		sources[i], servers[i], tickets[i], gens[i], logins[i] = r.source, pgUUID(&r.server), r.ticket, int32(r.generation), r.login
		accounts[i], clients[i], levels[i], partners[i], plans[i] = pgUUID(r.account), pgUUID(r.client), int32(r.level), pgUUID(r.partner), pgUUID(r.plan)
		versions[i], kinds[i], amounts[i], currencies[i], symbols[i] = int32(r.planVersion), r.kind, r.amount, r.currency, r.symbol
		lots[i], times[i], reasons[i], expls[i] = pgNumeric(r.lots), r.at, string(r.reason), string(expl)
	}
	q := `WITH ` + writeID + `, ins AS (
			INSERT INTO partner_commissions (source, server_id, ticket, generation, login, account_id, client_id, level, partner_id, plan_id,
				plan_version, kind, amount, currency, symbol, lots, deal_time, reason, explanation, write_id)
			SELECT source, server_id, ticket, generation, login, account_id, client_id, level, partner_id, plan_id,
				plan_version, kind, amount, currency, symbol, lots, deal_time, reason, explanation::jsonb,
				CASE WHEN kind <> 'nothing' THEN (SELECT id FROM w) END
			FROM unnest($1::text[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::uuid[], $7::uuid[], $8::int[], $9::uuid[], $10::uuid[],
				$11::int[], $12::text[], $13::bigint[], $14::text[], $15::text[], $16::numeric[], $17::timestamptz[], $18::text[], $19::text[])
				AS u (source, server_id, ticket, generation, login, account_id, client_id, level, partner_id, plan_id,
					plan_version, kind, amount, currency, symbol, lots, deal_time, reason, explanation)
			ON CONFLICT DO NOTHING RETURNING id, kind, partner_id),
		` + queueWrite + `
		SELECT DISTINCT partner_id FROM ins WHERE partner_id IS NOT NULL`
	res, err := tx.Query(ctx, q,
		sources, servers, tickets, gens, logins, accounts, clients, levels, partners, plans,
		versions, kinds, amounts, currencies, symbols, lots, times, reasons, expls)
	if err != nil {
		return nil, fmt.Errorf("partners: commission rows: %w", err)
	}
	inserted, err := pgx.CollectRows(res, func(r pgx.CollectableRow) (*uuid.UUID, error) {
		var id uuid.UUID
		return &id, r.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("partners: commission rows: %w", err)
	}
	return inserted, nil
}

// pgUUID is u as pgx encodes it natively (NULL for nil).
func pgUUID(u *uuid.UUID) pgtype.UUID {
	if u == nil {
		return pgtype.UUID{}
	}
	return pgtype.UUID{Bytes: *u, Valid: true}
}

// pgNumeric is d as pgx encodes it natively, exactly.
func pgNumeric(d decimal.Decimal) pgtype.Numeric {
	return pgtype.Numeric{Int: d.Coefficient(), Exp: d.Exponent(), Valid: true}
}

// copyRowsTx writes rows that cannot exist yet (a batch's deals whose states it just inserted: generation 0 of a
// deal never seen) with COPY, and the write of the poster's queue for those with money. It answers the partners of
// the rows. Their ids are drawn first, in the statement that records the write, so the write names its id range;
// the row key's unique index still guards: a violation fails the batch, and the hall then delivers its events one
// at a time, through insertRowsTx.
func copyRowsTx(ctx context.Context, tx pgx.Tx, rows []row) ([]*uuid.UUID, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	money := 0
	for _, r := range rows {
		if r.kind != KindNothing {
			money++
		}
	}
	var write int64
	var ids []int64
	if err := tx.QueryRow(ctx, `WITH `+writeID+`,
			ids AS MATERIALIZED (SELECT nextval('partner_commissions_id_seq') AS id FROM generate_series(1, $1)),
			queued AS (INSERT INTO partner_commission_writes (id, first_id, last_id, row_count)
				SELECT (SELECT id FROM w), min(id), max(id), $2 FROM ids HAVING $2 > 0)
		SELECT (SELECT id FROM w), array_agg(id ORDER BY id) FROM ids`, len(rows), money).Scan(&write, &ids); err != nil {
		return nil, fmt.Errorf("partners: commission rows' ids: %w", err)
	}
	seen := map[uuid.UUID]bool{}
	var touched []*uuid.UUID
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"partner_commissions"}, []string{"id", "source", "server_id", "ticket", "generation", "login",
		"account_id", "client_id", "level", "partner_id", "plan_id", "plan_version", "kind", "amount", "currency", "symbol", "lots", "deal_time",
		"reason", "explanation", "write_id"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			expl, err := json.Marshal(r.explanation)
			if err != nil {
				return nil, err
			}
			var w *int64
			if r.kind != KindNothing {
				w = &write
			}
			if r.partner != nil && !seen[*r.partner] {
				seen[*r.partner] = true
				touched = append(touched, r.partner)
			}
			return []any{ids[i], r.source, pgUUID(&r.server), r.ticket, int32(r.generation), r.login, pgUUID(r.account), pgUUID(r.client),
				int16(r.level), pgUUID(r.partner), pgUUID(r.plan), int32(r.planVersion), r.kind, r.amount, r.currency, r.symbol,
				pgNumeric(r.lots), r.at, string(r.reason), expl, w}, nil
		}))
	if err != nil {
		return nil, fmt.Errorf("partners: commission rows: %w", err)
	}
	return touched, nil
}

func insertRowTx(ctx context.Context, tx pgx.Tx, r row) error {
	_, err := insertRowsTx(ctx, tx, r)
	return err
}

// onDealsClosed computes a batch of closing deals (a LaterBatch subscriber), each the first time the engine sees
// it, as they would be one at a time: one statement for the deals' states, one read of the trees, plans and
// suffixes the deals need (a dealBook), PayUp per deal, one statement for every row, and one
// partners.commission_recorded naming the partners whose rows were inserted.
func (s *Service) onDealsClosed(ctx context.Context, tx pgx.Tx, t tenants.Tenant, ds []events.Delivery[tradingdesk.DealClosed]) error {
	type key struct {
		server uuid.UUID
		ticket string
	}
	// A deal named twice in one batch (a replay) is computed once, as its first event says.
	first := make(map[key]int, len(ds))
	for i, d := range ds {
		k := key{d.Event.ServerID, d.Event.Deal.Ticket}
		if _, ok := first[k]; !ok {
			first[k] = i
		}
	}
	order := make([]int, 0, len(first))
	for _, i := range first {
		order = append(order, i)
	}
	// In key order, so that two transactions writing states of the same deals lock them in the same order.
	slices.SortFunc(order, func(i, j int) int {
		a, b := ds[i].Event, ds[j].Event
		if c := slices.Compare(a.ServerID[:], b.ServerID[:]); c != 0 {
			return c
		}
		return strings.Compare(a.Deal.Ticket, b.Deal.Ticket)
	})
	servers, tickets, stamps := make([]pgtype.UUID, len(order)), make([]string, len(order)), make([]time.Time, len(order))
	for n, i := range order {
		servers[n], tickets[n], stamps[n] = pgUUID(&ds[i].Event.ServerID), ds[i].Event.Deal.Ticket, ds[i].Meta.OccurredAt
	}
	rows, err := tx.Query(ctx, `INSERT INTO partner_deal_states (server_id, ticket, generation, last_event_at)
		SELECT s, t, 0, at FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS u (s, t, at)
		ON CONFLICT DO NOTHING RETURNING server_id, ticket`, servers, tickets, stamps)
	if err != nil {
		return fmt.Errorf("partners: deal states: %w", err)
	}
	fresh := map[key]bool{}
	var server pgtype.UUID
	var ticket string
	if _, err := pgx.ForEachRow(rows, []any{&server, &ticket}, func() error { fresh[key{server.Bytes, ticket}] = true; return nil }); err != nil {
		return fmt.Errorf("partners: deal states: %w", err)
	}
	if len(fresh) == 0 {
		return nil // all seen before: computed, or changed since
	}
	// Publishing order, as one at a time.
	todo := make([]tradingdesk.DealClosed, 0, len(fresh))
	var clients []uuid.UUID
	for i, d := range ds {
		k := key{d.Event.ServerID, d.Event.Deal.Ticket}
		if fresh[k] && first[k] == i {
			todo = append(todo, d.Event)
			if d.Event.ClientID != nil {
				clients = append(clients, *d.Event.ClientID)
			}
		}
	}
	book := newDealBook()
	if err := book.load(ctx, tx, clients); err != nil {
		return err
	}
	if s.o.Trades != nil { // the batch's positions are asked once, when the first deal needs its hold
		book.openings = tradingdesk.NewOpenings(func(ctx context.Context, asks []tradingdesk.PositionAsk) ([]time.Time, error) {
			return s.o.Trades.PositionsOpened(ctx, t, asks)
		}, todo...)
	}
	var all []row
	for _, e := range todo {
		rs, err := s.dealRowsTx(ctx, tx, t, book, e.DealAccount, e.Deal, 0, computeWith{})
		if err != nil {
			return err
		}
		all = append(all, rs...)
	}
	// Every deal here was never seen (its state was just inserted), so none of its rows can exist: COPY, without
	// ON CONFLICT. A batch of one (the hall's retry of a failed batch, one event at a time) goes the INSERT way.
	write := copyRowsTx
	if len(todo) == 1 {
		write = func(ctx context.Context, tx pgx.Tx, rows []row) ([]*uuid.UUID, error) {
			return insertRowsTx(ctx, tx, rows...)
		}
	}
	touched, err := write(ctx, tx, all)
	if err != nil {
		return err
	}
	return s.publishRecorded(ctx, tx, t, CommissionRecorded{Source: SourceDeal, Deals: len(todo)}, touched...)
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
		rows, err := tx.Query(ctx, `WITH `+writeID+`, ins AS (
				INSERT INTO partner_commissions (source, server_id, ticket, generation, login, account_id, client_id, level, partner_id, plan_id,
					plan_version, kind, amount, currency, symbol, lots, deal_time, explanation, reverses, write_id)
				SELECT source, server_id, ticket, $3, login, account_id, client_id, level, partner_id, plan_id, plan_version, 'reversal', -amount,
					currency, symbol, lots, deal_time, jsonb_build_object('says', $4::text, 'change', $5::text), id, (SELECT id FROM w)
				FROM partner_commissions c WHERE source = 'deal' AND server_id = $1 AND ticket = $2 AND kind = 'paid'
					AND NOT EXISTS (SELECT 1 FROM partner_commissions r WHERE r.reverses = c.id)
				ON CONFLICT DO NOTHING RETURNING id, kind, partner_id),
			`+queueWrite+`
			SELECT DISTINCT partner_id FROM ins WHERE partner_id IS NOT NULL`,
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
	// version is the plan's version in force at the deal's time, when dealBook.treeAt read it.
	version *Plan
}

// computeTx writes generation gen of a closing deal's rows: one per level up the tree at the deal's time, and
// announces them (partners.commission_recorded) to the partners they are of.
func (s *Service) computeTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, a tradingdesk.DealAccount, d tradingdesk.Deal, gen int) error {
	rows, err := s.dealRowsTx(ctx, tx, t, newDealBook(), a, d, gen, computeWith{})
	if err != nil {
		return err
	}
	touched, err := insertRowsTx(ctx, tx, rows...)
	if err != nil {
		return err
	}
	server := a.ServerID
	return s.publishRecorded(ctx, tx, t, CommissionRecorded{Source: SourceDeal, ServerID: &server, Ticket: d.Ticket, Generation: gen}, touched...)
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
// What it reads comes from book (loaded for the deal's client if it was not), so deals computed together read it
// once.
func (s *Service) dealRowsTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, book *dealBook, a tradingdesk.DealAccount, d tradingdesk.Deal, gen int, with computeWith) ([]row, error) {
	if a.ClientID == nil {
		return []row{explainRow(a, d, gen, ReasonAccountUnknown)}, nil
	}
	if err := book.load(ctx, tx, []uuid.UUID{*a.ClientID}); err != nil {
		return nil, err
	}
	levels, err := book.treeAt(*a.ClientID, d.Time)
	if err != nil {
		return nil, err
	}
	if len(levels) == 0 {
		return []row{explainRow(a, d, gen, ReasonNotAttributed)}, nil
	}
	// The plan version of every active partner with a plan: in force at the deal's time, or the latest for a
	// recalculation.
	chain := make([]Payer, len(levels))
	for i, lp := range levels {
		chain[i] = Payer{ID: lp.id, Status: lp.status}
		if lp.status != StatusActive || lp.plan == nil {
			continue
		}
		p := *lp.version
		if with.latestPlans {
			if p, err = book.latestPlan(*lp.plan); err != nil {
				return nil, err
			}
		}
		chain[i].Plan = &p
	}
	trade := Trade{Symbol: d.Symbol, Lots: d.Volume.Abs(), HeldSeconds: with.held}
	needType, needHold := NeedsOf(chain)
	if needType && s.o.Trades != nil && a.AccountID != nil {
		if trade.AccountType, err = book.accountType(ctx, s.o.Trades, t, *a.AccountID); err != nil {
			return nil, fmt.Errorf("partners: account type of %s: %w", a.Login, err)
		}
	}
	if needHold && trade.HeldSeconds == nil && s.o.Trades != nil && d.PositionID != "" {
		opened, ok, err := book.openingsFor(s.o.Trades, t).Opened(ctx, a, d)
		if err != nil {
			return nil, fmt.Errorf("partners: opening of position %s: %w", d.PositionID, err)
		}
		if ok {
			held := int64(d.Time.Sub(opened) / time.Second)
			trade.HeldSeconds = &held
		}
	}
	batch := make([]row, 0, len(levels))
	for _, lv := range PayUp(chain, trade, book.suffixes) {
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
