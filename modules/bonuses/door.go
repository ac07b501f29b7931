package bonuses

import (
	"context"
	"time"

	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// TaskExpire removes a tenant's expired bonuses.
const TaskExpire = "bonuses:expire"

// TaskStopOut writes off the credit bonuses of a tenant's accounts whose equity fell to their credit.
const TaskStopOut = "bonuses:stop-out"

// expireBatch bounds the bonuses one run of TaskExpire removes; the next run takes the rest.
const expireBatch = 500

// Door is the module's front door: finance's API and pages (the rules, the bonuses, a client's bonuses and why),
// the trader's portal page, grants on completed deposits, turnover from synced deals, the emails, the expiry job in
// the worker, the demo's rule, and how its actions read in the audit trail.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:      "bonuses",
		Routes:    func(api *web.API) { Routes(api, s) },
		PageFiles: PageFiles,
		Pages:     s.mountPages,
		Subscribe: s.Subscribe,
		Tasks:     s.Tasks,
		Trail:     s.trail,
		Demo:      s.demo,
	}
}

// Subscribe registers the module's reactions: Later (each runs once per event, after the publisher committed)
// for deposit.completed, trading.deal_closed (in batches) and trading.deal_changed, the desk's credit operations
// and the client's emails of its own bonus.granted, bonus.released and bonus.forfeited; OnTx for
// withdrawal.forfeit_confirmed (the forfeiture commits with the withdrawal or not at all).
func (s *Service) Subscribe(h *events.Hall) {
	events.OnTx(h, "bonuses.forfeit", s.onForfeitConfirmed)
	events.Later(h, "bonuses.grant", s.onDeposit)
	events.LaterBatch(h, "bonuses.deal_closed", s.onDealsClosed, events.InQueue(jobs.QueueSync))
	events.Later(h, "bonuses.deal_changed", s.onDealChanged, events.InQueue(jobs.QueueSync))
	events.Later(h, "bonuses.credit_finished", s.onCreditFinished, events.InQueue(jobs.QueueSync))
	s.subscribeEmails(h)
}

// Tasks registers the expiry job: every ExpireEvery per tenant.
func (s *Service) Tasks(tt *jobs.Tasks) {
	tt.Handle(TaskExpire, func(ctx context.Context, t tenants.Tenant, _ jobs.Envelope) error {
		_, err := s.ExpireDue(ctx, t, expireBatch)
		return err
	})
	tt.Every(jobs.Entry{Name: "bonuses-expire", Every: s.o.ExpireEvery, Type: TaskExpire, Queue: jobs.QueueDefault, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(3)}})
	tt.Handle(TaskStopOut, func(ctx context.Context, t tenants.Tenant, _ jobs.Envelope) error {
		_, err := s.WriteOffStoppedOut(ctx, t)
		return err
	})
	// Queue sync, beside the desk's platform work: each run reads platforms.
	tt.Every(jobs.Entry{Name: "bonuses-stop-out", Every: s.o.StopOutEvery, Type: TaskStopOut, Queue: jobs.QueueSync, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(0), asynq.Timeout(5 * time.Minute)}})
}
