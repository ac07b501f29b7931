package identity

import (
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Sessions are the page sessions of the tenant hosts (web.Sessions): the page shell is built on them.
func (s *Service) Sessions() *Sessions { return s.sessions }

// Door is the module's front door: the sign-in API and pages (with the shell's sessions), the emails of password
// resets and two-factor resets, the demo logins, and the client's portal logins in a data export.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:      "identity",
		Routes:    func(api *web.API) { Routes(api, s) },
		PageFiles: PageFiles,
		Pages:     func(shell *web.Shell) { MountPages(shell, s.sessions) },
		Tasks: func(t *jobs.Tasks) {
			t.Handle(TaskPasswordReset, s.HandlePasswordReset)
			t.Handle(TaskTwoFactorResetNotice, s.HandleTwoFactorResetNotice)
		},
		DemoSeeders: []tenants.Seeder{DemoSeeder{Hasher: s.o.Hasher}},
		Data:        s,
		Trail:       s.trail,
	}
}
