package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// enrolStaff turns TOTP on for a demo staff user through the service and returns the user.
func enrolStaff(t *testing.T, a *app, ten tenants.Tenant, role string) staff.Member {
	t.Helper()
	ctx := context.Background()
	var m staff.Member
	err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		m, err = staff.ByEmail(ctx, tx, demoEmail(ten, role))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := a.identity.EnrolTOTP(ctx, ten, identity.Staff, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := auth.TOTPCode(e.Secret, time.Now())
	if _, err := a.identity.ConfirmTOTP(ctx, ten, identity.Staff, m.ID, code); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStaffPageResetsAUsersTwoFactorForStaffManagersAndTheNextSignInEnrols(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ctx := context.Background()
	ten, admin := demoTenant(t, a)
	support := enrolStaff(t, a, ten, "support")
	form := `action="/backoffice/staff/` + support.ID.String() + `/2fa/reset"`

	// readonly sees the staff list, with 2FA shown, but no button, and the form target refuses it.
	ro := newPageClient(t, base, ten)
	ro.login("/backoffice", demoEmail(ten, "readonly"), identity.DemoPassword)
	page := ro.get("/backoffice/staff")
	if page.status != http.StatusOK || strings.Contains(page.body, "/2fa/reset") || !strings.Contains(page.body, support.Email) {
		t.Fatalf("readonly's staff page: %d %.800s", page.status, page.body)
	}
	if r := ro.do(http.MethodPost, "/backoffice/staff/"+support.ID.String()+"/2fa/reset", url.Values{"csrf": {csrfOf(t, page.body)}}); r.status != http.StatusForbidden {
		t.Fatalf("readonly posting a reset: %d %.300s", r.status, r.body)
	}

	// The admin sees one button: the support user's. The admin has 2FA on too (enrolled after signing in), but
	// their own row offers none: another admin resets it.
	c := newPageClient(t, base, ten)
	c.login("/backoffice", admin.Email, identity.DemoPassword)
	enrolStaff(t, a, ten, "admin")
	page = c.get("/backoffice/staff")
	if page.status != http.StatusOK || strings.Count(page.body, "/2fa/reset") != 1 || !strings.Contains(page.body, form) ||
		!strings.Contains(page.body, "Reset two-factor sign-in") {
		t.Fatalf("admin's staff page: %d %.2000s", page.status, page.body)
	}
	csrf := csrfOf(t, page.body)
	if r := c.do(http.MethodPost, "/backoffice/staff/"+support.ID.String()+"/2fa/reset", url.Values{}); r.status != http.StatusForbidden {
		t.Fatalf("reset without csrf: %d", r.status)
	}
	if r := c.do(http.MethodPost, "/backoffice/staff/"+admin.ID.String()+"/2fa/reset", url.Values{"csrf": {csrf}}); r.status != http.StatusForbidden {
		t.Fatalf("own reset: %d %.300s", r.status, r.body)
	}
	r := c.do(http.MethodPost, "/backoffice/staff/"+support.ID.String()+"/2fa/reset", url.Values{"csrf": {csrf}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/backoffice/staff?notice=2fa-reset" {
		t.Fatalf("reset: %d %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	page = c.get(r.header.Get("Location"))
	if page.status != http.StatusOK || !strings.Contains(page.body, "Two-factor sign-in is reset") || strings.Contains(page.body, form) {
		t.Fatalf("staff page after the reset: %d %.2000s", page.status, page.body)
	}
	if on, err := a.identity.TOTPEnabled(ctx, ten, identity.Staff, support.ID); err != nil || on {
		t.Fatalf("support's 2FA after the reset: %v %v", on, err)
	}

	// Another brokerage's admin, on its own host, posting this tenant's id: 404.
	tenB, adminB := demoTenant(t, a)
	cb := newPageClient(t, base, tenB)
	cb.login("/backoffice", adminB.Email, identity.DemoPassword)
	pageB := cb.get("/backoffice/staff")
	if r := cb.do(http.MethodPost, "/backoffice/staff/"+support.ID.String()+"/2fa/reset", url.Values{"csrf": {csrfOf(t, pageB.body)}}); r.status != http.StatusNotFound ||
		strings.Contains(r.body, support.Email) {
		t.Fatalf("another tenant's admin: %d %.300s", r.status, r.body)
	}

	// With 2FA required, the support user's next sign-in (password alone) goes to enrolment.
	if err := a.identity.SetRequireStaff2FA(ctx, ten, audit.System("test"), true); err != nil {
		t.Fatal(err)
	}
	s := newPageClient(t, base, ten)
	r = s.do(http.MethodPost, "/backoffice/login", url.Values{"csrf": {csrfOf(t, s.get("/backoffice/login").body)},
		"email": {support.Email}, "password": {identity.DemoPassword}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/backoffice/2fa" {
		t.Fatalf("sign-in after the reset: %d %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	if r := s.get("/backoffice/2fa"); r.status != http.StatusOK || !strings.Contains(r.body, "/backoffice/2fa/enrol") {
		t.Fatalf("enrolment page: %d %.600s", r.status, r.body)
	}
}
