package partners

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
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

func TestEachClientDisplayRuleShowsOnlyWhatItSays(t *testing.T) {
	id := uuid.MustParse("0190f3a2-7b1c-7d4e-9f00-5c1d9e0a3b7f")
	sofia := clients.Contact{Email: "sofia.romano@example.com", FirstName: "Sofia", LastName: "romano"}
	noLast := clients.Contact{Email: "li@example.com", FirstName: "Li"}
	for _, c := range []struct {
		rule    ClientDisplay
		contact clients.Contact
		known   bool
		want    string
	}{
		{DisplayMaskedEmail, sofia, true, "s***@example.com"},
		{DisplayMaskedName, sofia, true, "Sofia R."},
		{DisplayMaskedName, noLast, true, "Li"},
		{DisplayMaskedName, clients.Contact{LastName: "émile"}, true, "É."},
		{DisplayName, sofia, true, "Sofia romano"},
		{DisplayEmail, sofia, true, "sofia.romano@example.com"},
		{DisplayReference, sofia, true, "Client 9E0A3B7F"},
		{DisplayReference, clients.Contact{}, false, "Client 9E0A3B7F"}, // a reference needs no contact
		{DisplayName, clients.Contact{}, true, "***"},
		{DisplayEmail, clients.Contact{}, false, "***"},
		{DisplayMaskedEmail, clients.Contact{}, false, "***"},
	} {
		if got := c.rule.Show(id, c.contact, c.known); got != c.want {
			t.Errorf("%s of %+v (known %t) = %q, want %q", c.rule, c.contact, c.known, got, c.want)
		}
		if c.rule != DisplayEmail && strings.Contains(c.rule.Show(id, sofia, true), "romano@") {
			t.Errorf("%s shows the whole email", c.rule)
		}
	}
}

// The tenant's rule decides what the partner area shows of referred clients; an unknown rule is refused by field
// and changes nothing; each change is audited in words.
func TestTheTenantsRuleDecidesHowPartnersSeeTheirReferredClients(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	p, _ := tr.svc.Partner(ctx, tr.ten, tr.charlie)
	shown := func() (string, string) {
		t.Helper()
		sum, err := tr.svc.PortalSummary(ctx, tr.ten, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Clients) != 1 {
			t.Fatalf("CHARLIE's clients: %+v", sum.Clients)
		}
		return sum.Clients[0].Client, sum.ClientDisplay
	}
	if got, rule := shown(); !strings.HasPrefix(got, "d***@") || rule != "masked_email" {
		t.Errorf("by default: %q (%s)", got, rule)
	}
	err := tr.svc.SaveSettings(ctx, tr.ten, staffer, Settings{ClientDisplay: "everything", SymbolSuffixes: []string{"m"}})
	if v, ok := validation.As(err); !ok || len(v.Fields) != 1 || v.Fields[0].Field != "referred_client_display" {
		t.Fatalf("an unknown rule: %v", err)
	}
	if st, _ := tr.svc.Settings(ctx, tr.ten); len(st.SymbolSuffixes) != 0 || st.ClientDisplay != DisplayMaskedEmail {
		t.Errorf("a refused change changed %+v", st)
	}
	for _, c := range []struct {
		rule ClientDisplay
		want string
	}{{DisplayMaskedName, "Dora T."}, {DisplayName, "Dora Trader"}, {DisplayReference, Reference(tr.dora)}} {
		rule, want := c.rule, c.want
		if err := tr.svc.SaveSettings(ctx, tr.ten, staffer, Settings{ClientDisplay: rule}); err != nil {
			t.Fatal(err)
		}
		if got, r := shown(); got != want || r != string(rule) {
			t.Errorf("%s: %q (%s), want %q", rule, got, r, want)
		}
	}
	// Changing the display leaves the suffixes, and the other way round.
	if err := tr.svc.SaveSettings(ctx, tr.ten, staffer, Settings{SymbolSuffixes: []string{"pro"}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := tr.svc.Settings(ctx, tr.ten); st.ClientDisplay != DisplayReference || len(st.SymbolSuffixes) != 1 {
		t.Errorf("settings now %+v", st)
	}
	page, err := tr.trail.List(ctx, tr.ten, audit.Filter{TargetType: "partner_settings", TargetID: "referred_client_display"}, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 3 {
		t.Errorf("%d changes of the rule audited, want 3", len(page.Rows))
	}
}

// The client page's figures: a client's attributions over time, newest first, and what their deals paid each
// partner by level, net of reversals, equal to the client's rows.
func TestAClientsAttributionsAndCommissionsAreTheirRows(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	at := time.Now().Add(-time.Minute)
	tr.closed(t, tr.acct, closing("9501", "EURUSD", "1", at), time.Now())
	cancelled := closing("9502", "EURUSD", "2", at)
	tr.closed(t, tr.acct, cancelled, time.Now())
	tr.changed(t, tr.acct, cancelled, nil, time.Now())
	if err := tr.svc.Attribute(ctx, tr.ten, staffer, tr.dora, &tr.bravo, time.Time{}, "moved to Bravo's desk"); err != nil {
		t.Fatal(err)
	}
	atts, err := tr.svc.ClientAttributions(ctx, tr.ten, tr.dora)
	if err != nil || len(atts) != 2 || *atts[0].PartnerID != tr.bravo || atts[0].Source != "staff" || atts[0].Reason != "moved to Bravo's desk" ||
		*atts[1].PartnerID != tr.charlie || atts[1].Code != "ib-charlie" {
		t.Fatalf("attributions %+v %v", atts, err)
	}
	sums, err := tr.svc.ClientCommissions(ctx, tr.ten, tr.dora)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uuid.UUID]int64{}
	for _, r := range tr.rows(t, CommissionFilter{Client: &tr.dora}) {
		if r.PartnerID != nil && r.Kind != KindNothing {
			want[*r.PartnerID] += r.Amount
		}
	}
	got := map[uuid.UUID]int64{}
	for _, x := range sums {
		got[x.PartnerID] += x.Net
		if x.PartnerID == tr.charlie && (x.Level != 1 || x.Paid != 2 || x.Reversed != 1) {
			t.Errorf("CHARLIE's line %+v", x)
		}
	}
	if !maps.Equal(got, want) || got[tr.charlie] <= 0 {
		t.Errorf("client commissions %v, rows say %v", got, want)
	}
}
