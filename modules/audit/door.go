package audit

import (
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
)

// Door is the module's front door: the audit trail's page. (Every module records through Record in its own
// transaction; the trail itself has nothing else to wire.)
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{Name: "audit", PageFiles: PageFiles, Pages: func(shell *web.Shell) { MountPages(shell, s) }}
}
