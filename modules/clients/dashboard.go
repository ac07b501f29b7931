package clients

import (
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// NewRegistrationDays is the window of the dashboard's "New registrations" tile: today and the six days before it
// (UTC), whole days, so the list it links to (registered since the first of them) shows exactly what it counts.
const NewRegistrationDays = 7

// tiles are the clients' counts on the back office's home page. Each counts what the clients list shows the viewer
// with the filter its link carries (Service.Count), so a sales or retention user who sees only their own clients
// (managers_see_own_clients_only) counts only those.
func (p *pages) tiles() []web.Tile {
	count := func(c *fiber.Ctx, f Filter) (web.TileCount, error) {
		n, err := p.s.Count(c.UserContext(), tenants.Current(c), viewerOf(c), f)
		return web.TileCount{Value: n}, err
	}
	return []web.Tile{
		{Group: web.GroupClients, Label: "New registrations (last 7 days)", Href: listPath, Permission: identity.PermClientsRead,
			Order: 10, Count: func(c *fiber.Ctx) (web.TileCount, error) {
				since := p.registeredSince()
				n, err := count(c, Filter{Since: since})
				n.Href = listPath + "?" + url.Values{"since": {since.Format(time.DateOnly)}}.Encode()
				return n, err
			}},
		{Group: web.GroupClients, Label: "Waiting for email verification", Href: listPath + "?" + url.Values{"status": {string(StatusRegistered)}}.Encode(),
			Permission: identity.PermClientsRead, Order: 20, Count: func(c *fiber.Ctx) (web.TileCount, error) {
				return count(c, Filter{Status: StatusRegistered})
			}},
	}
}

// registeredSince is the first instant the "New registrations" tile counts: midnight UTC, NewRegistrationDays-1
// days ago.
func (p *pages) registeredSince() time.Time {
	now := p.s.now().UTC()
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(NewRegistrationDays - 1))
}

// sinceOf reads the list's "since" filter: a date (UTC), from its midnight on.
func sinceOf(v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, web.Invalid("The filter is not valid.", web.FieldError{Field: "since", Message: "is not a date (YYYY-MM-DD)"})
	}
	return t, nil
}
