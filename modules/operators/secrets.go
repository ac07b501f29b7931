package operators

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
)

// Operators' TOTP secrets are sealed like the tenants' (modules/identity/secrets.go): auth.Sealer under
// BD_DATA_KEYS, bound to the table and the operator, so a value copied to another operator's row does not open.
// A pending secret is sealed for the same purpose as a confirmed one: confirming moves it from one column to the
// other of the same row.
func totpPurpose(id uuid.UUID) string {
	return "platform.operators.totp_secret:operator:" + id.String()
}

// openTOTP returns the base32 secret of a stored value and whether it should be resealed: plaintext from before
// sealing, or sealed under a key that is no longer first (auth.Sealer.OpenMigrating).
func (s *Service) openTOTP(id uuid.UUID, stored string) (string, bool, error) {
	secret, reseal, err := s.o.Sealer.OpenMigrating(totpPurpose(id), stored)
	if err != nil {
		return "", false, fmt.Errorf("operators: %s: TOTP secret: %w", id, err)
	}
	return secret, reseal, nil
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

// ResealReport is what a reseal pass did.
type ResealReport = database.ResealCounts

// ResealTOTPSecrets seals every operator's TOTP secret (confirmed and pending) under the first key of
// BD_DATA_KEYS: the operators' half of `brokerdesk data-keys reseal`.
func (s *Service) ResealTOTPSecrets(ctx context.Context) (ResealReport, error) {
	var rep ResealReport
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rep = ResealReport{}
		for _, column := range []string{"totp_secret", "totp_pending_secret"} {
			n, err := database.Reseal(ctx, tx, s.o.Sealer, database.SealedColumn{Table: "platform.operators", IDColumn: "id",
				Column: column, Purpose: totpPurpose}, func(id uuid.UUID) {
				s.o.Log.Warn("operator TOTP secret cannot be opened with BD_DATA_KEYS", "operator_id", id, "column", column)
			})
			if err != nil {
				return err
			}
			rep = rep.Add(n)
		}
		return nil
	})
	return rep, err
}
