package events_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/testkit"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres, localsvc.Redis) }

// thingHappened is a test event; its payload round-trips through JSON for Later subscribers.
type thingHappened struct {
	Name string `json:"name"`
}

func (thingHappened) EventType() string { return "test.thing_happened" }

type platformThing struct{}

func (platformThing) EventType() string { return "test.platform_thing" }
func (platformThing) PlatformScoped()   {}

type bundle struct {
	p    *tenanttest.Platform
	ten  tenants.Tenant
	hall *events.Hall
}

func setup(t *testing.T) *bundle {
	t.Helper()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	return &bundle{p: p, ten: p.NewTenant(t, ""), hall: events.New(events.Options{Gate: p.Gate})}
}

// effect records that subscriber ran for name: one settings row per (subscriber, name), counting runs.
func effect(ctx context.Context, tx pgx.Tx, subscriber, name string) error {
	_, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, '1'::jsonb)
		ON CONFLICT (key) DO UPDATE SET value = to_jsonb(settings.value::int + 1)`, "effect:"+subscriber+":"+name)
	return err
}

// effects reads how often subscriber's effect for name committed.
func (b *bundle) effects(t *testing.T, subscriber, name string) int {
	t.Helper()
	var n int
	err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT value::int FROM settings WHERE key = $1`, "effect:"+subscriber+":"+name).Scan(&n)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (b *bundle) outboxRows(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// publish publishes e in a transaction of the bundle's tenant that also runs change, and commits unless change
// or the publish fails.
func (b *bundle) publish(e events.Event, change func(ctx context.Context, tx pgx.Tx) error) error {
	return b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := b.hall.Publish(ctx, tx, b.ten, e); err != nil {
			return err
		}
		return change(ctx, tx)
	})
}

// work runs the Later deliveries: the outbox relay and a worker over the hall's tasks, retrying failures at once.
func (b *bundle) work(t *testing.T) {
	t.Helper()
	if err := b.hall.Err(); err != nil {
		t.Fatal(err)
	}
	opt, err := jobs.RedisOpt(localsvc.RedisDB(t))
	if err != nil {
		t.Fatal(err)
	}
	tasks := jobs.NewTasks(b.p.Registry)
	b.hall.Register(tasks)
	if err := tasks.Err(); err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServer(opt, jobs.WithBatches(asynq.Config{Concurrency: 4, Queues: jobs.QueueWeights,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 10 * time.Millisecond }}))
	if err := srv.Start(tasks.Mux()); err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	ctx, cancel := context.WithCancel(context.Background())
	relay := jobs.NewRelay(b.p.Registry, b.p.Gate, b.p.Clusters, client, jobs.RelayOptions{Spread: b.hall.Spread})
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Shutdown()
		client.Close()
	})
}

func TestARolledBackChangePublishesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events.OnTx(b.hall, "test.in_tx", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e thingHappened) error {
		return effect(ctx, tx, "test.in_tx", e.Name)
	})
	events.Later(b.hall, "test.later", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e thingHappened) error {
		return effect(ctx, tx, "test.later", e.Name)
	})
	b.work(t)

	failed := errors.New("the change failed")
	if err := b.publish(thingHappened{Name: "rolled-back"}, func(context.Context, pgx.Tx) error { return failed }); !errors.Is(err, failed) {
		t.Fatalf("publish with a failing change: %v", err)
	}
	if n := b.outboxRows(t); n != 0 {
		t.Fatalf("%d outbox rows after a rollback, want none", n)
	}
	if n := b.effects(t, "test.in_tx", "rolled-back"); n != 0 {
		t.Fatalf("the in-transaction subscriber's effect survived the rollback (%d)", n)
	}
	// A committed event after it is delivered, so the worker was running all along and simply had nothing to do.
	if err := b.publish(thingHappened{Name: "committed"}, func(context.Context, pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "the committed event's later effect", func() bool { return b.effects(t, "test.later", "committed") == 1 })
	if n := b.effects(t, "test.later", "rolled-back"); n != 0 {
		t.Fatalf("the later subscriber ran for a rolled-back event (%d)", n)
	}
}

func TestAFailingInTransactionSubscriberRollsTheChangeBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	refuse := errors.New("refused")
	events.OnTx(b.hall, "test.refuses", func(context.Context, pgx.Tx, tenants.Tenant, events.Meta, thingHappened) error { return refuse })
	err := b.publish(thingHappened{Name: "x"}, func(ctx context.Context, tx pgx.Tx) error { return effect(ctx, tx, "publisher", "x") })
	if !errors.Is(err, refuse) || !strings.Contains(err.Error(), "test.refuses") {
		t.Fatalf("publish: %v, want the subscriber's error naming it", err)
	}
	if n := b.effects(t, "publisher", "x"); n != 0 {
		t.Fatal("the publisher's change committed although a subscriber in its transaction failed")
	}
}

func TestPublishingWithNoSubscribersWritesNoOutboxRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events.Later(b.hall, "test.other_event", func(context.Context, pgx.Tx, tenants.Tenant, events.Meta, otherEvent) error { return nil })
	if err := b.publish(thingHappened{Name: "nobody listens"}, func(context.Context, pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := b.outboxRows(t); n != 0 {
		t.Fatalf("%d outbox rows for an event nobody subscribes to", n)
	}
}

// otherEvent is another event type, so the hall in the test above is not empty.
type otherEvent struct{}

func (otherEvent) EventType() string { return "test.other" }

func TestALaterSubscriberThatFailsIsRetriedAndHasItsEffectOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var runs atomic.Int32
	events.Later(b.hall, "test.flaky", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e thingHappened) error {
		if err := effect(ctx, tx, "test.flaky", e.Name); err != nil {
			return err
		}
		if runs.Add(1) <= 3 {
			return errors.New("not yet") // the effect above rolls back with the delivery record
		}
		return nil
	})
	b.work(t)
	if err := b.publish(thingHappened{Name: "once"}, func(context.Context, pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "the flaky subscriber's fourth run", func() bool { return runs.Load() >= 4 })
	testkit.Eventually(t, 5*time.Second, "its effect", func() bool { return b.effects(t, "test.flaky", "once") == 1 })
	if n := b.effects(t, "test.flaky", "once"); n != 1 {
		t.Fatalf("effect committed %d times, want once", n)
	}
}

func TestADeliveryRepeatedAfterItSucceededHasNoSecondEffect(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var runs atomic.Int32
	events.Later(b.hall, "test.counted", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e thingHappened) error {
		runs.Add(1)
		return effect(ctx, tx, "test.counted", e.Name)
	})
	if err := b.publish(thingHappened{Name: "twice"}, func(context.Context, pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// The outbox row as the relay would enqueue it, delivered twice (a crash between enqueue and mark, say).
	var payload []byte
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT payload FROM outbox WHERE task_type = $1`, events.PublishType(thingHappened{}.EventType())).Scan(&payload)
	}); err != nil {
		t.Fatal(err)
	}
	tasks := jobs.NewTasks(b.p.Registry)
	b.hall.Register(tasks)
	for i := range 2 {
		task, err := jobs.NewTask(events.TaskType("test.counted"), b.ten.ID, "k", rawJSON(payload))
		if err != nil {
			t.Fatal(err)
		}
		if err := tasks.Mux().ProcessTask(context.Background(), task); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if runs.Load() != 1 || b.effects(t, "test.counted", "twice") != 1 {
		t.Fatalf("two deliveries ran the subscriber %d times with %d effects, want once", runs.Load(), b.effects(t, "test.counted", "twice"))
	}
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

func TestTwoSubscribersOfOneEventDoNotSeeEachOthersFailures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var brokenRuns atomic.Int32
	events.Later(b.hall, "test.broken", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e thingHappened) error {
		brokenRuns.Add(1)
		if err := effect(ctx, tx, "test.broken", e.Name); err != nil {
			return err
		}
		return errors.New("always fails")
	}, events.MaxRetry(2))
	events.Later(b.hall, "test.healthy", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e thingHappened) error {
		return effect(ctx, tx, "test.healthy", e.Name)
	})
	b.work(t)
	if err := b.publish(thingHappened{Name: "shared"}, func(context.Context, pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "the healthy subscriber's effect", func() bool { return b.effects(t, "test.healthy", "shared") == 1 })
	testkit.Eventually(t, 15*time.Second, "the broken subscriber's three runs", func() bool { return brokenRuns.Load() >= 3 })
	if n := b.effects(t, "test.broken", "shared"); n != 0 {
		t.Fatalf("the failing subscriber's effect committed %d times", n)
	}
}

// An event's row taken whole as a task (by a relay of the release before, which does not spread rows) still reaches
// every subscriber, a batch subscriber too, once each however often it runs.
func TestAnEventsRowRelayedWholeReachesEachSubscriberOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events.Later(b.hall, "test.one", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, _ events.Meta, e thingHappened) error {
		return effect(ctx, tx, "test.one", e.Name)
	})
	events.LaterBatch(b.hall, "test.many", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, ds []events.Delivery[thingHappened]) error {
		for _, d := range ds {
			if err := effect(ctx, tx, "test.many", d.Event.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err := b.publish(thingHappened{Name: "whole"}, func(context.Context, pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := b.hall.Spread(events.PublishType(thingHappened{}.EventType())); len(got) != 2 || got[0].Type != events.TaskType("test.one") ||
		got[1].Type != events.BatchTaskType("test.many") {
		t.Fatalf("the row spreads to %+v, want both subscribers' tasks", got)
	}
	var key string
	var payload []byte
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT idem_key, payload FROM outbox WHERE task_type = $1`, events.PublishType(thingHappened{}.EventType())).Scan(&key, &payload)
	}); err != nil {
		t.Fatal(err)
	}
	tasks := jobs.NewTasks(b.p.Registry)
	b.hall.Register(tasks)
	if err := tasks.Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		task, err := jobs.NewTask(events.PublishType(thingHappened{}.EventType()), b.ten.ID, key, rawJSON(payload))
		if err != nil {
			t.Fatal(err)
		}
		if err := tasks.Mux().ProcessTask(context.Background(), task); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	for _, sub := range []string{"test.one", "test.many"} {
		if n := b.effects(t, sub, "whole"); n != 1 {
			t.Errorf("%s: %d effects, want 1", sub, n)
		}
	}
}

func TestSubscriptionsAreCheckedWhenTheProcessIsWired(t *testing.T) {
	t.Parallel()
	h := events.New(events.Options{})
	nop := func(context.Context, pgx.Tx, tenants.Tenant, events.Meta, thingHappened) error { return nil }
	events.OnTx(h, "test.first", nop)
	events.Later(h, "test.first", nop) // the same name twice
	events.Later(h, "NoDot", nop)
	events.Later(h, "test.platform", func(context.Context, pgx.Tx, tenants.Tenant, events.Meta, platformThing) error { return nil })
	err := h.Err()
	for _, want := range []string{`"test.first" registered twice`, `"NoDot"`, "platform event"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %v, want it to mention %s", err, want)
		}
	}
	if got := h.Subscribers("test.thing_happened"); len(got) != 1 || got[0] != "test.first" {
		t.Errorf("subscribers %v", got)
	}
}

func TestAPlatformEventReachesItsInTransactionSubscriberInThePlatformTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var seen tenants.Tenant
	events.OnTx(b.hall, "test.platform_audit", func(ctx context.Context, tx pgx.Tx, ten tenants.Tenant, m events.Meta, _ platformThing) error {
		seen = ten
		if m.TenantID != ten.ID || m.Type != "test.platform_thing" {
			t.Errorf("meta %+v for tenant %s", m, ten.ID)
		}
		var one int
		return tx.QueryRow(ctx, `SELECT 1 FROM platform.tenants WHERE id = $1`, ten.ID).Scan(&one)
	})
	err := pgx.BeginFunc(context.Background(), b.p.Clusters.Platform(), func(tx pgx.Tx) error {
		return b.hall.Publish(context.Background(), tx, b.ten, platformThing{})
	})
	if err != nil || seen.ID != b.ten.ID {
		t.Fatalf("publish: %v; subscriber saw tenant %s", err, seen.ID)
	}
}
