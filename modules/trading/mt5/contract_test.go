package mt5

import (
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading/mt5/mt5fake"
	"github.com/brokerdesk/brokerdesk/modules/trading/tradingtest"
)

// TestConnectorContract runs the platform-neutral connector contract against the fake Web API, on a server two
// hours ahead of UTC so that every time conversion is exercised.
func TestConnectorContract(t *testing.T) {
	t.Parallel()
	tradingtest.Run(t, func(t *testing.T) tradingtest.Env {
		f := mt5fake.New(t, mt5fake.Options{Offset: 2 * time.Hour})
		conn := newTestConnector(t, f, nil)
		return tradingtest.Env{
			Conn:                  conn,
			Currency:              "USD",
			StandardGroup:         `real\standard`,
			OtherGroup:            `real\pro`,
			SwapFreeGroup:         `real\standard-sf`,
			DropNextBalanceAnswer: f.DropNextBalanceAnswer,
			RateLimitNext:         f.RateLimitNext,
			SeedDeals:             f.SeedDeals,
			BalanceOps:            f.BalanceOps,
		}
	})
}
