package main

import (
	"net/http"
	"testing"
)

// The limiter is wired into the tenant hosts (after the health checks, which stay unlimited) and the console.
func TestTenantAndConsoleHostsAreRateLimited(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten := provisionForTest(t, a)
	for _, tc := range []struct {
		host, path string
		limited    bool
	}{
		{ten.Slug + ".brokerdesk.test", "/api/v1/openapi.json", true},
		{"console.brokerdesk.test", "/nowhere", true},
		{ten.Slug + ".brokerdesk.test", "/healthz", false},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
		req.Host = tc.host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("RateLimit-Limit") == "1000000"; got != tc.limited {
			t.Errorf("%s%s: RateLimit-Limit %q, want limited=%v", tc.host, tc.path, res.Header.Get("RateLimit-Limit"), tc.limited)
		}
	}
}
