package web

import (
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"regexp"
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
	// BodyLimits is the app's table of routes' own body limits (Options.BodyLimits), where Upload declares its
	// pages' limits; nil: no page may declare one.
	BodyLimits *BodyLimits
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
	hubs    map[string]*hub
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
	s := &Shell{o: o, cookies: Cookies{Secure: o.Secure, CSRF: o.CSRFCookie}, hubs: map[string]*hub{}}
	s.table = NewPageTable(router, func(p Permission) fiber.Handler {
		guard := o.Sessions.Guard(p)
		return func(c *fiber.Ctx) error {
			s.prepare(c) // the guard's redirects and 403 pages get the page headers and the brand too
			return guard(c)
		}
	})
	s.table.SetBodyLimits(o.BodyLimits)
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

// Upload registers a form target whose form carries a small file: a Post whose body may be up to limit bytes
// (declared on ShellOptions.BodyLimits, enforced by the body guard while reading) and is buffered whole, so a
// multipart/form-data form is read with MultipartForm (its text fields checked by the edge's rule) before the CSRF
// check, and h reads its fields with c.FormValue and its file with c.FormFile. A url-encoded form (one without the
// file) is taken too. For files of a few MiB; larger uploads are StreamRoutes and read their parts as they arrive.
func (s *Shell) Upload(path string, perm Permission, limit int, h fiber.Handler) {
	readForm := func(c *fiber.Ctx) error {
		if IsMultipart(c) {
			if _, err := MultipartForm(c); err != nil {
				return err
			}
		}
		return c.Next()
	}
	s.table.Handle(PageRoute{Method: fiber.MethodPost, Path: path, Permission: perm, BodyLimit: limit,
		Handlers: []fiber.Handler{s.shell, readForm, s.cookies.CheckCSRF, h}})
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

// Fragment draws page file name's "content" template alone, without the layout, with data as its .Data: the part
// of a page a module draws inside another module's page (a hub section).
func (s *Shell) Fragment(c *fiber.Ctx, name string, data any) (template.HTML, error) {
	return s.o.Pages.Fragment(name, Page{Brand: BrandOf(c), Data: data})
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

// Hub pages. A hub is a page about one subject (a client) that several modules fill: the module owning the page
// draws it with Hub, and every module adds its tab (HubSection) and its facts in the header (HubSummary) from its
// front door's Pages, so a new module adds a tab to the client page without the clients module changing. Tabs are
// plain links (?tab=<id>): they work without JavaScript, and only the open tab's section is drawn, so a tab costs
// nothing until it is opened.

// HubSection is one tab of a hub page. The tab is shown to viewers holding Permission ("" for everyone who may
// open the hub page itself), ordered by Order then Label.
type HubSection struct {
	// ID names the tab in links (?tab=ID) and is the section's element id: lower-case letters, digits and '-'.
	ID    string
	Label string
	// Hint is the tab's longer description (its title).
	Hint       string
	Order      int
	Permission Permission
	// Render draws the section for the subject, when its tab is open. The hub page's owner has checked that the
	// viewer may see the subject; Render checks what is finer than Permission (object rules of its own module).
	Render func(c *fiber.Ctx, subject uuid.UUID) (template.HTML, error)
	// Href, instead of Render, makes the tab a link to a page of its own about the subject.
	Href func(subject uuid.UUID) string
}

// HubSummary is one group of facts in a hub page's header (a client's status and manager, what the policy gate
// allows, balances), shown to viewers holding Permission ("" for everyone who may open the hub page), ordered by
// Order then ID. Facts are read on every view of the hub, whichever tab is open: keep them to one query.
type HubSummary struct {
	// ID is the group's element id ("policy"); unique in the hub.
	ID         string
	Order      int
	Permission Permission
	// Label names the group for screen readers (the facts carry their own visible labels).
	Label string
	// Badges draws the facts as compact badges (the label inside, the value and hint for screen readers and on
	// hover) instead of label and value pairs.
	Badges bool
	Facts  func(c *fiber.Ctx, subject uuid.UUID) ([]HubFact, error)
}

// HubFact is one fact of a hub's header: a label and a value coloured by its tone, with a hint (why) shown on hover
// and, in text, to screen readers.
type HubFact struct {
	Label, Value string
	// Href links the value (a manager's name to their clients); "" for none.
	Href string
	Tone Tone
	Hint string
}

// Tone colours a fact: neutral, good (approved, allowed), warn (waiting, restricted), bad (refused, suspended),
// info.
type Tone string

const (
	ToneNeutral Tone = ""
	ToneGood    Tone = "good"
	ToneWarn    Tone = "warn"
	ToneBad     Tone = "bad"
	ToneInfo    Tone = "info"
)

// Hub is a hub page as drawn for one request: the header's facts, the tabs the viewer may open, and the open tab's
// section. The owning page sets Title and draws it with the layout's "hub-head", "hub-tabs" and "hub-section"
// templates.
type Hub struct {
	Title   string
	Summary []HubSummaryView
	Tabs    []HubTab
	Current HubTab
	Section template.HTML
}

// HubSummaryView is one group of the header's facts for the viewer.
type HubSummaryView struct {
	ID, Label string
	Badges    bool
	Facts     []HubFact
	Failed    bool
}

// HubTab is one tab of a hub page for the viewer.
type HubTab struct {
	ID, Label, Hint, Href string
	Current               bool
	// Away: the tab is a link to a page of its own (HubSection.Href).
	Away bool
}

type hub struct {
	sections  []HubSection
	summaries []HubSummary
}

var hubID = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

func (s *Shell) hub(name string) *hub {
	h, ok := s.hubs[name]
	if !ok {
		h = &hub{}
		s.hubs[name] = h
	}
	return h
}

// HubSection adds a tab to hub name's page (e.g. "client"). Call it while wiring (Door.Pages), before serving.
func (s *Shell) HubSection(name string, sec HubSection) {
	h := s.hub(name)
	switch {
	case !hubID.MatchString(sec.ID) || sec.Label == "" || (sec.Render == nil) == (sec.Href == nil):
		s.errs = append(s.errs, fmt.Errorf("hub %s: section %q (%s) declares no id, label, or exactly one of Render and Href", name, sec.ID, sec.Label))
	case slices.ContainsFunc(h.sections, func(o HubSection) bool { return o.ID == sec.ID }):
		s.errs = append(s.errs, fmt.Errorf("hub %s: section %q declared twice", name, sec.ID))
	default:
		h.sections = append(h.sections, sec)
		slices.SortStableFunc(h.sections, func(a, b HubSection) int { return compareEntries(a.Order, a.Label, b.Order, b.Label) })
	}
}

// HubSummary adds a group of facts to hub name's header. Call it while wiring (Door.Pages), before serving.
func (s *Shell) HubSummary(name string, sum HubSummary) {
	h := s.hub(name)
	switch {
	case !hubID.MatchString(sum.ID) || sum.Facts == nil:
		s.errs = append(s.errs, fmt.Errorf("hub %s: summary %q declares no id or facts", name, sum.ID))
	case slices.ContainsFunc(h.summaries, func(o HubSummary) bool { return o.ID == sum.ID }):
		s.errs = append(s.errs, fmt.Errorf("hub %s: summary %q declared twice", name, sum.ID))
	default:
		h.summaries = append(h.summaries, sum)
		slices.SortStableFunc(h.summaries, func(a, b HubSummary) int { return compareEntries(a.Order, a.ID, b.Order, b.ID) })
	}
}

// HubSections lists hub name's sections in tab order (for tests and docs).
func (s *Shell) HubSections(name string) []HubSection {
	if h, ok := s.hubs[name]; ok {
		return slices.Clone(h.sections)
	}
	return nil
}

// Hub draws hub name's page about subject for the request's viewer: every summary group they may see, their tabs
// (links to base?tab=<id>; the first is base itself), and the open tab's section (the request's "tab" query, else
// the first). A tab the viewer may not open, or that does not exist, is 404. A summary group or section that
// fails is logged and shown as unavailable, so one module's trouble leaves the rest of the page readable. The
// caller has checked that the viewer may see the subject.
func (s *Shell) Hub(c *fiber.Ctx, name string, subject uuid.UUID, base string) (Hub, error) {
	v, _, err := s.Viewer(c)
	if err != nil {
		return Hub{}, err
	}
	h := s.hubs[name]
	if h == nil {
		h = &hub{}
	}
	ctx := c.UserContext()
	var out Hub
	for _, sum := range h.summaries {
		if sum.Permission != "" && !v.Can(sum.Permission) {
			continue
		}
		view := HubSummaryView{ID: sum.ID, Label: sum.Label, Badges: sum.Badges}
		facts, err := sum.Facts(c, subject)
		if err != nil {
			s.o.Log.ErrorContext(ctx, "hub summary", "hub", name, "summary", sum.ID, "err", err)
			view.Failed = true
		}
		view.Facts = facts
		out.Summary = append(out.Summary, view)
	}
	want := c.Query("tab")
	var visible []HubSection
	for _, sec := range h.sections {
		if sec.Permission == "" || v.Can(sec.Permission) {
			visible = append(visible, sec)
		}
	}
	first := slices.IndexFunc(visible, func(sec HubSection) bool { return sec.Render != nil })
	var current *HubSection
	for i, sec := range visible {
		tab := HubTab{ID: sec.ID, Label: sec.Label, Hint: sec.Hint, Href: base + "?tab=" + sec.ID}
		switch {
		case sec.Href != nil:
			tab.Href, tab.Away = sec.Href(subject), true
		case i == first:
			tab.Href = base // the first section is the page itself
		}
		if sec.Render != nil && current == nil && (want == sec.ID || (want == "" && i == first)) {
			tab.Current = true
			current = &visible[i]
			out.Current = tab
		}
		out.Tabs = append(out.Tabs, tab)
	}
	if current == nil {
		if want != "" {
			return Hub{}, NotFound("No such section on this page.")
		}
		return out, nil
	}
	html, err := current.Render(c, subject)
	if err != nil {
		s.o.Log.ErrorContext(ctx, "hub section", "hub", name, "section", current.ID, "err", err)
		html = template.HTML(`<p class="muted" role="alert">This section is unavailable just now; the rest of the page is up to date.</p>`)
	}
	out.Section = html
	return out, nil
}
