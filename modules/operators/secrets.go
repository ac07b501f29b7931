package operators

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Operators' TOTP secrets are sealed like the tenants' (modules/identity/secrets.go): auth.Sealer under
// BD_DATA_KEYS, bound to the table and the operator, so a value copied to another operator's row does not open.
// A pending secret is sealed for the same purpose as a confirmed one: confirming moves it from one column to the
// other of the same row.
func totpPurpose(id uuid.UUID) string {
	return "platform.operators.totp_secret:operator:" + id.String()
}

// openTOTP returns the base32 secret of a stored value and whether it should be resealed: plaintext from before
// sealing (base32 has no colon; a sealed value is "kid:base64"), or sealed under a key that is no longer first.
func (s *Service) openTOTP(id uuid.UUID, stored string) (string, bool, error) {
	if !strings.Contains(stored, ":") {
		return stored, true, nil
	}
	plain, err := s.o.Sealer.Open(totpPurpose(id), stored)
	if err != nil {
		return "", false, fmt.Errorf("operators: %s: TOTP secret: %w", id, err)
	}
	return string(plain), s.o.Sealer.NeedsReseal(stored), nil
}

// resealTOTP stores secret in column (totp_secret or totp_pending_secret) sealed under the current first key.
func (s *Service) resealTOTP(ctx context.Context, tx pgx.Tx, id uuid.UUID, column, secret string) error {
	sealed, err := s.o.Sealer.Seal(totpPurpose(id), []byte(secret))
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE platform.operators SET `+column+` = $2 WHERE id = $1`, id, sealed); err != nil {
		return fmt.Errorf("reseal operator TOTP secret: %w", err)
	}
	return nil
}

// ResealReport is what a reseal pass did (as identity.ResealReport).
type ResealReport struct {
	Resealed, Current, Unreadable int
}

// ResealTOTPSecrets seals every operator's TOTP secret (confirmed and pending) under the first key of
// BD_DATA_KEYS: the operators' half of `brokerdesk data-keys reseal`.
func (s *Service) ResealTOTPSecrets(ctx context.Context) (ResealReport, error) {
	var rep ResealReport
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rep = ResealReport{}
		for _, column := range []string{"totp_secret", "totp_pending_secret"} {
			rows, err := tx.Query(ctx, `SELECT id, `+column+` FROM platform.operators WHERE `+column+` IS NOT NULL ORDER BY id FOR UPDATE`)
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
				secret, reseal, err := s.openTOTP(x.id, x.stored)
				switch {
				case err != nil:
					rep.Unreadable++
					s.o.Log.Warn("operator TOTP secret cannot be opened with BD_DATA_KEYS", "operator_id", x.id, "column", column)
				case !reseal:
					rep.Current++
				default:
					if err := s.resealTOTP(ctx, tx, x.id, column, secret); err != nil {
						return err
					}
					rep.Resealed++
				}
			}
		}
		return nil
	})
	return rep, err
}
