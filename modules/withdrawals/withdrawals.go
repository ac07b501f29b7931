// Package withdrawals is the room for money out: a client's withdrawal from a wallet as a two-phase transfer
// (docs/withdrawals.md). The money is reserved by a ledger hold the moment the client asks, the checks' answers are
// recorded with the request, staff decide, and the hold is later posted (paid) or voided (cancelled, refused,
// failed, expired): the money never goes below zero and never moves twice.
//
// Why a room of its own and not part of payments: payments is money in (gateways, deposits, callbacks, the
// exceptions queue), and withdrawals read far more than the gateways: the policy gate and KYC (clients), documents'
// expiry, the client's deposits (payments' MoneyInTx, for return to source), the trading desk's closed deals (its
// trading.deal_closed events), and the bonus engine (what a withdrawal forfeits). Paying out through a processor
// stays the gateways' code: payments' Adapter already refunds a Stripe payment; this room asks payments to do it
// and never speaks to a processor itself.
//
// The request, top to bottom (request.go):
//
//	portal            the amount and currency, where the rest goes (bank or a gateway the tenant allows, and the
//	                  client's account there), and a current authenticator code from a client with two-factor
//	                  sign-in (identity's ConfirmWithCode) -> Idempotency-Key on the route
//	one transaction   the policy gate allows "withdraw" -> the tier's amount limits -> what the withdrawal
//	                  forfeits of open bonuses, by their rules (forfeit.go; refused, 422 naming forfeit_bonuses,
//	                  unless the client confirmed it) -> the ledger hold
//	                  (wallet -> withdrawals payable, key withdrawal:<id>): a wallet that does not cover it is
//	                  refused (422 naming amount) and, because the ledger checks under the wallet's row lock,
//	                  two requests never spend the same money -> the withdrawal row -> every check's answer
//	                  (checks.go) and the payout's legs (card refunds first) -> withdrawal.requested (and
//	                  withdrawal.forfeit_confirmed: the bonus engine books the forfeiture) -> audit
//	cancel            the client, until the last approval: the hold voided (key withdrawal:<id>:void)
//	decisions         compliance clears or refuses a flagged one; finance approves (two different people at or
//	                  above the tenant's threshold) or refuses, each with a reason (decisions.go)
//	payout            the worker refunds card legs through payments (Stripe) and asks a generic gateway's payout,
//	                  settled by its signed callback; bank legs are marked paid by finance; the hold is posted in
//	                  full or in part, or voided; undecided ones expire (payout.go has the order of writes)
//
// The checks run after the hold in the same transaction: the hold takes the wallet's row lock, so the velocity
// count of one client's withdrawals in a currency sees every earlier request of that wallet.
package withdrawals

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Ledger is what withdrawals need of the ledger (*ledger.Service): the hold and its resolution inside the
// withdrawal's transaction, and the client's wallets for the pages.
type Ledger interface {
	HoldTx(ctx context.Context, tx pgx.Tx, e ledger.Entry) (ledger.Transaction, error)
	PostHoldTx(ctx context.Context, tx pgx.Tx, key string, holdID uuid.UUID, amount int64, description string) (ledger.Transaction, error)
	VoidHoldTx(ctx context.Context, tx pgx.Tx, key string, holdID uuid.UUID, description string) (ledger.Transaction, error)
	ClientBalances(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]ledger.Balance, error)
}

// Clients is what withdrawals need of the clients module (*clients.Service): the client (KYC, tier) and the
// policy gate.
type Clients interface {
	GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (clients.Client, error)
	MayTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, a clients.Action) (clients.Decision, error)
}

// Documents reads a client's documents (*documents.Service): the check that none has expired.
type Documents interface {
	ClientDocumentsTx(ctx context.Context, tx pgx.Tx, clientID uuid.UUID) ([]documents.Document, error)
}

// MoneyIn reads a client's completed deposits (*payments.Service): return to source, the trading check, the page.
type MoneyIn interface {
	MoneyInTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, currency string) (payments.MoneyIn, error)
}

// Portal is what withdrawals need of identity (*identity.Service): which client a portal login is, and the
// step-up confirmation of a client with two-factor sign-in.
type Portal interface {
	PortalClientID(ctx context.Context, t tenants.Tenant, portalUserID uuid.UUID) (uuid.UUID, error)
	ConfirmWithCode(ctx context.Context, t tenants.Tenant, k identity.Kind, user uuid.UUID, code, what string) error
	// TwoFactorOn says whether the portal user has two-factor sign-in on (the form asks for a code then).
	TwoFactorOn(ctx context.Context, t tenants.Tenant, user uuid.UUID) (bool, error)
}

// OpenBonus is a bonus of the client's that a withdrawal would forfeit.
type OpenBonus struct {
	ID          uuid.UUID
	Description string // "50% on the 2nd deposit, 120.00 USD"
	Amount      money.Amount
}

// Forfeit is what a withdrawal would take of one open bonus, by the bonus's rule (the bonus engine decides it).
type Forfeit struct {
	Bonus OpenBonus
	// Amount is what is forfeited: at least one minor unit, at most the bonus's open amount.
	Amount money.Amount
	// Full: the whole bonus (it closes); otherwise it stays open with the rest.
	Full bool
	// Rule is the bonus rule's term: "full" or "pro_rata"; Why says how Amount was reached, in words.
	Rule string
	Why  string
	// Balance is the client's withdrawable balance in the currency before the withdrawal (a pro rata share's base).
	Balance money.Amount
}

// Bonuses answers the check "no open bonus forfeited": which bonuses a withdrawal would forfeit, and how much of
// each. The bonus engine (modules/bonuses) satisfies it from its own room; NoBonuses answers for a deployment
// without it (no bonus is ever open, because nothing grants one), and the check's row says so rather than
// pretending a bonus engine was asked.
type Bonuses interface {
	OpenBonusesTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, currency string) ([]OpenBonus, error)
	// ForfeitsTx answers what withdrawing amount would forfeit of each of the client's open bonuses in its
	// currency, none when nothing would be. It is asked before the withdrawal's hold (a pro rata share is of the
	// withdrawable balance before the withdrawal) and keeps those bonuses locked until tx ends.
	ForfeitsTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, amount money.Amount) ([]Forfeit, error)
	// Installed is false for NoBonuses: the check's answer names that no bonus engine is installed.
	Installed() bool
}

// NoBonuses is the Bonuses of a product without a bonus engine.
type NoBonuses struct{}

// OpenBonusesTx answers none.
func (NoBonuses) OpenBonusesTx(context.Context, pgx.Tx, uuid.UUID, string) ([]OpenBonus, error) {
	return nil, nil
}

// ForfeitsTx answers none.
func (NoBonuses) ForfeitsTx(context.Context, pgx.Tx, uuid.UUID, money.Amount) ([]Forfeit, error) {
	return nil, nil
}

// Installed is false.
func (NoBonuses) Installed() bool { return false }

// Publisher announces this module's events in the caller's transaction (*events.Hall).
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e events.Event) error
}

// Options are the module's collaborators.
type Options struct {
	Gate      *tenants.Gate
	Audit     *audit.Service
	Ledger    Ledger
	Clients   Clients
	Documents Documents
	MoneyIn   MoneyIn
	Portal    Portal
	// Bonuses: default NoBonuses.
	Bonuses Bonuses
	// Payer pays card refunds and gateway payouts (*payments.Service); without it approved withdrawals wait (RunPayout errs).
	Payer Payer
	// Emails tells clients where their withdrawal is (received, approved, paid, refused, failed, expired).
	Emails Emails
	// DemoClients is set under `make run` only: the demo's withdrawals at each stage (demo.go).
	DemoClients DemoClients
	// Events publishes withdrawal.* in the transaction of the change; the module also subscribes to the trading
	// desk's trading.deal_closed on it (Subscribe).
	Events *events.Hall
	Now    func() time.Time
	Log    *slog.Logger
}

// Service keeps every tenant's withdrawals, always through the tenant gate.
type Service struct {
	o Options
}

// New returns the withdrawals service.
func New(o Options) (*Service, error) {
	if o.Gate == nil || o.Audit == nil || o.Ledger == nil || o.Clients == nil || o.Documents == nil || o.MoneyIn == nil || o.Portal == nil ||
		o.Events == nil {
		return nil, errors.New("withdrawals: Gate, Audit, Ledger, Clients, Documents, MoneyIn, Portal and Events are required")
	}
	if o.Bonuses == nil {
		o.Bonuses = NoBonuses{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}, nil
}

// Status is where a withdrawal is.
type Status string

const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusPaid      Status = "paid"
	StatusCancelled Status = "cancelled"
	StatusRejected  Status = "rejected"
	StatusFailed    Status = "failed"
	StatusExpired   Status = "expired"
)

// Statuses lists every status, in the order of the flow.
var Statuses = []Status{StatusPending, StatusApproved, StatusPaid, StatusCancelled, StatusRejected, StatusFailed, StatusExpired}

// Label is the status in words.
func (s Status) Label() string {
	switch s {
	case StatusPending:
		return "Waiting for approval"
	case StatusApproved:
		return "Approved, being paid"
	case StatusPaid:
		return "Paid"
	case StatusCancelled:
		return "Cancelled"
	case StatusRejected:
		return "Refused"
	case StatusFailed:
		return "Failed"
	case StatusExpired:
		return "Expired"
	}
	return string(s)
}

// Open reports whether the withdrawal still holds money.
func (s Status) Open() bool { return s == StatusPending || s == StatusApproved }

// Audit actions.
const (
	ActionRequested       = "withdrawal.requested"
	ActionCancelled       = "withdrawal.cancelled"
	ActionSettingsChanged = "withdrawals.settings_changed"
	target                = "withdrawal"
)

// systemActor is the audit actor of the worker's payouts and expiries.
var systemActor = audit.System("withdrawals")

// Errors callers branch on.
var (
	ErrNotFound = errors.New("withdrawals: not found")
	// ErrNotAllowed: the policy gate refuses the client a withdrawal (the reason for the client follows).
	ErrNotAllowed = errors.New("withdrawals: withdrawal not allowed")
	// ErrNotCancellable: only a withdrawal waiting for approval can be cancelled.
	ErrNotCancellable = errors.New("withdrawals: the withdrawal can no longer be cancelled")
)
