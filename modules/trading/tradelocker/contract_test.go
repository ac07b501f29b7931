package tradelocker

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/brokerdesk/brokerdesk/infra/logging/logtest"
	"github.com/brokerdesk/brokerdesk/modules/trading/tradelocker/tlfake"
	"github.com/brokerdesk/brokerdesk/modules/trading/tradingtest"
)

// testConfig is a connector config pointed at f with test-speed retries. Rate limiting stays on (generous) so the
// limiter's code path runs in every test.
func testConfig(f *tlfake.Server) Config {
	return Config{
		BaseURL:      f.URL(),
		APIKey:       tlfake.APIKey,
		Environment:  Demo,
		HTTPClient:   &http.Client{Timeout: 20 * time.Second},
		RateLimit:    rate.Limit(1000),
		RateBurst:    100,
		RetryBackoff: time.Millisecond,
		Groups:       testGroups(),
	}
}

// testGroups is the catalogue that describes the fake brand's groups (tlfake.Groups) to the connector.
func testGroups() []Group {
	var gs []Group
	for _, g := range tlfake.Groups {
		gs = append(gs, Group{ID: g.ID, AccountType: g.Family(), Leverage: g.Leverage, SwapFree: g.SwapFree})
	}
	return gs
}

func newTestConnector(t testing.TB, f *tlfake.Server, edit func(*Config)) *Connector {
	t.Helper()
	cfg := testConfig(f)
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestContract(t *testing.T) {
	t.Parallel()
	tradingtest.Run(t, func(t *testing.T) tradingtest.Env {
		f := tlfake.New(t)
		logs := &logtest.Buffer{}
		conn := newTestConnector(t, f, func(c *Config) {
			c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		t.Cleanup(func() {
			// Whatever a case did, the key and the passwords it used must not be in the logs.
			for _, secret := range []string{tlfake.APIKey, "Tr4de!Desk", "N3w!Main", "N3w!Invest"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("logs contain the secret %q", secret)
				}
			}
		})
		return tradingtest.Env{
			Conn:                  conn,
			Currency:              "USD",
			StandardGroup:         "1001",
			OtherGroup:            "2001",
			SwapFreeGroup:         "1002",
			DropNextBalanceAnswer: func() { f.DropNextMoneyAnswers(1) },
			RateLimitNext:         f.RateLimitNext,
			SeedDeals:             f.SeedDeals,
			BalanceOps:            f.BalanceOps,
		}
	})
}
