package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// PortalLogin is what identity holds about a client's portal login, for a data-subject export. Secrets (password
// hash, TOTP seed, recovery codes, tokens) are not personal data the subject gave us and are never exported.
type PortalLogin struct {
	ID        uuid.UUID
	Email     string
	Status    string
	TwoFactor bool
	CreatedAt time.Time
}

// PortalLoginsTx returns the portal logins of a client.
func (s *Service) PortalLoginsTx(ctx context.Context, tx pgx.Tx, clientID uuid.UUID) ([]PortalLogin, error) {
	rows, err := tx.Query(ctx, `SELECT id, email, status, totp_enabled_at IS NOT NULL, created_at
		FROM portal_users WHERE client_id = $1 ORDER BY created_at`, clientID)
	if err != nil {
		return nil, fmt.Errorf("portal logins: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PortalLogin, error) {
		var l PortalLogin
		err := r.Scan(&l.ID, &l.Email, &l.Status, &l.TwoFactor, &l.CreatedAt)
		return l, err
	})
}

// ErasePortalLoginsTx ends a client's portal logins for erasure: the email is overwritten, the login disabled, the
// password replaced by a hash of random bytes nobody knows, the second factor, recovery codes and reset links
// removed and every refresh token revoked. The rows stay (audit entries name their ids).
func (s *Service) ErasePortalLoginsTx(ctx context.Context, tx pgx.Tx, clientID uuid.UUID) error {
	logins, err := s.PortalLoginsTx(ctx, tx, clientID)
	if err != nil {
		return err
	}
	for _, l := range logins {
		hash, err := s.o.Hasher.Hash(ctx, uuid.NewString()+uuid.NewString())
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE portal_users SET email = 'erased-' || id || '@erased.invalid', status = 'disabled',
			password_hash = $2, totp_secret = NULL, totp_enabled_at = NULL, updated_at = now() WHERE id = $1`, l.ID, hash); err != nil {
			return fmt.Errorf("erase portal login: %w", err)
		}
		for _, q := range []string{
			`DELETE FROM recovery_codes WHERE user_kind = 'portal' AND user_id = $1`,
			`DELETE FROM password_resets WHERE user_kind = 'portal' AND user_id = $1`,
			`UPDATE refresh_tokens SET revoked_at = now() WHERE user_kind = 'portal' AND user_id = $1 AND revoked_at IS NULL`,
		} {
			if _, err := tx.Exec(ctx, q, l.ID); err != nil {
				return fmt.Errorf("erase portal login: %w", err)
			}
		}
	}
	return nil
}
