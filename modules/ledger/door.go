package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// TaskVerify is the nightly per-tenant verification (Verify).
const TaskVerify = "ledger:verify"

// Door is the module's front door: the nightly verification of every tenant's ledger.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name: "ledger",
		Tasks: func(t *jobs.Tasks) {
			t.Handle(TaskVerify, func(ctx context.Context, ten tenants.Tenant, _ jobs.Envelope) error {
				_, err := s.VerifyAndReport(ctx, ten)
				return err
			})
			t.Every(jobs.Entry{Name: "ledger-verify", Cron: "30 2 * * *", Type: TaskVerify, Queue: jobs.QueueLow, PerTenant: true,
				Options: []asynq.Option{asynq.MaxRetry(3), asynq.Timeout(30 * time.Minute)}})
		},
	}
}

// VerifyAndReport runs Verify and, when it finds a discrepancy, logs it and announces it (EventVerifyFailed), so the
// exceptions queue gives finance a case. The same discrepancy found again the next night is announced again.
func (s *Service) VerifyAndReport(ctx context.Context, t tenants.Tenant) (Report, error) {
	r, err := s.Verify(ctx, t)
	if err != nil || r.OK() {
		return r, err
	}
	s.o.Log.ErrorContext(ctx, "ledger verification failed", "tenant", t.Slug, "problem", r.Problem.String())
	err = s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return s.o.Events.Publish(ctx, tx, t, VerifyFailed{Problem: *r.Problem, CheckedAt: s.o.Now().UTC()})
	})
	if err != nil {
		return r, fmt.Errorf("ledger: announce the failed verification of %s: %w", t.Slug, err)
	}
	return r, nil
}
