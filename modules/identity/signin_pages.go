package identity

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// mountSignIn registers, for both areas, sign-in (with the second factor as a second step), sign-out, the password
// reset request and the emailed reset link's page, and the invitation link's page.
func (p *pages) mountSignIn() {
	shell := p.shell
	for _, ar := range []area{backOffice, portal} {
		shell.Page(fiber.MethodGet, ar.prefix+"/login", web.Public, func(c *fiber.Ctx) error {
			return p.renderLogin(c, ar, fiber.StatusOK, loginData{Next: web.SafeNext(c.Query("next"), ar.prefix), Notice: notices[c.Query("notice")]})
		})
		shell.Post(ar.prefix+"/login", web.Public, p.login(ar))
		shell.Post(ar.prefix+"/logout", web.Public, p.logout(ar))
		shell.Page(fiber.MethodGet, ar.prefix+"/password-reset", web.Public, func(c *fiber.Ctx) error {
			return p.renderForm(c, fiber.StatusOK, "identity_reset_request", "Reset your password", formData{Action: ar.prefix + "/password-reset"})
		})
		shell.Post(ar.prefix+"/password-reset", web.Public, p.requestReset(ar))
		// The emailed links (Kind.resetURL): /password-reset/<token> for staff, /portal/password-reset/<token>.
		resetPath := strings.TrimSuffix(ar.kind.resetURL, "/") + "/:token"
		shell.Page(fiber.MethodGet, resetPath, web.Public, func(c *fiber.Ctx) error {
			return p.renderForm(c, fiber.StatusOK, "identity_set_password", "Choose a new password",
				formData{Action: c.Path(), Heading: "Choose a new password"})
		})
		shell.Post(resetPath, web.Public, p.setPassword(ar, func(c *fiber.Ctx, token, pw string) error {
			return p.s.ConfirmReset(c.UserContext(), tenants.Current(c), ar.kind, token, pw)
		}, "reset"))
	}
	// The invitation link staff.Invite emails.
	shell.Page(fiber.MethodGet, "/invitations/:token", web.Public, func(c *fiber.Ctx) error {
		return p.renderForm(c, fiber.StatusOK, "identity_set_password", "Accept your invitation",
			formData{Action: c.Path(), Heading: "Welcome: choose your password"})
	})
	shell.Post("/invitations/:token", web.Public, p.setPassword(backOffice, func(c *fiber.Ctx, token, pw string) error {
		return p.s.AcceptInvitation(c.UserContext(), tenants.Current(c), token, pw)
	}, "invited"))
}

// notices are the messages a redirect to a login page may ask for (by key: nothing the URL says is shown).
var notices = map[string]string{
	"reset":     "Your password is changed. Sign in with it.",
	"invited":   "Your password is set. Sign in with it.",
	"enrolled":  "Two-factor sign-in is on. Sign in again with a code.",
	"signedout": "You are signed out.",
}

// formData is what the simple forms (reset, set password) show.
type formData struct {
	CSRF, Action, Heading, Error, Notice string
	Problems                             []string
}

// renderForm draws one of the simple forms before sign-in, with the request's CSRF token.
func (p *pages) renderForm(c *fiber.Ctx, status int, name, title string, d formData) error {
	d.CSRF = p.shell.CSRF(c)
	return p.shell.RenderPublic(c, status, name, title, d)
}

type loginData struct {
	CSRF, Action, Title, Email, Next, Error, Notice, ResetHref string
	// AskCode: the password was right and a second factor is needed. The second step carries the sign-in ticket
	// (TicketTTL, proof of the password, never the password itself) in a hidden field.
	AskCode bool
	Ticket  string
	// RegisterHref: the portal's sign-in offers opening an account (the clients module's registration page).
	RegisterHref string
}

func (p *pages) renderLogin(c *fiber.Ctx, ar area, status int, d loginData) error {
	d.CSRF, d.Action, d.Title, d.ResetHref = p.shell.CSRF(c), ar.prefix+"/login", ar.title+" sign-in", ar.prefix+"/password-reset"
	if ar.kind == Portal {
		d.RegisterHref = "/portal/register"
	}
	return p.shell.RenderPublic(c, status, "identity_login", d.Title, d)
}

func (p *pages) login(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d := loginData{Email: utils.CopyString(c.FormValue("email")), Next: web.SafeNext(c.FormValue("next"), ar.prefix)}
		cred := Credentials{Email: d.Email, Password: c.FormValue("password"), Ticket: utils.CopyString(c.FormValue("ticket"))}
		if cred.Ticket != "" {
			cred.Email, cred.Password = "", ""
		}
		if code := strings.ReplaceAll(strings.TrimSpace(c.FormValue("code")), " ", ""); isTOTP(code) {
			cred.TOTPCode = code
		} else {
			cred.RecoveryCode = code
		}
		tok, err := p.s.Login(c.UserContext(), tenants.Current(c), ar.kind, cred)
		if err != nil {
			var locked *auth.LockedError
			status := fiber.StatusUnauthorized
			switch {
			case errors.Is(err, ErrSecondFactorRequired):
				d.AskCode, d.Ticket = true, tok.Ticket
			case errors.Is(err, ErrInvalidCredentials) && cred.Ticket != "" && p.ticketValid(c, ar, cred.Ticket):
				// A wrong code (counted against the lockout): the same ticket may try again until it expires.
				d.AskCode, d.Ticket, d.Error = true, cred.Ticket, "Wrong or already used code."
			case errors.Is(err, ErrInvalidCredentials) && cred.Ticket != "":
				d.Error = "The sign-in took too long. Start again."
			case errors.As(err, &locked):
				status, d.Error = fiber.StatusTooManyRequests, "Too many failed sign-ins: the account is locked for a while. A password reset still works."
				c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(locked.RetryAfter/time.Second)+1))
			case errors.Is(err, ErrInvalidCredentials):
				d.Error = "Wrong email, password or code."
			default:
				return err
			}
			return p.renderLogin(c, ar, status, d)
		}
		p.ss.set(c, ar, tok)
		p.shell.RenewCSRF(c) // a fresh token per session
		if tok.EnrolmentRequired {
			return c.Redirect(ar.prefix+"/2fa", fiber.StatusSeeOther)
		}
		return c.Redirect(d.Next, fiber.StatusSeeOther)
	}
}

func (p *pages) ticketValid(c *fiber.Ctx, ar area, ticket string) bool {
	_, err := p.s.o.Keys.VerifyTicket(ticket, auth.Expectation{Audience: ar.kind.aud, Issuer: p.s.o.Issuer, TenantID: tenants.Current(c).ID.String()})
	return err == nil
}

func isTOTP(code string) bool {
	if len(code) != auth.TOTPDigits {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (p *pages) logout(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if rt := p.ss.cookies.Get(c, ar.refreshCookie()); rt != "" {
			if err := p.s.Logout(c.UserContext(), tenants.Current(c), rt); err != nil {
				return err
			}
		}
		p.ss.end(c, ar)
		p.shell.RenewCSRF(c)
		return c.Redirect(ar.prefix+"/login?notice=signedout", fiber.StatusSeeOther)
	}
}

func (p *pages) requestReset(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := p.s.RequestReset(c.UserContext(), tenants.Current(c), ar.kind, c.FormValue("email")); err != nil {
			return err
		}
		// The same answer whether or not the address has a login.
		return p.renderForm(c, fiber.StatusOK, "identity_reset_request", "Reset your password", formData{Action: ar.prefix + "/password-reset",
			Notice: "If that address has a login here, we have emailed it a link to choose a new password. The link works once, for an hour."})
	}
}

func (p *pages) setPassword(ar area, do func(c *fiber.Ctx, token, password string) error, notice string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d := formData{Action: c.Path(), Heading: "Choose a new password"}
		pw := c.FormValue("password")
		if pw != c.FormValue("confirm") {
			d.Error = "The two passwords differ."
			return p.renderForm(c, fiber.StatusUnprocessableEntity, "identity_set_password", d.Heading, d)
		}
		err := do(c, utils.CopyString(c.Params("token")), pw)
		var pe *auth.PasswordError
		switch {
		case errors.As(err, &pe):
			d.Error = "The password does not meet the policy:"
			for _, pr := range pe.Problems {
				d.Problems = append(d.Problems, pr.Message)
			}
			return p.renderForm(c, fiber.StatusUnprocessableEntity, "identity_set_password", d.Heading, d)
		case errors.Is(err, ErrInvalidLink):
			d.Error = "This link is unknown, already used or expired. Ask for a new one."
			return p.renderForm(c, fiber.StatusBadRequest, "identity_set_password", d.Heading, d)
		case err != nil:
			return err
		}
		return c.Redirect(ar.prefix+"/login?notice="+notice, fiber.StatusSeeOther)
	}
}
