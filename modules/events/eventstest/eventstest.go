// Package eventstest helps tests and benchmarks drive the event hall's subscribers by hand.
package eventstest

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// DeliverBatches delivers ds to the LaterBatch subscriber named subscriber as the worker would: in batches of
// jobs.BatchMaxSize, each through events.DeliverBatch (its delivery records and fn, one transaction), workers
// batches at a time (the queue's worker concurrency). It returns the first error; the other workers stop at their
// next batch.
func DeliverBatches[E events.Event](ctx context.Context, gate *tenants.Gate, t tenants.Tenant, subscriber string, ds []events.Delivery[E],
	workers int, fn events.BatchHandler[E]) error {
	var next atomic.Int64
	var failed atomic.Bool
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				from := int(next.Add(jobs.BatchMaxSize)) - jobs.BatchMaxSize
				if from >= len(ds) {
					return
				}
				if err := events.DeliverBatch(ctx, gate, t, subscriber, ds[from:min(from+jobs.BatchMaxSize, len(ds))], fn); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return first
}
