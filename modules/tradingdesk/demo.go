package tradingdesk

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

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
	// The desk's rules: swap-free waits for compliance (the default), and so does a leverage above 1:200, so a
	// newcomer sees both an instant change and an approval.
	if _, err := tx.Exec(ctx, `INSERT INTO trading_desk_settings (id, leverage_approval_above, swap_free_approval) VALUES (true, $1, true)
		ON CONFLICT (id) DO NOTHING`, DemoLeverageApprovalAbove); err != nil {
		return fmt.Errorf("tradingdesk: demo desk rules: %w", err)
	}
	return nil
}

// DemoLeverageApprovalAbove is the demo brokerage's level above which a leverage change waits for approval.
const DemoLeverageApprovalAbove = 200

// demo links the simulator's funded accounts (trading.DemoAccounts, opened by `make run` before the app) to the
// demo clients of the same names, as Standard USD accounts on the demo trading server, so no account exists that
// only the simulator knows. Balance and equity are read from the platform when it answers. It runs at every start
// and adds only what is missing. Linking records the opening balance acknowledgement (opening_balance_at): the
// simulator funded the accounts before the desk knew them, and that money is theirs, not drift. Then it leaves
// drift waiting (demoDrift).
func (s *Service) demo(ctx context.Context, t tenants.Tenant) error {
	var srv, typ uuid.UUID
	if err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT a.server_id, a.id FROM account_types a JOIN trading_servers s ON s.id = a.server_id
			WHERE a.slug = 'standard' AND s.slug = $1`, DemoServer).Scan(&srv, &typ)
	}); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the brokerage's offer was changed: nothing to link to
		}
		return err
	}
	tg, err := s.target(ctx, t, srv)
	if err != nil {
		return err
	}
	usd := money.MustLookup("USD")
	for _, da := range trading.DemoAccounts {
		list, err := s.o.Clients.List(ctx, t, clients.Viewer{}, clients.Filter{Query: clients.DemoEmail(da.FirstName, da.LastName)}, nil, 1)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			continue
		}
		var bal, eq *int64
		_ = s.sessions.Use(ctx, tg, false, func(c trading.Connector) error {
			acc, err := c.Account(ctx, da.Login)
			if err == nil {
				b, e := toMinor(acc.Balance, usd), toMinor(acc.Equity, usd)
				bal, eq = &b, &e
			}
			return err
		})
		if err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO trading_accounts (id, client_id, server_id, account_type_id, login, currency, leverage, group_name,
				balance, equity, state_at, opening_balance_at)
				VALUES ($1, $2, $3, $4, $5, 'USD', 100, 'standard-usd', $6, $7, CASE WHEN $6::bigint IS NOT NULL THEN now() END, now())
				ON CONFLICT (server_id, login) DO UPDATE SET balance = coalesce(excluded.balance, trading_accounts.balance),
					equity = coalesce(excluded.equity, trading_accounts.equity), state_at = coalesce(excluded.state_at, trading_accounts.state_at)`,
				uuid.New(), list[0].ID, srv, typ, da.Login, bal, eq)
			return err
		}); err != nil {
			return fmt.Errorf("tradingdesk demo: link account %s: %w", da.Login, err)
		}
	}
	s.demoDrift(ctx, t, tg)
	return nil
}

// Demo drift: what a dealer did on the platform behind the CRM's back, so the drift page has something at start.
const (
	demoLeverageLogin = "500003" // its leverage set to 1:500 at every start: healed by the check
	demoBalanceLogin  = "500004" // a deposit by hand, once: money drift for finance
)

// demoDrift changes two demo accounts on the platform behind the CRM's back (a leverage at every start, a deposit
// by hand once: its operation id is fixed), syncs the demo accounts' deals and checks the servers now: the
// leverage is healed at once, and the deposit waits on the drift page for finance. A failure leaves the demo as it
// is and is logged: the periodic check finds the drift later.
func (s *Service) demoDrift(ctx context.Context, t tenants.Tenant, tg Target) {
	err := s.sessions.Use(ctx, tg, false, func(c trading.Connector) error {
		if err := c.SetLeverage(ctx, demoLeverageLogin, 500); err != nil {
			return err
		}
		_, err := c.BalanceOperation(ctx, trading.BalanceOp{Login: demoBalanceLogin, Kind: trading.Deposit, Amount: decimal.RequireFromString("250.00"),
			OperationID: "demo-drift-" + demoBalanceLogin, Comment: "dealer compensation (by hand)"})
		return err
	})
	for _, da := range trading.DemoAccounts {
		if err == nil {
			_, err = s.SyncAccount(ctx, t, tg.Server.ID, da.Login)
		}
	}
	if err == nil {
		err = s.CheckDriftAll(ctx, t) // the demo server and the practice server, so the page has both summaries
	}
	if err != nil && !errors.Is(err, ErrDriftRunning) {
		s.o.Log.WarnContext(tenants.WithTenant(ctx, t), "demo drift not made", "error", err)
	}
}
