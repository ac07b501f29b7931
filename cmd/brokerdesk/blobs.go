package main

import (
	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// mountBlobLinks serves the disk store's signed document links (/blobs/<key>?exp&name&sig) on the tenant hosts,
// after the host gate: a link works only on the host of the tenant whose key prefix it is, so a link copied to
// another brokerage's host is a 404 even with a valid signature. S3's links go to the bucket, not through us.
func (a *app) mountBlobLinks(tenantApp *fiber.App) {
	d, ok := a.blobs.(*blob.Disk)
	if !ok {
		return
	}
	tenantApp.Get("/blobs/*", func(c *fiber.Ctx) error {
		t, ok := tenants.FromContext(c.UserContext())
		if !ok || blob.TenantOf(c.Params("*")) != t.ID.String() {
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.SendStatus(fiber.StatusNotFound)
		}
		return c.Next()
	}, d.Handler())
}
