package main

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// partnerTrades answers the commission engine's questions through the trading desk's service (partners.Trades):
// an account's type, and when a position opened (for plans with a minimum hold). The bonus engine asks the same
// PositionOpened for its rules' minimum hold (bonuses.Trades).
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

// positionPages bounds how far back the opening deal is looked for (newest first, 500 a page).
const positionPages = 20

func (p partnerTrades) PositionOpened(ctx context.Context, t tenants.Tenant, server uuid.UUID, login, position string, before time.Time) (time.Time, bool, error) {
	to := before.Add(time.Microsecond)
	acct := tradingdesk.Account{ServerID: server, Login: login}
	var cursor *tradingdesk.DealCursor
	var opened time.Time
	found := false
	for range positionPages {
		page, err := p.a.tradingdesk.AccountDeals(ctx, t, acct, tradingdesk.DealFilter{To: &to, Kind: tradingdesk.DealKindTrades}, cursor, 500)
		if err != nil {
			return time.Time{}, false, err
		}
		for _, d := range page {
			if d.PositionID == position && (d.Entry == trading.EntryIn || d.Entry == trading.EntryInOut) && d.Ticket != "" {
				opened, found = d.Time, true // newest first: the last one found is the position's first
			}
		}
		if len(page) < 500 {
			break
		}
		last := page[len(page)-1]
		cursor = &tradingdesk.DealCursor{Time: last.Time, Ticket: last.Ticket}
	}
	return opened, found, nil
}

// partnerDeposits answers the partner area's referred clients' deposits from the payments room's service
// (partners.Deposits): one read for the whole list.
type partnerDeposits struct{ a *app }

func (p partnerDeposits) Deposits(ctx context.Context, t tenants.Tenant, clientIDs []uuid.UUID) (map[uuid.UUID]map[string]int64, error) {
	return p.a.payments.DepositTotals(ctx, t, clientIDs)
}
