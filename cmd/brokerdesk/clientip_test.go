package main

import (
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
)

// The audit trail records the client behind a trusted load balancer, never an address the client wrote itself.
// (app.Test's peer is 0.0.0.0, standing in for the load balancer.)
func TestAuditOriginIsTheForwardedClientOnlyBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, trusted, want string }{
		{"behind the load balancer", "0.0.0.0/32", "203.0.113.9"},
		{"no trusted proxy", "", "0.0.0.0"},
	} {
		proxies, err := web.ParseTrustedProxies(tc.trusted)
		if err != nil {
			t.Fatal(err)
		}
		app := web.New(web.Options{TrustedProxies: proxies})
		app.Use(audit.OriginMiddleware())
		app.Get("/", func(c *fiber.Ctx) error { return c.SendString(audit.OriginFrom(c.UserContext()).IP.String()) })
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.66, 203.0.113.9") // the first entry is the client's own claim
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := res.Body.Read(b)
		if got := string(b[:n]); got != tc.want {
			t.Errorf("%s: audit origin IP %q, want %q", tc.name, got, tc.want)
		}
	}
}
