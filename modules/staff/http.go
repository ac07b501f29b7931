package staff

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
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

// InviteRequest invites a new staff user.
type InviteRequest struct {
	Email    string   `json:"email"`
	FullName string   `json:"full_name"`
	Roles    []string `json:"roles"`
}

// Validate checks an invitation: an email address, a name (one line, nothing invisible: it is shown to every
// colleague), and at least one known role; every bad field is named.
func (r *InviteRequest) Validate(f *web.Fields) {
	email := strings.ToLower(strings.TrimSpace(r.Email))
	f.Required("email", email)
	f.Email("email", email)
	name := strings.TrimSpace(r.FullName)
	f.Required("full_name", name)
	f.Name("full_name", name, 200)
	f.Check(len(r.Roles) > 0, "roles", "at least one role is required")
	f.MaxItems("roles", len(r.Roles), len(Roles))
	for _, name := range r.Roles {
		if !slices.Contains(Roles, Role(name)) {
			f.Add("roles", "unknown role "+strconv.Quote(name))
		}
	}
}

// Example is an invitation for the OpenAPI document.
func (InviteRequest) Example() any {
	return InviteRequest{Email: "new.colleague@broker.example", FullName: "Grace Hopper", Roles: []string{string(RoleCompliance)}}
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

// Routes registers the staff API on the tenant hosts' route table. actor names the signed-in caller for the audit
// trail (identity.Actor).
func Routes(api *web.API, s *Service, actor func(c *fiber.Ctx) audit.Actor) {
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/staff", Permission: PermManage, Tag: "staff", Idempotent: true,
		Summary: "Invite a staff user: created with the roles given, emailed a single-use set-password link", Status: fiber.StatusCreated,
		Request: InviteRequest{}, Response: MemberResponse{},
		Handler: func(c *fiber.Ctx) error {
			var r InviteRequest
			if err := web.Bind(c, &r); err != nil {
				return err
			}
			email, name := strings.ToLower(strings.TrimSpace(r.Email)), strings.TrimSpace(r.FullName)
			var roles []Role
			for _, name := range r.Roles {
				if !slices.Contains(roles, Role(name)) {
					roles = append(roles, Role(name))
				}
			}
			m, err := s.Invite(c.UserContext(), tenants.Current(c), actor(c), email, name, roles)
			if errors.Is(err, ErrEmailTaken) {
				return web.NewProblem(fiber.StatusConflict, "email-taken", "A staff user with this email exists already.")
			}
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(toResponse(m))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/staff", Permission: PermRead, Tag: "staff",
		Summary: "The brokerage's staff users", Response: ListResponse{},
		Handler: func(c *fiber.Ctx) error {
			list, err := s.List(c.UserContext(), tenants.Current(c))
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
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such staff user.")
			}
			m, err := s.Get(c.UserContext(), tenants.Current(c), id.String())
			if errors.Is(err, ErrNotFound) {
				return web.NotFound("No such staff user.")
			}
			if err != nil {
				return err
			}
			return c.JSON(toResponse(m))
		}})
}
