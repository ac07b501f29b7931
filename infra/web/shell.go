package web

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// Sessions is the sign-in behind a Shell's pages. The shell draws pages, checks CSRF and builds menus; who is
// signed in, and what they may do, is the product's (modules/identity implements it), so infra/web knows nothing
// of users, tokens or roles.
type Sessions interface {
	// Guard returns the middleware run before every page declaring perm (never called for Public): it admits a
	// signed-in user of perm's area (back office or portal) who holds perm, renewing an ended session from its
	// refresh cookie on a top-level page load; otherwise a browser page load goes to the area's sign-in page, any
	// other request gets 401, and a signed-in user without perm gets 403.
	Guard(perm Permission) fiber.Handler
	// Viewer is the signed-in user the guard admitted on this request; ok is false on a public page.
	Viewer(c *fiber.Ctx) (v Viewer, ok bool, err error)
}

// Viewer is the signed-in user of a page, as the shell and the modules' pages see them.
type Viewer struct {
	UserID uuid.UUID
	// Portal: a trader in the client portal; otherwise a staff user in the back office.
	Portal bool
	// Name is who the header says is signed in (a staff user's full name, else their email); Email their sign-in.
	Name, Email string
	// SignOut is the action of the header's sign-out form (the area's logout page).
	SignOut string
	// Grants reports whether the user holds a permission (nil: none).
	Grants func(Permission) bool
}

// Can reports whether v may open what perm guards: Public always, anything else when Grants says so.
func (v Viewer) Can(perm Permission) bool {
	return perm == Public || (v.Grants != nil && v.Grants(perm))
}

// ShellOptions configure NewShell.
type ShellOptions struct {
	Pages    *Pages
	Sessions Sessions
	// Brand returns the brand of the request's tenant, shown on every page (also its error pages); nil: the
	// default brand.
	Brand func(c *fiber.Ctx) (Brand, error)
	// Secure: BD_PUBLIC_SCHEME is https, so cookies are Secure and __Host- prefixed (Cookies).
	Secure bool
	// CSRFCookie is the base name of the CSRF cookie (default "bd_csrf").
	CSRFCookie string
	Log        *slog.Logger
}

// Shell is the tenant hosts' page shell: every server-rendered page of the back office and the portal is
// registered here by its module (Page, Post), with its permission, so all pages share one guard (Sessions), one
// layout with the tenant's brand, one CSRF cookie, one menu (Nav) and one dashboard (Tiles).
type Shell struct {
	o       ShellOptions
	cookies Cookies
	table   *PageTable
	nav     []NavEntry
	tiles   []Tile
	errs    []error
}

// NewShell returns a shell registering its pages on router (behind the middleware that resolves the tenant). The
// caller checks Err once every module has added its pages.
func NewShell(router fiber.Router, o ShellOptions) *Shell {
	if o.CSRFCookie == "" {
		o.CSRFCookie = "bd_csrf"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Shell{o: o, cookies: Cookies{Secure: o.Secure, CSRF: o.CSRFCookie}}
	s.table = NewPageTable(router, func(p Permission) fiber.Handler {
		guard := o.Sessions.Guard(p)
		return func(c *fiber.Ctx) error {
			s.prepare(c) // the guard's redirects and 403 pages get the page headers and the brand too
			return guard(c)
		}
	})
	return s
}

// Page registers a page: the shell's headers and brand, then (unless perm is Public) the guard, then h. A "portal.*"
// permission makes it a portal page, any other a back-office page (Sessions decides).
func (s *Shell) Page(method, path string, perm Permission, h ...fiber.Handler) {
	s.table.Handle(PageRoute{Method: method, Path: path, Permission: perm, Handlers: append([]fiber.Handler{s.shell}, h...)})
}

// Post registers a form target: a Page whose CSRF token is checked before h runs. That check reads the whole form,
// so a streamed upload registers with Page instead and calls ValidCSRF on the form's first field (the csrf field
// placed before the file) before it reads the file.
func (s *Shell) Post(path string, perm Permission, h fiber.Handler) {
	s.Page(fiber.MethodPost, path, perm, s.cookies.CheckCSRF, h)
}

// Nav adds entries to the back office's side menu (or, with GroupPortal, the portal's menu; with GroupAccount, the
// signed-in user's own links in the header). Each is shown to users holding its permission.
func (s *Shell) Nav(entries ...NavEntry) {
	for _, e := range entries {
		if err := e.check(); err != nil {
			s.errs = append(s.errs, err)
			continue
		}
		s.nav = append(s.nav, e)
	}
}

// Tiles adds counts to the back-office home page (Dashboard), each shown to users holding its permission.
func (s *Shell) Tiles(tiles ...Tile) {
	for _, t := range tiles {
		if err := t.check(); err != nil {
			s.errs = append(s.errs, err)
			continue
		}
		s.tiles = append(s.tiles, t)
	}
}

// Table is the page table (every registered page and its permission), for tests that walk all pages.
func (s *Shell) Table() *PageTable { return s.table }

// Err reports every malformed page, menu entry and tile declaration.
func (s *Shell) Err() error { return errors.Join(append([]error{s.table.Err()}, s.errs...)...) }

// CSRF is the token a page's forms carry in their "csrf" field.
func (s *Shell) CSRF(c *fiber.Ctx) string { return s.cookies.CSRFToken(c) }

// RenewCSRF replaces the CSRF token (at sign-in and sign-out: a fresh token per session) and returns it.
func (s *Shell) RenewCSRF(c *fiber.Ctx) string { return s.cookies.RenewCSRF(c) }

// ValidCSRF reports whether a form's presented csrf value matches the request's CSRF cookie (for handlers that
// read their form themselves, see Post).
func (s *Shell) ValidCSRF(c *fiber.Ctx, presented string) bool {
	return SameToken(presented, c.Cookies(s.cookies.Name(s.cookies.CSRF)))
}

type viewerKey struct{}

type viewerResult struct {
	v  Viewer
	ok bool
}

// Viewer is the request's signed-in user (Sessions.Viewer, asked once per request); ok is false on public pages.
func (s *Shell) Viewer(c *fiber.Ctx) (Viewer, bool, error) {
	if r, ok := c.Locals(viewerKey{}).(viewerResult); ok {
		return r.v, r.ok, nil
	}
	v, ok, err := s.o.Sessions.Viewer(c)
	if err != nil {
		return Viewer{}, false, fmt.Errorf("page viewer: %w", err)
	}
	c.Locals(viewerKey{}, viewerResult{v: v, ok: ok})
	return v, ok, nil
}

// Render draws a signed-in page with its area's menu: the back office's side menu and the user's header links, or
// the portal's top menu, each holding only what the user may open. Without a signed-in user it is RenderPublic.
func (s *Shell) Render(c *fiber.Ctx, status int, name, title string, data any) error {
	v, ok, err := s.Viewer(c)
	if err != nil {
		return err
	}
	if !ok {
		return s.RenderPublic(c, status, name, title, data)
	}
	nav := s.menu(v, c.Path())
	nav.User, nav.LogoutAction, nav.CSRF = v.Name, v.SignOut, s.CSRF(c)
	return s.o.Pages.Render(c, status, name, Page{Title: title, Brand: BrandOf(c), Nav: &nav, Data: data})
}

// RenderPublic draws a page before sign-in (no menu), e.g. a sign-in or registration form.
func (s *Shell) RenderPublic(c *fiber.Ctx, status int, name, title string, data any) error {
	return s.o.Pages.Render(c, status, name, Page{Title: title, Brand: BrandOf(c), Data: data})
}

// shell runs first on every page.
func (s *Shell) shell(c *fiber.Ctx) error {
	s.prepare(c)
	return c.Next()
}

// prepare records the tenant's brand (also for error pages) and sets the headers of pages that show credentials
// and links with tokens: no framing, no sniffing, no referrer, no caching.
func (s *Shell) prepare(c *fiber.Ctx) {
	s.loadBrand(c)
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderContentSecurityPolicy, "frame-ancestors 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderCacheControl, "no-store")
}

type brandLoaded struct{}

func (s *Shell) loadBrand(c *fiber.Ctx) {
	if _, ok := c.Locals(brandLoaded{}).(bool); ok || s.o.Brand == nil {
		return
	}
	c.Locals(brandLoaded{}, true)
	if b, err := s.o.Brand(c); err == nil {
		SetBrand(c, b)
	} else {
		s.o.Log.WarnContext(c.UserContext(), "branding unavailable", "err", err)
	}
}

// Dashboard is the back-office home page's tiles for the request's viewer: the tiles they may open, grouped and
// ordered as the menu, each with its count now. A tile whose count fails is shown as unavailable (and logged)
// rather than failing the whole page.
func (s *Shell) Dashboard(c *fiber.Ctx) ([]DashboardGroup, error) {
	v, ok, err := s.Viewer(c)
	if err != nil || !ok || v.Portal {
		return nil, err
	}
	var visible []Tile
	for _, t := range s.tiles {
		if v.Can(t.Permission) {
			visible = append(visible, t)
		}
	}
	slices.SortStableFunc(visible, func(a, b Tile) int { return compareEntries(a.Order, a.Label, b.Order, b.Label) })
	var out []DashboardGroup
	for _, g := range NavGroups {
		dg := DashboardGroup{Group: g}
		for _, t := range visible {
			if t.Group != g {
				continue
			}
			n, err := t.Count(c)
			dt := DashboardTile{Label: t.Label, Href: cmp.Or(n.Href, t.Href), TileCount: n}
			if err != nil {
				s.o.Log.ErrorContext(c.UserContext(), "dashboard tile", "tile", t.Label, "err", err)
				dt = DashboardTile{Label: t.Label, Href: t.Href, Failed: true}
			}
			dg.Tiles = append(dg.Tiles, dt)
		}
		if len(dg.Tiles) > 0 {
			out = append(out, dg)
		}
	}
	return out, nil
}
