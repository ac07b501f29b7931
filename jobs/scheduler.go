package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Entry is one piece of periodic work.
type Entry struct {
	// Name identifies the entry in every TaskID it produces; keep it stable across releases, or a replica still
	// on the old release enqueues the same slot under a different id.
	Name string
	// Every runs the entry at each multiple of the interval since the Unix epoch (whole seconds, at least one), so
	// every replica computes the same slots whenever it started.
	Every time.Duration
	// Cron runs the entry on a cron spec instead ("*/5 * * * *", "@daily"), in UTC unless it starts with
	// CRON_TZ=<zone>. "@every" specs are treated as Every.
	Cron string
	// Type is the task type the entry enqueues.
	Type string
	// Queue is the task's queue (default QueueLow: periodic work must not crowd out what users wait for).
	Queue string
	// PerTenant fans the entry out to every active tenant: one task per tenant per slot, carrying the tenant's id.
	PerTenant bool
	// Payload builds the task's payload; nil sends Tick{Slot}.
	Payload func(slot time.Time, tenantID uuid.UUID) (any, error)
	// Options are further Asynq options (timeout, max retry, retention); TaskID and Queue are set by the scheduler.
	Options []asynq.Option
}

// Tick is the default payload of a scheduled task: the slot it was enqueued for.
type Tick struct {
	Slot time.Time `json:"slot"`
}

// schedRetention keeps a slot's task id in Redis after the task completes, so a replica whose clock is behind
// (or that was paused) and enqueues the slot late is still refused as a duplicate.
const schedRetention = 10 * time.Minute

// Scheduler enqueues periodic work. Run it on every worker replica: each replica computes the same slots and
// enqueues each with TaskID = name:slot-unix (name:tenant:slot-unix for per-tenant entries), so Redis accepts
// the first replica's task and refuses the others'. A replica does not catch up slots that passed while it was
// down; the other replicas enqueued them.
type Scheduler struct {
	client  *asynq.Client
	reg     *tenants.Registry
	entries []scheduled
	log     *slog.Logger
}

type scheduled struct {
	Entry
	next func(after time.Time) time.Time
}

// NewScheduler checks the entries and returns a scheduler for them. reg lists the tenants of per-tenant entries
// (it may be nil if there are none).
func NewScheduler(client *asynq.Client, reg *tenants.Registry, log *slog.Logger, entries ...Entry) (*Scheduler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{client: client, reg: reg, log: log.With("component", "scheduler")}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Name == "" || strings.Contains(e.Name, ":") {
			return nil, fmt.Errorf("jobs: scheduler entry %q: a name is required and may not contain ':'", e.Name)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("jobs: scheduler entry %q defined twice", e.Name)
		}
		seen[e.Name] = true
		if e.Type == "" {
			return nil, fmt.Errorf("jobs: scheduler entry %q has no task type", e.Name)
		}
		if e.PerTenant && reg == nil {
			return nil, fmt.Errorf("jobs: scheduler entry %q is per tenant but the scheduler has no registry", e.Name)
		}
		if e.Queue == "" {
			e.Queue = QueueLow
		}
		next, err := slots(e)
		if err != nil {
			return nil, fmt.Errorf("jobs: scheduler entry %q: %w", e.Name, err)
		}
		s.entries = append(s.entries, scheduled{Entry: e, next: next})
	}
	return s, nil
}

// slots returns the function giving an entry's first slot strictly after a time.
func slots(e Entry) (func(time.Time) time.Time, error) {
	every := e.Every
	switch {
	case every != 0 && e.Cron != "":
		return nil, errors.New("set Every or Cron, not both")
	case every == 0 && e.Cron == "":
		return nil, errors.New("set Every or Cron")
	case e.Cron != "":
		spec := e.Cron
		if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
			if !strings.Contains(spec, " ") {
				return nil, fmt.Errorf("cron spec %q has a zone and nothing else", spec)
			}
		} else {
			// robfig/cron reads specs in the process's local zone; replicas in different zones would disagree.
			spec = "CRON_TZ=UTC " + spec
		}
		sched, err := cron.ParseStandard(spec)
		if err != nil {
			return nil, fmt.Errorf("cron spec %q: %w", e.Cron, err)
		}
		if d, ok := sched.(cron.ConstantDelaySchedule); ok {
			// robfig counts @every from the moment it is asked, which differs per replica; align it instead.
			every = d.Delay
			break
		}
		return sched.Next, nil
	}
	if every < time.Second || every%time.Second != 0 {
		return nil, fmt.Errorf("interval %s: use whole seconds, at least one (slots are named by Unix second)", every)
	}
	secs := int64(every / time.Second)
	return func(after time.Time) time.Time {
		u := after.Unix()
		return time.Unix((u/secs+1)*secs, 0).UTC()
	}, nil
}

// TaskID is the id of an entry's task for one slot (and tenant, for per-tenant entries; uuid.Nil otherwise).
func TaskID(name string, tenantID uuid.UUID, slot time.Time) string {
	if tenantID == uuid.Nil {
		return name + ":" + strconv.FormatInt(slot.Unix(), 10)
	}
	return name + ":" + tenantID.String() + ":" + strconv.FormatInt(slot.Unix(), 10)
}

// Run enqueues every entry's slots until ctx ends. Each entry runs on its own, so a long per-tenant fan-out does
// not delay the others. A slot whose enqueue fails is retried with backoff until the entry's next slot is due.
func (s *Scheduler) Run(ctx context.Context) error {
	done := make(chan struct{})
	for _, e := range s.entries {
		go func() {
			defer func() { done <- struct{}{} }()
			s.runEntry(ctx, e)
		}()
	}
	for range s.entries {
		<-done
	}
	return nil
}

func (s *Scheduler) runEntry(ctx context.Context, e scheduled) {
	next := e.next(time.Now())
	for {
		if !sleepUntil(ctx, next) {
			return
		}
		slot := next
		following := e.next(slot)
		backoff := time.Second
		for {
			err := s.fire(ctx, e, slot)
			if err == nil || ctx.Err() != nil {
				break
			}
			retry := time.Now().Add(backoff)
			if !retry.Before(following) {
				s.log.ErrorContext(ctx, "scheduled slot skipped after failures", "entry", e.Name, "slot", slot, "err", err)
				break
			}
			s.log.WarnContext(ctx, "scheduled slot failed; retrying", "entry", e.Name, "slot", slot, "err", err)
			if !sleepUntil(ctx, retry) {
				return
			}
			backoff = min(backoff*2, time.Minute)
		}
		// A fan-out or retries that ran past later slots skip them: catching up would bunch them together.
		next = e.next(maxTime(slot, time.Now()))
	}
}

// Fire enqueues one slot of the named entry now, as Run does when the slot is due; a slot already enqueued (by
// this or another replica) is not enqueued again.
func (s *Scheduler) Fire(ctx context.Context, name string, slot time.Time) error {
	for _, e := range s.entries {
		if e.Name == name {
			return s.fire(ctx, e, slot)
		}
	}
	return fmt.Errorf("jobs: no scheduler entry %q", name)
}

func (s *Scheduler) fire(ctx context.Context, e scheduled, slot time.Time) error {
	if !e.PerTenant {
		return s.enqueue(ctx, e, slot, uuid.Nil)
	}
	list, err := s.reg.List(ctx, tenants.ListFilter{Statuses: []tenants.Status{tenants.StatusActive}})
	if err != nil {
		return fmt.Errorf("scheduler entry %s: %w", e.Name, err)
	}
	var errs []error
	for _, t := range list {
		if err := s.enqueue(ctx, e, slot, t.ID); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) enqueue(ctx context.Context, e scheduled, slot time.Time, tenantID uuid.UUID) error {
	var payload any = Tick{Slot: slot}
	if e.Payload != nil {
		p, err := e.Payload(slot, tenantID)
		if err != nil {
			return fmt.Errorf("scheduler entry %s: payload: %w", e.Name, err)
		}
		payload = p
	}
	id := TaskID(e.Name, tenantID, slot)
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("scheduler entry %s: payload: %w", e.Name, err)
	}
	b, err := json.Marshal(Envelope{TenantID: tenantID, Key: id, Payload: raw})
	if err != nil {
		return fmt.Errorf("scheduler entry %s: %w", e.Name, err)
	}
	// The entry's own options come between the default retention and the id and queue, so it may keep tasks
	// longer but can never break the one-task-per-slot id.
	opts := append([]asynq.Option{asynq.Retention(schedRetention)}, e.Options...)
	opts = append(opts, asynq.Queue(e.Queue), asynq.TaskID(id))
	if err := Enqueue(ctx, s.client, asynq.NewTask(e.Type, b, opts...)); err != nil {
		return fmt.Errorf("scheduler entry %s, task %s: %w", e.Name, id, err)
	}
	return nil
}

// sleepUntil waits until t or the end of ctx, and reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
