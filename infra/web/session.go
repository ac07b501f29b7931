package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// CSRFField is the hidden form field every state-changing form repeats the CSRF cookie's token in.
const CSRFField = "csrf"

// Cookies set the session cookies of server-rendered pages (the console's, the back office's, the portal's): always
// HttpOnly and SameSite=Strict, Path=/, Secure outside plain-http development. When Secure, names carry the
// __Host- prefix, which browsers accept only on Secure, host-only, Path=/ cookies, so no sibling subdomain can plant
// or shadow them. Areas on one host keep apart by name, not by Path (the prefix requires Path=/).
type Cookies struct {
	Secure bool
	// CSRF is the base name of the cookie holding the CSRF token (double-submit: the form field must equal it).
	CSRF string
}

// Name is base with the prefix its Secure setting requires.
func (o Cookies) Name(base string) string {
	if o.Secure {
		return "__Host-" + base
	}
	return base
}

// Get returns the value of cookie base, copied (Fiber reuses the request's bytes).
func (o Cookies) Get(c *fiber.Ctx, base string) string {
	return utils.CopyString(c.Cookies(o.Name(base)))
}

// Set sets cookie base; an empty value clears it. A zero expires makes a browser-session cookie.
func (o Cookies) Set(c *fiber.Ctx, base, value string, expires time.Time) {
	ck := &fiber.Cookie{Name: o.Name(base), Value: value, Path: "/", HTTPOnly: true, Secure: o.Secure,
		SameSite: fiber.CookieSameSiteStrictMode}
	if value == "" {
		ck.Expires = time.Unix(1, 0)
		ck.MaxAge = -1
	} else if !expires.IsZero() {
		ck.Expires = expires
	}
	c.Cookie(ck)
}

// CSRFToken returns the request's CSRF token, minting one (and its cookie) when there is none yet.
func (o Cookies) CSRFToken(c *fiber.Ctx) string {
	if tok := c.Cookies(o.Name(o.CSRF)); len(tok) >= 32 {
		return utils.CopyString(tok)
	}
	return o.RenewCSRF(c)
}

// RenewCSRF replaces the CSRF token (at sign-in: a fresh token per session) and returns it.
func (o Cookies) RenewCSRF(c *fiber.Ctx) string {
	tok := RandomToken()
	o.Set(c, o.CSRF, tok, time.Time{})
	c.Request().Header.SetCookie(o.Name(o.CSRF), tok) // later reads in this request see it
	return tok
}

// CheckCSRF refuses a state-changing form whose csrf field does not equal the CSRF cookie's token: 403.
// SameSite=Strict already keeps the cookies off cross-site requests; the token is the second, independent lock.
func (o Cookies) CheckCSRF(c *fiber.Ctx) error {
	if !SameToken(c.FormValue(CSRFField), c.Cookies(o.Name(o.CSRF))) {
		return NewProblem(fiber.StatusForbidden, "csrf", "The form has expired. Reload the page and try again.")
	}
	return c.Next()
}

// RandomToken is 32 random bytes, base64url (CSRF tokens).
func RandomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// SameToken compares a presented token with the expected one in constant time; empty never matches.
func SameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// SafeNext keeps a post-login redirect on this host: next if it is a local path, fallback otherwise.
func SafeNext(next, fallback string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.IsAbs() || u.Host != "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return fallback
	}
	return next
}

// IsNavigation reports whether the request is a browser's top-level page load (a GET asking for HTML): only
// those renew a session from the refresh cookie or are redirected to a login page.
func IsNavigation(c *fiber.Ctx) bool {
	return c.Method() == fiber.MethodGet && strings.Contains(c.Get(fiber.HeaderAccept), "text/html")
}

// PageRoute is one server-rendered page (or form target), declared with its permission like an API Route.
type PageRoute struct {
	Method     string
	Path       string
	Permission Permission
	// BodyLimit is the largest request body the page reads, in bytes; 0 is the app's default (DefaultMaxBody,
	// 1 MiB). Only a form that carries a small file declares more (Shell.Upload); large uploads are StreamRoutes.
	BodyLimit int
	Handlers  []fiber.Handler
}

// PageTable registers pages the way API registers routes: the guard comes from the declared permission, and a
// page without one is a defect that Err reports, so the server refuses to start. Pages are not in the OpenAPI
// document.
type PageTable struct {
	router fiber.Router
	guard  func(Permission) fiber.Handler
	limits *BodyLimits
	routes []PageRoute
	errs   []string
}

// NewPageTable returns a page table over router; guard returns the middleware enforcing one permission (not
// called for Public pages).
func NewPageTable(router fiber.Router, guard func(Permission) fiber.Handler) *PageTable {
	return &PageTable{router: router, guard: guard}
}

// SetBodyLimits gives the table the body guard's record of routes' own limits (the app's Options.BodyLimits), for
// pages that declare a BodyLimit; one declared without it is a defect reported by Err.
func (t *PageTable) SetBodyLimits(l *BodyLimits) { t.limits = l }

// Handle registers one page.
func (t *PageTable) Handle(r PageRoute) {
	switch {
	case r.Permission == "" || len(r.Handlers) == 0:
		t.errs = append(t.errs, fmt.Sprintf("page %s %s declares no permission or handler", r.Method, r.Path))
		return
	case r.BodyLimit < 0 || (r.BodyLimit > 0 && t.limits == nil):
		t.errs = append(t.errs, fmt.Sprintf("page %s %s declares a body limit but the page table has no body limits (SetBodyLimits)", r.Method, r.Path))
		return
	}
	if r.BodyLimit > 0 {
		t.limits.Declare(r.Method, r.Path, r.BodyLimit)
	}
	hs := r.Handlers
	if r.Permission != Public {
		hs = append([]fiber.Handler{t.guard(r.Permission)}, hs...)
	}
	t.router.Add(r.Method, r.Path, hs...)
	t.routes = append(t.routes, r)
}

// Routes returns the declared pages.
func (t *PageTable) Routes() []PageRoute { return append([]PageRoute(nil), t.routes...) }

// Err reports every malformed page declaration.
func (t *PageTable) Err() error {
	if len(t.errs) == 0 {
		return nil
	}
	return fmt.Errorf("page routes: %s", strings.Join(t.errs, "; "))
}
