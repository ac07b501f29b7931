package bonuses

import (
	"context"
	"errors"
	"fmt"
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
	id      uuid.UUID
	minHold int64
}

// onDealClosed counts a closing deal toward its client's open bonuses.
func (s *Service) onDealClosed(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m events.Meta, e tradingdesk.DealClosed) error {
	if e.ClientID == nil || !e.Deal.Closes() {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id, min_hold_seconds FROM bonuses WHERE client_id = $1 AND status = 'open' AND granted_at <= $2
		ORDER BY granted_at, id FOR UPDATE`, *e.ClientID, e.Deal.Time)
	if err != nil {
		return err
	}
	var open []openBonus
	var b openBonus
	if _, err := pgx.ForEachRow(rows, []any{&b.id, &b.minHold}, func() error { open = append(open, b); return nil }); err != nil {
		return err
	}
	if len(open) == 0 {
		return nil
	}
	held, err := s.heldSeconds(ctx, t, e.DealAccount, e.Deal, open)
	if err != nil {
		return err
	}
	for _, b := range open {
		lots := counted(e.Deal, held, b.minHold)
		tag, err := tx.Exec(ctx, `INSERT INTO bonus_turnover (bonus_id, server_id, ticket, lots, held_seconds, deal_time, last_event_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, b.id, e.ServerID, e.Deal.Ticket, lots, held, e.Deal.Time, m.OccurredAt)
		if err != nil {
			return fmt.Errorf("bonuses: turnover: %w", err)
		}
		if tag.RowsAffected() == 0 || lots.IsZero() {
			continue
		}
		if err := s.addLotsTx(ctx, tx, t, b.id, lots); err != nil {
			return err
		}
	}
	return nil
}

// heldSeconds is how long the deal's position was held, asked only when a bonus's rule has a minimum hold; nil
// when unknown or not asked.
func (s *Service) heldSeconds(ctx context.Context, t tenants.Tenant, a tradingdesk.DealAccount, d tradingdesk.Deal, open []openBonus) (*int64, error) {
	need := false
	for _, b := range open {
		need = need || b.minHold > 0
	}
	if !need || s.o.Trades == nil || d.PositionID == "" {
		return nil, nil
	}
	opened, ok, err := s.o.Trades.PositionOpened(ctx, t, a.ServerID, a.Login, d.PositionID, d.Time)
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
		if err := s.closeTx(ctx, tx, id, closeRelease, engine, ""); err != nil {
			return err
		}
		return s.publishReleasedTx(ctx, tx, t, id)
	}
	return nil
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
