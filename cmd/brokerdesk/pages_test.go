package main

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// pageClient is a browser stand-in for one host (a tenant's, or the console): it keeps cookies by hand (they are
// Secure and __Host- prefixed, and the test server is http), never follows redirects, and sends bearer, when set,
// as a Bearer token.
type pageClient struct {
	t       *testing.T
	base    string
	host    string
	cookies map[string]*http.Cookie
	bearer  string
	headers map[string]string // sent with every request (forged forwarding headers, say)
}

type pageResponse struct {
	status  int
	body    string
	header  http.Header
	cookies []*http.Cookie
}

func newPageClient(t *testing.T, base string, ten tenants.Tenant) *pageClient {
	return &pageClient{t: t, base: base, host: hostOf(ten), cookies: map[string]*http.Cookie{}}
}

// do requests a page as a browser does: HTML wanted, form (when not nil) posted urlencoded.
func (c *pageClient) do(method, path string, form url.Values) pageResponse {
	c.t.Helper()
	if form == nil {
		return c.send(method, path, "", nil, "text/html")
	}
	return c.send(method, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "text/html")
}

// send sends one request with the client's cookies and bearer, and keeps the cookies the answer sets or clears.
func (c *pageClient) send(method, path, ctype string, body io.Reader, accept string) pageResponse {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Host = c.host
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var b []byte
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") { // a live stream never ends: openStream reads those
		b, _ = io.ReadAll(res.Body)
	}
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return pageResponse{res.StatusCode, string(b), res.Header, res.Cookies()}
}

func (c *pageClient) get(path string) pageResponse {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil)
}

// login signs in through the back office's login form and fails the test unless it lands on next.
func (c *pageClient) login(area, email, password string) {
	c.t.Helper()
	csrf := csrfOf(c.t, c.get(area+"/login").body)
	r := c.do(http.MethodPost, area+"/login", url.Values{"csrf": {csrf}, "email": {email}, "password": {password}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != area {
		c.t.Fatalf("login %s as %s: %d %s %.300s", area, email, r.status, r.header.Get("Location"), r.body)
	}
}

func demoEmail(ten tenants.Tenant, role string) string {
	return strings.ReplaceAll(role, "_", "-") + "@" + ten.Slug + ".demo"
}

func TestBackOfficeLoginSetsStrictCookiesCSRFIsCheckedAndLogoutEndsTheSession(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	c := newPageClient(t, base, ten)

	r := c.get("/backoffice/staff")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/backoffice/login?next=%2Fbackoffice%2Fstaff" {
		t.Fatalf("signed-out page: %d %q", r.status, r.header.Get("Location"))
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("page headers: %v", r.header)
	}
	csrf := csrfOf(t, c.get("/backoffice/login").body)
	creds := url.Values{"email": {admin.Email}, "password": {identity.DemoPassword}}
	for name, token := range map[string][]string{"missing": nil, "wrong": {"x" + csrf[1:]}} {
		form := url.Values{"email": creds["email"], "password": creds["password"], "csrf": token}
		if r := c.do(http.MethodPost, "/backoffice/login", form); r.status != http.StatusForbidden {
			t.Errorf("login with %s csrf: %d, want 403", name, r.status)
		}
	}
	creds.Set("csrf", csrf)
	creds.Set("next", "/backoffice/staff")
	r = c.do(http.MethodPost, "/backoffice/login", creds)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/backoffice/staff" {
		t.Fatalf("login: %d %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	set := map[string]*http.Cookie{}
	for _, ck := range r.cookies {
		set[ck.Name] = ck
	}
	for _, name := range []string{"__Host-bd_backoffice", "__Host-bd_backoffice_refresh", "__Host-bd_csrf"} {
		ck := set[name]
		if ck == nil || ck.Value == "" || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
			t.Errorf("cookie %s: %+v, want HttpOnly, Secure, SameSite=Strict, Path=/", name, ck)
		}
	}
	if set["__Host-bd_csrf"].Value == csrf {
		t.Error("the CSRF token was not renewed at sign-in")
	}
	if r := c.get("/backoffice/staff"); r.status != http.StatusOK || !strings.Contains(r.body, admin.Email) {
		t.Fatalf("staff page: %d %.300s", r.status, r.body)
	}

	home := c.get("/backoffice")
	if home.status != http.StatusOK || !strings.Contains(home.body, "Welcome, "+admin.FullName) {
		t.Fatalf("home: %d %.500s", home.status, home.body)
	}
	refresh := c.cookies["__Host-bd_backoffice_refresh"].Value
	if r := c.do(http.MethodPost, "/backoffice/logout", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("logout without csrf: %d, want 403", r.status)
	}
	r = c.do(http.MethodPost, "/backoffice/logout", url.Values{"csrf": {csrfOf(t, home.body)}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/backoffice/login") {
		t.Fatalf("logout: %d %q", r.status, r.header.Get("Location"))
	}
	cleared := 0
	for _, ck := range r.cookies {
		if (ck.Name == "__Host-bd_backoffice" || ck.Name == "__Host-bd_backoffice_refresh") && ck.Value == "" && ck.Expires.Before(time.Now()) {
			cleared++
		}
	}
	if cleared != 2 {
		t.Errorf("logout cleared %d of the 2 session cookies: %v", cleared, r.cookies)
	}
	if r := c.get("/backoffice"); r.status != http.StatusSeeOther {
		t.Errorf("home after logout: %d, want a redirect to the login page", r.status)
	}
	// The refresh token was revoked, not only forgotten by the browser.
	c.cookies["__Host-bd_backoffice_refresh"] = &http.Cookie{Name: "__Host-bd_backoffice_refresh", Value: refresh}
	if r := c.get("/backoffice"); r.status != http.StatusSeeOther {
		t.Errorf("home with the logged-out refresh token: %d, want a redirect to the login page", r.status)
	}
}

func TestBackOfficeRenewsAnExpiredAccessCookieFromTheRefreshCookie(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	c.login("/backoffice", admin.Email, identity.DemoPassword)
	delete(c.cookies, "__Host-bd_backoffice") // as the browser does once it expires
	r := c.get("/backoffice")
	if r.status != http.StatusOK {
		t.Fatalf("home with only the refresh cookie: %d %q", r.status, r.header.Get("Location"))
	}
	if c.cookies["__Host-bd_backoffice"] == nil {
		t.Error("no new access cookie")
	}
}

func TestBackOfficeNavigationShowsOnlyTheSectionsTheRolesAllow(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	sections := []string{"/backoffice/staff", "/backoffice/audit", "/backoffice/settings"}
	for _, tc := range []struct {
		role string
		want map[string]bool
	}{
		{"admin", map[string]bool{"/backoffice/staff": true, "/backoffice/audit": true, "/backoffice/settings": true}},
		{"readonly", map[string]bool{"/backoffice/staff": true, "/backoffice/audit": true}},
		{"finance", map[string]bool{"/backoffice/audit": true}},
		{"sales", map[string]bool{}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			t.Parallel()
			c := newPageClient(t, base, ten)
			c.login("/backoffice", demoEmail(ten, tc.role), identity.DemoPassword)
			home := c.get("/backoffice")
			if home.status != http.StatusOK {
				t.Fatalf("home: %d", home.status)
			}
			for _, s := range sections {
				shown := strings.Contains(home.body, `href="`+s+`"`)
				if shown != tc.want[s] {
					t.Errorf("link to %s shown: %v, want %v", s, shown, tc.want[s])
				}
				status := c.get(s).status
				if want := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[tc.want[s]]; status != want {
					t.Errorf("GET %s: %d, want %d", s, status, want)
				}
			}
		})
	}
}

func TestPageSessionsDoNotCrossTenantsOrAreas(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	other, _ := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	c.login("/backoffice", admin.Email, identity.DemoPassword)
	access := c.cookies["__Host-bd_backoffice"].Value

	elsewhere := newPageClient(t, base, other)
	elsewhere.cookies["__Host-bd_backoffice"] = &http.Cookie{Name: "__Host-bd_backoffice", Value: access}
	if r := elsewhere.get("/backoffice"); r.status != http.StatusSeeOther {
		t.Errorf("another tenant's back-office cookie: %d, want a redirect to the login page", r.status)
	}
	portal := newPageClient(t, base, ten)
	portal.cookies["__Host-bd_portal"] = &http.Cookie{Name: "__Host-bd_portal", Value: access}
	if r := portal.get("/portal"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/portal/login") {
		t.Errorf("a staff token as the portal cookie: %d %q, want a redirect to the portal login", r.status, r.header.Get("Location"))
	}
}

func TestAuditPageFiltersByActionAndActor(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	c.login("/backoffice", demoEmail(ten, "readonly"), identity.DemoPassword)
	bad := url.Values{"csrf": {csrfOf(t, c.get("/backoffice/login").body)}, "email": {admin.Email}, "password": {"wrong"}}
	c.do(http.MethodPost, "/backoffice/login", bad) // a failed login: an identity.login_failed row

	r := c.get("/backoffice/audit?" + url.Values{"action": {"identity.login_"}}.Encode())
	if r.status != http.StatusOK || !strings.Contains(r.body, "identity.login_succeeded") || !strings.Contains(r.body, "identity.login_failed") {
		t.Fatalf("audit page: %d %.800s", r.status, r.body)
	}
	r = c.get("/backoffice/audit?" + url.Values{"action": {"identity.login_failed"}}.Encode())
	if strings.Contains(r.body, "identity.login_succeeded") || !strings.Contains(r.body, "identity.login_failed") {
		t.Errorf("action filter: %.800s", r.body)
	}
	r = c.get("/backoffice/audit?" + url.Values{"actor": {"staff:" + admin.ID.String()}, "action": {"identity."}}.Encode())
	if strings.Contains(r.body, "identity.login_succeeded") || !strings.Contains(r.body, "identity.login_failed") {
		t.Errorf("actor filter (the admin only failed to sign in): %.800s", r.body)
	}
	future := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")
	if r := c.get("/backoffice/audit?from=" + future); !strings.Contains(r.body, "No entries match") {
		t.Errorf("time filter from the future: %.800s", r.body)
	}
	if r := c.get("/backoffice/audit?actor=nobody"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad actor filter: %d", r.status)
	}
}

func TestEmailedLinksLandOnPagesThatSetThePassword(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	for _, path := range []string{"/password-reset/abc", "/portal/password-reset/abc", "/invitations/abc", "/backoffice/password-reset", "/portal/password-reset"} {
		if r := c.get(path); r.status != http.StatusOK || !strings.Contains(r.body, `name="csrf"`) {
			t.Errorf("GET %s: %d", path, r.status)
		}
	}
	form := url.Values{"csrf": {csrfOf(t, c.get("/invitations/abc").body)}, "password": {"Another-Strong-Pass-2026"}, "confirm": {"Another-Strong-Pass-2026"}}
	if r := c.do(http.MethodPost, "/invitations/abc", form); r.status != http.StatusBadRequest || !strings.Contains(r.body, "already used or expired") {
		t.Errorf("unknown invitation: %d %.300s", r.status, r.body)
	}
	delete(form, "csrf")
	if r := c.do(http.MethodPost, "/password-reset/abc", form); r.status != http.StatusForbidden {
		t.Errorf("reset without csrf: %d, want 403", r.status)
	}
}

// enrolTOTP turns on two-factor sign-in for a staff user with a code of the previous 30-second step, so a code of
// the current step is still unused for the login that follows.
func enrolTOTP(t *testing.T, a *app, ten tenants.Tenant, k identity.Kind, id [16]byte) string {
	t.Helper()
	ctx := context.Background()
	e, err := a.identity.EnrolTOTP(ctx, ten, k, id)
	if err != nil {
		t.Fatal(err)
	}
	code, err := auth.TOTPCode(e.Secret, time.Now().Add(-auth.TOTPPeriod))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.identity.ConfirmTOTP(ctx, ten, k, id, code); err != nil {
		t.Fatal(err)
	}
	return e.Secret
}

func TestBackOfficeLoginAsksForTheSecondFactorInASecondStep(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	secret := enrolTOTP(t, a, ten, identity.Staff, admin.ID)
	c := newPageClient(t, base, ten)
	csrf := csrfOf(t, c.get("/backoffice/login").body)
	r := c.do(http.MethodPost, "/backoffice/login", url.Values{"csrf": {csrf}, "email": {admin.Email}, "password": {identity.DemoPassword}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `name="code"`) || c.cookies["__Host-bd_backoffice"] != nil {
		t.Fatalf("first step: %d %.500s", r.status, r.body)
	}
	if strings.Contains(r.body, identity.DemoPassword) {
		t.Error("the second step's page holds the password")
	}
	m := regexp.MustCompile(`name="ticket" value="([^"]+)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no sign-in ticket in the second step: %.500s", r.body)
	}
	ticket := m[1]
	r = c.do(http.MethodPost, "/backoffice/login", url.Values{"csrf": {csrf}, "ticket": {ticket}, "code": {"000000"}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `name="ticket"`) || !strings.Contains(r.body, "Wrong or already used code") {
		t.Errorf("wrong code: %d, want the code step again: %.500s", r.status, r.body)
	}
	// The ticket is this host's only.
	other, _ := demoTenant(t, a)
	elsewhere := newPageClient(t, base, other)
	oc := csrfOf(t, elsewhere.get("/backoffice/login").body)
	code, _ := auth.TOTPCode(secret, time.Now())
	if r := elsewhere.do(http.MethodPost, "/backoffice/login", url.Values{"csrf": {oc}, "ticket": {ticket}, "code": {code}}); r.status != http.StatusUnauthorized || elsewhere.cookies["__Host-bd_backoffice"] != nil {
		t.Errorf("the ticket on another tenant's host: %d", r.status)
	}
	// Nor is it an access token.
	probe := newPageClient(t, base, ten)
	probe.cookies["__Host-bd_backoffice"] = &http.Cookie{Name: "__Host-bd_backoffice", Value: ticket}
	if r := probe.get("/backoffice"); r.status != http.StatusSeeOther {
		t.Errorf("the ticket as an access cookie: %d, want a redirect to the login page", r.status)
	}
	r = c.do(http.MethodPost, "/backoffice/login", url.Values{"csrf": {csrf}, "ticket": {ticket}, "code": {code}})
	if r.status != http.StatusSeeOther || c.cookies["__Host-bd_backoffice"] == nil {
		t.Fatalf("second step: %d %.500s", r.status, r.body)
	}
}

func TestDemoTraderSignsInToThePortalAndSeesTheAccountPage(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	c.login("/portal", identity.DemoTraderEmail(ten), identity.DemoPassword)
	if r := c.get("/portal"); r.status != http.StatusOK || !strings.Contains(r.body, identity.DemoTraderEmail(ten)) {
		t.Fatalf("portal account page: %d %.300s", r.status, r.body)
	}
	if r := c.get("/backoffice"); r.status != http.StatusSeeOther {
		t.Errorf("back office with a portal session: %d, want a redirect to its login page", r.status)
	}
}

func TestAuditPageLinksToOlderEntriesWithTheFiltersKept(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		for i := range audit.DefaultLimit + 5 {
			if err := a.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("test"), Action: "pagetest.row",
				Target: audit.Target{Type: "row", ID: strconv.Itoa(i)}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newPageClient(t, base, ten)
	c.login("/backoffice", admin.Email, identity.DemoPassword)
	first := c.get("/backoffice/audit?action=pagetest.")
	if n := strings.Count(first.body, "<td>pagetest.row</td>"); n != audit.DefaultLimit {
		t.Fatalf("first page: %d rows, want %d", n, audit.DefaultLimit)
	}
	m := regexp.MustCompile(`rel="next" href="([^"]+)"`).FindStringSubmatch(first.body)
	if m == nil {
		t.Fatal("no link to older entries")
	}
	next := html.UnescapeString(m[1])
	if !strings.Contains(next, "action=pagetest.") {
		t.Errorf("the next-page link %q drops the filter", next)
	}
	second := c.get(next)
	if n := strings.Count(second.body, "<td>pagetest.row</td>"); n != 5 || strings.Contains(second.body, `rel="next"`) {
		t.Errorf("second page: %d rows (want 5) and no further link: %.300s", n, second.body)
	}
	if !strings.Contains(second.body, "<td>row:0</td>") || strings.Contains(first.body, "<td>row:0</td>") {
		t.Error("the oldest row is not on the second page alone")
	}
}

func TestRequiredTwoFactorIsEnrolledThroughThePagesThenSignInAsksForTheCode(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	if err := a.identity.SetRequireStaff2FA(context.Background(), ten, audit.System("test"), true); err != nil {
		t.Fatal(err)
	}
	c := newPageClient(t, base, ten)
	email := demoEmail(ten, "readonly")
	csrf := csrfOf(t, c.get("/backoffice/login").body)
	r := c.do(http.MethodPost, "/backoffice/login", url.Values{"csrf": {csrf}, "email": {email}, "password": {identity.DemoPassword}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/backoffice/2fa" {
		t.Fatalf("login without 2FA where it is required: %d %q", r.status, r.header.Get("Location"))
	}
	if r := c.get("/backoffice"); r.status != http.StatusForbidden {
		t.Errorf("home with an enrolment-only session: %d, want 403", r.status)
	}
	page := c.get("/backoffice/2fa")
	r = c.do(http.MethodPost, "/backoffice/2fa/enrol", url.Values{"csrf": {csrfOf(t, page.body)}})
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil || !strings.Contains(r.body, "otpauth://totp/") {
		t.Fatalf("enrol: %d %.500s", r.status, r.body)
	}
	code, _ := auth.TOTPCode(m[1], time.Now())
	r = c.do(http.MethodPost, "/backoffice/2fa/confirm", url.Values{"csrf": {csrfOf(t, r.body)}, "code": {code}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="recovery-codes"`) || !strings.Contains(r.body, "/backoffice/login?notice=enrolled") {
		t.Fatalf("confirm: %d %.500s", r.status, r.body)
	}
	if r := c.get("/backoffice/2fa"); r.status != http.StatusSeeOther {
		t.Errorf("the enrolment-only session outlived the enrolment: %d", r.status)
	}
	r = c.do(http.MethodPost, "/backoffice/login", url.Values{"csrf": {c.cookies["__Host-bd_csrf"].Value}, "email": {email}, "password": {identity.DemoPassword}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `name="code"`) {
		t.Errorf("sign-in after enrolling: %d, want the code step: %.300s", r.status, r.body)
	}
}

// Every page that needs a session, taken from the server's page table (identity's shell and every module's pages):
// another tenant's admin session gets the login page (GET) or 401 (POST) and nothing else; the host's own admin gets
// each GET page without a path parameter. A page added later is covered without touching this test; a path
// parameter is filled with a fresh id, which no tenant has.
// pathParam matches a Fiber path parameter such as ":id".
var pathParam = regexp.MustCompile(`:[A-Za-z_]+`)

func TestEveryPageRefusesAnotherTenantsSession(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	other, otherAdmin := demoTenant(t, a)
	servers, err := a.buildHTTP()
	if err != nil {
		t.Fatal(err)
	}
	table := servers.pages
	own := newPageClient(t, base, ten)
	own.login("/backoffice", admin.Email, identity.DemoPassword)
	theirs := newPageClient(t, base, other)
	theirs.login("/backoffice", otherAdmin.Email, identity.DemoPassword)
	intruder := newPageClient(t, base, ten)
	intruder.cookies = theirs.cookies

	checked := 0
	for _, r := range table.Routes() {
		if r.Permission == web.Public || strings.HasPrefix(string(r.Permission), "portal.") {
			continue
		}
		checked++
		path := pathParam.ReplaceAllString(r.Path, uuid.NewString())
		if r.Method == http.MethodGet {
			if res := intruder.get(path); res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/backoffice/login") {
				t.Errorf("GET %s with another tenant's session: %d %q", path, res.status, res.header.Get("Location"))
			}
			if path != r.Path {
				continue
			}
			// As a client that takes a page or a live stream (payments' live deposits answer only those who ask).
			if res := own.send(http.MethodGet, path, "", nil, "text/html, text/event-stream"); res.status != http.StatusOK {
				t.Errorf("GET %s as the host's admin: %d", path, res.status)
			}
			continue
		}
		form := url.Values{"csrf": {intruder.cookies["__Host-bd_csrf"].Value}}
		if res := intruder.do(r.Method, path, form); res.status != http.StatusUnauthorized {
			t.Errorf("%s %s with another tenant's session: %d, want 401", r.Method, path, res.status)
		}
	}
	if checked < 8 {
		t.Errorf("only %d pages checked", checked)
	}
}

// The portal's pages, from the page table: each refuses a trader's session of another tenant (to the portal's
// sign-in), and the host's own trader gets each page without a path parameter (the partner area included, where a
// trader who is no partner is told how to apply).
func TestEveryPortalPageRefusesAnotherTenantsTrader(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	other, _ := demoTenant(t, a)
	servers, err := a.buildHTTP()
	if err != nil {
		t.Fatal(err)
	}
	own := newPageClient(t, base, ten)
	own.login("/portal", identity.DemoTraderEmail(ten), identity.DemoPassword)
	theirs := newPageClient(t, base, other)
	theirs.login("/portal", identity.DemoTraderEmail(other), identity.DemoPassword)
	intruder := newPageClient(t, base, ten)
	intruder.cookies = theirs.cookies
	checked := 0
	for _, r := range servers.pages.Routes() {
		if !strings.HasPrefix(string(r.Permission), "portal.") || r.Method != http.MethodGet {
			continue
		}
		checked++
		path := pathParam.ReplaceAllString(r.Path, uuid.NewString())
		if res := intruder.get(path); res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/portal/login") {
			t.Errorf("GET %s with another tenant's trader: %d %q", path, res.status, res.header.Get("Location"))
		}
		if path != r.Path || strings.HasSuffix(path, ".csv") {
			continue
		}
		want := http.StatusOK
		if strings.HasSuffix(path, "/partner/live") {
			want = http.StatusNoContent // the partner area's live stream: the trader is no partner
		}
		if res := own.send(http.MethodGet, path, "", nil, "text/html, text/event-stream"); res.status != want {
			t.Errorf("GET %s as the host's trader: %d %.300s", path, res.status, pageText(res.body))
		}
	}
	if checked < 5 {
		t.Errorf("only %d portal pages checked", checked)
	}
}
