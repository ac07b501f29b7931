package jobs

import (
	"context"
	"time"

	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// TaskIdempotencyPrune deletes one tenant's expired API idempotency keys (tenants.IdempotencyStore).
const TaskIdempotencyPrune = "idempotency:prune"

// IdempotencyPruner runs tenants.IdempotencyStore.Prune for every tenant hourly. An expired key is already treated
// as absent by the store; pruning only keeps the table small.
type IdempotencyPruner struct {
	Registry *tenants.Registry
	Gate     *tenants.Gate
}

// Entry is the pruner's scheduler entry: hourly, for every active tenant.
func (p IdempotencyPruner) Entry() Entry {
	return Entry{Name: "idempotency-prune", Every: time.Hour, Type: TaskIdempotencyPrune, Queue: QueueLow, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(3), asynq.Timeout(10 * time.Minute)}}
}

// Register adds the pruner's handler and its hourly entry to t. Pruning what is already gone is a no-op, so a task
// run twice is harmless.
func (p IdempotencyPruner) Register(t *Tasks) {
	t.Handle(TaskIdempotencyPrune, func(ctx context.Context, ten tenants.Tenant, _ Envelope) error {
		_, err := tenants.NewIdempotencyStore(p.Gate).Prune(ctx, ten)
		return err
	})
	t.Every(p.Entry())
}
