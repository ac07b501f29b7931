package clients

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Contact is how a client is named: their email and names.
type Contact struct {
	Email, FirstName, LastName string
}

// ContactsTx returns the contacts of ids (clients of the tenant whose scope tx is) by id, in one query: a list's
// rows named at once rather than one read per client. Unknown ids are absent from the map.
func (s *Service) ContactsTx(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]Contact, error) {
	out := make(map[uuid.UUID]Contact, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, email, first_name, last_name FROM clients WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	var id uuid.UUID
	var c Contact
	_, err = pgx.ForEachRow(rows, []any{&id, &c.Email, &c.FirstName, &c.LastName}, func() error { out[id] = c; return nil })
	return out, err
}
