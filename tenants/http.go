package tenants

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/infra/web"
)

type ctxKey struct{}

// WithTenant returns ctx carrying the request's tenant (from its host, never from a body or query).
func WithTenant(ctx context.Context, t Tenant) context.Context {
	return logging.WithTenant(context.WithValue(ctx, ctxKey{}, t), t.Slug)
}

// FromContext returns the tenant of the request or job that ctx belongs to.
func FromContext(ctx context.Context) (Tenant, bool) {
	t, ok := ctx.Value(ctxKey{}).(Tenant)
	return t, ok
}

// Current returns the tenant of a request that came through HostMiddleware. A handler mounted without the host
// gate is a wiring defect, not a client's error: it panics, the recover middleware answers 500, and tests that walk
// the route tables catch it.
func Current(c *fiber.Ctx) Tenant {
	t, ok := FromContext(c.UserContext())
	if !ok {
		panic("tenants: " + c.Method() + " " + c.Route().Path + " is served without tenants.HostMiddleware")
	}
	return t
}

// HostMiddleware resolves the request's tenant from its Host header. An unknown host, or a tenant that is not
// (yet, or any more) serving, gets 404; a suspended tenant gets a clear 403. The tenant then travels in the
// request's user context for handlers and logs.
func HostMiddleware(r *Resolver) fiber.Handler {
	return func(c *fiber.Ctx) error {
		res, err := r.Resolve(c.UserContext(), web.Host(c))
		switch {
		case errors.Is(err, ErrNotFound) || (err == nil && res.Kind != HostTenant):
			return web.NewProblem(fiber.StatusNotFound, "unknown-host", "No brokerage is served at this address.")
		case err != nil:
			return err
		}
		t := res.Tenant
		switch t.Status {
		case StatusActive:
		case StatusSuspended:
			return web.NewProblem(fiber.StatusForbidden, "tenant-suspended",
				"This brokerage's back office is suspended. Its administrators have been told why; please contact the brokerage.")
		default:
			return web.NewProblem(fiber.StatusNotFound, "unknown-host", "No brokerage is served at this address.")
		}
		c.SetUserContext(WithTenant(c.UserContext(), t))
		return c.Next()
	}
}
