package database

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

// ResealCounts is what a reseal pass did.
type ResealCounts struct {
	Resealed   int // plaintext or old-key values now sealed under the first key
	Current    int // values already sealed under the first key
	Unreadable int // values no key opens for their row (left as they are; those users re-enrol)
}

// Add returns the sum of two passes.
func (c ResealCounts) Add(o ResealCounts) ResealCounts {
	return ResealCounts{Resealed: c.Resealed + o.Resealed, Current: c.Current + o.Current, Unreadable: c.Unreadable + o.Unreadable}
}

// SealedColumn names a column of sealed values (auth.Sealer) keyed by a uuid, and the purpose each row's value is
// sealed for. Table and columns are identifiers from code, never from input.
type SealedColumn struct {
	Table, IDColumn, Column string
	Purpose                 func(id uuid.UUID) string
}

// Reseal seals every non-null, non-empty value of col under the sealer's first key, in tx: plaintext values from before the
// column was sealed and values sealed under an older key (auth.Sealer.OpenMigrating). The rows are locked, so a
// concurrent writer waits rather than racing the pass. unreadable, if set, is told of each value no key opens.
// It is what makes a BD_DATA_KEYS rotation finishable.
func Reseal(ctx context.Context, tx pgx.Tx, s *auth.Sealer, col SealedColumn, unreadable func(id uuid.UUID)) (ResealCounts, error) {
	var n ResealCounts
	// An empty value is no value (a column NOT NULL DEFAULT ''): sealing it would make it look set.
	rows, err := tx.Query(ctx, `SELECT `+col.IDColumn+`, `+col.Column+` FROM `+col.Table+` WHERE `+col.Column+` IS NOT NULL
		AND `+col.Column+` <> '' ORDER BY `+col.IDColumn+` FOR UPDATE`)
	if err != nil {
		return n, fmt.Errorf("reseal %s.%s: %w", col.Table, col.Column, err)
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
		return n, fmt.Errorf("reseal %s.%s: %w", col.Table, col.Column, err)
	}
	for _, x := range list {
		purpose := col.Purpose(x.id)
		plain, reseal, err := s.OpenMigrating(purpose, x.stored)
		switch {
		case err != nil:
			n.Unreadable++
			if unreadable != nil {
				unreadable(x.id)
			}
		case !reseal:
			n.Current++
		default:
			sealed, err := s.Seal(purpose, []byte(plain))
			if err != nil {
				return n, err
			}
			if _, err := tx.Exec(ctx, `UPDATE `+col.Table+` SET `+col.Column+` = $2 WHERE `+col.IDColumn+` = $1`, x.id, sealed); err != nil {
				return n, fmt.Errorf("reseal %s.%s: %w", col.Table, col.Column, err)
			}
			n.Resealed++
		}
	}
	return n, nil
}
