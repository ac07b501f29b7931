package staff

import (
	"context"
	"embed"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PageFiles are the staff page's templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

// listPath is the back office's staff page.
const listPath = "/backoffice/staff"

// TwoFactor tells which staff users have two-factor sign-in on. Sign-in is identity's, a room above this one, so
// identity implements it (identity.Service) and its own handler, POST /backoffice/staff/:id/2fa/reset, is what the
// page's reset button posts to.
type TwoFactor interface {
	StaffWithTwoFactor(ctx context.Context, t tenants.Tenant) (map[uuid.UUID]bool, error)
}

// TwoFactorFunc is a function as a TwoFactor: it lets the staff module be built before identity, which builds its
// demo logins on the staff rows this module seeds.
type TwoFactorFunc func(ctx context.Context, t tenants.Tenant) (map[uuid.UUID]bool, error)

// StaffWithTwoFactor implements TwoFactor.
func (f TwoFactorFunc) StaffWithTwoFactor(ctx context.Context, t tenants.Tenant) (map[uuid.UUID]bool, error) {
	return f(ctx, t)
}

// MountPages adds the staff page (the list, each user's two-factor state and, for staff.manage holders, the
// two-factor reset button) to the back office, under Settings.
func MountPages(shell *web.Shell, s *Service, tf TwoFactor) {
	shell.Nav(web.NavEntry{Group: web.GroupSettings, Label: "Staff", Href: listPath, Permission: PermRead})
	shell.Page(fiber.MethodGet, listPath, PermRead, func(c *fiber.Ctx) error { return listPage(c, shell, s, tf) })
}

// listData is the staff page: the list, and for staff.manage holders a reset button beside each other user who
// has two-factor sign-in on.
type listData struct {
	CSRF    string
	Notice  string
	Members []listRow
}

type listRow struct {
	Member
	TwoFactor bool
	CanReset  bool
}

// notices are the messages a redirect to the staff page may ask for (by key).
var notices = map[string]string{
	"2fa-reset": "Two-factor sign-in is reset: the user's sessions end within 15 minutes; they sign in with their password and enrol again.",
}

func listPage(c *fiber.Ctx, shell *web.Shell, s *Service, tf TwoFactor) error {
	v, _, err := shell.Viewer(c)
	if err != nil {
		return err
	}
	t := tenants.Current(c)
	list, err := s.List(c.UserContext(), t)
	if err != nil {
		return err
	}
	on, err := tf.StaffWithTwoFactor(c.UserContext(), t)
	if err != nil {
		return err
	}
	manage := v.Can(PermManage)
	d := listData{CSRF: shell.CSRF(c), Notice: notices[c.Query("notice")]}
	for _, m := range list {
		d.Members = append(d.Members, listRow{Member: m, TwoFactor: on[m.ID], CanReset: manage && on[m.ID] && m.ID != v.UserID})
	}
	return shell.Render(c, fiber.StatusOK, "staff_list", "Staff", d)
}
