package trading_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/simulator"
)

func TestDemoAccountsAreOpenedAndFundedOnceHoweverOftenTheDemoStarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	for run := 0; run < 2; run++ { // two `make run`s on the same data
		sim, err := simulator.Open(dir, simulator.Options{PasswordIterations: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if err := trading.OpenDemoAccounts(ctx, sim, "standard-usd", "USD"); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		for _, d := range trading.DemoAccounts {
			acc, err := sim.Account(ctx, d.Login)
			if err != nil {
				t.Fatal(err)
			}
			if !acc.Balance.Equal(decimal.NewFromInt(10_000)) || acc.Group != "standard-usd" {
				t.Fatalf("run %d: account %s has balance %s in %s, want 10000 in standard-usd", run+1, d.Login, acc.Balance, acc.Group)
			}
		}
		if err := sim.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
