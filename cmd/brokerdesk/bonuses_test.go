package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/bonuses"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Finance reads a client's bonuses and is refused cancelling one that is not the tenant's; sales is refused both,
// and an unknown client is 404. Through the pages: finance makes a rule from the form (a refused field is told next
// to it; the preview says what the rule does), finds it on the rules page, opens the bonuses' list and the client's
// Bonuses tab; finance reads the withdrawal rules but only the admin saves them (a bad field told next to it);
// sales is refused every one of these pages. (Grants, turnover, release, expiry and cancellation themselves, and
// the rules' API, are tested in modules/bonuses over real Postgres and the ledger.)
func TestBonusesThroughTheAPIAsFinance(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	host := hostOf(ten)
	fin := staffLogin(t, base, ten, "finance").AccessToken
	sales := staffLogin(t, base, ten, "sales").AccessToken
	var client string
	if err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id::text FROM clients LIMIT 1`).Scan(&client)
	}); err != nil {
		t.Fatal(err)
	}
	list := decode[bonuses.BonusesResponse](t, request(t, base, host, "GET", "/api/v1/clients/"+client+"/bonuses", fin, nil), 200)
	if list.Bonuses == nil {
		t.Error("no list: want [] for a client without bonuses")
	}
	if c := request(t, base, host, "GET", "/api/v1/clients/"+client+"/bonuses", sales, nil); c.status != 403 {
		t.Errorf("sales reads bonuses: %d", c.status)
	}
	if c := request(t, base, host, "GET", "/api/v1/clients/"+uuid.NewString()+"/bonuses", fin, nil); c.status != 404 {
		t.Errorf("an unknown client: %d %s", c.status, c.body)
	}
	if c := request(t, base, host, "POST", "/api/v1/bonuses/"+uuid.NewString()+"/cancel", fin, bonuses.CancelBody{Reason: "abuse"}); c.status != 404 {
		t.Errorf("cancelling an unknown bonus: %d %s", c.status, c.body)
	}
	if c := request(t, base, host, "POST", "/api/v1/bonuses/"+uuid.NewString()+"/cancel", sales, bonuses.CancelBody{Reason: "abuse"}); c.status != 403 {
		t.Errorf("sales cancels: %d", c.status)
	}

	// The admin's session is a token issued as sign-in issues it (one password hash fewer).
	adminTok, _, err := a.cfg.JWTKeys.Issue(auth.Claims{Issuer: "https://" + a.cfg.BaseDomain, Audience: auth.AudienceBackoffice,
		Subject: admin.ID.String(), TenantID: ten.ID.String(), Roles: []string{"admin"}}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	bonusPages(t, base, ten, client, fin, sales, adminTok)
}

// signedIn is a page client whose session is an access token already issued (a sign-in costs a password hash).
func signedIn(t *testing.T, base string, ten tenants.Tenant, token string) *pageClient {
	c := newPageClient(t, base, ten)
	c.cookies["__Host-bd_backoffice"] = &http.Cookie{Name: "__Host-bd_backoffice", Value: token}
	return c
}

var ruleLink = regexp.MustCompile(`href="/backoffice/bonuses/rules/([0-9a-f-]{36})"`)

func bonusPages(t *testing.T, base string, ten tenants.Tenant, client, finToken, salesToken, adminToken string) {
	fin := signedIn(t, base, ten, finToken)
	form := url.Values{"name": {"Welcome 100%"}, "currency": {"USD"}, "active": {"on"}, "deposit_number": {"1"}, "percent": {"100"},
		"cap": {"250.005"}, "lots_per_unit": {"0.5"}, "valid_days": {"30"}, "max_per_client": {"1"}}
	r := fin.postWithCSRF("/backoffice/bonuses/rules/new", "/backoffice/bonuses/rules", form)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="cap-error"`) || !strings.Contains(pageText(r.body), "has more than 2 decimals") {
		t.Fatalf("a cap with 3 decimals: %d %.600s", r.status, pageText(r.body))
	}
	form.Set("cap", "250")
	form.Set("preview", "1")
	r = fin.postWithCSRF("/backoffice/bonuses/rules/new", "/backoffice/bonuses/rules", form)
	if want := "100% of the 1st deposit up to 250.00 USD, released after 0.5 lots per USD of bonus, expires after 30 days, once per client."; r.status != 200 ||
		!strings.Contains(pageText(r.body), want) {
		t.Fatalf("preview: %d %.600s", r.status, pageText(r.body))
	}
	form.Del("preview")
	if r = fin.postWithCSRF("/backoffice/bonuses/rules/new", "/backoffice/bonuses/rules", form); r.status != http.StatusSeeOther {
		t.Fatalf("save: %d %.600s", r.status, pageText(r.body))
	}
	rules := fin.get("/backoffice/bonuses/rules")
	ids := ruleLink.FindStringSubmatch(rules.body)
	if ids == nil || !strings.Contains(pageText(rules.body), "100% up to 250.00 USD, once per client") || !strings.Contains(rules.body, "the 1st deposit in USD") {
		t.Fatalf("rules page: %.800s", pageText(rules.body))
	}
	if r := fin.get("/backoffice/bonuses/rules/" + ids[1]); r.status != 200 || !strings.Contains(r.body, `id="rule-versions"`) {
		t.Errorf("the rule's page: %d %.400s", r.status, pageText(r.body))
	}
	if r := fin.get("/backoffice/bonuses?status=open&rule_id=" + ids[1]); r.status != 200 || !strings.Contains(r.body, "No bonus matches.") {
		t.Errorf("bonuses list: %d %.400s", r.status, pageText(r.body))
	}
	if r := fin.get("/backoffice/clients/" + client + "?tab=bonuses"); r.status != 200 || !strings.Contains(r.body, `id="client-bonuses"`) ||
		!strings.Contains(r.body, `id="bonus-why"`) {
		t.Errorf("the client's Bonuses tab: %d %.400s", r.status, pageText(r.body))
	}
	if home := fin.get("/backoffice"); !strings.Contains(pageText(home.body), "Open bonuses") {
		t.Errorf("finance's dashboard has no bonuses tile")
	}

	// The withdrawal rules: finance reads them; the admin saves them, a bad field told next to it.
	if r := fin.get("/backoffice/settings/withdrawals"); r.status != 200 || !strings.Contains(r.body, `id="read-only"`) || !strings.Contains(r.body, "* USD 10.00 50000.00") {
		t.Errorf("finance's withdrawal rules: %d %.600s", r.status, pageText(r.body))
	}
	if r := fin.postWithCSRF("/backoffice/settings/withdrawals", "/backoffice/settings/withdrawals", url.Values{"sla_hours": {"12"}}); r.status != http.StatusForbidden {
		t.Errorf("finance saves the withdrawal rules: %d", r.status)
	}
	admin := signedIn(t, base, ten, adminToken)
	rulesForm := url.Values{"tiers": {"* USD 10.00 50000.00 100000.00\nvip EUR 0 0 0"}, "daily_counts": {"* 3\nvip 0"}, "second_approval": {"USD 5000.00"},
		"sla_hours": {"0"}, "expiry_hours": {"72"}, "flag_days": {"30"}, "flag_min_lots": {"1"}, "methods": {"bank"}}
	r = admin.postWithCSRF("/backoffice/settings/withdrawals", "/backoffice/settings/withdrawals", rulesForm)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="sla_hours-error"`) {
		t.Fatalf("an SLA of 0 hours: %d %.600s", r.status, pageText(r.body))
	}
	rulesForm.Set("sla_hours", "12")
	if r = admin.postWithCSRF("/backoffice/settings/withdrawals", "/backoffice/settings/withdrawals", rulesForm); r.status != http.StatusSeeOther {
		t.Fatalf("save the withdrawal rules: %d %.600s", r.status, pageText(r.body))
	}
	if r := admin.get("/backoffice/settings/withdrawals?saved=1"); !strings.Contains(r.body, `value="12"`) || !strings.Contains(r.body, "vip EUR 0.00 0.00 0.00") {
		t.Errorf("the saved rules: %.800s", pageText(r.body))
	}

	sales := signedIn(t, base, ten, salesToken)
	for _, path := range []string{"/backoffice/bonuses", "/backoffice/bonuses/rules", "/backoffice/bonuses/rules/new", "/backoffice/bonuses/rules/" + ids[1],
		"/backoffice/settings/withdrawals"} {
		if r := sales.get(path); r.status != http.StatusForbidden {
			t.Errorf("sales on %s: %d", path, r.status)
		}
	}
}
