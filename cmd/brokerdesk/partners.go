package main

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// partnerTrades answers the commission engine's questions through the trading desk's service (partners.Trades):
// an account's type, and when positions opened (for plans with a minimum hold). The bonus engine asks the same
// PositionsOpened for its rules' minimum hold (bonuses.Trades).
type partnerTrades struct{ a *app }

func (p partnerTrades) AccountType(ctx context.Context, t tenants.Tenant, id uuid.UUID) (string, error) {
	acct, err := p.a.tradingdesk.Account(ctx, t, id)
	if err != nil {
		return "", err
	}
	types, err := p.a.tradingdesk.AccountTypes(ctx, t)
	if err != nil {
		return "", err
	}
	for _, at := range types {
		if at.ID == acct.TypeID {
			return at.Slug, nil
		}
	}
	return "", nil
}

// PositionsOpened asks the trading desk when the positions opened (one read for a batch of deals).
func (p partnerTrades) PositionsOpened(ctx context.Context, t tenants.Tenant, asks []tradingdesk.PositionAsk) ([]time.Time, error) {
	return p.a.tradingdesk.PositionsOpened(ctx, t, asks)
}

// partnerDeposits answers the partner area's referred clients' deposits from the payments room's service
// (partners.Deposits): one read for the whole list.
type partnerDeposits struct{ a *app }

func (p partnerDeposits) Deposits(ctx context.Context, t tenants.Tenant, clientIDs []uuid.UUID) (map[uuid.UUID]map[string]int64, error) {
	return p.a.payments.DepositTotals(ctx, t, clientIDs)
}
