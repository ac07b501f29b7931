package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/bonuses"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// demoTenant provisions a tenant with the demo staff (password identity.DemoPassword, hashed at argon2id's lowest
// cost so logins in tests are cheap) and returns it with its admin's staff record.
func demoTenant(t testing.TB, a *app) (tenants.Tenant, staff.Member) {
	t.Helper()
	return demoTenantNamed(t, a, "Identity FX")
}

// demoTenantNamed is demoTenant with the brokerage's display name (its brand) chosen.
func demoTenantNamed(t testing.TB, a *app, name string) (tenants.Tenant, staff.Member) {
	t.Helper()
	ten, err := a.provisioner.Create(context.Background(), tenants.Request{Slug: "i" + tenanttest.RandomLabel(10), DisplayName: name, AdminEmail: "owner@identity.example"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := auth.NewHasher(auth.Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	var admin staff.Member
	err = a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := (staff.DemoSeeder{}).Seed(ctx, tx, ten); err != nil {
			return err
		}
		if err := (identity.DemoSeeder{Hasher: h}).Seed(ctx, tx, ten); err != nil {
			return err
		}
		if err := (clients.DemoSeeder{}).Seed(ctx, tx, ten); err != nil { // the demo trader's client carries @<slug>.demo
			return err
		}
		admin, err = staff.ByEmail(ctx, tx, "admin@"+ten.Slug+".demo")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ten, admin
}

// uploadForMatrix gives one of ten's demo clients (moved to email_verified) an uploaded PNG, which opens a case.
func uploadForMatrix(t *testing.T, a *app, ten tenants.Tenant) {
	t.Helper()
	ctx := context.Background()
	var id uuid.UUID
	err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT id FROM clients WHERE status = 'email_verified' LIMIT 1`).Scan(&id); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("a verified demo client: %v", err)
	}
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	var file bytes.Buffer
	if err := png.Encode(&file, img); err != nil {
		t.Fatal(err)
	}
	if _, err := a.documents.Upload(ctx, ten, id, documents.Upload{Type: "proof_of_address", FileName: "bill.png", Body: &file,
		Actor: audit.Actor{Kind: audit.ActorClient, ID: id.String()}}); err != nil {
		t.Fatalf("upload: %v", err)
	}
}

// paymentsForMatrix gives ten a gateway, a deposit of one of its clients, and an open exceptions-queue case.
func paymentsForMatrix(t *testing.T, a *app, ten tenants.Tenant) {
	t.Helper()
	err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO payment_gateways (id, slug, name, kind, currencies) VALUES (gen_random_uuid(), 'matrix-bank', 'Matrix bank', 'manual', '{USD}');
			INSERT INTO deposits (id, client_id, gateway_id, amount, currency, exponent, status, created_by)
				SELECT gen_random_uuid(), (SELECT id FROM clients LIMIT 1), id, 12345, 'USD', 2, 'pending', 'test' FROM payment_gateways;
			INSERT INTO payment_exceptions (id, kind, status, reason, dedupe_key, due_at)
				VALUES (gen_random_uuid(), 'unknown_reference', 'open', 'matrix', 'matrix', now())`)
		return err
	})
	if err != nil {
		t.Fatalf("payments for the matrix: %v", err)
	}
}

type call struct {
	status int
	body   string
}

func request(t testing.TB, base, host, method, path, token string, body any, headers ...string) call {
	t.Helper()
	var rd io.Reader
	if body != nil {
		buf, _ := json.Marshal(body)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return call{status: res.StatusCode, body: string(b)}
}

func hostOf(ten tenants.Tenant) string { return ten.Slug + ".brokerdesk.test" }

// staffLogin signs a demo staff user in through the API and returns the tokens.
func staffLogin(t testing.TB, base string, ten tenants.Tenant, role string) identity.TokenResponse {
	t.Helper()
	r := request(t, base, hostOf(ten), "POST", "/api/v1/auth/staff/login", "",
		identity.LoginRequest{Email: strings.ReplaceAll(role, "_", "-") + "@" + ten.Slug + ".demo", Password: identity.DemoPassword})
	var tr identity.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tr); err != nil || r.status != 200 {
		t.Fatalf("login as %s: %d %s", role, r.status, r.body)
	}
	return tr
}

// Every way of holding a token that is not this host's: each gets 401, and only the genuine one gets through.
func TestAccessTokensNotForThisHostGet401(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	tenA, adminA := demoTenant(t, a)
	tenB, _ := demoTenant(t, a)
	keys := a.cfg.JWTKeys
	iss := "https://" + a.cfg.BaseDomain
	good := auth.Claims{Issuer: iss, Audience: auth.AudienceBackoffice, Subject: adminA.ID.String(), TenantID: tenA.ID.String(), Roles: []string{"admin"}}
	issue := func(r *auth.KeyRing, c auth.Claims) string {
		t.Helper()
		tok, _, err := r.Issue(c, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	with := func(f func(*auth.Claims)) auth.Claims { c := good; f(&c); return c }
	otherKey, _ := auth.GenerateKey("t1") // same kid, another key
	otherRing, _ := auth.NewKeyRing(otherKey)
	unknownKey, _ := auth.GenerateKey("zz")
	unknownRing, _ := auth.NewKeyRing(unknownKey)

	// alg none and HS256 keyed with our public key: the classic algorithm confusions.
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": iss, "aud": "backoffice", "sub": adminA.ID.String(),
		"tid": tenA.ID.String(), "roles": []string{"admin"}, "typ": "access", "iat": time.Now().Unix(), "nbf": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "jti": "x"})
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	genuine := issue(keys, good)
	parts := strings.Split(genuine, ".")
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey) // startServer's key
	hs := jwt.New(jwt.SigningMethodHS256)
	hs.Header["kid"] = "t1"
	hsHeader, _ := json.Marshal(hs.Header)
	signing := base64.RawURLEncoding.EncodeToString(hsHeader) + "." + parts[1]
	sig, _ := jwt.SigningMethodHS256.Sign(signing, []byte(pub))
	hsTok := signing + "." + base64.RawURLEncoding.EncodeToString(sig)

	console := auth.Claims{Issuer: iss, Audience: auth.AudienceConsole, Subject: adminA.ID.String()}
	tokenB := staffLogin(t, base, tenB, "admin")
	reused := staffLogin(t, base, tenA, "admin")
	if r := request(t, base, hostOf(tenA), "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: reused.RefreshToken}); r.status != 200 {
		t.Fatalf("first refresh: %d %s", r.status, r.body)
	}

	cases := map[string]string{
		"no token":                  "",
		"garbage":                   "not.a.jwt",
		"alg none":                  noneTok,
		"HS256 with the public key": hsTok,
		"unknown kid":               issue(unknownRing, good),
		"same kid, other key":       issue(otherRing, good),
		"expired":                   issue(keys.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }), good),
		"not yet valid":             issue(keys.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }), good),
		"wrong aud (portal)":        issue(keys, with(func(c *auth.Claims) { c.Audience = auth.AudiencePortal })),
		"wrong iss":                 issue(keys, with(func(c *auth.Claims) { c.Issuer = "https://elsewhere.example" })),
		"tenant B's tid":            issue(keys, with(func(c *auth.Claims) { c.TenantID = tenB.ID.String() })),
		"operator (console)":        issue(keys, console),
		"tenant B's login":          tokenB.AccessToken,
	}
	for name, tok := range cases {
		if r := request(t, base, hostOf(tenA), "GET", "/api/v1/staff", tok, nil); r.status != 401 || strings.Contains(r.body, adminA.Email) {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// The reused refresh token is refused too.
	if r := request(t, base, hostOf(tenA), "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: reused.RefreshToken}); r.status != 401 {
		t.Errorf("reused refresh token: %d %s", r.status, r.body)
	}
	// The control: the genuine token works, so the refusals above are about the tokens.
	if r := request(t, base, hostOf(tenA), "GET", "/api/v1/staff", genuine, nil); r.status != 200 || !strings.Contains(r.body, adminA.Email) {
		t.Fatalf("genuine token: %d %s", r.status, r.body)
	}
}

// The cross-tenant matrix, generated from the route table, so a route added later is covered without editing this
// test: every non-public route refuses a request without a token (401); every route with a path parameter, asked by
// tenant B's admin (B's trader for the portal's routes) for tenant A's ids, answers 404 (or 401/403) and shows none
// of A's data, on B's host and on A's.
func TestCrossTenantMatrixFromTheRouteTable(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	s, err := a.buildHTTP()
	if err != nil {
		t.Fatal(err)
	}
	tenA, adminA := demoTenant(t, a)
	tenB, _ := demoTenant(t, a)
	tokA, tokB := staffLogin(t, base, tenA, "admin"), staffLogin(t, base, tenB, "admin")
	// Portal routes are asked by tenant B's trader: a staff token would be refused there for its audience, which
	// says nothing of the tenant.
	tr := request(t, base, hostOf(tenB), "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: identity.DemoTraderEmail(tenB),
		Password: identity.DemoPassword})
	var traderB identity.TokenResponse
	if err := json.Unmarshal([]byte(tr.body), &traderB); err != nil || tr.status != 200 {
		t.Fatalf("B's trader: %d %s", tr.status, tr.body)
	}
	portalRoutes, portalNotFound := 0, 0
	// A's ids, by path parameter name; a parameter with no entry gets every id of A in turn. A has an uploaded
	// document and its review case too, so document and case routes are tried with ids that exist.
	uploadForMatrix(t, a, tenA)
	paymentsForMatrix(t, a, tenA)
	tradingForMatrix(t, a, tenA)
	partnersForMatrix(t, a, tenA)
	withdrawalsForMatrix(t, a, tenA)
	if _, err := a.bonuses.CreateRule(context.Background(), tenA, audit.System("test"), "Matrix bonus", "USD", bonuses.DemoTerms()); err != nil {
		t.Fatal(err)
	}
	var idsA []string
	err = a.gate.Scope(context.Background(), tenA, func(ctx context.Context, tx pgx.Tx) error {
		for _, q := range []string{`SELECT id::text FROM staff_users`, `SELECT id::text FROM clients`,
			`SELECT id::text FROM documents`, `SELECT id::text FROM kyc_cases`, `SELECT id::text FROM deposits`,
			`SELECT id::text FROM payment_exceptions`, `SELECT slug FROM payment_gateways`, `SELECT slug FROM trading_servers`,
			`SELECT slug FROM account_types`, `SELECT id::text FROM trading_requests`, `SELECT id::text FROM trading_transfers`,
			`SELECT id::text FROM trading_accounts`, `SELECT id::text FROM trading_drift_items`, `SELECT id::text FROM trading_credits`, `SELECT id::text FROM partners`, `SELECT id::text FROM partner_plans`,
			`SELECT id::text FROM withdrawals`, `SELECT id::text FROM bonus_rules`} {
			rows, err := tx.Query(ctx, q)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			idsA = append(idsA, ids...)
		}
		return nil
	})
	if err != nil || len(idsA) == 0 {
		t.Fatalf("tenant A's ids: %v %v", idsA, err)
	}
	secretsOfA := []string{adminA.Email, adminA.FullName, "@" + tenA.Slug + ".demo"}
	leaks := func(body string) bool {
		for _, s := range secretsOfA {
			if strings.Contains(body, s) {
				return true
			}
		}
		return false
	}
	param := regexp.MustCompile(`:[A-Za-z0-9_]+`)
	withParams, guarded, controls := 0, 0, 0
	for _, r := range s.api.Routes() {
		var body any
		if r.Method != "GET" && r.Method != "HEAD" && r.Method != "DELETE" {
			body = map[string]any{}
		}
		if r.Permission != web.Public {
			guarded++
			path := param.ReplaceAllString(r.Path, idsA[0])
			if c := request(t, base, hostOf(tenA), r.Method, path, "", body); c.status != 401 {
				t.Errorf("%s %s without a token: %d %.200s", r.Method, r.Path, c.status, c.body)
			}
		}
		if !param.MatchString(r.Path) {
			continue
		}
		withParams++
		for _, id := range idsA {
			path := param.ReplaceAllString(r.Path, id)
			for _, host := range []string{hostOf(tenB), hostOf(tenA)} {
				var headers []string
				if r.Idempotent { // past the key check, so the refusal tested is the tenant's
					headers = []string{"Idempotency-Key", uuid.NewString()}
				}
				tok := tokB.AccessToken
				if strings.HasPrefix(string(r.Permission), "portal.") {
					tok = traderB.AccessToken
					portalRoutes++
				}
				c := request(t, base, host, r.Method, path, tok, body, headers...)
				if tok == traderB.AccessToken && host == hostOf(tenB) && c.status == 404 {
					portalNotFound++ // past the token and the permission: the id is not B's
				}
				if (c.status != 404 && c.status != 401 && c.status != 403) || leaks(c.body) {
					t.Errorf("%s %s on %s with B's admin token: %d %.200s", r.Method, path, host, c.status, c.body)
				}
			}
			// The control: A's admin reaching A's own object through a GET proves the ids mean something.
			if r.Method == "GET" {
				if c := request(t, base, hostOf(tenA), r.Method, path, tokA.AccessToken, nil); c.status == 200 && leaks(c.body) {
					controls++
				}
			}
		}
	}
	if guarded == 0 || withParams == 0 || controls == 0 || portalRoutes == 0 || portalNotFound == 0 {
		t.Fatalf("matrix covered %d guarded routes, %d with path parameters (%d tries of portal routes, %d not found for B's trader), %d positive controls: all must be > 0",
			guarded, withParams, portalRoutes, portalNotFound, controls)
	}
}

// The demo brokerage has one login per role (password identity.DemoPassword, printed by `make run`), and each role
// sees the staff list exactly when its permissions say so.
func TestEveryDemoRoleSignsInAndSeesWhatItsPermissionsAllow(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	// Provisioned as `make run` provisions the demo: with the modules' demo seeders (production hashing cost, once
	// per role).
	prov := tenants.NewProvisioner(a.registry, a.clusters, a.gate, tenants.ProvisionerOptions{Seeders: a.demoSeeders()})
	ten, err := prov.Create(context.Background(), tenants.Request{Slug: "d" + tenanttest.RandomLabel(10), DisplayName: "Demo FX", AdminEmail: "owner@demo.example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range staff.Roles {
		tok := staffLogin(t, base, ten, string(role))
		want := 403
		if identity.Allowed([]string{string(role)}, staff.PermRead) {
			want = 200
		}
		if r := request(t, base, hostOf(ten), "GET", "/api/v1/staff", tok.AccessToken, nil); r.status != want {
			t.Errorf("%s on the staff list: %d, want %d", role, r.status, want)
		}
		r := request(t, base, hostOf(ten), "GET", "/api/v1/me", tok.AccessToken, nil)
		var me identity.MeResponse
		if err := json.Unmarshal([]byte(r.body), &me); err != nil || r.status != 200 || len(me.Roles) != 1 || me.Roles[0] != string(role) {
			t.Errorf("%s: /me %d %s", role, r.status, r.body)
		}
	}
}
