// Package tradingdesk is the trading desk: the brokerage's trading servers, the account types it offers on them,
// client accounts, the changes pushed to the platform, transfers and deal sync; drift reports will join it. It is
// the room where the CRM and the trading platforms become one system (docs/trading/desk.md).
//
// The desk speaks to platforms only through trading.Connector (modules/trading) and never imports a connector
// package: the binary gives it a Dialer that builds the right connector for a server's platform. Every platform call
// runs in the worker, through one shared session per server (Sessions), so an HTTP request never waits on a
// platform: the back office asks for a connection check and the worker records its answer on the server's row.
//
//	servers        trading_servers: platform, live or demo, connection settings, sealed manager credentials, enabled,
//	               the last check (ok, down, unknown) with its error and the platform's capabilities
//	account types  account_types: the offer (Standard, Raw, Swap-free, Demo) mapped to a server, a platform group per
//	               currency with its swap-free twin, allowed leverages, minimum first deposits, tiers and countries
//	checks         tradingdesk:check-servers every minute per tenant (queue sync), tradingdesk:check-server on demand,
//	               tradingdesk:close-inactive closes the sessions of tenants no longer active;
//	               a change of state is logged once and audited, a server that stays down stays quiet
//	deal sync      trading_deals and trading_deal_cursors: one account's deals pulled since its cursor
//	               (tradingdesk:sync-account, queue sync), stored once each with COPY, changes and cancellations
//	               found in an overlap window, trading.deal_closed and trading.deal_changed published with them;
//	               tradingdesk:sync-accounts walks every tenant's accounts each minute and enqueues their syncs
//	changes        trading_requests of kinds set_leverage, set_swap_free, set_access, reset_password: validated and
//	               queued (tradingdesk:change) or awaiting a back-office approval, carried through the shared session
//	               and recorded once the platform said done; client.status_changed disables and re-enables a client's
//	               accounts (access.go, ExpectedAccess); the desk's rules in trading_desk_settings (changes.go)
//	drift          trading_drift_items, trading_drift_checks: tradingdesk:check-drift compares each account's
//	               settings and money with its platform every 15 minutes per tenant (and on demand), heals settings
//	               drift where the brokerage allows it, leaves money drift to finance (see drift.go)
//	transfers      trading_transfers: money between a client's wallet and their trading account, a ledger hold or
//	               posting against the server's trading_server account and a balance operation under the transfer's
//	               id (tradingdesk:transfer, queue sync); see transfers.go for the order of writes
//	credits        trading_credits: credit_in and credit_out on a client's account asked by another room (the bonus
//	               engine) in its own transaction, carried by the worker like a transfer (tradingdesk:credit), and
//	               trading.credit_finished at their end; accounts' money state read on demand (credits.go)
package tradingdesk

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Dialer opens a manager session on a trading server: cmd/brokerdesk's switches on the server's platform and
// builds that platform's connector from the server's settings and credentials. A session it returns is the desk's
// to Close.
type Dialer interface {
	Dial(ctx context.Context, s Server, c Credentials) (trading.Connector, error)
}

// DialFunc is a Dialer made of a function.
type DialFunc func(ctx context.Context, s Server, c Credentials) (trading.Connector, error)

// Dial calls f.
func (f DialFunc) Dial(ctx context.Context, s Server, c Credentials) (trading.Connector, error) {
	return f(ctx, s, c)
}

// Clients is what the desk needs of the clients module (*clients.Service): the tenant's tiers, which account types
// name; a client and the policy gate's answer, which account requests ask; the demo's approved clients.
type Clients interface {
	Settings(ctx context.Context, t tenants.Tenant) (clients.Settings, error)
	GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (clients.Client, error)
	MayTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, a clients.Action) (clients.Decision, error)
	List(ctx context.Context, t tenants.Tenant, v clients.Viewer, f clients.Filter, after *clients.After, limit int) ([]clients.Client, error)
	// GetFor reads a client the staff viewer may see (clients.ErrNotFound otherwise).
	GetFor(ctx context.Context, t tenants.Tenant, v clients.Viewer, id uuid.UUID) (clients.Client, error)
}

// Portal says which client a portal login is (*identity.Service).
type Portal interface {
	PortalClientID(ctx context.Context, t tenants.Tenant, portalUserID uuid.UUID) (uuid.UUID, error)
}

// Emails sends a client's email now (*emails.Service): the credentials of a new account are minted in the worker
// and sent at once, so they never rest in the outbox.
type Emails interface {
	Send(ctx context.Context, t tenants.Tenant, e emails.Email) error
}

// Tenants lists the platform's tenants (*tenants.Registry): the worker closes the sessions of tenants that are no
// longer active.
type Tenants interface {
	List(ctx context.Context, f tenants.ListFilter) ([]tenants.Tenant, error)
}

// Options are the module's collaborators.
type Options struct {
	Gate    *tenants.Gate
	Tenants Tenants
	Audit   *audit.Service
	Clients Clients
	Emails  Emails
	Portal  Portal
	// Events publishes deal sync's trading.deal_closed and trading.deal_changed in the transaction of the deals.
	Events *events.Hall
	// Sealer seals servers' manager credentials at rest (BD_DATA_KEYS).
	Sealer *auth.Sealer
	// Ledger moves the money of transfers between wallets and trading accounts (*ledger.Service); without it
	// transfers are refused with ErrNoLedger.
	Ledger Ledger
	// Dialer builds connectors (cmd/brokerdesk: MT5, TradeLocker, DXtrade, the built-in simulator). Only the worker
	// dials.
	Dialer Dialer
	// CheckTimeout bounds one connection check (dial and Ping); default 20 s.
	CheckTimeout time.Duration
	// CheckEvery is how often the worker checks every enabled server of every tenant; default one minute.
	CheckEvery time.Duration
	// DealOverlap is how far before an account's synced_to each sync reads the platform's deals again, to find
	// those changed, cancelled, restored or recorded late; default DefaultDealOverlap.
	DealOverlap time.Duration
	// DealPage is the page size asked of the connector (it may give fewer: MT5 at most 100); default 1000.
	DealPage int
	// DealBatch is how many deals at least commit together with the cursor; default 5000 (one page when smaller).
	DealBatch int
	// DealHistoryStart is where the first sync of a login the CRM does not know starts reading, and the earliest
	// any first sync reads; default DefaultDealHistoryStart. An account of trading_accounts starts at its opening
	// (OpeningMargin before its created_at).
	DealHistoryStart time.Time
	// Queue is the worker's Asynq client, through which the periodic walk enqueues every account's sync
	// (WalkAccounts); only the walk needs it.
	Queue *asynq.Client
	// SyncEvery is how often the worker walks every tenant's accounts and syncs their deals; default one minute.
	SyncEvery time.Duration
	// DriftEvery is how often the worker checks every tenant's accounts for drift; default DefaultDriftEvery.
	DriftEvery time.Duration
	// DriftParallel is how many accounts of one server a drift check reads at once; default DefaultDriftParallel.
	DriftParallel int
	// Faults is `make run`'s switch that changes an account on the built-in simulator behind the CRM's back, so
	// drift can be made on demand from the drift page; nil everywhere else.
	Faults Faults
	Now    func() time.Time
	Log    *slog.Logger
}

// DefaultDealOverlap is the window before synced_to that every sync reads again. A day covers what changes
// recent deals in practice: a dealer's corrections and deletions on the trading day (MT5 managers update, delete
// and restore deals), gateways cancelling filled deals, deals a platform records with a time already passed, and
// clocks that disagree by seconds. Re-reading costs reads only (an unchanged deal is not written), a day of an
// account's deals per sync. Older changes are reconciliation's to find.
const DefaultDealOverlap = 24 * time.Hour

// DefaultDealHistoryStart is where the first sync of a login the CRM does not know starts: before any deal of the
// platforms we connect to (MT5 came out in 2010). An account of trading_accounts starts at its opening instead.
var DefaultDealHistoryStart = time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)

// Service keeps every tenant's trading servers and account types, always through the tenant gate.
type Service struct {
	o        Options
	sessions *Sessions
}

// New returns the trading desk.
func New(o Options) (*Service, error) {
	if o.Gate == nil || o.Tenants == nil || o.Audit == nil || o.Clients == nil || o.Emails == nil || o.Portal == nil || o.Events == nil ||
		o.Sealer == nil || o.Dialer == nil {
		return nil, errors.New("tradingdesk: Gate, Tenants, Audit, Clients, Emails, Portal, Events, Sealer and Dialer are required")
	}
	if o.DealOverlap <= 0 {
		o.DealOverlap = DefaultDealOverlap
	}
	if o.DealPage <= 0 {
		o.DealPage = 1000
	}
	if o.DealBatch <= 0 {
		o.DealBatch = 5000
	}
	if o.DealHistoryStart.IsZero() {
		o.DealHistoryStart = DefaultDealHistoryStart
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 20 * time.Second
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = time.Minute
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = time.Minute
	}
	if o.DriftEvery <= 0 {
		o.DriftEvery = DefaultDriftEvery
	}
	if o.DriftParallel <= 0 {
		o.DriftParallel = DefaultDriftParallel
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, sessions: NewSessions(o.Dialer, SessionOptions{Now: o.Now})}, nil
}

// Sessions is the worker's pool of manager sessions, one per server (the flows that join the desk use it too).
func (s *Service) Sessions() *Sessions { return s.sessions }

// Audit actions.
const (
	ActionServerSaved          = "trading.server_saved"
	ActionServerCheckRequested = "trading.server_check_requested"
	ActionServerStatusChanged  = "trading.server_status_changed"
	ActionAccountTypeSaved     = "trading.account_type_saved"
)

// Audit target types.
const (
	serverTarget      = "trading_server"
	accountTypeTarget = "account_type"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("tradingdesk: not found")
	// ErrExists: a create of a slug the tenant already uses.
	ErrExists = errors.New("tradingdesk: the slug is taken")
)

// systemActor is the audit actor of what the worker's checks record.
var systemActor = audit.System("tradingdesk")

// readOnly runs fn in a read-only scope of t.
func (s *Service) readOnly(ctx context.Context, t tenants.Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn)
}
