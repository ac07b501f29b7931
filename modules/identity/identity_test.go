package identity_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

const goodPassword = "Harbour-Lights-77"

func TestStaffLoginIssuesABackofficeTokenForTheHostTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.addStaff(t, "ada@harbour.example", goodPassword, "compliance", "sales")

	tr, r := b.login(t, "  Ada@Harbour.example ", goodPassword)
	if r.Status != 200 || tr.RefreshToken == "" || tr.TokenType != "Bearer" {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	c, err := b.keys.Verify(tr.AccessToken, auth.Expectation{Audience: auth.AudienceBackoffice, Issuer: issuer, TenantID: b.ten.ID.String()})
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != id.String() || strings.Join(c.Roles, ",") != "compliance,sales" || c.ExpiresAt.Sub(c.IssuedAt) != 15*time.Minute {
		t.Fatalf("claims %+v", c)
	}
	r = do(t, b.app, "GET", "/api/v1/me", tr.AccessToken, nil)
	var me identity.MeResponse
	r.Decode(t, &me)
	if r.Status != 200 || me.ID != id.String() || me.TenantID != b.ten.ID.String() ||
		!strings.Contains(strings.Join(me.Permissions, " "), "kyc.review") || strings.Contains(strings.Join(me.Permissions, " "), "settings.manage") {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
	if got := b.actions(t); count(got, identity.ActionLoginSucceeded) != 1 {
		t.Fatalf("audit: %v", got)
	}
}

func TestWrongPasswordAndUnknownEmailAnswerTheSame401(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	_, wrong := b.login(t, "ada@harbour.example", goodPassword+"x")
	_, unknown := b.login(t, "nobody@harbour.example", goodPassword)
	for _, r := range []reply{wrong, unknown} {
		if r.Status != 401 || r.Problem().Type != "/problems/invalid-credentials" {
			t.Fatalf("refused login: %d %s", r.Status, r.Body)
		}
	}
	if got := b.actions(t); count(got, identity.ActionLoginFailed) != 2 {
		t.Fatalf("audit: %v", got)
	}
	_, r := b.login(t, "ada@harbour.example", "")
	if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"password"`) {
		t.Fatalf("missing password: %d %s", r.Status, r.Body)
	}
}

func TestFiveFailuresLockTheAccountEvenForTheRightPassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	for i := 0; i < 5; i++ {
		if _, r := b.login(t, "ada@harbour.example", "Wrong-Password-123"); r.Status != 401 {
			t.Fatalf("failure %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	_, r := b.login(t, "ada@harbour.example", goodPassword)
	if r.Status != 429 || r.Problem().Type != "/problems/account-locked" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("login while locked: %d %v %s", r.Status, r.Header, r.Body)
	}
	got := b.actions(t)
	if count(got, identity.ActionLockedOut) != 1 || count(got, identity.ActionLoginSucceeded) != 0 {
		t.Fatalf("audit: %v", got)
	}
}

// enrol turns TOTP on for the token's user and returns the secret and the recovery codes.
func enrol(t *testing.T, b *bundle, access string) (string, []string) {
	t.Helper()
	r := do(t, b.app, "POST", "/api/v1/auth/staff/2fa/enrol", access, nil)
	var e identity.EnrolResponse
	r.Decode(t, &e)
	if r.Status != 200 || e.Secret == "" || !strings.HasPrefix(e.OTPAuthURI, "otpauth://totp/") {
		t.Fatalf("enrol: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "POST", "/api/v1/auth/staff/2fa/confirm", access, identity.ConfirmRequest{Code: "000000"}); r.Status != 422 {
		// 000000 is right once in a million steps; a failure here is worth a rerun, not a flaky retry.
		t.Fatalf("confirm with a wrong code: %d %s", r.Status, r.Body)
	}
	code, _ := auth.TOTPCode(e.Secret, time.Now())
	r = do(t, b.app, "POST", "/api/v1/auth/staff/2fa/confirm", access, identity.ConfirmRequest{Code: code})
	var rc identity.RecoveryCodesResponse
	r.Decode(t, &rc)
	if r.Status != 200 || len(rc.RecoveryCodes) != auth.RecoveryCodeCount {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	return e.Secret, rc.RecoveryCodes
}

func TestTwoFactorIsRequiredOnceEnrolledAndCodesWorkOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := "ada-" + b.ten.Slug + "@harbour.example"
	b.addStaff(t, email, goodPassword, "admin")
	tr, _ := b.login(t, email, goodPassword)
	secret, recovery := enrol(t, b, tr.AccessToken)

	_, r := b.login(t, email, goodPassword)
	if r.Status != 401 || r.Problem().Type != "/problems/second-factor-required" {
		t.Fatalf("login without a code: %d %s", r.Status, r.Body)
	}
	// The confirmation spent the current step; the next one is within the accepted window.
	code, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	if _, r := b.login(t, email, goodPassword, "totp", code); r.Status != 200 {
		t.Fatalf("login with a code: %d %s", r.Status, r.Body)
	}
	if _, r := b.login(t, email, goodPassword, "totp", code); r.Status != 401 {
		t.Fatalf("replayed code: %d %s", r.Status, r.Body)
	}
	if _, r := b.login(t, email, goodPassword, "recovery", strings.ToUpper(recovery[3])); r.Status != 200 {
		t.Fatalf("login with a recovery code: %d %s", r.Status, r.Body)
	}
	if _, r := b.login(t, email, goodPassword, "recovery", recovery[3]); r.Status != 401 {
		t.Fatalf("recovery code used twice: %d %s", r.Status, r.Body)
	}
	// The owner hears of the recovery code's use.
	if msg := mailTo(t, email); !strings.Contains(msg.Subject, "recovery code") || !strings.Contains(msg.Text, "9 unused codes remain") {
		t.Fatalf("recovery code notice: %q %q", msg.Subject, msg.Text)
	}
	got := b.actions(t)
	if count(got, identity.ActionTOTPEnrolled) != 1 || count(got, identity.ActionRecoveryCodeUsed) != 1 || count(got, identity.ActionLoginSucceeded) != 3 {
		t.Fatalf("audit: %v", got)
	}
}

func TestRequiredTwoFactorGivesOnlyAnEnrolmentToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	b.addStaff(t, "bob@harbour.example", goodPassword, "admin")
	b.addStaff(t, "sara@harbour.example", goodPassword, "sales")
	bob, _ := b.login(t, "bob@harbour.example", goodPassword)
	sara, _ := b.login(t, "sara@harbour.example", goodPassword)
	if r := do(t, b.app, "PUT", "/api/v1/settings/require-staff-2fa", sara.AccessToken, identity.TwoFactorRequirement{Required: true}); r.Status != 403 {
		t.Fatalf("sales changing the requirement: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "PUT", "/api/v1/settings/require-staff-2fa", bob.AccessToken, identity.TwoFactorRequirement{Required: true}); r.Status != 200 {
		t.Fatalf("admin requiring 2FA: %d %s", r.Status, r.Body)
	}
	tr, r := b.login(t, "ada@harbour.example", goodPassword)
	if r.Status != 200 || !tr.EnrolmentRequired || tr.RefreshToken != "" {
		t.Fatalf("login without 2FA on a tenant requiring it: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "GET", "/api/v1/staff", tr.AccessToken, nil); r.Status != 403 {
		t.Fatalf("enrolment token on the staff list: %d %s", r.Status, r.Body)
	}
	secret, _ := enrol(t, b, tr.AccessToken)
	code, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	tr, r = b.login(t, "ada@harbour.example", goodPassword, "totp", code)
	if r.Status != 200 || tr.EnrolmentRequired || tr.RefreshToken == "" {
		t.Fatalf("login after enrolling: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "GET", "/api/v1/staff", tr.AccessToken, nil); r.Status != 200 {
		t.Fatalf("full token on the staff list: %d %s", r.Status, r.Body)
	}
}

func TestRefreshRotatesAndAReusedTokenRevokesTheFamily(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	first, _ := b.login(t, "ada@harbour.example", goodPassword)
	r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: first.RefreshToken})
	var second identity.TokenResponse
	r.Decode(t, &second)
	if r.Status != 200 || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "GET", "/api/v1/me", second.AccessToken, nil); r.Status != 200 {
		t.Fatalf("refreshed access token: %d %s", r.Status, r.Body)
	}
	// The first token again: reuse. Then the (unspent) second one is dead too.
	if r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: first.RefreshToken}); r.Status != 401 {
		t.Fatalf("reused refresh token: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: second.RefreshToken}); r.Status != 401 {
		t.Fatalf("successor after reuse: %d %s", r.Status, r.Body)
	}
	if got := b.actions(t); count(got, identity.ActionRefreshReused) != 1 {
		t.Fatalf("audit: %v", got)
	}
	// A new login starts a fresh family that works.
	third, _ := b.login(t, "ada@harbour.example", goodPassword)
	if r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: third.RefreshToken}); r.Status != 200 {
		t.Fatalf("new family: %d %s", r.Status, r.Body)
	}
}

func TestLogoutRevokesTheFamily(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	tr, _ := b.login(t, "ada@harbour.example", goodPassword)
	if r := do(t, b.app, "POST", "/api/v1/auth/logout", "", identity.RefreshRequest{RefreshToken: tr.RefreshToken}); r.Status != 204 {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: tr.RefreshToken}); r.Status != 401 {
		t.Fatalf("refresh after logout: %d %s", r.Status, r.Body)
	}
	if got := b.actions(t); count(got, identity.ActionLoggedOut) != 1 {
		t.Fatalf("audit: %v", got)
	}
}

// linkToken returns the token at the end of the link to prefix in an email.
func linkToken(t *testing.T, text, prefix string) string {
	t.Helper()
	i := strings.Index(text, prefix)
	if i < 0 {
		t.Fatalf("no link %s in %q", prefix, text)
	}
	return strings.Fields(text[i+len(prefix):])[0]
}

func TestPasswordResetByEmailWorksOnceAndEndsSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := "ada-" + strings.ToLower(b.ten.Slug) + "@harbour.example"
	b.addStaff(t, email, goodPassword, "admin")
	old, _ := b.login(t, email, goodPassword)
	for _, e := range []string{email, "nobody-" + b.ten.Slug + "@harbour.example"} {
		if r := do(t, b.app, "POST", "/api/v1/auth/staff/password-reset", "", identity.ResetRequest{Email: e}); r.Status != 202 {
			t.Fatalf("reset request for %s: %d %s", e, r.Status, r.Body)
		}
	}
	b.deliver(t)
	msg := mailTo(t, email)
	token := linkToken(t, msg.Text, "https://"+b.ten.Slug+".brokerdesk.test/password-reset/")
	r := do(t, b.app, "POST", "/api/v1/auth/staff/password-reset/confirm", "", identity.SetPasswordRequest{Token: token, Password: "short"})
	if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"password"`) || !strings.Contains(string(r.Body), "12 characters") {
		t.Fatalf("weak password: %d %s", r.Status, r.Body)
	}
	const newPassword = "Second-Harbour-Light-88"
	if r := do(t, b.app, "POST", "/api/v1/auth/staff/password-reset/confirm", "", identity.SetPasswordRequest{Token: token, Password: newPassword}); r.Status != 204 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "POST", "/api/v1/auth/staff/password-reset/confirm", "", identity.SetPasswordRequest{Token: token, Password: newPassword + "x"}); r.Status != 400 {
		t.Fatalf("link used twice: %d %s", r.Status, r.Body)
	}
	if _, r := b.login(t, email, goodPassword); r.Status != 401 {
		t.Fatalf("old password after reset: %d", r.Status)
	}
	if _, r := b.login(t, email, newPassword); r.Status != 200 {
		t.Fatalf("new password: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: old.RefreshToken}); r.Status != 401 {
		t.Fatalf("session from before the reset: %d", r.Status)
	}
	got := b.actions(t)
	if count(got, identity.ActionResetRequested) != 1 || count(got, identity.ActionPasswordReset) != 1 {
		t.Fatalf("audit: %v", got)
	}
}

func TestAcceptingTheInvitationSetsThePasswordOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.staff.InviteAdmin(context.Background(), b.ten); err != nil {
		t.Fatal(err)
	}
	msg := mailTo(t, b.ten.AdminEmail)
	token := linkToken(t, msg.Text, "https://"+b.ten.Slug+".brokerdesk.test/invitations/")
	if _, r := b.login(t, b.ten.AdminEmail, goodPassword); r.Status != 401 {
		t.Fatalf("login before accepting: %d", r.Status)
	}
	req := identity.SetPasswordRequest{Token: token, Password: goodPassword}
	if r := do(t, b.app, "POST", "/api/v1/auth/staff/invitations/accept", "", req); r.Status != 204 {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "POST", "/api/v1/auth/staff/invitations/accept", "", req); r.Status != 400 {
		t.Fatalf("accept twice: %d %s", r.Status, r.Body)
	}
	tr, r := b.login(t, b.ten.AdminEmail, goodPassword)
	if r.Status != 200 {
		t.Fatalf("login after accepting: %d %s", r.Status, r.Body)
	}
	r = do(t, b.app, "GET", "/api/v1/staff", tr.AccessToken, nil)
	var list staff.ListResponse
	r.Decode(t, &list)
	if r.Status != 200 || len(list.Staff) != 1 || list.Staff[0].Status != "active" {
		t.Fatalf("staff after accepting: %d %s", r.Status, r.Body)
	}
	if got := b.actions(t); count(got, identity.ActionInvitationAccepted) != 1 {
		t.Fatalf("audit: %v", got)
	}
}

func TestTraderTokensAreForThePortalOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	if _, err := b.svc.CreatePortalUser(context.Background(), b.ten, "Trader@Example.com", goodPassword, nil); err != nil {
		t.Fatal(err)
	}
	r := do(t, b.app, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: "trader@example.com", Password: goodPassword})
	var tr identity.TokenResponse
	r.Decode(t, &tr)
	if r.Status != 200 {
		t.Fatalf("portal login: %d %s", r.Status, r.Body)
	}
	if _, err := b.keys.Verify(tr.AccessToken, auth.Expectation{Audience: auth.AudiencePortal, Issuer: issuer, TenantID: b.ten.ID.String()}); err != nil {
		t.Fatalf("portal token: %v", err)
	}
	for _, path := range []string{"/api/v1/staff", "/api/v1/me"} {
		if r := do(t, b.app, "GET", path, tr.AccessToken, nil); r.Status != 401 {
			t.Fatalf("trader token on %s: %d %s", path, r.Status, r.Body)
		}
	}
	// Refresh tokens keep to their audience too: the staff endpoint refuses a portal one, without revoking it.
	if r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: tr.RefreshToken}); r.Status != 401 {
		t.Fatalf("portal refresh token at the staff endpoint: %d", r.Status)
	}
	if r := do(t, b.app, "POST", "/api/v1/auth/portal/refresh", "", identity.RefreshRequest{RefreshToken: tr.RefreshToken}); r.Status != 200 {
		t.Fatalf("portal refresh: %d %s", r.Status, r.Body)
	}
	// Staff credentials do not open the portal.
	if r := do(t, b.app, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: "ada@harbour.example", Password: goodPassword}); r.Status != 401 {
		t.Fatalf("staff credentials on the portal: %d", r.Status)
	}
}

func TestStaffRoutesKeepToTheirTenantAndPermission(t *testing.T) {
	t.Parallel()
	b := setup(t)
	adaID := b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	b.addStaff(t, "sara@harbour.example", goodPassword, "sales")
	admin, _ := b.login(t, "ada@harbour.example", goodPassword)
	sales, _ := b.login(t, "sara@harbour.example", goodPassword)
	r := do(t, b.app, "GET", "/api/v1/staff/"+adaID.String(), admin.AccessToken, nil)
	var m staff.MemberResponse
	r.Decode(t, &m)
	if r.Status != 200 || m.Email != "ada@harbour.example" {
		t.Fatalf("own tenant's staff user: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "GET", "/api/v1/staff/"+adaID.String(), sales.AccessToken, nil); r.Status != 403 || r.Problem().Type != "/problems/forbidden" {
		t.Fatalf("sales reading staff: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "GET", "/api/v1/staff/not-a-uuid", admin.AccessToken, nil); r.Status != 404 {
		t.Fatalf("malformed id: %d", r.Status)
	}
	// Tenant B's admin, on B's host, asking for A's id: 404. On A's host, B's token: 401.
	other := setupOn(t, b)
	if r := do(t, other.app, "GET", "/api/v1/staff/"+adaID.String(), other.admin, nil); r.Status != 404 || strings.Contains(string(r.Body), "ada@") {
		t.Fatalf("another tenant's id: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "GET", "/api/v1/staff/"+adaID.String(), other.admin, nil); r.Status != 401 {
		t.Fatalf("another tenant's token: %d %s", r.Status, r.Body)
	}
	// No token, a garbage token, a token of another issuer.
	foreign, _, err := b.keys.Issue(auth.Claims{Issuer: "https://evil.example", Audience: auth.AudienceBackoffice, Subject: adaID.String(),
		TenantID: b.ten.ID.String(), Roles: []string{"admin"}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"", "garbage", foreign} {
		if r := do(t, b.app, "GET", "/api/v1/staff", tok, nil); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("token %.10q: %d %s", tok, r.Status, r.Body)
		}
	}
}

// otherTenant is a second tenant served with the same keys, and its admin's access token.
type otherTenant struct {
	app   *fiber.App
	admin string
}

func setupOn(t *testing.T, b *bundle) otherTenant {
	t.Helper()
	o := *b
	o.ten = b.p.NewTenant(t, "")
	o.app = b.appFor(o.ten)
	o.addStaff(t, "bob@other.example", goodPassword, "admin")
	tr, r := o.login(t, "bob@other.example", goodPassword)
	if r.Status != 200 {
		t.Fatalf("other tenant's login: %d %s", r.Status, r.Body)
	}
	return otherTenant{app: o.app, admin: tr.AccessToken}
}

func TestTradersCanTurnOnTwoFactorAndThenNeedIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	staffTok, _ := b.login(t, "ada@harbour.example", goodPassword)
	if _, err := b.svc.CreatePortalUser(context.Background(), b.ten, "trader@example.com", goodPassword, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.CreatePortalUser(context.Background(), b.ten, "TRADER@example.com", goodPassword, nil); !errors.Is(err, identity.ErrEmailTaken) {
		t.Fatalf("second login for the same email: %v", err)
	}
	login := func(code string) reply {
		return do(t, b.app, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: "trader@example.com", Password: goodPassword, TOTPCode: code})
	}
	r := login("")
	var tr identity.TokenResponse
	r.Decode(t, &tr)
	if r := do(t, b.app, "POST", "/api/v1/auth/portal/2fa/enrol", staffTok.AccessToken, nil); r.Status != 401 {
		t.Fatalf("staff token on the portal's enrolment: %d %s", r.Status, r.Body)
	}
	r = do(t, b.app, "POST", "/api/v1/auth/portal/2fa/enrol", tr.AccessToken, nil)
	var e identity.EnrolResponse
	r.Decode(t, &e)
	code, _ := auth.TOTPCode(e.Secret, time.Now())
	if r := do(t, b.app, "POST", "/api/v1/auth/portal/2fa/confirm", tr.AccessToken, identity.ConfirmRequest{Code: code}); r.Status != 200 {
		t.Fatalf("portal confirm: %d %s", r.Status, r.Body)
	}
	if r := login(""); r.Status != 401 || r.Problem().Type != "/problems/second-factor-required" {
		t.Fatalf("portal login without a code: %d %s", r.Status, r.Body)
	}
	next, _ := auth.TOTPCode(e.Secret, time.Now().Add(auth.TOTPPeriod))
	if r := login(next); r.Status != 200 {
		t.Fatalf("portal login with a code: %d %s", r.Status, r.Body)
	}
}

// Logs say what happened, never with what: no password, token, code or link appears in them, at debug level.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := "ada-" + b.ten.Slug + "@harbour.example"
	b.addStaff(t, email, goodPassword, "admin")
	tr, _ := b.login(t, email, goodPassword)
	b.login(t, email, "Wrong-Password-123")
	r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: tr.RefreshToken})
	var next identity.TokenResponse
	r.Decode(t, &next)
	do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: tr.RefreshToken}) // reuse
	do(t, b.app, "GET", "/api/v1/staff", tr.AccessToken[:len(tr.AccessToken)-2]+"xx", nil)                   // bad signature
	secret, recovery := enrol(t, b, next.AccessToken)
	code, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	b.login(t, email, goodPassword, "totp", code)
	do(t, b.app, "POST", "/api/v1/auth/staff/password-reset", "", identity.ResetRequest{Email: email})
	b.deliver(t)
	token := linkToken(t, mailTo(t, email).Text, "/password-reset/")
	do(t, b.app, "POST", "/api/v1/auth/staff/password-reset/confirm", "", identity.SetPasswordRequest{Token: token, Password: "Third-Harbour-Light-99"})

	logs := b.logs.String()
	if !strings.Contains(logs, "login refused") || !strings.Contains(logs, "refresh refused") {
		t.Fatalf("the flows were not logged at all:\n%s", logs)
	}
	secrets := map[string]string{"password": goodPassword, "new password": "Third-Harbour-Light-99", "access token": tr.AccessToken[:40],
		"refresh token": tr.RefreshToken, "next refresh token": next.RefreshToken, "TOTP secret": secret, "TOTP code": code,
		"recovery code": recovery[0], "reset token": token}
	for name, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold the %s", name)
		}
	}
}

// An access token is remembered once verified (verified.go), but only until it expires.
func TestARememberedAccessTokenStillExpires(t *testing.T) {
	t.Parallel()
	clock := tenanttest.NewClock(time.Now())
	b := setupWith(t, cheap, clock.Now)
	b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	tr, _ := b.login(t, "ada@harbour.example", goodPassword)
	for i := 0; i < 2; i++ {
		if r := do(t, b.app, "GET", "/api/v1/staff", tr.AccessToken, nil); r.Status != 200 {
			t.Fatalf("fresh token, request %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	// One verified for this tenant is not thereby known to another one's host.
	other := b.p.NewTenant(t, "")
	if r := do(t, b.appFor(other), "GET", "/api/v1/staff", tr.AccessToken, nil); r.Status != 401 {
		t.Fatalf("token on another tenant's host: %d %s", r.Status, r.Body)
	}
	clock.Add(identity.AccessTTL + auth.Leeway + time.Second)
	if r := do(t, b.app, "GET", "/api/v1/staff", tr.AccessToken, nil); r.Status != 401 {
		t.Fatalf("expired token: %d %s", r.Status, r.Body)
	}
}

// Two refreshes of one token at once: one wins, the other is reuse, and the family (with the winner's successor)
// is revoked, as docs/security.md says clients must expect.
func TestConcurrentRefreshesOfOneTokenRevokeTheFamily(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	tr, _ := b.login(t, "ada@harbour.example", goodPassword)
	results := make([]reply, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: tr.RefreshToken})
		}()
	}
	wg.Wait()
	var won *identity.TokenResponse
	for _, r := range results {
		if r.Status == 200 {
			if won != nil {
				t.Fatal("both concurrent refreshes succeeded")
			}
			won = &identity.TokenResponse{}
			r.Decode(t, won)
		} else if r.Status != 401 {
			t.Fatalf("concurrent refresh: %d %s", r.Status, r.Body)
		}
	}
	if won == nil {
		t.Fatal("neither concurrent refresh succeeded")
	}
	if r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: won.RefreshToken}); r.Status != 401 {
		t.Fatalf("the winner's successor after the reuse: %d %s", r.Status, r.Body)
	}
}

// An admin invites a colleague; the invitation email leads to a password and a login with the roles given.
func TestAnAdminInvitesStaffWhoThenSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	adaID := b.addStaff(t, "ada@harbour.example", goodPassword, "admin")
	b.addStaff(t, "sara@harbour.example", goodPassword, "sales")
	admin, _ := b.login(t, "ada@harbour.example", goodPassword)
	sales, _ := b.login(t, "sara@harbour.example", goodPassword)
	email := "colin-" + b.ten.Slug + "@harbour.example"
	invite := staff.InviteRequest{Email: strings.ToUpper(email), FullName: "Colin Compliance", Roles: []string{"compliance", "readonly"}}
	if r := doKey(t, b.app, "POST", "/api/v1/staff", sales.AccessToken, "k-sales", invite); r.Status != 403 {
		t.Fatalf("sales inviting: %d %s", r.Status, r.Body)
	}
	bad := staff.InviteRequest{Email: "not an email", Roles: []string{"wizard"}}
	r := doKey(t, b.app, "POST", "/api/v1/staff", admin.AccessToken, "k-bad", bad)
	if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"email"`) || !strings.Contains(string(r.Body), `"field":"full_name"`) || !strings.Contains(string(r.Body), "wizard") {
		t.Fatalf("invalid invitation: %d %s", r.Status, r.Body)
	}
	r = doKey(t, b.app, "POST", "/api/v1/staff", admin.AccessToken, "k-1", invite)
	var m staff.MemberResponse
	r.Decode(t, &m)
	if r.Status != 201 || m.Email != email || m.Status != "invited" || strings.Join(m.Roles, ",") != "compliance,readonly" {
		t.Fatalf("invite: %d %s", r.Status, r.Body)
	}
	if r := doKey(t, b.app, "POST", "/api/v1/staff", admin.AccessToken, "k-2", invite); r.Status != 409 {
		t.Fatalf("second invitation for the same email: %d %s", r.Status, r.Body)
	}
	token := linkToken(t, mailTo(t, email).Text, "https://"+b.ten.Slug+".brokerdesk.test/invitations/")
	if r := do(t, b.app, "POST", "/api/v1/auth/staff/invitations/accept", "", identity.SetPasswordRequest{Token: token, Password: goodPassword}); r.Status != 204 {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	tr, r := b.login(t, email, goodPassword)
	if r.Status != 200 {
		t.Fatalf("login of the invited user: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "GET", "/api/v1/staff/"+m.ID, tr.AccessToken, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"status":"active"`) {
		t.Fatalf("the invited user reading themself: %d %s", r.Status, r.Body)
	}
	page, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: staff.ActionInvited}, "", 10)
	if err != nil || len(page.Rows) != 1 || page.Rows[0].Actor != (audit.Actor{Kind: audit.ActorStaff, ID: adaID.String()}) {
		t.Fatalf("invitation audit: %+v %v", page.Rows, err)
	}
}
