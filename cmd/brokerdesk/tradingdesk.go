package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/dxtrade"
	"github.com/brokerdesk/brokerdesk/modules/trading/mt5"
	"github.com/brokerdesk/brokerdesk/modules/trading/tradelocker"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// tradingDialer builds a trading server's connector from the desk's settings and credentials: the one place that
// knows every connector package. sim is the process's built-in simulator (`make run` opens it); a simulator
// server dialled by a process without one is unavailable, which its check shows.
type tradingDialer struct {
	sim trading.Connector
	log *slog.Logger
}

func (d tradingDialer) Dial(_ context.Context, s tradingdesk.Server, c tradingdesk.Credentials) (trading.Connector, error) {
	cfg := s.Config
	log := d.log.With("tenant_server", s.Slug)
	switch s.Platform {
	case trading.PlatformMT5:
		login, err := strconv.ParseUint(cfg.Login, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("mt5: manager login %q is not a number", cfg.Login)
		}
		shift, err := tradingdesk.ZoneShift(cfg.TimeZoneShift)
		if err != nil {
			return nil, fmt.Errorf("mt5: time zone shift %q: %w", cfg.TimeZoneShift, err)
		}
		return mt5.New(mt5.Config{Addr: cfg.Address, Login: login, Password: c.Password, TimeZone: cfg.TimeZone, TimeZoneShift: shift,
			SwapFreeGroups: s.SwapFreeTwins, Logger: log})
	case trading.PlatformTradeLocker:
		env := tradelocker.Demo
		if s.Live {
			env = tradelocker.Live
		}
		groups := make([]tradelocker.Group, len(cfg.Groups))
		for i, g := range cfg.Groups {
			groups[i] = tradelocker.Group{ID: g.ID, AccountType: g.AccountType, Leverage: g.Leverage, SwapFree: g.SwapFree}
		}
		return tradelocker.New(tradelocker.Config{BaseURL: cfg.Address, APIKey: c.APIKey, Environment: env, Groups: groups, Logger: log})
	case trading.PlatformDXtrade:
		cats := map[int]string{}
		for lev, name := range cfg.LeverageCategories {
			n, err := strconv.Atoi(lev)
			if err != nil {
				return nil, fmt.Errorf("dxtrade: leverage %q is not a number", lev)
			}
			cats[n] = name
		}
		return dxtrade.New(dxtrade.Config{BaseURL: cfg.Address, Username: cfg.Login, Domain: cfg.Domain, Password: c.Password,
			BrokerCode: cfg.BrokerCode, ClearingCode: cfg.ClearingCode, FinancingStandard: cfg.FinancingStandard,
			FinancingSwapFree: cfg.FinancingSwapFree, LeverageCategories: cats, Logger: log})
	case trading.PlatformSimulator:
		if d.sim == nil {
			return nil, &trading.PlatformError{Kind: trading.ErrUnavailable, Platform: trading.PlatformSimulator, Op: "dial",
				Message: "the built-in simulator runs only in `brokerdesk dev` (make run)"}
		}
		return sharedSimulator{d.sim}, nil
	}
	return nil, fmt.Errorf("no connector for platform %q", s.Platform)
}

// sharedSimulator is the process's simulator as one server's session: the desk closes sessions it drops, and the
// simulator stays open for the others (dev closes it at exit).
type sharedSimulator struct{ trading.Connector }

func (sharedSimulator) Close() error { return nil }
