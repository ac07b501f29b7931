package bonuses

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Turnover. A closing deal counts toward every open bonus its client was granted at or before the deal's time:
// its lots (the volume it closes), or none when the bonus's rule asks a minimum hold and the position was held
// less (or its opening is unknown). Each (bonus, deal) is one bonus_turnover row, so a redelivered deal_closed
// counts nothing twice; a deal_changed sets the row to what the deal counts now (none when cancelled or no longer
// closing) and moves the bonus's lots_done by the difference. A bonus whose lots_done reaches what it requires is
// released in the same transaction. A bonus no longer open keeps its count: a cancellation after the release does
// not take the released money back (docs/bonuses.md#turnover).

// openBonus is an open bonus as turnover needs it.
type openBonus struct {
	id        uuid.UUID
	client    uuid.UUID
	grantedAt time.Time
	minHold   int64
	lotsLeft  decimal.Decimal // lots required less lots done
}

// closedDeal is a closing deal to count, and when the event about it was published. void counts it as nothing
// (a deal cancelled before its deal_closed was delivered).
type closedDeal struct {
	tradingdesk.DealClosed
	at   time.Time
	void bool
}

// onDealsClosed counts a batch of closing deals toward their clients' open bonuses (a LaterBatch subscriber).
func (s *Service) onDealsClosed(ctx context.Context, tx pgx.Tx, t tenants.Tenant, ds []events.Delivery[tradingdesk.DealClosed]) error {
	deals := make([]closedDeal, len(ds))
	for i, d := range ds {
		deals[i] = closedDeal{DealClosed: d.Event, at: d.Meta.OccurredAt}
	}
	return s.countTx(ctx, tx, t, deals)
}

// countTx counts deals, in their order, toward every open bonus their client was granted at or before the deal's
// time, with one statement for the bonuses (locked), one for the turnover rows and one for the counts, however many
// deals: what makes turnover keep pace with deal sync (docs/benchmarks.md). A bonus counts deals until its
// turnover is met, then is released; the deals after that in the batch count toward the client's other bonuses
// only, as they would have one at a time.
func (s *Service) countTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, deals []closedDeal) error {
	deals = slices.DeleteFunc(deals, func(d closedDeal) bool { return d.ClientID == nil || !d.Deal.Closes() })
	if len(deals) == 0 {
		return nil
	}
	clients := make([]uuid.UUID, 0, len(deals))
	for _, d := range deals {
		clients = append(clients, *d.ClientID)
	}
	rows, err := tx.Query(ctx, `SELECT id, client_id, granted_at, min_hold_seconds, lots_required - lots_done FROM bonuses
		WHERE client_id = ANY ($1) AND status = 'open' ORDER BY id FOR UPDATE`, clients)
	if err != nil {
		return fmt.Errorf("bonuses: open bonuses: %w", err)
	}
	byClient := map[uuid.UUID][]*openBonus{}
	var b openBonus
	if _, err := pgx.ForEachRow(rows, []any{&b.id, &b.client, &b.grantedAt, &b.minHold, &b.lotsLeft}, func() error {
		c := b
		byClient[b.client] = append(byClient[b.client], &c)
		return nil
	}); err != nil {
		return fmt.Errorf("bonuses: open bonuses: %w", err)
	}
	if len(byClient) == 0 {
		return nil // most deals: a client with no open bonus
	}
	// The batch's positions are asked once, when the first deal needs its hold.
	var openings *tradingdesk.Openings
	if s.o.Trades != nil {
		batch := make([]tradingdesk.DealClosed, len(deals))
		for i, d := range deals {
			batch[i] = d.DealClosed
		}
		openings = tradingdesk.NewOpenings(func(ctx context.Context, asks []tradingdesk.PositionAsk) ([]time.Time, error) {
			return s.o.Trades.PositionsOpened(ctx, t, asks)
		}, batch...)
	}
	var (
		ids, servers  []uuid.UUID
		tickets       []string
		lots          []decimal.Decimal
		helds         []*int64
		times, stamps []time.Time
	)
	for _, d := range deals {
		var open []openBonus
		for _, b := range byClient[*d.ClientID] {
			if !b.grantedAt.After(d.Deal.Time) && b.lotsLeft.IsPositive() {
				open = append(open, *b)
			}
		}
		if len(open) == 0 {
			continue
		}
		held, err := s.heldSeconds(ctx, openings, d.DealAccount, d.Deal, open)
		if err != nil {
			return err
		}
		for _, b := range byClient[*d.ClientID] {
			if b.grantedAt.After(d.Deal.Time) || !b.lotsLeft.IsPositive() {
				continue
			}
			n := counted(d.Deal, held, b.minHold)
			if d.void {
				n = decimal.Zero
			}
			b.lotsLeft = b.lotsLeft.Sub(n)
			ids, servers, tickets = append(ids, b.id), append(servers, d.ServerID), append(tickets, d.Deal.Ticket)
			lots, helds = append(lots, n), append(helds, held)
			times, stamps = append(times, d.Deal.Time), append(stamps, d.at)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// Rows already there (a deal counted before) add nothing: only what was inserted moves the counts.
	rows, err = tx.Query(ctx, `INSERT INTO bonus_turnover (bonus_id, server_id, ticket, lots, held_seconds, deal_time, last_event_at)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::numeric[], $5::bigint[], $6::timestamptz[], $7::timestamptz[])
		ON CONFLICT DO NOTHING RETURNING bonus_id, lots`, ids, servers, tickets, lots, helds, times, stamps)
	if err != nil {
		return fmt.Errorf("bonuses: turnover: %w", err)
	}
	added := map[uuid.UUID]decimal.Decimal{}
	var id uuid.UUID
	var n decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { added[id] = added[id].Add(n); return nil }); err != nil {
		return fmt.Errorf("bonuses: turnover: %w", err)
	}
	bonusIDs := make([]uuid.UUID, 0, len(added))
	deltas := make([]decimal.Decimal, 0, len(added))
	for id, n := range added {
		if !n.IsZero() {
			bonusIDs, deltas = append(bonusIDs, id), append(deltas, n)
		}
	}
	if len(bonusIDs) == 0 {
		return nil
	}
	rows, err = tx.Query(ctx, `UPDATE bonuses b SET lots_done = b.lots_done + d.delta FROM unnest($1::uuid[], $2::numeric[]) AS d (id, delta)
		WHERE b.id = d.id AND b.status = 'open' RETURNING b.id, b.lots_done >= b.lots_required`, bonusIDs, deltas)
	if err != nil {
		return fmt.Errorf("bonuses: turnover counts: %w", err)
	}
	var met []uuid.UUID
	var done bool
	if _, err := pgx.ForEachRow(rows, []any{&id, &done}, func() error {
		if done {
			met = append(met, id)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("bonuses: turnover counts: %w", err)
	}
	slices.SortFunc(met, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	for _, id := range met {
		if err := s.releaseTx(ctx, tx, t, id); err != nil {
			return err
		}
	}
	return nil
}

// heldSeconds is how long the deal's position was held, asked only when a bonus's rule has a minimum hold; nil
// when unknown or not asked.
func (s *Service) heldSeconds(ctx context.Context, openings *tradingdesk.Openings, a tradingdesk.DealAccount, d tradingdesk.Deal, open []openBonus) (*int64, error) {
	need := false
	for _, b := range open {
		need = need || b.minHold > 0
	}
	if !need || s.o.Trades == nil || d.PositionID == "" {
		return nil, nil
	}
	opened, ok, err := openings.Opened(ctx, a, d)
	if err != nil {
		return nil, fmt.Errorf("bonuses: opening of position %s: %w", d.PositionID, err)
	}
	if !ok {
		return nil, nil
	}
	h := int64(d.Time.Sub(opened) / time.Second)
	return &h, nil
}

// counted is what a deal counts toward a bonus whose rule asks minHold seconds.
func counted(d tradingdesk.Deal, held *int64, minHold int64) decimal.Decimal {
	if !d.Closes() {
		return decimal.Zero
	}
	if minHold > 0 && (held == nil || *held < minHold) {
		return decimal.Zero
	}
	return d.Volume.Abs()
}

// addLotsTx moves an open bonus's turnover by delta and releases it when met (announced: bonus.released).
func (s *Service) addLotsTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id uuid.UUID, delta decimal.Decimal) error {
	var met bool
	err := tx.QueryRow(ctx, `UPDATE bonuses SET lots_done = greatest(lots_done + $2, 0) WHERE id = $1 AND status = 'open'
		RETURNING lots_done >= lots_required`, id, delta).Scan(&met)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if met {
		return s.releaseTx(ctx, tx, t, id)
	}
	return nil
}

// releaseTx releases an open bonus whose turnover is met to the client's wallet and announces it (bonus.released).
func (s *Service) releaseTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id uuid.UUID) error {
	if err := s.closeTx(ctx, tx, id, closeRelease, engine, ""); err != nil {
		return err
	}
	return s.publishReleasedTx(ctx, tx, t, id)
}

// onDealChanged recounts a changed, cancelled or restored deal toward the bonuses it counted for.
func (s *Service) onDealChanged(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m events.Meta, e tradingdesk.DealChanged) error {
	rows, err := tx.Query(ctx, `SELECT u.bonus_id, u.lots, u.held_seconds, b.min_hold_seconds FROM bonus_turnover u JOIN bonuses b ON b.id = u.bonus_id
		WHERE u.server_id = $1 AND u.ticket = $2 AND u.last_event_at <= $3 ORDER BY u.bonus_id FOR UPDATE OF u`, e.ServerID, e.Before.Ticket, m.OccurredAt)
	if err != nil {
		return err
	}
	type was struct {
		bonus   uuid.UUID
		lots    decimal.Decimal
		held    *int64
		minHold int64
	}
	var ws []was
	var w was
	if _, err := pgx.ForEachRow(rows, []any{&w.bonus, &w.lots, &w.held, &w.minHold}, func() error { ws = append(ws, w); return nil }); err != nil {
		return err
	}
	if len(ws) == 0 {
		// No row to recount: either a newer change was applied already, or the deal's deal_closed has not been
		// delivered yet (batches wait a second or more). In the second case the deal is counted now as it is,
		// so the late deal_closed finds its rows and adds nothing.
		var seen bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bonus_turnover WHERE server_id = $1 AND ticket = $2)`, e.ServerID, e.Before.Ticket).Scan(&seen); err != nil {
			return err
		}
		if seen {
			return nil
		}
		d := closedDeal{DealClosed: tradingdesk.DealClosed{DealAccount: e.DealAccount, Deal: e.Before}, at: m.OccurredAt, void: true}
		if e.After != nil && e.After.Closes() {
			d.Deal, d.void = *e.After, false
		}
		return s.countTx(ctx, tx, t, []closedDeal{d})
	}
	for _, w := range ws {
		now := decimal.Zero
		if e.After != nil {
			now = counted(*e.After, w.held, w.minHold)
		}
		if _, err := tx.Exec(ctx, `UPDATE bonus_turnover SET lots = $4, last_event_at = $5 WHERE bonus_id = $1 AND server_id = $2 AND ticket = $3`,
			w.bonus, e.ServerID, e.Before.Ticket, now, m.OccurredAt); err != nil {
			return err
		}
		if delta := now.Sub(w.lots); !delta.IsZero() {
			if err := s.addLotsTx(ctx, tx, t, w.bonus, delta); err != nil {
				return err
			}
		}
	}
	return nil
}
