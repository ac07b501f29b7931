package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/bonuses"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// deliverOutbox runs the tenant's pending outbox rows of taskType through the worker's handlers, as the relay and
// a worker would, without either (the test's server runs no worker).
func deliverOutbox(t *testing.T, a *app, ten tenants.Tenant, taskType string) int {
	t.Helper()
	ctx := context.Background()
	type row struct {
		key     string
		payload json.RawMessage
	}
	var rows []row
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		// The task's own rows, and the rows of the events the relay spreads to it.
		rs, err := tx.Query(ctx, `SELECT idem_key, payload FROM outbox WHERE (task_type = $1 OR task_type = ANY($2)) AND enqueued_at IS NULL`,
			taskType, a.events.RowTypes(taskType))
		if err != nil {
			return err
		}
		var r row
		_, err = pgx.ForEachRow(rs, []any{&r.key, &r.payload}, func() error { rows = append(rows, r); return nil })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	mux, _, err := a.tasks()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		b, _ := json.Marshal(jobs.Envelope{TenantID: ten.ID, Key: r.key, Payload: r.payload})
		if err := mux.ProcessTask(ctx, asynq.NewTask(taskType, b)); err != nil {
			t.Fatal(err)
		}
	}
	return len(rows)
}

var withdrawalRowLink = regexp.MustCompile(`href="/backoffice/(?:compliance/)?withdrawals/([0-9a-f-]{36})"`)

// Through the pages: the trader deposits 300.00 by card and withdraws 120.00 from the portal's form (a deposit with
// no trading since: flagged); finance's queue lists it, its page shows the checks, the money in by method and the
// card refund first; finance cannot approve before compliance; compliance clears it from its own page; finance
// approves; the dashboard's tiles count it.
func TestAWithdrawalFromThePortalPageThroughComplianceAndFinancePages(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	// A bonus rule that a withdrawal forfeits pro rata: the deposit earns 150.00 of bonus.
	if _, err := w.a.bonuses.CreateRule(context.Background(), w.ten, audit.System("test"), "Half, pro rata", "USD", bonuses.Terms{Active: true,
		Percent: decimal.NewFromInt(50), LotsPerUnit: decimal.RequireFromString("0.5"), ValidDays: 30, Forfeit: bonuses.ForfeitProRata}); err != nil {
		t.Fatal(err)
	}
	w.deposit(t, w.trader, "card", "300.00", "USD", payments.NotifiedPaid)
	if n := deliverOutbox(t, w.a, w.ten, "event:bonuses.grant"); n != 1 {
		t.Fatalf("%d grant deliveries", n)
	}
	trader := w.portal(t)
	if r := trader.get("/portal/withdrawals"); r.status != 200 || !strings.Contains(pageText(r.body), "300.00 USD available") ||
		!strings.Contains(pageText(r.body), "Half, pro rata, 150.00 USD") {
		t.Fatalf("portal page: %d %.400s", r.status, r.body)
	}
	r := trader.postWithCSRF("/portal/withdrawals", "/portal/withdrawals", url.Values{"amount": {"500.00"}, "currency": {"USD"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(pageText(r.body), "amount: your USD wallet has 300.00 USD available") {
		t.Fatalf("more than the wallet: %d %.600s", r.status, pageText(r.body))
	}
	// 120.00 of 300.00 forfeits two fifths of the bonus: the page says so and asks for the confirmation.
	r = trader.postWithCSRF("/portal/withdrawals", "/portal/withdrawals", url.Values{"amount": {"120.00"}, "currency": {"USD"}})
	if text := pageText(r.body); r.status != http.StatusUnprocessableEntity || !strings.Contains(text, "This withdrawal forfeits") ||
		!strings.Contains(text, "60.00 USD of your bonus Half, pro rata, 150.00 USD") || !strings.Contains(text, "stay given up") ||
		!strings.Contains(r.body, `name="forfeit_bonuses"`) {
		t.Fatalf("unconfirmed: %d %.800s", r.status, text)
	}
	r = trader.postWithCSRF("/portal/withdrawals", "/portal/withdrawals", url.Values{"amount": {"120.00"}, "currency": {"USD"},
		"forfeit_bonuses": {"yes"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("withdraw: %d %.600s", r.status, pageText(r.body))
	}
	if r := trader.get(r.header.Get("Location")); !strings.Contains(pageText(r.body), "120.00 USD is reserved in your wallet") {
		t.Fatalf("after the request: %.600s", pageText(r.body))
	}
	fin := w.staff(t, "finance")
	q := fin.get("/backoffice/withdrawals")
	ids := withdrawalRowLink.FindAllStringSubmatch(q.body, -1)
	if q.status != 200 || len(ids) != 1 || !strings.Contains(q.body, "flagged") {
		t.Fatalf("queue: %d %v %.800s", q.status, ids, pageText(q.body))
	}
	id := ids[0][1]
	page := fin.get("/backoffice/withdrawals/" + id)
	text := pageText(page.body)
	for _, want := range []string{"Waiting for compliance", "120.00 USD back to the card", "Card (Stripe): 300.00 USD (1)", "Net deposits",
		"The client confirmed giving up 60.00 USD of the bonus Half, pro rata", "Half, pro rata, 90.00 USD", "closed 0 lots since"} {
		if !strings.Contains(text, want) {
			t.Errorf("the withdrawal's page lacks %q", want)
		}
	}
	if strings.Contains(text, "no bonus engine") { // the product has one (modules/bonuses), and it was asked
		t.Error("the withdrawal's page says no bonus engine is installed")
	}
	r = fin.postWithCSRF("/backoffice/withdrawals/"+id, "/backoffice/withdrawals/"+id+"/approve", url.Values{"reason": {"Looks fine."}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(pageText(r.body), "compliance clears it") {
		t.Fatalf("finance before compliance: %d %.500s", r.status, pageText(r.body))
	}
	comp := w.staff(t, "compliance")
	if q := comp.get("/backoffice/compliance/withdrawals"); !strings.Contains(q.body, id) {
		t.Fatalf("compliance's list: %.500s", pageText(q.body))
	}
	r = comp.postWithCSRF("/backoffice/compliance/withdrawals/"+id, "/backoffice/compliance/withdrawals/"+id+"/review",
		url.Values{"decision": {"clear"}, "reason": {"Salary; source of funds on file."}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("compliance clears: %d %.500s", r.status, pageText(r.body))
	}
	if home := fin.get("/backoffice"); !strings.Contains(pageText(home.body), "Withdrawals waiting") {
		t.Errorf("finance's dashboard has no withdrawals tile: %.400s", pageText(home.body))
	}
	r = fin.postWithCSRF("/backoffice/withdrawals/"+id, "/backoffice/withdrawals/"+id+"/approve", url.Values{"reason": {"Compliance cleared it."}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %.500s", r.status, pageText(r.body))
	}
	if tab := fin.get("/backoffice/clients/" + w.trader.String() + "?tab=withdrawals"); !strings.Contains(tab.body, `id="client-withdrawals"`) ||
		!strings.Contains(tab.body, id) {
		t.Errorf("the client page's Withdrawals tab: %d %.500s", tab.status, pageText(tab.body))
	}
	if page := fin.get("/backoffice/withdrawals/" + id); !strings.Contains(pageText(page.body), "Approved, being paid") ||
		!strings.Contains(pageText(page.body), "Cleared for finance") {
		t.Errorf("after the approval: %.800s", pageText(page.body))
	}
}
