package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// NotifyChannel is the Postgres channel the outbox trigger (migrations/tenant/0003_outbox.sql) notifies on commit,
// with the tenant's schema as payload.
const NotifyChannel = "brokerdesk_outbox"

// ErrKeyReused is returned by Outbox.Add when the outbox already holds the same task type and idempotency key with
// a different payload: the key names one piece of work, and two different pieces under one name is a bug.
var ErrKeyReused = errors.New("jobs: idempotency key reused with a different payload")

// Outbox writes tasks into a tenant's outbox table inside the caller's transaction. A task added through it exists
// exactly when the caller's business change commits: a rollback leaves no job behind, and a commit is followed by
// the relay enqueueing it. Never enqueue to Asynq directly from inside a transaction; use Add.
//
// The zero value is ready to use; DefaultQueue, if set, is the queue of tasks added without the Queue option.
type Outbox struct {
	DefaultQueue string
}

// AddOption tunes one outbox task.
type AddOption func(*addOptions)

type addOptions struct {
	queue     string
	maxRetry  *int
	timeout   time.Duration
	processAt time.Time
}

// InQueue puts the task on queue (one of the Queue* constants; default QueueDefault).
func InQueue(queue string) AddOption { return func(o *addOptions) { o.queue = queue } }

// WithMaxRetry caps the task's retries (Asynq's default is 25).
func WithMaxRetry(n int) AddOption { return func(o *addOptions) { o.maxRetry = &n } }

// WithTimeout bounds one run of the task (Asynq's default is 30 minutes). Asynq counts whole seconds.
func WithTimeout(d time.Duration) AddOption { return func(o *addOptions) { o.timeout = d } }

// ProcessAt keeps the task from running before t. The relay still enqueues it at once (as an Asynq scheduled
// task), so the delay costs the outbox nothing.
func ProcessAt(t time.Time) AddOption { return func(o *addOptions) { o.processAt = t } }

// Add records a task of type typ with idempotency key key and payload (JSON-encoded; nil for none) in tx, which must
// be a tenant scope's transaction (tenants.Gate.Scope). It returns the outbox row id, which becomes the Asynq
// TaskID. Adding the same type and key again while the first row is retained returns the first row's id and adds
// nothing; the same key with a different payload returns ErrKeyReused.
func (o Outbox) Add(ctx context.Context, tx pgx.Tx, typ, key string, payload any, opts ...AddOption) (uuid.UUID, error) {
	r, err := o.row(typ, key, payload, opts)
	if err != nil {
		return uuid.Nil, err
	}
	// ON CONFLICT DO NOTHING keeps a retried Add from failing the caller's transaction; the conflict is then
	// resolved below. The unqualified table name resolves through the scope's search_path to this tenant only.
	var got uuid.UUID
	err = tx.QueryRow(ctx, insertOutbox+` RETURNING id`, r...).Scan(&got)
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("jobs: add %s to outbox: %w", typ, err)
	}
	var same bool
	err = tx.QueryRow(ctx, `SELECT id, payload IS NOT DISTINCT FROM $3::jsonb FROM outbox WHERE task_type = $1 AND idem_key = $2`,
		typ, key, r[3]).Scan(&got, &same)
	if err != nil {
		return uuid.Nil, fmt.Errorf("jobs: read existing %s outbox row: %w", typ, err)
	}
	if !same {
		return uuid.Nil, fmt.Errorf("%w: %s %q", ErrKeyReused, typ, key)
	}
	return got, nil
}

// OutboxTask is one task of AddEachNew.
type OutboxTask struct {
	Type, Key string
	Payload   any
	Options   []AddOption
}

// AddEachNew is Add for tasks whose keys are new by construction (an event's fresh id): one statement writes
// them all with the transaction's next statement (database.ExecLater), so they cost no round trip of their own
// and no ids come back (events published together, a group of deposits', cost one statement, not one per row).
// A key that was used before adds nothing.
func (o Outbox) AddEachNew(ctx context.Context, tx pgx.Tx, tasks []OutboxTask) error {
	if len(tasks) == 0 {
		return nil
	}
	n := len(tasks)
	var (
		ids                 = make([]uuid.UUID, n)
		types, keys, queues = make([]string, n), make([]string, n), make([]string, n)
		payloads            = make([]*string, n)
		retries             = make([]*int, n)
		timeouts            = make([]*int64, n)
		processAt           = make([]*time.Time, n)
	)
	for i, task := range tasks {
		r, err := o.row(task.Type, task.Key, task.Payload, task.Options)
		if err != nil {
			return err
		}
		ids[i], types[i], keys[i], queues[i] = r[0].(uuid.UUID), r[1].(string), r[2].(string), r[4].(string)
		if raw := r[3].([]byte); raw != nil {
			text := string(raw)
			payloads[i] = &text
		}
		retries[i], timeouts[i], processAt[i] = r[5].(*int), r[6].(*int64), r[7].(*time.Time)
	}
	if err := database.ExecLater(ctx, tx, `INSERT INTO outbox (id, task_type, idem_key, payload, queue, max_retry, timeout_seconds, process_at)
		SELECT i, ty, k, p::jsonb, q, m, t, a FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[],
			$8::timestamptz[]) WITH ORDINALITY AS x(i, ty, k, p, q, m, t, a, n) ORDER BY n
		ON CONFLICT (task_type, idem_key) DO NOTHING`, ids, types, keys, payloads, queues, retries, timeouts, processAt); err != nil {
		return fmt.Errorf("jobs: add %d tasks to outbox: %w", n, err)
	}
	return nil
}

const insertOutbox = `INSERT INTO outbox (id, task_type, idem_key, payload, queue, max_retry, timeout_seconds, process_at)
		VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
		ON CONFLICT (task_type, idem_key) DO NOTHING`

// row checks an outbox task and returns its row's values, in insertOutbox's order.
func (o Outbox) row(typ, key string, payload any, opts []AddOption) ([]any, error) {
	if typ == "" || key == "" {
		return nil, errors.New("jobs: an outbox task needs a type and an idempotency key")
	}
	ao := addOptions{queue: o.DefaultQueue}
	for _, opt := range opts {
		opt(&ao)
	}
	if ao.queue == "" {
		ao.queue = QueueDefault
	}
	if ao.maxRetry != nil && *ao.maxRetry < 0 {
		return nil, fmt.Errorf("jobs: %s: negative max retry", typ)
	}
	var timeoutSeconds *int64
	if ao.timeout > 0 {
		s := int64(max(ao.timeout.Round(time.Second), time.Second) / time.Second)
		timeoutSeconds = &s
	}
	var processAt *time.Time
	if !ao.processAt.IsZero() {
		processAt = &ao.processAt
	}
	var raw []byte // NULL for no payload; pgx sends []byte to jsonb as the JSON text itself
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("jobs: encode %s payload: %w", typ, err)
		}
		raw = b
	}
	// v7 ids grow with time, so the primary key index stays append-mostly.
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("jobs: outbox id: %w", err)
	}
	return []any{id, typ, key, raw, ao.queue, ao.maxRetry, timeoutSeconds, processAt}, nil
}

// TaskOutboxPrune deletes one tenant's outbox rows enqueued longer ago than the retention.
const TaskOutboxPrune = "outbox:prune"

// OutboxPruner keeps outbox tables small: enqueued rows are only kept so an operator can see what was relayed,
// and so a retried Add of the same key stays a no-op for a while. It runs as a per-tenant scheduled task.
type OutboxPruner struct {
	Registry *tenants.Registry
	Gate     *tenants.Gate
	// Retention is how long enqueued rows are kept. Default 7 days.
	Retention time.Duration
}

// pruneChunk bounds one DELETE, so pruning a large backlog never holds one long transaction.
const pruneChunk = 5000

// Entry is the pruner's scheduler entry: hourly, for every active tenant.
func (p OutboxPruner) Entry() Entry {
	return Entry{Name: "outbox-prune", Every: time.Hour, Type: TaskOutboxPrune, Queue: QueueLow, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(3), asynq.Timeout(10 * time.Minute)}}
}

// Register adds the pruner's handler and its hourly entry to t. Deleting what is already gone is a no-op, so a task
// run twice is harmless.
func (p OutboxPruner) Register(t *Tasks) {
	t.Handle(TaskOutboxPrune, func(ctx context.Context, ten tenants.Tenant, _ Envelope) error {
		_, err := p.Prune(ctx, ten)
		return err
	})
	t.Every(p.Entry())
}

// Prune deletes t's outbox rows enqueued more than Retention ago and returns how many.
func (p OutboxPruner) Prune(ctx context.Context, t tenants.Tenant) (int64, error) {
	retention := p.Retention
	if retention <= 0 {
		retention = 7 * 24 * time.Hour
	}
	var total int64
	for {
		var n int64
		err := p.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id IN (
				SELECT id FROM outbox WHERE enqueued_at < now() - make_interval(secs => $1) LIMIT $2)`,
				retention.Seconds(), pruneChunk)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune outbox of %s: %w", t.Slug, err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}
