package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// RelayOptions tune a Relay. Zero values take the defaults.
type RelayOptions struct {
	// Batch is how many rows one claim takes (one transaction per batch). Default 100.
	Batch int
	// Sweep is about how often every active tenant is visited even without a notification: the backstop for a
	// notification lost in a way the relay could not see. Each sweep costs one short transaction per active tenant
	// per worker, so raise it with many tenants. Default 1 minute, with ±10% jitter so workers spread out.
	Sweep time.Duration
	// Concurrency is how many tenants are relayed at once. Default 4.
	Concurrency int
	// TaskRetention keeps a relayed task's id in Redis after it completes, so a row enqueued again after a crash
	// between enqueue and mark is still refused as a duplicate instead of running twice. Default 10 minutes.
	TaskRetention time.Duration
	// Spread names the tasks an outbox row whose type begins with SpreadPrefix becomes (the event hall's
	// events.Hall.Spread). A relay without it leaves such rows pending, with an error an operator sees.
	Spread func(rowType string) []Spread
	Log    *slog.Logger
}

// SpreadPrefix begins the type of an outbox row that is not a task but becomes several: the event hall writes one
// row per published event, "publish:<event type>", and the relay turns it into a task per subscriber
// (RelayOptions.Spread), so an event costs its publisher's transaction one row however many subscribe.
const SpreadPrefix = "publish:"

// Spread is one task a spreading outbox row becomes: its type, queue and retries. It carries the row's key and
// payload, and its TaskID is the row's id and its type, so a row enqueued again after a crash adds none twice.
type Spread struct {
	Type     string
	Queue    string
	MaxRetry int
}

// Relay moves committed outbox rows of every active tenant into Asynq. Delivery is at least once: a row becomes a
// task with TaskID = the row id (a spreading row, one task per Spread, each with the row id and its type), and only
// then is the row marked enqueued; if the process dies in between, the next pass enqueues it again and Redis
// refuses the duplicate id (the task's retention covers that window; after it, the handler's own dedupe on the
// envelope's key does).
//
// Rows are claimed with FOR UPDATE SKIP LOCKED inside the tenant's scope, so any number of relays (one per worker)
// share the work without claiming a row twice or waiting on each other. A relay wakes on the NOTIFY the outbox
// insert trigger sends at commit, and sweeps every active tenant every Sweep as a backstop; it never polls.
type Relay struct {
	reg      *tenants.Registry
	gate     *tenants.Gate
	clusters *database.Clusters
	client   *asynq.Client
	o        RelayOptions
	log      *slog.Logger

	ready chan struct{}

	// beforeMark, when set (tests only), runs after a batch is enqueued and before it is marked; an error aborts
	// the mark as a crash would.
	beforeMark func(ctx context.Context, ids []uuid.UUID) error
}

// NewRelay returns a relay over the given registry, gate and clusters, enqueueing through client.
func NewRelay(reg *tenants.Registry, gate *tenants.Gate, clusters *database.Clusters, client *asynq.Client, o RelayOptions) *Relay {
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Sweep <= 0 {
		o.Sweep = time.Minute
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.TaskRetention <= 0 {
		o.TaskRetention = 10 * time.Minute
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{reg: reg, gate: gate, clusters: clusters, client: client, o: o, log: log.With("component", "outbox-relay"),
		ready: make(chan struct{})}
}

// Ready is closed once the relay listens for notifications on every cluster and has finished the start-up sweep
// of every tenant: from then on a committed row is relayed on its notification, without waiting for a sweep.
func (r *Relay) Ready() <-chan struct{} { return r.ready }

// outboxRow is a claimed row.
type outboxRow struct {
	id             uuid.UUID
	typ, key       string
	payload        []byte
	queue          string
	maxRetry       *int
	timeoutSeconds *int
	processAt      *time.Time
}

// tasks builds the row's Asynq tasks: the row itself, or for a spreading row one per Spread. The envelope carries
// the tenant whose scope the row was read in.
func (r *Relay) tasks(tenantID uuid.UUID, row outboxRow) ([]*asynq.Task, error) {
	b, err := json.Marshal(Envelope{TenantID: tenantID, Key: row.key, Payload: row.payload})
	if err != nil {
		return nil, fmt.Errorf("envelope of outbox row %s: %w", row.id, err)
	}
	if !strings.HasPrefix(row.typ, SpreadPrefix) {
		return []*asynq.Task{r.task(tenantID, row, row.typ, row.id.String(), row.queue, row.maxRetry, b)}, nil
	}
	if r.o.Spread == nil {
		return nil, fmt.Errorf("outbox row %s is a %s, and this relay spreads no rows", row.id, row.typ)
	}
	var out []*asynq.Task
	for _, s := range r.o.Spread(row.typ) {
		out = append(out, r.task(tenantID, row, s.Type, row.id.String()+"/"+s.Type, s.Queue, &s.MaxRetry, b))
	}
	return out, nil
}

// task is one Asynq task of row: of type typ, with id and queue, carrying envelope.
func (r *Relay) task(tenantID uuid.UUID, row outboxRow, typ, id, queue string, maxRetry *int, envelope []byte) *asynq.Task {
	opts := []asynq.Option{asynq.TaskID(id), asynq.Queue(queue), asynq.Retention(r.o.TaskRetention)}
	if maxRetry != nil {
		opts = append(opts, asynq.MaxRetry(*maxRetry))
	}
	if row.timeoutSeconds != nil {
		opts = append(opts, asynq.Timeout(time.Duration(*row.timeoutSeconds)*time.Second))
	}
	if row.processAt != nil {
		opts = append(opts, asynq.ProcessAt(*row.processAt))
	}
	if IsBatch(typ) { // aggregated with its tenant's other tasks of the type (batch.go)
		opts = append(opts, asynq.Group(batchGroup(tenantID, typ)))
	}
	return asynq.NewTask(typ, envelope, opts...)
}

// errNoOutbox is a tenant whose schema has no outbox yet: during a rolling deploy a new worker can start before
// `brokerdesk migrate` reaches every tenant, and such a tenant simply has nothing to relay.
var errNoOutbox = errors.New("tenant schema has no outbox table yet")

// relayBatch claims up to Batch pending rows of t, enqueues them and marks them, in one transaction of t's scope.
// more reports that the batch was full, so more rows may be waiting. A failed enqueue stops the batch: the rows
// before it are marked, the failing row is pushed back with backoff and its error kept for operators, and the
// rest are left for the next pass. The backoff (5s doubling to 5 minutes) counts from the failure, not from the
// transaction's start, since a failing enqueue may itself have taken seconds.
func (r *Relay) relayBatch(ctx context.Context, t tenants.Tenant) (n int, more bool, err error) {
	var enqueueErr error
	err = r.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, task_type, idem_key, payload, queue, max_retry, timeout_seconds, process_at
			FROM outbox WHERE enqueued_at IS NULL AND available_at <= now()
			ORDER BY available_at LIMIT $1 FOR UPDATE SKIP LOCKED`, r.o.Batch)
		var claimed []outboxRow
		if err == nil {
			claimed, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxRow, error) {
				var o outboxRow
				err := row.Scan(&o.id, &o.typ, &o.key, &o.payload, &o.queue, &o.maxRetry, &o.timeoutSeconds, &o.processAt)
				return o, err
			})
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return errNoOutbox // undefined_table
		}
		if err != nil {
			return fmt.Errorf("claim outbox rows: %w", err)
		}
		more = len(claimed) == r.o.Batch
		done := make([]uuid.UUID, 0, len(claimed))
		for _, row := range claimed {
			tasks, err := r.tasks(t.ID, row)
			for _, task := range tasks {
				if err == nil {
					err = Enqueue(ctx, r.client, task)
				}
			}
			if err != nil {
				enqueueErr = fmt.Errorf("enqueue outbox row %s (%s): %w", row.id, row.typ, err)
				more = false
				msg := err.Error()
				if len(msg) > 1000 {
					msg = msg[:1000]
				}
				if _, err := tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2,
					available_at = clock_timestamp() + make_interval(secs => least(300, 5 * 2 ^ least(attempts, 6)))
					WHERE id = $1`, row.id, msg); err != nil {
					return fmt.Errorf("record failed enqueue: %w", err)
				}
				break
			}
			done = append(done, row.id)
		}
		if r.beforeMark != nil {
			if err := r.beforeMark(ctx, done); err != nil {
				return err
			}
		}
		if len(done) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE outbox SET enqueued_at = now(), attempts = attempts + 1, last_error = ''
				WHERE id = ANY($1)`, done); err != nil {
				return fmt.Errorf("mark outbox rows enqueued: %w", err)
			}
		}
		n = len(done)
		return nil
	})
	if errors.Is(err, errNoOutbox) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("outbox relay, tenant %s: %w", t.Slug, err)
	}
	if enqueueErr != nil {
		return n, false, fmt.Errorf("outbox relay, tenant %s: %w", t.Slug, enqueueErr)
	}
	return n, more, nil
}

// RelayTenant relays every pending row of one tenant, batch by batch, and returns how many it enqueued.
func (r *Relay) RelayTenant(ctx context.Context, t tenants.Tenant) (int, error) {
	total := 0
	for {
		n, more, err := r.relayBatch(ctx, t)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// RelayAll relays every pending row of every active tenant once (what a sweep does, in one goroutine) and returns
// how many rows it enqueued. A failing tenant does not stop the others; their errors are joined.
func (r *Relay) RelayAll(ctx context.Context) (int, error) {
	list, err := r.reg.List(ctx, tenants.ListFilter{Statuses: []tenants.Status{tenants.StatusActive}})
	if err != nil {
		return 0, fmt.Errorf("outbox relay: %w", err)
	}
	total := 0
	var errs []error
	for _, t := range list {
		n, err := r.RelayTenant(ctx, t)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// passTimeout bounds one batch. A batch runs on a context detached from Run's, so a shutdown lets the batches in
// flight finish (and mark what they enqueued) instead of leaving work for the duplicate check.
const passTimeout = 30 * time.Second

// retryPause is how long a tenant whose pass failed waits before the next try.
const retryPause = 5 * time.Second

// jitter spreads d by ±10%, so relays started together do not sweep together.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

type passResult struct {
	t    tenants.Tenant
	n    int
	more bool
	err  error
}

// Run relays until ctx ends (call it once per Relay): it listens on every cluster, relays a tenant as soon as its
// outbox notifies, sweeps a cluster's active tenants whenever its listener (re)connects, and sweeps all of them
// about every Sweep. A tenant whose pass failed is tried again after a short pause rather than at the next sweep,
// since no notification will come for rows already committed. It returns once the batches in flight have finished.
func (r *Relay) Run(ctx context.Context) error {
	notes := make(chan string, 256)
	resync := make(chan string)
	names := r.clusters.Names()
	pools := make([]*pgxpool.Pool, len(names))
	for i, name := range names {
		var err error
		if pools[i], err = r.clusters.Pool(name); err != nil {
			return fmt.Errorf("outbox relay: %w", err)
		}
	}
	var listeners sync.WaitGroup
	for i, name := range names {
		listeners.Add(1)
		go func() {
			defer listeners.Done()
			r.listen(ctx, name, pools[i], notes, resync)
		}()
	}
	defer listeners.Wait()

	work := make(chan tenants.Tenant)
	results := make(chan passResult)
	var workers sync.WaitGroup
	for range r.o.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for t := range work {
				pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), passTimeout)
				n, more, err := r.relayBatch(pctx, t)
				cancel()
				results <- passResult{t: t, n: n, more: more, err: err}
			}
		}()
	}

	q := newTenantQueue()
	bySchema := map[string]tenants.Tenant{}
	// Readiness: every cluster's first sweep (queued when its listener first connects) has been relayed.
	swept := map[string]bool{}
	startup := map[uuid.UUID]bool{}
	markReady := func() {
		if len(swept) == len(names) && len(startup) == 0 {
			select {
			case <-r.ready:
			default:
				close(r.ready)
			}
		}
	}
	sweep := time.NewTimer(jitter(r.o.Sweep))
	defer sweep.Stop()
	retry := make(chan tenants.Tenant)
	busy := 0
	for {
		var next chan<- tenants.Tenant
		nt, ok := q.peek()
		if ok {
			next = work
		}
		select {
		case <-ctx.Done():
			close(work)
			for busy > 0 { // let the batches in flight finish and report
				<-results
				busy--
			}
			workers.Wait()
			return nil
		case schema := <-notes:
			t, ok := r.resolve(ctx, bySchema, schema)
			if ok {
				q.push(t, true)
			}
		case cluster := <-resync:
			listed := r.sweepInto(ctx, q, bySchema, cluster)
			if !swept[cluster] {
				swept[cluster] = true
				for _, t := range listed {
					startup[t.ID] = true
				}
				markReady()
			}
		case <-sweep.C:
			r.sweepInto(ctx, q, bySchema, "")
			sweep.Reset(jitter(r.o.Sweep))
		case t := <-retry:
			q.push(t, true)
		case next <- nt:
			q.pop()
			busy++
		case res := <-results:
			busy--
			q.done(res.t.ID)
			if startup[res.t.ID] {
				delete(startup, res.t.ID)
				markReady()
			}
			if res.err != nil {
				r.log.ErrorContext(ctx, "outbox relay failed", "tenant", res.t.Slug, "relayed", res.n, "err", res.err)
				// The first backoff of a failed row; rows it did not reach are due at once.
				time.AfterFunc(retryPause, func() {
					select {
					case retry <- res.t:
					case <-ctx.Done():
					}
				})
			} else if res.n > 0 {
				r.log.DebugContext(ctx, "outbox relayed", "tenant", res.t.Slug, "relayed", res.n)
			}
			if res.more {
				q.push(res.t, true)
			}
		}
	}
}

// resolve maps a notification's schema to its active tenant: from what the last sweep listed, else from the
// registry (a tenant provisioned since). Schemas of tenants that are not active are ignored.
func (r *Relay) resolve(ctx context.Context, bySchema map[string]tenants.Tenant, schema string) (tenants.Tenant, bool) {
	if t, ok := bySchema[schema]; ok {
		return t, true
	}
	slug, ok := strings.CutPrefix(schema, "tenant_")
	if !ok {
		return tenants.Tenant{}, false
	}
	// SchemaName turns '-' into '_' and slugs never hold '_', so this inverts it.
	t, err := r.reg.BySlug(ctx, strings.ReplaceAll(slug, "_", "-"))
	if err != nil {
		if !errors.Is(err, tenants.ErrNotFound) {
			r.log.WarnContext(ctx, "outbox relay cannot resolve a notification; the next sweep will cover it", "schema", schema, "err", err)
		}
		return tenants.Tenant{}, false
	}
	if t.Schema != schema || t.Status != tenants.StatusActive {
		return tenants.Tenant{}, false
	}
	bySchema[schema] = t
	return t, true
}

// sweepInto queues every active tenant of cluster ("" for all clusters) behind the notified ones, and refreshes
// the schema map from the same listing.
func (r *Relay) sweepInto(ctx context.Context, q *tenantQueue, bySchema map[string]tenants.Tenant, cluster string) []tenants.Tenant {
	list, err := r.reg.List(ctx, tenants.ListFilter{Statuses: []tenants.Status{tenants.StatusActive}, Cluster: cluster})
	if err != nil {
		if ctx.Err() == nil {
			r.log.ErrorContext(ctx, "outbox relay cannot list tenants", "cluster", cluster, "err", err)
		}
		return nil
	}
	if cluster == "" {
		clear(bySchema) // a full listing also forgets tenants that were suspended or deleted since
	}
	for _, t := range list {
		bySchema[t.Schema] = t
		q.push(t, false)
	}
	return list
}

// listen LISTENs on one cluster until ctx ends, reconnecting with backoff. Every (re)connect asks for a sweep of
// the cluster, since notifications sent while nobody listened are lost.
func (r *Relay) listen(ctx context.Context, cluster string, pool *pgxpool.Pool, notes chan<- string, resync chan<- string) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.listenOnce(ctx, pool, func() {
			backoff = 100 * time.Millisecond
			select {
			case resync <- cluster:
			case <-ctx.Done():
			}
		}, notes)
		if ctx.Err() != nil {
			return
		}
		r.log.WarnContext(ctx, "outbox listener reconnecting", "cluster", cluster, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (r *Relay) listenOnce(ctx context.Context, pool *pgxpool.Pool, connected func(), notes chan<- string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection must never go back to the pool: take it out for good.
	c := conn.Hijack()
	defer c.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := c.Exec(ctx, `LISTEN `+NotifyChannel); err != nil {
		return err
	}
	connected()
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		select {
		case notes <- n.Payload:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tenantQueue orders the tenants waiting for a pass: notified ones first, swept ones after, each tenant at most
// once, and never one that is being relayed right now (it is queued again when its pass ends, if asked meanwhile).
type tenantQueue struct {
	urgent, background []uuid.UUID
	state              map[uuid.UUID]queued
	tenant             map[uuid.UUID]tenants.Tenant
	running            map[uuid.UUID]bool
	again              map[uuid.UUID]bool // asked for while running: urgent after it ends
}

type queued int

const (
	inBackground queued = iota + 1
	inUrgent
)

func newTenantQueue() *tenantQueue {
	return &tenantQueue{state: map[uuid.UUID]queued{}, tenant: map[uuid.UUID]tenants.Tenant{},
		running: map[uuid.UUID]bool{}, again: map[uuid.UUID]bool{}}
}

func (q *tenantQueue) push(t tenants.Tenant, urgent bool) {
	q.tenant[t.ID] = t
	if q.running[t.ID] {
		q.again[t.ID] = true
		return
	}
	switch s := q.state[t.ID]; {
	case s == inUrgent, s == inBackground && !urgent:
		return
	case urgent:
		// A background entry left behind is skipped by peek, since the state no longer matches.
		q.state[t.ID] = inUrgent
		q.urgent = append(q.urgent, t.ID)
	default:
		q.state[t.ID] = inBackground
		q.background = append(q.background, t.ID)
	}
}

// peek returns the next tenant to relay, dropping stale entries.
func (q *tenantQueue) peek() (tenants.Tenant, bool) {
	for len(q.urgent) > 0 {
		if id := q.urgent[0]; q.state[id] == inUrgent {
			return q.tenant[id], true
		}
		q.urgent = q.urgent[1:]
	}
	for len(q.background) > 0 {
		if id := q.background[0]; q.state[id] == inBackground {
			return q.tenant[id], true
		}
		q.background = q.background[1:]
	}
	return tenants.Tenant{}, false
}

// pop marks the tenant peek returned as running.
func (q *tenantQueue) pop() {
	var id uuid.UUID
	if len(q.urgent) > 0 && q.state[q.urgent[0]] == inUrgent {
		id, q.urgent = q.urgent[0], q.urgent[1:]
	} else {
		id, q.background = q.background[0], q.background[1:]
	}
	delete(q.state, id)
	q.running[id] = true
}

// done ends a tenant's pass and queues it again if it was asked for meanwhile.
func (q *tenantQueue) done(id uuid.UUID) {
	delete(q.running, id)
	if q.again[id] {
		delete(q.again, id)
		q.push(q.tenant[id], true)
		return
	}
	delete(q.tenant, id) // keep the map to the tenants actually waiting or running
}
