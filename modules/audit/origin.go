package audit

import (
	"net/netip"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/brokerdesk/brokerdesk/infra/logging"
)

// OriginMiddleware puts each request's origin (client IP as Fiber sees it, User-Agent, request id) into the
// request's user context, so every Record made while serving it carries them. Install it after the request-id
// middleware (web.New does that first) and before any handler that changes state.
func OriginMiddleware() fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx := c.UserContext()
		o := Origin{UserAgent: utils.CopyString(c.Get(fiber.HeaderUserAgent)), RequestID: logging.RequestID(ctx)}
		if ip, err := netip.ParseAddr(c.IP()); err == nil {
			o.IP = ip
		}
		c.SetUserContext(WithOrigin(ctx, o))
		return c.Next()
	}
}
