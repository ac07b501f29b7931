package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Batch subscribers. A Later subscriber whose work is far cheaper done many events at a time (counting deals
// toward bonuses: one statement for hundreds of deals) subscribes with LaterBatch. Its deliveries are batched
// tasks (jobs.IsBatch): the worker aggregates the tenant's pending deliveries of the subscriber, up to
// jobs.BatchMaxSize, after about jobs.BatchGracePeriod without a new one and at most jobs.BatchMaxDelay after the
// first, so a delivery waits a second or a few more than a single one does. A batch runs in one transaction of
// the tenant's scope together with one event_deliveries row per event, so an event delivered in two batches (a
// relay retry) has its effect once, exactly as a single delivery's. If the batch's transaction fails, its events
// are delivered one at a time, each in its own transaction: one event that cannot be handled holds back only
// itself, and the batch's retry finds the others recorded.

// Delivery is one event of a batch, with its envelope.
type Delivery[E Event] struct {
	Meta  Meta
	Event E
}

// BatchHandler reacts to events of type E after their publishers committed, many at a time, in one transaction
// of tenant t's scope that also records their deliveries; ds are in publishing order (their ids are UUIDv7) and
// never hold an event already delivered. Return an error to roll the batch back: its events are then tried one at
// a time.
type BatchHandler[E Event] func(ctx context.Context, tx pgx.Tx, t tenants.Tenant, ds []Delivery[E]) error

// BatchTaskType is the Asynq task type of a LaterBatch subscriber's deliveries.
func BatchTaskType(subscriber string) string { return jobs.BatchPrefix + TaskType(subscriber) }

// LaterBatch subscribes fn, named name, to events of type E, to run after the publishers committed, in batches
// (see above). The options are Later's.
func LaterBatch[E Event](h *Hall, name string, fn BatchHandler[E], opts ...LaterOption) {
	var zero E
	typ := zero.EventType()
	if _, platform := any(zero).(PlatformEvent); platform {
		h.errs = append(h.errs, fmt.Errorf("events: subscriber %q: %s is a platform event, which takes OnTx subscribers only", name, typ))
		return
	}
	if !h.claim(name, typ) {
		return
	}
	s := laterSubscriber{name: name, eventType: typ, queue: jobs.QueueDefault, maxRetry: DefaultMaxRetry,
		runBatch: func(ctx context.Context, tx pgx.Tx, t tenants.Tenant, raw []delivery) error {
			ds := make([]Delivery[E], len(raw))
			for i, d := range raw {
				if err := json.Unmarshal(d.Event, &ds[i].Event); err != nil {
					return fmt.Errorf("events: %s payload of %s for %s: %w", typ, d.Meta.ID, name, err)
				}
				ds[i].Meta = d.Meta
			}
			return fn(ctx, tx, t, ds)
		}}
	for _, o := range opts {
		o(&s)
	}
	h.later[typ] = append(h.later[typ], s)
}

// deliverBatch runs a batch of s's deliveries in t's scope (see above). Members that cannot be read or name
// another tenant are never run: the rest are delivered, and the task is then archived naming them.
func (h *Hall) deliverBatch(ctx context.Context, t tenants.Tenant, s laterSubscriber, envs []jobs.Envelope) error {
	var bad []error
	ds := make([]delivery, 0, len(envs))
	seen := make(map[uuid.UUID]bool, len(envs))
	for _, env := range envs {
		var d delivery
		switch err := json.Unmarshal(env.Payload, &d); {
		case err != nil:
			bad = append(bad, fmt.Errorf("%s delivery %s: %v", s.name, env.Key, err))
		case d.Meta.TenantID != t.ID:
			bad = append(bad, fmt.Errorf("%s delivery of event %s names tenant %s, not %s", s.name, d.Meta.ID, d.Meta.TenantID, t.ID))
		case !seen[d.Meta.ID]:
			seen[d.Meta.ID] = true
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, func(a, b delivery) int { return slices.Compare(a.Meta.ID[:], b.Meta.ID[:]) })
	err := h.runBatch(ctx, t, s, ds)
	if err != nil && len(ds) > 1 {
		var errs []error
		for _, d := range ds {
			if err := h.runBatch(ctx, t, s, []delivery{d}); err != nil {
				errs = append(errs, fmt.Errorf("event %s: %w", d.Meta.ID, err))
			}
		}
		err = errors.Join(errs...)
	}
	if err != nil {
		return fmt.Errorf("events: %s: %w", s.name, err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: events: %w", jobs.SkipRetry, errors.Join(bad...))
	}
	return nil
}

// runBatch records ds's deliveries to s and runs s on those not delivered before, in one transaction.
func (h *Hall) runBatch(ctx context.Context, t tenants.Tenant, s laterSubscriber, ds []delivery) error {
	if len(ds) == 0 {
		return nil
	}
	return h.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		fresh, err := recordTx(ctx, tx, s.name, s.eventType, ds, func(d delivery) uuid.UUID { return d.Meta.ID })
		if err != nil || len(fresh) == 0 {
			return err
		}
		return s.runBatch(ctx, tx, t, fresh)
	})
}

// DeliverBatch runs ds as one batch of the LaterBatch subscriber named subscriber, in t's scope, as the worker runs
// an aggregated batch: one transaction with their delivery records and fn on the events not delivered before. For
// tools and benchmarks that drive a batch subscriber's handler by hand.
func DeliverBatch[E Event](ctx context.Context, gate *tenants.Gate, t tenants.Tenant, subscriber string, ds []Delivery[E], fn BatchHandler[E]) error {
	if len(ds) == 0 {
		return nil
	}
	var zero E
	return gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		fresh, err := recordTx(ctx, tx, subscriber, zero.EventType(), ds, func(d Delivery[E]) uuid.UUID { return d.Meta.ID })
		if err != nil || len(fresh) == 0 {
			return err
		}
		return fn(ctx, tx, t, fresh)
	})
}

// recordTx writes the delivery records of ds to subscriber and returns those not delivered before (a delivery
// recorded earlier committed its effect with that record), in their order.
func recordTx[D any](ctx context.Context, tx pgx.Tx, subscriber, eventType string, ds []D, id func(D) uuid.UUID) ([]D, error) {
	ids := make([]uuid.UUID, len(ds))
	for i, d := range ds {
		ids[i] = id(d)
	}
	rows, err := tx.Query(ctx, `INSERT INTO event_deliveries (subscriber, event_id, event_type)
		SELECT $1, id, $3 FROM unnest($2::uuid[]) AS id ON CONFLICT DO NOTHING RETURNING event_id`, subscriber, ids, eventType)
	if err != nil {
		return nil, fmt.Errorf("record deliveries: %w", err)
	}
	fresh, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("record deliveries: %w", err)
	}
	if len(fresh) == len(ds) {
		return ds, nil
	}
	isFresh := make(map[uuid.UUID]bool, len(fresh))
	for _, f := range fresh {
		isFresh[f] = true
	}
	return slices.DeleteFunc(slices.Clone(ds), func(d D) bool { return !isFresh[id(d)] }), nil
}
