package payments

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// DepositTotals sums the completed deposits of each of clientIDs per currency, in minor units, in one query (a
// partner's referred clients, docs/partners.md). A client without a completed deposit is absent.
func (s *Service) DepositTotals(ctx context.Context, t tenants.Tenant, clientIDs []uuid.UUID) (map[uuid.UUID]map[string]int64, error) {
	out := map[uuid.UUID]map[string]int64{}
	if len(clientIDs) == 0 {
		return out, nil
	}
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT client_id, currency, sum(amount)::bigint FROM deposits
			WHERE client_id = ANY($1) AND status = 'completed' GROUP BY client_id, currency`, clientIDs)
		if err != nil {
			return err
		}
		var id uuid.UUID
		var cur string
		var sum int64
		_, err = pgx.ForEachRow(rows, []any{&id, &cur, &sum}, func() error {
			if out[id] == nil {
				out[id] = map[string]int64{}
			}
			out[id][cur] = sum
			return nil
		})
		return err
	})
	return out, err
}
