package clients

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// EmailsTx returns the emails of ids (clients of the tenant whose scope tx is) by id, in one query: a list's rows
// named at once rather than one read per client. Unknown ids are absent from the map.
func (s *Service) EmailsTx(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	out := make(map[uuid.UUID]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, email FROM clients WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	var id uuid.UUID
	var email string
	_, err = pgx.ForEachRow(rows, []any{&id, &email}, func() error { out[id] = email; return nil })
	return out, err
}
