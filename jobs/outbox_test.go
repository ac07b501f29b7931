package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/testkit"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// relayBundle is one test's platform, Redis database, queue and inspector. The queue name is the test's own, so
// counts see no other test's tasks even when two tests draw the same Redis database.
type relayBundle struct {
	p      *tenanttest.Platform
	opt    asynq.RedisConnOpt
	client *asynq.Client
	insp   *asynq.Inspector
	queue  string
}

func setupRelay(t testing.TB) *relayBundle {
	t.Helper()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	opt, err := jobs.RedisOpt(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	b := &relayBundle{p: p, opt: opt, client: asynq.NewClient(opt), insp: asynq.NewInspector(opt), queue: "t" + tenanttest.RandomLabel(12)}
	t.Cleanup(func() {
		_ = b.insp.DeleteQueue(b.queue, true)
		b.insp.Close()
		b.client.Close()
	})
	return b
}

func (b *relayBundle) relay(o jobs.RelayOptions) *jobs.Relay {
	return jobs.NewRelay(b.p.Registry, b.p.Gate, b.p.Clusters, b.client, o)
}

// add commits n rows of type "test:thing" in one transaction of ten's scope and returns their ids.
func (b *relayBundle) add(t testing.TB, ten tenants.Tenant, n int, opts ...jobs.AddOption) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		for range n {
			key := tenanttest.RandomLabel(16)
			id, err := jobs.Outbox{}.Add(ctx, tx, "test:thing", key, thing{From: ten.Slug, Key: key}, append([]jobs.AddOption{jobs.InQueue(b.queue)}, opts...)...)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

type thing struct {
	From string `json:"from"`
	Key  string `json:"key"`
}

// tasks lists every task of the test's queue in any state (none if the queue does not exist yet).
func (b *relayBundle) tasks(t testing.TB) []*asynq.TaskInfo {
	t.Helper()
	var all []*asynq.TaskInfo
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		b.insp.ListPendingTasks, b.insp.ListScheduledTasks, b.insp.ListActiveTasks, b.insp.ListRetryTasks,
		b.insp.ListArchivedTasks, b.insp.ListCompletedTasks,
	} {
		for page := 1; ; page++ {
			got, err := list(b.queue, asynq.PageSize(1000), asynq.Page(page))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return nil
			}
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, got...)
			if len(got) < 1000 {
				break
			}
		}
	}
	return all
}

// taskIDs returns the sorted ids of the queue's tasks.
func (b *relayBundle) taskIDs(t testing.TB) []string {
	t.Helper()
	var ids []string
	for _, ti := range b.tasks(t) {
		ids = append(ids, ti.ID)
	}
	slices.Sort(ids)
	return ids
}

// rowState reads one tenant's outbox rows.
type rowState struct {
	id        uuid.UUID
	enqueued  bool
	attempts  int
	lastError string
	available time.Time
}

func (b *relayBundle) rows(t testing.TB, ten tenants.Tenant) map[uuid.UUID]rowState {
	t.Helper()
	out := map[uuid.UUID]rowState{}
	err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, enqueued_at IS NOT NULL, attempts, last_error, available_at FROM outbox`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r rowState
			if err := rows.Scan(&r.id, &r.enqueued, &r.attempts, &r.lastError, &r.available); err != nil {
				return err
			}
			out[r.id] = r
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func idStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	slices.Sort(out)
	return out
}

var errRollback = errors.New("roll back on purpose")

func TestOutboxRowOfARolledBackTransactionNeverBecomesATask(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	ctx := context.Background()
	var ghost uuid.UUID
	err := b.p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		id, err := jobs.Outbox{}.Add(ctx, tx, "test:thing", "ghost", thing{From: ten.Slug}, jobs.InQueue(b.queue))
		ghost = id
		if err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("scope: %v", err)
	}
	committed := b.add(t, ten, 1)
	n, err := b.relay(jobs.RelayOptions{}).RelayAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.taskIDs(t), idStrings(committed); n != 1 || !slices.Equal(got, want) {
		t.Fatalf("relayed %d, tasks %v; want only the committed row %v (rolled back: %s)", n, got, want, ghost)
	}
	if rows := b.rows(t, ten); len(rows) != 1 {
		t.Fatalf("outbox holds %d rows after a rollback and one commit", len(rows))
	}
}

func TestRelaysSharingATenantNeverClaimTheSameRow(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	ids := b.add(t, ten, 15)

	// Relay one claims a batch of 10 and holds its row locks until relay two has finished a whole pass: relay two
	// must skip the locked rows (not wait for them, not enqueue them) and relay only the other five.
	one := b.relay(jobs.RelayOptions{Batch: 10})
	two := b.relay(jobs.RelayOptions{Batch: 10})
	claimed := make(chan struct{})
	proceed := make(chan struct{})
	var once sync.Once
	jobs.SetBeforeMark(one, func(ctx context.Context, ids []uuid.UUID) error {
		once.Do(func() { close(claimed); <-proceed })
		return nil
	})
	var n1 int
	var err1 error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		n1, err1 = one.RelayTenant(context.Background(), ten)
	}()
	select {
	case <-claimed:
	case <-finished:
		t.Fatalf("relay one finished without claiming: %v", err1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // waiting on the locks would hang here
	n2, err2 := two.RelayTenant(ctx, ten)
	cancel()
	close(proceed)
	<-finished
	if err1 != nil || err2 != nil {
		t.Fatalf("relay one: %v; relay two: %v", err1, err2)
	}
	if n1 != 10 || n2 != 5 {
		t.Fatalf("relay one enqueued %d and relay two %d; want 10 and 5", n1, n2)
	}
	if got, want := b.taskIDs(t), idStrings(ids); !slices.Equal(got, want) {
		t.Fatalf("tasks %v, want one per row %v", got, want)
	}
	for id, r := range b.rows(t, ten) {
		if !r.enqueued || r.attempts != 1 {
			t.Errorf("row %s: enqueued %v after %d attempts; want enqueued after 1", id, r.enqueued, r.attempts)
		}
	}
}

func TestTwoRunningRelaysTurnEachCommittedRowIntoExactlyOneTask(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	tens := []tenants.Tenant{b.p.NewTenant(t, ""), b.p.NewTenant(t, "")}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		r := b.relay(jobs.RelayOptions{Batch: 7})
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	var ids []uuid.UUID
	for i := range 10 {
		ids = append(ids, b.add(t, tens[i%2], 6)...)
	}
	want := idStrings(ids)
	testkit.Eventually(t, 30*time.Second, "every row relayed", func() bool {
		for _, ten := range tens {
			for _, r := range b.rows(t, ten) {
				if !r.enqueued {
					return false
				}
			}
		}
		return true
	})
	if got := b.taskIDs(t); !slices.Equal(got, want) {
		t.Fatalf("%d tasks for %d rows:\n got %v\nwant %v", len(got), len(want), got, want)
	}
}

func TestRelayCrashBetweenEnqueueAndMarkStillGivesOneTask(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	ids := b.add(t, ten, 4)
	ctx := context.Background()

	crashing := b.relay(jobs.RelayOptions{})
	crash := errors.New("process died before marking")
	jobs.SetBeforeMark(crashing, func(context.Context, []uuid.UUID) error { return crash })
	if _, err := crashing.RelayTenant(ctx, ten); !errors.Is(err, crash) {
		t.Fatalf("crashing relay: %v", err)
	}
	want := idStrings(ids)
	if got := b.taskIDs(t); !slices.Equal(got, want) {
		t.Fatalf("after the crash: tasks %v, want %v", got, want)
	}
	for id, r := range b.rows(t, ten) {
		if r.enqueued {
			t.Fatalf("row %s is marked although the mark was aborted", id)
		}
	}

	n, err := b.relay(jobs.RelayOptions{}).RelayTenant(ctx, ten)
	if err != nil || n != len(ids) {
		t.Fatalf("second pass: %d, %v", n, err)
	}
	if got := b.taskIDs(t); !slices.Equal(got, want) {
		t.Fatalf("after the second pass: tasks %v, want still %v", got, want)
	}
	for id, r := range b.rows(t, ten) {
		if !r.enqueued {
			t.Fatalf("row %s not marked by the second pass", id)
		}
	}
}

// A row of a published event ("publish:<type>") becomes one task per Spread the relay's process names, each with the
// row's key and payload, its own queue and retries, and the TaskID "<row id>/<task type>"; a crash between enqueue
// and mark adds none twice; a relay that spreads nothing leaves the row pending with its error.
func TestASpreadingRowBecomesATaskPerSubscriberOnce(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	ctx := context.Background()
	var id uuid.UUID
	if err := b.p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		id, err = jobs.Outbox{}.Add(ctx, tx, jobs.SpreadPrefix+"test.happened", "evt-1", thing{From: ten.Slug, Key: "evt-1"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Without a spread: the row stays pending, with its error, for a relay that has one.
	if n, err := b.relay(jobs.RelayOptions{}).RelayTenant(ctx, ten); n != 0 || err == nil || !strings.Contains(err.Error(), "spreads no rows") {
		t.Fatalf("a relay without a spread: %d, %v", n, err)
	}
	if r := b.rows(t, ten)[id]; r.enqueued || !strings.Contains(r.lastError, "spreads no rows") {
		t.Fatalf("row after a relay without a spread: %+v", r)
	}
	if err := b.p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE outbox SET available_at = now()`) // its backoff over
		return err
	}); err != nil {
		t.Fatal(err)
	}
	spread := jobs.RelayOptions{Spread: func(rowType string) []jobs.Spread {
		if rowType != jobs.SpreadPrefix+"test.happened" {
			t.Errorf("spread asked for %q", rowType)
		}
		return []jobs.Spread{{Type: "event:test.first", Queue: b.queue, MaxRetry: 3}, {Type: "event:test.second", Queue: b.queue, MaxRetry: 7}}
	}}
	crashing := b.relay(spread)
	crash := errors.New("process died before marking")
	jobs.SetBeforeMark(crashing, func(context.Context, []uuid.UUID) error { return crash })
	if _, err := crashing.RelayTenant(ctx, ten); !errors.Is(err, crash) {
		t.Fatalf("crashing relay: %v", err)
	}
	if n, err := b.relay(spread).RelayTenant(ctx, ten); n != 1 || err != nil {
		t.Fatalf("second pass: %d, %v", n, err)
	}
	tasks := b.tasks(t)
	if len(tasks) != 2 {
		t.Fatalf("%d tasks, want one per subscriber", len(tasks))
	}
	byType := map[string]*asynq.TaskInfo{}
	for _, ti := range tasks {
		byType[ti.Type] = ti
	}
	for typ, retries := range map[string]int{"event:test.first": 3, "event:test.second": 7} {
		ti := byType[typ]
		if ti == nil || ti.ID != id.String()+"/"+typ || ti.MaxRetry != retries {
			t.Fatalf("task %s: %+v", typ, ti)
		}
		var env jobs.Envelope
		if err := json.Unmarshal(ti.Payload, &env); err != nil || env.TenantID != ten.ID || env.Key != "evt-1" || !strings.Contains(string(env.Payload), `"key":"evt-1"`) {
			t.Fatalf("task %s envelope %+v: %v", typ, env, err)
		}
	}
	if !b.rows(t, ten)[id].enqueued {
		t.Fatal("the row is not marked enqueued")
	}
}

func TestRelayPicksUpACommittedRowOnItsNotification(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	// An hour between sweeps: only the notification can bring the row over within the deadline.
	r := b.relay(jobs.RelayOptions{Sweep: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatalf("relay stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("relay not ready within 30s")
	}
	for round := range 2 { // twice: the relay keeps listening after its first wake-up
		ids := b.add(t, ten, 1)
		testkit.Eventually(t, 10*time.Second, "task for the committed row", func() bool {
			return slices.Contains(b.taskIDs(t), ids[0].String())
		})
		if got := len(b.taskIDs(t)); got != round+1 {
			t.Fatalf("round %d: %d tasks", round, got)
		}
	}
}

func TestRelayPassOfOneTenantCarriesOnlyThatTenant(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	names := b.p.Clusters.Names()
	a := b.p.NewTenant(t, names[0])
	other := b.p.NewTenant(t, names[len(names)-1]) // on another cluster when the harness runs two
	aIDs := b.add(t, a, 3)
	otherIDs := b.add(t, other, 3)
	ctx := context.Background()
	r := b.relay(jobs.RelayOptions{})

	if n, err := r.RelayTenant(ctx, a); err != nil || n != 3 {
		t.Fatalf("relay a: %d, %v", n, err)
	}
	if got, want := b.taskIDs(t), idStrings(aIDs); !slices.Equal(got, want) {
		t.Fatalf("after a's pass: tasks %v, want only a's rows %v", got, want)
	}
	for id, row := range b.rows(t, other) {
		if row.enqueued {
			t.Fatalf("a's pass marked the other tenant's row %s", id)
		}
	}
	if n, err := r.RelayAll(ctx); err != nil || n != 3 {
		t.Fatalf("relay all: %d, %v", n, err)
	}
	if got, want := b.taskIDs(t), idStrings(append(aIDs, otherIDs...)); !slices.Equal(got, want) {
		t.Fatalf("after the sweep: tasks %v, want %v", got, want)
	}
	owner := map[string]tenants.Tenant{}
	for _, id := range aIDs {
		owner[id.String()] = a
	}
	for _, id := range otherIDs {
		owner[id.String()] = other
	}
	for _, ti := range b.tasks(t) {
		var p thing
		e, err := jobs.Open(asynq.NewTask(ti.Type, ti.Payload), &p)
		if err != nil {
			t.Fatal(err)
		}
		want := owner[ti.ID]
		if e.TenantID != want.ID || p.From != want.Slug || e.Key != p.Key || ti.Type != "test:thing" {
			t.Errorf("task %s: tenant %s, payload %+v, key %q; want the row of %s (%s)", ti.ID, e.TenantID, p, e.Key, want.Slug, want.ID)
		}
	}
}

func TestAFailedEnqueueIsKeptWithItsErrorAndRetriedLater(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	ids := b.add(t, ten, 2)
	// Nothing listens on port 1: every enqueue fails at once.
	down := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: time.Second})
	defer down.Close()
	r := jobs.NewRelay(b.p.Registry, b.p.Gate, b.p.Clusters, down, jobs.RelayOptions{})
	start := time.Now()
	n, err := r.RelayTenant(context.Background(), ten)
	if err == nil || n != 0 {
		t.Fatalf("relay against a dead Redis: %d, %v", n, err)
	}
	rows := b.rows(t, ten)
	var failed, untouched []uuid.UUID
	for _, id := range ids {
		row := rows[id]
		switch {
		case row.enqueued:
			t.Fatalf("row %s marked enqueued although Redis was down", id)
		case row.attempts == 1:
			failed = append(failed, id)
			// Pushed back by at least the first backoff (5s) counted from the failure, which happened after start.
			if row.lastError == "" || row.available.Before(start.Add(5*time.Second)) {
				t.Errorf("failed row %s: last error %q, next try %s; want an error and a try after %s", id, row.lastError, row.available, start.Add(5*time.Second))
			}
		case row.attempts == 0:
			untouched = append(untouched, id)
		}
	}
	// The batch stops at the first failure; the other row is left as it was for the next pass.
	if len(failed) != 1 || len(untouched) != 1 {
		t.Fatalf("failed %v, untouched %v; want one of each", failed, untouched)
	}
	if _, err := b.relay(jobs.RelayOptions{}).RelayTenant(context.Background(), ten); err != nil {
		t.Fatal(err)
	}
	relayedBy := time.Now()
	rows = b.rows(t, ten)
	if !rows[untouched[0]].enqueued {
		t.Fatal("a healthy relay did not relay the untouched row")
	}
	if r := rows[failed[0]]; r.enqueued && r.available.After(relayedBy) {
		t.Fatalf("the backed-off row was relayed before its next try at %s", r.available)
	}
}

func TestDelayedRowIsEnqueuedAtOnceAsAScheduledTask(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	ids := b.add(t, ten, 1, jobs.ProcessAt(at), jobs.WithMaxRetry(2), jobs.WithTimeout(90*time.Second))
	if n, err := b.relay(jobs.RelayOptions{}).RelayTenant(context.Background(), ten); err != nil || n != 1 {
		t.Fatalf("relay: %d, %v", n, err)
	}
	ti, err := b.insp.GetTaskInfo(b.queue, ids[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if ti.State != asynq.TaskStateScheduled || !ti.NextProcessAt.Equal(at) || ti.MaxRetry != 2 || ti.Timeout != 90*time.Second {
		t.Fatalf("task %+v; want scheduled at %s, max retry 2, timeout 90s", ti, at)
	}
}

func TestAddingTheSameKeyTwiceKeepsOneRowAndADifferentPayloadIsRefused(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	ctx := context.Background()
	add := func(payload any) (uuid.UUID, error) {
		var id uuid.UUID
		err := b.p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			id, err = jobs.Outbox{}.Add(ctx, tx, "test:thing", "deposit-42", payload, jobs.InQueue(b.queue))
			return err
		})
		return id, err
	}
	first, err := add(map[string]int{"amount": 100})
	if err != nil {
		t.Fatal(err)
	}
	again, err := add(map[string]int{"amount": 100})
	if err != nil || again != first {
		t.Fatalf("second add of the same work: %s, %v; want %s", again, err, first)
	}
	if _, err := add(map[string]int{"amount": 999}); !errors.Is(err, jobs.ErrKeyReused) {
		t.Fatalf("same key, other payload: %v", err)
	}
	if rows := b.rows(t, ten); len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	err = b.p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := jobs.Outbox{}.Add(ctx, tx, "test:thing", "", nil)
		return err
	})
	if err == nil {
		t.Fatal("a row without an idempotency key was added")
	}
}

func TestPrunerDeletesOnlyEnqueuedRowsPastRetention(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	ctx := context.Background()
	relayed := b.add(t, ten, 3)
	if n, err := b.relay(jobs.RelayOptions{}).RelayTenant(ctx, ten); err != nil || n != 3 {
		t.Fatalf("relay: %d, %v", n, err)
	}
	pending := b.add(t, ten, 2)

	keep := jobs.OutboxPruner{Registry: b.p.Registry, Gate: b.p.Gate, Retention: time.Hour}
	if n, err := keep.Prune(ctx, ten); err != nil || n != 0 {
		t.Fatalf("prune with an hour's retention: %d, %v", n, err)
	}
	// The handler path, as the scheduler's per-tenant task runs it.
	prune := jobs.OutboxPruner{Registry: b.p.Registry, Gate: b.p.Gate, Retention: time.Microsecond}
	tasks := jobs.NewTasks(b.p.Registry)
	prune.Register(tasks)
	mux := tasks.Mux()
	task, err := jobs.NewTask(jobs.TaskOutboxPrune, ten.ID, "prune-now", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.ProcessTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	rows := b.rows(t, ten)
	for _, id := range relayed {
		if _, ok := rows[id]; ok {
			t.Errorf("enqueued row %s survived pruning", id)
		}
	}
	for _, id := range pending {
		if _, ok := rows[id]; !ok {
			t.Errorf("pending row %s was pruned", id)
		}
	}
	unknown, err := jobs.NewTask(jobs.TaskOutboxPrune, uuid.New(), "prune-now", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.ProcessTask(ctx, unknown); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("pruning an unknown tenant: %v; want SkipRetry", err)
	}
}

func TestATenantNotYetMigratedToTheOutboxHasNothingToRelay(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	ten := b.p.NewTenant(t, "")
	// As a tenant looks to a new worker during a rolling deploy, before `brokerdesk migrate` reached it.
	err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DROP TABLE outbox`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.relay(jobs.RelayOptions{}).RelayTenant(context.Background(), ten); err != nil || n != 0 {
		t.Fatalf("relay: %d, %v; want nothing and no error", n, err)
	}
}
