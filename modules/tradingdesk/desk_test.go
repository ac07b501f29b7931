package tradingdesk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

const managerPassword = "Mgr-pa55word-never-shown"

// The manager's password is stored sealed for its row, never as itself; the API's view, the audit trail and the
// logs say only that credentials are set; a sealed value copied to another server's row does not open there.
func TestCredentialsAreSealedAndNeverShownAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s := b.mt5Server(t, "mt5-live", closedPort(t), managerPassword)
	var stored string
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT credentials FROM trading_servers WHERE id = $1`, s.ID).Scan(&stored)
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, managerPassword) || !strings.HasPrefix(stored, "d1:") {
		t.Fatalf("stored credentials %q are not a sealed value", stored)
	}
	plain, err := b.sealer.Open("trading_servers.credentials:"+s.ID.String(), stored)
	if err != nil || !strings.Contains(string(plain), managerPassword) {
		t.Fatalf("the sealed value does not open for its row: %v", err)
	}
	other := b.mt5Server(t, "mt5-other", closedPort(t), "another-Pa55word")
	if _, err := b.sealer.Open("trading_servers.credentials:"+other.ID.String(), stored); err == nil {
		t.Fatal("a sealed value opened for another server's row")
	}
	view, _ := json.Marshal(tradingdesk.ToServerResponse(s))
	if strings.Contains(string(view), managerPassword) || !strings.Contains(string(view), `"credentials":"set"`) {
		t.Fatalf("the API's view: %s", view)
	}
	if fmt.Sprint(tradingdesk.Credentials{Password: managerPassword}) != "[redacted]" {
		t.Fatal("credentials print their secret")
	}
	if j, _ := json.Marshal(tradingdesk.Credentials{Password: managerPassword}); strings.Contains(string(j), managerPassword) {
		t.Fatal("credentials encode their secret")
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE diff::text LIKE '%' || $1 || '%'`, managerPassword); n != 0 {
		t.Fatalf("%d audit rows hold the password", n)
	}
	// A change without credentials keeps them; the check (which dials) logs nothing of them either.
	if _, err := b.svc.UpdateServer(ctx, b.ten, admin, tradingdesk.ServerInput{Slug: s.Slug, Name: "MT5 renamed", Platform: s.Platform,
		Live: true, Config: s.Config, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.CheckServer(ctx, b.ten, s.ID, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.log.String(), managerPassword) {
		t.Fatalf("the log holds the password: %s", b.log)
	}
	if got, _ := b.svc.Server(ctx, b.ten, s.Slug); !got.HasCredentials || got.Name != "MT5 renamed" {
		t.Fatalf("after a change without credentials: %+v", got)
	}
}

// A check through the shared session records ok and the simulator's capabilities, logs the change once, and a
// second check that finds the same writes no log line.
func TestTheCheckAgainstTheSimulatorRecordsOK(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s := b.simServer(t, "sim")
	c, err := b.svc.CheckServer(ctx, b.ten, s.ID, true)
	if err != nil || c.Status != tradingdesk.StatusOK || c.Error != "" || c.Capabilities == nil || c.Capabilities.MaxLeverage != 500 {
		t.Fatalf("check: %+v %v", c, err)
	}
	if err := b.svc.CheckAll(ctx, b.ten); err != nil {
		t.Fatal(err)
	}
	got, _ := b.svc.Server(ctx, b.ten, "sim")
	if got.Check.Status != tradingdesk.StatusOK || got.Check.At == nil || got.Check.Capabilities == nil ||
		got.Check.Capabilities.SwapFree != trading.SwapFreeByGroup {
		t.Fatalf("stored check: %+v", got.Check)
	}
	if n := b.log.count("trading server reachable"); n != 1 {
		t.Fatalf("%d 'reachable' lines, want 1:\n%s", n, b.log)
	}
	if b.dials.get() != 1 {
		t.Fatalf("%d dials for two checks: the session is not shared", b.dials.get())
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = $1`, tradingdesk.ActionServerStatusChanged); n != 1 {
		t.Fatalf("%d status changes audited, want 1", n)
	}
}

// An MT5 server nobody answers for is down with the connector's error; checking it again and again adds no log
// line and no audit row, and the periodic checks wait for the session's backoff instead of dialling each time.
func TestAnUnreachableMT5ServerIsDownWithOneLogLine(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s := b.mt5Server(t, "mt5-live", closedPort(t), managerPassword)
	c, err := b.svc.CheckServer(ctx, b.ten, s.ID, true)
	if err != nil || c.Status != tradingdesk.StatusDown || c.Error == "" {
		t.Fatalf("check: %+v %v", c, err)
	}
	for range 3 {
		if err := b.svc.CheckAll(ctx, b.ten); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := b.svc.Server(ctx, b.ten, s.Slug)
	if got.Check.Status != tradingdesk.StatusDown || got.Check.Error == "" || got.Check.Since == nil || got.Check.Capabilities != nil {
		t.Fatalf("stored check: %+v", got.Check)
	}
	if n := b.log.count("trading server down"); n != 1 || b.log.count("server=mt5-live") != 1 {
		t.Fatalf("%d 'down' lines, want 1 naming the server:\n%s", n, b.log)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = $1`, tradingdesk.ActionServerStatusChanged); n != 1 {
		t.Fatalf("%d status changes audited, want 1", n)
	}
	if d := b.dials.get(); d != 1 {
		t.Fatalf("%d dials: the periodic checks did not wait for the backoff", d)
	}
	// An admin's check does not wait: it dials again.
	if _, err := b.svc.CheckServer(ctx, b.ten, s.ID, true); err != nil || b.dials.get() != 2 {
		t.Fatalf("an admin's check: %v, %d dials", err, b.dials.get())
	}
}

// Tenant B never sees, checks or names tenant A's servers and account types.
func TestTenantBNeverSeesOrChecksTenantAsServers(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	s := a.simServer(t, "sim")
	if _, err := a.svc.CreateAccountType(ctx, a.ten, admin, tradingdesk.AccountTypeInput{Slug: "standard", Name: "Standard", Server: "sim",
		Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "standard-usd"}}, Leverages: []int{100}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	b := a.p.NewTenant(t, "")
	if _, err := a.svc.Server(ctx, b, "sim"); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("B reads A's server: %v", err)
	}
	if list, err := a.svc.Servers(ctx, b); err != nil || len(list) != 0 {
		t.Errorf("B lists %d servers: %v", len(list), err)
	}
	if _, err := a.svc.CheckServer(ctx, b, s.ID, true); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("B checks A's server by id: %v", err)
	}
	if _, err := a.svc.RequestCheck(ctx, b, admin, "sim"); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("B asks for a check of A's server: %v", err)
	}
	if _, err := a.svc.UpdateServer(ctx, b, admin, tradingdesk.ServerInput{Slug: "sim", Name: "Mine", Platform: trading.PlatformSimulator, Live: true}); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("B changes A's server: %v", err)
	}
	if _, err := a.svc.AccountType(ctx, b, "standard"); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("B reads A's account type: %v", err)
	}
	// An account type of B cannot name A's server.
	_, err := a.svc.CreateAccountType(ctx, b, admin, tradingdesk.AccountTypeInput{Slug: "standard", Name: "Standard", Server: "sim",
		Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "standard-usd"}}, Leverages: []int{100}})
	if v, ok := validation.As(err); !ok || v.Message("server") == "" {
		t.Errorf("B's account type on A's server: %v", err)
	}
	if st, _ := a.svc.Server(ctx, a.ten, "sim"); st.Check.Status != tradingdesk.StatusUnknown {
		t.Errorf("A's server was checked through B: %+v", st.Check)
	}
}

// Asking for a check writes one task for the worker (queue sync) and audits who asked; nothing calls the platform
// in the request.
func TestACheckRequestIsQueuedForTheWorkerAndAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s := b.simServer(t, "sim")
	if _, err := b.svc.RequestCheck(ctx, b.ten, admin, s.Slug); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1 AND queue = $2`, tradingdesk.TaskCheckServer, jobs.QueueSync); n != 1 {
		t.Fatalf("%d check tasks in the outbox", n)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = $1`, tradingdesk.ActionServerCheckRequested); n != 1 {
		t.Fatalf("%d requests audited", n)
	}
	if b.dials.get() != 0 {
		t.Fatal("the request dialled the platform")
	}
}

// Account types are saved normalised, read back with their server, and changed in place.
func TestAnAccountTypeIsSavedAndChanged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.simServer(t, "sim")
	a, err := b.svc.CreateAccountType(ctx, b.ten, admin, tradingdesk.AccountTypeInput{Slug: "standard", Name: "Standard", Server: "sim",
		Groups:    map[string]tradingdesk.GroupPair{"usd": {"standard-usd", "standard-usd-swapfree"}, "EUR": {Group: "standard-eur"}},
		Leverages: []int{500, 100, 100, 50}, MinFirstDeposit: map[string]int64{"usd": 10000}, Countries: []string{"de", "FR"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Leverages) != "[50 100 500]" || a.MinFirstDeposit["USD"] != 10000 || fmt.Sprint(a.Countries) != "[DE FR]" ||
		a.Groups["USD"].SwapFreeGroup != "standard-usd-swapfree" || a.ServerSlug != "sim" || !a.Live {
		t.Fatalf("saved: %+v", a)
	}
	a2, err := b.svc.UpdateAccountType(ctx, b.ten, admin, tradingdesk.AccountTypeInput{Slug: "standard", Name: "Standard+", Server: "sim",
		Groups: a.Groups, Leverages: []int{100}, Enabled: false})
	if err != nil || a2.Name != "Standard+" || a2.Enabled || a2.ID != a.ID {
		t.Fatalf("changed: %+v %v", a2, err)
	}
	if _, err := b.svc.CreateAccountType(ctx, b.ten, admin, tradingdesk.AccountTypeInput{Slug: "standard", Name: "Again", Server: "sim",
		Groups: a.Groups, Leverages: []int{100}}); !errors.Is(err, tradingdesk.ErrExists) {
		t.Fatalf("a second type with the slug: %v", err)
	}
	// The server's twins reach the dialer (MT5 moves accounts between them).
	sv, _ := b.svc.Server(ctx, b.ten, "sim")
	if _, err := b.svc.CheckServer(ctx, b.ten, sv.ID, true); err != nil {
		t.Fatal(err)
	}
}

// The demo brokerage gets the simulator as a live and a practice server with its offer, in the simulator's own
// groups, and both servers answer their first check.
func TestTheDemoBrokerageHasSimulatorServersAndItsOffer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.svc.Door().DemoSeeders[0].Seed(ctx, tx, b.ten)
	}); err != nil {
		t.Fatal(err)
	}
	types, err := b.svc.AccountTypes(ctx, b.ten)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range types {
		names = append(names, a.Name+"@"+a.ServerSlug)
	}
	if got := strings.Join(names, ","); got != "Demo@demo-practice,Raw@demo-live,Standard@demo-live,Swap-free Islamic@demo-live" {
		t.Fatalf("demo account types: %s", got)
	}
	if st, err := b.svc.DeskSettings(ctx, b.ten); err != nil || st.LeverageApprovalAbove != tradingdesk.DemoLeverageApprovalAbove || !st.SwapFreeApproval {
		t.Fatalf("the demo's desk rules: %+v %v", st, err)
	}
	if err := b.svc.CheckAll(ctx, b.ten); err != nil {
		t.Fatal(err)
	}
	servers, _ := b.svc.Servers(ctx, b.ten)
	if len(servers) != 2 {
		t.Fatalf("%d demo servers", len(servers))
	}
	for _, s := range servers {
		if s.Check.Status != tradingdesk.StatusOK || s.Live != (s.Slug == tradingdesk.DemoServer) {
			t.Errorf("%s: %+v live=%v", s.Slug, s.Check, s.Live)
		}
	}
	// The groups exist on the simulator: an account opens in each type's group of each currency.
	for _, a := range types {
		for _, code := range a.Currencies() {
			g := a.Groups[code]
			for _, group := range []string{g.Group, g.SwapFreeGroup} {
				if group == "" {
					continue
				}
				if _, err := b.sim.CreateAccount(ctx, trading.NewAccount{Group: group, Leverage: a.Leverages[0], Currency: code,
					FirstName: "Demo", LastName: "Check", Email: "check@example.com", Password: "Dm1!abcdEF", InvestorPassword: "Dm1!abcdEFi"}); err != nil {
					t.Errorf("%s %s: group %s: %v", a.Name, code, group, err)
				}
			}
		}
	}
}

// A suspended brokerage's sessions are closed by the worker's periodic sweep (its servers are no longer checked,
// so nothing else would close them), while an active brokerage's stay open; resumed, it dials again.
func TestASuspendedTenantsSessionsAreClosed(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	a.simServer(t, "sim")
	if err := a.svc.CheckAll(ctx, a.ten); err != nil {
		t.Fatal(err)
	}
	other := a.p.NewTenant(t, "")
	if _, err := a.svc.CreateServer(ctx, other, admin, tradingdesk.ServerInput{Slug: "sim", Name: "Sim", Platform: trading.PlatformSimulator,
		Live: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.CheckAll(ctx, other); err != nil {
		t.Fatal(err)
	}
	if open := a.svc.Sessions().Open(); open[a.ten.ID] != 1 || open[other.ID] != 1 {
		t.Fatalf("open sessions before: %v", open)
	}
	if _, err := a.p.Provisioner.Suspend(ctx, other.ID, "unpaid", tenants.System("test")); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.CloseInactive(ctx); err != nil {
		t.Fatal(err)
	}
	if open := a.svc.Sessions().Open(); open[a.ten.ID] != 1 || open[other.ID] != 0 {
		t.Fatalf("open sessions after the suspension: %v", open)
	}
	if _, err := a.p.Provisioner.Resume(ctx, other.ID, "paid", tenants.System("test")); err != nil {
		t.Fatal(err)
	}
	dials := a.dials.get()
	if err := a.svc.CheckAll(ctx, other); err != nil {
		t.Fatal(err)
	}
	if open := a.svc.Sessions().Open(); open[other.ID] != 1 || a.dials.get() != dials+1 {
		t.Fatalf("resumed: open %v, %d dials", open, a.dials.get()-dials)
	}
}
