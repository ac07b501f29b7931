package clients

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Rooms above clients that keep their own rows about clients (deposits, cases) show a staff user only the rows of
// clients the clients list would show them. These two functions give them the rule as ids, in the caller's
// transaction, so they never read the clients table themselves.

// VisibleTx is List's object-level rule for v as ids: limited is false when v sees every client (ids is then nil);
// when the tenant's managers_see_own_clients_only applies to v, ids are the clients v manages (possibly none).
func VisibleTx(ctx context.Context, tx pgx.Tx, v Viewer) (ids []uuid.UUID, limited bool, err error) {
	st, err := settingsTx(ctx, tx)
	if err != nil {
		return nil, false, err
	}
	if !v.ownOnly(st) {
		return nil, false, nil
	}
	ids, err = ManagedByTx(ctx, tx, v.StaffID)
	return ids, true, err
}

// ManagedByTx lists the ids of the clients manager manages (never nil: an empty list when none), through the
// clients_manager index.
func ManagedByTx(ctx context.Context, tx pgx.Tx, manager uuid.UUID) ([]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM clients WHERE manager_id = $1`, manager)
	if err != nil {
		return nil, fmt.Errorf("clients managed by %s: %w", manager, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("clients managed by %s: %w", manager, err)
	}
	if ids == nil {
		ids = []uuid.UUID{}
	}
	return ids, nil
}
