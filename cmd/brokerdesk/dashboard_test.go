package main

import (
	"context"
	"html"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// dashboardTile is a tile as the home page shows it: the number, where it links, and the line under it.
type dashboardTile struct {
	Value, Href, Detail string
}

var (
	tileRE    = regexp.MustCompile(`(?s)<li class="tile[^"]*"><a class="count" href="([^"]+)"><span class="value">([^<]+)</span> <span class="label">([^<]+)</span></a>\s*(?:<span class="detail">(?:<a href="([^"]+)">)?([^<]*))?`)
	clientRow = regexp.MustCompile(`<tr><td><a href="/backoffice/clients/[0-9a-f-]{36}">`)
)

// tilesOf reads the dashboard of a home page, by tile label.
func tilesOf(body string) map[string]dashboardTile {
	out := map[string]dashboardTile{}
	for _, m := range tileRE.FindAllStringSubmatch(body, -1) {
		d := dashboardTile{Value: m[2], Href: html.UnescapeString(m[1]), Detail: html.UnescapeString(m[5])}
		if m[4] != "" {
			d.Detail += " @ " + html.UnescapeString(m[4])
		}
		out[html.UnescapeString(m[3])] = d
	}
	return out
}

// countIn is one count query in ten's schema, as the tile shows it.
func countIn(t *testing.T, a *app, ten tenants.Tenant, sql string, args ...any) string {
	t.Helper()
	var n int
	err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error { return tx.QueryRow(ctx, sql, args...).Scan(&n) })
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(n)
}

func TestDashboardShowsEachRoleOnlyItsTilesWithCountsThatOpenTheirRows(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	uploadForMatrix(t, a, ten) // a KYC case waiting
	ctx := context.Background()
	// Three recent registrations (one not verified yet, two managed by the demo sales user) and a case past the SLA.
	err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE clients SET created_at = now() - interval '2 days' WHERE last_name IN ('Walsh', 'Rossi', 'Tanaka')`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE kyc_cases SET opened_at = now() - interval '60 days' WHERE status <> 'decided'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	since := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -6)
	newHref := "/backoffice/clients?since=" + since.Format(time.DateOnly)
	waiting := countIn(t, a, ten, `SELECT count(*) FROM kyc_cases WHERE status <> 'decided'`)
	if waiting == "0" {
		t.Fatal("no KYC case waiting")
	}
	all := map[string]dashboardTile{
		"New registrations (last 7 days)": {Value: countIn(t, a, ten, `SELECT count(*) FROM clients WHERE created_at >= $1`, since), Href: newHref},
		"Waiting for email verification":  {Value: countIn(t, a, ten, `SELECT count(*) FROM clients WHERE status = 'registered'`), Href: "/backoffice/clients?status=registered"},
		"KYC cases waiting":               {Value: waiting, Href: "/backoffice/kyc", Detail: waiting + " overdue @ /backoffice/kyc?overdue=true"},
	}
	if all["New registrations (last 7 days)"].Value == "0" || all["Waiting for email verification"].Value == "0" {
		t.Fatalf("the demo gives nothing to count: %v", all)
	}
	// Each role sees the tiles whose permission the role table gives it.
	perm := map[string]web.Permission{"New registrations (last 7 days)": identity.PermClientsRead,
		"Waiting for email verification": identity.PermClientsRead, "KYC cases waiting": identity.PermKYCReview}
	home := func(role string) map[string]dashboardTile {
		t.Helper()
		c := newPageClient(t, base, ten)
		c.login("/backoffice", demoEmail(ten, role), identity.DemoPassword)
		r := c.get("/backoffice")
		if r.status != http.StatusOK {
			t.Fatalf("%s home: %d", role, r.status)
		}
		got := tilesOf(r.body)
		// Only the tiles this test counts: payments' tiles have their own test (payments_pages_test.go).
		maps.DeleteFunc(got, func(label string, _ dashboardTile) bool { _, known := perm[label]; return !known })
		return got
	}
	for _, role := range []string{"admin", "compliance", "support", "finance", "sales"} {
		want := map[string]dashboardTile{}
		for label, p := range perm {
			if slices.Contains(identity.RolePermissions(role), p) {
				want[label] = all[label]
			}
		}
		if got := home(role); !maps.Equal(got, want) {
			t.Errorf("%s's dashboard:\n got %v\nwant %v", role, got, want)
		}
	}

	// Every number opens the rows it counts.
	admin := newPageClient(t, base, ten)
	admin.login("/backoffice", demoEmail(ten, "admin"), identity.DemoPassword)
	for _, label := range []string{"New registrations (last 7 days)", "Waiting for email verification"} {
		r := admin.get(all[label].Href)
		if n := strconv.Itoa(len(clientRow.FindAllString(r.body, -1))); r.status != http.StatusOK || n != all[label].Value {
			t.Errorf("%s: the list at %s shows %s rows (%d), the tile %s", label, all[label].Href, n, r.status, all[label].Value)
		}
	}

	// A sales user who sees only their own clients counts only those.
	st, err := a.clients.Settings(ctx, ten)
	if err != nil {
		t.Fatal(err)
	}
	st.ManagersSeeOwnClientsOnly = true
	if _, err := a.clients.SaveSettings(ctx, ten, audit.System("test"), st); err != nil {
		t.Fatal(err)
	}
	var salesID string
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id::text FROM staff_users WHERE email = $1`, demoEmail(ten, "sales")).Scan(&salesID)
	}); err != nil {
		t.Fatal(err)
	}
	own := map[string]dashboardTile{
		"New registrations (last 7 days)": {Value: countIn(t, a, ten, `SELECT count(*) FROM clients WHERE created_at >= $1 AND manager_id = $2`, since, salesID), Href: newHref},
		"Waiting for email verification":  {Value: countIn(t, a, ten, `SELECT count(*) FROM clients WHERE status = 'registered' AND manager_id = $1`, salesID), Href: "/backoffice/clients?status=registered"},
	}
	if own["New registrations (last 7 days)"].Value == all["New registrations (last 7 days)"].Value {
		t.Fatalf("the sales user manages every recent registration: the test shows nothing")
	}
	if got := home("sales"); !maps.Equal(got, own) {
		t.Errorf("sales's dashboard with managers_see_own_clients_only:\n got %v\nwant %v", got, own)
	}
	if got := home("admin")["New registrations (last 7 days)"]; got != all["New registrations (last 7 days)"] {
		t.Errorf("admin's count with the sales rule: %v, want %v", got, all["New registrations (last 7 days)"])
	}
}
