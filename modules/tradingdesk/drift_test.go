package tradingdesk_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/web/webtest"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// driftCheck runs a drift check of server and fails the test on an error.
func (b *bundle) driftCheck(t testing.TB, server uuid.UUID) tradingdesk.DriftCheck {
	t.Helper()
	c, err := b.svc.CheckDrift(context.Background(), b.ten, server)
	if err != nil {
		t.Fatalf("drift check: %v", err)
	}
	return c
}

// drift lists the tenant's drift items of f.
func (b *bundle) drift(t testing.TB, f tradingdesk.DriftFilter) []tradingdesk.DriftItem {
	t.Helper()
	list, err := b.svc.DriftItems(context.Background(), b.ten, f)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// synced syncs the deals of the logins on server (the money side of the check reads synced balance deals).
func (b *bundle) synced(t testing.TB, server uuid.UUID, logins ...string) {
	t.Helper()
	for _, l := range logins {
		if _, err := b.svc.SyncAccount(context.Background(), b.ten, server, l); err != nil {
			t.Fatalf("sync %s: %v", l, err)
		}
	}
}

// Drift of each kind is found on accounts the CRM opened; settings drift is healed (the platform agrees after,
// audited as a sentence), money drift is reported for finance and never healed; the summary says it in one line.
func TestDriftIsFoundForEachKindSettingsHealedMoneyForFinance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var logins []string
	var server uuid.UUID
	for range 6 {
		_, acc := b.walletTrader(t, 0)
		logins, server = append(logins, acc.Login), acc.ServerID
	}
	lev, grp, sf, access, bal, fine := logins[0], logins[1], logins[2], logins[3], logins[4], logins[5]
	if err := b.sim.Faults.LeverageByHand(lev, 500); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.MoveGroup(ctx, grp, "pro-usd"); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetSwapFree(ctx, sf, true); err != nil { // by group: the twin group, so the group differs too
		t.Fatal(err)
	}
	if err := b.sim.SetAccess(ctx, access, trading.Access{LoginEnabled: true, TradingEnabled: false}); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.Faults.BalanceByHand(bal, decimal.RequireFromString("250.00"), "dealer compensation"); err != nil {
		t.Fatal(err)
	}
	b.synced(t, server, logins...)

	c := b.driftCheck(t, server)
	if want := "6 accounts checked, 6 drifts: 2 group healed, 1 leverage healed, 1 swap-free healed, 1 access healed, 1 balance for finance"; c.Summary() != want {
		t.Errorf("summary %q, want %q", c.Summary(), want)
	}
	items := b.drift(t, tradingdesk.DriftFilter{})
	got := map[string]tradingdesk.DriftItem{}
	for _, it := range items {
		got[it.Login+" "+string(it.Kind)] = it
	}
	for _, w := range []struct {
		key, crm, platform, owner string
		status                    tradingdesk.DriftStatus
	}{
		{lev + " leverage", "1:100", "1:500", "dealing", tradingdesk.DriftHealed},
		{grp + " group", "standard-usd", "pro-usd", "dealing", tradingdesk.DriftHealed},
		{sf + " group", "standard-usd", "standard-usd-swapfree", "dealing", tradingdesk.DriftHealed},
		{sf + " swap_free", "off", "on", "dealing", tradingdesk.DriftHealed},
		{access + " access", "login and trading enabled", "login enabled, trading disabled", "dealing", tradingdesk.DriftHealed},
		{bal + " balance", "0.00 USD", "250.00 USD", "finance", tradingdesk.DriftOpen},
	} {
		it, ok := got[w.key]
		if !ok {
			t.Errorf("no drift item %s in %+v", w.key, items)
			continue
		}
		if it.CRMValue != w.crm || it.PlatformValue != w.platform || it.Owner != w.owner || it.Status != w.status {
			t.Errorf("%s: %+v", w.key, it)
		}
	}
	if len(items) != 6 {
		t.Errorf("%d items, want 6: %+v", len(items), items)
	}
	if it := got[bal+" balance"]; it.Difference == nil || it.Difference.Minor != 25_000 || it.Healing != "" {
		t.Errorf("balance item %+v", it)
	}
	for _, l := range logins {
		a, err := b.sim.Account(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		if a.Leverage != 100 || a.Group != "standard-usd" || a.SwapFree || !a.Access.LoginEnabled || !a.Access.TradingEnabled {
			t.Errorf("%s on the platform after healing: %+v", l, a)
		}
		if l == bal && !a.Balance.Equal(decimal.RequireFromString("250")) {
			t.Errorf("money drift was touched: %s", a.Balance)
		}
	}
	_ = fine
	trail := b.sentences(t)
	for _, want := range []string{
		"BrokerDesk set account " + lev + "'s leverage back to 1:100 on Sim sim: the platform had 1:500",
		"BrokerDesk set account " + access + "'s access back to login and trading enabled on Sim sim: the platform had login enabled, trading disabled",
		"The balance operations of account " + bal + " on Sim sim add up to 250.00 USD on the platform and 0.00 USD in the CRM: for finance",
	} {
		if !strings.Contains(trail, want) {
			t.Errorf("the trail lacks %q:\n%s", want, trail)
		}
	}
	// The accounts' live state is what the platform reported after healing.
	accs, err := b.svc.DriftItems(ctx, b.ten, tradingdesk.DriftFilter{Kind: tradingdesk.DriftLeverage})
	if err != nil || len(accs) != 1 {
		t.Fatalf("leverage items: %+v %v", accs, err)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_accounts WHERE platform_leverage = 100 AND platform_login_enabled AND state_at IS NOT NULL`); n != 6 {
		t.Errorf("%d accounts with their live state recorded, want 6", n)
	}
}

// A mismatch seen again moves its item's last seen, never adds one; an account set right on the platform by hand
// makes its item go; a money item resolved with a note is acknowledged, so the same difference opens nothing new.
// With healing switched off settings drift stays open for dealing.
func TestRepeatedChecksKeepOneItemAndTheItemGoesWhenThePlatformAgrees(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.svc.SaveDeskSettings(ctx, b.ten, admin, tradingdesk.DeskSettings{HealSettings: false}); err != nil {
		t.Fatal(err)
	}
	_, acc := b.walletTrader(t, 0)
	_, other := b.walletTrader(t, 0)
	if err := b.sim.Faults.LeverageByHand(acc.Login, 200); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.Faults.BalanceByHand(other.Login, decimal.RequireFromString("40.00"), "by hand"); err != nil {
		t.Fatal(err)
	}
	b.synced(t, acc.ServerID, acc.Login, other.Login)
	first := b.driftCheck(t, acc.ServerID)
	if want := "2 accounts checked, 2 drifts: 1 leverage for dealing, 1 balance for finance"; first.Summary() != want {
		t.Errorf("summary %q, want %q", first.Summary(), want)
	}
	was := b.drift(t, tradingdesk.DriftFilter{Kind: tradingdesk.DriftLeverage})
	for range 2 {
		b.driftCheck(t, acc.ServerID)
	}
	now := b.drift(t, tradingdesk.DriftFilter{})
	if len(now) != 2 || len(was) != 1 {
		t.Fatalf("after three checks: %+v", now)
	}
	lev := b.drift(t, tradingdesk.DriftFilter{Kind: tradingdesk.DriftLeverage})[0]
	if lev.ID != was[0].ID || !lev.LastSeen.After(was[0].LastSeen) || !lev.FirstSeen.Equal(was[0].FirstSeen) || lev.Status != tradingdesk.DriftOpen {
		t.Errorf("seen again: %+v, was %+v", lev, was[0])
	}
	if p, _ := b.sim.Account(ctx, acc.Login); p.Leverage != 200 {
		t.Errorf("healed with healing switched off: %+v", p)
	}

	// Settings items are not resolved by hand; a note is required.
	if _, err := b.svc.ResolveDrift(ctx, b.ten, admin, lev.ID, "fine"); !errors.Is(err, tradingdesk.ErrNotMoney) {
		t.Errorf("resolving a leverage item: %v", err)
	}
	money := b.drift(t, tradingdesk.DriftFilter{Kind: tradingdesk.DriftBalance})[0]
	if _, err := b.svc.ResolveDrift(ctx, b.ten, admin, money.ID, "  "); fieldOf(err) != "note" {
		t.Errorf("an empty note: %v", err)
	}
	if _, err := b.svc.ResolveDrift(ctx, b.ten, admin, money.ID, "The dealer's compensation for a requote, approved by the head of dealing."); err != nil {
		t.Fatal(err)
	}

	// Set right on the platform by hand: the leverage item goes; the acknowledged money opens nothing new.
	if err := b.sim.Faults.LeverageByHand(acc.Login, 100); err != nil {
		t.Fatal(err)
	}
	c := b.driftCheck(t, acc.ServerID)
	if c.Summary() != "2 accounts checked, no drift" {
		t.Errorf("summary %q", c.Summary())
	}
	for _, it := range b.drift(t, tradingdesk.DriftFilter{}) {
		want := map[tradingdesk.DriftKind]tradingdesk.DriftStatus{tradingdesk.DriftLeverage: tradingdesk.DriftGone, tradingdesk.DriftBalance: tradingdesk.DriftResolved}
		if it.Status != want[it.Kind] || it.ClosedAt == nil {
			t.Errorf("%s item: %+v", it.Kind, it)
		}
	}
	if n := len(b.drift(t, tradingdesk.DriftFilter{})); n != 2 {
		t.Errorf("%d items, want 2", n)
	}
	// A new difference on top of the acknowledged one is a new item of that difference.
	if err := b.sim.Faults.BalanceByHand(other.Login, decimal.RequireFromString("-15.00"), "by hand"); err != nil {
		t.Fatal(err)
	}
	b.synced(t, other.ServerID, other.Login)
	b.driftCheck(t, acc.ServerID)
	open := b.drift(t, tradingdesk.DriftFilter{Status: tradingdesk.DriftOpen})
	if len(open) != 1 || open[0].Difference == nil || open[0].Difference.Minor != -1500 || open[0].CRMValue != "40.00 USD" || open[0].PlatformValue != "25.00 USD" {
		t.Errorf("after a withdrawal by hand: %+v", open)
	}
	trail := b.sentences(t)
	for _, want := range []string{"Account " + acc.Login + " on Sim sim has leverage 1:200 on the platform; the CRM has 1:100",
		"Account " + acc.Login + " on Sim sim agrees with the CRM again: leverage 1:100",
		"resolved the balance drift of account " + other.Login + " on Sim sim (40.00 USD on the platform, 0.00 USD in the CRM): The dealer's compensation",
		"changed the trading desk's rules; swap-free no longer waits for approval; settings drift is no longer healed automatically"} {
		if !strings.Contains(trail, want) {
			t.Errorf("the trail lacks %q:\n%s", want, trail)
		}
	}
}

// Money the CRM moved and the platform agrees with is no drift; balance operations from before the CRM linked an
// account (its opening balance) are acknowledged, not drift; money is compared only once deal sync has read past
// every done transfer; an account with a request in flight is skipped, and checked once the request is done.
func TestMoneyTheCRMMovedAgreesAndAccountsInFlightAreSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	client, acc := b.walletTrader(t, 100_000)
	x := b.transfer(t, client, acc, tradingdesk.ToAccount, "300.00")
	if err := b.svc.RunTransfer(ctx, b.ten, x.ID, false); err != nil {
		t.Fatal(err)
	}
	y := b.transfer(t, client, acc, tradingdesk.ToWallet, "120.00")
	if err := b.svc.RunTransfer(ctx, b.ten, y.ID, false); err != nil {
		t.Fatal(err)
	}
	// Not synced yet: the money is not compared (the platform's deals are not in), the settings are.
	if err := b.sim.Faults.BalanceByHand(acc.Login, decimal.RequireFromString("5.00"), "by hand"); err != nil {
		t.Fatal(err)
	}
	if c := b.driftCheck(t, acc.ServerID); c.Summary() != "1 account checked, no drift" {
		t.Errorf("before the sync: %q", c.Summary())
	}
	// Synced, but the transfer finished within driftSettle of the sync: not compared yet either.
	b.synced(t, acc.ServerID, acc.Login)
	if c := b.driftCheck(t, acc.ServerID); c.Summary() != "1 account checked, no drift" {
		t.Errorf("right after the transfers: %q", c.Summary())
	}
	b.exec(t, `UPDATE trading_transfers SET finished_at = finished_at - interval '10 minutes'`)
	c := b.driftCheck(t, acc.ServerID)
	items := b.drift(t, tradingdesk.DriftFilter{Kind: tradingdesk.DriftBalance})
	if len(items) != 1 || items[0].CRMValue != "180.00 USD" || items[0].PlatformValue != "185.00 USD" {
		t.Fatalf("%q: %+v", c.Summary(), items)
	}

	// An account linked with money it had before the CRM knew it.
	srv := acc.ServerID
	a, err := b.sim.CreateAccount(ctx, trading.NewAccount{Group: "standard-usd", Leverage: 100, Password: "Tr4de!Desk"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.sim.BalanceOperation(ctx, trading.BalanceOp{Login: a.Login, Kind: trading.Deposit, Amount: decimal.NewFromInt(10_000),
		OperationID: "fund-" + a.Login}); err != nil {
		t.Fatal(err)
	}
	linked, _ := b.linked(t, b.ten, srv, a.Login, "active", time.Now().Add(-time.Hour))
	b.exec(t, `UPDATE trading_accounts SET opening_balance_at = now() WHERE id = $1`, linked)
	b.synced(t, srv, a.Login)
	b.driftCheck(t, srv)
	if got := b.drift(t, tradingdesk.DriftFilter{Account: linked}); len(got) != 0 {
		t.Errorf("the opening balance read as drift: %+v", got)
	}

	// A request in flight: skipped, whatever the platform says; checked once it is done.
	if err := b.sim.Faults.LeverageByHand(a.Login, 300); err != nil {
		t.Fatal(err)
	}
	b.exec(t, `INSERT INTO trading_requests (id, kind, client_id, server_id, account_type_id, account_id, currency, leverage, group_name, created_by)
		SELECT gen_random_uuid(), 'open_account', client_id, server_id, account_type_id, id, 'USD', 300, 'standard-usd', 'test'
		FROM trading_accounts WHERE id = $1`, linked)
	c = b.driftCheck(t, srv)
	if c.Skipped != 1 || len(b.drift(t, tradingdesk.DriftFilter{Account: linked})) != 0 {
		t.Errorf("in flight: %q %+v", c.Summary(), b.drift(t, tradingdesk.DriftFilter{Account: linked}))
	}
	b.exec(t, `UPDATE trading_requests SET status = 'done' WHERE account_id = $1`, linked)
	b.driftCheck(t, srv)
	if got := b.drift(t, tradingdesk.DriftFilter{Account: linked}); len(got) != 1 || got[0].Kind != tradingdesk.DriftLeverage {
		t.Errorf("once done: %+v", got)
	}
}

// Another brokerage's drift item is not found, read or resolved; a check of another brokerage's server is not
// found either.
func TestAnotherTenantsDriftItemIsNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, acc := b.walletTrader(t, 0)
	if err := b.sim.Faults.BalanceByHand(acc.Login, decimal.RequireFromString("9.00"), "by hand"); err != nil {
		t.Fatal(err)
	}
	b.synced(t, acc.ServerID, acc.Login)
	b.driftCheck(t, acc.ServerID)
	items := b.drift(t, tradingdesk.DriftFilter{})
	if len(items) != 1 {
		t.Fatalf("items %+v", items)
	}
	other := b.p.NewTenant(t, "")
	if _, err := b.svc.DriftItem(ctx, other, items[0].ID); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("read from another tenant: %v", err)
	}
	if _, err := b.svc.ResolveDrift(ctx, other, admin, items[0].ID, "not mine"); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("resolved from another tenant: %v", err)
	}
	if _, err := b.svc.CheckDrift(ctx, other, acc.ServerID); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("checked from another tenant: %v", err)
	}
	if list, err := b.svc.DriftItems(ctx, other, tradingdesk.DriftFilter{}); err != nil || len(list) != 0 {
		t.Errorf("listed in another tenant: %+v %v", list, err)
	}
}

// Summaries read as one line per server.
func TestTheDriftSummaryReadsAsOneLine(t *testing.T) {
	t.Parallel()
	at := time.Now()
	for _, c := range []struct {
		check tradingdesk.DriftCheck
		want  string
	}{
		{tradingdesk.DriftCheck{}, "Not checked yet."},
		{tradingdesk.DriftCheck{Running: true}, "The first drift check is running."},
		{tradingdesk.DriftCheck{FinishedAt: &at, Checked: 1}, "1 account checked, no drift"},
		{tradingdesk.DriftCheck{FinishedAt: &at, Checked: 412, Outcomes: []tradingdesk.DriftOutcome{{Kind: "leverage", Outcome: "healed", Count: 2},
			{Kind: "balance", Outcome: "for finance", Count: 1}}}, "412 accounts checked, 3 drifts: 2 leverage healed, 1 balance for finance"},
		{tradingdesk.DriftCheck{FinishedAt: &at, Checked: 10, Skipped: 2, Unread: 1, Error: "login 5 does not exist",
			Outcomes: []tradingdesk.DriftOutcome{{Kind: "swap_free", Outcome: "healing failed", Count: 1}}},
			"10 accounts checked, 1 drift: 1 swap-free healing failed; 2 skipped (a change on its way); 1 not read (login 5 does not exist)"},
		{tradingdesk.DriftCheck{FinishedAt: &at, Unread: 3, Error: "the server is down"}, "Not checked: the server is down"},
	} {
		if got := c.check.Summary(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.check, got, c.want)
		}
	}
}

// The drift report through the API and the page: each server's summary in one line, the items with their filters,
// finance resolving a money item with a note (a settings item is 409, another tenant's 404), a bad filter 400, and
// the client page's Trading tab showing the account's live state and its open drift.
func TestTheDriftPageAndAPIShowTheSummaryAndFinanceResolves(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.svc.SaveDeskSettings(ctx, b.ten, admin, tradingdesk.DeskSettings{HealSettings: false}); err != nil {
		t.Fatal(err)
	}
	_, acc := b.walletTrader(t, 0)
	if err := b.sim.Faults.BalanceByHand(acc.Login, decimal.RequireFromString("70.00"), "by hand"); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.Faults.LeverageByHand(acc.Login, 50); err != nil {
		t.Fatal(err)
	}
	b.synced(t, acc.ServerID, acc.Login)
	b.driftCheck(t, acc.ServerID)
	d := b.desk(t, b.ten)
	_, reader := d.staff(t, b, "readonly")
	_, finance := d.staff(t, b, "finance")

	page := d.page(t, reader, "/backoffice/trading/drift")
	body := string(page.Body)
	for _, want := range []string{"1 account checked, 2 drifts: 1 leverage for dealing, 1 balance for finance", acc.Login, "70.00 USD",
		"Open · finance", "Not healed: automatic healing is switched off"} {
		if page.Status != 200 || !strings.Contains(body, want) {
			t.Errorf("the page (%d) lacks %q", page.Status, want)
		}
	}
	if strings.Contains(body, `name="note"`) || strings.Contains(body, "Check now") {
		t.Error("a read-only user is offered resolving or checking")
	}
	if p := d.page(t, reader, "/backoffice/trading/drift?kind=leverage&status=all"); !strings.Contains(string(p.Body), "1:50") || strings.Contains(string(p.Body), "70.00 USD") {
		t.Errorf("the kind filter: %s", p.Body)
	}

	r := d.api(t, reader, "/api/v1/trading/drift?kind=balance")
	var rep tradingdesk.DriftResponse
	if r.Status == 200 {
		r.Decode(t, &rep)
	}
	if r.Status != 200 || len(rep.Items) != 1 || len(rep.Checks) != 1 || rep.Items[0].Difference != "70.00" ||
		rep.Checks[0].Summary != "1 account checked, 2 drifts: 1 leverage for dealing, 1 balance for finance" {
		t.Fatalf("the report: %d %s", r.Status, r.Body)
	}
	if r := d.api(t, reader, "/api/v1/trading/drift?kind=colour"); r.Status != 400 {
		t.Errorf("a bad filter: %d %s", r.Status, r.Body)
	}
	money := rep.Items[0]
	lev := b.drift(t, tradingdesk.DriftFilter{Kind: tradingdesk.DriftLeverage})[0]
	post := func(token, path string, body any) webtest.Reply {
		return webtest.Send(t, d.app, webtest.JSON("POST", path, body, "Authorization", webtest.Bearer(token)))
	}
	if r := post(reader, "/api/v1/trading/drift/"+money.ID.String()+"/resolve", tradingdesk.ResolveDriftBody{Note: "x"}); r.Status != 403 {
		t.Errorf("a read-only user resolving: %d", r.Status)
	}
	if r := post(finance, "/api/v1/trading/drift/"+lev.ID.String()+"/resolve", tradingdesk.ResolveDriftBody{Note: "x"}); r.Status != 409 {
		t.Errorf("resolving a leverage item: %d %s", r.Status, r.Body)
	}
	if r := post(finance, "/api/v1/trading/drift/"+money.ID.String()+"/resolve", tradingdesk.ResolveDriftBody{}); r.Status != 422 ||
		!strings.Contains(string(r.Body), `"note"`) {
		t.Errorf("resolving without a note: %d %s", r.Status, r.Body)
	}
	if r := post(finance, "/api/v1/trading/drift/"+money.ID.String()+"/resolve", tradingdesk.ResolveDriftBody{Note: "Requote compensation"}); r.Status != 200 ||
		!strings.Contains(string(r.Body), `"status":"resolved"`) {
		t.Errorf("finance resolving: %d %s", r.Status, r.Body)
	}

	// Another tenant's staff: 404 for the item, nothing in the list.
	other := b.p.NewTenant(t, "")
	od := b.desk(t, other)
	_, otherFinance := od.staff(t, b, "finance")
	if r := od.api(t, otherFinance, "/api/v1/trading/drift/"+lev.ID.String()); r.Status != 404 {
		t.Errorf("another tenant reading: %d %s", r.Status, r.Body)
	}
	if r := webtest.Send(t, od.app, webtest.JSON("POST", "/api/v1/trading/drift/"+money.ID.String()+"/resolve", tradingdesk.ResolveDriftBody{Note: "x"},
		"Authorization", webtest.Bearer(otherFinance))); r.Status != 404 {
		t.Errorf("another tenant resolving: %d %s", r.Status, r.Body)
	}

	// The client's Trading tab: the live state as last read and the open drift.
	list, err := b.svc.ClientAccounts(ctx, b.ten, acc.ClientID)
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	a := list[0]
	if a.Platform == nil || a.Platform.Leverage != 50 || !a.Platform.Access.TradingEnabled || a.Balance == nil || a.Balance.Minor != 7_000 ||
		len(a.OpenDrift) != 1 || a.OpenDrift[0] != tradingdesk.DriftLeverage {
		t.Errorf("the account's live state: %+v %+v", a, a.Platform)
	}
	if r := d.api(t, reader, "/api/v1/clients/"+acc.ClientID.String()+"/trading"); r.Status != 200 || !strings.Contains(string(r.Body), `"open_drift":["leverage"]`) ||
		!strings.Contains(string(r.Body), `"leverage":50`) {
		t.Errorf("the client's trading: %d %s", r.Status, r.Body)
	}
}

// downReads is a platform that answers no read of an account.
type downReads struct{ trading.Connector }

func (downReads) Account(context.Context, string) (trading.Account, error) {
	return trading.Account{}, &trading.PlatformError{Kind: trading.ErrUnavailable, Platform: trading.PlatformSimulator, Op: "account",
		Message: "the platform is away"}
}

// A platform that answers no read leaves the items as they were (an account not read is not found agreeing) and
// says so in the summary; the next check that reads it closes what agrees again.
func TestAnUnreadAccountKeepsItsItemsUntilItIsRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.svc.SaveDeskSettings(ctx, b.ten, admin, tradingdesk.DeskSettings{HealSettings: false}); err != nil {
		t.Fatal(err)
	}
	_, acc := b.walletTrader(t, 0)
	if err := b.sim.Faults.LeverageByHand(acc.Login, 200); err != nil {
		t.Fatal(err)
	}
	b.driftCheck(t, acc.ServerID)
	if err := b.sim.Faults.LeverageByHand(acc.Login, 100); err != nil { // set right by hand
		t.Fatal(err)
	}
	b.wrap = func(c trading.Connector) trading.Connector { return downReads{c} }
	b.svc = b.service(t, nil) // a worker whose session is dialled afresh
	c := b.driftCheck(t, acc.ServerID)
	if c.Checked != 0 || c.Unread != 1 || !strings.HasPrefix(c.Summary(), "Not checked: the platform is away") {
		t.Errorf("the platform away: %+v %q", c, c.Summary())
	}
	if open := b.drift(t, tradingdesk.DriftFilter{Status: tradingdesk.DriftOpen}); len(open) != 1 {
		t.Errorf("an unread account's item changed: %+v", open)
	}
	b.wrap = nil
	b.svc = b.service(t, nil)
	if c := b.driftCheck(t, acc.ServerID); c.Summary() != "1 account checked, no drift" {
		t.Errorf("read again: %q", c.Summary())
	}
	if gone := b.drift(t, tradingdesk.DriftFilter{Status: tradingdesk.DriftGone}); len(gone) != 1 {
		t.Errorf("the item did not go: %+v", b.drift(t, tradingdesk.DriftFilter{}))
	}
}

// Credit the CRM booked (a credit operation: credit in, then part of it out) agrees with the platform's credit deals;
// credit given by hand on the platform is credit drift for finance, never healed, said in words; resolved with a
// note, the same difference opens nothing new, and a further difference does.
func TestCreditTheCRMBookedAgreesAndCreditByHandIsDriftForFinance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, acc := b.walletTrader(t, 0)
	credit := func(kind trading.BalanceKind, minor int64, after string) tradingdesk.Credit {
		t.Helper()
		var x tradingdesk.Credit
		if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			x, err = b.svc.CreditTx(ctx, tx, tradingdesk.CreditOrder{Key: "test:" + uuid.NewString(), Account: acc.ID, Kind: kind, Amount: minor,
				Comment: "Bonus test", By: "test", After: after})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := b.svc.RunCredit(ctx, b.ten, x.ID, false); err != nil {
			t.Fatal(err)
		}
		return x
	}
	in := credit(trading.CreditIn, 100_00, "")
	credit(trading.CreditOut, 40_00, in.Key)
	b.exec(t, `UPDATE trading_credits SET finished_at = finished_at - interval '10 minutes'`)
	b.synced(t, acc.ServerID, acc.Login)
	if c := b.driftCheck(t, acc.ServerID); c.Summary() != "1 account checked, no drift" {
		t.Fatalf("the CRM's own credit: %q %+v", c.Summary(), b.drift(t, tradingdesk.DriftFilter{}))
	}

	if err := b.sim.Faults.CreditByHand(acc.Login, decimal.RequireFromString("25.00"), "dealer goodwill"); err != nil {
		t.Fatal(err)
	}
	b.synced(t, acc.ServerID, acc.Login)
	c := b.driftCheck(t, acc.ServerID)
	items := b.drift(t, tradingdesk.DriftFilter{Kind: tradingdesk.DriftCredit})
	if len(items) != 1 || items[0].CRMValue != "60.00 USD" || items[0].PlatformValue != "85.00 USD" || items[0].Owner != tradingdesk.OwnerFinance ||
		items[0].Difference == nil || items[0].Difference.Minor != 25_00 || items[0].Healing != "" {
		t.Fatalf("%q: %+v", c.Summary(), items)
	}
	if want := "1 account checked, 1 drift: 1 credit for finance"; c.Summary() != want {
		t.Errorf("summary %q, want %q", c.Summary(), want)
	}
	if got := b.simCredit(t, acc.Login); got != "85.00" {
		t.Errorf("credit drift was touched: %s", got)
	}
	if s := b.sentences(t); !strings.Contains(s, "The credit operations of account "+acc.Login+" on Sim sim add up to 85.00 USD on the platform and 60.00 USD in the CRM: for finance") {
		t.Errorf("the trail:\n%s", s)
	}
	if _, err := b.svc.ResolveDrift(ctx, b.ten, admin, items[0].ID, "goodwill credit the dealer gave by hand, approved by the head of dealing"); err != nil {
		t.Fatal(err)
	}
	b.driftCheck(t, acc.ServerID)
	if open := b.drift(t, tradingdesk.DriftFilter{Kind: tradingdesk.DriftCredit, Status: tradingdesk.DriftOpen}); len(open) != 0 {
		t.Errorf("the acknowledged difference opened %+v", open)
	}
	if err := b.sim.Faults.CreditByHand(acc.Login, decimal.RequireFromString("-5.00"), "taken back"); err != nil {
		t.Fatal(err)
	}
	b.synced(t, acc.ServerID, acc.Login)
	b.driftCheck(t, acc.ServerID)
	if open := b.drift(t, tradingdesk.DriftFilter{Kind: tradingdesk.DriftCredit, Status: tradingdesk.DriftOpen}); len(open) != 1 || open[0].Difference.Minor != -5_00 {
		t.Errorf("a further difference: %+v", open)
	}
}
