package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// A trader opens accounts from the portal, through the HTTP server, the worker and the process's simulator: a demo
// account through the API (202, "pending", then done with the login, the credentials in Mailpit and not in the
// log), a live one refused by the policy gate (the trader's KYC is not approved), a leverage the type does not
// offer named (422); the portal page lists the account and offers only the demo type; the back office sees the
// client's accounts and requests through the API and on the client page's Trading tab, and the requests list.
func TestAnAccountOpensFromThePortalThroughTheWorker(t *testing.T) {
	t.Parallel()
	logFile := t.TempDir() + "/brokerdesk.log"
	a, base, sim, ctx := startDesk(t, map[string]string{"log_file": logFile})
	ten, _ := demoTenantNamed(t, a, "Accounts FX")
	host := hostOf(ten)
	for _, in := range []tradingdesk.ServerInput{
		{Slug: "sim-live", Name: "Sim live", Platform: trading.PlatformSimulator, Live: true, Enabled: true},
		{Slug: "sim-practice", Name: "Sim practice", Platform: trading.PlatformSimulator, Live: false, Enabled: true},
	} {
		if _, err := a.tradingdesk.CreateServer(ctx, ten, audit.System("test"), in); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range []tradingdesk.AccountTypeInput{
		{Slug: "standard", Name: "Standard", Server: "sim-live", Leverages: []int{100, 200}, Enabled: true,
			Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "standard-usd"}}},
		{Slug: "demo", Name: "Demo", Server: "sim-practice", Leverages: []int{50, 100}, Enabled: true,
			Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "standard-usd"}, "EUR": {Group: "standard-eur"}}},
	} {
		if _, err := a.tradingdesk.CreateAccountType(ctx, ten, audit.System("test"), in); err != nil {
			t.Fatal(err)
		}
	}
	email := identity.DemoTraderEmail(ten)
	r := request(t, base, host, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: email, Password: identity.DemoPassword})
	var tok identity.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
		t.Fatalf("portal login: %d %s", r.status, r.body)
	}
	trader := tok.AccessToken
	open := func(body tradingdesk.OpenAccountBody) call {
		return request(t, base, host, "POST", "/api/v1/portal/trading/accounts", trader, body, "Idempotency-Key", uuid.NewString())
	}
	if r := open(tradingdesk.OpenAccountBody{Type: "standard", Currency: "USD", Leverage: 100}); r.status != 403 ||
		!strings.Contains(r.body, "/problems/account-not-allowed") {
		t.Fatalf("a live account before KYC: %d %s", r.status, r.body)
	}
	if r := open(tradingdesk.OpenAccountBody{Type: "demo", Currency: "USD", Leverage: 500}); r.status != 422 || !strings.Contains(r.body, `"field":"leverage"`) {
		t.Fatalf("a leverage outside the type: %d %s", r.status, r.body)
	}
	r = open(tradingdesk.OpenAccountBody{Type: "demo", Currency: "EUR", Leverage: 50})
	var req tradingdesk.RequestResponse
	if err := json.Unmarshal([]byte(r.body), &req); err != nil || r.status != 202 || req.Status != "pending" || req.Login != "" {
		t.Fatalf("open a demo account: %d %s", r.status, r.body)
	}
	for deadline := time.Now().Add(30 * time.Second); req.Status == "pending"; time.Sleep(100 * time.Millisecond) {
		r = request(t, base, host, "GET", "/api/v1/portal/trading/requests/"+req.ID.String(), trader, nil)
		if err := json.Unmarshal([]byte(r.body), &req); err != nil || r.status != 200 {
			t.Fatalf("read the request: %d %s", r.status, r.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not open the account: %s", r.body)
		}
	}
	if req.Status != "done" || req.Login == "" || !req.Emailed {
		t.Fatalf("the request: %+v", req)
	}
	if acc, err := sim.Account(ctx, req.Login); err != nil || acc.Group != "standard-eur" || acc.Leverage != 50 {
		t.Fatalf("on the simulator: %+v %v", acc, err)
	}
	msgs := localsvc.AwaitMail(t, email, 1, 15*time.Second)
	var creds localsvc.MailpitMessage
	for _, m := range msgs {
		if strings.Contains(m.Subject, req.Login) {
			creds = m
		}
	}
	pw := ""
	for _, line := range strings.Split(creds.Text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Password: "); ok {
			pw = v
		}
	}
	if len(pw) != 12 {
		t.Fatalf("the credentials email (%q): %q", creds.Subject, pw)
	}
	t.Cleanup(func() { // the log, once the app closed and flushed it
		if b, err := os.ReadFile(logFile); err != nil || strings.Contains(string(b), pw) || !strings.Contains(string(b), "email sent") {
			t.Errorf("the process's log holds the password, or was not written (%v)", err)
		}
	})

	// The portal's own list, and the page.
	r = request(t, base, host, "GET", "/api/v1/portal/trading/accounts", trader, nil)
	if r.status != 200 || !strings.Contains(r.body, `"login":"`+req.Login+`"`) || !strings.Contains(r.body, `"balance":"0.00"`) {
		t.Fatalf("my accounts: %d %s", r.status, r.body)
	}
	portal := newPageClient(t, base, ten)
	portal.login("/portal", email, identity.DemoPassword)
	page := portal.get("/portal/trading")
	if page.status != 200 || !strings.Contains(page.body, `data-login="`+req.Login+`"`) || !strings.Contains(page.body, `value="demo|EUR"`) ||
		strings.Contains(page.body, `value="standard|USD"`) || !strings.Contains(page.body, `id="live-blocked"`) {
		t.Fatalf("the portal page: %d %.2000s", page.status, page.body)
	}
	res := portal.do(http.MethodPost, "/portal/trading", url.Values{"csrf": {csrfOf(t, page.body)}, "account": {"demo|USD"}, "leverage": {"100"}})
	if res.status != 303 || !strings.HasPrefix(res.header.Get("Location"), "/portal/trading?requested=") {
		t.Fatalf("the form: %d %s", res.status, res.header.Get("Location"))
	}
	if page = portal.get(res.header.Get("Location")); page.status != 200 || !strings.Contains(page.body, `id="requested"`) {
		t.Fatalf("after the form: %d %.1000s", page.status, page.body)
	}
	res = portal.do(http.MethodPost, "/portal/trading", url.Values{"csrf": {csrfOf(t, page.body)}, "account": {"demo|USD"}, "leverage": {"200"}})
	if res.status != 422 || !strings.Contains(pageText(res.body), "this account type offers 1:50, 1:100") {
		t.Fatalf("a refused form: %d %.1000s", res.status, res.body)
	}

	// The back office: the client's accounts and requests, the requests list, the client page's tab.
	var client uuid.UUID
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM clients WHERE email = $1`, email).Scan(&client)
	}); err != nil {
		t.Fatal(err)
	}
	support := staffLogin(t, base, ten, "support").AccessToken
	r = request(t, base, host, "GET", "/api/v1/clients/"+client.String()+"/trading", support, nil)
	if r.status != 200 || !strings.Contains(r.body, `"login":"`+req.Login+`"`) || !strings.Contains(r.body, `"requests":[{`) {
		t.Fatalf("the client's trading: %d %s", r.status, r.body)
	}
	if r = request(t, base, host, "GET", "/api/v1/trading/requests?status=done", support, nil); r.status != 200 || !strings.Contains(r.body, req.ID.String()) {
		t.Fatalf("the requests list: %d %s", r.status, r.body)
	}
	if r = request(t, base, host, "GET", "/api/v1/trading/requests?status=lost", support, nil); r.status != 400 {
		t.Fatalf("a bad filter: %d %s", r.status, r.body)
	}
	bo := newPageClient(t, base, ten)
	bo.login("/backoffice", demoEmail(ten, "support"), identity.DemoPassword)
	tab := bo.get("/backoffice/clients/" + client.String() + "?tab=trading")
	if tab.status != 200 || !strings.Contains(tab.body, `data-login="`+req.Login+`"`) {
		t.Fatalf("the client page's Trading tab: %d %.1500s", tab.status, tab.body)
	}
	// The login links to the account's deals.
	link := regexp.MustCompile(`data-login="` + regexp.QuoteMeta(req.Login) + `"><td><a href="(/backoffice/trading/accounts/[0-9a-f-]{36}/deals)"`).FindStringSubmatch(tab.body)
	if link == nil {
		t.Fatalf("the Trading tab links no account's deals: %.1500s", tab.body)
	}
	if deals := bo.get(link[1]); deals.status != 200 || !strings.Contains(deals.body, "Deals of "+req.Login) || !strings.Contains(deals.body, `id="deals"`) {
		t.Fatalf("the account's deals: %d %.1500s", deals.status, deals.body)
	}
	if list := bo.get("/backoffice/trading/requests?status=all"); list.status != 200 || !strings.Contains(list.body, `data-request="`+req.ID.String()+`"`) {
		t.Fatalf("the requests page: %d %.1500s", list.status, list.body)
	}
}
