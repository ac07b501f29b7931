package partners

import (
	"context"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Deposits totals clients' completed deposits per currency (minor units), for a partner's referred clients, in one
// read for the whole list. cmd/brokerdesk answers it from the payments room's service, which reads its own tables.
type Deposits interface {
	Deposits(ctx context.Context, t tenants.Tenant, clientIDs []uuid.UUID) (map[uuid.UUID]map[string]int64, error)
}

// depositsOf reads the referred clients' deposits when the module has a Deposits; none otherwise.
func (s *Service) depositsOf(ctx context.Context, t tenants.Tenant, refs []Referred) error {
	if s.o.Deposits == nil || len(refs) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(refs))
	for i, r := range refs {
		ids[i] = r.ClientID
	}
	totals, err := s.o.Deposits.Deposits(ctx, t, ids)
	if err != nil {
		return err
	}
	for i := range refs {
		refs[i].Deposits = totals[refs[i].ClientID]
		if refs[i].Deposits == nil {
			refs[i].Deposits = map[string]int64{}
		}
	}
	return nil
}
