package identity

import (
	"context"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

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

// Sessions are the tenant hosts' page sessions (web.Sessions): cookies holding the same access and refresh tokens
// the API issues, verified for the host's tenant and the area's audience. The page shell (web.Shell) runs Guard
// before every page that declares a permission and asks Viewer who is signed in.
type Sessions struct {
	s       *Service
	cookies web.Cookies
}

// NewSessions returns the page sessions of s; secure is BD_PUBLIC_SCHEME https (Secure, __Host- cookies, as the
// shell's own).
func NewSessions(s *Service, secure bool) *Sessions {
	return &Sessions{s: s, cookies: web.Cookies{Secure: secure}}
}

var _ web.Sessions = (*Sessions)(nil)

// Guard authenticates a page by its area's access cookie. An expired or missing one is renewed from the refresh
// cookie on top-level page loads only (so two requests never present the same refresh token at once, which counts
// as reuse). Without a session a browser goes to the login page; a staff user without perm gets 403.
func (ss *Sessions) Guard(perm web.Permission) fiber.Handler {
	ar := areaOf(perm)
	return func(c *fiber.Ctx) error {
		t := tenants.Current(c)
		claims, err := ss.verify(ss.cookies.Get(c, ar.cookie), ar.kind, t)
		if err != nil && web.IsNavigation(c) {
			claims, err = ss.refresh(c, ar, t)
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

// Viewer is the signed-in user of the page: a staff user with the permissions of their token's roles and their
// name, or a trader (every "portal.*" permission, as on the API) with their sign-in email.
func (ss *Sessions) Viewer(c *fiber.Ctx) (web.Viewer, bool, error) {
	pr, ok := PrincipalOf(c)
	if !ok || (pr.Kind != Staff && pr.Kind != Portal) {
		return web.Viewer{}, false, nil
	}
	if pr.Kind == Portal {
		email, err := ss.portalEmail(c)
		if err != nil {
			return web.Viewer{}, false, err
		}
		return web.Viewer{UserID: pr.UserID, Portal: true, Name: email, Email: email, SignOut: portal.prefix + "/logout",
			Grants: func(p web.Permission) bool { return audienceOf(p) == Portal }}, true, nil
	}
	p, err := ss.profile(c)
	if err != nil {
		return web.Viewer{}, false, err
	}
	name := p.FullName
	if name == "" {
		name = p.Email
	}
	roles := pr.Claims.Roles
	return web.Viewer{UserID: pr.UserID, Name: name, Email: p.Email, SignOut: backOffice.prefix + "/logout",
		Grants: func(perm web.Permission) bool { return audienceOf(perm) == Staff && Allowed(roles, perm) }}, true, nil
}

type profileKey struct{}

// profile is the signed-in staff user's profile, read once per request (the header and the home page show it).
func (ss *Sessions) profile(c *fiber.Ctx) (Profile, error) {
	if p, ok := c.Locals(profileKey{}).(Profile); ok {
		return p, nil
	}
	pr, _ := PrincipalOf(c)
	p, err := ss.s.StaffProfile(c.UserContext(), tenants.Current(c), pr.UserID)
	if err == nil {
		c.Locals(profileKey{}, p)
	}
	return p, err
}

// portalEmail is the signed-in trader's sign-in email.
func (ss *Sessions) portalEmail(c *fiber.Ctx) (string, error) {
	pr, _ := PrincipalOf(c)
	var email string
	err := ss.s.gate.ScopeWith(c.UserContext(), tenants.Current(c), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT email FROM portal_users WHERE id = $1`, pr.UserID).Scan(&email)
	})
	return email, err
}

// verify checks an access token for kind k on t's host exactly as the API's Bearer check does.
func (ss *Sessions) verify(tok string, k Kind, t tenants.Tenant) (auth.Claims, error) {
	if tok == "" {
		return auth.Claims{}, ErrInvalidRefresh
	}
	want := auth.Expectation{Audience: k.aud, Issuer: ss.s.o.Issuer, TenantID: t.ID.String()}
	if cl, ok := ss.s.verified.get(tok, want, ss.s.o.Now()); ok {
		return cl, nil
	}
	cl, err := ss.s.o.Keys.Verify(tok, want)
	if err != nil {
		return auth.Claims{}, err
	}
	ss.s.verified.put(tok, want, cl)
	return cl, nil
}

func (ss *Sessions) refresh(c *fiber.Ctx, ar area, t tenants.Tenant) (auth.Claims, error) {
	rt := ss.cookies.Get(c, ar.refreshCookie())
	if rt == "" {
		return auth.Claims{}, ErrInvalidRefresh
	}
	tok, err := ss.s.Refresh(c.UserContext(), t, ar.kind, rt)
	if err != nil {
		ss.cookies.Set(c, ar.refreshCookie(), "", time.Time{})
		return auth.Claims{}, err
	}
	ss.set(c, ar, tok)
	return tok.Claims, nil
}

// set keeps a new session (sign-in, renewal) in the area's cookies.
func (ss *Sessions) set(c *fiber.Ctx, ar area, tok Tokens) {
	ss.cookies.Set(c, ar.cookie, tok.AccessToken, tok.ExpiresAt)
	if tok.RefreshToken != "" {
		ss.cookies.Set(c, ar.refreshCookie(), tok.RefreshToken, ss.s.o.Now().Add(auth.RefreshIdleTTL))
	}
}

// end clears the area's session cookies (sign-out).
func (ss *Sessions) end(c *fiber.Ctx, ar area) {
	ss.cookies.Set(c, ar.cookie, "", time.Time{})
	ss.cookies.Set(c, ar.refreshCookie(), "", time.Time{})
}
