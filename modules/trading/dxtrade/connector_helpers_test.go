package dxtrade

import (
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading/dxtrade/dxfake"
)

// fakeConfig is a Config for a connector talking to f (package dxfake).
func fakeConfig(f *dxfake.Server) Config {
	return Config{
		BaseURL: f.URL(), Username: dxfake.User, Domain: dxfake.Domain, Password: dxfake.Password,
		BrokerCode: dxfake.BrokerCode, ClearingCode: dxfake.ClearingCode, AccountCodes: AccountCodeScheme{Prefix: "BD", Digits: 8},
		Timeout: 5 * time.Second, RetryBaseDelay: 5 * time.Millisecond,
		LeverageCategories: dxfake.Leverages(), FinancingStandard: dxfake.FinancingStandard, FinancingSwapFree: dxfake.FinancingSwapFree,
	}
}

// newTestConnector is a connector on f, closed when the test ends.
func newTestConnector(t testing.TB, f *dxfake.Server, adjust ...func(*Config)) *Connector {
	t.Helper()
	cfg := fakeConfig(f)
	for _, fn := range adjust {
		fn(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
