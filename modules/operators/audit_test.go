package operators_test

import (
	"context"
	"errors"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/operators"
)

type platformRow struct {
	actorKind, actorID, action, targetID, diff string
}

// platformTrail is the platform audit chain's rows, oldest first.
func (b bundle) platformTrail(t *testing.T) []platformRow {
	t.Helper()
	rows, err := b.p.Clusters.Platform().Query(context.Background(),
		`SELECT actor_kind, actor_id, action, target_id, diff::text FROM platform.audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []platformRow
	for rows.Next() {
		var r platformRow
		if err := rows.Scan(&r.actorKind, &r.actorID, &r.action, &r.targetID, &r.diff); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestOperatorSignInsAndChangesFormTheVerifiablePlatformAuditChain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	op := b.create(t, "ops@brokerdesk.test")
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: op.Email, Password: "wrong password here"}); !errors.Is(err, operators.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: "nobody@brokerdesk.test", Password: password}); !errors.Is(err, operators.ErrBadCredentials) {
		t.Fatalf("unknown email: %v", err)
	}
	enr, err := b.svc.EnrolTOTP(ctx, op.ID, password)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := auth.TOTPCode(enr.Secret, b.clock.Now())
	if _, err := b.svc.ConfirmTOTP(ctx, op.ID, code); err != nil {
		t.Fatal(err)
	}
	b.clock.Add(auth.TOTPPeriod)
	code, _ = auth.TOTPCode(enr.Secret, b.clock.Now())
	if _, err := b.svc.Login(ctx, operators.Credentials{Email: op.Email, Password: password, Code: code}); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := b.svc.SetActive(ctx, op.Email, false); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.ResetTOTP(ctx, op.Email); err != nil {
		t.Fatal(err)
	}

	id := op.ID.String()
	want := []platformRow{
		{"system", "cli", operators.ActionCreated, id, ""},
		{"operator", id, operators.ActionSignInFailed, id, `{"/reason":{"after":"wrong_password"}}`},
		{"system", "console", operators.ActionSignInFailed, "unknown", ""},
		{"operator", id, operators.ActionTOTPEnrolled, id, ""},
		{"operator", id, operators.ActionSignedIn, id, `{"/second_factor":{"after":"totp"}}`},
		{"system", "cli", operators.ActionDisabled, id, ""},
		{"system", "cli", operators.ActionTOTPReset, id, ""},
	}
	got := b.platformTrail(t)
	if len(got) != len(want) {
		t.Fatalf("platform trail: %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.actorKind != w.actorKind || g.actorID != w.actorID || g.action != w.action || g.targetID != w.targetID || (w.diff != "" && g.diff != w.diff) {
			t.Errorf("row %d: %+v, want %+v", i+1, g, w)
		}
	}
	rep, err := audit.NewPlatform(b.p.Clusters.Platform()).Verify(ctx)
	if err != nil || !rep.OK() || rep.Rows != int64(len(want)) {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestRepeatedOperatorFailuresAuditTheLockout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	op := b.create(t, "ops@brokerdesk.test")
	var locked *auth.LockedError
	for i := 0; i < 10 && !errors.As(wrongPassword(b, ctx, op.Email), &locked); i++ {
	}
	if locked == nil {
		t.Fatal("ten wrong passwords did not lock the account")
	}
	var lockouts, refusedLocked int
	for _, r := range b.platformTrail(t) {
		switch {
		case r.action == operators.ActionLockedOut:
			lockouts++
		case r.action == operators.ActionSignInFailed && r.diff == `{"/reason":{"after":"locked"}}`:
			refusedLocked++
		}
	}
	if lockouts != 1 || refusedLocked != 1 {
		t.Fatalf("lockouts %d, refusals while locked %d: %+v", lockouts, refusedLocked, b.platformTrail(t))
	}
}

func wrongPassword(b bundle, ctx context.Context, email string) error {
	_, e := b.svc.Login(ctx, operators.Credentials{Email: email, Password: "wrong password here"})
	return e
}
