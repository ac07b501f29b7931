package partners

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestMaskEmailKeepsTheFirstCharacterAndTheDomain(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com": "a***@example.com",
		"é@example.org":     "é***@example.org",
		"a.b@c@example.com": "a***@example.com",
		"no-at-sign":        "***",
		"@example.com":      "***",
		"":                  "***",
	} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

// The partner area's figures for ATLAS > BRAVO > CHARLIE after deals: each partner's portal totals equal what the
// back office's figures (money: the ib_manager's API) and its ledger wallet say; its clients are its own, with
// masked emails, and its day chart adds up to the same total; a partner never sees a row of another.
func TestThePortalsFiguresEqualTheBackOfficeAndTheLedgerAndStayInTheSubtree(t *testing.T) {
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
	tr.register(t, eve, "IB-ELSE", tr.registered)
	tr.closed(t, tr.account(eve, "500002"), closing("9201", "EURUSD", "3", at), time.Now())
	tr.post(t)

	for name, id := range map[string]struct{ me, notMine [16]byte }{
		"ATLAS": {tr.atlas, other}, "CHARLIE": {tr.charlie, other}, "ELSEWHERE": {other, tr.atlas},
	} {
		p, err := tr.svc.Partner(ctx, tr.ten, id.me)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := tr.svc.PortalSummary(ctx, tr.ten, p)
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
		rows := tr.rows(t, CommissionFilter{Partner: &p.ID})
		for _, r := range rows {
			if *r.PartnerID != p.ID || *r.PartnerID == id.notMine {
				t.Errorf("%s sees a row of %s", name, r.PartnerID)
			}
		}
	}
	// CHARLIE's own client, masked, with its lots net of the cancelled deal; ATLAS has no direct client.
	p, _ := tr.svc.Partner(ctx, tr.ten, tr.charlie)
	sum, err := tr.svc.PortalSummary(ctx, tr.ten, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Clients) != 1 || !strings.HasPrefix(sum.Clients[0].Email, "d***@") || sum.Clients[0].Lots != decimal.RequireFromString("2.5").String() ||
		sum.Clients[0].Earned["USD"] != "22.50" || len(sum.SubIBs) != 0 {
		t.Errorf("CHARLIE's clients: %+v, sub-IBs %+v", sum.Clients, sum.SubIBs)
	}
	a, _ := tr.svc.Partner(ctx, tr.ten, tr.atlas)
	sum, err = tr.svc.PortalSummary(ctx, tr.ten, a)
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
}
