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

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// A trader moves money from the portal, through the HTTP server, the worker and the process's simulator: 250.00 USD
// from the wallet into their account (202, held at once, then done; the simulator's balance and the ledger agree),
// 100.00 back, a currency other than the account's refused (422 naming currency, no FX); finance sees the
// transfers in the list and the client's, and the ledger verifies clean; the account trades on the simulator and
// the worker's deal sync brings its deals to the back office's API.
func TestTradingTransfersFromThePortalThroughTheWorker(t *testing.T) {
	t.Parallel()
	a, base, sim, ctx := startDesk(t, nil)
	ten, _ := demoTenantNamed(t, a, "Transfers FX")
	host := hostOf(ten)
	if _, err := a.tradingdesk.CreateServer(ctx, ten, audit.System("test"), tradingdesk.ServerInput{Slug: "sim-live", Name: "Sim live",
		Platform: trading.PlatformSimulator, Live: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tradingdesk.CreateAccountType(ctx, ten, audit.System("test"), tradingdesk.AccountTypeInput{Slug: "standard", Name: "Standard",
		Server: "sim-live", Leverages: []int{100}, Enabled: true, Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "standard-usd"}}}); err != nil {
		t.Fatal(err)
	}
	email := identity.DemoTraderEmail(ten)
	usd, _ := money.Lookup("USD")
	var client uuid.UUID
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `UPDATE clients SET status = 'kyc_approved', kyc_approved_at = now() WHERE email = $1 RETURNING id`,
			email).Scan(&client); err != nil {
			return err
		}
		_, err := a.ledger.PostTx(ctx, tx, ledger.Entry{Key: "test-deposit:" + client.String(), Kind: "deposit", Postings: []ledger.Posting{
			{Account: ledger.Clearing("test", usd), Amount: -100_000}, {Account: ledger.ClientWallet(client, usd), Amount: 100_000}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	opened, err := a.tradingdesk.OpenAccount(ctx, ten, client, tradingdesk.OpenAccountInput{Type: "standard", Currency: "USD", Leverage: 100})
	if err != nil {
		t.Fatal(err)
	}
	var acc tradingdesk.Account
	for deadline := time.Now().Add(30 * time.Second); acc.Login == ""; time.Sleep(100 * time.Millisecond) {
		if list, err := a.tradingdesk.ClientAccounts(ctx, ten, client); err == nil && len(list) == 1 {
			acc = list[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not open the account of request %s", opened.ID)
		}
	}
	r := request(t, base, host, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: email, Password: identity.DemoPassword})
	var tok identity.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
		t.Fatalf("portal login: %d %s", r.status, r.body)
	}
	trader := tok.AccessToken
	move := func(body tradingdesk.TransferBody) call {
		return request(t, base, host, "POST", "/api/v1/portal/trading/transfers", trader, body, "Idempotency-Key", uuid.NewString())
	}
	if r := move(tradingdesk.TransferBody{Account: acc.ID, Direction: "to_account", Amount: "250.00", Currency: "EUR"}); r.status != 422 ||
		!strings.Contains(r.body, `"field":"currency"`) {
		t.Fatalf("another currency: %d %s", r.status, r.body)
	}
	wait := func(r call) tradingdesk.TransferResponse {
		t.Helper()
		var x tradingdesk.TransferResponse
		if err := json.Unmarshal([]byte(r.body), &x); err != nil || r.status != 202 || x.Status != "pending" {
			t.Fatalf("transfer: %d %s", r.status, r.body)
		}
		for deadline := time.Now().Add(30 * time.Second); x.Status == "pending"; time.Sleep(100 * time.Millisecond) {
			r = request(t, base, host, "GET", "/api/v1/portal/trading/transfers/"+x.ID.String(), trader, nil)
			if err := json.Unmarshal([]byte(r.body), &x); err != nil || r.status != 200 {
				t.Fatalf("read the transfer: %d %s", r.status, r.body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("the worker did not move the money: %s", r.body)
			}
		}
		return x
	}
	in := wait(move(tradingdesk.TransferBody{Account: acc.ID, Direction: "to_account", Amount: "250.00", Currency: "USD"}))
	if in.Status != "done" || in.Outcome != "250.00 USD moved from your wallet to account "+acc.Login+"." {
		t.Fatalf("to the account: %+v", in)
	}
	out := wait(move(tradingdesk.TransferBody{Account: acc.ID, Direction: "to_wallet", Amount: "100.00", Currency: "USD"}))
	if out.Status != "done" {
		t.Fatalf("to the wallet: %+v", out)
	}
	if on, err := sim.Account(ctx, acc.Login); err != nil || !on.Balance.Equal(decimal.RequireFromString("150")) {
		t.Fatalf("on the simulator: %+v %v", on, err)
	}
	if wallet, err := a.ledger.Balance(ctx, ten, ledger.ClientWallet(client, usd).Code); err != nil || wallet.Posted != 85_000 || wallet.PendingDebits != 0 {
		t.Fatalf("the wallet: %+v %v", wallet, err)
	}
	if rep, err := a.ledger.Verify(ctx, ten); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep.Problem, err)
	}

	finance := staffLogin(t, base, ten, "finance").AccessToken
	if r = request(t, base, host, "GET", "/api/v1/trading/transfers?status=done", finance, nil); r.status != 200 ||
		!strings.Contains(r.body, in.ID.String()) || !strings.Contains(r.body, `"ticket":"`) {
		t.Fatalf("finance's list: %d %s", r.status, r.body)
	}
	if r = request(t, base, host, "GET", "/api/v1/trading/transfers?status=unknown", finance, nil); r.status != 200 || strings.Contains(r.body, in.ID.String()) {
		t.Fatalf("finance's unknown outcomes: %d %s", r.status, r.body)
	}
	if r = request(t, base, host, "GET", "/api/v1/trading/transfers?status=lost", finance, nil); r.status != 400 {
		t.Fatalf("a bad filter: %d %s", r.status, r.body)
	}
	if r = request(t, base, host, "GET", "/api/v1/clients/"+client.String()+"/transfers", finance, nil); r.status != 200 || !strings.Contains(r.body, out.ID.String()) {
		t.Fatalf("the client's transfers: %d %s", r.status, r.body)
	}
	if r = request(t, base, host, "POST", "/api/v1/trading/transfers/"+in.ID.String()+"/retry", finance, nil); r.status != 404 {
		t.Fatalf("a retry of a done transfer: %d %s", r.status, r.body)
	}

	// The account trades on the simulator; the worker's deal sync (the task the walk enqueues every minute, enqueued
	// here at once) stores its deals, and the back office reads them: the trade's two deals and the transfers'
	// balance deals, which add up to what moved.
	pos, err := sim.OpenPosition(ctx, acc.Login, "EURUSD", trading.Buy, decimal.RequireFromString("0.01"))
	if err != nil {
		t.Fatal(err)
	}
	closing, err := sim.ClosePosition(ctx, acc.Login, pos.ID)
	if err != nil {
		t.Fatal(err)
	}
	task, err := tradingdesk.SyncAccountTask(ten, acc.ServerID, acc.Login, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.Enqueue(ctx, a.queue, task); err != nil {
		t.Fatal(err)
	}
	var deals tradingdesk.AccountDealsResponse
	for deadline := time.Now().Add(30 * time.Second); len(deals.Items) < 4; time.Sleep(200 * time.Millisecond) {
		r = request(t, base, host, "GET", "/api/v1/trading/accounts/"+acc.ID.String()+"/deals", finance, nil)
		if err := json.Unmarshal([]byte(r.body), &deals); err != nil || r.status != 200 {
			t.Fatalf("the account's deals: %d %s", r.status, r.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker synced %d deals: %s", len(deals.Items), r.body)
		}
	}
	moved, trades := decimal.Zero, 0
	for _, d := range deals.Items {
		switch {
		case d.Action == string(trading.ActionBalance):
			moved = moved.Add(decimal.RequireFromString(d.Profit))
		case d.Ticket == closing.Ticket && d.Entry == string(trading.EntryOut) && d.Symbol == "EURUSD":
			trades++
		case d.PositionID == pos.ID && d.Entry == string(trading.EntryIn):
			trades++
		}
	}
	if len(deals.Items) != 4 || trades != 2 || !moved.Equal(decimal.RequireFromString("150")) {
		t.Fatalf("the account's deals: %s", r.body)
	}

	// A credit operation (as the bonus engine asks one, in its own transaction) is carried by the worker's
	// tradingdesk:credit and listed for finance; a retry of one that is done is 404, a bad filter 400.
	var credit tradingdesk.Credit
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		credit, err = a.tradingdesk.CreditTx(ctx, tx, tradingdesk.CreditOrder{Key: "test:" + uuid.NewString(), Account: acc.ID,
			Kind: trading.CreditIn, Amount: 5000, Comment: "Bonus test", By: "test"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r = request(t, base, host, "GET", "/api/v1/trading/credits?status=all", finance, nil)
		if r.status != 200 {
			t.Fatalf("finance's credit operations: %d %s", r.status, r.body)
		}
		if strings.Contains(r.body, `"id":"`+credit.ID.String()+`"`) && strings.Contains(r.body, `"moved":"50.00"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not book the credit: %s", r.body)
		}
	}
	if on, err := sim.Account(ctx, acc.Login); err != nil || !on.Credit.Equal(decimal.RequireFromString("50")) {
		t.Fatalf("the simulator's credit: %+v %v", on, err)
	}
	if r = request(t, base, host, "GET", "/api/v1/trading/credits?status=unknown", finance, nil); r.status != 200 || strings.Contains(r.body, credit.ID.String()) {
		t.Fatalf("finance's unknown credit operations: %d %s", r.status, r.body)
	}
	if r = request(t, base, host, "GET", "/api/v1/trading/credits?status=lost", finance, nil); r.status != 400 {
		t.Fatalf("a bad filter: %d %s", r.status, r.body)
	}
	if r = request(t, base, host, "POST", "/api/v1/trading/credits/"+credit.ID.String()+"/retry", finance, nil); r.status != 404 {
		t.Fatalf("a retry of a done credit operation: %d %s", r.status, r.body)
	}

	// The portal page's form, its refusal in words, and the back office's pages.
	portal := newPageClient(t, base, ten)
	portal.login("/portal", email, identity.DemoPassword)
	page := portal.get("/portal/trading")
	if page.status != 200 || !strings.Contains(page.body, `id="transfer-form"`) || !strings.Contains(page.body, "<strong>850.00 USD</strong>") ||
		!strings.Contains(page.body, `data-transfer="`+in.ID.String()+`"`) {
		t.Fatalf("the portal page: %d %.3000s", page.status, page.body)
	}
	res := portal.do(http.MethodPost, "/portal/trading/transfers", url.Values{"csrf": {csrfOf(t, page.body)}, "account": {acc.ID.String()},
		"direction": {"to_account"}, "amount": {"10.005"}})
	if res.status != 422 || !strings.Contains(pageText(res.body), "The money was not moved") || !strings.Contains(pageText(res.body), "at most 2 decimals") {
		t.Fatalf("a refused form: %d %.1500s", res.status, pageText(res.body))
	}
	res = portal.do(http.MethodPost, "/portal/trading/transfers", url.Values{"csrf": {csrfOf(t, page.body)}, "account": {acc.ID.String()},
		"direction": {"to_account"}, "amount": {"10"}})
	if res.status != 303 || !strings.HasPrefix(res.header.Get("Location"), "/portal/trading?transfer=") {
		t.Fatalf("the form: %d %s", res.status, res.header.Get("Location"))
	}
	if page = portal.get(res.header.Get("Location")); page.status != 200 || !strings.Contains(page.body, `id="transferred"`) {
		t.Fatalf("after the form: %d %.1500s", page.status, page.body)
	}
	bo := newPageClient(t, base, ten)
	bo.login("/backoffice", demoEmail(ten, "finance"), identity.DemoPassword)
	if list := bo.get("/backoffice/trading/transfers?status=all"); list.status != 200 || !strings.Contains(list.body, `data-transfer="`+out.ID.String()+`"`) {
		t.Fatalf("finance's transfers page: %d %.1500s", list.status, list.body)
	}
	// Finance's credit operations page: the booked credit among all, none waiting by default, no retry of a done one.
	if list := bo.get("/backoffice/trading/credits?status=all"); list.status != 200 || !strings.Contains(list.body, `data-credit="`+credit.ID.String()+`"`) ||
		!strings.Contains(list.body, "Credit in") || !strings.Contains(list.body, "50.00 USD") {
		t.Fatalf("finance's credit operations page: %d %.1500s", list.status, pageText(list.body))
	}
	if list := bo.get("/backoffice/trading/credits"); list.status != 200 || strings.Contains(list.body, `data-credit="`) ||
		!strings.Contains(list.body, "No credit operation waits for finance.") {
		t.Fatalf("the credit operations waiting for finance: %d %.1500s", list.status, pageText(list.body))
	}
	if r := bo.postWithCSRF("/backoffice/trading/credits?status=all", "/backoffice/trading/credits/"+credit.ID.String()+"/retry", nil); r.status != 404 {
		t.Fatalf("retrying a done credit operation from the page: %d", r.status)
	}
	if tab := bo.get("/backoffice/clients/" + client.String() + "?tab=trading"); tab.status != 200 || !strings.Contains(tab.body, `data-transfer="`+in.ID.String()+`"`) {
		t.Fatalf("the client page's Trading tab: %d %.1500s", tab.status, tab.body)
	}
}
