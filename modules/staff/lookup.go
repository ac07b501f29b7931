package staff

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// ErrNotFound is returned when no staff user (or no usable invitation) matches.
var ErrNotFound = errors.New("staff: not found")

// The functions below take the caller's transaction (opened by tenants.Gate.Scope): identity signs staff in and
// accepts invitations inside its own transaction, together with its credential rows and the audit entry.

const memberColumns = `id, email, full_name, roles, status`

// scanMember reads memberColumns through scan: a row's Scan, or a one-round-trip Gate.ReadRow.
func scanMember(scan func(dest ...any) error) (Member, error) {
	var m Member
	var roles []string
	if err := scan(&m.ID, &m.Email, &m.FullName, &roles, &m.Status); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Member{}, ErrNotFound
		}
		return Member{}, err
	}
	for _, r := range roles {
		m.Roles = append(m.Roles, Role(r))
	}
	return m, nil
}

// ByEmail returns the staff user with that (lower-case) email.
func ByEmail(ctx context.Context, tx pgx.Tx, email string) (Member, error) {
	return scanMember(tx.QueryRow(ctx, `SELECT `+memberColumns+` FROM staff_users WHERE email = $1`, email).Scan)
}

// ByID returns one staff user.
func ByID(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Member, error) {
	return scanMember(tx.QueryRow(ctx, `SELECT `+memberColumns+` FROM staff_users WHERE id = $1`, id).Scan)
}

// AcceptInvitation spends an unexpired, unaccepted invitation and makes its user active; it returns the user as it
// was before (status invited, or active for a second invitation of a user who already set a password).
func AcceptInvitation(ctx context.Context, tx pgx.Tx, token string, now time.Time) (Member, error) {
	var userID uuid.UUID
	err := tx.QueryRow(ctx, `UPDATE staff_invitations SET accepted_at = $2
		WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > $2 RETURNING staff_user_id`,
		hashToken(token), now).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Member{}, ErrNotFound
	}
	if err != nil {
		return Member{}, fmt.Errorf("accept invitation: %w", err)
	}
	before, err := scanMember(tx.QueryRow(ctx, `SELECT `+memberColumns+` FROM staff_users WHERE id = $1 FOR UPDATE`, userID).Scan)
	if err != nil {
		return Member{}, err
	}
	if before.Status == "disabled" {
		return Member{}, ErrNotFound
	}
	if _, err := tx.Exec(ctx, `UPDATE staff_users SET status = 'active' WHERE id = $1`, userID); err != nil {
		return Member{}, fmt.Errorf("activate staff user: %w", err)
	}
	return before, nil
}

// Get returns one staff user of t; ErrNotFound for an id that is not one of t's (including malformed ids).
func (s *Service) Get(ctx context.Context, t tenants.Tenant, id string) (Member, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return Member{}, ErrNotFound
	}
	// The hot read of the staff API: one round trip through the gate's pipelined read.
	return scanMember(func(dest ...any) error {
		return s.gate.ReadRow(ctx, t, `SELECT `+memberColumns+` FROM staff_users WHERE id = $1`, []any{uid}, dest...)
	})
}

// ActiveWithRoles lists the active staff users holding any of roles, by name.
func ActiveWithRoles(ctx context.Context, tx pgx.Tx, roles ...Role) ([]Member, error) {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	rows, err := tx.Query(ctx, `SELECT `+memberColumns+` FROM staff_users WHERE status = 'active' AND roles && $1
		ORDER BY full_name, email`, names)
	if err != nil {
		return nil, fmt.Errorf("staff with roles %v: %w", roles, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) { return scanMember(r.Scan) })
}

// IsActive reports whether id is an active staff user.
func IsActive(ctx context.Context, tx pgx.Tx, id uuid.UUID) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM staff_users WHERE id = $1 AND status = 'active')`, id).Scan(&ok)
	return ok, err
}

// NextWithRole is the round-robin turn among the active staff holding role: the first such user whose id follows
// after (any user when after is nil or was the last), and false when nobody holds the role. Callers keep their own
// rotation row (locked FOR UPDATE) so concurrent assignments take turns.
func NextWithRole(ctx context.Context, tx pgx.Tx, role Role, after *uuid.UUID) (uuid.UUID, bool, error) {
	var next uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM staff_users WHERE status = 'active' AND $1 = ANY (roles)
		ORDER BY id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000'::uuid) DESC, id LIMIT 1`, string(role), after).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	return next, err == nil, err
}
