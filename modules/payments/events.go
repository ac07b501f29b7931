package payments

import (
	"github.com/google/uuid"
)

// Events this module publishes, in the transaction of the change they announce.
const (
	// EventDepositCompleted: a client's wallet was credited with a deposit (payload DepositCompleted). Bonus rules
	// read DepositNumber ("bonus on the 2nd deposit"); partners' CPA reads Number 1.
	EventDepositCompleted = "deposit.completed"
)

// DepositCompleted announces a credited deposit.
type DepositCompleted struct {
	DepositID uuid.UUID `json:"deposit_id"`
	ClientID  uuid.UUID `json:"client_id"`
	// Amount is in minor units of Currency (Exponent digits).
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Exponent int    `json:"exponent"`
	// DepositNumber is which of the client's completed deposits this is: 1 for the first.
	DepositNumber int       `json:"deposit_number"`
	GatewayID     uuid.UUID `json:"gateway_id"`
	GatewayKind   string    `json:"gateway_kind"`
	LedgerTx      uuid.UUID `json:"ledger_tx"`
}

// EventType implements events.Event.
func (DepositCompleted) EventType() string { return EventDepositCompleted }
