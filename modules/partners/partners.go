// Package partners is the room for introducing brokers and affiliates (docs/partners.md): who they are, the codes
// clients register with, the tree they form over time, the clients attributed to them over time, versioned
// commission plans, and the commission engine that turns synced deals into rows that explain themselves and into
// credits of each partner's ledger wallet.
//
//	partners       partners: a client's application (applied, then approved or rejected by an ib_manager) or a
//	               partner staff make (active at once); its plan
//	codes          partner_codes: referral codes (?ref=CODE links) with a campaign tag; compared without case
//	tree           partner_parents: a partner's parent from an effective date on; the tree at a deal's time is
//	               read from it, so a move never moves what was earned before its date
//	attribution    partner_attributions: the partner a client belongs to from a date on; written at registration
//	               from the client.registered event's referral code, and by staff with a reason
//	plans          partner_plans and partner_plan_versions: an edit adds a version; rows keep theirs
//	engine         subscribers of trading.deal_closed and trading.deal_changed (and deposit.completed for CPA):
//	               partner_commissions, one row per (deal, generation, level, plan version), reversals for
//	               changed and cancelled deals, an explanation on every row, including the ones that paid nothing
//	batches        partners:post-earnings each minute per tenant: due rows posted to partners' wallets
//	               (ledger.PartnerWallet) against the brokerage's IB commissions account, in batches
//
//	portal         the IB portal (portal.go, portal_pages.go): /portal/partner and /api/v1/portal/partner for the
//	               portal login whose client is an active partner, narrowed to that partner by the session
//	live           the IB portal's live updates (live.go): partners.commission_recorded, a Postgres notification at
//	               commit, the partner's own SSE stream
//	back office    the partner pages (pages.go) with their forms (actions.go), the plan editor and its preview
//	               (planform.go, preview.go over PayUp, the engine's own computation), the reports (reports.go)
//
//	payouts        partner_payouts: earnings moved from the partner's wallet to its client's wallet (payouts.go)
//	recalc         a period recomputed with today's tree and plans through the engine's computation (PayUp);
//	               differences as rows of a new generation, announced like the engine's (recalc.go)
package partners

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/live"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Clients is what partners needs of the clients module (*clients.Service): a client's name for an application,
// referred clients' emails and names (at once), and the demo's clients.
type Clients interface {
	GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (clients.Client, error)
	ContactsTx(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]clients.Contact, error)
	List(ctx context.Context, t tenants.Tenant, v clients.Viewer, f clients.Filter, after *clients.After, limit int) ([]clients.Client, error)
}

// Portal says which client a portal login is (*identity.Service): a trader applies to become a partner.
type Portal interface {
	PortalClientID(ctx context.Context, t tenants.Tenant, portalUserID uuid.UUID) (uuid.UUID, error)
}

// Ledger posts earnings to partners' wallets and reads their balances (*ledger.Service).
type Ledger interface {
	PostTx(ctx context.Context, tx pgx.Tx, e ledger.Entry) (ledger.Transaction, error)
	Balance(ctx context.Context, t tenants.Tenant, code string) (ledger.Balance, error)
}

// Trades tells the engine what a deal event does not carry: the type of the deal's trading account and when the
// deal's position opened. cmd/brokerdesk reads both through the trading desk's service.
type Trades interface {
	// AccountType is the slug of the account's type ("" when unknown).
	AccountType(ctx context.Context, t tenants.Tenant, accountID uuid.UUID) (string, error)
	// PositionsOpened is when each asked position was opened (its first opening deal on the server's login, at or
	// before the closing deal's time), in the asks' order; the zero time when no opening deal is known. The engine
	// asks once per batch of deals.
	PositionsOpened(ctx context.Context, t tenants.Tenant, asks []tradingdesk.PositionAsk) ([]time.Time, error)
}

// Options are the module's collaborators.
type Options struct {
	Gate    *tenants.Gate
	Audit   *audit.Service
	Clients Clients
	Ledger  Ledger
	// Portal, when nil, leaves the portal's application route answering 404.
	Portal Portal
	// Deposits, when nil, leaves the referred clients' deposits empty.
	Deposits Deposits
	// Events, when set, carries partners.commission_recorded (the IB portal's live updates); nil publishes nothing.
	Events *events.Hall
	// Trades, when nil, answers nothing: plans with a minimum hold then explain "hold unknown", and lot modifiers
	// and exclusions by account type do not apply.
	Trades Trades
	// PostEvery is how often the worker posts due earnings to the wallets; default one minute.
	PostEvery time.Duration
	// BatchRows bounds the rows one batch posts; default 5000.
	BatchRows int
	Now       func() time.Time
	Log       *slog.Logger
}

// Service is every tenant's partners, always through the tenant gate.
type Service struct {
	o    Options
	live *liveFeed
	// cursors sign the partner area's pages of referred clients (positions only: nothing secret is in one).
	cursors *web.Cursors
}

// New returns the partners module.
func New(o Options) (*Service, error) {
	if o.Gate == nil || o.Audit == nil || o.Clients == nil || o.Ledger == nil {
		return nil, errors.New("partners: Gate, Audit, Clients and Ledger are required")
	}
	if o.PostEvery <= 0 {
		o.PostEvery = time.Minute
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 5000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, live: newLiveFeed(live.Options{}), cursors: web.NewCursors([]byte("brokerdesk partners referred clients page cursor v1 (positions only)"))}, nil
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("partners: not found")
	// ErrState: the partner is not in a state that allows the action (approving an active partner).
	ErrState = errors.New("partners: not allowed in the partner's state")
)

func (s *Service) readOnly(ctx context.Context, t tenants.Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn)
}
