package operators_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/logging/logtest"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/operators"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres) }

const password = "correct horse battery staple"

type bundle struct {
	svc    *operators.Service
	keys   *auth.KeyRing
	clock  *tenanttest.Clock
	p      *tenanttest.Platform
	hasher *auth.Hasher
	sealer *auth.Sealer
	// dataKeys is the BD_DATA_KEYS spec of sealer (for a rotation test's second ring).
	dataKeys string
	logs     *logtest.Buffer
}

func setup(t *testing.T) bundle {
	t.Helper()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	k, err := auth.GenerateKey("t1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := auth.NewKeyRing(k)
	if err != nil {
		t.Fatal(err)
	}
	// Cheap hashes: the tests are about the flows, not argon2's cost.
	h, err := auth.NewHasher(auth.Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	c := tenanttest.NewClock(time.Now())
	logs := &logtest.Buffer{}
	dataKeys := "d1:" + base64.StdEncoding.EncodeToString(randomKey(t))
	sealer, err := auth.ParseSealer(dataKeys)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := operators.NewService(p.Clusters.Platform(), operators.Options{Keys: ring, Hasher: h, Sealer: sealer, Audit: audit.NewPlatform(p.Clusters.Platform()), Issuer: "https://brokerdesk.test", Now: c.Now,
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{svc: svc, keys: ring, clock: c, p: p, logs: logs, hasher: h, sealer: sealer, dataKeys: dataKeys}
}

func (b bundle) create(t *testing.T, email string) operators.Operator {
	t.Helper()
	op, err := b.svc.Create(context.Background(), email, "Olga Operator", password)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func TestCreateAppliesPasswordPolicyAndRefusesATakenEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var pe *auth.PasswordError
	if _, err := b.svc.Create(ctx, "ops@brokerdesk.test", "Olga", "Passw0rd2024!"); !errors.As(err, &pe) {
		t.Fatalf("a blocklisted password was accepted: %v", err)
	}
	op := b.create(t, "Ops@BrokerDesk.test")
	if op.Email != "ops@brokerdesk.test" || len(op.Roles) != 1 || op.Roles[0] != operators.RoleOperator {
		t.Fatalf("created %+v", op)
	}
	if _, err := b.svc.Create(ctx, "ops@brokerdesk.test", "Other", password); !errors.Is(err, operators.ErrEmailTaken) {
		t.Fatalf("second operator with the same email: %v", err)
	}
}

func TestLoginIssuesConsoleTokenWithoutTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	op := b.create(t, "ops@brokerdesk.test")
	sess, err := b.svc.Login(context.Background(), operators.Credentials{Email: "OPS@brokerdesk.test", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := b.svc.Verify(sess.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Audience != auth.AudienceConsole || cl.TenantID != "" || cl.Subject != op.ID.String() || cl.ExpiresAt.Sub(cl.IssuedAt) != operators.AccessTTL {
		t.Fatalf("claims %+v", cl)
	}
	// The same token is useless wherever a tenant is expected.
	if _, err := b.keys.Verify(sess.AccessToken, auth.Expectation{Audience: auth.AudienceBackoffice, Issuer: "https://brokerdesk.test", TenantID: "a-tenant"}); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("console token accepted for a tenant: %v", err)
	}
	if _, err := b.svc.Login(context.Background(), operators.Credentials{Email: "nobody@brokerdesk.test", Password: password}); !errors.Is(err, operators.ErrBadCredentials) {
		t.Fatalf("unknown email: %v", err)
	}
}

func TestTenantTokenIsRefusedByTheConsole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, aud := range []auth.Audience{auth.AudienceBackoffice, auth.AudiencePortal, auth.AudienceAPI, auth.AudienceConsole} {
		c := auth.Claims{Issuer: "https://brokerdesk.test", Audience: aud, Subject: "u1", TenantID: "7d3c7e0e-0000-4000-8000-000000000001", Roles: []string{"admin"}}
		if aud == auth.AudienceAPI {
			c.Roles, c.Scope = nil, []string{"clients.read"}
		}
		tok, _, err := b.keys.Issue(c, 0)
		if aud == auth.AudienceConsole && err != nil {
			continue // the ring will not even sign a console token with a tenant
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.Verify(tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("a %s token with a tenant was accepted by the console: %v", aud, err)
		}
	}
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.create(t, "ops@brokerdesk.test")
	first, err := b.svc.Login(ctx, operators.Credentials{Email: "ops@brokerdesk.test", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.svc.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.FamilyID != first.FamilyID {
		t.Fatalf("rotation: %q -> %q, family %q -> %q", first.RefreshToken, second.RefreshToken, first.FamilyID, second.FamilyID)
	}
	if _, err := b.svc.Verify(second.AccessToken); err != nil {
		t.Fatalf("refreshed access token: %v", err)
	}
	// The spent first token comes back: refused, and the family (with the live second token) is revoked.
	if _, err := b.svc.Refresh(ctx, first.RefreshToken); !errors.Is(err, operators.ErrInvalidRefresh) || !errors.Is(err, auth.ErrRefreshReused) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := b.svc.Refresh(ctx, second.RefreshToken); !errors.Is(err, auth.ErrRefreshRevoked) {
		t.Fatalf("live token of a revoked family: %v", err)
	}
	if _, err := b.svc.Refresh(ctx, "not-a-token"); !errors.Is(err, auth.ErrRefreshUnknown) {
		t.Fatalf("unknown token: %v", err)
	}
	if logs := b.logs.String(); !strings.Contains(logs, "refresh token reused") || strings.Contains(logs, first.RefreshToken) {
		t.Fatalf("reuse not logged, or the token was: %s", logs)
	}
}

func TestLogoutRevokesTheSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.create(t, "ops@brokerdesk.test")
	sess, err := b.svc.Login(ctx, operators.Credentials{Email: "ops@brokerdesk.test", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.svc.Login(ctx, operators.Credentials{Email: "ops@brokerdesk.test", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.svc.Logout(ctx, sess.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Refresh(ctx, sess.RefreshToken); !errors.Is(err, auth.ErrRefreshRevoked) {
		t.Fatalf("refresh after logout: %v", err)
	}
	if _, err := b.svc.Refresh(ctx, other.RefreshToken); err != nil {
		t.Fatalf("another session was logged out too: %v", err)
	}
}

func TestFiveFailuresLockTheAccountWithoutCheckingThePassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.create(t, "ops@brokerdesk.test")
	for i := range 5 {
		if _, err := b.svc.Login(ctx, operators.Credentials{Email: "ops@brokerdesk.test", Password: "wrong password " + string(rune('a'+i))}); !errors.Is(err, operators.ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, err := b.svc.Login(ctx, operators.Credentials{Email: "ops@brokerdesk.test", Password: password})
	var locked *auth.LockedError
	if !errors.As(err, &locked) || locked.RetryAfter <= 0 || locked.RetryAfter > time.Minute {
		t.Fatalf("right password while locked: %v", err)
	}
	if logs := b.logs.String(); !strings.Contains(logs, "account locked") || strings.Contains(logs, password) || strings.Contains(logs, "wrong password") {
		t.Fatalf("lockout not logged, or a password was: %s", logs)
	}
	b.clock.Add(time.Minute + time.Second)
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: "ops@brokerdesk.test", Password: password}); err != nil {
		t.Fatalf("after the lock expired: %v", err)
	}
}

func TestTwoFactorEnrolmentThenLoginNeedsACodeOnceAndRecoveryCodesWorkOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	op := b.create(t, "ops@brokerdesk.test")
	if _, err := b.svc.ConfirmTOTP(ctx, op.ID, "123456"); !errors.Is(err, operators.ErrNoPendingTOTP) {
		t.Fatalf("confirm without enrolment: %v", err)
	}
	if _, err := b.svc.EnrolTOTP(ctx, op.ID, "not my password"); !errors.Is(err, operators.ErrBadCredentials) {
		t.Fatalf("enrolment with a wrong password: %v", err)
	}
	enr, err := b.svc.EnrolTOTP(ctx, op.ID, password)
	if err != nil {
		t.Fatal(err)
	}
	// Pending enrolment does not change login yet.
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: op.Email, Password: password}); err != nil {
		t.Fatalf("login with enrolment pending: %v", err)
	}
	if _, err := b.svc.ConfirmTOTP(ctx, op.ID, "000000"); !errors.Is(err, operators.ErrBadCredentials) {
		t.Fatalf("confirm with a wrong code: %v", err)
	}
	code, _ := auth.TOTPCode(enr.Secret, b.clock.Now())
	recovery, err := b.svc.ConfirmTOTP(ctx, op.ID, code)
	if err != nil || len(recovery) != auth.RecoveryCodeCount {
		t.Fatalf("confirm: %d codes, %v", len(recovery), err)
	}

	if _, err := b.svc.Login(ctx, operators.Credentials{Email: op.Email, Password: password}); !errors.Is(err, operators.ErrTOTPRequired) {
		t.Fatalf("login without a code: %v", err)
	}
	// The confirming code's step is used: the same code cannot sign in.
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: op.Email, Password: password, Code: code}); !errors.Is(err, operators.ErrBadCredentials) {
		t.Fatalf("replayed code: %v", err)
	}
	b.clock.Add(auth.TOTPPeriod)
	code, _ = auth.TOTPCode(enr.Secret, b.clock.Now())
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: op.Email, Password: password, Code: code}); err != nil {
		t.Fatalf("login with a fresh code: %v", err)
	}
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: op.Email, Password: password, Code: recovery[3]}); err != nil {
		t.Fatalf("login with a recovery code: %v", err)
	}
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: op.Email, Password: password, Code: recovery[3]}); !errors.Is(err, operators.ErrBadCredentials) {
		t.Fatalf("recovery code used twice: %v", err)
	}
}

func TestConcurrentFailuresAreAllCounted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.create(t, "ops@brokerdesk.test")
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if _, err := b.svc.Login(ctx, operators.Credentials{Email: "ops@brokerdesk.test", Password: "wrong password " + string(rune('a'+i))}); !errors.Is(err, operators.ErrBadCredentials) {
				t.Errorf("failure %d: %v", i+1, err)
			}
		})
	}
	wg.Wait()
	var locked *auth.LockedError
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: "ops@brokerdesk.test", Password: password}); !errors.As(err, &locked) {
		t.Fatalf("five concurrent failures did not lock the account: %v", err)
	}
}
