// Package bonuses is the room for the bonus engine (docs/bonuses.md): tenant-configured bonus rules, versioned;
// grants on completed deposits; turnover counted from closing deals; release, expiry and cancellation, each one
// ledger transaction and one audited sentence.
//
//	rules      bonus_rules and bonus_rule_versions: an edit adds a version; a granted bonus keeps its version.
//	           Terms.Evaluate is the whole decision for a deposit, one pure function, table-tested
//	grant      a Later subscriber of deposit.completed evaluates every rule once per (rule, deposit)
//	           (bonus_evaluations, granted or not and why) and grants: the client's bonus account
//	           (ledger.ClientBonus) is credited against the brokerage's bonus liability (ledger.BonusLiability)
//	turnover   Later subscribers of trading.deal_closed and trading.deal_changed: a closing deal's lots count
//	           toward each open bonus of its client (bonus_turnover, one row per bonus and deal), only when its
//	           position was held at least the rule's minimum; a change or cancellation moves the count by the
//	           difference; a bonus whose turnover is met is released to the client's wallet
//	expiry     bonuses:expire each minute per tenant: open bonuses past their expiry are removed (the grant
//	           reversed), audited
//	credit     a rule with credit_to trading_account credits the client's trading account: the ledger's bonus
//	           credit account against the liability, and the trading desk's credit_in (Desk) in the grant's
//	           transaction; every end asks a credit_out; bonuses:stop-out each minute writes off the credit bonuses
//	           of accounts whose equity fell to their credit (credit.go)
//	seam       OpenBonusesTx answers withdrawals' Bonuses: the open bonuses a withdrawal would forfeit
//	http       finance's API: the rules (list, versions, create, edit, end), the bonuses, a client's bonuses and
//	           evaluations, cancelling one with a reason
//	pages      finance's rules (with a sentence of what each does), the bonuses' list, the client page's Bonuses
//	           tab (why each deposit did or did not earn one), the dashboard's tile, the trader's portal page
//	events     bonus.granted and bonus.released in the change's transaction; the client's emails of them and of
//	           bonus.forfeited through the outbox
//
//	forfeit    an OnTx subscriber of withdrawal.forfeit_confirmed: the part of each open bonus a confirmed
//	           withdrawal gives up (the rule's term forfeit: full or pro rata) back to the bonus liability
package bonuses

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Clients is what the engine needs of the clients module (*clients.Service): a client's tier and country.
type Clients interface {
	GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (clients.Client, error)
}

// Ledger moves bonuses' money (*ledger.Service).
type Ledger interface {
	PostTx(ctx context.Context, tx pgx.Tx, e ledger.Entry) (ledger.Transaction, error)
	// BalanceTx reads the client's wallet: the withdrawable balance a pro rata forfeiture is a share of.
	BalanceTx(ctx context.Context, tx pgx.Tx, code string) (ledger.Balance, error)
}

// Trades tells the engine when a closing deal's position opened, for the rules' minimum hold. It is the seam the
// partners room's commission engine reads hold times through (partners.Trades); cmd/brokerdesk passes the same
// adapter over the trading desk's service to both.
type Trades interface {
	// PositionsOpened is when each asked position was opened on the server's login, at or before the closing
	// deal's time, in the asks' order; the zero time when no opening deal is known. The engine asks once per batch.
	PositionsOpened(ctx context.Context, t tenants.Tenant, asks []tradingdesk.PositionAsk) ([]time.Time, error)
}

// Options are the module's collaborators.
type Options struct {
	Gate    *tenants.Gate
	Audit   *audit.Service
	Clients Clients
	Ledger  Ledger
	// Events, when set, announces grants, releases and forfeitures (bonus.granted, bonus.released,
	// bonus.forfeited) in the transaction of the change; Emails, when set, tells
	// the client of them (and of forfeitures); Portal says which client a portal login is (the portal's page).
	Events Publisher
	Emails Emails
	Portal Portal
	// Trades, when nil, answers nothing: deals then count toward bonuses whose rule has no minimum hold only.
	Trades Trades
	// Desk, when nil, credits no trading account: a rule with credit_to trading_account then grants nothing
	// ("no trading account"). cmd/brokerdesk passes the trading desk's service.
	Desk Desk
	// ExpireEvery is how often the worker removes expired bonuses; default one minute.
	ExpireEvery time.Duration
	// StopOutEvery is how often the worker reads the accounts carrying credit bonuses for stop-outs; default one
	// minute.
	StopOutEvery time.Duration
	Now          func() time.Time
	Log          *slog.Logger
}

// Service is every tenant's bonus engine, always through the tenant gate.
type Service struct {
	o Options
}

// New returns the bonuses module.
func New(o Options) (*Service, error) {
	if o.Gate == nil || o.Audit == nil || o.Clients == nil || o.Ledger == nil {
		return nil, errors.New("bonuses: Gate, Audit, Clients and Ledger are required")
	}
	if o.ExpireEvery <= 0 {
		o.ExpireEvery = time.Minute
	}
	if o.StopOutEvery <= 0 {
		o.StopOutEvery = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}, nil
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("bonuses: not found")
	// ErrState: the bonus is no longer open (released, expired, cancelled or forfeited).
	ErrState = errors.New("bonuses: the bonus is not open")
)

// engine is the actor of what the engine does by itself.
var engine = audit.System("bonus engine")

func (s *Service) readOnly(ctx context.Context, t tenants.Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn)
}
