package partners

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
)

// The partner area's figures for ATLAS > BRAVO > CHARLIE after deals: each partner's portal totals equal what the
// back office's figures (money: the ib_manager's API), the commission report's net for the partner and its ledger
// wallet say, to the cent; its clients are its own, with masked emails, and its day chart adds up to the same total
// (and a period's report to that period's days); a partner never sees a row of another.
func TestThePortalsFiguresEqualTheBackOfficeTheReportAndTheLedgerAndStayInTheSubtree(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	at := time.Now().Add(-time.Minute)
	tr.closed(t, tr.acct, closing("9101", "XAUUSD.m", "2", at), time.Now())
	tr.closed(t, tr.acct, closing("9102", "EURUSD", "0.5", at), time.Now())
	before := closing("9103", "EURUSD", "1", at)
	tr.closed(t, tr.acct, before, time.Now())
	tr.changed(t, tr.acct, before, nil, time.Now()) // cancelled: reversed
	// A partner elsewhere in the tenant, with a client and a deal of its own.
	other := tr.partner(t, "Elsewhere Ltd", "IB-ELSE", &tr.plan.ID, nil)
	eve := tr.client(t, "Eve")
	tr.register(t, eve, "IB-ELSE", time.Now().Add(-96*time.Hour))
	eveAcct := tr.account(eve, "500002")
	tr.closed(t, eveAcct, closing("9201", "EURUSD", "3", at), time.Now())
	tr.closed(t, eveAcct, closing("9202", "XAUUSD", "1.25", time.Now().Add(-72*time.Hour)), time.Now()) // three days ago
	tr.post(t)

	for name, id := range map[string]struct{ me, notMine [16]byte }{
		"ATLAS": {tr.atlas, other}, "CHARLIE": {tr.charlie, other}, "ELSEWHERE": {other, tr.atlas},
	} {
		p, err := tr.svc.Partner(ctx, tr.ten, id.me)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := tr.svc.PortalSummary(ctx, tr.ten, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		earned, wallet, err := tr.svc.money(ctx, tr.ten, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Earned["USD"] != formatSums(earned)["USD"] || sum.Wallet["USD"] != formatSums(wallet)["USD"] || sum.Earned["USD"] == "" ||
			earned["USD"] != tr.wallet(t, p.ID) {
			t.Errorf("%s: portal %v / %v, back office %v / %v, ledger %d", name, sum.Earned, sum.Wallet, earned, wallet, tr.wallet(t, p.ID))
		}
		var days int64
		cur := tr.plan.Currency
		list, err := tr.svc.DailyEarnings(ctx, tr.ten, p.ID, cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			days += d.Minor
		}
		if days != earned["USD"] {
			t.Errorf("%s: the chart adds up to %d, earned %d", name, days, earned["USD"])
		}
		report, err := tr.svc.CommissionReport(ctx, tr.ten, ReportFilter{Partner: &p.ID})
		if err != nil {
			t.Fatal(err)
		}
		total := report.Totals()[p.ID]["USD"]
		if total.Net != earned["USD"] || total.Net != tr.wallet(t, p.ID) || money.Format(total.Net, cur) != sum.Earned["USD"] ||
			report.Totals()[uuid.Nil]["USD"].Net != total.Net {
			t.Errorf("%s: the report's net %d (%+v), earned %d, ledger %d, portal %s", name, total.Net, report.Rows, earned["USD"], tr.wallet(t, p.ID),
				sum.Earned["USD"])
		}
		// The last two days: the report of the period is the chart's days of the period.
		today := time.Now().UTC().Truncate(24 * time.Hour)
		from, to := today.AddDate(0, 0, -1), today.AddDate(0, 0, 1)
		report, err = tr.svc.CommissionReport(ctx, tr.ten, ReportFilter{Partner: &p.ID, From: &from, To: &to, Per: "day"})
		if err != nil {
			t.Fatal(err)
		}
		var period int64
		for _, d := range list {
			if !d.Day.Before(from) {
				period += d.Minor
			}
		}
		if got := report.Totals()[p.ID]["USD"].Net; got != period {
			t.Errorf("%s: the report of the last two days %d, the chart's %d", name, got, period)
		}
		rows := tr.rows(t, CommissionFilter{Partner: &p.ID})
		for _, r := range rows {
			if *r.PartnerID != p.ID || *r.PartnerID == id.notMine {
				t.Errorf("%s sees a row of %s", name, r.PartnerID)
			}
		}
	}
	// CHARLIE's own client, masked, with its lots net of the cancelled deal; ATLAS has no direct client.
	p, _ := tr.svc.Partner(ctx, tr.ten, tr.charlie)
	sum, err := tr.svc.PortalSummary(ctx, tr.ten, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Clients) != 1 || !strings.HasPrefix(sum.Clients[0].Client, "d***@") || sum.Clients[0].Lots != decimal.RequireFromString("2.5").String() ||
		sum.Clients[0].Earned["USD"] != "22.50" || len(sum.SubIBs) != 0 {
		t.Errorf("CHARLIE's clients: %+v, sub-IBs %+v", sum.Clients, sum.SubIBs)
	}
	a, _ := tr.svc.Partner(ctx, tr.ten, tr.atlas)
	sum, err = tr.svc.PortalSummary(ctx, tr.ten, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Clients) != 0 || len(sum.SubIBs) != 2 || sum.SubIBs[0].Name != "Bravo Introducers" || sum.SubIBs[1].Depth != 2 ||
		sum.SubIBs[1].Earned["USD"] != "22.50" {
		t.Errorf("ATLAS's clients %+v, sub-IBs %+v", sum.Clients, sum.SubIBs)
	}
	for _, n := range sum.SubIBs {
		if n.Name == "Elsewhere Ltd" {
			t.Error("ATLAS sees a partner outside its subtree")
		}
	}

	// CHARLIE's clients by pages of one: a newer client first, then Dora with the same figures; a client CHARLIE had
	// and another partner has now is in no page and not in the total.
	finn, gus := tr.client(t, "Finn"), tr.client(t, "Gus")
	tr.register(t, finn, "IB-CHARLIE", time.Now().Add(-30*time.Minute))
	tr.register(t, gus, "IB-CHARLIE", time.Now().Add(-20*time.Minute))
	if err := tr.svc.Attribute(ctx, tr.ten, staffer, gus, &other, time.Now().Add(-10*time.Minute), "moved to Elsewhere"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	var after *ReferredAfter
	for range 3 {
		page, err := tr.svc.ReferredClients(ctx, tr.ten, tr.charlie, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 2 || len(page.Clients) > 1 {
			t.Fatalf("a page of CHARLIE's clients: %d of %d", len(page.Clients), page.Total)
		}
		for _, r := range page.Clients {
			seen = append(seen, r.Shown[:1]+" "+r.Lots.String()+" "+formatSums(r.Earned)["USD"])
		}
		if after = page.Next; after == nil {
			break
		}
	}
	if strings.Join(seen, ", ") != "f 0 , d 2.5 22.50" {
		t.Errorf("CHARLIE's clients by pages: %q", seen)
	}
}
