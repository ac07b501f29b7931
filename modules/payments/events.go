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
	// PromoCode is the promo code the client typed when starting the deposit, as typed ("" for none).
	PromoCode string `json:"promo_code,omitempty"`
}

// EventType implements events.Event.
func (DepositCompleted) EventType() string { return EventDepositCompleted }

// EventPayoutNotified: an authentic callback about a payout (its reference starts with PayoutReferencePrefix)
// arrived, once per processor event id (payload PayoutNotified). Published in the callback's transaction: an OnTx
// subscriber (withdrawals) settles the payout with it, and the processor is acknowledged only once both commit.
const EventPayoutNotified = "payment.payout_notified"

// PayoutNotified is what a payout's callback said.
type PayoutNotified struct {
	Gateway    string         `json:"gateway"`
	Reference  string         `json:"reference"`
	ExternalID string         `json:"external_id"`
	Status     NotifiedStatus `json:"status"`
	// Amount is in minor units of Currency when the callback says it (AmountKnown).
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	AmountKnown bool      `json:"amount_known"`
	Callback    uuid.UUID `json:"callback"`
}

// EventType implements events.Event.
func (PayoutNotified) EventType() string { return EventPayoutNotified }
