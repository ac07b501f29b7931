package documents

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Events this module publishes, in the transaction of the change they announce.
const (
	// EventUploaded: a client's document was stored and is waiting for review (payload Uploaded). The KYC review
	// opens its case on it, in the upload's transaction.
	EventUploaded = "document.uploaded"
)

// Uploaded announces a new document waiting for review.
type Uploaded struct {
	DocumentID uuid.UUID `json:"document_id"`
	ClientID   uuid.UUID `json:"client_id"`
	Type       Type      `json:"type"`
	// Superseded are the client's earlier undecided documents of the same type that this upload replaced (now
	// StatusSuperseded): their reviews are moot.
	Superseded []uuid.UUID `json:"superseded"`
}

// EventType implements events.Event.
func (Uploaded) EventType() string { return EventUploaded }

// Publisher announces this module's events in the caller's transaction (*events.Hall).
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e events.Event) error
}
