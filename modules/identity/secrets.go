package identity

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// ActionTOTPResealed is audited once per tenant and pass of ResealTOTPSecrets that changed anything.
const ActionTOTPResealed = "identity.totp_secrets_resealed"

// TOTP secrets are kept sealed (auth.Sealer, BD_DATA_KEYS): unlike a password hash, the secret is the key itself,
// so a database dump or backup must not be enough to mint codes. The seal's additional data names the table, the
// kind of user and the user, so a value copied into another user's row does not open there.
func totpPurpose(k Kind, id uuid.UUID) string {
	return k.table + ".totp_secret:" + k.name + ":" + id.String()
}

// sealTOTP seals a fresh secret for k's user id.
func (s *Service) sealTOTP(k Kind, id uuid.UUID, secret string) (string, error) {
	return s.o.Sealer.Seal(totpPurpose(k, id), []byte(secret))
}

// openTOTP returns the base32 secret held in a's row and whether the row should be resealed: a plaintext value
// from before sealing, or one sealed under a key that is no longer the first of BD_DATA_KEYS. A value that does
// not open (another row's, altered, or sealed under a key no longer configured) is an error.
func (s *Service) openTOTP(k Kind, id uuid.UUID, stored string) (secret string, reseal bool, err error) {
	secret, reseal, err = s.o.Sealer.OpenMigrating(totpPurpose(k, id), stored)
	if err != nil {
		return "", false, fmt.Errorf("identity: %s %s: TOTP secret: %w", k.name, id, err)
	}
	return secret, reseal, nil
}

// resealTOTP stores secret sealed under the current first key.
func (s *Service) resealTOTP(ctx context.Context, tx pgx.Tx, k Kind, id uuid.UUID, secret string) error {
	sealed, err := s.sealTOTP(k, id, secret)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE `+k.table+` SET totp_secret = $2 WHERE `+k.key+` = $1`, id, sealed); err != nil {
		return fmt.Errorf("reseal TOTP secret: %w", err)
	}
	return nil
}

// ResealReport is what one tenant's reseal pass did.
type ResealReport = database.ResealCounts

// ResealTOTPSecrets seals every TOTP secret of t's staff and traders under the first key of BD_DATA_KEYS: plaintext
// values from before sealing and values sealed under an older key. It makes a key rotation finishable (the old key
// can leave BD_DATA_KEYS once every tenant and the operators report nothing left to reseal); `brokerdesk data-keys
// reseal` runs it for every tenant. Rows are locked while they are resealed, so a concurrent enrolment or login
// waits rather than racing it.
func (s *Service) ResealTOTPSecrets(ctx context.Context, t tenants.Tenant) (ResealReport, error) {
	var rep ResealReport
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rep = ResealReport{}
		for _, k := range []Kind{Staff, Portal} {
			n, err := database.Reseal(ctx, tx, s.o.Sealer, database.SealedColumn{Table: k.table, IDColumn: k.key, Column: "totp_secret",
				Purpose: func(id uuid.UUID) string { return totpPurpose(k, id) }}, func(id uuid.UUID) {
				s.o.Log.WarnContext(ctx, "TOTP secret cannot be opened with BD_DATA_KEYS", "kind", k.name, "user", id)
			})
			if err != nil {
				return err
			}
			rep = rep.Add(n)
		}
		if rep.Resealed == 0 {
			return nil
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("identity"), Action: ActionTOTPResealed,
			Target: audit.Target{Type: "data_keys", ID: "totp_secret"},
			After:  map[string]any{"resealed": rep.Resealed, "unreadable": rep.Unreadable}})
	})
	return rep, err
}
