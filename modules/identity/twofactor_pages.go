package identity

import (
	"errors"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// mountTwoFactor registers both areas' two-factor enrolment pages and the target of the staff page's "Reset
// two-factor sign-in" button (the page itself is modules/staff's).
func (p *pages) mountTwoFactor() {
	for _, tf := range []struct {
		ar   area
		perm web.Permission
	}{{backOffice, PermAccount2FA}, {portal, PermPortalAccount}} {
		p.shell.Page(fiber.MethodGet, tf.ar.prefix+"/2fa", tf.perm, p.twoFA(tf.ar))
		p.shell.Post(tf.ar.prefix+"/2fa/enrol", tf.perm, p.enrol(tf.ar))
		p.shell.Post(tf.ar.prefix+"/2fa/confirm", tf.perm, p.confirm(tf.ar))
	}
	p.shell.Post(backOffice.prefix+"/staff/:id/2fa/reset", PermStaffManage, p.resetStaff2FA)
}

type twoFAData struct {
	CSRF          string
	Prefix        string // the area's URL prefix: /backoffice or /portal
	Enabled       bool
	SignInAgain   bool // an enrolment-only session ended by enrolling: the next step is a real sign-in
	Secret, URI   string
	QR            template.URL // the URI as a QR code (web.QRImage)
	RecoveryCodes []string
	Error         string
}

// render2FA draws an area's enrolment page with the signed-in user's navigation.
func (p *pages) render2FA(c *fiber.Ctx, ar area, status int, d twoFAData) error {
	pr, _ := PrincipalOf(c)
	on, err := p.s.TOTPEnabled(c.UserContext(), tenants.Current(c), ar.kind, pr.UserID)
	if err != nil {
		return err
	}
	d.CSRF, d.Prefix = p.shell.CSRF(c), ar.prefix
	d.Enabled = d.Enabled || on
	return p.shell.Render(c, status, "identity_2fa", "Two-factor sign-in", d)
}

func (p *pages) twoFA(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error { return p.render2FA(c, ar, fiber.StatusOK, twoFAData{}) }
}

func (p *pages) enrol(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pr, _ := PrincipalOf(c)
		e, err := p.s.EnrolTOTP(c.UserContext(), tenants.Current(c), ar.kind, pr.UserID)
		if errors.Is(err, ErrAlreadyEnrolled) {
			return p.render2FA(c, ar, fiber.StatusConflict, twoFAData{Error: "Two-factor sign-in is already on."})
		}
		if err != nil {
			return err
		}
		qr, err := web.QRImage(e.URI)
		if err != nil {
			return err
		}
		return p.render2FA(c, ar, fiber.StatusOK, twoFAData{Secret: e.Secret, URI: e.URI, QR: qr})
	}
}

func (p *pages) confirm(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pr, _ := PrincipalOf(c)
		codes, err := p.s.ConfirmTOTP(c.UserContext(), tenants.Current(c), ar.kind, pr.UserID, strings.TrimSpace(c.FormValue("code")))
		switch {
		case errors.Is(err, ErrInvalidCode), errors.Is(err, ErrNotEnrolling):
			return p.render2FA(c, ar, fiber.StatusUnprocessableEntity, twoFAData{Error: "That code did not match. Start again."})
		case err != nil:
			return err
		}
		d := twoFAData{Enabled: true, RecoveryCodes: codes}
		if slices.Contains(pr.Claims.Roles, RoleEnrolment) {
			// That session allowed enrolling and nothing else, and has no refresh token: end it.
			d.SignInAgain = true
			p.ss.cookies.Set(c, ar.cookie, "", time.Time{})
		}
		return p.render2FA(c, ar, fiber.StatusOK, d)
	}
}

// resetStaff2FA is the staff page's "Reset two-factor sign-in" button.
func (p *pages) resetStaff2FA(c *fiber.Ctx) error {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return web.NotFound("No such staff user.")
	}
	err = p.s.ResetTwoFactor(c.UserContext(), tenants.Current(c), Staff, id, Actor(c))
	switch {
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such staff user.")
	case errors.Is(err, ErrOwnTwoFactor):
		return web.NewProblem(fiber.StatusForbidden, "own-2fa", "Your own two-factor sign-in is reset by another admin.")
	case err != nil:
		return err
	}
	return c.Redirect(backOffice.prefix+"/staff?notice=2fa-reset", fiber.StatusSeeOther)
}
