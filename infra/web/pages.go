package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/gofiber/fiber/v2"
)

//go:embed templates/*.html
var layoutFiles embed.FS

// Brand is what a page shows of the tenant: its name, logo and colours (as CSS custom properties).
type Brand struct {
	Name         string
	LogoURL      string
	PrimaryColor string // #rrggbb
	AccentColor  string // #rrggbb
}

// DefaultBrand is BrokerDesk's own look: the console and hosts that belong to no tenant.
var DefaultBrand = Brand{Name: "BrokerDesk", PrimaryColor: "#1f4e79", AccentColor: "#f0a500"}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// ValidColor reports whether s is a #rrggbb colour, the only form a brand colour may take.
func ValidColor(s string) bool { return hexColor.MatchString(s) }

// Page is what a template receives.
type Page struct {
	Title     string
	Brand     Brand
	RequestID string
	// Nav is the signed-in area's navigation, drawn in the layout's header; nil on pages before sign-in.
	Nav  *Nav
	Data any
}

// Nav is the navigation of a signed-in page: the links the user's permissions allow, who is signed in, and the
// sign-out form (a POST carrying the CSRF token). The back office draws Groups as a side menu and Account in the
// header; the portal (and the console) draw Links in the header.
type Nav struct {
	Links        []NavLink
	Groups       []NavSection
	Account      []NavLink
	User         string
	LogoutAction string
	CSRF         string
}

// NavLink is one navigation entry.
type NavLink struct {
	Label, Href string
	Current     bool
}

// Pages renders full pages: the shared layout around one page template.
type Pages struct {
	pages map[string]*template.Template
}

// NewPages parses the layout and every *.html page template found in the given file systems (a module passes
// its own embedded templates). A page is referred to by its file name without extension.
func NewPages(modules ...fs.FS) (*Pages, error) {
	layout, err := template.ParseFS(layoutFiles, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	p := &Pages{pages: map[string]*template.Template{}}
	add := func(fsys fs.FS, file string) error {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if _, dup := p.pages[name]; dup {
			return fmt.Errorf("page %q defined twice", name)
		}
		t, err := template.Must(layout.Clone()).ParseFS(fsys, file)
		if err != nil {
			return err
		}
		p.pages[name] = t
		return nil
	}
	if err := add(layoutFiles, "templates/error.html"); err != nil {
		return nil, err
	}
	for _, fsys := range modules {
		files, err := fs.Glob(fsys, "*/*.html")
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := add(fsys, f); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// Render writes page name with status.
func (p *Pages) Render(c *fiber.Ctx, status int, name string, page Page) error {
	t, ok := p.pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	if page.Brand.Name == "" {
		page.Brand = DefaultBrand
	}
	if id, ok := c.Locals("request_id").(string); ok {
		page.RequestID = id
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", page); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

// Fragment executes page name's "content" template alone, without the layout: a part of a page that another
// page embeds (a hub section; Shell.Fragment).
func (p *Pages) Fragment(name string, page Page) (template.HTML, error) {
	t, ok := p.pages[name]
	if !ok {
		return "", fmt.Errorf("web: no page %q", name)
	}
	if page.Brand.Name == "" {
		page.Brand = DefaultBrand
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "content", page); err != nil {
		return "", fmt.Errorf("web: render fragment %s: %w", name, err)
	}
	return template.HTML(buf.String()), nil //nolint:gosec // html/template escaped it
}

// brandKey is where middleware leaves the request's Brand for error pages.
const brandKey = "web.brand"

// SetBrand records the brand of the current request (a tenant's) for any page rendered later in it.
func SetBrand(c *fiber.Ctx, b Brand) { c.Locals(brandKey, b) }

// BrandOf returns the brand recorded for the request, or the default.
func BrandOf(c *fiber.Ctx) Brand {
	if b, ok := c.Locals(brandKey).(Brand); ok {
		return b
	}
	return DefaultBrand
}

// Error renders the error page for a problem.
func (p *Pages) Error(c *fiber.Ctx, pr *Problem) error {
	return p.Render(c, pr.Status, "error", Page{Title: pr.Title, Brand: BrandOf(c), Data: pr})
}
