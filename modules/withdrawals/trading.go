package withdrawals

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The check "a withdrawal after a deposit with little or no trading" needs the lots a client closed since a
// deposit. The trading desk announces every closing deal (trading.deal_closed) and every change to one
// (trading.deal_changed); this room keeps what it needs of them (withdrawal_trading: client, lots, time) instead
// of reading the desk's tables. A deal of a login the CRM does not link to a client is not counted.

// Subscribe registers the module's reactions.
func (s *Service) Subscribe(h *events.Hall) {
	events.Later(h, "withdrawals.count_lots", s.countLots)
	events.Later(h, "withdrawals.recount_lots", s.recountLots)
	events.OnTx(h, "withdrawals.settle_payout", s.settlePayout)
}

// countLots records a closing deal's lots once (a redelivered event changes nothing).
func (s *Service) countLots(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e tradingdesk.DealClosed) error {
	if e.ClientID == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO withdrawal_trading (server_id, login, ticket, client_id, lots, closed_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT DO NOTHING`, e.ServerID, e.Login, e.Deal.Ticket, *e.ClientID, e.Deal.Volume, e.Deal.Time)
	return err
}

// recountLots follows a deal changed on the platform: a cancelled deal's lots no longer count; an updated or
// restored one counts as it is now (if it still closes a position). The change is written whether or not the close
// was delivered first (deliveries are not ordered): the close then finds the row and changes nothing.
func (s *Service) recountLots(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e tradingdesk.DealChanged) error {
	if e.ClientID == nil {
		return nil
	}
	d, cancelled := e.Before, true
	if e.After != nil && e.After.Closes() {
		d, cancelled = *e.After, false
	}
	_, err := tx.Exec(ctx, `INSERT INTO withdrawal_trading (server_id, login, ticket, client_id, lots, closed_at, cancelled)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (server_id, login, ticket) DO UPDATE SET lots = EXCLUDED.lots, closed_at = EXCLUDED.closed_at, cancelled = EXCLUDED.cancelled`,
		e.ServerID, e.Login, e.Before.Ticket, *e.ClientID, d.Volume, d.Time, cancelled)
	return err
}
