package identity

import (
	"embed"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

// PageFiles are identity's page templates (sign-in, passwords, two-factor, settings, the back office's home and
// the portal's account page), for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

// pages are identity's own pages on the tenant hosts' page shell. They are split by concern: sign-in and
// passwords (signin_pages.go), two-factor sign-in (twofactor_pages.go), the settings page (settings_pages.go);
// the sessions behind every page are sessions.go.
type pages struct {
	shell *web.Shell
	ss    *Sessions
	s     *Service
}

// MountPages registers identity's pages on the page shell, like any other module's, with its menu entries: sign-in
// and sign-out of both areas, password reset, invitations, two-factor enrolment, the settings page, the staff
// page's two-factor reset, the back office's home (the role dashboard of every module's tiles) and the portal's
// account page. ss must be the Sessions the shell was built with.
func MountPages(shell *web.Shell, ss *Sessions) {
	p := &pages{shell: shell, ss: ss, s: ss.s}
	shell.Nav(
		web.NavEntry{Group: web.GroupHome, Label: "Dashboard", Href: backOffice.prefix, Permission: PermAccountRead},
		web.NavEntry{Group: web.GroupSettings, Label: "Sign-in security", Href: settingsPath, Permission: PermSettingsManage},
		web.NavEntry{Group: web.GroupAccount, Label: "Two-factor sign-in", Href: backOffice.prefix + "/2fa", Permission: PermAccount2FA},
		web.NavEntry{Group: web.GroupPortal, Label: "Your account", Href: portal.prefix, Permission: PermPortalAccount, Order: 10},
		web.NavEntry{Group: web.GroupPortal, Label: "Two-factor sign-in", Href: portal.prefix + "/2fa", Permission: PermPortalAccount, Order: 20},
	)
	p.mountSignIn()
	p.mountTwoFactor()
	p.mountSettings()
	shell.Page(fiber.MethodGet, backOffice.prefix, PermAccountRead, p.home)
	shell.Page(fiber.MethodGet, portal.prefix, PermPortalAccount, p.portalAccount)
}

type homeData struct {
	Profile   Profile
	Dashboard []web.DashboardGroup
}

// home is the back office's home: who is signed in, and the dashboard tiles their roles may open.
func (p *pages) home(c *fiber.Ctx) error {
	prof, err := p.ss.profile(c)
	if err != nil {
		return err
	}
	tiles, err := p.shell.Dashboard(c)
	if err != nil {
		return err
	}
	return p.shell.Render(c, fiber.StatusOK, "identity_home", "Home", homeData{Profile: prof, Dashboard: tiles})
}

type portalData struct{ Email string }

func (p *pages) portalAccount(c *fiber.Ctx) error {
	v, _, err := p.shell.Viewer(c)
	if err != nil {
		return err
	}
	return p.shell.Render(c, fiber.StatusOK, "identity_portal", "Your account", portalData{Email: v.Email})
}
