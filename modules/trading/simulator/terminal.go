package simulator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// This file is the client side of the simulated server: what a trader's terminal does (open and close positions,
// see quotes). Vendor platforms have this too but no connector needs it; the activity loop and tests do.

// enterTerminal is enter without the injected rate limit, which models the manager API, not the terminal.
func (s *Simulator) enterTerminal(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("simulator %s: %w", op, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return s.perr(op, trading.ErrUnavailable, "closed", "simulator is closed")
	}
	return nil
}

// maxLotsPerDeal is the largest single deal, as a server's symbol settings would cap it.
const maxLotsPerDeal = 100

// OpenPosition opens a market position for the account at the current price, charging the group's commission.
// The margin it needs must fit in the free margin left after that commission.
func (s *Simulator) OpenPosition(ctx context.Context, login, symbolName string, side trading.Side, lots decimal.Decimal) (trading.Position, error) {
	const op = "open_position"
	if err := s.enterTerminal(ctx, op); err != nil {
		return trading.Position{}, err
	}
	sym, ok := symbolByName(symbolName)
	if !ok {
		return trading.Position{}, s.perr(op, trading.ErrInvalidRequest, "bad_symbol", "symbol %q is not traded", symbolName)
	}
	if side != trading.Buy && side != trading.Sell {
		return trading.Position{}, s.perr(op, trading.ErrInvalidRequest, "bad_side", "side %q", side)
	}
	if !lots.IsPositive() || !lots.Equal(lots.Round(2)) || lots.GreaterThan(decimal.NewFromInt(maxLotsPerDeal)) {
		return trading.Position{}, s.perr(op, trading.ErrInvalidRequest, "bad_volume",
			"volume %s lots is not a multiple of 0.01 in (0, %d]", lots, maxLotsPerDeal)
	}
	a, err := s.lockedAccount(op, login)
	if err != nil {
		return trading.Position{}, err
	}
	defer s.mu.Unlock()
	if !a.LoginEnabled || !a.TradingEnabled {
		return trading.Position{}, s.perr(op, trading.ErrInvalidRequest, "trade_disabled", "trading is disabled for %s", login)
	}
	g := s.groups[a.Group]
	margin, err := positionMargin(s.st.Prices, sym, side, lots, a.Leverage, a.Currency)
	if err != nil {
		return trading.Position{}, s.perr(op, trading.ErrUnavailable, "internal", "margin: %v", err)
	}
	acc, err := s.view(op, a)
	if err != nil {
		return trading.Position{}, err
	}
	comm := commission(g, lots)
	if margin.GreaterThan(acc.FreeMargin.Add(comm)) {
		return trading.Position{}, s.perr(op, trading.ErrInsufficientFunds, "no_money",
			"margin %s and commission %s exceed free margin %s", margin, comm.Neg(), acc.FreeMargin)
	}
	now := s.now()
	pos := positionRec{
		ID: s.st.NextPosition, Symbol: sym.Name, Side: side, Volume: lots,
		OpenPrice: openPrice(s.st.Prices, sym, side), OpenTime: now,
	}
	deal := dealRec{
		Ticket: s.st.NextTicket, PositionID: pos.ID, Action: dealAction(side), Entry: trading.EntryIn,
		Symbol: sym.Name, Volume: lots, Price: pos.OpenPrice, Profit: decimal.Zero, Commission: comm,
		Swap: decimal.Zero, Time: now,
	}
	if err := s.commit(op, event{Type: evPositionOpened, Opened: &openedEv{Login: login, Position: pos, Deal: deal}}); err != nil {
		return trading.Position{}, err
	}
	return trading.Position{
		ID: strconv.FormatInt(pos.ID, 10), Login: login, Symbol: pos.Symbol, Side: side, Volume: lots,
		OpenPrice: pos.OpenPrice, Profit: decimal.Zero, Swap: decimal.Zero, OpenTime: now,
	}, nil
}

func dealAction(side trading.Side) trading.DealAction {
	if side == trading.Buy {
		return trading.ActionBuy
	}
	return trading.ActionSell
}

func opposite(side trading.Side) trading.Side {
	if side == trading.Buy {
		return trading.Sell
	}
	return trading.Buy
}

// ClosePosition closes a position at the current price and returns the closing deal, whose Profit, Commission
// and Swap together are what the balance moved by. Closing is allowed even with trading disabled (close-only), so
// an operator can wind an account down.
func (s *Simulator) ClosePosition(ctx context.Context, login, positionID string) (trading.Deal, error) {
	const op = "close_position"
	if err := s.enterTerminal(ctx, op); err != nil {
		return trading.Deal{}, err
	}
	a, err := s.lockedAccount(op, login)
	if err != nil {
		return trading.Deal{}, err
	}
	defer s.mu.Unlock()
	d, err := s.closeLocked(op, a, positionID)
	if err != nil {
		return trading.Deal{}, err
	}
	return toDeal(login, d), nil
}

func (s *Simulator) closeLocked(op string, a *accountState, positionID string) (dealRec, error) {
	id, _ := strconv.ParseInt(positionID, 10, 64)
	i := slices.IndexFunc(a.Positions, func(p positionRec) bool { return p.ID == id })
	if i < 0 {
		return dealRec{}, s.perr(op, trading.ErrNotFound, "no_position", "position %q of %s is not open", positionID, a.Login)
	}
	p := a.Positions[i]
	sym, ok := symbolByName(p.Symbol)
	if !ok {
		return dealRec{}, s.perr(op, trading.ErrUnavailable, "internal", "position %d has unknown symbol %q", p.ID, p.Symbol)
	}
	g := s.groups[a.Group]
	price := closePrice(s.st.Prices, sym, p.Side)
	profit, err := positionProfit(s.st.Prices, sym, p.Side, p.Volume, p.OpenPrice, price, a.Currency)
	if err != nil {
		return dealRec{}, s.perr(op, trading.ErrUnavailable, "internal", "profit: %v", err)
	}
	now := s.now()
	deal := dealRec{
		Ticket: s.st.NextTicket, PositionID: p.ID, Action: dealAction(opposite(p.Side)), Entry: trading.EntryOut,
		Symbol: p.Symbol, Volume: p.Volume, Price: price, Profit: profit, Commission: commission(g, p.Volume),
		Swap: swapCharge(g, p.Volume, p.OpenTime, now), Time: now,
	}
	if err := s.commit(op, event{Type: evPositionClosed, Closed: &closedEv{Login: a.Login, PositionID: p.ID, Deal: deal}}); err != nil {
		return dealRec{}, err
	}
	return deal, nil
}

// Quote is a symbol's current bid and ask.
func (s *Simulator) Quote(symbolName string) (bid, ask decimal.Decimal, err error) {
	sym, ok := symbolByName(symbolName)
	if !ok {
		return decimal.Zero, decimal.Zero, fmt.Errorf("simulator: symbol %q is not traded", symbolName)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.Prices.bid(sym), s.st.Prices.ask(sym), nil
}

// Symbols lists the traded symbols.
func (s *Simulator) Symbols() []string {
	var out []string
	for _, sym := range symbols() {
		out = append(out, sym.Name)
	}
	return out
}

// setBids moves prices (in points); the activity loop's random walk and tests that need a given price use it.
func (s *Simulator) setBids(op string, bids quotes) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.perr(op, trading.ErrUnavailable, "closed", "simulator is closed")
	}
	return s.commit(op, event{Type: evPrices, Prices: bids})
}

// SeedDeals records n closed trade deals for login directly in its history, deal i at from + i*(to-from)/n, for
// tests and for backfilling a demo's history. Seeded deals carry volume but no profit, commission or swap, so the
// balance stays the sum of its deals.
func (s *Simulator) SeedDeals(login string, n int, from, to time.Time) error {
	const op = "seed_deals"
	if n < 1 || !to.After(from) {
		return errors.New("simulator: SeedDeals needs n >= 1 and to after from")
	}
	if _, err := s.lockedAccount(op, login); err != nil {
		return err
	}
	defer s.mu.Unlock()
	span := to.Sub(from)
	syms := symbols()
	deals := make([]dealRec, n)
	for i := range n {
		// (span/n)*i + (span%n)*i/n is span*i/n without overflowing for long spans.
		at := from.Add(span/time.Duration(n)*time.Duration(i) + span%time.Duration(n)*time.Duration(i)/time.Duration(n))
		sym := syms[i%len(syms)]
		side := trading.Buy
		if i%2 == 1 {
			side = trading.Sell
		}
		deals[i] = dealRec{
			Ticket: s.st.NextTicket + int64(i), Action: dealAction(side), Entry: trading.EntryOut, Symbol: sym.Name,
			Volume: decimal.New(int64(10+10*(i%5)), -2), Price: s.st.Prices.bid(sym),
			Profit: decimal.Zero, Commission: decimal.Zero, Swap: decimal.Zero, Time: at.UTC(), Comment: "seeded",
		}
	}
	return s.commit(op, event{Type: evDealsSeeded, Seeded: &seededEv{Login: login, Deals: deals}})
}

// changeDeal journals ev, a manager's change of login's trade deal ticket (Faults.AmendDeal, Faults.DeleteDeal).
func (s *Simulator) changeDeal(op, login string, ticket int64, ev event) error {
	if _, err := s.lockedAccount(op, login); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, _, err := s.st.tradeDeal(login, ticket); err != nil {
		return s.perr(op, trading.ErrNotFound, "no_deal", "%v", err)
	}
	return s.commit(op, ev)
}
