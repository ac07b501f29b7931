package kyc

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Waiting counts the undecided cases (open and claimed: the queue's default view) and those of them past the SLA.
// One query over the queue's partial index (status <> 'decided').
func (s *Service) Waiting(ctx context.Context, t tenants.Tenant) (waiting, overdue int, err error) {
	err = s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE opened_at < $1) FROM kyc_cases WHERE status <> 'decided'`,
			s.now().Add(-st.SLA())).Scan(&waiting, &overdue)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("kyc waiting cases: %w", err)
	}
	return waiting, overdue, nil
}

// tiles are the review's counts on the back office's home page: the cases waiting, linking to the queue, with the
// overdue ones as the alert line, linking to the queue's overdue filter.
func (p *pages) tiles() []web.Tile {
	return []web.Tile{{Group: web.GroupCompliance, Label: "KYC cases waiting", Href: queuePath, Permission: PermReview,
		Count: func(c *fiber.Ctx) (web.TileCount, error) {
			waiting, overdue, err := p.s.Waiting(c.UserContext(), tenants.Current(c))
			if err != nil {
				return web.TileCount{}, err
			}
			n := web.TileCount{Value: waiting}
			if overdue > 0 {
				n.Detail, n.Alert, n.DetailHref = strconv.Itoa(overdue)+" overdue", true, queuePath+"?overdue=true"
			}
			return n, nil
		}}}
}
