package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/testkit"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

func TestABatchSubscriberGetsManyEventsInOneTransactionEachOnceInPublishingOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	var batches [][]string
	events.LaterBatch(b.hall, "test.batch", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, ds []events.Delivery[thingHappened]) error {
		names := make([]string, len(ds))
		for i, d := range ds {
			if err := effect(ctx, tx, "test.batch", d.Event.Name); err != nil {
				return err
			}
			names[i] = d.Event.Name
		}
		mu.Lock()
		batches = append(batches, names)
		mu.Unlock()
		return nil
	})
	const n = 60
	for i := range n { // published before the worker starts, so they wait together
		if err := b.publish(thingHappened{Name: fmt.Sprint(i)}, func(context.Context, pgx.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	b.work(t)
	testkit.Eventually(t, 20*time.Second, "every event delivered", func() bool {
		for i := range n {
			if b.effects(t, "test.batch", fmt.Sprint(i)) != 1 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if len(batches) >= n {
		t.Fatalf("%d batches for %d events: the deliveries were not batched", len(batches), n)
	}
	for _, names := range batches {
		for i := 1; i < len(names); i++ {
			var a, c int
			fmt.Sscan(names[i-1], &a)
			fmt.Sscan(names[i], &c)
			if a >= c {
				t.Fatalf("a batch out of publishing order: %v", names)
			}
		}
	}
}

func TestAnEventABatchCannotHandleHoldsBackOnlyItself(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var poisoned sync.Once
	healed := make(chan struct{})
	events.LaterBatch(b.hall, "test.batch_poison", func(ctx context.Context, tx pgx.Tx, _ tenants.Tenant, ds []events.Delivery[thingHappened]) error {
		for _, d := range ds {
			if d.Event.Name == "poison" {
				select {
				case <-healed:
				default:
					return errors.New("cannot handle poison yet")
				}
			}
			if err := effect(ctx, tx, "test.batch_poison", d.Event.Name); err != nil {
				return err
			}
		}
		return nil
	})
	for _, name := range []string{"a", "poison", "b", "c"} {
		if err := b.publish(thingHappened{Name: name}, func(context.Context, pgx.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	b.work(t)
	testkit.Eventually(t, 20*time.Second, "the events around the poison delivered", func() bool {
		return b.effects(t, "test.batch_poison", "a") == 1 && b.effects(t, "test.batch_poison", "b") == 1 && b.effects(t, "test.batch_poison", "c") == 1
	})
	if n := b.effects(t, "test.batch_poison", "poison"); n != 0 {
		t.Fatalf("the failing event had an effect (%d)", n)
	}
	poisoned.Do(func() { close(healed) })
	testkit.Eventually(t, 20*time.Second, "the failing event delivered on a retry", func() bool { return b.effects(t, "test.batch_poison", "poison") == 1 })
	for _, name := range []string{"a", "b", "c"} {
		if n := b.effects(t, "test.batch_poison", name); n != 1 {
			t.Fatalf("%s had its effect %d times after the retries, want once", name, n)
		}
	}
}
