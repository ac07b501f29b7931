package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/simulator"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// tradingForMatrix gives ten a trading server and an account type on it (the route matrix's objects).
func tradingForMatrix(t testing.TB, a *app, ten tenants.Tenant) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.tradingdesk.CreateServer(ctx, ten, audit.System("test"), tradingdesk.ServerInput{Slug: "matrix-sim", Name: "Matrix sim",
		Platform: trading.PlatformSimulator, Live: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tradingdesk.CreateAccountType(ctx, ten, audit.System("test"), tradingdesk.AccountTypeInput{Slug: "matrix-standard",
		Name: "Matrix standard", Server: "matrix-sim", Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "standard-usd"}},
		Leverages: []int{100}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	// A client's account, a failed request, a failed transfer, a pending credit operation and an open drift item, so the
	// accounts', transfers' and credits' routes are tried with ids that exist.
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO trading_accounts (id, client_id, server_id, account_type_id, login, currency, leverage, group_name)
				SELECT gen_random_uuid(), (SELECT id FROM clients ORDER BY id LIMIT 1), server_id, id, '700001', 'USD', 100, 'standard-usd'
				FROM account_types WHERE slug = 'matrix-standard';
			INSERT INTO trading_requests (id, kind, client_id, server_id, account_type_id, currency, leverage, group_name, status, failure, created_by)
				SELECT gen_random_uuid(), 'open_account', (SELECT id FROM clients ORDER BY id LIMIT 1), server_id, id, 'USD', 100, 'standard-usd',
					'failed', 'matrix', 'test' FROM account_types WHERE slug = 'matrix-standard';
			INSERT INTO trading_transfers (id, client_id, account_id, direction, amount, currency, status, failure, created_by)
				SELECT gen_random_uuid(), client_id, id, 'to_wallet', 1000, 'USD', 'failed', 'matrix', 'test' FROM trading_accounts WHERE login = '700001';
			INSERT INTO trading_credits (id, key, client_id, account_id, kind, amount, currency, status, failure, created_by)
				SELECT gen_random_uuid(), 'matrix', client_id, id, 'credit_in', 1000, 'USD', 'pending', 'matrix', 'test' FROM trading_accounts WHERE login = '700001';
			INSERT INTO trading_drift_items (id, account_id, server_id, kind, crm_value, platform_value, difference, owner, first_seen_at, last_seen_at)
				SELECT gen_random_uuid(), id, server_id, 'balance', '0.00 USD', '10.00 USD', 1000, 'finance', now(), now()
				FROM trading_accounts WHERE login = '700001'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// startDesk starts the server (with extraEnv) and a worker over a simulator of the test's own, which the
// process's simulator servers reach; ctx lives until the test ends.
func startDesk(t testing.TB, extraEnv map[string]string) (*app, string, *simulator.Simulator, context.Context) {
	t.Helper()
	sim, err := simulator.Open(t.TempDir(), simulator.Options{PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	env := map[string]string{"BD_REDIS_URL": localsvc.RedisDB(t)}
	maps.Copy(env, extraEnv)
	a, base, _ := startServerWiring(t, env, wiring{simulator: sim})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := a.startWorker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); w.Shutdown() })
	return a, base, sim, ctx
}

// The desk end to end, as an admin works it: a simulator server and an MT5 server added through the API (the
// password answered only as "set"), a check asked for (202) and answered by the worker through the process's
// simulator, an account type with a money minimum, the pages with the check button, and the read-only roles.
func TestTradingServersThroughTheAPIThePagesAndTheWorker(t *testing.T) {
	t.Parallel()
	a, base, _, _ := startDesk(t, nil)
	ten, _ := demoTenantNamed(t, a, "Desk FX")
	host, tok := hostOf(ten), staffLogin(t, base, ten, "admin").AccessToken

	r := request(t, base, host, "POST", "/api/v1/trading/servers", tok, tradingdesk.ServerCreateBody{Slug: "sim", Platform: "simulator", Live: true,
		ServerBody: tradingdesk.ServerBody{Name: "Simulator", Enabled: true}})
	if r.status != 201 || !strings.Contains(r.body, `"status":"unknown"`) {
		t.Fatalf("add the simulator: %d %s", r.status, r.body)
	}
	const pw = "Mgr-pa55word-api-test"
	r = request(t, base, host, "POST", "/api/v1/trading/servers", tok, tradingdesk.ServerCreateBody{Slug: "mt5-live", Platform: "mt5", Live: true,
		ServerBody: tradingdesk.ServerBody{Name: "MT5 Live", Enabled: false, Config: tradingdesk.Config{Address: "127.0.0.1:9", Login: "1001", TimeZone: "Europe/Nicosia"},
			Credentials: &tradingdesk.CredentialsBody{Password: pw}}})
	if r.status != 201 || strings.Contains(r.body, pw) || !strings.Contains(r.body, `"credentials":"set"`) {
		t.Fatalf("add MT5: %d %s", r.status, r.body)
	}
	r = request(t, base, host, "POST", "/api/v1/trading/servers", tok, map[string]any{"slug": "mt5-bad", "platform": "mt5", "live": true,
		"name": "Bad", "enabled": true, "config": map[string]any{"address": "mt5.example", "time_zone": "Mars/Olympus"}})
	for _, f := range []string{"config.address", "config.login", "config.time_zone", "credentials.password"} {
		if r.status != 422 || !strings.Contains(r.body, `"field":"`+f+`"`) {
			t.Errorf("a bad MT5 server: %d, want 422 naming %s: %s", r.status, f, r.body)
		}
	}
	if r = request(t, base, host, "POST", "/api/v1/trading/servers/sim/check", tok, nil); r.status != 202 {
		t.Fatalf("check: %d %s", r.status, r.body)
	}
	var got tradingdesk.ServerResponse
	for deadline := time.Now().Add(30 * time.Second); ; {
		r = request(t, base, host, "GET", "/api/v1/trading/servers/sim", tok, nil)
		if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 200 {
			t.Fatalf("read the server: %d %s", r.status, r.body)
		}
		if got.Check.Status == tradingdesk.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not answer the check: %s", r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.Check.Capabilities == nil || got.Check.Capabilities.MaxLeverage != 500 || got.Check.CheckedAt == nil {
		t.Fatalf("the check's answer: %s", r.body)
	}

	r = request(t, base, host, "POST", "/api/v1/trading/account-types", tok, tradingdesk.AccountTypeCreateBody{Slug: "standard",
		AccountTypeBody: tradingdesk.AccountTypeBody{Name: "Standard", Server: "sim", Leverages: []int{100, 500}, Enabled: true,
			Groups:          map[string]tradingdesk.GroupPair{"USD": {Group: "standard-usd", SwapFreeGroup: "standard-usd-swapfree"}},
			MinFirstDeposit: map[string]string{"USD": "100.00"}, Tiers: []string{}, Countries: []string{"DE"}}})
	if r.status != 201 || !strings.Contains(r.body, `"min_first_deposit":{"USD":"100.00"}`) || !strings.Contains(r.body, `"live":true`) {
		t.Fatalf("add an account type: %d %s", r.status, r.body)
	}
	r = request(t, base, host, "POST", "/api/v1/trading/account-types", tok, map[string]any{"slug": "raw", "name": "Raw", "server": "sim",
		"groups": map[string]any{"USD": map[string]any{"group": "pro-usd"}}, "leverages": []int{0, 1000}, "min_first_deposit": map[string]string{"USD": "1.001"},
		"tiers": []string{}, "countries": []string{}, "enabled": true})
	if r.status != 422 || !strings.Contains(r.body, `"field":"min_first_deposit.USD"`) {
		t.Fatalf("a bad minimum: %d %s", r.status, r.body)
	}

	// The pages: the list with the status, the server's page with its answer and the button, the button itself.
	pc := newPageClient(t, base, ten)
	pc.login("/backoffice", demoEmail(ten, "admin"), identity.DemoPassword)
	list := pc.get("/backoffice/trading/servers")
	if list.status != 200 || !strings.Contains(list.body, "Simulator") || !strings.Contains(list.body, "Up") || strings.Contains(list.body, pw) {
		t.Fatalf("servers page: %d %.400s", list.status, list.body)
	}
	page := pc.get("/backoffice/trading/servers/mt5-live")
	if page.status != 200 || !strings.Contains(page.body, "Check the connection now") || !strings.Contains(page.body, `id="credentials-set"`) ||
		strings.Contains(page.body, pw) {
		t.Fatalf("server page: %d %.400s", page.status, page.body)
	}
	res := pc.do(http.MethodPost, "/backoffice/trading/servers/mt5-live/check", url.Values{"csrf": {csrfOf(t, page.body)}})
	if res.status != 303 || res.header.Get("Location") != "/backoffice/trading/servers/mt5-live?checking=1" {
		t.Fatalf("the check button: %d %s", res.status, res.header.Get("Location"))
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		page = pc.get("/backoffice/trading/servers/mt5-live")
		if strings.Contains(page.body, `id="check-error"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed the platform's answer: %.2000s", page.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(page.body, "Down") {
		t.Fatalf("an unreachable MT5 server is not shown down: %.2000s", page.body)
	}
	types := pc.get("/backoffice/trading/account-types")
	if types.status != 200 || !strings.Contains(types.body, "Standard") || !strings.Contains(types.body, "USD 100.00") {
		t.Fatalf("account types page: %d %.400s", types.status, types.body)
	}

	// Those who only read the desk see it and change nothing.
	ro := staffLogin(t, base, ten, "readonly").AccessToken
	if r = request(t, base, host, "GET", "/api/v1/trading/servers", ro, nil); r.status != 200 || strings.Contains(r.body, pw) {
		t.Fatalf("readonly reads the servers: %d", r.status)
	}
	if r = request(t, base, host, "POST", "/api/v1/trading/servers/sim/check", ro, nil); r.status != 403 {
		t.Fatalf("readonly asks for a check: %d", r.status)
	}
	if r = request(t, base, host, "GET", "/api/v1/trading/servers", staffLogin(t, base, ten, "ib_manager").AccessToken, nil); r.status != 403 {
		t.Fatalf("an IB manager reads the servers: %d", r.status)
	}
}

// The dialer hands an MT5 server's time-zone shift to the connector: a "New York + 7" server dials, and a shift the
// connector itself refuses (stored before the desk validated it) fails the dial with the connector's reason.
func TestTradingDialerPassesTheMT5TimeZoneShift(t *testing.T) {
	t.Parallel()
	d := tradingDialer{log: slog.New(slog.DiscardHandler)}
	srv := func(zone, shift string) tradingdesk.Server {
		return tradingdesk.Server{Slug: "mt5", Platform: trading.PlatformMT5,
			Config: tradingdesk.Config{Address: "127.0.0.1:9", Login: "1001", TimeZone: zone, TimeZoneShift: shift}}
	}
	c, err := d.Dial(context.Background(), srv("America/New_York", "7h"), tradingdesk.Credentials{Password: "pw"})
	if err != nil {
		t.Fatalf("New York + 7: %v", err)
	}
	c.Close()
	if _, err := d.Dial(context.Background(), srv("Asia/Tokyo", "6h"), tradingdesk.Credentials{Password: "pw"}); err == nil ||
		!strings.Contains(err.Error(), "shifted by 6h") {
		t.Fatalf("Tokyo + 6 (15 hours from UTC) dialled: %v", err)
	}
	if _, err := d.Dial(context.Background(), srv("UTC", "soon"), tradingdesk.Credentials{Password: "pw"}); err == nil {
		t.Fatal("a shift that is no duration dialled")
	}
}
