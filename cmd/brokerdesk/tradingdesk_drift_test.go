package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// Drift end to end, through the HTTP server, the worker and the process's simulator: an account the portal opened
// has its leverage changed and a deposit made by hand on the platform; an admin asks for a check (202), the worker
// heals the leverage (the platform agrees after) and leaves the money for finance; the report and the page say so in
// one line; finance resolves the money on the page with a note; read-only staff may not ask for a check.
func TestDriftThroughTheAPIThePageAndTheWorker(t *testing.T) {
	t.Parallel()
	a, base, sim, ctx := startDesk(t, nil)
	ten, _ := demoTenantNamed(t, a, "Drift FX")
	host := hostOf(ten)
	if _, err := a.tradingdesk.CreateServer(ctx, ten, audit.System("test"), tradingdesk.ServerInput{Slug: "sim-live", Name: "Sim live",
		Platform: trading.PlatformSimulator, Live: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tradingdesk.CreateAccountType(ctx, ten, audit.System("test"), tradingdesk.AccountTypeInput{Slug: "standard", Name: "Standard",
		Server: "sim-live", Leverages: []int{100}, Enabled: true, Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "standard-usd"}}}); err != nil {
		t.Fatal(err)
	}
	var client uuid.UUID
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE clients SET status = 'kyc_approved', kyc_approved_at = now() WHERE email = $1 RETURNING id`,
			identity.DemoTraderEmail(ten)).Scan(&client)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tradingdesk.OpenAccount(ctx, ten, client, tradingdesk.OpenAccountInput{Type: "standard", Currency: "USD", Leverage: 100}); err != nil {
		t.Fatal(err)
	}
	var acc tradingdesk.Account
	for deadline := time.Now().Add(30 * time.Second); acc.Login == ""; time.Sleep(100 * time.Millisecond) {
		if reqs, err := a.tradingdesk.ClientRequests(ctx, ten, client); err == nil && len(reqs) == 1 && reqs[0].Status == tradingdesk.RequestDone {
			list, _ := a.tradingdesk.ClientAccounts(ctx, ten, client)
			acc = list[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker did not open the account")
		}
	}
	if err := sim.Faults.LeverageByHand(acc.Login, 500); err != nil {
		t.Fatal(err)
	}
	if err := sim.Faults.BalanceByHand(acc.Login, decimal.RequireFromString("125.00"), "by hand"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tradingdesk.SyncAccount(ctx, ten, acc.ServerID, acc.Login); err != nil {
		t.Fatal(err)
	}

	admin := staffLogin(t, base, ten, "admin").AccessToken
	ro := staffLogin(t, base, ten, "readonly").AccessToken
	if r := request(t, base, host, "POST", "/api/v1/trading/servers/sim-live/drift-check", ro, nil); r.status != 403 {
		t.Fatalf("read-only asks for a check: %d", r.status)
	}
	if r := request(t, base, host, "POST", "/api/v1/trading/servers/sim-live/drift-check", admin, nil); r.status != 202 {
		t.Fatalf("ask for a check: %d %s", r.status, r.body)
	}
	const want = "1 account checked, 2 drifts: 1 leverage healed, 1 balance for finance"
	var rep tradingdesk.DriftResponse
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := request(t, base, host, "GET", "/api/v1/trading/drift?status=", ro, nil)
		if err := json.Unmarshal([]byte(r.body), &rep); err != nil || r.status != 200 {
			t.Fatalf("the report: %d %s", r.status, r.body)
		}
		if len(rep.Checks) == 1 && rep.Checks[0].Summary == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not check: %s", r.body)
		}
	}
	if p, err := sim.Account(ctx, acc.Login); err != nil || p.Leverage != 100 || !p.Balance.Equal(decimal.RequireFromString("125")) {
		t.Fatalf("the platform after the check: %+v %v", p, err)
	}
	var money tradingdesk.DriftItemResponse
	for _, it := range rep.Items {
		if it.Kind == "balance" {
			money = it
		}
	}
	if money.Status != "open" || money.Owner != "finance" || money.Difference != "125.00" {
		t.Fatalf("the money item: %+v", rep.Items)
	}

	pc := newPageClient(t, base, ten)
	pc.login("/backoffice", demoEmail(ten, "finance"), identity.DemoPassword)
	page := pc.get("/backoffice/trading/drift")
	if page.status != 200 || !strings.Contains(page.body, want) || !strings.Contains(page.body, "125.00 USD") || strings.Contains(page.body, "Check now") {
		t.Fatalf("the drift page for finance: %d %.3000s", page.status, page.body)
	}
	res := pc.do(http.MethodPost, "/backoffice/trading/drift/"+money.ID.String()+"/resolve", url.Values{"csrf": {csrfOf(t, page.body)},
		"note": {"Compensation for a requote, approved by dealing"}})
	if res.status != 303 {
		t.Fatalf("resolve: %d %s", res.status, res.body)
	}
	if r := request(t, base, host, "GET", "/api/v1/trading/drift/"+money.ID.String(), ro, nil); r.status != 200 || !strings.Contains(r.body, `"status":"resolved"`) ||
		!strings.Contains(r.body, "Compensation for a requote") {
		t.Fatalf("after resolving: %d %s", r.status, r.body)
	}
	home := pc.get("/backoffice")
	if home.status != 200 || !strings.Contains(home.body, "Drift items open") {
		t.Fatalf("the dashboard lacks the drift tile: %.2000s", home.body)
	}
}
