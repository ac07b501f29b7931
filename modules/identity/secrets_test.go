package identity_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// storedTOTP is the staff user's totp_secret column as the database holds it.
func (b *bundle) storedTOTP(t *testing.T, id uuid.UUID) string {
	t.Helper()
	var v string
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce(totp_secret, '') FROM staff_credentials WHERE staff_user_id = $1`, id).Scan(&v)
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (b *bundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// loginCode signs a staff user in through svc with the code secret makes at at.
func (b *bundle) loginCode(t *testing.T, svc *identity.Service, email, secret string, at time.Time) error {
	t.Helper()
	code, _ := auth.TOTPCode(secret, at)
	_, err := svc.Login(context.Background(), b.ten, identity.Staff, identity.Credentials{Email: email, Password: goodPassword, TOTPCode: code})
	return err
}

func TestTOTPSecretIsStoredSealedNeverInPlaintext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := "ada-" + b.ten.Slug + "@harbour.example"
	id := b.addStaff(t, email, goodPassword, "admin")
	tr, _ := b.login(t, email, goodPassword)
	// Pending: sealed from the moment it is stored.
	r := do(t, b.app, "POST", "/api/v1/auth/staff/2fa/enrol", tr.AccessToken, nil)
	var e identity.EnrolResponse
	r.Decode(t, &e)
	if v := b.storedTOTP(t, id); strings.Contains(v, e.Secret) || !strings.HasPrefix(v, "d1:") {
		t.Fatalf("pending TOTP secret stored as %q", v)
	}
	secret, _ := enrol(t, b, tr.AccessToken)
	if v := b.storedTOTP(t, id); strings.Contains(v, secret) || !strings.HasPrefix(v, "d1:") {
		t.Fatalf("TOTP secret stored as %q", v)
	}
	if err := b.loginCode(t, b.svc, email, secret, time.Now().Add(auth.TOTPPeriod)); err != nil {
		t.Fatalf("sign-in with the sealed secret: %v", err)
	}
}

func TestSealedTOTPSecretCopiedToAnotherUserDoesNotVerify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada, bob := "ada-"+b.ten.Slug+"@harbour.example", "bob-"+b.ten.Slug+"@harbour.example"
	adaID := b.addStaff(t, ada, goodPassword, "admin")
	bobID := b.addStaff(t, bob, goodPassword, "admin")
	tr, _ := b.login(t, ada, goodPassword)
	secret, _ := enrol(t, b, tr.AccessToken)
	b.exec(t, `UPDATE staff_credentials SET totp_secret = (SELECT totp_secret FROM staff_credentials WHERE staff_user_id = $1),
		totp_enabled_at = now() WHERE staff_user_id = $2`, adaID, bobID)
	if err := b.loginCode(t, b.svc, bob, secret, time.Now().Add(auth.TOTPPeriod)); err != identity.ErrInvalidCredentials {
		t.Fatalf("Ada's sealed secret in Bob's row signed Bob in: %v", err)
	}
	if !strings.Contains(b.logs.String(), "TOTP secret cannot be opened") {
		t.Fatal("the unreadable secret was not logged")
	}
	if got := b.actions(t); count(got, identity.ActionLoginFailed) != 1 {
		t.Fatalf("the refusal was not audited as a failed sign-in: %v", got)
	}
	if err := b.loginCode(t, b.svc, ada, secret, time.Now().Add(auth.TOTPPeriod)); err != nil {
		t.Fatalf("Ada's own code: %v", err)
	}
}

func TestRotatedDataKeysOpenOldSecretsAndResealThem(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ada, bob := "ada-"+b.ten.Slug+"@harbour.example", "bob-"+b.ten.Slug+"@harbour.example"
	adaID := b.addStaff(t, ada, goodPassword, "admin")
	bobID := b.addStaff(t, bob, goodPassword, "admin")
	tr, _ := b.login(t, ada, goodPassword)
	adaSecret, _ := enrol(t, b, tr.AccessToken)
	// Bob's secret is from before secrets were sealed: plaintext base32 in the column.
	bobSecret, _ := auth.NewTOTPSecret()
	b.exec(t, `UPDATE staff_credentials SET totp_secret = $2, totp_enabled_at = now() WHERE staff_user_id = $1`, bobID, bobSecret)

	// BD_DATA_KEYS rotated: a new first key d2, the old d1 kept (same key material) so old values open.
	_, d2 := newSealer(t, "d2")
	rotatedKeys, err := auth.ParseSealer(d2 + "," + b.dataKeys)
	if err != nil {
		t.Fatal(err)
	}
	rotated := b.service(t, rotatedKeys, nil)
	at := time.Now().Add(auth.TOTPPeriod)
	if err := b.loginCode(t, rotated, ada, adaSecret, at); err != nil {
		t.Fatalf("sign-in with a secret sealed under the old key: %v", err)
	}
	if v := b.storedTOTP(t, adaID); !strings.HasPrefix(v, "d2:") {
		t.Fatalf("not resealed under the new key on sign-in: %q", v)
	}
	if err := b.loginCode(t, rotated, bob, bobSecret, at); err != nil {
		t.Fatalf("sign-in with a plaintext secret: %v", err)
	}
	if v := b.storedTOTP(t, bobID); !strings.HasPrefix(v, "d2:") || strings.Contains(v, bobSecret) {
		t.Fatalf("plaintext secret not sealed on sign-in: %q", v)
	}

	// The reseal pass finishes what sign-ins have not: Bob's secret back under d1, as if he had not signed in.
	underD1, err := b.sealer.Seal(identity.TOTPPurpose(identity.Staff, bobID), []byte(bobSecret))
	if err != nil {
		t.Fatal(err)
	}
	b.exec(t, `UPDATE staff_credentials SET totp_secret = $2, totp_last_step = 0 WHERE staff_user_id = $1`, bobID, underD1)
	rep, err := rotated.ResealTOTPSecrets(ctx, b.ten)
	if err != nil || rep != (identity.ResealReport{Resealed: 1, Current: 1}) {
		t.Fatalf("reseal: %+v %v", rep, err)
	}
	if v := b.storedTOTP(t, bobID); !strings.HasPrefix(v, "d2:") {
		t.Fatalf("reseal left %q", v)
	}
	if err := b.loginCode(t, rotated, bob, bobSecret, at); err != nil {
		t.Fatalf("sign-in after the reseal: %v", err)
	}
	if rep, err := rotated.ResealTOTPSecrets(ctx, b.ten); err != nil || rep != (identity.ResealReport{Current: 2}) {
		t.Fatalf("second pass: %+v %v", rep, err)
	}
	// With d1 gone, nothing is left that needs it.
	b.exec(t, `UPDATE staff_credentials SET totp_last_step = 0 WHERE staff_user_id = $1`, adaID) // its code may be used again
	onlyD2, err := auth.ParseSealer(d2)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.loginCode(t, b.service(t, onlyD2, nil), ada, adaSecret, at); err != nil {
		t.Fatalf("sign-in with d1 removed: %v", err)
	}
	if got := b.actions(t); count(got, identity.ActionTOTPResealed) != 1 {
		t.Fatalf("audit: %v", got)
	}
}
