package identity

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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

// isSealed tells a sealed value ("kid:base64") from a plaintext base32 secret stored before secrets were sealed
// (base32 has no colon).
func isSealed(stored string) bool { return strings.Contains(stored, ":") }

// sealTOTP seals a fresh secret for k's user id.
func (s *Service) sealTOTP(k Kind, id uuid.UUID, secret string) (string, error) {
	return s.o.Sealer.Seal(totpPurpose(k, id), []byte(secret))
}

// openTOTP returns the base32 secret held in a's row and whether the row should be resealed: a plaintext value
// from before sealing, or one sealed under a key that is no longer the first of BD_DATA_KEYS. A value that does
// not open (another row's, altered, or sealed under a key no longer configured) is an error.
func (s *Service) openTOTP(k Kind, id uuid.UUID, stored string) (secret string, reseal bool, err error) {
	if !isSealed(stored) {
		return stored, true, nil
	}
	plain, err := s.o.Sealer.Open(totpPurpose(k, id), stored)
	if err != nil {
		return "", false, fmt.Errorf("identity: %s %s: TOTP secret: %w", k.name, id, err)
	}
	return string(plain), s.o.Sealer.NeedsReseal(stored), nil
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
type ResealReport struct {
	Resealed   int // plaintext or old-key values now sealed under the first key
	Current    int // values already sealed under the first key
	Unreadable int // values no key of BD_DATA_KEYS opens for their row (left as they are; those users re-enrol)
}

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
			rows, err := tx.Query(ctx, `SELECT `+k.key+`, totp_secret FROM `+k.table+` WHERE totp_secret IS NOT NULL ORDER BY `+k.key+` FOR UPDATE`)
			if err != nil {
				return err
			}
			type row struct {
				id     uuid.UUID
				stored string
			}
			list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
				var x row
				return x, r.Scan(&x.id, &x.stored)
			})
			if err != nil {
				return err
			}
			for _, x := range list {
				secret, reseal, err := s.openTOTP(k, x.id, x.stored)
				switch {
				case err != nil:
					rep.Unreadable++
					s.o.Log.WarnContext(ctx, "TOTP secret cannot be opened with BD_DATA_KEYS", "kind", k.name, "user", x.id)
				case !reseal:
					rep.Current++
				default:
					if err := s.resealTOTP(ctx, tx, k, x.id, secret); err != nil {
						return err
					}
					rep.Resealed++
				}
			}
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
