package withdrawals

import (
	"github.com/google/uuid"
)

// Events other rooms subscribe to, published in the transaction of the change.
const (
	// EventRequested: a client asked to withdraw and the amount is held (Requested).
	EventRequested = "withdrawal.requested"
	// EventCancelled: the client cancelled before approval; the hold is voided (Ended).
	EventCancelled = "withdrawal.cancelled"
	// EventForfeitConfirmed: the client confirmed a withdrawal that forfeits open bonuses (ForfeitConfirmed); the
	// bonus engine books the forfeiture in the same transaction.
	EventForfeitConfirmed = "withdrawal.forfeit_confirmed"
)

// ForfeitConfirmed announces what a requested withdrawal forfeits of the client's open bonuses, as the client
// was shown and confirmed (forfeit_bonuses). It stands if the withdrawal later ends unpaid.
type ForfeitConfirmed struct {
	WithdrawalID uuid.UUID `json:"withdrawal_id"`
	ClientID     uuid.UUID `json:"client_id"`
	// Amount is the withdrawal and Balance the client's withdrawable balance before it, in minor units of
	// Currency (Exponent digits).
	Amount   int64            `json:"amount"`
	Balance  int64            `json:"balance"`
	Currency string           `json:"currency"`
	Exponent int              `json:"exponent"`
	Bonuses  []ForfeitedBonus `json:"bonuses"`
}

// ForfeitedBonus is one bonus's part a withdrawal forfeits (minor units).
type ForfeitedBonus struct {
	BonusID uuid.UUID `json:"bonus_id"`
	Amount  int64     `json:"amount"`
}

// EventType implements events.Event.
func (ForfeitConfirmed) EventType() string { return EventForfeitConfirmed }

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
