package clients

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// GetManyTx returns the clients of ids (of the tenant whose scope tx is) by id, in one query: a list's rows named
// at once rather than one read per client. Unknown ids are absent from the map.
func (s *Service) GetManyTx(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]Client, error) {
	out := make(map[uuid.UUID]Client, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+clientColumns+clientFrom+` WHERE c.id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out[c.ID] = c
	}
	return out, rows.Err()
}
