package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// forgeries are the forwarding headers a client (or a load balancer passing a client's header through) can send
// to name another host than the one it connected to.
func forgeries(host string) []map[string]string {
	return []map[string]string{
		{"X-Forwarded-Host": host},
		{"Forwarded": "host=" + host},
		{"X-Forwarded-Host": host, "X-Forwarded-Proto": "https", "Forwarded": `for=203.0.113.9;host="` + host + `";proto=https`},
	}
}

// The tenant comes from the request's Host alone: on tenant B's host, headers naming tenant A's host never make the
// request A's, on any API route, any page, or the console, whether or not the peer is a trusted proxy. Every route
// of the route tables is tried, so a route added later is covered too.
func TestForgedForwardingHeadersNeverChooseTheTenant(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		env  map[string]string
	}{
		{"no trusted proxies", nil},
		{"the client is a trusted proxy", map[string]string{"BD_TRUSTED_PROXIES": "127.0.0.0/8,::1/128"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			a, base, _ := startServerWith(t, mode.env)
			s, err := a.buildHTTP()
			if err != nil {
				t.Fatal(err)
			}
			tenA, adminA := demoTenantNamed(t, a, "Alpha Forged Markets")
			tenB, _ := demoTenantNamed(t, a, "Bravo Honest Markets")
			hostA, hostB := hostOf(tenA), hostOf(tenB)
			tokA := staffLogin(t, base, tenA, "admin")
			ofA := []string{"Alpha Forged Markets", adminA.Email, tenA.Slug}
			leaks := func(body string) string {
				for _, s := range ofA {
					if strings.Contains(body, s) {
						return s
					}
				}
				return ""
			}

			// A's back-office session, replayed on B's host.
			sessA := newPageClient(t, base, tenA)
			sessA.login("/backoffice", demoEmail(tenA, "admin"), identity.DemoPassword)
			param := regexp.MustCompile(`:[A-Za-z0-9_]+`)
			id := adminA.ID.String()
			for _, forged := range forgeries(hostA) {
				// Every API route, with A's token: on B's host that token is not valid (401); public routes show
				// B, never A.
				for _, r := range s.api.Routes() {
					var body any
					if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodDelete {
						body = map[string]any{}
					}
					var headers []string
					for k, v := range forged {
						headers = append(headers, k, v)
					}
					c := request(t, base, hostB, r.Method, param.ReplaceAllString(r.Path, id), tokA.AccessToken, body, headers...)
					if leak := leaks(c.body); leak != "" || (r.Permission != web.Public && c.status != http.StatusUnauthorized) {
						t.Errorf("%s %s on B's host with A's token and %v: %d, shows %q: %.200s", r.Method, r.Path, forged, c.status, leak, c.body)
					}
				}
				if r := get(t, base, hostB, "/api/v1/branding", ""); !strings.Contains(r.body, "Bravo Honest Markets") {
					t.Errorf("B's branding: %d %.200s", r.status, r.body)
				}
				// An unknown host stays unknown whatever it forwards.
				c := request(t, base, "nobody.brokerdesk.test", http.MethodGet, "/api/v1/branding", "", nil, flatten(forged)...)
				if c.status != http.StatusNotFound || leaks(c.body) != "" {
					t.Errorf("unknown host forwarding %v: %d %.200s", forged, c.status, c.body)
				}

				// Every page, with A's session cookies: a signed-in page is not served (the session is A's), a
				// public one is B's.
				onB := &pageClient{t: t, base: base, host: hostB, cookies: sessA.cookies, headers: forged}
				for _, pr := range s.pages.Routes() {
					path := param.ReplaceAllString(pr.Path, id)
					var res pageResponse
					if pr.Method == http.MethodGet {
						res = onB.send(http.MethodGet, path, "", nil, "text/html")
					} else {
						res = onB.send(pr.Method, path, "application/x-www-form-urlencoded", strings.NewReader("csrf=x"), "text/html")
					}
					if leak := leaks(res.body); leak != "" || (pr.Permission != web.Public && res.status == http.StatusOK) {
						t.Errorf("page %s %s on B's host with A's session and %v: %d, shows %q", pr.Method, pr.Path, forged, res.status, leak)
					}
				}
				if r := onB.get("/backoffice/login"); !strings.Contains(r.body, "Bravo Honest Markets") {
					t.Errorf("B's sign-in page with %v does not show B: %.200s", forged, r.body)
				}

				// The console stays the console, and a tenant's host stays the tenant's when the console is forged.
				c = request(t, base, "console.brokerdesk.test", http.MethodGet, "/api/v1/branding", "", nil, flatten(forged)...)
				if c.status != http.StatusNotFound || leaks(c.body) != "" {
					t.Errorf("console host forwarding %v served a tenant route: %d %.200s", forged, c.status, c.body)
				}
			}
			for _, forged := range forgeries("console.brokerdesk.test") {
				onB := &pageClient{t: t, base: base, host: hostB, cookies: map[string]*http.Cookie{}, headers: forged}
				if r := onB.get("/login"); r.status != http.StatusNotFound && strings.Contains(r.body, "Operator") {
					t.Errorf("B's host forwarding the console host served the console: %d", r.status)
				}
			}
		})
	}
}

func flatten(h map[string]string) []string {
	var out []string
	for k, v := range h {
		out = append(out, k, v)
	}
	return out
}
