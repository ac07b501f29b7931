package identity_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// twoFactorState is what a user's row and the tenant's tables hold of their second factor and sessions.
type twoFactorState struct {
	secret, enabled bool
	recoveryCodes   int
	liveRefresh     int
}

func (b *bundle) twoFactorState(t *testing.T, table, key, kind string, id uuid.UUID) twoFactorState {
	t.Helper()
	var s twoFactorState
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT totp_secret IS NOT NULL, totp_enabled_at IS NOT NULL FROM `+table+` WHERE `+key+` = $1`, id).
			Scan(&s.secret, &s.enabled); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_kind = $1 AND user_id = $2`, kind, id).Scan(&s.recoveryCodes); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE user_kind = $1 AND user_id = $2 AND revoked_at IS NULL`, kind, id).Scan(&s.liveRefresh)
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// resetRows returns the tenant's identity.2fa_reset audit rows, oldest first.
func (b *bundle) resetRows(t *testing.T) []audit.Row {
	t.Helper()
	page, err := b.audit.List(context.Background(), b.ten, audit.Filter{ActionPrefix: identity.ActionTwoFactorReset}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	rows := page.Rows
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

func TestAdminResetOfStaffTwoFactorClearsSecretAndCodesEndsSessionsAndIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := "ada-" + b.ten.Slug + "@harbour.example"
	adaID := b.addStaff(t, email, goodPassword, "sales")
	bobID := b.addStaff(t, "bob@harbour.example", goodPassword, "admin")
	ada, _ := b.login(t, email, goodPassword)
	secret, _ := enrol(t, b, ada.AccessToken)
	code, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	session, r := b.login(t, email, goodPassword, "totp", code) // the session that must end
	if r.Status != 200 {
		t.Fatalf("login with a code: %d %s", r.Status, r.Body)
	}
	if s := b.twoFactorState(t, "staff_credentials", "staff_user_id", "staff", adaID); !s.secret || !s.enabled || s.recoveryCodes != auth.RecoveryCodeCount || s.liveRefresh < 2 {
		t.Fatalf("before the reset: %+v", s)
	}
	bob, _ := b.login(t, "bob@harbour.example", goodPassword)
	path := "/api/v1/staff/" + adaID.String() + "/2fa/reset"
	if r := do(t, b.app, "POST", path, bob.AccessToken, nil); r.Status != 400 {
		t.Fatalf("reset without an Idempotency-Key: %d %s", r.Status, r.Body)
	}
	key := uuid.NewString()
	r = doKey(t, b.app, "POST", path, bob.AccessToken, key, nil)
	var out identity.TwoFactorResetResponse
	r.Decode(t, &out)
	if r.Status != 200 || out.LoginsReset != 1 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	// A retry with the same key replays the answer; nothing is done or audited twice.
	if r := doKey(t, b.app, "POST", path, bob.AccessToken, key, nil); r.Status != 200 || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %v %s", r.Status, r.Header, r.Body)
	}
	if s := b.twoFactorState(t, "staff_credentials", "staff_user_id", "staff", adaID); s != (twoFactorState{}) {
		t.Fatalf("after the reset: %+v, want no secret, no codes, no live refresh token", s)
	}
	// The old session ends at its next refresh.
	if r := do(t, b.app, "POST", "/api/v1/auth/refresh", "", identity.RefreshRequest{RefreshToken: session.RefreshToken}); r.Status != 401 {
		t.Fatalf("refresh with a token from before the reset: %d %s", r.Status, r.Body)
	}
	// The password alone signs in now (the tenant does not require 2FA), and enrolling works again.
	again, r := b.login(t, email, goodPassword)
	if r.Status != 200 || again.RefreshToken == "" || again.EnrolmentRequired {
		t.Fatalf("login after the reset: %d %s", r.Status, r.Body)
	}
	enrol(t, b, again.AccessToken)

	rows := b.resetRows(t)
	if len(rows) != 1 {
		t.Fatalf("audit: %d %s rows, want 1", len(rows), identity.ActionTwoFactorReset)
	}
	row := rows[0]
	if row.Actor != (audit.Actor{Kind: audit.ActorStaff, ID: bobID.String()}) || row.Target != (audit.Target{Type: "staff_user", ID: adaID.String()}) {
		t.Fatalf("audit row: actor %+v, target %+v", row.Actor, row.Target)
	}
	diff := string(row.Diff)
	for _, want := range []string{`"/two_factor":{"after":false,"before":true}`, `"/backup_codes_deleted":{"after":10}`, `"/sessions_ended":{"after":`} {
		if !strings.Contains(diff, want) {
			t.Errorf("audit diff %s lacks %s", diff, want)
		}
	}
	if strings.Contains(diff, secret) || strings.Contains(diff, "redacted") {
		t.Fatalf("audit diff: %s", diff)
	}
	if strings.Contains(b.logs.String(), secret) {
		t.Fatal("the TOTP secret is in the logs")
	}
}

func TestStaffTwoFactorResetIsForStaffManagersOfTheSameTenantOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	adaID := b.addStaff(t, "ada@harbour.example", goodPassword, "sales")
	bobID := b.addStaff(t, "bob@harbour.example", goodPassword, "admin")
	b.addStaff(t, "cleo@harbour.example", goodPassword, "compliance", "readonly")
	bob, _ := b.login(t, "bob@harbour.example", goodPassword)
	cleo, _ := b.login(t, "cleo@harbour.example", goodPassword)
	reset := func(app *fiber.App, token, id string) reply {
		t.Helper()
		return doKey(t, app, "POST", "/api/v1/staff/"+id+"/2fa/reset", token, uuid.NewString(), nil)
	}
	// Without staff.manage (compliance and readonly read staff, but do not manage them): 403.
	if r := reset(b.app, cleo.AccessToken, adaID.String()); r.Status != 403 || r.Problem().Type != "/problems/forbidden" {
		t.Fatalf("compliance resetting: %d %s", r.Status, r.Body)
	}
	// Another tenant's admin, on its own host, with this tenant's id: 404, nothing said about the user.
	other := setupOn(t, b)
	if r := reset(other.app, other.admin, adaID.String()); r.Status != 404 || strings.Contains(string(r.Body), "ada@") {
		t.Fatalf("another tenant's admin: %d %s", r.Status, r.Body)
	}
	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		if r := reset(b.app, bob.AccessToken, id); r.Status != 404 {
			t.Fatalf("unknown id %s: %d %s", id, r.Status, r.Body)
		}
	}
	// One's own second factor is reset by another admin, not with one's session alone.
	if r := reset(b.app, bob.AccessToken, bobID.String()); r.Status != 403 || r.Problem().Type != "/problems/own-2fa" {
		t.Fatalf("own reset: %d %s", r.Status, r.Body)
	}
	if err := b.svc.ResetTwoFactor(context.Background(), b.ten, identity.Staff, bobID, audit.Actor{Kind: audit.ActorStaff, ID: bobID.String()}); !errors.Is(err, identity.ErrOwnTwoFactor) {
		t.Fatalf("own reset through the service: %v", err)
	}
	if rows := b.resetRows(t); len(rows) != 0 {
		t.Fatalf("refused resets were audited: %d rows", len(rows))
	}
}

func TestAfterAResetARequiredSecondFactorSendsTheStaffUserToEnrolment(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := "ada-" + b.ten.Slug + "@harbour.example"
	adaID := b.addStaff(t, email, goodPassword, "sales")
	b.addStaff(t, "bob@harbour.example", goodPassword, "admin")
	bob, _ := b.login(t, "bob@harbour.example", goodPassword)
	ada, _ := b.login(t, email, goodPassword)
	enrol(t, b, ada.AccessToken)
	if r := do(t, b.app, "PUT", "/api/v1/settings/require-staff-2fa", bob.AccessToken, identity.TwoFactorRequirement{Required: true}); r.Status != 200 {
		t.Fatalf("requiring 2FA: %d %s", r.Status, r.Body)
	}
	if r := doKey(t, b.app, "POST", "/api/v1/staff/"+adaID.String()+"/2fa/reset", bob.AccessToken, uuid.NewString(), nil); r.Status != 200 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	tr, r := b.login(t, email, goodPassword)
	if r.Status != 200 || !tr.EnrolmentRequired || tr.RefreshToken != "" {
		t.Fatalf("login after the reset on a tenant requiring 2FA: %d %s", r.Status, r.Body)
	}
	if r := do(t, b.app, "GET", "/api/v1/me", tr.AccessToken, nil); r.Status != 403 {
		t.Fatalf("enrolment-only token on /me: %d %s", r.Status, r.Body)
	}
	secret, _ := enrol(t, b, tr.AccessToken)
	code, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	if tr, r := b.login(t, email, goodPassword, "totp", code); r.Status != 200 || tr.EnrolmentRequired || tr.RefreshToken == "" {
		t.Fatalf("login after enrolling again: %d %s", r.Status, r.Body)
	}
}

// addClientWithLogin inserts a client and its portal login (as registration does) and returns both ids.
func (b *bundle) addClientWithLogin(t *testing.T, email string) (client, login uuid.UUID) {
	t.Helper()
	client = uuid.New()
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status)
			VALUES ($1, $2, 'Tess', 'Trader', 'DE', 'registered')`, client, email); err != nil {
			return err
		}
		var err error
		login, err = b.svc.CreatePortalUserTx(ctx, tx, email, goodPassword, client)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return client, login
}

func TestClientTwoFactorResetTurnsThePortalLoginsSecondFactorOffAndEndsItsSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bobID := b.addStaff(t, "bob@harbour.example", goodPassword, "compliance")
	b.addStaff(t, "sara@harbour.example", goodPassword, "sales")
	bob, _ := b.login(t, "bob@harbour.example", goodPassword)
	sara, _ := b.login(t, "sara@harbour.example", goodPassword)
	email := "tess-" + b.ten.Slug + "@example.com"
	clientID, loginID := b.addClientWithLogin(t, email)
	portalLogin := func(code string) reply {
		return do(t, b.app, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: email, Password: goodPassword, TOTPCode: code})
	}
	var tr identity.TokenResponse
	portalLogin("").Decode(t, &tr)
	r := do(t, b.app, "POST", "/api/v1/auth/portal/2fa/enrol", tr.AccessToken, nil)
	var e identity.EnrolResponse
	r.Decode(t, &e)
	code, _ := auth.TOTPCode(e.Secret, time.Now())
	if r := do(t, b.app, "POST", "/api/v1/auth/portal/2fa/confirm", tr.AccessToken, identity.ConfirmRequest{Code: code}); r.Status != 200 {
		t.Fatalf("portal confirm: %d %s", r.Status, r.Body)
	}
	if r := portalLogin(""); r.Status != 401 || r.Problem().Type != "/problems/second-factor-required" {
		t.Fatalf("portal login without a code before the reset: %d %s", r.Status, r.Body)
	}

	path := "/api/v1/clients/" + clientID.String() + "/2fa/reset"
	if r := doKey(t, b.app, "POST", path, sara.AccessToken, uuid.NewString(), nil); r.Status != 403 {
		t.Fatalf("sales resetting a client's 2FA: %d %s", r.Status, r.Body)
	}
	r = doKey(t, b.app, "POST", path, bob.AccessToken, uuid.NewString(), nil)
	var out identity.TwoFactorResetResponse
	r.Decode(t, &out)
	if r.Status != 200 || out.LoginsReset != 1 {
		t.Fatalf("compliance resetting a client's 2FA: %d %s", r.Status, r.Body)
	}
	if s := b.twoFactorState(t, "portal_users", "id", "portal", loginID); s != (twoFactorState{}) {
		t.Fatalf("after the reset: %+v", s)
	}
	if r := do(t, b.app, "POST", "/api/v1/auth/portal/refresh", "", identity.RefreshRequest{RefreshToken: tr.RefreshToken}); r.Status != 401 {
		t.Fatalf("portal refresh from before the reset: %d %s", r.Status, r.Body)
	}
	if r := portalLogin(""); r.Status != 200 {
		t.Fatalf("portal login with the password alone after the reset: %d %s", r.Status, r.Body)
	}
	rows := b.resetRows(t)
	if len(rows) != 1 || rows[0].Actor.ID != bobID.String() || rows[0].Target != (audit.Target{Type: "portal_user", ID: loginID.String()}) ||
		!strings.Contains(string(rows[0].Diff), clientID.String()) || strings.Contains(string(rows[0].Diff), e.Secret) {
		t.Fatalf("audit: %+v", rows)
	}

	// A client without a portal login, an unknown client, another tenant's client: 404.
	bare := uuid.New()
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status)
			VALUES ($1, 'bare@example.com', 'Bare', 'Client', 'DE', 'registered')`, bare)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{bare.String(), uuid.NewString(), "not-a-uuid"} {
		if r := doKey(t, b.app, "POST", "/api/v1/clients/"+id+"/2fa/reset", bob.AccessToken, uuid.NewString(), nil); r.Status != 404 {
			t.Fatalf("client %s: %d %s", id, r.Status, r.Body)
		}
	}
	other := setupOn(t, b)
	if r := doKey(t, other.app, "POST", path, other.admin, uuid.NewString(), nil); r.Status != 404 || strings.Contains(string(r.Body), "tess") {
		t.Fatalf("another tenant's admin: %d %s", r.Status, r.Body)
	}
	// The service names a missing portal user too.
	if err := b.svc.ResetTwoFactor(context.Background(), b.ten, identity.Portal, uuid.New(), audit.System("test")); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("unknown portal user: %v", err)
	}
}

func TestUsersAreEmailedWhenAnAdminResetsTheirTwoFactorUnlessTheLoginIsDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := "ada-" + b.ten.Slug + "@harbour.example"
	cleo := "cleo-" + b.ten.Slug + "@harbour.example"
	trader := "trader-" + b.ten.Slug + "@harbour.example"
	adaID := b.addStaff(t, ada, goodPassword, "sales")
	cleoID := b.addStaff(t, cleo, goodPassword, "sales")
	b.addStaff(t, "bob@harbour.example", goodPassword, "admin")
	clientID, _ := b.addClientWithLogin(t, trader)
	bob, _ := b.login(t, "bob@harbour.example", goodPassword)
	for _, path := range []string{"/api/v1/staff/" + adaID.String() + "/2fa/reset", "/api/v1/clients/" + clientID.String() + "/2fa/reset",
		"/api/v1/staff/" + cleoID.String() + "/2fa/reset"} {
		if r := doKey(t, b.app, "POST", path, bob.AccessToken, uuid.NewString(), nil); r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	// Cleo is disabled after her reset and before the worker gets to the notice: she gets nothing.
	b.exec(t, `UPDATE staff_users SET status = 'disabled' WHERE id = $1`, cleoID)
	if tasks := b.countRows(t, `SELECT count(*) FROM outbox WHERE task_type = '`+identity.TaskTwoFactorResetNotice+`'`); tasks != 3 {
		t.Fatalf("%d notice tasks in the outbox, want 3 (one per reset, in its transaction)", tasks)
	}
	b.deliver(t)
	for to, page := range map[string]string{ada: "/backoffice/2fa", trader: "/portal/2fa"} {
		m := mailTo(t, to)
		if !strings.Contains(m.Subject, "Two-factor sign-in was turned off") || !strings.Contains(m.Text, page) ||
			!strings.Contains(m.Text, "If you did not ask for this") {
			t.Errorf("notice to %s: %q\n%s", to, m.Subject, m.Text)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.logs.String(), "nothing sent") {
		if time.Now().After(deadline) {
			t.Fatalf("the disabled user's notice was not handled:\n%s", b.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if msgs, err := localsvc.MailpitMessages(context.Background(), os.Getenv("BD_MAILPIT_URL"), cleo); err != nil || len(msgs) != 0 {
		t.Fatalf("a disabled login was emailed: %d (%v)", len(msgs), err)
	}
}
