package jobs

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// SkipRetry, wrapped into a handler's error, archives the task at once instead of retrying it: for work that can
// never succeed (a payload that does not decode, a tenant that is gone).
var SkipRetry = asynq.SkipRetry

// Tasks is the worker's table of task handlers and periodic entries. Every module adds its own through its front
// door (cmd/brokerdesk walks the modules), so the worker serves exactly what the modules declare and a type handled
// twice is a wiring defect reported by Err.
//
// Task types are constants named Task<What> in the module that owns them, spelled "<module>:<what>" in lower case
// with hyphens ("identity:password-reset", "documents:expiry"); the event hall's deliveries are "event:<subscriber>"
// ("event:payments.receipt_email"), made by the relay of the outbox row "publish:<event type>" (SpreadPrefix).
type Tasks struct {
	mux     *asynq.ServeMux
	reg     *tenants.Registry
	entries []Entry
	types   []string
	errs    []error
}

// NewTasks returns an empty table whose per-tenant handlers load their tenant from reg.
func NewTasks(reg *tenants.Registry) *Tasks {
	return &Tasks{mux: asynq.NewServeMux(), reg: reg}
}

var taskType = regexp.MustCompile(`^[a-z][a-z0-9-]*:[a-z0-9][a-z0-9._-]*$`)

func (t *Tasks) claim(typ string) bool {
	switch {
	case !taskType.MatchString(typ):
		t.errs = append(t.errs, fmt.Errorf("jobs: task type %q: want <module>:<what>, lower case with hyphens", typ))
	case slices.Contains(t.types, typ):
		t.errs = append(t.errs, fmt.Errorf("jobs: task type %q handled twice", typ))
	default:
		t.types = append(t.types, typ)
		return true
	}
	return false
}

// Handle serves tasks of type typ for the tenant in their envelope (through ForTenant). A batched type (IsBatch)
// is served by HandleBatch instead.
func (t *Tasks) Handle(typ string, h TenantHandler) {
	if IsBatch(typ) {
		t.errs = append(t.errs, fmt.Errorf("jobs: task type %q is batched: serve it with HandleBatch", typ))
		return
	}
	if t.claim(typ) {
		t.mux.Handle(typ, ForTenant(t.reg, h))
	}
}

// HandlePlatform serves tasks of type typ that belong to no tenant (provisioning one, say).
func (t *Tasks) HandlePlatform(typ string, h asynq.HandlerFunc) {
	if t.claim(typ) {
		t.mux.Handle(typ, h)
	}
}

// Every adds periodic work; its task type must be handled by the table too.
func (t *Tasks) Every(e Entry) { t.entries = append(t.entries, e) }

// Mux is the handler the worker server runs.
func (t *Tasks) Mux() *asynq.ServeMux { return t.mux }

// Entries are the periodic entries, for the scheduler.
func (t *Tasks) Entries() []Entry { return slices.Clone(t.entries) }

// Types lists the handled task types in the order they were added.
func (t *Tasks) Types() []string { return slices.Clone(t.types) }

// Err reports every malformed or duplicate registration, and periodic entries whose type nobody handles.
func (t *Tasks) Err() error {
	errs := slices.Clone(t.errs)
	for _, e := range t.entries {
		if !slices.Contains(t.types, e.Type) {
			errs = append(errs, fmt.Errorf("jobs: periodic entry %q enqueues %q, which no handler serves", e.Name, e.Type))
		}
	}
	return errors.Join(errs...)
}
