package clients

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Events this module publishes, in the transaction of the change they announce.
const (
	// EventRegistered: a trader registered on the portal (payload Registered).
	EventRegistered = "client.registered"
	// EventStatusChanged: a client moved through the lifecycle (payload StatusChanged): verification, KYC,
	// restrictions, closing. Modules that gate money or trading on the status react to it.
	EventStatusChanged = "client.status_changed"
)

// Registered announces a new client. It carries what other modules route on, not the client's personal data
// (read it through the service when needed): events are kept in outbox rows.
type Registered struct {
	ClientID uuid.UUID `json:"client_id"`
	Country  string    `json:"country"`
	// ReferralCode and ReferralSource are the IB or affiliate attribution captured at registration ("" when none).
	ReferralCode   string `json:"referral_code,omitempty"`
	ReferralSource string `json:"referral_source,omitempty"`
}

// EventType implements events.Event.
func (Registered) EventType() string { return EventRegistered }

// StatusChanged announces a lifecycle move.
type StatusChanged struct {
	ClientID uuid.UUID   `json:"client_id"`
	From     Status      `json:"from"`
	To       Status      `json:"to"`
	Reason   string      `json:"reason"`
	Actor    audit.Actor `json:"actor"`
}

// EventType implements events.Event.
func (StatusChanged) EventType() string { return EventStatusChanged }

// Publisher announces this module's events in the caller's transaction (*events.Hall).
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e events.Event) error
}
