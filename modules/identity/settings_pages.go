package identity

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// settingsPath is the back office's sign-in security settings page.
const settingsPath = "/backoffice/settings"

// mountSettings registers the settings page: whether every staff user must use two-factor sign-in.
func (p *pages) mountSettings() {
	p.shell.Page(fiber.MethodGet, settingsPath, PermSettingsManage, p.settings)
	p.shell.Post(settingsPath+"/require-2fa", PermSettingsManage, p.setRequire2FA)
}

type settingsData struct {
	CSRF          string
	RequireStaff2 bool
}

func (p *pages) settings(c *fiber.Ctx) error {
	var on bool
	err := p.s.gate.ScopeWith(c.UserContext(), tenants.Current(c), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		on, err = requireStaff2FA(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	return p.shell.Render(c, fiber.StatusOK, "identity_settings", "Settings", settingsData{CSRF: p.shell.CSRF(c), RequireStaff2: on})
}

func (p *pages) setRequire2FA(c *fiber.Ctx) error {
	if err := p.s.SetRequireStaff2FA(c.UserContext(), tenants.Current(c), Actor(c), c.FormValue("require") == "on"); err != nil {
		return err
	}
	return c.Redirect(settingsPath, fiber.StatusSeeOther)
}
