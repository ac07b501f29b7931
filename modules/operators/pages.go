package operators

import (
	"context"
	"html/template"

	"embed"
	"errors"
	"github.com/google/uuid"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Pages are the console's page templates, for web.NewPages.
//
//go:embed pages/*.html
var Pages embed.FS

// CookieOptions say how the console's cookies are set: Secure everywhere but plain-http development (names then
// carry the __Host- prefix; see web.Cookies, the one implementation the tenant hosts' pages share).
type CookieOptions struct {
	Secure bool
}

// The console's cookies: the access token, the refresh token (only so logout can revoke the session) and the
// CSRF token that every state-changing form must repeat in a hidden field.
const (
	cookieAccess  = "bd_console"
	cookieRefresh = "bd_console_refresh"
	cookieCSRF    = "bd_console_csrf"
)

// PageSession is the console's page layer: cookie sessions, CSRF and the page handlers.
type PageSession struct {
	ops     *Service
	tenants *Tenants
	pages   *web.Pages
	cookies web.Cookies
}

// NewPageSession returns the page layer.
func NewPageSession(ops *Service, t *Tenants, pages *web.Pages, cookies CookieOptions) *PageSession {
	return &PageSession{ops: ops, tenants: t, pages: pages, cookies: web.Cookies{Secure: cookies.Secure, CSRF: cookieCSRF}}
}

func (p *PageSession) setCookie(c *fiber.Ctx, base, value string, expires time.Time) {
	p.cookies.Set(c, base, value, expires)
}

// csrfToken returns the request's CSRF token, minting one (and its cookie) when there is none yet.
func (p *PageSession) csrfToken(c *fiber.Ctx) string { return p.cookies.CSRFToken(c) }

// CheckCSRF refuses a state-changing form whose hidden csrf field does not equal the cookie's token: 403.
func (p *PageSession) CheckCSRF(c *fiber.Ctx) error { return p.cookies.CheckCSRF(c) }

// RequirePage authenticates a page (or the jobs UI) by the access-token cookie. Without a valid session a browser
// is sent to the login page and anything else gets 401; an operator without p gets 403.
func (p *PageSession) RequirePage(perm web.Permission) fiber.Handler {
	return func(c *fiber.Ctx) error {
		navigation := web.IsNavigation(c)
		tok := c.Cookies(p.cookies.Name(cookieAccess))
		cl, err := p.ops.Verify(tok)
		if (tok == "" || err != nil) && navigation {
			cl, err = p.refresh(c)
		}
		if err != nil {
			if navigation {
				return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
			}
			return web.NewProblem(fiber.StatusUnauthorized, "unauthenticated", "Sign in to the console.")
		}
		return authorize(c, cl, perm)
	}
}

// refresh renews an expired page session from the refresh cookie. Only top-level page loads do it, never the
// jobs UI's background requests, so one browser does not present the same refresh token twice at once (which
// would count as reuse and end the session).
func (p *PageSession) refresh(c *fiber.Ctx) (auth.Claims, error) {
	rt := c.Cookies(p.cookies.Name(cookieRefresh))
	if rt == "" {
		return auth.Claims{}, ErrInvalidRefresh
	}
	sess, err := p.ops.Refresh(c.UserContext(), rt)
	if err != nil {
		p.setCookie(c, cookieRefresh, "", time.Time{})
		return auth.Claims{}, err
	}
	p.setSession(c, sess)
	return p.ops.Verify(sess.AccessToken)
}

func (p *PageSession) setSession(c *fiber.Ctx, sess Session) {
	p.setCookie(c, cookieAccess, sess.AccessToken, sess.AccessExpires)
	p.setCookie(c, cookieRefresh, sess.RefreshToken, time.Now().Add(auth.RefreshIdleTTL))
}

// SameOriginWrites refuses a non-GET request whose Origin (or, lacking it, Referer) is not this host: the jobs UI
// is a script-driven app that cannot carry our CSRF field, so its writes are held to same-origin instead.
func SameOriginWrites() fiber.Handler {
	return func(c *fiber.Ctx) error {
		switch c.Method() {
		case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
			return c.Next()
		}
		src := c.Get(fiber.HeaderOrigin)
		if src == "" {
			src = c.Get(fiber.HeaderReferer)
		}
		u, err := url.Parse(src)
		if src == "" || err != nil || !strings.EqualFold(u.Host, web.Host(c)) {
			return web.NewProblem(fiber.StatusForbidden, "cross-origin", "Cross-origin requests are refused.")
		}
		return c.Next()
	}
}

type loginData struct {
	CSRF, Email, Next, Error string
	AskCode                  bool
}

type tenantsData struct {
	CSRF     string
	Operator string
	Tenants  []TenantView
	Error    string
}

type twoFAData struct {
	CSRF          string
	Enabled       bool
	Secret, URI   string
	QR            template.URL // the URI as a QR code (web.QRImage)
	RecoveryCodes []string
	Error         string
}

// Mount registers the console's pages on the console app.
func (p *PageSession) Mount(app fiber.Router) {
	app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/tenants", fiber.StatusSeeOther) })
	app.Get("/login", func(c *fiber.Ctx) error {
		return p.pages.Render(c, fiber.StatusOK, "console_login", web.Page{Title: "Operator sign-in",
			Data: loginData{CSRF: p.csrfToken(c), Next: safeNext(c.Query("next"))}})
	})
	app.Post("/login", p.CheckCSRF, p.login)
	app.Post("/logout", p.CheckCSRF, func(c *fiber.Ctx) error {
		if rt := c.Cookies(p.cookies.Name(cookieRefresh)); rt != "" {
			if err := p.ops.Logout(c.UserContext(), rt); err != nil {
				return err
			}
		}
		for _, n := range []string{cookieAccess, cookieRefresh, cookieCSRF} {
			p.setCookie(c, n, "", time.Time{})
		}
		return c.Redirect("/login", fiber.StatusSeeOther)
	})
	app.Get("/tenants", p.RequirePage(PermTenantsRead), func(c *fiber.Ctx) error { return p.renderTenants(c, fiber.StatusOK, "") })
	for action, do := range map[string]func(*Tenants) moveFn{
		"suspend": func(t *Tenants) moveFn { return t.Suspend },
		"resume":  func(t *Tenants) moveFn { return t.Resume },
	} {
		do := do(p.tenants)
		app.Post("/tenants/:slug/"+action, p.RequirePage(PermTenantsManage), p.CheckCSRF, func(c *fiber.Ctx) error {
			id, err := operatorID(c)
			if err != nil {
				return err
			}
			if _, err := do(c.UserContext(), id, utils.CopyString(c.Params("slug")), c.FormValue("reason")); err != nil {
				pr := problem(err)
				var wp *web.Problem
				if errors.As(pr, &wp) && wp.Status < 500 {
					return p.renderTenants(c, wp.Status, wp.Detail)
				}
				return err
			}
			return c.Redirect("/tenants", fiber.StatusSeeOther)
		})
	}
	app.Get("/2fa", p.RequirePage(PermAccount), func(c *fiber.Ctx) error {
		id, err := operatorID(c)
		if err != nil {
			return err
		}
		op, err := p.ops.ByID(c.UserContext(), id)
		if err != nil {
			return err
		}
		return p.render2FA(c, fiber.StatusOK, twoFAData{Enabled: op.TOTPEnabled})
	})
	app.Post("/2fa/enrol", p.RequirePage(PermAccount), p.CheckCSRF, func(c *fiber.Ctx) error {
		id, err := operatorID(c)
		if err != nil {
			return err
		}
		e, err := p.ops.EnrolTOTP(c.UserContext(), id, c.FormValue("password"))
		if errors.Is(err, ErrBadCredentials) {
			return p.render2FA(c, fiber.StatusUnprocessableEntity, twoFAData{Error: "Wrong password."})
		}
		if err != nil {
			return err
		}
		qr, err := web.QRImage(e.URI)
		if err != nil {
			return err
		}
		return p.render2FA(c, fiber.StatusOK, twoFAData{Secret: e.Secret, URI: e.URI, QR: qr})
	})
	app.Post("/2fa/confirm", p.RequirePage(PermAccount), p.CheckCSRF, func(c *fiber.Ctx) error {
		id, err := operatorID(c)
		if err != nil {
			return err
		}
		codes, err := p.ops.ConfirmTOTP(c.UserContext(), id, c.FormValue("code"))
		switch {
		case errors.Is(err, ErrBadCredentials), errors.Is(err, ErrNoPendingTOTP):
			return p.render2FA(c, fiber.StatusUnprocessableEntity, twoFAData{Error: "That code did not match. Start again."})
		case err != nil:
			return err
		}
		return p.render2FA(c, fiber.StatusOK, twoFAData{Enabled: true, RecoveryCodes: codes})
	})
}

type moveFn = func(ctx context.Context, id uuid.UUID, slug, reason string) (tenants.Tenant, error)

func (p *PageSession) login(c *fiber.Ctx) error {
	email, next := utils.CopyString(c.FormValue("email")), safeNext(c.FormValue("next"))
	sess, err := p.ops.Login(c.UserContext(), Credentials{Email: email, Password: c.FormValue("password"), Code: c.FormValue("code")})
	if err != nil {
		data := loginData{CSRF: p.csrfToken(c), Email: email, Next: next, Error: "Wrong email, password or code."}
		status := fiber.StatusUnauthorized
		var locked *auth.LockedError
		switch {
		case errors.Is(err, ErrTOTPRequired):
			data.AskCode, data.Error = true, "Enter the one-time code from your authenticator app (or a recovery code)."
		case errors.As(err, &locked):
			status, data.Error = fiber.StatusTooManyRequests, "Too many failed sign-ins. Try again in a few minutes."
			c.Set(fiber.HeaderRetryAfter, retryAfter(locked.RetryAfter))
		case !errors.Is(err, ErrBadCredentials):
			return err
		}
		return p.pages.Render(c, status, "console_login", web.Page{Title: "Operator sign-in", Data: data})
	}
	p.setSession(c, sess)
	p.cookies.RenewCSRF(c) // a fresh token per session
	return c.Redirect(next, fiber.StatusSeeOther)
}

func (p *PageSession) renderTenants(c *fiber.Ctx, status int, msg string) error {
	list, err := p.tenants.List(c.UserContext())
	if err != nil {
		return err
	}
	d := tenantsData{CSRF: p.csrfToken(c), Error: msg}
	for _, t := range list {
		d.Tenants = append(d.Tenants, toView(t))
	}
	if id, err := operatorID(c); err == nil {
		if op, err := p.ops.ByID(c.UserContext(), id); err == nil {
			d.Operator = op.Email
		}
	}
	return p.pages.Render(c, status, "console_tenants", web.Page{Title: "Tenants", Data: d})
}

func (p *PageSession) render2FA(c *fiber.Ctx, status int, d twoFAData) error {
	d.CSRF = p.csrfToken(c)
	return p.pages.Render(c, status, "console_2fa", web.Page{Title: "Two-factor sign-in", Data: d})
}

// SecurityHeaders are the console's response headers: no framing by any site (the suspend buttons must not be
// clickjacked), no MIME sniffing, no referrer to other sites, and no caching of anything but the jobs UI's static
// files (pages show tenants and, once, recovery codes).
func SecurityHeaders(staticPrefix string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderXFrameOptions, "DENY")
		c.Set(fiber.HeaderContentSecurityPolicy, "frame-ancestors 'none'")
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderReferrerPolicy, "same-origin")
		if !strings.HasPrefix(c.Path(), staticPrefix) {
			c.Set(fiber.HeaderCacheControl, "no-store")
		}
		return c.Next()
	}
}
