package documents

import (
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
)

// Door is the module's front door: the documents API and the portal's upload page, the expiry job and the deletion
// of an erased client's files, and the client's documents in a data export.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:      "documents",
		Routes:    func(api *web.API) { Routes(api, s, s.o.Portal) },
		PageFiles: PageFiles,
		Pages:     func(shell *web.Shell) { MountPages(shell, s, s.o.Portal) },
		Tasks:     s.Tasks,
		Data:      s,
		Trail:     s.trail,
	}
}
