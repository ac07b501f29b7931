package identity_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/infra/web/webtest"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// keyAdmin signs in a fresh admin of b's tenant and returns the admin's id and access token.
func keyAdmin(t *testing.T, b *bundle) (uuid.UUID, string) {
	t.Helper()
	email := "admin-" + uuid.NewString()[:8] + "@harbour.example"
	id := b.addStaff(t, email, goodPassword, "admin")
	tr, r := b.login(t, email, goodPassword)
	if r.Status != 200 {
		t.Fatalf("admin login: %d %s", r.Status, r.Body)
	}
	return id, tr.AccessToken
}

// createKey creates a key through the API and returns it (with its secret).
func createKey(t *testing.T, b *bundle, admin string, req map[string]any) identity.CreatedAPIKeyResponse {
	t.Helper()
	r := doKey(t, b.app, "POST", "/api/v1/api-keys", admin, uuid.NewString(), req)
	var k identity.CreatedAPIKeyResponse
	if r.Status != 201 {
		t.Fatalf("create key: %d %s", r.Status, r.Body)
	}
	r.Decode(t, &k)
	return k
}

// withKey sends a request signed with an API key, in the X-API-Key header (header true) or as a Bearer credential.
func withKey(t *testing.T, app *fiber.App, method, path, key string, header bool, body any) reply {
	t.Helper()
	name, value := "Authorization", webtest.Bearer(key)
	if header {
		name, value = identity.HeaderAPIKey, key
	}
	idem := ""
	if method == "POST" {
		idem = uuid.NewString()
	}
	return webtest.Send(t, app, webtest.JSON(method, path, body, name, value, "Idempotency-Key", idem))
}

func listKeys(t *testing.T, b *bundle, admin string) (identity.APIKeyPage, reply) {
	t.Helper()
	r := do(t, b.app, "GET", "/api/v1/api-keys", admin, nil)
	if r.Status != 200 {
		t.Fatalf("list keys: %d %s", r.Status, r.Body)
	}
	var page identity.APIKeyPage
	r.Decode(t, &page)
	return page, r
}

// tenantDump is every row of every table of the tenant's schema as text (bytea as hex).
func tenantDump(t *testing.T, b *bundle) string {
	t.Helper()
	var sb strings.Builder
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
		if err != nil {
			return err
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if !slices.Contains(tables, "api_keys") || !slices.Contains(tables, "idempotency_keys") {
			return errors.New("the tenant's tables were not found: " + strings.Join(tables, ","))
		}
		for _, name := range tables {
			var s string
			if err := tx.QueryRow(ctx, `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM `+pgx.Identifier{name}.Sanitize()+` t`).Scan(&s); err != nil {
				return err
			}
			sb.WriteString(s + "\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestAPIKeySecretIsShownOnceStoredOnlyAsAHashAndNeverListedAuditedOrLogged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	adminID, admin := keyAdmin(t, b)

	idem := uuid.NewString()
	req := map[string]any{"name": "CRM sync", "permissions": []string{"staff.read"}}
	r := doKey(t, b.app, "POST", "/api/v1/api-keys", admin, idem, req)
	var k identity.CreatedAPIKeyResponse
	r.Decode(t, &k)
	if r.Status != 201 || !strings.HasPrefix(k.Secret, "bdk_"+k.ID+"_") || len(k.Secret) < len("bdk_")+36+1+40 ||
		k.Name != "CRM sync" || !slices.Equal(k.Permissions, []string{"staff.read"}) || k.CreatedBy != adminID.String() {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the answer with the secret may be cached: %v", r.Header)
	}
	secret := k.Secret

	// A retry with the same Idempotency-Key names the same key, without the secret (the stored copy has none).
	again := doKey(t, b.app, "POST", "/api/v1/api-keys", admin, idem, req)
	var k2 identity.CreatedAPIKeyResponse
	again.Decode(t, &k2)
	if again.Status != 201 || again.Header.Get("Idempotent-Replayed") != "true" || k2.ID != k.ID || k2.Secret != "" ||
		strings.Contains(string(again.Body), secret) {
		t.Fatalf("replay: %d %v %s", again.Status, again.Header, again.Body)
	}

	page, lr := listKeys(t, b, admin)
	if len(page.Items) != 1 || page.Items[0].ID != k.ID || page.Items[0].LastUsedAt != nil ||
		strings.Contains(string(lr.Body), secret) || strings.Contains(string(lr.Body), `"secret"`) {
		t.Fatalf("list: %s", lr.Body)
	}
	// Used once, so the secret has passed through the authentication path (and its logging) too.
	if r := withKey(t, b.app, "GET", "/api/v1/staff", secret, true, nil); r.Status != 200 {
		t.Fatalf("use: %d %s", r.Status, r.Body)
	}
	if r := withKey(t, b.app, "GET", "/api/v1/staff", secret+"x", true, nil); r.Status != 401 {
		t.Fatalf("altered secret: %d %s", r.Status, r.Body)
	}

	dump := tenantDump(t, b)
	hexSecret := hex.EncodeToString([]byte(secret))
	if strings.Contains(dump, secret) || strings.Contains(dump, hexSecret) || strings.Contains(dump, secret[len(secret)-40:]) {
		t.Fatal("the secret is in the tenant's database")
	}
	h := auth.HashToken(secret)
	if !strings.Contains(dump, hex.EncodeToString(h[:])) {
		t.Fatal("the key's SHA-256 is not stored (is the dump reading the tables?)")
	}
	if logs := b.logs.String(); strings.Contains(logs, secret[len(secret)-40:]) {
		t.Fatal("the secret is in the logs")
	}

	rows, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: identity.ActionAPIKeyCreated}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows.Rows) != 1 {
		t.Fatalf("created audit rows: %d", len(rows.Rows))
	}
	row := rows.Rows[0]
	if row.Actor != (audit.Actor{Kind: audit.ActorStaff, ID: adminID.String()}) || row.Target.ID != k.ID ||
		!strings.Contains(string(row.Diff), "CRM sync") || strings.Contains(string(row.Diff), secret[len(secret)-40:]) {
		t.Fatalf("audit row: %+v %s", row, row.Diff)
	}
	// The response field that carries the secret is one the audit trail redacts wherever it appears.
	if !audit.Sensitive("secret") {
		t.Fatal(`the audit trail does not redact "secret"`)
	}
	d, err := audit.Diff(nil, k)
	if err != nil || strings.Contains(string(d), secret[len(secret)-40:]) {
		t.Fatalf("a created key's response recorded as a diff keeps its secret: %s %v", d, err)
	}
}

func TestAPIKeyAuthorisesExactlyItsScopeAndActsAsAnAPIKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, admin := keyAdmin(t, b)
	k := createKey(t, b, admin, map[string]any{"name": "HR import", "permissions": []string{"staff.read", "staff.manage"}})

	for _, header := range []bool{true, false} {
		if r := withKey(t, b.app, "GET", "/api/v1/staff", k.Secret, header, nil); r.Status != 200 || !strings.Contains(string(r.Body), "@harbour.example") {
			t.Fatalf("in scope (X-API-Key %v): %d %s", header, r.Status, r.Body)
		}
	}
	for _, route := range []struct{ method, path string }{
		{"GET", "/api/v1/api-keys"},                   // apikeys.manage: not in the scope
		{"POST", "/api/v1/api-keys"},                  // the same: a key cannot mint keys
		{"GET", "/api/v1/me"},                         // account.read: a key has no profile
		{"PUT", "/api/v1/settings/require-staff-2fa"}, // settings.manage
	} {
		r := withKey(t, b.app, route.method, route.path, k.Secret, true, map[string]any{"name": "x", "permissions": []string{"staff.read"}})
		if r.Status != 403 || r.Problem().Type != "/problems/forbidden" {
			t.Errorf("%s %s out of scope: %d %s", route.method, route.path, r.Status, r.Body)
		}
	}
	// Trader routes are not a staff key's at all.
	if r := withKey(t, b.app, "POST", "/api/v1/auth/portal/2fa/enrol", k.Secret, false, nil); r.Status != 401 {
		t.Errorf("portal route with a key: %d %s", r.Status, r.Body)
	}

	// What the key does is audited as the key's.
	r := withKey(t, b.app, "POST", "/api/v1/staff", k.Secret, true, staff.InviteRequest{Email: "grace-" + b.ten.Slug + "@harbour.example", FullName: "Grace", Roles: []string{"support"}})
	if r.Status != 201 {
		t.Fatalf("invite with a key: %d %s", r.Status, r.Body)
	}
	page, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: staff.ActionInvited}, "", 10)
	if err != nil || len(page.Rows) != 1 {
		t.Fatalf("invited rows: %v %v", page.Rows, err)
	}
	if got := page.Rows[0].Actor; got != (audit.Actor{Kind: audit.ActorAPIKey, ID: k.ID}) {
		t.Fatalf("actor of an action done with a key: %+v", got)
	}
}

func TestRevokedAPIKeyAnswers401AtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	adminID, admin := keyAdmin(t, b)
	k := createKey(t, b, admin, map[string]any{"name": "Old feed", "permissions": []string{"staff.read"}})
	if r := withKey(t, b.app, "GET", "/api/v1/staff", k.Secret, false, nil); r.Status != 200 {
		t.Fatalf("before revoking: %d %s", r.Status, r.Body)
	}
	r := do(t, b.app, "DELETE", "/api/v1/api-keys/"+k.ID, admin, nil)
	var revoked identity.APIKeyResponse
	r.Decode(t, &revoked)
	if r.Status != 200 || revoked.RevokedAt == nil {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	for _, header := range []bool{true, false} {
		if r := withKey(t, b.app, "GET", "/api/v1/staff", k.Secret, header, nil); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("revoked key: %d %s", r.Status, r.Body)
		}
	}
	// Revoking again changes nothing; unknown or malformed ids are 404.
	if r := do(t, b.app, "DELETE", "/api/v1/api-keys/"+k.ID, admin, nil); r.Status != 200 {
		t.Fatalf("revoke twice: %d %s", r.Status, r.Body)
	}
	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		if r := do(t, b.app, "DELETE", "/api/v1/api-keys/"+id, admin, nil); r.Status != 404 {
			t.Fatalf("revoke %s: %d %s", id, r.Status, r.Body)
		}
	}
	page, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: identity.ActionAPIKeyRevoked}, "", 10)
	if err != nil || len(page.Rows) != 1 || page.Rows[0].Actor != (audit.Actor{Kind: audit.ActorStaff, ID: adminID.String()}) || page.Rows[0].Target.ID != k.ID {
		t.Fatalf("revoked rows: %+v %v", page.Rows, err)
	}
}

func TestExpiredAPIKeyAnswers401(t *testing.T) {
	t.Parallel()
	clock := tenanttest.NewClock(time.Now().UTC().Truncate(time.Second))
	b := setupWith(t, cheap, clock.Now)
	_, admin := keyAdmin(t, b)

	r := doKey(t, b.app, "POST", "/api/v1/api-keys", admin, uuid.NewString(),
		map[string]any{"name": "Past", "permissions": []string{"staff.read"}, "expires_at": clock.Now().Add(-time.Second)})
	if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"expires_at"`) {
		t.Fatalf("expiry in the past: %d %s", r.Status, r.Body)
	}
	k := createKey(t, b, admin, map[string]any{"name": "Trial", "permissions": []string{"staff.read"}, "expires_at": clock.Now().Add(time.Minute)})
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("expires_at: %v", k.ExpiresAt)
	}
	if r := withKey(t, b.app, "GET", "/api/v1/staff", k.Secret, true, nil); r.Status != 200 {
		t.Fatalf("before expiry: %d %s", r.Status, r.Body)
	}
	clock.Add(time.Minute)
	if r := withKey(t, b.app, "GET", "/api/v1/staff", k.Secret, true, nil); r.Status != 401 {
		t.Fatalf("at expiry: %d %s", r.Status, r.Body)
	}
}

func TestAPIKeyOfAnotherTenantOrMalformedAnswers401(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, admin := keyAdmin(t, b)
	k := createKey(t, b, admin, map[string]any{"name": "A's feed", "permissions": []string{"staff.read"}})
	other := b.appFor(b.p.NewTenant(t, ""))
	for _, header := range []bool{true, false} {
		if r := withKey(t, other, "GET", "/api/v1/staff", k.Secret, header, nil); r.Status != 401 || strings.Contains(string(r.Body), "@harbour.example") {
			t.Fatalf("A's key on B's host (X-API-Key %v): %d %s", header, r.Status, r.Body)
		}
	}
	_, secretPart, _ := strings.Cut(strings.TrimPrefix(k.Secret, "bdk_"), "_")
	for _, bad := range []string{"bdk_", "bdk_" + k.ID, "bdk_" + k.ID + "_", "bdk_" + uuid.NewString() + "_" + secretPart, "bdk_nope_" + secretPart} {
		if r := withKey(t, b.app, "GET", "/api/v1/staff", bad, true, nil); r.Status != 401 {
			t.Errorf("malformed key %q: %d %s", bad, r.Status, r.Body)
		}
	}
	// Two credentials at once are refused, even when the key alone would pass.
	req := httptest.NewRequest("GET", "/api/v1/staff", nil)
	req.Header.Set("X-API-Key", k.Secret)
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := b.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("key and token together: %d", res.StatusCode)
	}
	// The control: the key itself works on its own tenant's host.
	if r := withKey(t, b.app, "GET", "/api/v1/staff", k.Secret, true, nil); r.Status != 200 {
		t.Fatalf("A's key on A's host: %d %s", r.Status, r.Body)
	}
}

func TestAPIKeyCannotHoldMoreThanItsCreator(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, admin := keyAdmin(t, b)
	r := doKey(t, b.app, "POST", "/api/v1/api-keys", admin, uuid.NewString(),
		map[string]any{"name": "Greedy", "permissions": []string{"staff.read", "everything.all", "apikeys.manage", "account.read"}})
	var p web.Problem
	r.Decode(t, &p)
	if r.Status != 422 || len(p.Errors) != 3 {
		t.Fatalf("greedy key: %d %s", r.Status, r.Body)
	}
	for _, fe := range p.Errors {
		if fe.Field != "permissions" {
			t.Errorf("field error %+v", fe)
		}
	}
	if r := doKey(t, b.app, "POST", "/api/v1/api-keys", admin, uuid.NewString(), map[string]any{"name": " ", "permissions": []string{}}); r.Status != 422 ||
		!strings.Contains(string(r.Body), `"field":"name"`) || !strings.Contains(string(r.Body), `"field":"permissions"`) {
		t.Fatalf("empty key request: %d %s", r.Status, r.Body)
	}
	if page, _ := listKeys(t, b, admin); len(page.Items) != 0 {
		t.Fatalf("a refused request made a key: %+v", page.Items)
	}

	// A creator whose roles lack a permission cannot put it in a key (an admin holds every permission, so this is
	// the service's rule, checked for any creator).
	creator := b.addStaff(t, "comp-"+b.ten.Slug+"@harbour.example", goodPassword, "compliance")
	_, _, err := b.svc.CreateAPIKey(context.Background(), b.ten, identity.Creator{ID: creator, Roles: []string{"compliance"}},
		identity.NewAPIKey{Name: "Beyond", Permissions: []web.Permission{identity.PermStaffRead, identity.PermPaymentsApprove}})
	fe, ok := validation.As(err)
	if !ok || len(fe.Fields) != 1 || fe.Fields[0].Field != "permissions" || !strings.Contains(fe.Fields[0].Message, "payments.approve") {
		t.Fatalf("compliance creating a payments key: %v", err)
	}
	// A user without apikeys.manage does not reach the route.
	tr, _ := b.login(t, "comp-"+b.ten.Slug+"@harbour.example", goodPassword)
	if r := doKey(t, b.app, "POST", "/api/v1/api-keys", tr.AccessToken, uuid.NewString(), map[string]any{"name": "x", "permissions": []string{"staff.read"}}); r.Status != 403 {
		t.Fatalf("compliance on the create route: %d %s", r.Status, r.Body)
	}
}

func TestAPIKeyLastUsedIsRecordedAtMostOncePerMinute(t *testing.T) {
	t.Parallel()
	clock := tenanttest.NewClock(time.Now().UTC().Truncate(time.Second))
	b := setupWith(t, cheap, clock.Now)
	_, admin := keyAdmin(t, b)
	k := createKey(t, b, admin, map[string]any{"name": "Busy", "permissions": []string{"staff.read"}})
	lastUsed := func() *time.Time {
		page, _ := listKeys(t, b, admin)
		if len(page.Items) != 1 {
			t.Fatalf("keys: %+v", page.Items)
		}
		return page.Items[0].LastUsedAt
	}
	use := func() {
		if r := withKey(t, b.app, "GET", "/api/v1/staff", k.Secret, true, nil); r.Status != 200 {
			t.Fatalf("use: %d %s", r.Status, r.Body)
		}
	}
	if lastUsed() != nil {
		t.Fatal("a new key has been used")
	}
	first := clock.Now()
	use()
	if got := lastUsed(); got == nil || !got.Equal(first) {
		t.Fatalf("after the first use: %v, want %v", got, first)
	}
	clock.Add(59 * time.Second)
	use()
	use()
	if got := lastUsed(); got == nil || !got.Equal(first) {
		t.Fatalf("within the minute: %v, want %v (unchanged)", got, first)
	}
	clock.Add(time.Second)
	use()
	if got := lastUsed(); got == nil || !got.Equal(clock.Now()) {
		t.Fatalf("a minute later: %v, want %v", got, clock.Now())
	}
}

// Keys are a tenant's: the list shows only the host tenant's keys.
func TestAPIKeyListIsTheTenantsOwn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, admin := keyAdmin(t, b)
	createKey(t, b, admin, map[string]any{"name": "Mine", "permissions": []string{"staff.read"}})
	b2 := &bundle{p: b.p, ten: b.p.NewTenant(t, ""), keys: b.keys, hasher: b.hasher, svc: b.svc, staff: b.staff, audit: b.audit, logs: b.logs}
	b2.app = b.appFor(b2.ten)
	_, admin2 := keyAdmin(t, b2)
	if page, r := listKeys(t, b2, admin2); len(page.Items) != 0 || strings.Contains(string(r.Body), "Mine") {
		t.Fatalf("B's list shows A's keys: %s", r.Body)
	}
}
