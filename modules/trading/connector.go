// Package trading is the room for everything BrokerDesk does with trading platforms. This file holds the one
// interface every platform connector satisfies (MT5 Manager Web API, TradeLocker Brand API, DXtrade, the built-in
// simulator) and the exact, platform-neutral types that cross it. Connectors live in sub-packages; the flows that
// use them (trading servers and account types now; account opening, transfers, sync, drift reports next) live in
// modules/tradingdesk, which only ever sees Connector and never imports a connector package.
//
// Conventions every connector honours:
//   - money and lots are exact decimals (shopspring/decimal), never float64; amounts in a BalanceOp are positive and
//     the Kind gives the direction;
//   - every time.Time crossing the interface is UTC; a connector converts server-local times itself;
//   - errors are *PlatformError values whose Kind is one of the sentinels in errors.go, so callers branch with
//     errors.Is and operators still see the platform's own code and text.
package trading

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
)

// Connector is one manager session on one trading server. Implementations are safe for concurrent use.
type Connector interface {
	// Capabilities says how this platform does the things platforms disagree on.
	Capabilities() Capabilities
	// Ping checks the session is alive (authenticating first if needed).
	Ping(ctx context.Context) error

	// CreateAccount opens a trading account. The platform assigns the login unless NewAccount.Login is set.
	// NewAccount.OperationID makes creation idempotent where the platform allows it.
	CreateAccount(ctx context.Context, a NewAccount) (Account, error)
	// SetLeverage changes the account's leverage (1:N). On platforms where leverage comes from the group the
	// connector moves the account to the mapped group and says so in Capabilities.
	SetLeverage(ctx context.Context, login string, leverage int) error
	// MoveGroup moves the account to another group (account type, swap-free variant). Currency never changes.
	MoveGroup(ctx context.Context, login, group string) error
	// SetAccess enables or disables logging in and trading.
	SetAccess(ctx context.Context, login string, access Access) error
	// ResetPassword sets the main or investor (read-only) password.
	ResetPassword(ctx context.Context, login string, kind PasswordKind, password string) error
	// SetSwapFree turns swap-free on or off for the account in the platform's own way (Capabilities.SwapFree).
	SetSwapFree(ctx context.Context, login string, swapFree bool) error

	// BalanceOperation moves money on the account. It moves money at most once per OperationID, even when an
	// earlier attempt's answer was lost: a retry with the same OperationID returns the first operation's result
	// with Replayed set.
	BalanceOperation(ctx context.Context, op BalanceOp) (BalanceResult, error)

	// Account reads the account's identity, settings, rights and money state.
	Account(ctx context.Context, login string) (Account, error)
	// ClosedDeals lists deals of one account with From <= Time < To, oldest first, one page at a time.
	ClosedDeals(ctx context.Context, q DealQuery) (DealPage, error)
	// OpenPositions lists the account's open positions.
	OpenPositions(ctx context.Context, login string) ([]Position, error)

	// Close ends the manager session and releases its connections.
	Close() error
}

// Platform names a kind of trading server.
type Platform string

const (
	PlatformMT5         Platform = "mt5"
	PlatformTradeLocker Platform = "tradelocker"
	PlatformDXtrade     Platform = "dxtrade"
	PlatformSimulator   Platform = "simulator"
)

// SwapFreeMode is how a platform makes an account swap-free.
type SwapFreeMode string

const (
	// SwapFreeByGroup: the account moves to a swap-free twin of its group (MT5, MT4, TradeLocker).
	SwapFreeByGroup SwapFreeMode = "group"
	// SwapFreeByFlag: a per-account flag (cTrader).
	SwapFreeByFlag SwapFreeMode = "flag"
	// SwapFreeByCategory: a per-account category such as DXtrade's Financing domain.
	SwapFreeByCategory SwapFreeMode = "category"
)

// Capabilities tells callers how a platform behaves where platforms differ.
type Capabilities struct {
	Platform Platform
	SwapFree SwapFreeMode
	// LeverageByGroup is true when leverage is a property of the group (TradeLocker): SetLeverage moves groups.
	LeverageByGroup bool
	// CurrencyFixed is true when an account's currency is fixed at creation; a currency change is a new account.
	CurrencyFixed bool
	// NativeIdempotency is true when the platform itself dedupes balance operations by the CRM's id; false when the
	// connector tags the comment and checks before retrying (MT5).
	NativeIdempotency bool
	// MaxDealWindow is the longest time range one deal query may span on the platform (0: no limit). ClosedDeals
	// splits longer ranges itself; callers need not care.
	MaxDealWindow time.Duration
	// MaxLeverage is the largest leverage the platform accepts.
	MaxLeverage int
}

// NewAccount is what CreateAccount needs.
type NewAccount struct {
	Login            string // requested login; empty lets the platform choose
	Group            string
	Leverage         int
	Currency         string // ISO 4217; on group-currency platforms (MT5) it must match the group's
	FirstName        string
	LastName         string
	Email            string
	Password         string
	InvestorPassword string
	// OperationID is the CRM's id for this creation; platforms with idempotency keys use it.
	OperationID string
}

// Access is what an account may do.
type Access struct {
	LoginEnabled   bool
	TradingEnabled bool
}

// PasswordKind names which password ResetPassword sets.
type PasswordKind string

const (
	PasswordMain     PasswordKind = "main"
	PasswordInvestor PasswordKind = "investor"
)

// Account is an account's identity, settings and money state as the platform sees it now.
type Account struct {
	Login      string
	Group      string
	Currency   string
	Leverage   int
	Access     Access
	SwapFree   bool
	Balance    decimal.Decimal
	Credit     decimal.Decimal
	Equity     decimal.Decimal
	Margin     decimal.Decimal
	FreeMargin decimal.Decimal
}

// BalanceKind is the direction and nature of a balance operation.
type BalanceKind string

const (
	Deposit    BalanceKind = "deposit"
	Withdrawal BalanceKind = "withdrawal"
	CreditIn   BalanceKind = "credit_in"
	CreditOut  BalanceKind = "credit_out"
)

// BalanceOp moves money on a trading account.
type BalanceOp struct {
	Login  string
	Kind   BalanceKind
	Amount decimal.Decimal // > 0, in the account's currency
	// OperationID is the CRM's own id for this movement (at most 32 characters, [A-Za-z0-9-_]); the connector
	// guarantees the money moves at most once per id.
	OperationID string
	Comment     string // free text for the platform's records; may be shortened to fit beside the id
}

// BalanceResult is the platform's receipt for a balance operation.
type BalanceResult struct {
	Ticket string // the platform's id for the operation (MT5 deal ticket, TradeLocker operationId, DXtrade id)
	// Replayed is true when the operation had already been applied and this call found it instead of applying it again.
	Replayed bool
}

// DealAction is what a deal did.
type DealAction string

const (
	ActionBuy        DealAction = "buy"
	ActionSell       DealAction = "sell"
	ActionBalance    DealAction = "balance"
	ActionCredit     DealAction = "credit"
	ActionCharge     DealAction = "charge"
	ActionCorrection DealAction = "correction"
	ActionBonus      DealAction = "bonus"
	ActionCommission DealAction = "commission"
	ActionAgent      DealAction = "agent"
	ActionOther      DealAction = "other"
)

// DealEntry says whether a deal opened or closed a position.
type DealEntry string

const (
	EntryIn    DealEntry = "in"
	EntryOut   DealEntry = "out"
	EntryInOut DealEntry = "inout"
	EntryOutBy DealEntry = "outby"
	EntryNone  DealEntry = "" // balance operations and other non-trade deals
)

// Deal is one executed deal (trade or balance movement) in platform-neutral form.
type Deal struct {
	Ticket     string
	Login      string
	Order      string
	PositionID string
	Action     DealAction
	Entry      DealEntry
	Symbol     string
	Volume     decimal.Decimal // lots
	Price      decimal.Decimal
	Profit     decimal.Decimal
	Commission decimal.Decimal
	Swap       decimal.Decimal
	Time       time.Time // UTC
	Comment    string
}

// DealQuery asks for one page of an account's deals with From <= Time < To.
type DealQuery struct {
	Login string
	From  time.Time
	To    time.Time
	// Cursor continues a previous page; empty starts at From.
	Cursor string
	// Limit caps the page size; 0 means the connector's default. A connector may return fewer.
	Limit int
}

// DealPage is one page of deals; Next is empty on the last page.
type DealPage struct {
	Deals []Deal
	Next  string
}

// Side is a position's direction.
type Side string

const (
	Buy  Side = "buy"
	Sell Side = "sell"
)

// Position is one open position.
type Position struct {
	ID        string
	Login     string
	Symbol    string
	Side      Side
	Volume    decimal.Decimal // lots
	OpenPrice decimal.Decimal
	Profit    decimal.Decimal
	Swap      decimal.Decimal
	OpenTime  time.Time // UTC
}
