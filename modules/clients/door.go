package clients

import (
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Door is the module's front door: the clients API and pages, the verification email task, the demo clients, and
// the client's profile and status history in a data export.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:      "clients",
		Routes:    func(api *web.API) { Routes(api, s) },
		PageFiles: PageFiles,
		Pages:     func(shell *web.Shell) { MountPages(shell, s) },
		Tasks: func(t *jobs.Tasks) {
			t.Handle(TaskSendVerification, s.HandleSendVerification)
		},
		DemoSeeders: []tenants.Seeder{DemoSeeder{ThroughReview: true}},
		Data:        s,
		Trail:       s.trail,
	}
}
