package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Batched tasks. Work that is far cheaper done many at a time (a deal event counted toward bonuses, say: one
// set-based statement for five hundred deals instead of five hundred transactions) is given a task type starting
// with BatchPrefix. The relay enqueues such a task into an Asynq group named by its tenant and type, and the worker
// server aggregates each group into one task when it holds BatchMaxSize tasks, when no task joined it for
// BatchGracePeriod, or at the latest BatchMaxDelay after its first: a batch never mixes tenants or types. The
// batch's handler (Tasks.HandleBatch) gets every member's envelope and returns one error for all of them, so it
// must be idempotent member by member (the event hall's batch deliveries record each member, as single ones do).
//
// A batch is retried as a whole with Asynq's default retries (25, its backoff); members keep no retry count of
// their own.

// BatchPrefix begins every batched task type: "batch-event:bonuses.deal_closed".
const BatchPrefix = "batch-"

// IsBatch reports whether tasks of type typ are aggregated into batches.
func IsBatch(typ string) bool { return strings.HasPrefix(typ, BatchPrefix) }

// How batches form (asynq.Config's Group* settings).
const (
	BatchMaxSize     = 500
	BatchGracePeriod = time.Second // Asynq's minimum
	BatchMaxDelay    = 3 * time.Second
)

// WithBatches is c aggregating batched task types (every worker server needs it, NewServer's and tests' own).
func WithBatches(c asynq.Config) asynq.Config {
	c.GroupAggregator = asynq.GroupAggregatorFunc(aggregate)
	c.GroupMaxSize, c.GroupGracePeriod, c.GroupMaxDelay = BatchMaxSize, BatchGracePeriod, BatchMaxDelay
	return c
}

// batchGroup is the Asynq group of a batched task: its tenant and its type.
func batchGroup(tenantID uuid.UUID, typ string) string { return tenantID.String() + "/" + typ }

// Batch is the payload of an aggregated task: the tenant of its group and every member's envelope, in the order
// they were aggregated.
type Batch struct {
	TenantID uuid.UUID  `json:"tenant_id"`
	Items    []Envelope `json:"items"`
}

// aggregate joins a group's tasks into one: their envelopes, unread, in a Batch of the group's tenant. A member
// whose envelope names another tenant (which the relay never writes) is refused by the handler, not here.
func aggregate(group string, tasks []*asynq.Task) *asynq.Task {
	tenant, typ, _ := strings.Cut(group, "/")
	var b bytes.Buffer
	b.WriteString(`{"tenant_id":`)
	tb, _ := json.Marshal(tenant)
	b.Write(tb)
	b.WriteString(`,"items":[`)
	for i, t := range tasks {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(t.Payload())
	}
	b.WriteString(`]}`)
	if typ == "" && len(tasks) > 0 {
		typ = tasks[0].Type()
	}
	return asynq.NewTask(typ, b.Bytes())
}

// BatchHandler handles a batch of tasks of one type for one tenant.
type BatchHandler func(ctx context.Context, t tenants.Tenant, items []Envelope) error

// HandleBatch serves batched tasks of type typ (which must start with BatchPrefix) for the tenant of their group.
// Every member must name that tenant: a batch holding another's is refused whole, never run.
func (t *Tasks) HandleBatch(typ string, h BatchHandler) {
	if !IsBatch(typ) {
		t.errs = append(t.errs, fmt.Errorf("jobs: batched task type %q must start with %q", typ, BatchPrefix))
		return
	}
	if !t.claim(typ) {
		return
	}
	reg := t.reg
	t.mux.HandleFunc(typ, func(ctx context.Context, task *asynq.Task) error {
		var b Batch
		if err := json.Unmarshal(task.Payload(), &b); err != nil {
			return fmt.Errorf("%w: %s batch: %v", asynq.SkipRetry, task.Type(), err)
		}
		for _, e := range b.Items {
			if e.TenantID != b.TenantID {
				return fmt.Errorf("%w: %s batch of tenant %s holds a task of tenant %s", asynq.SkipRetry, task.Type(), b.TenantID, e.TenantID)
			}
		}
		ten, err := reg.Get(ctx, b.TenantID)
		if errors.Is(err, tenants.ErrNotFound) {
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		if err != nil {
			return err
		}
		if ten.Status != tenants.StatusActive && ten.Status != tenants.StatusSuspended {
			return nil
		}
		return h(tenants.WithTenant(ctx, ten), ten, b.Items)
	})
}
