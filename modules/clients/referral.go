package clients

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// referralCookie keeps a ?ref= code across the visit until registration.
const (
	referralCookie = "bd_ref"
	referralTTL    = 30 * 24 * time.Hour
)

func referralCookieName(secure bool) string {
	if secure {
		return "__Host-" + referralCookie
	}
	return referralCookie
}

// ReferralMiddleware remembers an IB/affiliate link: a GET of the landing page or of a /portal page with a valid
// ?ref=CODE sets the referral cookie (the code and when the link was followed; HttpOnly, SameSite=Lax so it
// survives arriving from the affiliate's site, 30 days, Secure and __Host- over https). A later link replaces an
// earlier one (last click wins). Install it on the tenant hosts' app before the landing page and the portal pages.
func ReferralMiddleware(secure bool, now func() time.Time) fiber.Handler {
	if now == nil {
		now = time.Now
	}
	return func(c *fiber.Ctx) error {
		if c.Method() == fiber.MethodGet && (c.Path() == "/" || c.Path() == "/portal" || strings.HasPrefix(c.Path(), "/portal/")) {
			if code := c.Query("ref"); code != "" && ValidReferralCode(code) {
				at := now()
				c.Cookie(&fiber.Cookie{Name: referralCookieName(secure), Value: code + "." + strconv.FormatInt(at.Unix(), 10),
					Path: "/", HTTPOnly: true, Secure: secure, SameSite: fiber.CookieSameSiteLaxMode,
					Expires: at.Add(referralTTL), MaxAge: int(referralTTL / time.Second)})
				// A registration page reached through the link itself sees the code at once.
				c.Request().Header.SetCookie(referralCookieName(secure), code+"."+strconv.FormatInt(at.Unix(), 10))
			}
		}
		return c.Next()
	}
}

// referralOf reads the referral cookie: the code and when its link was followed.
func referralOf(c *fiber.Ctx, secure bool) (Referral, bool) {
	v := c.Cookies(referralCookieName(secure))
	code, ts, ok := strings.Cut(v, ".")
	if !ok || !ValidReferralCode(code) {
		return Referral{}, false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return Referral{}, false
	}
	return Referral{Code: strings.Clone(code), Source: ReferralLink, CapturedAt: time.Unix(sec, 0)}, true
}

// referralFor decides a registration's referral: the code given (typed or prefilled from the cookie) counts as
// the link's when it is the cookie's code, else as typed; no code given falls back to the cookie's.
func referralFor(c *fiber.Ctx, secure bool, given string) Referral {
	given = strings.TrimSpace(given)
	link, ok := referralOf(c, secure)
	switch {
	case given == "" && ok:
		return link
	case given == "":
		return Referral{}
	case ok && strings.EqualFold(given, link.Code):
		return link
	}
	return Referral{Code: given, Source: ReferralTyped}
}
