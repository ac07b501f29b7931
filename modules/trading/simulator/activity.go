package simulator

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// ActivityOptions shape the simulated trading of RunActivity. Chances are whole percents per tick, so the loop
// needs no floating point.
type ActivityOptions struct {
	// Seed makes the walk and the traders' choices repeatable: the same seed on the same state gives the same deals.
	Seed uint64
	// Ticks stops the loop after this many ticks; 0 runs until ctx is done.
	Ticks int
	// Interval is the pause between ticks; 0 runs them back to back (tests).
	Interval time.Duration
	// OpenPercent is the chance each tick that a funded account opens a position (default 20).
	OpenPercent int
	// ClosePercent is the chance each tick that an open position is closed (default 25).
	ClosePercent int
	// MaxLots is the largest position a simulated trader opens (default 1.00).
	MaxLots decimal.Decimal
	// MinBalance is what an account needs before it trades, in its currency (default 100).
	MinBalance decimal.Decimal
	// StopOutPercent closes all of an account's positions when equity falls below this share of margin (default 50).
	StopOutPercent int
}

func (o ActivityOptions) withDefaults() ActivityOptions {
	if o.OpenPercent == 0 {
		o.OpenPercent = 20
	}
	if o.ClosePercent == 0 {
		o.ClosePercent = 25
	}
	if !o.MaxLots.IsPositive() {
		o.MaxLots = decimal.NewFromInt(1)
	}
	if o.MinBalance.IsZero() {
		o.MinBalance = decimal.NewFromInt(100)
	}
	if o.StopOutPercent == 0 {
		o.StopOutPercent = 50
	}
	return o
}

// RunActivity makes the demo brokerage look alive: each tick prices take a random step (in whole points), and every
// funded account with trading enabled may open a position while its open positions may close, producing deals with
// volume, profit and commission. Everything goes through the same journaled operations as a real client's, so the
// activity survives a restart like any other state. It returns nil when ctx is done or Ticks have run.
func (s *Simulator) RunActivity(ctx context.Context, opts ActivityOptions) error {
	o := opts.withDefaults()
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	var ticker *time.Ticker
	if o.Interval > 0 {
		ticker = time.NewTicker(o.Interval)
		defer ticker.Stop()
	}
	for n := 0; o.Ticks == 0 || n < o.Ticks; n++ {
		if ctx.Err() != nil {
			return nil
		}
		if err := s.tick(ctx, rng, o); err != nil {
			return err
		}
		if ticker != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
		}
	}
	return nil
}

func (s *Simulator) tick(ctx context.Context, rng *rand.Rand, o ActivityOptions) error {
	const op = "activity"
	syms := symbols()
	s.mu.RLock()
	bids := make(quotes, len(syms))
	for _, sym := range syms {
		bids[sym.Name] = max(sym.MinBid, s.st.Prices[sym.Name]+rng.Int64N(2*sym.MaxStep+1)-sym.MaxStep)
	}
	logins := make([]string, 0, len(s.st.Accounts))
	for login := range s.st.Accounts {
		logins = append(logins, login)
	}
	s.mu.RUnlock()
	if err := s.setBids(op, bids); err != nil {
		return err
	}
	// Map order is random; sorting keeps the seeded choices attached to the same accounts every run.
	slices.SortFunc(logins, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return cmp.Compare(a, b)
	})
	maxSteps := int(o.MaxLots.Mul(decimal.NewFromInt(100)).IntPart())
	for _, login := range logins {
		if err := s.trade(ctx, rng, o, login, syms, maxSteps); err != nil {
			return err
		}
	}
	return nil
}

// trade is one account's turn in a tick.
func (s *Simulator) trade(ctx context.Context, rng *rand.Rand, o ActivityOptions, login string, syms []symbol, maxSteps int) error {
	const op = "activity"
	s.mu.RLock()
	a := s.st.Accounts[login]
	acc, err := s.view(op, a)
	ids := make([]int64, 0, len(a.Positions))
	for _, p := range a.Positions {
		ids = append(ids, p.ID)
	}
	enabled := a.LoginEnabled && a.TradingEnabled
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	slices.Sort(ids)

	stopOut := acc.Margin.IsPositive() &&
		acc.Equity.Mul(decimal.NewFromInt(100)).LessThan(acc.Margin.Mul(decimal.NewFromInt(int64(o.StopOutPercent))))
	for _, id := range ids {
		// Draw even on stop-out, so one account's stop-out does not shift every later account's choices.
		closeIt := rng.IntN(100) < o.ClosePercent
		if !closeIt && !stopOut {
			continue
		}
		if _, err := s.ClosePosition(ctx, login, strconv.FormatInt(id, 10)); err != nil {
			return err
		}
	}

	openIt := rng.IntN(100) < o.OpenPercent
	sym := syms[rng.IntN(len(syms))]
	side := trading.Buy
	if rng.IntN(2) == 1 {
		side = trading.Sell
	}
	lots := decimal.New(int64(1+rng.IntN(maxSteps)), -2)
	if !openIt || stopOut || !enabled || acc.Balance.LessThan(o.MinBalance) {
		return nil
	}
	_, err = s.OpenPosition(ctx, login, sym.Name, side, lots)
	if errors.Is(err, trading.ErrInsufficientFunds) {
		return nil // a small account cannot afford every size; the trader simply does not trade this tick
	}
	return err
}
