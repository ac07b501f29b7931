package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

var (
	qrImage    = regexp.MustCompile(`<img id="totp-qr" src="data:image/png;base64,([^"]+)"`)
	totpURI    = regexp.MustCompile(`id="totp-uri">([^<]+)<`)
	totpSecret = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
)

// checkEnrolmentPage checks an enrolment page: a QR code that is a real PNG, and an otpauth URI for issuer and
// account that carries the secret shown beside it. It returns the secret.
func checkEnrolmentPage(t *testing.T, body, issuer, account string) string {
	t.Helper()
	m := qrImage.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no inline QR image: %.800s", body[max(strings.Index(body, "<h1>"), 0):])
	}
	// html/template writes '+' in an attribute as &#43;, which a browser reads back as '+'.
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatalf("QR image data: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the QR image is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() < 100 {
		t.Fatalf("QR image bounds %v", b)
	}
	s := totpSecret.FindStringSubmatch(body)
	u := totpURI.FindStringSubmatch(body)
	if s == nil || u == nil {
		t.Fatalf("no secret or URI: %.800s", body)
	}
	parsed, err := url.Parse(html.UnescapeString(u[1]))
	if err != nil {
		t.Fatal(err)
	}
	q := parsed.Query()
	if parsed.Scheme != "otpauth" || parsed.Host != "totp" || parsed.Path != "/"+issuer+":"+account ||
		q.Get("issuer") != issuer || q.Get("secret") != s[1] {
		t.Fatalf("otpauth URI %s, want issuer %q, account %q and the secret %s", parsed, issuer, account, s[1])
	}
	return s[1]
}

func TestTradersEnrolTwoFactorOnThePortalWithAQRCodeNamedForTheBrand(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ctx := context.Background()
	ten, _ := demoTenant(t, a)
	// The brand's name, not the tenant's, is what the trader knows: the authenticator app shows it.
	err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('branding', '{"name": "Harbour Markets"}')
			ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	email := identity.DemoTraderEmail(ten)
	c := newPageClient(t, base, ten)
	c.login("/portal", email, identity.DemoPassword)
	if r := c.get("/portal"); r.status != http.StatusOK || !strings.Contains(r.body, `href="/portal/2fa"`) {
		t.Fatalf("no link to the 2FA page on the portal: %d %.600s", r.status, r.body)
	}
	page := c.get("/portal/2fa")
	if page.status != http.StatusOK || !strings.Contains(page.body, "Two-factor sign-in is off") {
		t.Fatalf("portal 2FA page: %d %.600s", page.status, page.body)
	}
	r := c.do(http.MethodPost, "/portal/2fa/enrol", url.Values{"csrf": {csrfOf(t, page.body)}})
	if r.status != http.StatusOK {
		t.Fatalf("enrol: %d %.600s", r.status, r.body)
	}
	secret := checkEnrolmentPage(t, r.body, "Harbour Markets", email)
	code, _ := auth.TOTPCode(secret, time.Now())
	r = c.do(http.MethodPost, "/portal/2fa/confirm", url.Values{"csrf": {csrfOf(t, r.body)}, "code": {code}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="recovery-codes"`) || !strings.Contains(r.body, `id="continue" href="/portal"`) {
		t.Fatalf("confirm: %d %.600s", r.status, r.body)
	}
	if r := c.get("/portal/2fa"); !strings.Contains(r.body, "Two-factor sign-in is on") {
		t.Fatalf("2FA page after enrolling: %.400s", r.body)
	}
	// The next sign-in asks for a code.
	fresh := newPageClient(t, base, ten)
	csrf := csrfOf(t, fresh.get("/portal/login").body)
	r = fresh.do(http.MethodPost, "/portal/login", url.Values{"csrf": {csrf}, "email": {email}, "password": {identity.DemoPassword}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `name="code"`) {
		t.Fatalf("sign-in after enrolling: %d, want the code step: %.300s", r.status, r.body)
	}
}

func TestBackOfficeEnrolmentPageShowsAQRCode(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	email := demoEmail(ten, "support")
	c := newPageClient(t, base, ten)
	c.login("/backoffice", email, identity.DemoPassword)
	page := c.get("/backoffice/2fa")
	r := c.do(http.MethodPost, "/backoffice/2fa/enrol", url.Values{"csrf": {csrfOf(t, page.body)}})
	if r.status != http.StatusOK {
		t.Fatalf("enrol: %d %.600s", r.status, r.body)
	}
	checkEnrolmentPage(t, r.body, ten.DisplayName, email)
}
