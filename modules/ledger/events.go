package ledger

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// EventVerifyFailed: the nightly verification found a discrepancy (payload VerifyFailed). The payments module's
// exceptions queue opens a case for finance.
const EventVerifyFailed = "ledger.verify_failed"

// VerifyFailed announces the first discrepancy a verification found.
type VerifyFailed struct {
	Problem   Problem   `json:"problem"`
	CheckedAt time.Time `json:"checked_at"`
}

// EventType implements events.Event.
func (VerifyFailed) EventType() string { return EventVerifyFailed }

// Publisher announces this module's events in the caller's transaction (*events.Hall).
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e events.Event) error
}
