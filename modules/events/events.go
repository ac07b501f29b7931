// Package events is the hall the modules meet in. A module announces what happened in its room as a domain event,
// published inside the transaction of the change (Publish); other modules react by subscribing by name, without the
// publisher knowing them or importing them, and without either reaching into the other's tables.
//
// There are two kinds of subscriber:
//
//   - OnTx subscribers run inside the publisher's transaction, before it commits. Their failure fails the publish,
//     and the whole change rolls back. Use them when the reaction must commit with the change or not at all (the
//     review case a new document opens, the platform audit row of a tenant's status change).
//   - Later subscribers run afterwards on a worker, at least once: the publisher's transaction writes one outbox
//     row for the event (jobs.Outbox, type "publish:<event type>", keyed by the event's id), and the relay turns it
//     into one task per Later subscriber (Spread; jobs.RelayOptions.Spread). Each delivery runs in a transaction
//     of the event's tenant together with a row of event_deliveries, so an event delivered twice has its effect
//     once, and one subscriber's failures (retried with Asynq's backoff) never hold back another's.
//
// Event types are constants owned by the producing module (documents.EventUploaded); payloads are the producer's
// typed structs, with an EventType method; the tenant travels in the envelope (Meta), never in the payload.
// Publishing an event nobody subscribes to costs nothing: no outbox row is written.
//
// Subscribers are registered while the process is wired, before it serves or works (cmd/brokerdesk walks every
// module's Subscribe): the hall is read-only afterwards, so Publish takes no lock.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Event is a domain event's payload: a struct of the producing module, whose EventType names it ("document.uploaded").
// It is an alias of an unnamed interface so that packages below this one (tenants) can declare a publisher with the
// same method signature without importing the hall.
type Event = interface{ EventType() string }

// PlatformEvent marks an event published in a platform transaction (the tenant registry's), not a tenant's: it can
// have OnTx subscribers only, since the outbox that carries Later deliveries lives in each tenant's schema.
type PlatformEvent interface {
	Event
	PlatformScoped()
}

// Meta is the envelope every subscriber receives with the payload.
type Meta struct {
	ID         uuid.UUID `json:"id"` // a UUIDv7, unique per publish
	Type       string    `json:"type"`
	TenantID   uuid.UUID `json:"tenant_id"`
	OccurredAt time.Time `json:"occurred_at"`
}

// TxHandler reacts to an event of type E inside the publisher's transaction tx (a scope of tenant t, or for a
// PlatformEvent a transaction of the platform database).
type TxHandler[E Event] func(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m Meta, e E) error

// LaterHandler reacts to an event of type E after the publisher committed, in a transaction of tenant t's scope
// that also records the delivery: return an error to roll both back and be retried.
type LaterHandler[E Event] func(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m Meta, e E) error

// Hall keeps the subscribers of every event type and publishes events to them.
type Hall struct {
	gate   *tenants.Gate
	outbox jobs.Outbox
	now    func() time.Time

	inTx  map[string][]txSubscriber
	later map[string][]laterSubscriber
	names map[string]bool
	errs  []error
}

type txSubscriber struct {
	name string
	run  func(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m Meta, e Event) error
}

type laterSubscriber struct {
	name      string
	eventType string
	queue     string
	maxRetry  int
	run       func(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m Meta, payload json.RawMessage) error
	// runBatch, set for a LaterBatch subscriber instead of run, reacts to many deliveries in one transaction.
	runBatch func(ctx context.Context, tx pgx.Tx, t tenants.Tenant, ds []delivery) error
}

// taskType is the Asynq task type of the subscriber's deliveries.
func (s laterSubscriber) taskType() string {
	if s.runBatch != nil {
		return BatchTaskType(s.name)
	}
	return TaskType(s.name)
}

// Options are the hall's collaborators.
type Options struct {
	// Gate opens the tenant scope each Later delivery runs in.
	Gate *tenants.Gate
	// Now stamps events (default time.Now).
	Now func() time.Time
}

// New returns an empty hall.
func New(o Options) *Hall {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Hall{gate: o.Gate, outbox: jobs.Outbox{DefaultQueue: jobs.QueueDefault}, now: o.Now,
		inTx: map[string][]txSubscriber{}, later: map[string][]laterSubscriber{}, names: map[string]bool{}}
}

// subscriberName is how subscribers are named: "<module>.<reaction>", e.g. "kyc.open_case". The name is part of
// the Later delivery's task type and dedupe key, so renaming a subscriber redelivers nothing and loses nothing
// only once its old name's tasks are drained.
var subscriberName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

func (h *Hall) claim(name, eventType string) bool {
	switch {
	case !subscriberName.MatchString(name):
		h.errs = append(h.errs, fmt.Errorf("events: subscriber %q: name must look like module.reaction", name))
	case eventType == "":
		h.errs = append(h.errs, fmt.Errorf("events: subscriber %q: its event type's EventType is empty", name))
	case h.names[name]:
		h.errs = append(h.errs, fmt.Errorf("events: subscriber %q registered twice", name))
	default:
		h.names[name] = true
		return true
	}
	return false
}

// OnTx subscribes fn, named name, to events of type E, to run inside the publisher's transaction. Subscribers of
// one event run in the order they were registered.
func OnTx[E Event](h *Hall, name string, fn TxHandler[E]) {
	var zero E
	typ := zero.EventType()
	if !h.claim(name, typ) {
		return
	}
	h.inTx[typ] = append(h.inTx[typ], txSubscriber{name: name, run: func(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m Meta, e Event) error {
		v, ok := e.(E)
		if !ok {
			return fmt.Errorf("events: %s published as %T, subscriber %s expects %T", typ, e, name, zero)
		}
		return fn(ctx, tx, t, m, v)
	}})
}

// LaterOption tunes a Later subscriber.
type LaterOption func(*laterSubscriber)

// InQueue runs the subscriber's deliveries on queue (one of jobs.Queue*; default jobs.QueueDefault).
func InQueue(queue string) LaterOption { return func(s *laterSubscriber) { s.queue = queue } }

// MaxRetry caps how often a failing delivery is retried before Asynq archives it (default DefaultMaxRetry).
func MaxRetry(n int) LaterOption { return func(s *laterSubscriber) { s.maxRetry = n } }

// DefaultMaxRetry is how often a failing Later delivery is retried. Asynq's backoff (n^4 + 15 s and jitter) spreads
// 20 retries over about six days, which DeliveryRetention outlasts.
const DefaultMaxRetry = 20

// DeliveryRetention is how long a delivery's record is kept: longer than the last retry of any delivery.
const DeliveryRetention = 30 * 24 * time.Hour

// Later subscribes fn, named name, to events of type E, to run once the publisher has committed (see the package
// doc). A PlatformEvent cannot have Later subscribers.
func Later[E Event](h *Hall, name string, fn LaterHandler[E], opts ...LaterOption) {
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
		run: func(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m Meta, payload json.RawMessage) error {
			var e E
			if err := json.Unmarshal(payload, &e); err != nil {
				return fmt.Errorf("events: %s payload for %s: %w", typ, name, err)
			}
			return fn(ctx, tx, t, m, e)
		}}
	for _, o := range opts {
		o(&s)
	}
	h.later[typ] = append(h.later[typ], s)
}

// Err reports every malformed subscription; the process refuses to start on one.
func (h *Hall) Err() error { return errors.Join(h.errs...) }

// Subscribers lists the names of the subscribers of eventType, OnTx ones first (for tests and the architecture doc).
func (h *Hall) Subscribers(eventType string) []string {
	var out []string
	for _, s := range h.inTx[eventType] {
		out = append(out, s.name)
	}
	for _, s := range h.later[eventType] {
		out = append(out, s.name)
	}
	return out
}

// delivery is a Later subscriber's outbox payload.
type delivery struct {
	Meta  Meta            `json:"meta"`
	Event json.RawMessage `json:"event"`
}

// TaskType is the Asynq task type of a Later subscriber's deliveries.
func TaskType(subscriber string) string { return "event:" + subscriber }

// PublishType is the outbox row type of an event of type eventType: the relay spreads the row to the event's Later
// subscribers (Spread).
func PublishType(eventType string) string { return jobs.SpreadPrefix + eventType }

// Spread is the tasks the relay makes of an outbox row of type rowType (jobs.RelayOptions.Spread): one per Later
// subscriber of the event, in the order they subscribed. The subscribers are the relay's process's: wire them the
// same way in every process (cmd/brokerdesk does), and start a release's workers before its servers.
func (h *Hall) Spread(rowType string) []jobs.Spread {
	later := h.later[strings.TrimPrefix(rowType, jobs.SpreadPrefix)]
	out := make([]jobs.Spread, 0, len(later))
	for _, s := range later {
		out = append(out, jobs.Spread{Type: s.taskType(), Queue: s.queue, MaxRetry: s.maxRetry})
	}
	return out
}

// RowTypes is the outbox row types the relay spreads to taskType (a Later subscriber's task type): for tools and
// tests that play the relay.
func (h *Hall) RowTypes(taskType string) []string {
	var out []string
	for typ, later := range h.later {
		for _, s := range later {
			if s.taskType() == taskType {
				out = append(out, PublishType(typ))
			}
		}
	}
	slices.Sort(out)
	return out
}

// Publish announces e, which happened in tx: a transaction of tenant t's scope (tenants.Gate.Scope), or for a
// PlatformEvent a transaction of the platform database about tenant t. It runs the OnTx subscribers and writes the
// event's outbox row for its Later subscribers, all in tx; an error from any of them is returned, and the caller's
// change must then roll back (returning the error from the scope's function does that).
func (h *Hall) Publish(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e Event) error {
	return h.PublishEach(ctx, tx, t, []Event{e})
}

// PublishEach is Publish for several events that happened in tx (a group of deposits completed together), in
// their order: each its own id and OnTx subscribers; the outbox rows of them all in one statement.
func (h *Hall) PublishEach(ctx context.Context, tx pgx.Tx, t tenants.Tenant, list []Event) error {
	var rows []jobs.OutboxTask
	for _, e := range list {
		typ := e.EventType()
		inTx, later := h.inTx[typ], h.later[typ]
		if len(inTx) == 0 && len(later) == 0 {
			continue
		}
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("events: id for %s: %w", typ, err)
		}
		m := Meta{ID: id, Type: typ, TenantID: t.ID, OccurredAt: h.now().UTC()}
		for _, s := range inTx {
			if err := s.run(ctx, tx, t, m, e); err != nil {
				return fmt.Errorf("%s, subscriber %s: %w", typ, s.name, err)
			}
		}
		if len(later) == 0 {
			continue
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("events: encode %s: %w", typ, err)
		}
		// One row for the event, keyed by its fresh id; the relay makes a task of it per Later subscriber.
		rows = append(rows, jobs.OutboxTask{Type: PublishType(typ), Key: id.String(), Payload: delivery{Meta: m, Event: raw}})
	}
	// The rows travel with the transaction's next statement.
	if err := h.outbox.AddEachNew(ctx, tx, rows); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// Register adds a handler for every Later subscriber's deliveries to r, one for an event's row relayed whole (see
// below), and the hourly prune of delivery records.
func (h *Hall) Register(r *jobs.Tasks) {
	names := make([]string, 0, len(h.later))
	for typ := range h.later {
		names = append(names, typ)
	}
	slices.Sort(names)
	for _, typ := range names {
		for _, s := range h.later[typ] {
			if s.runBatch != nil {
				r.HandleBatch(s.taskType(), func(ctx context.Context, t tenants.Tenant, envs []jobs.Envelope) error {
					return h.deliverBatch(ctx, t, s, envs)
				})
				continue
			}
			r.Handle(TaskType(s.name), func(ctx context.Context, t tenants.Tenant, env jobs.Envelope) error {
				return h.deliver(ctx, t, s, env)
			})
		}
		// An event's row taken as a task of its own, by a relay that does not spread rows (a worker of the release
		// before, during a rolling deploy): its subscribers' deliveries run here, one after the other, each once.
		r.Handle(PublishType(typ), func(ctx context.Context, t tenants.Tenant, env jobs.Envelope) error {
			var errs []error
			for _, s := range h.later[typ] {
				var err error
				if s.runBatch != nil {
					err = h.deliverBatch(ctx, t, s, []jobs.Envelope{env})
				} else {
					err = h.deliver(ctx, t, s, env)
				}
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		})
	}
	r.Handle(TaskPruneDeliveries, func(ctx context.Context, t tenants.Tenant, _ jobs.Envelope) error {
		_, err := h.Prune(ctx, t)
		return err
	})
	r.Every(jobs.Entry{Name: "event-deliveries-prune", Every: time.Hour, Type: TaskPruneDeliveries, Queue: jobs.QueueLow, PerTenant: true})
}

// deliver runs one delivery of s in t's scope, with its record; a delivery already recorded is done.
func (h *Hall) deliver(ctx context.Context, t tenants.Tenant, s laterSubscriber, env jobs.Envelope) error {
	var d delivery
	if err := json.Unmarshal(env.Payload, &d); err != nil {
		return fmt.Errorf("%w: %s delivery: %v", jobs.SkipRetry, s.name, err)
	}
	if d.Meta.TenantID != t.ID {
		return fmt.Errorf("%w: %s delivery of event %s names tenant %s, not %s", jobs.SkipRetry, s.name, d.Meta.ID, d.Meta.TenantID, t.ID)
	}
	return h.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO event_deliveries (subscriber, event_id, event_type) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, s.name, d.Meta.ID, d.Meta.Type)
		if err != nil {
			return fmt.Errorf("events: record delivery of %s to %s: %w", d.Meta.ID, s.name, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // delivered before: its effect committed with that record
		}
		return s.run(ctx, tx, t, d.Meta, d.Event)
	})
}

// TaskPruneDeliveries deletes one tenant's delivery records older than DeliveryRetention.
const TaskPruneDeliveries = "events:prune-deliveries"

// Prune deletes t's delivery records older than DeliveryRetention, in chunks, and returns how many.
func (h *Hall) Prune(ctx context.Context, t tenants.Tenant) (int64, error) {
	var total int64
	for {
		var n int64
		err := h.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM event_deliveries WHERE (subscriber, event_id) IN (
				SELECT subscriber, event_id FROM event_deliveries WHERE delivered_at < $1 LIMIT 5000)`,
				h.now().Add(-DeliveryRetention))
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("events: prune deliveries of %s: %w", t.Slug, err)
		}
		total += n
		if n < 5000 {
			return total, nil
		}
	}
}
