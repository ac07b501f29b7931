package partners

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Door is the module's front door: the API for ib_managers, attribution at registration, the commission engine on
// synced deals and first deposits, the batch poster in the worker, the demo's partner tree, a client's share of
// an export and erasure, and how its actions read in the audit trail.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:      "partners",
		Routes:    func(api *web.API) { Routes(api, s) },
		PageFiles: PageFiles,
		Pages:     s.mountPages,
		Subscribe: s.Subscribe,
		Tasks:     s.Tasks,
		Trail:     s.trail,
		Data:      s,
		Demo:      s.demo,
	}
}

// Subscribe registers the module's reactions, all Later (each runs once per event, after the publisher committed):
// client.registered, trading.deal_closed (LaterBatch: many deals computed in one transaction),
// trading.deal_changed and deposit.completed; and its own
// partners.commission_recorded, OnTx, as the notification that wakes the IB portal's live streams at commit.
func (s *Service) Subscribe(h *events.Hall) {
	events.OnTx(h, "partners.live_push", s.notifyLive)
	events.Later(h, "partners.attribute_client", s.attributeRegistered)
	events.LaterBatch(h, "partners.deal_closed", s.onDealsClosed, events.InQueue(jobs.QueueSync))
	events.Later(h, "partners.deal_changed", s.onDealChanged, events.InQueue(jobs.QueueSync))
	events.Later(h, "partners.cpa", s.onDeposit)
}

// Tasks registers the batch poster: every PostEvery per tenant.
func (s *Service) Tasks(tt *jobs.Tasks) {
	tt.Handle(TaskPostEarnings, func(ctx context.Context, t tenants.Tenant, _ jobs.Envelope) error {
		_, err := s.PostEarnings(ctx, t)
		return err
	})
	tt.Every(jobs.Entry{Name: "partners-post-earnings", Every: s.o.PostEvery, Type: TaskPostEarnings, Queue: jobs.QueueDefault, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(3)}})
}
