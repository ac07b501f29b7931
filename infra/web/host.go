package web

import "github.com/gofiber/fiber/v2"

// Host is the host a request was sent to: the authority of its request line, or else its Host header, exactly as
// the connection carried it (with any port). It is the only host the product believes. Fiber's c.Hostname()
// prefers X-Forwarded-Host whenever the trusted-proxy check is off, and a load balancer passes a client's
// X-Forwarded-Host (or Forwarded) through untouched, so anything keyed on it (the tenant, cookies, the console's
// Origin check, caches) would be the client's to choose. docs/security.md says what a load balancer must forward.
func Host(c *fiber.Ctx) string { return string(c.Request().Host()) }
