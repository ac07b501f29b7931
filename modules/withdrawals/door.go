package withdrawals

import (
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
)

// Door is the module's front door: the withdrawals' API, the lots it counts from the trading desk's deal events,
// and how its actions read in the audit trail.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:      "withdrawals",
		Routes:    func(api *web.API) { Routes(api, s) },
		PageFiles: PageFiles,
		Pages:     s.mountPages,
		Subscribe: s.Subscribe,
		Tasks:     s.Tasks,
		Demo:      s.demo,
		Data:      s,
		Trail:     s.trail,
	}
}
