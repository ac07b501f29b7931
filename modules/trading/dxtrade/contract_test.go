package dxtrade

import (
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/trading/dxtrade/dxfake"
	"github.com/brokerdesk/brokerdesk/modules/trading/tradingtest"
)

// TestContract runs the connector contract against the fake DXtrade, one fresh server and connector per case.
func TestContract(t *testing.T) {
	t.Parallel()
	tradingtest.Run(t, func(t *testing.T) tradingtest.Env {
		f := dxfake.New(t)
		return tradingtest.Env{
			Conn:                  newTestConnector(t, f),
			Currency:              "USD",
			StandardGroup:         "Standard",
			OtherGroup:            "Pro",
			SwapFreeGroup:         "Standard", // swap-free is a Financing category; the group does not change
			DropNextBalanceAnswer: f.DropNextMoneyAnswer,
			RateLimitNext:         f.RateLimitNext,
			SeedDeals:             f.SeedDeals,
			BalanceOps:            f.BalanceOps,
		}
	})
}
