package payments

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/money"
)

// Adapter speaks one payment processor's protocol for one configured gateway: it starts a deposit (a hosted
// checkout to redirect the client to, or payment instructions), reads and authenticates the processor's callbacks,
// answers them the way the processor expects, and refunds. Adapters live in sub-packages (payments/stripe,
// payments/generic) and know nothing of the ledger, the clients or the tenant: the deposit flow in this package
// decides what a callback means for the money.
type Adapter interface {
	// Begin asks the processor to take payment for d and says where the client goes next.
	Begin(ctx context.Context, d Checkout) (Started, error)
	// Parse authenticates a callback (headers and the raw body exactly as received) at time now and reads it.
	// A callback that fails authentication is ErrBadSignature (answered 400, counted, never a case); one that is
	// authentic but says nothing about a payment (an event type the flow does not use) is a Notification with
	// Status NotifiedIgnored.
	Parse(h http.Header, body []byte, now time.Time) (Notification, error)
	// Acknowledge is the HTTP answer the processor expects once the callback is handled (or, with a non-nil err,
	// could not be and should be retried by the processor).
	Acknowledge(n Notification, err error) Ack
	// Refund returns amount of the payment externalID to the payer (Stripe: a refund of the PaymentIntent).
	// ErrRefundUnsupported for processors refunded by hand.
	Refund(ctx context.Context, r RefundRequest) (Refunded, error)
}

// Checkout is what an adapter needs to start a deposit.
type Checkout struct {
	// Reference is the deposit's id as the processor carries it back (Stripe client_reference_id and
	// payment_intent_data.metadata; a generic processor's order id).
	Reference string
	Amount    money.Amount
	// ClientEmail pre-fills the processor's page where it has one.
	ClientEmail string
	// Description is what the client sees on the processor's page ("Deposit to Harbour FX").
	Description string
	// ReturnURL and CancelURL are where the processor sends the client back (the portal's wallet).
	ReturnURL, CancelURL string
	// CallbackURL is this gateway's webhook URL on the tenant's host, for processors that take one per payment.
	CallbackURL string
	// IdempotencyKey makes a retried Begin of the same deposit create one payment at the processor.
	IdempotencyKey string
}

// Started is where the client goes next.
type Started struct {
	// RedirectURL is the processor's hosted page (Stripe Checkout, a crypto invoice), or "" when the processor
	// gives instructions instead.
	RedirectURL string
	// Instructions are shown on the portal when there is nothing to redirect to (a wallet address and amount).
	Instructions string
	// ExternalID is the processor's id of the payment or session, kept with the deposit.
	ExternalID string
}

// NotifiedStatus is what a callback says happened to a payment.
type NotifiedStatus string

const (
	NotifiedPaid     NotifiedStatus = "paid"     // the money is confirmed: credit the client
	NotifiedPending  NotifiedStatus = "pending"  // seen, not yet confirmed (an async payment method, a crypto payment confirming)
	NotifiedFailed   NotifiedStatus = "failed"   // the payment did not happen
	NotifiedRefunded NotifiedStatus = "refunded" // the processor returned the money
	NotifiedIgnored  NotifiedStatus = "ignored"  // authentic, but about nothing the deposit flow uses
)

// Notification is an authenticated callback, read.
type Notification struct {
	// EventID is the processor's id of this notification; the same id delivered again is a duplicate. Processors
	// without event ids get one derived from the payment id and status.
	EventID string
	// Type is the processor's name for the event ("checkout.session.completed"), for the record.
	Type string
	// Reference is our deposit reference as the processor carries it back ("" when it carries none).
	Reference  string
	ExternalID string
	Status     NotifiedStatus
	// Amount is what the processor says was paid, when the callback says it (AmountKnown).
	Amount      money.Amount
	AmountKnown bool
}

// Ack is an HTTP answer to a processor.
type Ack struct {
	Status      int
	ContentType string
	Body        []byte
}

// RefundRequest asks for money back.
type RefundRequest struct {
	ExternalID     string
	Amount         money.Amount
	IdempotencyKey string
	Reason         string
}

// Refunded is the processor's answer to a refund.
type Refunded struct {
	ExternalID string // the refund's id at the processor
	Status     string // the processor's word ("succeeded", "pending")
}

// Errors adapters return.
var (
	// ErrBadSignature: the callback is not authentic (wrong or missing signature, stale timestamp, altered body).
	ErrBadSignature = errors.New("payments: callback signature invalid")
	// ErrMalformed: the callback is authentic but cannot be read (a field missing or of the wrong type).
	ErrMalformed = errors.New("payments: callback malformed")
	// ErrRefundUnsupported: the processor's refunds are made by hand (recorded in the exceptions queue).
	ErrRefundUnsupported = errors.New("payments: this gateway's refunds are made by hand")
	// ErrProcessor: the processor refused or failed a request (Begin, Refund); the message says what it said.
	ErrProcessor = errors.New("payments: the processor refused the request")
	// ErrDeclined comes with ErrProcessor when the processor answered that it will not do it (an HTTP 4xx other
	// than a conflict or a rate limit): nothing happened there, and asking again is answered the same. Without it,
	// an ErrProcessor may be an outage or a lost answer, after which the request may have been carried out.
	ErrDeclined = errors.New("payments: the processor declined")
)

// Payouter is an adapter that pays money out to a client's account at the processor (the generic gateway when its
// configuration has a payout call). The outcome arrives later as a signed callback whose reference starts with
// PayoutReferencePrefix; the callback flow announces it (EventPayoutNotified) instead of matching a deposit.
type Payouter interface {
	Payout(ctx context.Context, r PayoutRequest) (PaidOut, error)
}

// PayoutRequest asks for a payout.
type PayoutRequest struct {
	// Reference comes back in the payout's callbacks: PayoutReferencePrefix + the payer's own id.
	Reference   string
	Amount      money.Amount
	Destination string // the client's account at the processor
	CallbackURL string
	// IdempotencyKey makes a retried request create one payout where the processor takes an idempotency header.
	IdempotencyKey string
}

// PaidOut is the processor's answer to a payout request: its id; the outcome comes by callback.
type PaidOut struct {
	ExternalID string
}

// PayoutReferencePrefix starts the reference of every payout, so its callbacks are told from deposits'.
const PayoutReferencePrefix = "payout:"

// ErrPayoutUnsupported: the gateway cannot pay out (a Stripe gateway refunds instead; a generic one without a payout
// call is paid by hand).
var ErrPayoutUnsupported = errors.New("payments: this gateway does not pay out")
