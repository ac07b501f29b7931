package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// keyRequest sends a request through the real server with an API key in X-API-Key (header true) or as a Bearer
// credential, or, when key is empty, with the access token bearer.
func keyRequest(t *testing.T, base, host, method, path, key string, header bool, bearer string, body any) call {
	t.Helper()
	var headers []string
	switch {
	case key != "" && header:
		headers = append(headers, "X-API-Key", key)
	case key != "":
		bearer = key
	}
	if method == http.MethodPost {
		headers = append(headers, "Idempotency-Key", uuid.NewString())
	}
	return request(t, base, host, method, path, bearer, body, headers...)
}

// An API key works on its own tenant's host, and nowhere else: not on another tenant's host, not on the console.
func TestAPIKeyWorksOnlyOnItsTenantsHost(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	tenA, adminA := demoTenant(t, a)
	tenB, _ := demoTenant(t, a)
	tokA := staffLogin(t, base, tenA, "admin")
	r := keyRequest(t, base, hostOf(tenA), "POST", "/api/v1/api-keys", "", false, tokA.AccessToken,
		map[string]any{"name": "Reporting", "permissions": []string{"staff.read"}})
	var k identity.CreatedAPIKeyResponse
	if err := json.Unmarshal([]byte(r.body), &k); err != nil || r.status != 201 || k.Secret == "" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for _, header := range []bool{true, false} {
		if c := keyRequest(t, base, hostOf(tenA), "GET", "/api/v1/staff", k.Secret, header, "", nil); c.status != 200 || !strings.Contains(c.body, adminA.Email) {
			t.Fatalf("on A's host (X-API-Key %v): %d %.200s", header, c.status, c.body)
		}
		if c := keyRequest(t, base, hostOf(tenB), "GET", "/api/v1/staff", k.Secret, header, "", nil); c.status != 401 || strings.Contains(c.body, adminA.Email) {
			t.Errorf("on B's host (X-API-Key %v): %d %.200s", header, c.status, c.body)
		}
		if c := keyRequest(t, base, consoleHost, "GET", "/api/v1/console/tenants", k.Secret, header, "", nil); c.status != 401 {
			t.Errorf("on the console (X-API-Key %v): %d %.200s", header, c.status, c.body)
		}
	}
}
