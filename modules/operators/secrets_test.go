package operators_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/operators"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// enrolled creates an operator with two-factor sign-in on and returns it with its secret.
func (b bundle) enrolled(t *testing.T, email string) (operators.Operator, string) {
	t.Helper()
	ctx := context.Background()
	op := b.create(t, email)
	enr, err := b.svc.EnrolTOTP(ctx, op.ID, password)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := auth.TOTPCode(enr.Secret, b.clock.Now())
	if _, err := b.svc.ConfirmTOTP(ctx, op.ID, code); err != nil {
		t.Fatal(err)
	}
	b.clock.Add(auth.TOTPPeriod) // the confirming step is spent
	return op, enr.Secret
}

func (b bundle) storedSecret(t *testing.T, id uuid.UUID) string {
	t.Helper()
	var v string
	if err := b.p.Clusters.Platform().QueryRow(context.Background(), `SELECT totp_secret FROM platform.operators WHERE id = $1`, id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (b bundle) loginWithCode(svc *operators.Service, email, secret string) error {
	code, _ := auth.TOTPCode(secret, b.clock.Now())
	_, err := svc.Login(context.Background(), operators.Credentials{Email: email, Password: password, Code: code})
	return err
}

func TestOperatorTOTPSecretIsSealedAndDoesNotOpenInAnotherRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a, secret := b.enrolled(t, "a@brokerdesk.test")
	stored := b.storedSecret(t, a.ID)
	if strings.Contains(stored, secret) || !strings.HasPrefix(stored, "d1:") {
		t.Fatalf("stored TOTP secret is not sealed under d1: %q", stored)
	}
	var pending *string
	if err := b.p.Clusters.Platform().QueryRow(ctx, `SELECT totp_pending_secret FROM platform.operators WHERE id = $1`, a.ID).Scan(&pending); err != nil || pending != nil {
		t.Fatalf("pending secret after confirmation: %v %v", pending, err)
	}
	// A pending secret is sealed as well.
	other := b.create(t, "b@brokerdesk.test")
	enr, err := b.svc.EnrolTOTP(ctx, other.ID, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.p.Clusters.Platform().QueryRow(ctx, `SELECT totp_pending_secret FROM platform.operators WHERE id = $1`, other.ID).Scan(&pending); err != nil ||
		pending == nil || strings.Contains(*pending, enr.Secret) {
		t.Fatalf("pending secret stored as %v (%v)", pending, err)
	}
	// a's sealed secret copied into b's row: b cannot sign in with a's codes.
	if _, err := b.p.Clusters.Platform().Exec(ctx, `UPDATE platform.operators SET totp_secret = $2, totp_pending_secret = NULL WHERE id = $1`, other.ID, stored); err != nil {
		t.Fatal(err)
	}
	if err := b.loginWithCode(b.svc, other.Email, secret); !errors.Is(err, operators.ErrBadCredentials) {
		t.Fatalf("a copied secret signed in: %v", err)
	}
	if !strings.Contains(b.logs.String(), "cannot be opened") {
		t.Fatalf("the unreadable secret was not logged:\n%s", b.logs)
	}
	if err := b.loginWithCode(b.svc, a.Email, secret); err != nil {
		t.Fatalf("the owner's code: %v", err)
	}
}

func TestOperatorTOTPSecretsFromBeforeSealingOrUnderAnOldKeyAreResealed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	old, oldSecret := b.enrolled(t, "old-key@brokerdesk.test")
	legacy := b.create(t, "legacy@brokerdesk.test")
	legacySecret, _ := auth.NewTOTPSecret()
	if _, err := b.p.Clusters.Platform().Exec(ctx, `UPDATE platform.operators SET totp_secret = $2 WHERE id = $1`, legacy.ID, legacySecret); err != nil {
		t.Fatal(err)
	}
	// Rotation: a new first key d2, the old d1 kept to open.
	svc := b.rotatedService(t)
	// Sign-in opens the old seal and reseals under d2.
	if err := b.loginWithCode(svc, old.Email, oldSecret); err != nil {
		t.Fatalf("login with a secret sealed under the old key: %v", err)
	}
	if v := b.storedSecret(t, old.ID); !strings.HasPrefix(v, "d2:") {
		t.Fatalf("not resealed on sign-in: %q", v)
	}
	// The reseal pass catches the rest: the plaintext secret.
	rep, err := svc.ResealTOTPSecrets(ctx)
	if err != nil || rep.Resealed != 1 || rep.Current != 1 || rep.Unreadable != 0 {
		t.Fatalf("reseal: %+v %v", rep, err)
	}
	if v := b.storedSecret(t, legacy.ID); !strings.HasPrefix(v, "d2:") || strings.Contains(v, legacySecret) {
		t.Fatalf("plaintext secret after reseal: %q", v)
	}
	b.clock.Add(time.Minute)
	if err := b.loginWithCode(svc, legacy.Email, legacySecret); err != nil {
		t.Fatalf("login after reseal: %v", err)
	}
	if rep, err := svc.ResealTOTPSecrets(ctx); err != nil || rep.Resealed != 0 || rep.Current != 2 {
		t.Fatalf("second pass: %+v %v", rep, err)
	}
}

// rotatedService is the operator service after a BD_DATA_KEYS rotation: a new first key d2, the old d1 second.
func (b bundle) rotatedService(t *testing.T) *operators.Service {
	t.Helper()
	sealer, err := auth.ParseSealer("d2:" + base64.StdEncoding.EncodeToString(randomKey(t)) + "," + b.dataKeys)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := operators.NewService(b.p.Clusters.Platform(), operators.Options{Keys: b.keys, Hasher: b.hasher, Sealer: sealer, Audit: audit.NewPlatform(b.p.Clusters.Platform()),
		Issuer: "https://brokerdesk.test", Now: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
