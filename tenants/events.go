package tenants

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// EventStatusChanged: a tenant moved through its lifecycle (payload StatusChanged), published in the registry's
// transaction on the platform database. The operators module writes the platform audit row of a suspension,
// resumption or deletion in that same transaction.
const EventStatusChanged = "tenant.status_changed"

// StatusChanged announces a tenant's status change. It is a platform event: it takes in-transaction subscribers
// only (modules/events).
type StatusChanged struct {
	TenantID uuid.UUID `json:"tenant_id"`
	Slug     string    `json:"slug"`
	From     Status    `json:"from"`
	To       Status    `json:"to"`
	Reason   string    `json:"reason"`
	By       Actor     `json:"by"`
}

// EventType implements events.Event.
func (StatusChanged) EventType() string { return EventStatusChanged }

// PlatformScoped marks it an events.PlatformEvent.
func (StatusChanged) PlatformScoped() {}

// Actor is who changed a tenant's status: an operator through the console (Operator set), or the platform itself
// (the provisioner, the CLI, billing).
type Actor struct {
	// Operator is the operator's id, when one acted.
	Operator uuid.UUID `json:"operator,omitempty"`
	// Label is the actor as platform.tenant_events shows it: "operator:<email>", "cli:<user>", "provisioner".
	Label string `json:"label"`
}

// System is an actor for a change the platform made on its own, labelled ("provisioner", "cli:alice").
func System(label string) Actor { return Actor{Label: label} }

// Publisher announces the registry's events in its transaction (*events.Hall, which sits above this package: the
// method signature is the hall's, with its Event alias spelled out).
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, t Tenant, e interface{ EventType() string }) error
}
