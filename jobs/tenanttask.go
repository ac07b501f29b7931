package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// TenantHandler handles a task for the tenant named in its envelope.
type TenantHandler func(ctx context.Context, t tenants.Tenant, e Envelope) error

// ForTenant turns h into an Asynq handler: it opens the envelope, loads the tenant from the registry and puts it in
// ctx (for logs), drops the task for a tenant that no longer exists, and skips tenants that have no schema to work
// on (not yet provisioned, or deleted). Every per-tenant task type is registered through it, so no handler
// repeats those rules.
func ForTenant(reg *tenants.Registry, h TenantHandler) asynq.HandlerFunc {
	return func(ctx context.Context, task *asynq.Task) error {
		e, err := Open(task, nil)
		if err != nil {
			return err
		}
		t, err := reg.Get(ctx, e.TenantID)
		if errors.Is(err, tenants.ErrNotFound) {
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		if err != nil {
			return err
		}
		if t.Status != tenants.StatusActive && t.Status != tenants.StatusSuspended {
			return nil
		}
		return h(tenants.WithTenant(ctx, t), t, e)
	}
}
