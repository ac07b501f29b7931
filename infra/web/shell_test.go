package web_test

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

// roleSessions stand in for identity: the request's X-Role header is who is signed in ("trader" in the portal), and
// roles grant the permissions of the map.
type roleSessions struct {
	roles   map[string][]web.Permission
	guarded []web.Permission
}

func (r *roleSessions) Guard(perm web.Permission) fiber.Handler {
	r.guarded = append(r.guarded, perm)
	return func(c *fiber.Ctx) error {
		role := c.Get("X-Role")
		if _, ok := r.roles[role]; !ok {
			return c.Redirect("/login", fiber.StatusSeeOther)
		}
		c.Locals("role", role)
		if !slices.Contains(r.roles[role], perm) {
			return web.NewProblem(fiber.StatusForbidden, "forbidden", "Not for your roles.")
		}
		return c.Next()
	}
}

func (r *roleSessions) Viewer(c *fiber.Ctx) (web.Viewer, bool, error) {
	role, ok := c.Locals("role").(string)
	if !ok {
		return web.Viewer{}, false, nil
	}
	perms := r.roles[role]
	return web.Viewer{UserID: uuid.New(), Portal: role == "trader", Name: role + " user", SignOut: "/logout",
		Grants: func(p web.Permission) bool { return slices.Contains(perms, p) }}, true, nil
}

// shellWorld is a shell on a test app with one page template that shows the dashboard.
type shellWorld struct {
	app      *fiber.App
	shell    *web.Shell
	sessions *roleSessions
}

func newShellWorld(t *testing.T, roles map[string][]web.Permission) *shellWorld {
	t.Helper()
	pages, err := web.NewPages(fstest.MapFS{
		"pages/test_page.html": {Data: []byte(`{{define "content"}}<h1>{{.Title}}</h1>{{with .Data}}<div id="dashboard">{{template "dashboard" .}}</div>{{end}}{{end}}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &shellWorld{app: web.New(web.Options{Pages: pages}), sessions: &roleSessions{roles: roles}}
	w.shell = web.NewShell(w.app, web.ShellOptions{Pages: pages, Sessions: w.sessions,
		Brand: func(*fiber.Ctx) (web.Brand, error) {
			return web.Brand{Name: "Harbour Markets", PrimaryColor: "#0a7d4f"}, nil
		}})
	return w
}

// page registers a GET page drawing the test template (with the dashboard when dashboard is set).
func (w *shellWorld) page(path string, perm web.Permission, dashboard bool) {
	w.shell.Page(fiber.MethodGet, path, perm, func(c *fiber.Ctx) error {
		var data any
		if dashboard {
			d, err := w.shell.Dashboard(c)
			if err != nil {
				return err
			}
			data = d
		}
		return w.shell.Render(c, fiber.StatusOK, "test_page", "Test", data)
	})
}

type shellReply struct {
	status int
	header http.Header
	body   string
}

func (w *shellWorld) do(t *testing.T, method, path, role string, form url.Values, cookies ...*http.Cookie) shellReply {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if role != "" {
		req.Header.Set("X-Role", role)
	}
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	res, err := w.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return shellReply{res.StatusCode, res.Header, string(b)}
}

func TestShellGuardsPagesWithTheSessionsAndChecksCSRFOnPosts(t *testing.T) {
	t.Parallel()
	w := newShellWorld(t, map[string][]web.Permission{"admin": {"x.read", "x.write"}, "viewer": {"x.read"}})
	w.page("/open", web.Public, false)
	w.page("/things", "x.read", false)
	posted := 0
	w.shell.Post("/things", "x.write", func(c *fiber.Ctx) error { posted++; return c.SendStatus(fiber.StatusNoContent) })
	if err := w.shell.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.sessions.guarded, []web.Permission{"x.read", "x.write"}) {
		t.Errorf("guards asked for %v, want x.read and x.write (none for the public page)", w.sessions.guarded)
	}
	if r := w.do(t, http.MethodGet, "/open", "", nil); r.status != http.StatusOK || !strings.Contains(r.body, "Harbour Markets") {
		t.Errorf("public page: %d %.300s", r.status, r.body)
	}
	r := w.do(t, http.MethodGet, "/things", "", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Errorf("signed out: %d %q, want the guard's redirect", r.status, r.header.Get("Location"))
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("the guard's redirect lacks the page headers: %v", r.header)
	}
	if r := w.do(t, http.MethodGet, "/things", "viewer", nil); r.status != http.StatusOK {
		t.Errorf("viewer reading: %d", r.status)
	}
	if r := w.do(t, http.MethodPost, "/things", "viewer", url.Values{}); r.status != http.StatusForbidden || posted != 0 {
		t.Errorf("viewer posting: %d (handler ran %d times), want 403", r.status, posted)
	}

	// The CSRF cookie's token must come back in the form's field.
	token := web.RandomToken()
	cookie := &http.Cookie{Name: "bd_csrf", Value: token}
	for name, form := range map[string]url.Values{"missing": {}, "wrong": {"csrf": {web.RandomToken()}}} {
		if r := w.do(t, http.MethodPost, "/things", "admin", form, cookie); r.status != http.StatusForbidden {
			t.Errorf("post with %s csrf: %d, want 403", name, r.status)
		}
	}
	if posted != 0 {
		t.Fatalf("the handler ran %d times without a valid token", posted)
	}
	if r := w.do(t, http.MethodPost, "/things", "admin", url.Values{"csrf": {token}}, cookie); r.status != http.StatusNoContent || posted != 1 {
		t.Errorf("post with the token: %d, handler ran %d times", r.status, posted)
	}
}

// menu reads the side menu of a page: its headings in order, and each heading's links.
func menu(t *testing.T, body string) ([]string, map[string][]string) {
	t.Helper()
	m := regexp.MustCompile(`(?s)<nav class="side"[^>]*>(.*?)</nav>`).FindStringSubmatch(body)
	if m == nil {
		return nil, nil
	}
	var headings []string
	links := map[string][]string{}
	for _, sec := range regexp.MustCompile(`(?s)<h2>([^<]+)</h2>\s*<ul>(.*?)</ul>`).FindAllStringSubmatch(m[1], -1) {
		headings = append(headings, sec[1])
		for _, a := range regexp.MustCompile(`<a href="([^"]+)"`).FindAllStringSubmatch(sec[2], -1) {
			links[sec[1]] = append(links[sec[1]], a[1])
		}
	}
	return headings, links
}

func TestShellMenuShowsOnlyPermittedEntriesGroupedInOrderAndHidesEmptyGroups(t *testing.T) {
	t.Parallel()
	w := newShellWorld(t, map[string][]web.Permission{
		"admin":      {"home", "clients.read", "kyc.review", "settings.manage", "account.2fa"},
		"compliance": {"home", "clients.read", "kyc.review", "account.2fa"},
		"support":    {"home", "clients.read"},
		"trader":     {"portal.account"},
	})
	// Registered out of order, as modules mount: the menu orders groups by web.NavGroups, entries by Order then label.
	w.shell.Nav(
		web.NavEntry{Group: web.GroupSettings, Label: "Staff", Href: "/bo/staff", Permission: "settings.manage"},
		web.NavEntry{Group: web.GroupCompliance, Label: "KYC queue", Href: "/bo/kyc", Permission: "kyc.review"},
		web.NavEntry{Group: web.GroupSettings, Label: "KYC settings", Href: "/bo/settings/kyc", Permission: "settings.manage"},
		web.NavEntry{Group: web.GroupClients, Label: "Clients", Href: "/bo/clients", Permission: "clients.read"},
		web.NavEntry{Group: web.GroupHome, Label: "Dashboard", Href: "/bo", Permission: "home"},
		web.NavEntry{Group: web.GroupMoney, Label: "Withdrawals", Href: "/bo/withdrawals", Permission: "payments.approve"},
		web.NavEntry{Group: web.GroupAccount, Label: "Two-factor sign-in", Href: "/bo/2fa", Permission: "account.2fa"},
		web.NavEntry{Group: web.GroupPortal, Label: "Documents", Href: "/portal/documents", Permission: "portal.account", Order: 2},
		web.NavEntry{Group: web.GroupPortal, Label: "Your account", Href: "/portal", Permission: "portal.account", Order: 1},
	)
	w.page("/bo", "home", false)
	w.page("/bo/clients/:id", "clients.read", false)
	w.page("/portal", "portal.account", false)
	if err := w.shell.Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role     string
		headings []string
		links    map[string][]string
	}{
		{"admin", []string{"Home", "Clients", "Compliance", "Settings"}, map[string][]string{
			"Home": {"/bo"}, "Clients": {"/bo/clients"}, "Compliance": {"/bo/kyc"}, "Settings": {"/bo/settings/kyc", "/bo/staff"}}},
		{"compliance", []string{"Home", "Clients", "Compliance"}, map[string][]string{
			"Home": {"/bo"}, "Clients": {"/bo/clients"}, "Compliance": {"/bo/kyc"}}},
		{"support", []string{"Home", "Clients"}, map[string][]string{"Home": {"/bo"}, "Clients": {"/bo/clients"}}},
	} {
		r := w.do(t, http.MethodGet, "/bo", tc.role, nil)
		headings, links := menu(t, r.body)
		if r.status != http.StatusOK || !slices.Equal(headings, tc.headings) {
			t.Errorf("%s: %d, menu headings %v, want %v (Money has no entry they may open)", tc.role, r.status, headings, tc.headings)
		}
		for h, want := range tc.links {
			if !slices.Equal(links[h], want) {
				t.Errorf("%s: %s links %v, want %v", tc.role, h, links[h], want)
			}
		}
		if strings.Contains(r.body, "/portal/documents") {
			t.Errorf("%s: a portal entry in the back office's menu", tc.role)
		}
		if got := strings.Contains(r.body, `<a href="/bo/2fa"`); got != (tc.role != "support") {
			t.Errorf("%s: account link shown %v", tc.role, got)
		}
		if !strings.Contains(r.body, `<a href="/bo" aria-current="page">Dashboard</a>`) {
			t.Errorf("%s: the home page is not the current entry: %.2000s", tc.role, r.body)
		}
	}

	// A page under an entry marks that entry (the longest prefix), not the home page.
	r := w.do(t, http.MethodGet, "/bo/clients/42", "support", nil)
	if !strings.Contains(r.body, `<a href="/bo/clients" aria-current="page">Clients</a>`) || strings.Contains(r.body, `<a href="/bo" aria-current`) {
		t.Errorf("client page: the current entry is not Clients: %.2000s", r.body)
	}
	// The toggle that collapses the menu on a phone is a checkbox and its label: no script.
	if !strings.Contains(r.body, `<input type="checkbox" id="menu-toggle"`) || !strings.Contains(r.body, `<label for="menu-toggle" class="menu-button">Menu</label>`) || strings.Contains(r.body, "<script") {
		t.Errorf("no script-free menu toggle: %.2000s", r.body)
	}

	// The portal keeps a top menu of its own entries.
	r = w.do(t, http.MethodGet, "/portal", "trader", nil)
	headings, _ := menu(t, r.body)
	main := regexp.MustCompile(`(?s)<nav aria-label="Main">(.*?)</nav>`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || headings != nil || main == nil {
		t.Fatalf("portal: %d, side menu %v: %.1500s", r.status, headings, r.body)
	}
	if got := regexp.MustCompile(`href="([^"]+)"`).FindAllStringSubmatch(main[1], -1); len(got) != 2 || got[0][1] != "/portal" || got[1][1] != "/portal/documents" {
		t.Errorf("portal menu %v, want Your account then Documents", got)
	}
}

func TestShellDashboardShowsTheViewerOnlyTheTilesTheyMayOpenWithTheirCounts(t *testing.T) {
	t.Parallel()
	w := newShellWorld(t, map[string][]web.Permission{
		"compliance": {"home", "clients.read", "kyc.review"},
		"support":    {"home", "clients.read"},
	})
	count := func(n int, detail string) func(*fiber.Ctx) (web.TileCount, error) {
		return func(*fiber.Ctx) (web.TileCount, error) {
			return web.TileCount{Value: n, Detail: detail, Alert: detail != "", DetailHref: "/bo/kyc?overdue=true"}, nil
		}
	}
	w.shell.Tiles(
		web.Tile{Group: web.GroupCompliance, Label: "KYC cases waiting", Href: "/bo/kyc", Permission: "kyc.review", Count: count(6, "2 overdue")},
		web.Tile{Group: web.GroupClients, Label: "Waiting for email verification", Href: "/bo/clients?status=registered", Permission: "clients.read", Order: 2, Count: count(3, "")},
		web.Tile{Group: web.GroupClients, Label: "New registrations", Href: "/bo/clients", Permission: "clients.read", Order: 1,
			Count: func(*fiber.Ctx) (web.TileCount, error) {
				return web.TileCount{Value: 11, Href: "/bo/clients?since=2026-01-01"}, nil
			}},
		web.Tile{Group: web.GroupMoney, Label: "Withdrawals to approve", Href: "/bo/withdrawals", Permission: "payments.approve", Count: count(1, "")},
		web.Tile{Group: web.GroupClients, Label: "Broken", Href: "/bo/broken", Permission: "kyc.review",
			Count: func(*fiber.Ctx) (web.TileCount, error) { return web.TileCount{}, errors.New("database down") }},
	)
	w.page("/bo", "home", true)
	if err := w.shell.Err(); err != nil {
		t.Fatal(err)
	}
	tile := regexp.MustCompile(`<a class="count" href="([^"]+)"><span class="value">([^<]+)</span> <span class="label">([^<]+)</span></a>`)
	read := func(body string) []string {
		var out []string
		for _, m := range tile.FindAllStringSubmatch(body, -1) {
			out = append(out, m[3]+"="+m[2]+"@"+m[1])
		}
		return out
	}
	for _, tc := range []struct {
		role  string
		tiles []string
	}{
		{"compliance", []string{"Broken=–@/bo/broken", "New registrations=11@/bo/clients?since=2026-01-01",
			"Waiting for email verification=3@/bo/clients?status=registered", "KYC cases waiting=6@/bo/kyc"}},
		{"support", []string{"New registrations=11@/bo/clients?since=2026-01-01", "Waiting for email verification=3@/bo/clients?status=registered"}},
	} {
		r := w.do(t, http.MethodGet, "/bo", tc.role, nil)
		if got := read(r.body); r.status != http.StatusOK || !slices.Equal(got, tc.tiles) {
			t.Errorf("%s: %d, tiles %v, want %v", tc.role, r.status, got, tc.tiles)
		}
		overdue := strings.Contains(r.body, `<a href="/bo/kyc?overdue=true">2 overdue</a>`)
		if overdue != (tc.role == "compliance") {
			t.Errorf("%s: overdue line shown %v", tc.role, overdue)
		}
		if strings.Contains(r.body, "<h2>Money</h2>") {
			t.Errorf("%s: the Money group shows without a tile they may open", tc.role)
		}
	}
}

func TestShellRefusesMenuEntriesAndTilesWithoutPermissionOrGroup(t *testing.T) {
	t.Parallel()
	w := newShellWorld(t, nil)
	w.shell.Nav(web.NavEntry{Group: web.GroupClients, Label: "Clients", Href: "/bo/clients"},
		web.NavEntry{Group: "Elsewhere", Label: "Odd", Href: "/bo/odd", Permission: "x"})
	w.shell.Tiles(web.Tile{Group: web.GroupPortal, Label: "Traders", Href: "/bo/t", Permission: "x", Count: func(*fiber.Ctx) (web.TileCount, error) { return web.TileCount{}, nil }},
		web.Tile{Group: web.GroupClients, Label: "No count", Href: "/bo/n", Permission: "x"})
	err := w.shell.Err()
	for _, name := range []string{`"Clients"`, `"Odd"`, `"Traders"`, `"No count"`} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Err = %v, want %s named", err, name)
		}
	}
}

// hubWorld is a shell with a hub page "/clients/:id" drawn by the layout's hub templates.
func hubWorld(t *testing.T, roles map[string][]web.Permission) *shellWorld {
	t.Helper()
	pages, err := web.NewPages(fstest.MapFS{
		"pages/hub_page.html":    {Data: []byte(`{{define "content"}}{{template "hub-head" .Data}}{{template "hub-tabs" .Data}}{{template "hub-section" .Data}}{{end}}`)},
		"pages/hub_section.html": {Data: []byte(`{{define "content"}}<p id="drawn">{{.Data}} &amp; more</p>{{end}}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &shellWorld{app: web.New(web.Options{Pages: pages}), sessions: &roleSessions{roles: roles}}
	w.shell = web.NewShell(w.app, web.ShellOptions{Pages: pages, Sessions: w.sessions})
	w.shell.Page(fiber.MethodGet, "/clients/:id", "clients.read", func(c *fiber.Ctx) error {
		id, err := uuid.Parse(c.Params("id"))
		if err != nil {
			return web.NotFound("no such client")
		}
		hub, err := w.shell.Hub(c, "client", id, "/clients/"+id.String())
		if err != nil {
			return err
		}
		hub.Title = "Ada Lovelace"
		return w.shell.Render(c, fiber.StatusOK, "hub_page", hub.Title, hub)
	})
	return w
}

// tabsOf reads a hub page's tabs: label, link, and a * on the current one.
func tabsOf(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<a href="([^"]+)" id="tab-[a-z-]+"( aria-current="page")?[^>]*>([^<]+)</a>`).FindAllStringSubmatch(body, -1) {
		cur := ""
		if m[2] != "" {
			cur = "*"
		}
		out = append(out, cur+m[3]+" "+m[1])
	}
	return out
}

func TestHubShowsTheSectionsOfEveryModuleInOrderPerPermissionAndOpensEachByALink(t *testing.T) {
	t.Parallel()
	w := hubWorld(t, map[string][]web.Permission{"admin": {"clients.read", "kyc.review", "privacy.manage"}, "sales": {"clients.read"}})
	drawn := map[string]int{}
	section := func(id string) func(*fiber.Ctx, uuid.UUID) (template.HTML, error) {
		return func(c *fiber.Ctx, subject uuid.UUID) (template.HTML, error) {
			drawn[id]++
			return w.shell.Fragment(c, "hub_section", id+" of "+subject.String()[:8]+" <b>")
		}
	}
	// Declared out of order, as modules mount their doors.
	w.shell.HubSection("client", web.HubSection{ID: "activity", Label: "Activity", Order: 90, Render: section("activity")})
	w.shell.HubSection("client", web.HubSection{ID: "documents", Label: "Documents", Order: 20, Permission: "kyc.review", Render: section("documents")})
	w.shell.HubSection("client", web.HubSection{ID: "privacy", Label: "Data protection", Order: 80, Permission: "privacy.manage",
		Hint: "export, erasure", Href: func(id uuid.UUID) string { return "/clients/" + id.String() + "/privacy" }})
	w.shell.HubSection("client", web.HubSection{ID: "profile", Label: "Profile", Order: 10, Render: section("profile")})
	w.shell.HubSection("other", web.HubSection{ID: "profile", Label: "Another hub's tab", Render: section("other")})
	w.shell.HubSummary("client", web.HubSummary{ID: "policy", Order: 90, Label: "What the client can do", Badges: true,
		Facts: func(*fiber.Ctx, uuid.UUID) ([]web.HubFact, error) {
			return []web.HubFact{{Label: "Deposit", Value: "not allowed", Tone: web.ToneBad, Hint: "KYC is not approved"}}, nil
		}})
	w.shell.HubSummary("client", web.HubSummary{ID: "facts", Order: 10, Facts: func(*fiber.Ctx, uuid.UUID) ([]web.HubFact, error) {
		return []web.HubFact{{Label: "Status", Value: "KYC approved", Tone: web.ToneGood}}, nil
	}})
	w.shell.HubSummary("client", web.HubSummary{ID: "balances", Order: 20, Permission: "kyc.review", Facts: func(*fiber.Ctx, uuid.UUID) ([]web.HubFact, error) {
		return nil, errors.New("ledger down")
	}})
	if err := w.shell.Err(); err != nil {
		t.Fatal(err)
	}
	if got := w.shell.HubSections("client"); len(got) != 4 || got[0].ID != "profile" || got[3].ID != "activity" {
		t.Errorf("declared sections in order: %v", got)
	}
	id := uuid.New()
	base := "/clients/" + id.String()

	r := w.do(t, http.MethodGet, base, "admin", nil)
	want := []string{"*Profile " + base, "Documents " + base + "?tab=documents", "Data protection " + base + "/privacy", "Activity " + base + "?tab=activity"}
	if r.status != http.StatusOK || !slices.Equal(tabsOf(r.body), want) {
		t.Fatalf("admin's tabs: %d %q, want %q\n%s", r.status, tabsOf(r.body), want, r.body)
	}
	if !strings.Contains(r.body, `<p id="drawn">profile of `+id.String()[:8]+` &lt;b&gt; &amp; more</p>`) || drawn["profile"] != 1 || drawn["activity"] != 0 {
		t.Errorf("the first tab is drawn (escaped) and only it: %v\n%s", drawn, r.body)
	}
	for _, want := range []string{`<h1>Ada Lovelace</h1>`, `class="tone-good"`, `KYC approved`, `<ul class="badges" id="policy" aria-label="What the client can do">`,
		`<li class="badge tone-bad" title="KYC is not approved">Deposit<span class="visually-hidden">: not allowed. KYC is not approved</span></li>`,
		`id="balances"`, `unavailable just now`, `title="export, erasure"`, `class="away"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("admin's hub lacks %q", want)
		}
	}
	if strings.Index(r.body, `id="facts"`) > strings.Index(r.body, `id="balances"`) || strings.Index(r.body, `id="balances"`) > strings.Index(r.body, `id="policy"`) {
		t.Error("the header's groups are not in their order")
	}

	r = w.do(t, http.MethodGet, base+"?tab=activity", "admin", nil)
	if !slices.Equal(tabsOf(r.body), []string{"Profile " + base, "Documents " + base + "?tab=documents", "Data protection " + base + "/privacy", "*Activity " + base + "?tab=activity"}) ||
		!strings.Contains(r.body, `<section class="card hub-section" id="activity" aria-labelledby="tab-activity">`) || drawn["activity"] != 1 || drawn["profile"] != 1 {
		t.Errorf("the activity tab by its link: %q %v", tabsOf(r.body), drawn)
	}

	r = w.do(t, http.MethodGet, base, "sales", nil)
	if !slices.Equal(tabsOf(r.body), []string{"*Profile " + base, "Activity " + base + "?tab=activity"}) || strings.Contains(r.body, `id="balances"`) {
		t.Errorf("sales sees %q (balances shown: %v)", tabsOf(r.body), strings.Contains(r.body, `id="balances"`))
	}
	for _, tab := range []string{"documents", "privacy", "nope"} {
		if r := w.do(t, http.MethodGet, base+"?tab="+tab, "sales", nil); r.status != http.StatusNotFound {
			t.Errorf("sales opening ?tab=%s: %d, want 404", tab, r.status)
		}
	}
	if drawn["documents"] != 0 || drawn["other"] != 0 {
		t.Errorf("sections drawn without being opened: %v", drawn)
	}
}

func TestHubSectionThatFailsLeavesThePageReadable(t *testing.T) {
	t.Parallel()
	w := hubWorld(t, map[string][]web.Permission{"admin": {"clients.read"}})
	w.shell.HubSection("client", web.HubSection{ID: "money", Label: "Money", Render: func(*fiber.Ctx, uuid.UUID) (template.HTML, error) {
		return "", errors.New("ledger down")
	}})
	r := w.do(t, http.MethodGet, "/clients/"+uuid.NewString(), "admin", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, "This section is unavailable just now") || strings.Contains(r.body, "ledger down") {
		t.Errorf("a failing section: %d %.500s", r.status, r.body)
	}
}

func TestHubDeclarationsAreChecked(t *testing.T) {
	t.Parallel()
	w := hubWorld(t, nil)
	render := func(*fiber.Ctx, uuid.UUID) (template.HTML, error) { return "", nil }
	href := func(uuid.UUID) string { return "/x" }
	facts := func(*fiber.Ctx, uuid.UUID) ([]web.HubFact, error) { return nil, nil }
	w.shell.HubSection("client", web.HubSection{ID: "ok", Label: "OK", Render: render})
	for _, bad := range []web.HubSection{
		{ID: "ok", Label: "Twice", Render: render},
		{ID: "Bad Id", Label: "Bad", Render: render},
		{ID: "nolabel", Render: render},
		{ID: "both", Label: "Both", Render: render, Href: href},
		{ID: "neither", Label: "Neither"},
	} {
		w.shell.HubSection("client", bad)
	}
	w.shell.HubSummary("client", web.HubSummary{ID: "facts", Facts: facts})
	w.shell.HubSummary("client", web.HubSummary{ID: "facts", Facts: facts})
	w.shell.HubSummary("client", web.HubSummary{ID: "nofacts"})
	err := w.shell.Err()
	if err == nil {
		t.Fatal("no error for bad declarations")
	}
	for _, want := range []string{`"ok" declared twice`, `"Bad Id"`, `"nolabel"`, `"both"`, `"neither"`, `summary "facts" declared twice`, `"nofacts"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %s: %v", want, err)
		}
	}
	if got := w.shell.HubSections("client"); len(got) != 1 {
		t.Errorf("bad sections were kept: %v", got)
	}
}
