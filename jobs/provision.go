package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// TaskProvisionTenant provisions (or resumes provisioning of) one tenant.
const TaskProvisionTenant = "tenants:provision"

// NewProvisionTenantTask builds the provisioning task for a requested tenant.
func NewProvisionTenantTask(id uuid.UUID) (*asynq.Task, error) {
	return NewTask(TaskProvisionTenant, id, id.String(), nil,
		asynq.Queue(QueueCritical), asynq.MaxRetry(20), asynq.Timeout(5*time.Minute), asynq.Retention(24*time.Hour))
}

// Provisioning handles provisioning tasks.
type Provisioning struct {
	Provisioner *tenants.Provisioner
}

// HandleProvisionTenant runs the provisioner. A run that finds another process provisioning the same tenant, or
// fails on a step, retries with backoff (every step is idempotent); a tenant that is gone or deleted is not retried.
func (p Provisioning) HandleProvisionTenant(ctx context.Context, t *asynq.Task) error {
	e, err := Open(t, nil)
	if err != nil {
		return err
	}
	_, err = p.Provisioner.Provision(ctx, e.TenantID)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tenants.ErrNotFound), errors.Is(err, tenants.ErrBadTransition):
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	default:
		return err
	}
}

// Register adds the provisioning handler to t.
func (p Provisioning) Register(t *Tasks) {
	t.HandlePlatform(TaskProvisionTenant, p.HandleProvisionTenant)
}
