package bonuses

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
)

// OpenBonusesTx answers withdrawals' Bonuses: the client's open bonuses in currency, which a withdrawal from that
// wallet would forfeit, oldest first.
func (s *Service) OpenBonusesTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, currency string) ([]withdrawals.OpenBonus, error) {
	rows, err := tx.Query(ctx, selectBonus+` WHERE b.client_id = $1 AND b.currency = $2 AND b.status = 'open' ORDER BY b.granted_at, b.id`,
		client, currency)
	if err != nil {
		return nil, err
	}
	bs, err := scanBonuses(rows)
	if err != nil {
		return nil, err
	}
	out := make([]withdrawals.OpenBonus, 0, len(bs))
	for _, b := range bs {
		out = append(out, withdrawals.OpenBonus{ID: b.ID, Amount: b.Amount,
			Description: fmt.Sprintf("%s, %s (%s of %s lots traded, expires %s)", b.RuleName, b.Amount, b.LotsDone.StringFixed(2),
				b.LotsRequired.StringFixed(2), b.ExpiresAt.Format("2 Jan 2006"))})
	}
	return out, nil
}

// Installed is true: the check's answer says the bonus engine was asked.
func (s *Service) Installed() bool { return true }

var _ withdrawals.Bonuses = (*Service)(nil)
