package payments

import (
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// What of the tenant's clients a staff user may see, for the pages and the API's staff routes: under the onboarding
// setting managers_see_own_clients_only, a sales or retention user sees only the clients they manage (the clients
// module's rule, clients.VisibleTx), so only their deposits, cases and wallets.

// clientViewer is the request's staff user for the clients module's object-level rule.
func clientViewer(c *fiber.Ctx) clients.Viewer {
	pr, ok := identity.PrincipalOf(c)
	if !ok || pr.Kind != identity.Staff {
		return clients.Viewer{}
	}
	return clients.Viewer{StaffID: pr.UserID, Roles: pr.Claims.Roles}
}

// reach is what of the tenant's clients the request's viewer may see: every client, or (a sales or retention user
// under managers_see_own_clients_only) the ones they manage.
type reach struct {
	limited bool
	ids     []uuid.UUID
}

func (r reach) sees(client uuid.UUID) bool {
	if !r.limited {
		return true
	}
	for _, id := range r.ids {
		if id == client {
			return true
		}
	}
	return false
}

// narrow limits ids (nil: no limit) to what r sees.
func (r reach) narrow(ids []uuid.UUID) []uuid.UUID {
	if !r.limited {
		return ids
	}
	if ids == nil {
		return r.ids
	}
	return intersect(ids, r.ids)
}

func intersect(a, b []uuid.UUID) []uuid.UUID {
	in := make(map[uuid.UUID]bool, len(b))
	for _, id := range b {
		in[id] = true
	}
	out := []uuid.UUID{}
	for _, id := range a {
		if in[id] {
			out = append(out, id)
		}
	}
	return out
}

func (p *pages) reachOf(c *fiber.Ctx) (reach, error) { return p.s.reachOf(c) }

// reachOf is the request's reach: a staff user's under the clients module's rule; an API key's or a trader's is
// every client (their permission, or the portal's own checks, decide).
func (s *Service) reachOf(c *fiber.Ctx) (reach, error) {
	ids, limited, err := s.visibleClients(c.UserContext(), tenants.Current(c), clientViewer(c))
	return reach{limited: limited, ids: ids}, err
}

// hides reports whether the request's viewer may not see the rows of client (nil: a row of no client, hidden from
// a viewer limited to their own clients). The API's staff routes answer such rows "not found", as the pages do.
func (s *Service) hides(c *fiber.Ctx, client *uuid.UUID) (bool, error) {
	r, err := s.reachOf(c)
	if err != nil || !r.limited {
		return false, err
	}
	return client == nil || !r.sees(*client), nil
}

// narrowFilter limits f to the clients the request's viewer may see.
func (s *Service) narrowFilter(c *fiber.Ctx, f DepositFilter) (DepositFilter, error) {
	r, err := s.reachOf(c)
	f.ClientIDs = r.narrow(f.ClientIDs)
	return f, err
}

// visibleCases keeps the cases the request's viewer may see.
func (s *Service) visibleCases(c *fiber.Ctx, list []Case) ([]Case, error) {
	r, err := s.reachOf(c)
	if err != nil || !r.limited {
		return list, err
	}
	out := []Case{}
	for _, cs := range list {
		if cs.ClientID != nil && r.sees(*cs.ClientID) {
			out = append(out, cs)
		}
	}
	return out, nil
}
