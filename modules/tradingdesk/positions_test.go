package tradingdesk_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// When positions opened, from the deals deal sync stored: a closed position's first opening deal, an open one's, an
// unknown position and an opening after the asked time answer the zero time; the answers keep the asks' order, and
// the engines' Openings asks once for a whole batch.
func TestPositionsOpenedAreTheirFirstOpeningDealsAsSynced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, acc := b.walletTrader(t, 0)
	if err := b.sim.Faults.BalanceByHand(acc.Login, decimal.RequireFromString("10000"), "funds to trade"); err != nil {
		t.Fatal(err)
	}
	closedPos, err := b.sim.OpenPosition(ctx, acc.Login, "EURUSD", trading.Buy, decimal.RequireFromString("1"))
	if err != nil {
		t.Fatal(err)
	}
	closing, err := b.sim.ClosePosition(ctx, acc.Login, closedPos.ID)
	if err != nil {
		t.Fatal(err)
	}
	openPos, err := b.sim.OpenPosition(ctx, acc.Login, "XAUUSD", trading.Sell, decimal.RequireFromString("0.5"))
	if err != nil {
		t.Fatal(err)
	}
	b.synced(t, acc.ServerID, acc.Login)
	var openedClosed, openedOpen time.Time
	deals, err := b.svc.AccountDeals(ctx, b.ten, acc, tradingdesk.DealFilter{Kind: tradingdesk.DealKindTrades}, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deals {
		if d.Entry == trading.EntryIn && d.PositionID == closedPos.ID {
			openedClosed = d.Time
		}
		if d.Entry == trading.EntryIn && d.PositionID == openPos.ID {
			openedOpen = d.Time
		}
	}
	if openedClosed.IsZero() || openedOpen.IsZero() {
		t.Fatalf("the opening deals were not synced: %+v", deals)
	}
	far := time.Now().Add(time.Hour)
	asks := []tradingdesk.PositionAsk{
		{Server: acc.ServerID, Login: acc.Login, Position: closedPos.ID, Before: closing.Time},
		{Server: acc.ServerID, Login: acc.Login, Position: "no-such-position", Before: far},
		{Server: acc.ServerID, Login: acc.Login, Position: openPos.ID, Before: far},
		{Server: acc.ServerID, Login: acc.Login, Position: openPos.ID, Before: openedOpen.Add(-time.Second)},
		{Server: uuid.New(), Login: acc.Login, Position: closedPos.ID, Before: far},
	}
	got, err := b.svc.PositionsOpened(ctx, b.ten, asks)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{openedClosed, {}, openedOpen, {}, {}}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("ask %d (%s): %v, want %v", i, asks[i].Position, got[i], want[i])
		}
	}

	calls := 0
	o := tradingdesk.NewOpenings(func(ctx context.Context, asks []tradingdesk.PositionAsk) ([]time.Time, error) {
		calls++
		return b.svc.PositionsOpened(ctx, b.ten, asks)
	}, tradingdesk.DealClosed{DealAccount: tradingdesk.DealAccount{ServerID: acc.ServerID, Login: acc.Login},
		Deal: tradingdesk.Deal{Ticket: closing.Ticket, PositionID: closedPos.ID, Time: closing.Time}})
	a := tradingdesk.DealAccount{ServerID: acc.ServerID, Login: acc.Login}
	for range 2 {
		if at, ok, err := o.Opened(ctx, a, tradingdesk.Deal{PositionID: closedPos.ID, Time: closing.Time}); err != nil || !ok || !at.Equal(openedClosed) {
			t.Errorf("Openings: %v %t %v", at, ok, err)
		}
	}
	if at, ok, err := o.Opened(ctx, a, tradingdesk.Deal{PositionID: "no-such-position", Time: far}); err != nil || ok || !at.IsZero() {
		t.Errorf("an unknown position: %v %t %v", at, ok, err)
	}
	if calls != 2 {
		t.Errorf("Openings asked %d times, want 2 (the batch once, a deal outside it once)", calls)
	}
}
