package withdrawals

import (
	"github.com/google/uuid"
)

// Events other rooms subscribe to (the bonus engine will: a withdrawal forfeits per its rules), published in the
// transaction of the change.
const (
	// EventRequested: a client asked to withdraw and the amount is held (Requested).
	EventRequested = "withdrawal.requested"
	// EventCancelled: the client cancelled before approval; the hold is voided (Ended).
	EventCancelled = "withdrawal.cancelled"
)

// Requested announces a held withdrawal.
type Requested struct {
	WithdrawalID uuid.UUID `json:"withdrawal_id"`
	ClientID     uuid.UUID `json:"client_id"`
	// Amount is in minor units of Currency (Exponent digits).
	Amount   int64     `json:"amount"`
	Currency string    `json:"currency"`
	Exponent int       `json:"exponent"`
	HoldTx   uuid.UUID `json:"hold_tx"`
	Flagged  bool      `json:"flagged"`
}

// EventType implements events.Event.
func (Requested) EventType() string { return EventRequested }

// Ended announces a withdrawal that ended without paying; its hold is voided.
type Ended struct {
	WithdrawalID uuid.UUID `json:"withdrawal_id"`
	ClientID     uuid.UUID `json:"client_id"`
	Status       Status    `json:"status"`
	Reason       string    `json:"reason,omitempty"`
}

// EventType implements events.Event.
func (e Ended) EventType() string { return "withdrawal." + string(e.Status) }
