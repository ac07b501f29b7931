package tradingdesk

import (
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Door is the desk's front door: the servers', account types' and accounts' API and pages, the connection checks
// and account openings in the worker, the demo brokerage's simulator servers, offer and linked accounts, and how
// its actions read in the audit trail, and a client's accounts, requests and deals in a data export.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:        "tradingdesk",
		Routes:      func(api *web.API) { Routes(api, s) },
		PageFiles:   PageFiles,
		Pages:       s.mountPages,
		Tasks:       s.Tasks,
		Subscribe:   s.Subscribe,
		DemoSeeders: []tenants.Seeder{demoSeeder{s}},
		Demo:        s.demo,
		Data:        s,
		Trail:       s.trail,
	}
}
