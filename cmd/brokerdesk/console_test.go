package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/operators"
	"github.com/brokerdesk/brokerdesk/tenants"
)

const (
	consoleHost     = "console.brokerdesk.test"
	operatorPasswrd = "correct horse battery staple"
)

func noEnv(string) string { return "" }

// createOperator runs `operators create` as the CLI does, with the password on stdin.
func createOperator(t *testing.T, a *app, email string) {
	t.Helper()
	ops, err := newOperators(a)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = operatorsCommand(context.Background(), ops, []string{"create", "--email", email, "--name", "Olga Operator"},
		passwordSource{in: strings.NewReader(operatorPasswrd + "\n"), getenv: noEnv, prompt: io.Discard}, &out)
	if err != nil {
		t.Fatal(err)
	}
}

// consoleClient is a pageClient on the console host.
type consoleClient = pageClient

type consoleResponse = pageResponse

func newConsoleClient(t *testing.T, base string) *consoleClient {
	return &pageClient{t: t, base: base, host: consoleHost, cookies: map[string]*http.Cookie{}}
}

func (c *pageClient) json(method, path string, in any) consoleResponse {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	return c.send(method, path, "application/json", body, "application/json")
}

func (c *pageClient) form(path string, v url.Values) consoleResponse {
	c.t.Helper()
	return c.send(http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()), "text/html")
}

func TestOperatorsCreateCommandAppliesPolicyAndIsIdempotentOnEmail(t *testing.T) {
	t.Parallel()
	a, _, _ := startServer(t)
	ops, err := newOperators(a)
	if err != nil {
		t.Fatal(err)
	}
	run := func(pw passwordSource, email string) (string, error) {
		var out bytes.Buffer
		err := operatorsCommand(context.Background(), ops, []string{"create", "--email", email, "--name", "Olga Operator"}, pw, &out)
		return out.String(), err
	}
	env := func(k string) string {
		if k == "BD_OPERATOR_PASSWORD" {
			return operatorPasswrd
		}
		return ""
	}
	out, err := run(passwordSource{in: strings.NewReader(""), getenv: env, prompt: io.Discard}, "Olga@Ops.test")
	if err != nil || !strings.Contains(out, "operator olga@ops.test (Olga Operator) created") {
		t.Fatalf("create: %q %v", out, err)
	}
	_, err = run(passwordSource{in: strings.NewReader(operatorPasswrd + "\n"), getenv: noEnv, prompt: io.Discard}, "olga@ops.test")
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create with the same email: %v", err)
	}
	_, err = run(passwordSource{in: strings.NewReader("short\n"), getenv: noEnv, prompt: io.Discard}, "other@ops.test")
	if err == nil || !strings.Contains(err.Error(), "at least 12 characters") {
		t.Fatalf("weak password: %v", err)
	}
	if _, err := ops.Login(context.Background(), operators.Credentials{Email: "other@ops.test", Password: "short"}); err == nil {
		t.Fatal("the refused operator exists")
	}
}

func TestConsoleAPILoginTenantsRefreshReuseAndLogout(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten := provisionForTest(t, a)
	createOperator(t, a, "ops@brokerdesk.test")
	c := newConsoleClient(t, base)

	if r := c.json(http.MethodGet, "/api/v1/console/tenants", nil); r.status != 401 {
		t.Fatalf("tenants without a token: %d %s", r.status, r.body)
	}
	if r := c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: "wrong password!!"}); r.status != 401 {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	r := c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: operatorPasswrd})
	var tok operators.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	cl, err := a.cfg.JWTKeys.Verify(tok.AccessToken, auth.Expectation{Audience: auth.AudienceConsole, Issuer: a.issuer()})
	if err != nil || cl.Audience != auth.AudienceConsole || cl.TenantID != "" || tok.ExpiresIn > 15*60 || tok.ExpiresIn < 14*60 {
		t.Fatalf("console token: %+v %v (expires in %d s)", cl, err, tok.ExpiresIn)
	}

	// A tenant's own token, validly signed by the same keys, is refused on the console.
	tenantTok, _, err := a.cfg.JWTKeys.Issue(auth.Claims{Issuer: a.issuer(), Audience: auth.AudienceBackoffice, Subject: "u1",
		TenantID: ten.ID.String(), Roles: []string{"admin"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.bearer = tenantTok
	if r := c.json(http.MethodGet, "/api/v1/console/tenants", nil); r.status != 401 {
		t.Fatalf("tenant token on the console: %d %s", r.status, r.body)
	}

	c.bearer = tok.AccessToken
	r = c.json(http.MethodGet, "/api/v1/console/tenants", nil)
	var list operators.TenantList
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.status != 200 {
		t.Fatalf("tenants: %d %s", r.status, r.body)
	}
	found := false
	for _, v := range list.Tenants {
		found = found || (v.Slug == ten.Slug && v.Status == "active" && v.Cluster == ten.Cluster)
	}
	if !found {
		t.Fatalf("tenant %s not listed: %s", ten.Slug, r.body)
	}
	if r := c.json(http.MethodPost, "/api/v1/console/tenants/"+ten.Slug+"/suspend", operators.StatusRequest{}); r.status != 422 {
		t.Fatalf("suspend without a reason: %d %s", r.status, r.body)
	}
	if r := c.json(http.MethodPost, "/api/v1/console/tenants/"+ten.Slug+"/suspend", operators.StatusRequest{Reason: "unpaid invoice"}); r.status != 200 {
		t.Fatalf("suspend: %d %s", r.status, r.body)
	}
	assertStatus(t, a, ten.Slug, tenants.StatusSuspended, "operator:ops@brokerdesk.test")
	if r := c.json(http.MethodPost, "/api/v1/console/tenants/nosuchtenant/resume", operators.StatusRequest{Reason: "x"}); r.status != 404 {
		t.Fatalf("resume an unknown tenant: %d %s", r.status, r.body)
	}

	c.bearer = ""
	r = c.json(http.MethodPost, "/api/v1/console/refresh", operators.RefreshRequest{RefreshToken: tok.RefreshToken})
	var next operators.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &next); err != nil || r.status != 200 || next.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if r := c.json(http.MethodPost, "/api/v1/console/refresh", operators.RefreshRequest{RefreshToken: tok.RefreshToken}); r.status != 401 {
		t.Fatalf("reused refresh token: %d %s", r.status, r.body)
	}
	if r := c.json(http.MethodPost, "/api/v1/console/refresh", operators.RefreshRequest{RefreshToken: next.RefreshToken}); r.status != 401 {
		t.Fatalf("successor after reuse (family revoked): %d %s", r.status, r.body)
	}

	// A fresh session ends with logout.
	r = c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: operatorPasswrd})
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
		t.Fatalf("second login: %d %s", r.status, r.body)
	}
	if r := c.json(http.MethodPost, "/api/v1/console/logout", operators.RefreshRequest{RefreshToken: tok.RefreshToken}); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := c.json(http.MethodPost, "/api/v1/console/refresh", operators.RefreshRequest{RefreshToken: tok.RefreshToken}); r.status != 401 {
		t.Fatalf("refresh after logout: %d %s", r.status, r.body)
	}
}

func TestConsoleAPITwoFactorEnrolmentThenLoginNeedsCode(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	createOperator(t, a, "ops@brokerdesk.test")
	c := newConsoleClient(t, base)
	var tok operators.TokenResponse
	r := c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: operatorPasswrd})
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	c.bearer = tok.AccessToken
	if r := c.json(http.MethodPost, "/api/v1/console/2fa/enrol", operators.EnrolRequest{Password: "not my password"}); r.status != 401 {
		t.Fatalf("enrol with a wrong password: %d %s", r.status, r.body)
	}
	r = c.json(http.MethodPost, "/api/v1/console/2fa/enrol", operators.EnrolRequest{Password: operatorPasswrd})
	var enr operators.EnrolResponse
	if err := json.Unmarshal([]byte(r.body), &enr); err != nil || r.status != 200 || !strings.HasPrefix(enr.URI, "otpauth://totp/") {
		t.Fatalf("enrol: %d %s", r.status, r.body)
	}
	code, _ := auth.TOTPCode(enr.Secret, time.Now())
	r = c.json(http.MethodPost, "/api/v1/console/2fa/confirm", operators.ConfirmRequest{Code: code})
	var conf operators.ConfirmResponse
	if err := json.Unmarshal([]byte(r.body), &conf); err != nil || r.status != 200 || len(conf.RecoveryCodes) != auth.RecoveryCodeCount {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	c.bearer = ""
	r = c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: operatorPasswrd})
	if r.status != 401 || !strings.Contains(r.body, "/problems/totp-required") {
		t.Fatalf("login without the code: %d %s", r.status, r.body)
	}
	r = c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: operatorPasswrd, Code: conf.RecoveryCodes[0]})
	if r.status != 200 {
		t.Fatalf("login with a recovery code: %d %s", r.status, r.body)
	}
}

func TestConsoleAPILockoutAnswers429(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	createOperator(t, a, "ops@brokerdesk.test")
	c := newConsoleClient(t, base)
	for i := range 5 {
		if r := c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: "wrong password " + string(rune('a'+i))}); r.status != 401 {
			t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: operatorPasswrd})
	if r.status != 429 || !strings.Contains(r.body, "/problems/account-locked") || r.header.Get("Retry-After") == "" {
		t.Fatalf("right password while locked: %d %s", r.status, r.body)
	}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in %.300s", body)
	}
	return m[1]
}

func TestConsolePagesLoginCSRFSuspendAndJobs(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten := provisionForTest(t, a)
	createOperator(t, a, "ops@brokerdesk.test")
	c := newConsoleClient(t, base)

	// Without a session: pages and the jobs UI send browsers to the login page; API-style requests get 401.
	r := c.send(http.MethodGet, "/jobs", "", nil, "text/html")
	if r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Fatalf("/jobs without login: %d %q", r.status, r.header.Get("Location"))
	}
	if r := c.send(http.MethodGet, "/jobs/api/queues", "", nil, "application/json"); r.status != 401 {
		t.Fatalf("/jobs/api without login: %d", r.status)
	}
	if r := c.send(http.MethodGet, "/tenants", "", nil, "text/html"); r.status != 303 {
		t.Fatalf("/tenants without login: %d", r.status)
	}

	r = c.send(http.MethodGet, "/login", "", nil, "text/html")
	if r.status != 200 || !strings.Contains(r.body, `action="/login"`) {
		t.Fatalf("login page: %d %.300s", r.status, r.body)
	}
	csrf := csrfOf(t, r.body)
	creds := url.Values{"email": {"ops@brokerdesk.test"}, "password": {operatorPasswrd}}
	if r := c.form("/login", creds); r.status != 403 {
		t.Fatalf("login without the csrf field: %d", r.status)
	}
	creds.Set("csrf", "forged-"+csrf)
	if r := c.form("/login", creds); r.status != 403 {
		t.Fatalf("login with a wrong csrf field: %d", r.status)
	}
	creds.Set("csrf", csrf)
	r = c.form("/login", creds)
	if r.status != 303 || r.header.Get("Location") != "/tenants" {
		t.Fatalf("login: %d %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	var access *http.Cookie
	for _, ck := range r.cookies {
		if ck.Name == "__Host-bd_console" {
			access = ck
		}
	}
	if access == nil || !access.HttpOnly || !access.Secure || access.SameSite != http.SameSiteStrictMode || access.Path != "/" {
		t.Fatalf("session cookie: %+v", access)
	}
	if _, err := a.cfg.JWTKeys.Verify(access.Value, auth.Expectation{Audience: auth.AudienceConsole, Issuer: a.issuer()}); err != nil {
		t.Fatalf("the cookie holds no console token: %v", err)
	}

	r = c.send(http.MethodGet, "/tenants", "", nil, "text/html")
	if r.status != 200 || !strings.Contains(r.body, ten.Slug) || !strings.Contains(r.body, `action="/tenants/`+ten.Slug+`/suspend"`) {
		t.Fatalf("tenants page: %d %.500s", r.status, r.body)
	}
	csrf = csrfOf(t, r.body)
	if csrf == creds.Get("csrf") {
		t.Fatal("the CSRF token was not renewed at login")
	}
	if r := c.form("/tenants/"+ten.Slug+"/suspend", url.Values{"reason": {"chargebacks"}}); r.status != 403 {
		t.Fatalf("suspend without csrf: %d", r.status)
	}
	assertStatus(t, a, ten.Slug, tenants.StatusActive, "")
	if r := c.form("/tenants/"+ten.Slug+"/suspend", url.Values{"reason": {"chargebacks"}, "csrf": {csrf}}); r.status != 303 {
		t.Fatalf("suspend: %d %.300s", r.status, r.body)
	}
	assertStatus(t, a, ten.Slug, tenants.StatusSuspended, "operator:ops@brokerdesk.test")
	r = c.send(http.MethodGet, "/tenants", "", nil, "text/html")
	if !strings.Contains(r.body, `action="/tenants/`+ten.Slug+`/resume"`) {
		t.Fatalf("no resume button for the suspended tenant: %.500s", r.body)
	}
	if r := c.form("/tenants/"+ten.Slug+"/resume", url.Values{"reason": {"settled"}, "csrf": {csrf}}); r.status != 303 {
		t.Fatalf("resume: %d %.300s", r.status, r.body)
	}
	assertStatus(t, a, ten.Slug, tenants.StatusActive, "operator:ops@brokerdesk.test")

	// asynqmon behind the session, under its root path.
	r = c.send(http.MethodGet, "/jobs", "", nil, "text/html")
	if r.status != 200 || !strings.Contains(strings.ToLower(r.body), "asynq") || !strings.Contains(r.body, "/jobs") {
		t.Fatalf("/jobs: %d %.300s", r.status, r.body)
	}
	script := regexp.MustCompile(`src="(/jobs/static/js/[^"]+\.js)"`).FindStringSubmatch(r.body)
	if script == nil {
		t.Fatalf("the jobs UI links no script under /jobs/static: %.500s", r.body)
	}
	if r := c.send(http.MethodGet, script[1], "", nil, "*/*"); r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), "javascript") {
		t.Fatalf("jobs UI script %s: %d %s", script[1], r.status, r.header.Get("Content-Type"))
	}
	r = c.send(http.MethodGet, "/jobs/api/queues", "", nil, "application/json")
	if r.status != 200 || !strings.HasPrefix(strings.TrimSpace(r.body), "{") {
		t.Fatalf("/jobs/api/queues: %d %.300s", r.status, r.body)
	}
	if r := c.send(http.MethodDelete, "/jobs/api/queues/default", "", nil, "application/json"); r.status != 403 {
		t.Fatalf("cross-origin write to the jobs API: %d", r.status)
	}
	if r := c.send(http.MethodGet, "/jobsfoo", "", nil, "text/html"); r.status == 200 {
		t.Fatal("/jobsfoo served as the jobs UI")
	}

	// Logout ends the session: the cookie is cleared and the refresh family revoked.
	if r := c.form("/logout", url.Values{"csrf": {csrf}}); r.status != 303 {
		t.Fatalf("logout: %d", r.status)
	}
	if r := c.send(http.MethodGet, "/tenants", "", nil, "text/html"); r.status != 303 {
		t.Fatalf("/tenants after logout: %d", r.status)
	}
}

// assertStatus checks a tenant's status and, when actor is set, that the last event names the operator.
func assertStatus(t *testing.T, a *app, slug string, want tenants.Status, actor string) {
	t.Helper()
	ctx := context.Background()
	ten, err := a.registry.BySlug(ctx, slug)
	if err != nil || ten.Status != want {
		t.Fatalf("tenant %s is %s (%v), want %s", slug, ten.Status, err, want)
	}
	if actor == "" {
		return
	}
	var got, from, to string
	if err := a.clusters.Platform().QueryRow(ctx, `SELECT actor, from_status, to_status FROM platform.tenant_events WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1`, ten.ID).Scan(&got, &from, &to); err != nil {
		t.Fatal(err)
	}
	if got != actor || to != string(want) || from == to {
		t.Fatalf("last event of %s: %s -> %s by %q, want -> %s by %q", slug, from, to, got, want, actor)
	}
}

// The console's OpenAPI document lists exactly the console API routes served.
func TestConsoleOpenAPIDocumentsExactlyTheServedRoutes(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	s, err := a.buildHTTP()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range s.consoleApp.GetRoutes(true) {
		if strings.HasPrefix(r.Path, "/api/") && r.Method != fiber.MethodHead && r.Method != fiber.MethodOptions {
			served[r.Method+" "+openAPIPath(r.Path)] = true
		}
	}
	c := newConsoleClient(t, base)
	r := c.json(http.MethodGet, "/api/v1/openapi.json", nil)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || r.status != 200 {
		t.Fatalf("console openapi.json: %d %.200s", r.status, r.body)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	if len(served) < 8 || len(served) != len(documented) {
		t.Errorf("served %d console API routes, documented %d", len(served), len(documented))
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("served but not documented: %s", k)
		}
	}
}

// pageLogin signs in through the login form.
func pageLogin(t *testing.T, c *consoleClient) {
	t.Helper()
	r := c.send(http.MethodGet, "/login", "", nil, "text/html")
	r = c.form("/login", url.Values{"email": {"ops@brokerdesk.test"}, "password": {operatorPasswrd}, "csrf": {csrfOf(t, r.body)}})
	if r.status != 303 {
		t.Fatalf("page login: %d %.300s", r.status, r.body)
	}
}

func TestConsolePageSessionRenewsFromTheRefreshCookieOnPageLoadsOnly(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	createOperator(t, a, "ops@brokerdesk.test")
	c := newConsoleClient(t, base)
	pageLogin(t, c)
	session := c.cookies["__Host-bd_console"]
	cl, err := a.cfg.JWTKeys.Verify(session.Value, auth.Expectation{Audience: auth.AudienceConsole, Issuer: a.issuer()})
	if err != nil {
		t.Fatal(err)
	}
	// The same operator's token, issued 20 minutes ago: expired.
	old, _, err := a.cfg.JWTKeys.WithClock(func() time.Time { return time.Now().Add(-20 * time.Minute) }).
		Issue(auth.Claims{Issuer: a.issuer(), Audience: auth.AudienceConsole, Subject: cl.Subject, Roles: cl.Roles}, operators.AccessTTL)
	if err != nil {
		t.Fatal(err)
	}
	c.cookies["__Host-bd_console"] = &http.Cookie{Name: "__Host-bd_console", Value: old}
	if r := c.send(http.MethodGet, "/jobs/api/queues", "", nil, "application/json"); r.status != 401 {
		t.Fatalf("background request with an expired session: %d", r.status)
	}
	r := c.send(http.MethodGet, "/tenants", "", nil, "text/html")
	if r.status != 200 {
		t.Fatalf("page load with an expired session and a refresh cookie: %d %.300s", r.status, r.body)
	}
	renewed := c.cookies["__Host-bd_console"].Value
	if renewed == old {
		t.Fatal("the session cookie was not renewed")
	}
	if _, err := a.cfg.JWTKeys.Verify(renewed, auth.Expectation{Audience: auth.AudienceConsole, Issuer: a.issuer()}); err != nil {
		t.Fatalf("renewed cookie: %v", err)
	}
	// Without a refresh cookie an expired session goes back to the login page.
	delete(c.cookies, "__Host-bd_console_refresh")
	c.cookies["__Host-bd_console"] = &http.Cookie{Name: "__Host-bd_console", Value: old}
	if r := c.send(http.MethodGet, "/tenants", "", nil, "text/html"); r.status != 303 {
		t.Fatalf("expired session without refresh cookie: %d", r.status)
	}
}

func TestDevDemoOperatorIsCreatedOnceAndCanSignIn(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	for range 2 { // every `brokerdesk dev` run ensures it
		if err := a.ensureDemoOperator(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	c := newConsoleClient(t, base)
	r := c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: demoOperatorEmail, Password: identity.DemoPassword})
	if r.status != 200 {
		t.Fatalf("demo operator login: %d %s", r.status, r.body)
	}
}

func TestConsolePagesEnrolTwoFactorThenSignInWithCodeAndOut(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	createOperator(t, a, "ops@brokerdesk.test")
	c := newConsoleClient(t, base)
	pageLogin(t, c)

	r := c.send(http.MethodGet, "/2fa", "", nil, "text/html")
	if r.status != 200 || !strings.Contains(r.body, "Two-factor sign-in is off") {
		t.Fatalf("2fa page: %d %.400s", r.status, r.body)
	}
	if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Content-Security-Policy") != "frame-ancestors 'none'" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("console page headers: %v", r.header)
	}
	csrf := csrfOf(t, r.body)
	if r := c.form("/2fa/enrol", url.Values{"password": {operatorPasswrd}}); r.status != 403 {
		t.Fatalf("enrol without csrf: %d", r.status)
	}
	if r := c.form("/2fa/enrol", url.Values{"csrf": {csrf}, "password": {"not my password"}}); r.status != 422 || !strings.Contains(r.body, "Wrong password") {
		t.Fatalf("enrol with a wrong password: %d", r.status)
	}
	r = c.form("/2fa/enrol", url.Values{"csrf": {csrf}, "password": {operatorPasswrd}})
	if r.status != 200 {
		t.Fatalf("enrol: %d %.600s", r.status, r.body)
	}
	secret := checkEnrolmentPage(t, r.body, "BrokerDesk console", "ops@brokerdesk.test")
	code, _ := auth.TOTPCode(secret, time.Now())
	r = c.form("/2fa/confirm", url.Values{"csrf": {csrf}, "code": {code}})
	recovery := regexp.MustCompile(`<li><code>([0-9a-z-]{19})</code></li>`).FindAllStringSubmatch(r.body, -1)
	if r.status != 200 || len(recovery) != auth.RecoveryCodeCount {
		t.Fatalf("confirm: %d, %d recovery codes: %.600s", r.status, len(recovery), r.body)
	}
	if r := c.form("/logout", url.Values{"csrf": {csrf}}); r.status != 303 {
		t.Fatalf("logout: %d", r.status)
	}

	r = c.send(http.MethodGet, "/login", "", nil, "text/html")
	creds := url.Values{"email": {"ops@brokerdesk.test"}, "password": {operatorPasswrd}, "csrf": {csrfOf(t, r.body)}}
	r = c.form("/login", creds)
	if r.status != 401 || !strings.Contains(r.body, "Enter the one-time code") {
		t.Fatalf("login without the code: %d %.400s", r.status, r.body)
	}
	creds.Set("code", recovery[0][1])
	if r := c.form("/login", creds); r.status != 303 {
		t.Fatalf("login with a recovery code: %d %.400s", r.status, r.body)
	}
	if r := c.send(http.MethodGet, "/2fa", "", nil, "text/html"); r.status != 200 || !strings.Contains(r.body, "Two-factor sign-in is on") {
		t.Fatalf("2fa page after enrolment: %d %.400s", r.status, r.body)
	}
}

func TestOperatorsCommandsListDisableAndResetTwoFactor(t *testing.T) {
	t.Parallel()
	a, _, _ := startServer(t)
	createOperator(t, a, "ops@brokerdesk.test")
	ops, err := newOperators(a)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := operatorsCommand(ctx, ops, args, passwordSource{in: strings.NewReader(""), getenv: noEnv, prompt: io.Discard}, &out)
		return out.String(), err
	}
	creds := operators.Credentials{Email: "ops@brokerdesk.test", Password: operatorPasswrd}
	sess, err := ops.Login(ctx, creds)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := ops.EnrolTOTP(ctx, sess.Operator.ID, operatorPasswrd)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := auth.TOTPCode(enr.Secret, time.Now())
	if _, err := ops.ConfirmTOTP(ctx, sess.Operator.ID, code); err != nil {
		t.Fatal(err)
	}
	if out, err := run("list"); err != nil || !regexp.MustCompile(`ops@brokerdesk.test\s+Olga Operator\s+active\s+true`).MatchString(out) {
		t.Fatalf("list: %q %v", out, err)
	}

	if _, err := run("reset-2fa", "--email", "OPS@brokerdesk.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Refresh(ctx, sess.RefreshToken); err == nil {
		t.Fatal("a session survived the 2FA reset")
	}
	if sess, err = ops.Login(ctx, creds); err != nil {
		t.Fatalf("password-only login after the reset: %v", err)
	}

	if _, err := run("disable", "--email", "ops@brokerdesk.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Refresh(ctx, sess.RefreshToken); err == nil {
		t.Fatal("a session survived disabling")
	}
	if _, err := ops.Login(ctx, creds); err == nil {
		t.Fatal("a disabled operator signed in")
	}
	if _, err := run("enable", "--email", "ops@brokerdesk.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Login(ctx, creds); err != nil {
		t.Fatalf("login after enable: %v", err)
	}
	if _, err := run("disable", "--email", "nobody@brokerdesk.test"); err == nil || !strings.Contains(err.Error(), "no operator") {
		t.Fatalf("disable an unknown operator: %v", err)
	}
}
