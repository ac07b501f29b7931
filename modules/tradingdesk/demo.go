package tradingdesk

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The demo brokerage's desk: the built-in simulator (modules/trading/simulator, opened by `make run`) configured
// twice, as the brokerage's live server and as its practice (demo) server, because live and demo accounts live on
// different servers at every real brokerage; and the offer on them, in the simulator's default groups.
const (
	DemoServer         = "demo-live"
	DemoPracticeServer = "demo-practice"
)

// demoSeeder fills the demo brokerage in its provisioning transaction, through the same save path as the API.
type demoSeeder struct{ s *Service }

func (d demoSeeder) Seed(ctx context.Context, tx pgx.Tx, _ tenants.Tenant) error {
	actor := systemActor
	for _, in := range []ServerInput{
		{Slug: DemoServer, Name: "Demo trading server", Platform: trading.PlatformSimulator, Live: true, Enabled: true},
		{Slug: DemoPracticeServer, Name: "Demo practice server", Platform: trading.PlatformSimulator, Live: false, Enabled: true},
	} {
		if _, err := d.s.saveServerTx(ctx, tx, actor, in, true); err != nil {
			return fmt.Errorf("tradingdesk: demo server %s: %w", in.Slug, err)
		}
	}
	usd, eur := money.MustLookup("USD"), money.MustLookup("EUR")
	minor := func(s string, c money.Currency) int64 {
		v, err := money.Parse(s, c)
		if err != nil {
			panic(err) // constants below
		}
		return v
	}
	for _, in := range []AccountTypeInput{
		{Slug: "standard", Name: "Standard", Server: DemoServer, Enabled: true, Leverages: []int{30, 50, 100, 200, 500},
			Groups:          map[string]GroupPair{"USD": {"standard-usd", "standard-usd-swapfree"}, "EUR": {"standard-eur", "standard-eur-swapfree"}},
			MinFirstDeposit: map[string]int64{"USD": minor("100.00", usd), "EUR": minor("100.00", eur)}},
		{Slug: "raw", Name: "Raw", Server: DemoServer, Enabled: true, Leverages: []int{50, 100, 200}, Tiers: []string{"pro", "vip"},
			Groups:          map[string]GroupPair{"USD": {"pro-usd", "pro-usd-swapfree"}},
			MinFirstDeposit: map[string]int64{"USD": minor("500.00", usd)}},
		// Opened straight in the swap-free twins: no swaps from the first trade.
		{Slug: "islamic", Name: "Swap-free Islamic", Server: DemoServer, Enabled: true, Leverages: []int{50, 100, 200},
			Groups:          map[string]GroupPair{"USD": {Group: "standard-usd-swapfree"}, "EUR": {Group: "standard-eur-swapfree"}},
			MinFirstDeposit: map[string]int64{"USD": minor("100.00", usd), "EUR": minor("100.00", eur)}},
		{Slug: "demo", Name: "Demo", Server: DemoPracticeServer, Enabled: true, Leverages: []int{50, 100, 200, 500},
			Groups: map[string]GroupPair{"USD": {"standard-usd", "standard-usd-swapfree"}, "EUR": {"standard-eur", "standard-eur-swapfree"}}},
	} {
		if _, err := saveAccountTypeTx(ctx, tx, d.s.o.Audit, actor, in, clients.DemoSettings().Tiers, true); err != nil {
			return fmt.Errorf("tradingdesk: demo account type %s: %w", in.Slug, err)
		}
	}
	return nil
}
