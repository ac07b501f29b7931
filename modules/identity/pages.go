package identity

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PageFiles are the tenant hosts' sign-in and back-office page templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

// area is one signed-in part of a tenant host: the back office (staff) or the portal (traders). Each keeps its
// session in its own cookies, so signing in to one does not sign anyone in to the other.
type area struct {
	kind   Kind
	prefix string // URL prefix and home page
	cookie string // base name of the access cookie; the refresh cookie adds "_refresh"
	title  string
}

var (
	backOffice = area{kind: Staff, prefix: "/backoffice", cookie: "bd_backoffice", title: "Back office"}
	portal     = area{kind: Portal, prefix: "/portal", cookie: "bd_portal", title: "Client portal"}
)

func (a area) refreshCookie() string { return a.cookie + "_refresh" }

// areaOf is the area a page permission belongs to, by the same rule as audienceOf.
func areaOf(p web.Permission) area {
	if audienceOf(p) == Portal {
		return portal
	}
	return backOffice
}

// PageOptions are what the page shell needs besides the identity service.
type PageOptions struct {
	Pages  *web.Pages
	Secure bool // BD_PUBLIC_SCHEME is https: Secure, __Host- cookies
	// Brand returns the tenant's branding, shown on every page.
	Brand func(ctx context.Context, t tenants.Tenant) (web.Brand, error)
	Staff *staff.Service
	Audit *audit.Service
}

// PageShell serves the tenant hosts' pages: sign-in (with the second factor as a second step), sign-out, password
// reset, invitations, two-factor enrolment and the back office's home, staff, audit and settings pages. Sessions are
// cookies holding the same access and refresh tokens the API issues, verified for the host's tenant and the area's
// audience; every form that changes anything carries the CSRF token (web.Cookies).
//
// Other modules add their pages to the same shell (Page, Post, Section, Render), so every page of a tenant host has
// one sign-in, one guard, one layout and one navigation.
type PageShell struct {
	s       *Service
	o       PageOptions
	cookies web.Cookies
	table   *web.PageTable
	// sections are the back office's navigation: identity's own, then each module's in the order they mount.
	sections []section
	// portalSections are the portal's navigation (every signed-in trader sees all of them).
	portalSections []section
}

type section struct {
	label, href string
	perm        web.Permission
}

// MountPages registers the page shell on a tenant host's app (after tenants.HostMiddleware) and returns it, for
// other modules to add their pages; the caller checks Err once every module has mounted.
func MountPages(app fiber.Router, s *Service, o PageOptions) *PageShell {
	ps := &PageShell{s: s, o: o, cookies: web.Cookies{Secure: o.Secure, CSRF: "bd_csrf"}}
	ps.table = web.NewPageTable(app, ps.guard)
	for _, it := range navItems {
		ps.Section(it.label, it.href, it.perm)
	}
	ps.PortalSection("Your account", portal.prefix)
	ps.PortalSection("Two-factor sign-in", portal.prefix+"/2fa")
	page := ps.Page
	post := ps.Post
	for _, ar := range []area{backOffice, portal} {
		page(fiber.MethodGet, ar.prefix+"/login", web.Public, func(c *fiber.Ctx) error {
			return ps.renderLogin(c, ar, fiber.StatusOK, loginData{Next: web.SafeNext(c.Query("next"), ar.prefix), Notice: notices[c.Query("notice")]})
		})
		post(ar.prefix+"/login", web.Public, ps.login(ar))
		post(ar.prefix+"/logout", web.Public, ps.logout(ar))
		page(fiber.MethodGet, ar.prefix+"/password-reset", web.Public, func(c *fiber.Ctx) error {
			return ps.render(c, fiber.StatusOK, "identity_reset_request", "Reset your password", nil, formData{Action: ar.prefix + "/password-reset"})
		})
		post(ar.prefix+"/password-reset", web.Public, ps.requestReset(ar))
		// The emailed links (Kind.resetURL): /password-reset/<token> for staff, /portal/password-reset/<token>.
		resetPath := strings.TrimSuffix(ar.kind.resetURL, "/") + "/:token"
		page(fiber.MethodGet, resetPath, web.Public, func(c *fiber.Ctx) error {
			return ps.render(c, fiber.StatusOK, "identity_set_password", "Choose a new password", nil,
				formData{Action: c.Path(), Heading: "Choose a new password"})
		})
		post(resetPath, web.Public, ps.setPassword(ar, func(c *fiber.Ctx, token, pw string) error {
			return ps.s.ConfirmReset(c.UserContext(), tenants.Current(c), ar.kind, token, pw)
		}, "reset"))
	}
	// The invitation link staff.Invite emails.
	page(fiber.MethodGet, "/invitations/:token", web.Public, func(c *fiber.Ctx) error {
		return ps.render(c, fiber.StatusOK, "identity_set_password", "Accept your invitation", nil,
			formData{Action: c.Path(), Heading: "Welcome: choose your password"})
	})
	post("/invitations/:token", web.Public, ps.setPassword(backOffice, func(c *fiber.Ctx, token, pw string) error {
		return ps.s.AcceptInvitation(c.UserContext(), tenants.Current(c), token, pw)
	}, "invited"))

	page(fiber.MethodGet, backOffice.prefix, PermAccountRead, ps.home)
	page(fiber.MethodGet, backOffice.prefix+"/staff", PermStaffRead, ps.staffList)
	post(backOffice.prefix+"/staff/:id/2fa/reset", PermStaffManage, ps.resetStaff2FA)
	page(fiber.MethodGet, backOffice.prefix+"/audit", PermAuditRead, ps.auditPage)
	page(fiber.MethodGet, backOffice.prefix+"/settings", PermSettingsManage, ps.settings)
	post(backOffice.prefix+"/settings/require-2fa", PermSettingsManage, ps.setRequire2FA)
	for _, tf := range []struct {
		ar   area
		perm web.Permission
	}{{backOffice, PermAccount2FA}, {portal, PermPortalAccount}} {
		page(fiber.MethodGet, tf.ar.prefix+"/2fa", tf.perm, ps.twoFA(tf.ar))
		post(tf.ar.prefix+"/2fa/enrol", tf.perm, ps.enrol(tf.ar))
		post(tf.ar.prefix+"/2fa/confirm", tf.perm, ps.confirm(tf.ar))
	}
	page(fiber.MethodGet, portal.prefix, PermPortalAccount, ps.portalAccount)
	return ps
}

// Page registers a page: the shell (brand, no-cache and no-framing headers) and, unless perm is web.Public, the
// guard run before h. A perm of "portal.*" makes it a portal page (trader session); any other a back-office page.
func (ps *PageShell) Page(method, path string, perm web.Permission, h ...fiber.Handler) {
	ps.table.Handle(web.PageRoute{Method: method, Path: path, Permission: perm, Handlers: append([]fiber.Handler{ps.shell}, h...)})
}

// Post registers a form target: a Page whose CSRF token is checked before h runs. That check reads the whole form,
// so a streamed upload registers with Page instead and calls ValidCSRF on the form's first field (the csrf field
// placed before the file) before it reads the file.
func (ps *PageShell) Post(path string, perm web.Permission, h fiber.Handler) {
	ps.Page(fiber.MethodPost, path, perm, ps.cookies.CheckCSRF, h)
}

// Section adds a back-office navigation entry, shown to staff whose roles grant perm.
func (ps *PageShell) Section(label, href string, perm web.Permission) {
	ps.sections = append(ps.sections, section{label: label, href: href, perm: perm})
}

// PortalSection adds a portal navigation entry (every signed-in trader sees it).
func (ps *PageShell) PortalSection(label, href string) {
	ps.portalSections = append(ps.portalSections, section{label: label, href: href, perm: PermPortalAccount})
}

// Table is the page table (every registered page and its permission), for tests that walk all pages.
func (ps *PageShell) Table() *web.PageTable { return ps.table }

// Err reports every malformed page declaration.
func (ps *PageShell) Err() error { return ps.table.Err() }

// CSRF is the token a page's forms carry in their "csrf" field.
func (ps *PageShell) CSRF(c *fiber.Ctx) string { return ps.cookies.CSRFToken(c) }

// ValidCSRF reports whether a form's presented csrf value matches the request's CSRF cookie (for handlers that
// read their form themselves, see Post).
func (ps *PageShell) ValidCSRF(c *fiber.Ctx, presented string) bool {
	return web.SameToken(presented, c.Cookies(ps.cookies.Name(ps.cookies.CSRF)))
}

// Render draws a signed-in page of the current area (from the signed-in principal) with its navigation: the staff
// user's sections, or the trader's portal header.
func (ps *PageShell) Render(c *fiber.Ctx, status int, name, title string, data any) error {
	pr, ok := PrincipalOf(c)
	if !ok {
		return ps.render(c, status, name, title, nil, data)
	}
	if pr.Kind == Staff {
		nav, _, err := ps.staffNav(c)
		if err != nil {
			return err
		}
		return ps.render(c, status, name, title, nav, data)
	}
	email, err := ps.portalEmail(c)
	if err != nil {
		return err
	}
	return ps.render(c, status, name, title, ps.nav(c, portal, email), data)
}

// RenderPublic draws a page before sign-in (no navigation), e.g. the portal's registration form.
func (ps *PageShell) RenderPublic(c *fiber.Ctx, status int, name, title string, data any) error {
	return ps.render(c, status, name, title, nil, data)
}

// notices are the messages a redirect to a login page may ask for (by key: nothing the URL says is shown).
var notices = map[string]string{
	"reset":     "Your password is changed. Sign in with it.",
	"invited":   "Your password is set. Sign in with it.",
	"enrolled":  "Two-factor sign-in is on. Sign in again with a code.",
	"signedout": "You are signed out.",
}

// shell runs first on every page: the tenant's brand (also for error pages) and the response headers of pages
// that show credentials and links with tokens: no framing, no sniffing, no referrer, no caching.
func (ps *PageShell) shell(c *fiber.Ctx) error {
	ps.prepare(c)
	return c.Next()
}

// prepare does shell's work; the guard calls it too, so its redirects and 403 pages get the same headers and brand.
func (ps *PageShell) prepare(c *fiber.Ctx) {
	ps.loadBrand(c)
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderContentSecurityPolicy, "frame-ancestors 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderCacheControl, "no-store")
}

func (ps *PageShell) loadBrand(c *fiber.Ctx) {
	if _, ok := c.Locals(brandLoaded{}).(bool); ok {
		return
	}
	c.Locals(brandLoaded{}, true)
	if b, err := ps.o.Brand(c.UserContext(), tenants.Current(c)); err == nil {
		web.SetBrand(c, b)
	} else {
		ps.s.o.Log.WarnContext(c.UserContext(), "branding unavailable", "err", err)
	}
}

type brandLoaded struct{}

// guard authenticates a page by its area's access cookie. An expired or missing one is renewed from the refresh
// cookie on top-level page loads only (so two requests never present the same refresh token at once, which counts
// as reuse). Without a session a browser goes to the login page; a staff user without perm gets 403.
func (ps *PageShell) guard(perm web.Permission) fiber.Handler {
	ar := areaOf(perm)
	return func(c *fiber.Ctx) error {
		ps.prepare(c)
		t := tenants.Current(c)
		claims, err := ps.verify(ps.cookies.Get(c, ar.cookie), ar.kind, t)
		if err != nil && web.IsNavigation(c) {
			claims, err = ps.refresh(c, ar, t)
		}
		var id uuid.UUID
		if err == nil {
			id, err = uuid.Parse(claims.Subject)
		}
		if err != nil {
			if web.IsNavigation(c) {
				return c.Redirect(ar.prefix+"/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
			}
			return web.NewProblem(fiber.StatusUnauthorized, "unauthenticated", "Your session has ended. Sign in again.")
		}
		c.Locals(principalKey{}, Principal{Kind: ar.kind, UserID: id, Claims: claims})
		if ar.kind == Staff && !Allowed(claims.Roles, perm) {
			return web.NewProblem(fiber.StatusForbidden, "forbidden", "Your roles do not allow this page.")
		}
		return c.Next()
	}
}

// verify checks an access token for kind k on t's host exactly as the API's Bearer check does.
func (ps *PageShell) verify(tok string, k Kind, t tenants.Tenant) (auth.Claims, error) {
	if tok == "" {
		return auth.Claims{}, ErrInvalidRefresh
	}
	want := auth.Expectation{Audience: k.aud, Issuer: ps.s.o.Issuer, TenantID: t.ID.String()}
	if cl, ok := ps.s.verified.get(tok, want, ps.s.o.Now()); ok {
		return cl, nil
	}
	cl, err := ps.s.o.Keys.Verify(tok, want)
	if err != nil {
		return auth.Claims{}, err
	}
	ps.s.verified.put(tok, want, cl)
	return cl, nil
}

func (ps *PageShell) refresh(c *fiber.Ctx, ar area, t tenants.Tenant) (auth.Claims, error) {
	rt := ps.cookies.Get(c, ar.refreshCookie())
	if rt == "" {
		return auth.Claims{}, ErrInvalidRefresh
	}
	tok, err := ps.s.Refresh(c.UserContext(), t, ar.kind, rt)
	if err != nil {
		ps.cookies.Set(c, ar.refreshCookie(), "", time.Time{})
		return auth.Claims{}, err
	}
	ps.setSession(c, ar, tok)
	return tok.Claims, nil
}

func (ps *PageShell) setSession(c *fiber.Ctx, ar area, tok Tokens) {
	ps.cookies.Set(c, ar.cookie, tok.AccessToken, tok.ExpiresAt)
	if tok.RefreshToken != "" {
		ps.cookies.Set(c, ar.refreshCookie(), tok.RefreshToken, ps.s.o.Now().Add(auth.RefreshIdleTTL))
	}
}

// render draws a page; nav is nil before sign-in.
func (ps *PageShell) render(c *fiber.Ctx, status int, name, title string, nav *web.Nav, data any) error {
	if f, ok := data.(formData); ok {
		f.CSRF = ps.cookies.CSRFToken(c)
		data = f
	}
	return ps.o.Pages.Render(c, status, name, web.Page{Title: title, Brand: web.BrandOf(c), Nav: nav, Data: data})
}

// formData is what the simple forms (reset, set password) show.
type formData struct {
	CSRF, Action, Heading, Error, Notice string
	Problems                             []string
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

func (ps *PageShell) renderLogin(c *fiber.Ctx, ar area, status int, d loginData) error {
	d.CSRF, d.Action, d.Title, d.ResetHref = ps.cookies.CSRFToken(c), ar.prefix+"/login", ar.title+" sign-in", ar.prefix+"/password-reset"
	if ar.kind == Portal {
		d.RegisterHref = "/portal/register"
	}
	return ps.o.Pages.Render(c, status, "identity_login", web.Page{Title: d.Title, Brand: web.BrandOf(c), Data: d})
}

func (ps *PageShell) login(ar area) fiber.Handler {
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
		tok, err := ps.s.Login(c.UserContext(), tenants.Current(c), ar.kind, cred)
		if err != nil {
			var locked *auth.LockedError
			status := fiber.StatusUnauthorized
			switch {
			case errors.Is(err, ErrSecondFactorRequired):
				d.AskCode, d.Ticket = true, tok.Ticket
			case errors.Is(err, ErrInvalidCredentials) && cred.Ticket != "" && ps.ticketValid(c, ar, cred.Ticket):
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
			return ps.renderLogin(c, ar, status, d)
		}
		ps.setSession(c, ar, tok)
		ps.cookies.RenewCSRF(c) // a fresh token per session
		if tok.EnrolmentRequired {
			return c.Redirect(ar.prefix+"/2fa", fiber.StatusSeeOther)
		}
		return c.Redirect(d.Next, fiber.StatusSeeOther)
	}
}

func (ps *PageShell) ticketValid(c *fiber.Ctx, ar area, ticket string) bool {
	_, err := ps.s.o.Keys.VerifyTicket(ticket, auth.Expectation{Audience: ar.kind.aud, Issuer: ps.s.o.Issuer, TenantID: tenants.Current(c).ID.String()})
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

func (ps *PageShell) logout(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if rt := ps.cookies.Get(c, ar.refreshCookie()); rt != "" {
			if err := ps.s.Logout(c.UserContext(), tenants.Current(c), rt); err != nil {
				return err
			}
		}
		ps.cookies.Set(c, ar.cookie, "", time.Time{})
		ps.cookies.Set(c, ar.refreshCookie(), "", time.Time{})
		ps.cookies.RenewCSRF(c)
		return c.Redirect(ar.prefix+"/login?notice=signedout", fiber.StatusSeeOther)
	}
}

func (ps *PageShell) requestReset(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := ps.s.RequestReset(c.UserContext(), tenants.Current(c), ar.kind, c.FormValue("email")); err != nil {
			return err
		}
		// The same answer whether or not the address has a login.
		return ps.render(c, fiber.StatusOK, "identity_reset_request", "Reset your password", nil, formData{Action: ar.prefix + "/password-reset",
			Notice: "If that address has a login here, we have emailed it a link to choose a new password. The link works once, for an hour."})
	}
}

func (ps *PageShell) setPassword(ar area, do func(c *fiber.Ctx, token, password string) error, notice string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d := formData{Action: c.Path(), Heading: "Choose a new password"}
		pw := c.FormValue("password")
		if pw != c.FormValue("confirm") {
			d.Error = "The two passwords differ."
			return ps.render(c, fiber.StatusUnprocessableEntity, "identity_set_password", d.Heading, nil, d)
		}
		err := do(c, utils.CopyString(c.Params("token")), pw)
		var pe *auth.PasswordError
		switch {
		case errors.As(err, &pe):
			d.Error = "The password does not meet the policy:"
			for _, p := range pe.Problems {
				d.Problems = append(d.Problems, p.Message)
			}
			return ps.render(c, fiber.StatusUnprocessableEntity, "identity_set_password", d.Heading, nil, d)
		case errors.Is(err, ErrInvalidLink):
			d.Error = "This link is unknown, already used or expired. Ask for a new one."
			return ps.render(c, fiber.StatusBadRequest, "identity_set_password", d.Heading, nil, d)
		case err != nil:
			return err
		}
		return c.Redirect(ar.prefix+"/login?notice="+notice, fiber.StatusSeeOther)
	}
}

// navItems are the back office's sections, each shown only to users whose roles grant its permission.
var navItems = []struct {
	label, href string
	perm        web.Permission
}{
	{"Home", backOffice.prefix, PermAccountRead},
	{"Staff", backOffice.prefix + "/staff", PermStaffRead},
	{"Audit", backOffice.prefix + "/audit", PermAuditRead},
	{"Settings", backOffice.prefix + "/settings", PermSettingsManage},
	{"Two-factor sign-in", backOffice.prefix + "/2fa", PermAccount2FA},
}

// nav is the signed-in staff user's header.
func (ps *PageShell) nav(c *fiber.Ctx, ar area, user string) *web.Nav {
	pr, _ := PrincipalOf(c)
	n := &web.Nav{User: user, LogoutAction: ar.prefix + "/logout", CSRF: ps.cookies.CSRFToken(c)}
	if ar.kind == Staff {
		for _, it := range ps.sections {
			if Allowed(pr.Claims.Roles, it.perm) {
				n.Links = append(n.Links, web.NavLink{Label: it.label, Href: it.href, Current: c.Path() == it.href})
			}
		}
	} else {
		for _, it := range ps.portalSections {
			n.Links = append(n.Links, web.NavLink{Label: it.label, Href: it.href, Current: c.Path() == it.href})
		}
	}
	return n
}

func (ps *PageShell) profile(c *fiber.Ctx) (Profile, error) {
	pr, _ := PrincipalOf(c)
	return ps.s.StaffProfile(c.UserContext(), tenants.Current(c), pr.UserID)
}

func (ps *PageShell) staffNav(c *fiber.Ctx) (*web.Nav, Profile, error) {
	p, err := ps.profile(c)
	if err != nil {
		return nil, p, err
	}
	name := p.FullName
	if name == "" {
		name = p.Email
	}
	return ps.nav(c, backOffice, name), p, nil
}

type homeData struct {
	Profile Profile
}

func (ps *PageShell) home(c *fiber.Ctx) error {
	nav, p, err := ps.staffNav(c)
	if err != nil {
		return err
	}
	return ps.render(c, fiber.StatusOK, "identity_home", "Home", nav, homeData{Profile: p})
}

// staffData is the staff page: the list, and for staff.manage holders a reset button beside each other user who
// has two-factor sign-in on.
type staffData struct {
	CSRF    string
	Notice  string
	Members []staffRow
}

type staffRow struct {
	staff.Member
	TwoFactor bool
	CanReset  bool
}

// staffNotices are the messages a redirect to the staff page may ask for (by key).
var staffNotices = map[string]string{
	"2fa-reset": "Two-factor sign-in is reset: the user's sessions end within 15 minutes; they sign in with their password and enrol again.",
}

func (ps *PageShell) staffList(c *fiber.Ctx) error {
	nav, _, err := ps.staffNav(c)
	if err != nil {
		return err
	}
	t := tenants.Current(c)
	list, err := ps.o.Staff.List(c.UserContext(), t)
	if err != nil {
		return err
	}
	on, err := ps.s.StaffWithTwoFactor(c.UserContext(), t)
	if err != nil {
		return err
	}
	pr, _ := PrincipalOf(c)
	manage := Allowed(pr.Claims.Roles, PermStaffManage)
	d := staffData{CSRF: ps.cookies.CSRFToken(c), Notice: staffNotices[c.Query("notice")]}
	for _, m := range list {
		d.Members = append(d.Members, staffRow{Member: m, TwoFactor: on[m.ID], CanReset: manage && on[m.ID] && m.ID != pr.UserID})
	}
	return ps.render(c, fiber.StatusOK, "identity_staff", "Staff", nav, d)
}

// resetStaff2FA is the staff page's "Reset two-factor sign-in" button.
func (ps *PageShell) resetStaff2FA(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return web.NotFound("No such staff user.")
	}
	err = ps.s.ResetTwoFactor(c.UserContext(), tenants.Current(c), Staff, id, Actor(c))
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

type auditData struct {
	Actor, Action, Target, From, To string
	Rows                            []auditRow
	Next, Error                     string
}

type auditRow struct {
	At, Actor, Action, Target, Diff, IP, RequestID string
}

// timeInput is the format of <input type="datetime-local">, read as UTC.
const timeInput = "2006-01-02T15:04"

func (ps *PageShell) auditPage(c *fiber.Ctx) error {
	nav, _, err := ps.staffNav(c)
	if err != nil {
		return err
	}
	d := auditData{Actor: strings.TrimSpace(c.Query("actor")), Action: strings.TrimSpace(c.Query("action")),
		Target: strings.TrimSpace(c.Query("target")), From: c.Query("from"), To: c.Query("to")}
	f, msg := auditFilter(d)
	if msg != "" {
		d.Error = msg
		return ps.render(c, fiber.StatusUnprocessableEntity, "identity_audit", "Audit trail", nav, d)
	}
	page, err := ps.o.Audit.List(c.UserContext(), tenants.Current(c), f, c.Query("after"), audit.DefaultLimit)
	if errors.Is(err, audit.ErrBadCursor) || errors.Is(err, audit.ErrBadFilter) {
		d.Error = "That filter or page link is not valid."
		return ps.render(c, fiber.StatusUnprocessableEntity, "identity_audit", "Audit trail", nav, d)
	}
	if err != nil {
		return err
	}
	for _, r := range page.Rows {
		row := auditRow{At: r.At.UTC().Format("2006-01-02 15:04:05"), Actor: string(r.Actor.Kind) + ":" + r.Actor.ID,
			Action: r.Action, Target: r.Target.Type + ":" + r.Target.ID, RequestID: r.Origin.RequestID}
		if r.Origin.IP.IsValid() {
			row.IP = r.Origin.IP.String()
		}
		if len(r.Diff) > 0 && string(r.Diff) != "null" && string(r.Diff) != "{}" {
			row.Diff = string(r.Diff)
		}
		d.Rows = append(d.Rows, row)
	}
	if page.Next != "" {
		q := url.Values{"actor": {d.Actor}, "action": {d.Action}, "target": {d.Target}, "from": {d.From}, "to": {d.To}, "after": {page.Next}}
		d.Next = backOffice.prefix + "/audit?" + q.Encode()
	}
	return ps.render(c, fiber.StatusOK, "identity_audit", "Audit trail", nav, d)
}

// auditFilter reads the audit page's filter fields: actor and target as "kind" or "kind:id", times as UTC. A
// non-empty message says what to correct.
func auditFilter(d auditData) (audit.Filter, string) {
	var f audit.Filter
	if d.Actor != "" {
		kind, id, _ := strings.Cut(d.Actor, ":")
		f.ActorKind, f.ActorID = audit.ActorKind(kind), id
		if !f.ActorKind.Valid() {
			return f, "Actor: write a kind (staff, client, operator, system, api_key), optionally followed by :id."
		}
	}
	f.ActionPrefix = d.Action
	if d.Target != "" {
		f.TargetType, f.TargetID, _ = strings.Cut(d.Target, ":")
	}
	for _, p := range []struct {
		in  string
		out *time.Time
	}{{d.From, &f.From}, {d.To, &f.To}} {
		if p.in == "" {
			continue
		}
		t, err := time.Parse(timeInput, p.in)
		if err != nil {
			return f, "Times: use the form 2026-01-31T14:05 (UTC)."
		}
		*p.out = t
	}
	return f, ""
}

type settingsData struct {
	CSRF          string
	RequireStaff2 bool
}

func (ps *PageShell) settings(c *fiber.Ctx) error {
	nav, _, err := ps.staffNav(c)
	if err != nil {
		return err
	}
	var on bool
	err = ps.s.gate.ScopeWith(c.UserContext(), tenants.Current(c), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		on, err = requireStaff2FA(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	return ps.render(c, fiber.StatusOK, "identity_settings", "Settings", nav, settingsData{CSRF: ps.cookies.CSRFToken(c), RequireStaff2: on})
}

func (ps *PageShell) setRequire2FA(c *fiber.Ctx) error {
	if err := ps.s.SetRequireStaff2FA(c.UserContext(), tenants.Current(c), Actor(c), c.FormValue("require") == "on"); err != nil {
		return err
	}
	return c.Redirect(backOffice.prefix+"/settings", fiber.StatusSeeOther)
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
func (ps *PageShell) render2FA(c *fiber.Ctx, ar area, status int, d twoFAData) error {
	pr, _ := PrincipalOf(c)
	on, err := ps.s.TOTPEnabled(c.UserContext(), tenants.Current(c), ar.kind, pr.UserID)
	if err != nil {
		return err
	}
	d.CSRF, d.Prefix = ps.cookies.CSRFToken(c), ar.prefix
	d.Enabled = d.Enabled || on
	return ps.Render(c, status, "identity_2fa", "Two-factor sign-in", d)
}

func (ps *PageShell) twoFA(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error { return ps.render2FA(c, ar, fiber.StatusOK, twoFAData{}) }
}

func (ps *PageShell) enrol(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pr, _ := PrincipalOf(c)
		e, err := ps.s.EnrolTOTP(c.UserContext(), tenants.Current(c), ar.kind, pr.UserID)
		if errors.Is(err, ErrAlreadyEnrolled) {
			return ps.render2FA(c, ar, fiber.StatusConflict, twoFAData{Error: "Two-factor sign-in is already on."})
		}
		if err != nil {
			return err
		}
		qr, err := web.QRImage(e.URI)
		if err != nil {
			return err
		}
		return ps.render2FA(c, ar, fiber.StatusOK, twoFAData{Secret: e.Secret, URI: e.URI, QR: qr})
	}
}

func (ps *PageShell) confirm(ar area) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pr, _ := PrincipalOf(c)
		codes, err := ps.s.ConfirmTOTP(c.UserContext(), tenants.Current(c), ar.kind, pr.UserID, strings.TrimSpace(c.FormValue("code")))
		switch {
		case errors.Is(err, ErrInvalidCode), errors.Is(err, ErrNotEnrolling):
			return ps.render2FA(c, ar, fiber.StatusUnprocessableEntity, twoFAData{Error: "That code did not match. Start again."})
		case err != nil:
			return err
		}
		d := twoFAData{Enabled: true, RecoveryCodes: codes}
		if slices.Contains(pr.Claims.Roles, RoleEnrolment) {
			// That session allowed enrolling and nothing else, and has no refresh token: end it.
			d.SignInAgain = true
			ps.cookies.Set(c, ar.cookie, "", time.Time{})
		}
		return ps.render2FA(c, ar, fiber.StatusOK, d)
	}
}

type portalData struct{ Email string }

func (ps *PageShell) portalAccount(c *fiber.Ctx) error {
	email, err := ps.portalEmail(c)
	if err != nil {
		return err
	}
	return ps.render(c, fiber.StatusOK, "identity_portal", "Your account", ps.nav(c, portal, email), portalData{Email: email})
}

// portalEmail is the signed-in trader's sign-in email.
func (ps *PageShell) portalEmail(c *fiber.Ctx) (string, error) {
	pr, _ := PrincipalOf(c)
	var email string
	err := ps.s.gate.ScopeWith(c.UserContext(), tenants.Current(c), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT email FROM portal_users WHERE id = $1`, pr.UserID).Scan(&email)
	})
	return email, err
}
