package mt5

import (
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/brokerdesk/brokerdesk/modules/trading/mt5/mt5fake"
)

// fakeConfig is a connector configuration for f (package mt5fake). Keep-alive pings are off so request counts are
// exact; retries back off by a millisecond so tests stay fast.
func fakeConfig(f *mt5fake.Server) Config {
	return Config{
		Addr:           f.Addr(),
		Login:          f.Login(),
		Password:       f.Password(),
		TLS:            f.ClientTLS(),
		RateLimit:      rate.Inf,
		RequestTimeout: 10 * time.Second,
		KeepAlive:      -1,
		RetryBackoff:   time.Millisecond,
		SwapFreeGroups: map[string]string{`real\standard`: `real\standard-sf`},
	}
}

func newTestConnector(t testing.TB, f *mt5fake.Server, edit func(*Config)) *Connector {
	t.Helper()
	cfg := fakeConfig(f)
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("mt5.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
