package staff

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Permissions this module's routes declare (identity maps roles to them).
const (
	PermRead   web.Permission = "staff.read"
	PermManage web.Permission = "staff.manage"
)

// MemberResponse is a staff user in the API.
type MemberResponse struct {
	ID       string   `json:"id"`
	Email    string   `json:"email"`
	FullName string   `json:"full_name"`
	Roles    []string `json:"roles"`
	Status   string   `json:"status"`
}

// ListResponse is the staff list.
type ListResponse struct {
	Staff []MemberResponse `json:"staff"`
}

func toResponse(m Member) MemberResponse {
	roles := make([]string, len(m.Roles))
	for i, r := range m.Roles {
		roles[i] = string(r)
	}
	return MemberResponse{ID: m.ID.String(), Email: m.Email, FullName: m.FullName, Roles: roles, Status: m.Status}
}

// Routes registers the staff API on the tenant hosts' route table.
func Routes(api *web.API, s *Service) {
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/staff", Permission: PermRead, Tag: "staff",
		Summary: "The brokerage's staff users", Response: ListResponse{},
		Handler: func(c *fiber.Ctx) error {
			list, err := s.List(c.UserContext(), current(c))
			if err != nil {
				return err
			}
			out := ListResponse{Staff: make([]MemberResponse, 0, len(list))}
			for _, m := range list {
				out.Staff = append(out.Staff, toResponse(m))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/staff/:id", Permission: PermRead, Tag: "staff",
		Summary: "One staff user", Response: MemberResponse{},
		Handler: func(c *fiber.Ctx) error {
			m, err := s.Get(c.UserContext(), current(c), c.Params("id"))
			if errors.Is(err, ErrNotFound) {
				return web.NotFound("No such staff user.")
			}
			if err != nil {
				return err
			}
			return c.JSON(toResponse(m))
		}})
}

func current(c *fiber.Ctx) tenants.Tenant {
	t, ok := tenants.FromContext(c.UserContext())
	if !ok {
		panic("staff: route registered without tenants.HostMiddleware") // a wiring defect, caught by tests
	}
	return t
}
