package clients

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Record is everything the clients module holds about one client, for a data-subject export: the profile, the
// referral attribution (inside Client) and the status history.
type Record struct {
	Client  Client
	History []HistoryEntry
	// ErasedAt is set once the client's personal data has been erased.
	ErasedAt *time.Time
}

// RecordTx returns the client's whole record; forUpdate also locks the client's row until tx ends, as status
// changes do, so a decision taken on the record (erasure) cannot race one.
func (s *Service) RecordTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, forUpdate bool) (Record, error) {
	get := s.GetTx
	if forUpdate {
		get = func(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Client, error) { return getForUpdate(ctx, tx, id) }
	}
	c, err := get(ctx, tx, id)
	if err != nil {
		return Record{}, err
	}
	h, err := s.HistoryTx(ctx, tx, id)
	if err != nil {
		return Record{}, err
	}
	r := Record{Client: c, History: h}
	if err := tx.QueryRow(ctx, `SELECT erased_at FROM clients WHERE id = $1`, id).Scan(&r.ErasedAt); err != nil {
		return Record{}, fmt.Errorf("erased_at: %w", err)
	}
	return r, nil
}

// erasedReason replaces the free-text reasons of an erased client's status history: staff wrote them about the
// person, so they go with the rest of the personal data; the statuses and times stay.
const erasedReason = "[erased]"

// EraseTx overwrites the client's personal data in tx: name, email, phone, date of birth, country, declared
// experience, marketing consent, the reasons in the status history and any verification links. The row, its id,
// status, tier, manager, referral code and history times stay, so records that point at the client (ledger, trading
// accounts, IB attribution) stay consistent. Erasing an erased client changes nothing. The caller decides whether
// erasure is allowed (modules/privacy) and writes the audit entry.
func (s *Service) EraseTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	tag, err := tx.Exec(ctx, `UPDATE clients SET email = 'erased-' || id || '@erased.invalid', first_name = 'Erased',
		last_name = 'Client', phone = '', date_of_birth = NULL, country = 'ZZ', experience = '', marketing_consent = false,
		erased_at = now()
		WHERE id = $1 AND erased_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("erase client: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return ErrNotFound
		}
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE client_status_history SET reason = $2 WHERE client_id = $1`, id, erasedReason); err != nil {
		return fmt.Errorf("erase status history: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM client_email_verifications WHERE client_id = $1`, id); err != nil {
		return fmt.Errorf("erase verification links: %w", err)
	}
	return nil
}
