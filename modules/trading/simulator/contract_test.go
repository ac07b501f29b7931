package simulator

import (
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/tradingtest"
)

// testOptions keep password hashing cheap: the cost is a production concern, and the contract creates many accounts.
func testOptions() Options {
	return Options{PasswordIterations: 1000}
}

// openTest opens a simulator on a fresh directory and closes it when the test ends.
func openTest(t testing.TB, opts Options) (*Simulator, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, dir
}

// balanceDeals counts balance and credit deals straight from the state, never through the connector.
func (s *Simulator) balanceDeals(login string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.st.Accounts[login]
	if !ok {
		return 0
	}
	n := 0
	for _, d := range a.Deals {
		if d.Action == trading.ActionBalance || d.Action == trading.ActionCredit {
			n++
		}
	}
	return n
}

func TestSimulatorPassesConnectorContract(t *testing.T) {
	t.Parallel()
	tradingtest.Run(t, func(t *testing.T) tradingtest.Env {
		s, _ := openTest(t, testOptions())
		return tradingtest.Env{
			Conn:                  s,
			Currency:              "USD",
			StandardGroup:         "standard-usd",
			OtherGroup:            "pro-usd",
			SwapFreeGroup:         "standard-usd-swapfree",
			DropNextBalanceAnswer: s.Faults.DropNextBalanceAnswer,
			RateLimitNext:         s.Faults.RateLimitNext,
			SeedDeals: func(login string, n int, from, to time.Time) {
				if err := s.SeedDeals(login, n, from, to); err != nil {
					t.Fatalf("SeedDeals: %v", err)
				}
			},
			BalanceOps: s.balanceDeals,
		}
	})
}
