package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// A trader changes an account from the portal, through the HTTP server, the worker and the process's simulator:
// the desk's rules set through the API; a leverage above the brokerage's level waits for approval (the same
// Idempotency-Key answers the same request) and compliance rejects it with a reason the trader reads; a leverage
// the type does not offer is named (422); swap-free waits, compliance approves it (a sales user may not, 403) and the
// worker moves the account to the twin group; a currency change is refused with the offer of a new account; a new
// password is emailed; the portal page offers the changes and the requests list the approve button.
func TestChangesFromThePortalAreApprovedAndCarriedByTheWorker(t *testing.T) {
	t.Parallel()
	logFile := t.TempDir() + "/brokerdesk.log"
	a, base, sim, ctx := startDesk(t, map[string]string{"log_file": logFile})
	ten, _ := demoTenantNamed(t, a, "Changes FX")
	host := hostOf(ten)
	if _, err := a.tradingdesk.CreateServer(ctx, ten, audit.System("test"), tradingdesk.ServerInput{Slug: "sim-practice", Name: "Sim practice",
		Platform: trading.PlatformSimulator, Live: false, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tradingdesk.CreateAccountType(ctx, ten, audit.System("test"), tradingdesk.AccountTypeInput{Slug: "demo", Name: "Demo",
		Server: "sim-practice", Leverages: []int{50, 100, 200}, Enabled: true, Groups: map[string]tradingdesk.GroupPair{
			"USD": {Group: "standard-usd", SwapFreeGroup: "standard-usd-swapfree"}, "EUR": {Group: "standard-eur", SwapFreeGroup: "standard-eur-swapfree"}}}); err != nil {
		t.Fatal(err)
	}
	email := identity.DemoTraderEmail(ten)
	r := request(t, base, host, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: email, Password: identity.DemoPassword})
	var tok identity.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
		t.Fatalf("portal login: %d %s", r.status, r.body)
	}
	trader := tok.AccessToken
	post := func(path, token string, body any, key string) (call, tradingdesk.RequestResponse) {
		t.Helper()
		var headers []string
		if key != "" {
			headers = []string{"Idempotency-Key", key}
		}
		c := request(t, base, host, "POST", path, token, body, headers...)
		var v tradingdesk.RequestResponse
		_ = json.Unmarshal([]byte(c.body), &v)
		return c, v
	}
	await := func(id uuid.UUID, want string) tradingdesk.RequestResponse {
		t.Helper()
		var v tradingdesk.RequestResponse
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			c := request(t, base, host, "GET", "/api/v1/portal/trading/requests/"+id.String(), trader, nil)
			if err := json.Unmarshal([]byte(c.body), &v); err != nil || c.status != 200 {
				t.Fatalf("read the request: %d %s", c.status, c.body)
			}
			if v.Status == want {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("the request stayed %s: %s", v.Status, c.body)
			}
		}
	}
	c, opened := post("/api/v1/portal/trading/accounts", trader, tradingdesk.OpenAccountBody{Type: "demo", Currency: "USD", Leverage: 100}, uuid.NewString())
	if c.status != 202 {
		t.Fatalf("open: %d %s", c.status, c.body)
	}
	opened = await(opened.ID, "done")
	var account uuid.UUID
	c = request(t, base, host, "GET", "/api/v1/portal/trading/accounts", trader, nil)
	var mine tradingdesk.TradingResponse
	if err := json.Unmarshal([]byte(c.body), &mine); err != nil || len(mine.Accounts) != 1 {
		t.Fatalf("my accounts: %s", c.body)
	}
	account = mine.Accounts[0].ID
	base2 := "/api/v1/portal/trading/accounts/" + account.String()

	admin := staffLogin(t, base, ten, "admin").AccessToken
	c = request(t, base, host, "PUT", "/api/v1/trading/settings", admin, tradingdesk.DeskSettingsBody{LeverageApprovalAbove: 100, SwapFreeApproval: true})
	if c.status != 200 || !strings.Contains(c.body, `"leverage_approval_above":100`) {
		t.Fatalf("the desk's rules: %d %s", c.status, c.body)
	}
	if c = request(t, base, host, "PUT", "/api/v1/trading/settings", admin, tradingdesk.DeskSettingsBody{TierMaxLeverage: map[string]int{"gold": 5}}); c.status != 422 ||
		!strings.Contains(c.body, `"field":"tier_max_leverage.gold"`) {
		t.Fatalf("a tier the brokerage has not: %d %s", c.status, c.body)
	}

	key := uuid.NewString()
	c, lev := post(base2+"/leverage", trader, tradingdesk.LeverageBody{Leverage: 200}, key)
	if c.status != 202 || lev.Status != "awaiting_approval" || lev.Summary != "leverage 1:200" {
		t.Fatalf("leverage 1:200: %d %s", c.status, c.body)
	}
	if c, again := post(base2+"/leverage", trader, tradingdesk.LeverageBody{Leverage: 200}, key); c.status != 202 || again.ID != lev.ID {
		t.Fatalf("the same key again: %d %s", c.status, c.body)
	}
	if c, _ := post(base2+"/leverage", trader, tradingdesk.LeverageBody{Leverage: 500}, uuid.NewString()); c.status != 422 || !strings.Contains(c.body, `"field":"leverage"`) {
		t.Fatalf("a leverage the type does not offer: %d %s", c.status, c.body)
	}
	if c, _ := post(base2+"/leverage", trader, tradingdesk.LeverageBody{Leverage: 200}, ""); c.status != 400 {
		t.Fatalf("without an Idempotency-Key: %d %s", c.status, c.body)
	}
	c, swap := post(base2+"/swap-free", trader, tradingdesk.SwapFreeBody{SwapFree: true}, uuid.NewString())
	if c.status != 202 || swap.Status != "awaiting_approval" {
		t.Fatalf("swap-free: %d %s", c.status, c.body)
	}
	if c, _ := post(base2+"/currency", trader, tradingdesk.CurrencyBody{Currency: "EUR"}, ""); c.status != 409 || !strings.Contains(c.body, "/problems/currency-fixed") ||
		!strings.Contains(c.body, "Open a new Demo account in EUR instead") {
		t.Fatalf("a currency change: %d %s", c.status, c.body)
	}
	if c, _ := post("/api/v1/portal/trading/accounts/"+uuid.NewString()+"/leverage", trader, tradingdesk.LeverageBody{Leverage: 200}, uuid.NewString()); c.status != 404 {
		t.Fatalf("an account not mine: %d %s", c.status, c.body)
	}

	// The pages: the portal offers the changes; compliance sees the waiting requests with the buttons.
	portal := newPageClient(t, base, ten)
	portal.login("/portal", email, identity.DemoPassword)
	page := portal.get("/portal/trading")
	if page.status != 200 || !strings.Contains(page.body, `id="change-`+opened.Login+`"`) || !strings.Contains(page.body, "A leverage change is under way") ||
		!strings.Contains(page.body, "Open a Demo account in EUR") || !strings.Contains(page.body, "Waiting for approval") {
		t.Fatalf("the portal page: %d %.3000s", page.status, page.body)
	}
	bo := newPageClient(t, base, ten)
	bo.login("/backoffice", demoEmail(ten, "compliance"), identity.DemoPassword)
	if dash := bo.get("/backoffice"); dash.status != 200 || !strings.Contains(dash.body, "Requests awaiting approval") ||
		!strings.Contains(dash.body, `href="/backoffice/trading/requests?status=awaiting_approval"`) {
		t.Fatalf("compliance's dashboard: %d %.3000s", dash.status, dash.body)
	}
	list := bo.get("/backoffice/trading/requests")
	if list.status != 200 || !strings.Contains(list.body, `action="/backoffice/trading/requests/`+swap.ID.String()+`/approve"`) {
		t.Fatalf("the requests page: %d %.3000s", list.status, list.body)
	}

	sales := staffLogin(t, base, ten, "sales").AccessToken
	if c, _ := post("/api/v1/trading/requests/"+swap.ID.String()+"/approve", sales, nil, ""); c.status != 403 {
		t.Fatalf("sales approving: %d %s", c.status, c.body)
	}
	compliance := staffLogin(t, base, ten, "compliance").AccessToken
	if c, v := post("/api/v1/trading/requests/"+lev.ID.String()+"/reject", compliance, tradingdesk.RejectBody{}, ""); c.status != 422 || v.ID != uuid.Nil {
		t.Fatalf("a rejection without a reason: %d %s", c.status, c.body)
	}
	if c, v := post("/api/v1/trading/requests/"+lev.ID.String()+"/reject", compliance, tradingdesk.RejectBody{Reason: "Complete the appropriateness test first."}, ""); c.status != 200 || v.Status != "rejected" {
		t.Fatalf("rejected: %d %s", c.status, c.body)
	}
	if v := await(lev.ID, "rejected"); v.Rejection != "Complete the appropriateness test first." {
		t.Fatalf("the trader's view of the rejection: %+v", v)
	}
	res := bo.do(http.MethodPost, "/backoffice/trading/requests/"+swap.ID.String()+"/approve", url.Values{"csrf": {csrfOf(t, list.body)}})
	if res.status != 303 {
		t.Fatalf("approved on the page: %d %.1000s", res.status, res.body)
	}
	await(swap.ID, "done")
	if acc, err := sim.Account(ctx, opened.Login); err != nil || acc.Group != "standard-usd-swapfree" || !acc.SwapFree {
		t.Fatalf("on the simulator: %+v %v", acc, err)
	}
	if c, _ := post("/api/v1/trading/requests/"+swap.ID.String()+"/approve", compliance, nil, ""); c.status != 409 {
		t.Fatalf("approved twice: %d %s", c.status, c.body)
	}

	c, pw := post(base2+"/password", trader, tradingdesk.PasswordBody{Kind: "main"}, uuid.NewString())
	if c.status != 202 {
		t.Fatalf("a new password: %d %s", c.status, c.body)
	}
	await(pw.ID, "done")
	secret := ""
	for _, m := range localsvc.AwaitMail(t, email, 2, 15*time.Second) {
		if strings.Contains(m.Subject, "A new main password for account "+opened.Login) {
			for _, line := range strings.Split(m.Text, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Password: "); ok {
					secret = v
				}
			}
		}
	}
	if len(secret) != 12 || !sim.CheckPassword(opened.Login, trading.PasswordMain, secret) {
		t.Fatalf("the password email: %q", secret)
	}
	t.Cleanup(func() { // the log, once the app closed and flushed it
		if b, err := os.ReadFile(logFile); err != nil || strings.Contains(string(b), secret) {
			t.Errorf("the process's log holds the new password, or was not written (%v)", err)
		}
	})

	// The back office disables the account by hand, and the trader's changes stop.
	c = request(t, base, host, "POST", "/api/v1/trading/accounts/"+account.String()+"/access", admin, tradingdesk.AccessBody{Reason: "a chargeback"},
		"Idempotency-Key", uuid.NewString())
	var dis tradingdesk.RequestResponse
	if err := json.Unmarshal([]byte(c.body), &dis); err != nil || c.status != 202 {
		t.Fatalf("disabled by hand: %d %s", c.status, c.body)
	}
	await(dis.ID, "done")
	if acc, err := sim.Account(ctx, opened.Login); err != nil || acc.Access.LoginEnabled || acc.Access.TradingEnabled {
		t.Fatalf("on the simulator after the hand: %+v %v", acc, err)
	}
	if c, _ := post(base2+"/leverage", trader, tradingdesk.LeverageBody{Leverage: 50}, uuid.NewString()); c.status != 422 || !strings.Contains(c.body, `"field":"account"`) {
		t.Fatalf("a change of a disabled account: %d %s", c.status, c.body)
	}
}
