package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// TypeIdempotencyPrune deletes one tenant's expired API idempotency keys (tenants.IdempotencyStore).
const TypeIdempotencyPrune = "idempotency:prune"

// IdempotencyPruner runs tenants.IdempotencyStore.Prune for every tenant hourly. An expired key is already treated
// as absent by the store; pruning only keeps the table small.
type IdempotencyPruner struct {
	Registry *tenants.Registry
	Gate     *tenants.Gate
}

// Entry is the pruner's scheduler entry: hourly, for every active tenant.
func (p IdempotencyPruner) Entry() Entry {
	return Entry{Name: "idempotency-prune", Every: time.Hour, Type: TypeIdempotencyPrune, Queue: QueueLow, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(3), asynq.Timeout(10 * time.Minute)}}
}

// Register adds the pruner's handler to mux.
func (p IdempotencyPruner) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeIdempotencyPrune, p.HandlePrune)
}

// HandlePrune prunes the task's tenant; running it twice is harmless.
func (p IdempotencyPruner) HandlePrune(ctx context.Context, task *asynq.Task) error {
	e, err := Open(task, nil)
	if err != nil {
		return err
	}
	t, err := p.Registry.Get(ctx, e.TenantID)
	if errors.Is(err, tenants.ErrNotFound) {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	if err != nil {
		return err
	}
	if t.Status != tenants.StatusActive && t.Status != tenants.StatusSuspended {
		return nil
	}
	_, err = tenants.NewIdempotencyStore(p.Gate).Prune(ctx, t)
	return err
}
