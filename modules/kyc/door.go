package kyc

import (
	"context"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Door is the module's front door: the review API and pages (queue, case, settings) with the compliance tiles, the
// case every uploaded document opens, the demo brokerage's queue, and the client's reviews in a data export.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:      "kyc",
		Routes:    func(api *web.API) { Routes(api, s) },
		PageFiles: PageFiles,
		Pages:     func(shell *web.Shell) { MountPages(shell, s) },
		Subscribe: s.Subscribe,
		Demo: func(ctx context.Context, t tenants.Tenant) error {
			_, err := SeedDemo(ctx, s, s.docs, t)
			return err
		},
		Data:  s,
		Trail: s.trail,
	}
}
