// Package ledger is the room for the brokerage's double-entry ledger: the only source of every balance the product
// shows (a client's wallet, a gateway's clearing account, suspense, fees, bonus liability, the money on each trading
// server, later IB payables). docs/ledger.md is the operator's and integrator's side.
//
// The rules, each enforced here and checked again by Verify:
//
//   - Amounts are int64 minor units of the account's currency (infra/money); a posting is positive for a credit and
//     negative for a debit, and a transaction's postings sum to zero per currency.
//   - A transaction carries an idempotency key: the same key with the same content returns the first transaction;
//     the same key with other content is refused (ErrKeyReused), as TigerBeetle refuses
//     exists_with_different_amount.
//   - Transactions and postings are append-only (Postgres refuses UPDATE and DELETE to the application's role); a
//     correction is a new transaction naming the one it corrects.
//   - Balances: posted, pending (open holds: a withdrawal reserves money with a pending transaction, which is later
//     posted in full or in part, or voided), available = posted - pending debits. A no-overdraft account (every
//     client wallet) never has a negative available balance: the check runs under the lock of every balance row the
//     transaction touches, taken in one fixed order, so concurrent transactions cannot both spend the same money.
//   - No single hot row on the deposit path: an account every deposit touches (a gateway's clearing account) keeps
//     its balance in several rows and each transaction updates the one its id picks, so deposits of different
//     clients do not queue behind one row lock.
//
// Other modules post through PostTx, HoldTx, PostHoldTx and VoidHoldTx inside their own transaction, so the money
// moves exactly when their business change commits.
package ledger

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Kinds of the brokerage's accounts. Modules may use their own kinds (lower case with underscores).
const (
	KindClientWallet   = "client_wallet"
	KindClearing       = "clearing"
	KindSuspense       = "suspense"
	KindFees           = "fees"
	KindBonusLiability = "bonus_liability"
	KindWriteOff       = "write_off"
	KindWithdrawals    = "withdrawals_payable"
	KindTradingServer  = "trading_server"
	KindPartnerWallet  = "partner_wallet"
	KindIBCommissions  = "ib_commissions"
	KindClientBonus    = "client_bonus"
)

// AccountSpec names an account and how it is kept. Postings name their account by spec: an account is created
// the first time a transaction posts to it.
type AccountSpec struct {
	// Code is the account's unique name in the tenant, e.g. "client:<id>:USD".
	Code     string
	Kind     string
	Currency money.Currency
	// Owner is the client a client account belongs to (uuid.Nil for the brokerage's own accounts).
	Owner uuid.UUID
	// NoOverdraft: the available balance may never go below zero (every client wallet).
	NoOverdraft bool
	// Shards spreads the balance over that many rows (1 to 64; a no-overdraft account has 1), so transactions
	// posting to the account at once rarely wait for each other's balance row. Accounts on every deposit's path take
	// more. It counts when the account is created: an account keeps the spread it was created with.
	Shards int
	// Label is how the account reads on a page ("Stripe clearing, USD"); empty: the code.
	Label string
}

// ClientWallet is a client's wallet in currency c: a no-overdraft liability of the brokerage to the client.
func ClientWallet(client uuid.UUID, c money.Currency) AccountSpec {
	return AccountSpec{Code: "client:" + client.String() + ":" + c.Code, Kind: KindClientWallet, Currency: c, Owner: client,
		NoOverdraft: true, Shards: 1, Label: "Wallet " + c.Code}
}

// Clearing is what a payment gateway owes the brokerage for deposits it has confirmed but not yet settled, in c. It
// is on every deposit's path, so its balance is spread over 64 rows: of 16 callbacks posting at once, each finds
// its row free 8 times out of 10 (with 16 rows, 4 times out of 10).
func Clearing(gateway string, c money.Currency) AccountSpec {
	return AccountSpec{Code: "clearing:" + gateway + ":" + c.Code, Kind: KindClearing, Currency: c, Shards: 64,
		Label: "Clearing " + gateway + " " + c.Code}
}

// TradingServer is the clients' money the brokerage moved onto a trading server's accounts, in c: a transfer from a
// wallet into a trading account credits it, one back to the wallet debits it. Profits clients take out can make it
// negative, so it has no overdraft check. Every transfer of every client on the server passes through it, so its
// balance is spread over 64 rows like a gateway's clearing account.
func TradingServer(server uuid.UUID, c money.Currency) AccountSpec {
	return AccountSpec{Code: "trading_server:" + server.String() + ":" + c.Code, Kind: KindTradingServer, Currency: c, Shards: 64,
		Label: "Trading server " + c.Code}
}

// PartnerWallet is what the brokerage owes an introducing broker or affiliate in c: commissions earned (modules/
// partners), later paid out. A changed or cancelled deal takes back what it paid, which may exceed what is left, so
// it has no overdraft check: payouts check the available balance themselves.
func PartnerWallet(partner uuid.UUID, c money.Currency) AccountSpec {
	return AccountSpec{Code: "partner:" + partner.String() + ":" + c.Code, Kind: KindPartnerWallet, Currency: c, Shards: 1,
		Label: "Partner earnings " + c.Code}
}

// IBCommissions is the brokerage's expense of commissions it owes partners, in c: debited by every batch of
// earnings posted to partners' wallets (credited by reversals), spread over 16 rows.
func IBCommissions(c money.Currency) AccountSpec {
	return AccountSpec{Code: "ib_commissions:" + c.Code, Kind: KindIBCommissions, Currency: c, Shards: 16,
		Label: "IB commissions " + c.Code}
}

// ClientBonus is a client's bonus balance in c (modules/bonuses): bonuses granted and not yet released to the
// wallet, expired or cancelled. It is not withdrawable; only the bonus engine moves it, never below zero.
func ClientBonus(client uuid.UUID, c money.Currency) AccountSpec {
	return AccountSpec{Code: "bonus:" + client.String() + ":" + c.Code, Kind: KindClientBonus, Currency: c, Owner: client,
		NoOverdraft: true, Shards: 1, Label: "Bonus " + c.Code}
}

// BonusLiability is the brokerage's side of every bonus in c: debited when a bonus is granted, credited back when
// one expires or is cancelled; what a released bonus took stays debited (the bonus's cost). Spread over 8 rows.
func BonusLiability(c money.Currency) AccountSpec {
	return AccountSpec{Code: "bonus_liability:" + c.Code, Kind: KindBonusLiability, Currency: c, Shards: 8,
		Label: "Bonus liability " + c.Code}
}

// Suspense holds money that arrived and cannot yet be credited to a client (an unknown reference, a client the
// policy gate refuses), until finance resolves it.
func Suspense(c money.Currency) AccountSpec {
	return AccountSpec{Code: "suspense:" + c.Code, Kind: KindSuspense, Currency: c, Shards: 8, Label: "Suspense " + c.Code}
}

// WriteOff takes money finance writes off with a reason.
func WriteOff(c money.Currency) AccountSpec {
	return AccountSpec{Code: "write_off:" + c.Code, Kind: KindWriteOff, Currency: c, Shards: 4, Label: "Write-offs " + c.Code}
}

// WithdrawalsPayable holds money reserved for and paid out in withdrawals until the payout settles.
func WithdrawalsPayable(c money.Currency) AccountSpec {
	return AccountSpec{Code: "withdrawals:" + c.Code, Kind: KindWithdrawals, Currency: c, Shards: 8, Label: "Withdrawals payable " + c.Code}
}

// Posting is one leg of a transaction: a credit (Amount > 0) or debit (Amount < 0) of Account.
type Posting struct {
	Account AccountSpec
	Amount  int64
}

// Entry is a transaction to record.
type Entry struct {
	// Key is the idempotency key (at most 200 bytes): the business event the money follows, e.g.
	// "deposit:<id>:credit". The same key with the same content is the same transaction.
	Key string
	// Kind says what moved the money ("deposit", "withdrawal_hold", "correction", ...).
	Kind        string
	Description string
	Postings    []Posting
	// Corrects names the transaction this one corrects.
	Corrects *uuid.UUID
	// Metadata records what the amounts came from (ids, the rule version and its inputs), as JSON.
	Metadata map[string]any
	// Guard names accounts (by code, each one of the postings' and kept in one balance row) that this transaction
	// must not take below zero available although they have no overdraft check of their own: a partner's payout
	// from its wallet, whose batches of earnings may take it below zero (docs/partners.md). The check is the one a
	// no-overdraft account gets, under the same lock. It is not part of the idempotency content.
	Guard []string
}

// Status of a transaction.
type Status string

// MaxAmount bounds one posting's amount, in minor units either way: 10^15 (ten trillion dollars), far above any real
// movement and far enough below int64's range that no balance of Postgres's bigint can overflow from real postings.
const MaxAmount int64 = 1_000_000_000_000_000

const (
	StatusPosted  Status = "posted"
	StatusPending Status = "pending" // a hold
)

// Transaction is a recorded transaction.
type Transaction struct {
	ID          uuid.UUID
	Key         string
	Kind        string
	Status      Status
	Description string
	Corrects    *uuid.UUID
	Resolves    *uuid.UUID
	Metadata    map[string]any
	CreatedAt   time.Time
	Postings    []PostingRow
	// Replayed is set when the key was already recorded with the same content: nothing moved this time.
	Replayed bool
}

// PostingRow is a recorded posting.
type PostingRow struct {
	ID          int64
	AccountID   uuid.UUID
	AccountCode string
	Currency    money.Currency
	Amount      int64
	Pending     bool
}

// Balance is an account's balance now, in minor units of its currency.
type Balance struct {
	Account        Account
	Posted         int64 // credits minus debits posted
	PendingDebits  int64 // open holds against the account
	PendingCredits int64 // open holds in its favour
}

// Available is what can be spent: posted minus pending debits.
func (b Balance) Available() int64 { return b.Posted - b.PendingDebits }

// Account is a recorded account.
type Account struct {
	ID          uuid.UUID
	Code        string
	Kind        string
	Currency    money.Currency
	Owner       uuid.UUID
	NoOverdraft bool
	Shards      int
	Label       string
	CreatedAt   time.Time
}

// Errors callers branch on.
var (
	// ErrInsufficientFunds: the transaction would take a no-overdraft account's available balance below zero.
	ErrInsufficientFunds = errors.New("ledger: insufficient funds")
	// ErrKeyReused: the idempotency key was recorded with other content.
	ErrKeyReused = errors.New("ledger: idempotency key recorded with different content")
	// ErrUnbalanced: the postings do not sum to zero per currency.
	ErrUnbalanced = errors.New("ledger: postings do not balance")
	// ErrInvalid: a malformed entry (too few postings, a zero amount, a bad key, kind or account).
	ErrInvalid = errors.New("ledger: invalid entry")
	// ErrNotFound: no such account or transaction in this tenant.
	ErrNotFound = errors.New("ledger: not found")
	// ErrHoldResolved: the hold was already posted or voided.
	ErrHoldResolved = errors.New("ledger: hold already posted or voided")
	// ErrRecordedBefore: PostEachTx met a key already recorded, and recorded nothing (post that entry alone).
	ErrRecordedBefore = errors.New("ledger: a key of the batch was recorded before")
	// ErrAccountMismatch: an account's code is recorded with another kind, currency, owner or shape.
	ErrAccountMismatch = errors.New("ledger: account recorded with a different shape")
)

// InsufficientFundsError says which account would be overdrawn and by how much.
type InsufficientFundsError struct {
	Account   string
	Available int64 // before the transaction
	Needed    int64 // what the transaction takes
	Currency  money.Currency
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("ledger: %s has %s %s available, %s needed", e.Account, money.Format(e.Available, e.Currency),
		e.Currency.Code, money.Format(e.Needed, e.Currency))
}

func (e *InsufficientFundsError) Unwrap() error { return ErrInsufficientFunds }

// Options are the service's collaborators.
type Options struct {
	Gate *tenants.Gate
	// Events announces a failed verification (EventVerifyFailed) so the exceptions queue opens a case.
	Events Publisher
	Now    func() time.Time
	Log    *slog.Logger
}

// Service is every tenant's ledger, always through the tenant gate.
type Service struct {
	o Options
}

// New returns the ledger service.
func New(o Options) (*Service, error) {
	if o.Gate == nil || o.Events == nil {
		return nil, errors.New("ledger: Gate and Events are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}, nil
}
