// Package payments is the room for money in: the brokerage's payment gateways (Stripe, the generic signed-webhook
// gateway for crypto and local processors, manual bank deposits), clients' deposits, the processors' callbacks, and
// the exceptions queue where what could not complete cleanly waits for finance. docs/payments.md is the operator's
// and integrator's side.
//
// The deposit flow, top to bottom (deposits.go, callbacks.go):
//
//	portal deposit    the policy gate allows "deposit"; the amount is within the gateway's limits; a pending deposit
//	                  row; the processor's checkout (Adapter.Begin); the client is redirected or shown instructions
//	callback          POST /api/v1/webhooks/payments/<gateway>: the signature (Adapter.Parse; 400 when it fails, no case) ->
//	                  in ONE transaction: the callback recorded once per processor event id (a duplicate moves
//	                  nothing) -> matched to its deposit and client -> amount and currency checked -> the policy
//	                  gate asked again -> one ledger transaction credits the wallet from the gateway's clearing
//	                  account, the deposit completes with its number (1st, 2nd, ...), deposit.completed is published
//	                  -> commit -> only then the processor's acknowledgement. A callback on the straight path (a paid
//	                  deposit, as much as it asked) shares that transaction with its gateway's other callbacks
//	                  waiting at the same time (group.go: group commit, a statement per step for the group).
//	later             deposit.completed's later subscribers: the branded receipt email, the account manager's live
//	                  dashboard.
//
// Anything authentic that cannot complete cleanly (an unknown reference, an amount or currency that does not match,
// a client the gate now refuses, a payment after the deposit failed) opens a case in the exceptions queue
// (exceptions.go), and the money it carries waits in the suspense account: it is never lost and never credited
// twice.
package payments

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/live"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Kind builds the adapters of one kind of gateway from their stored configuration and (opened) secrets, both JSON.
type Kind struct {
	Name string
	// New builds an adapter; the client makes its HTTP calls to the processor.
	New func(config, secrets []byte, client *http.Client) (Adapter, error)
	// Validate checks a configuration and its secrets: a *validation.Error naming every bad field.
	Validate func(config, secrets []byte) error
	// Presets are ready configurations of this kind by name ("nowpayments"), completed with secrets by the admin.
	Presets map[string][]byte
	// Simulate writes the callback the processor would send about a payment, signed with the gateway's secret as
	// the processor signs it: what the demo's payment sandbox plays, so the whole flow can be watched without the
	// processor. nil: the kind cannot be simulated.
	Simulate func(config, secrets []byte, p Simulated, now time.Time) (http.Header, []byte, error)
}

// Simulated is the payment a simulated callback is about.
type Simulated struct {
	EventID    string
	Reference  string
	ExternalID string
	Status     NotifiedStatus
	Amount     money.Amount
}

// Ledger is what the deposit flow needs of the ledger (*ledger.Service).
type Ledger interface {
	PostTx(ctx context.Context, tx pgx.Tx, e ledger.Entry) (ledger.Transaction, error)
	// PostEachTx posts several transactions in one batch (a group of deposits).
	PostEachTx(ctx context.Context, tx pgx.Tx, entries []ledger.Entry) ([]ledger.Transaction, error)
	ClientBalances(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]ledger.Balance, error)
	History(ctx context.Context, t tenants.Tenant, code, cursor string, limit int) (ledger.HistoryPage, error)
}

// Clients is what the flow needs of the clients module (*clients.Service): who the client is, and the policy gate.
type Clients interface {
	GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (clients.Client, error)
	MayTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, a clients.Action) (clients.Decision, error)
	// MayEachTx is MayTx for a group of clients (a group of callbacks).
	MayEachTx(ctx context.Context, tx pgx.Tx, ids []uuid.UUID, a clients.Action) (map[uuid.UUID]clients.Decision, error)
	// List serves the demo (its approved clients).
	List(ctx context.Context, t tenants.Tenant, v clients.Viewer, f clients.Filter, after *clients.After, limit int) ([]clients.Client, error)
}

// Emails queues a client's email in the caller's transaction (*emails.Service).
type Emails interface {
	Queue(ctx context.Context, tx pgx.Tx, t tenants.Tenant, key string, e emails.Email) error
}

// Publisher announces this module's events in the caller's transaction (*events.Hall).
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e events.Event) error
	// PublishEach announces several events at once (a group's deposits).
	PublishEach(ctx context.Context, tx pgx.Tx, t tenants.Tenant, list []events.Event) error
}

// Options are the module's collaborators.
type Options struct {
	Gate    *tenants.Gate
	Audit   *audit.Service
	Ledger  Ledger
	Clients Clients
	Emails  Emails
	Events  Publisher
	// Portal says which client a portal login is (identity), for the portal's wallet and deposits.
	Portal PortalClients
	// Store keeps manual deposits' evidence files (the blob store documents use).
	Store Store
	// Sealer seals gateways' secrets at rest (BD_DATA_KEYS).
	Sealer *auth.Sealer
	// Kinds are the gateway adapters this deployment speaks, by name ("stripe", "generic").
	Kinds []Kind
	// HTTP makes the adapters' calls to processors (default: a client with a 20 s timeout).
	HTTP *http.Client
	// TenantURL is the absolute URL of path on the tenant's host (webhook URLs, return URLs).
	TenantURL func(t tenants.Tenant, path string) string
	// Sandbox is set under `make run` only: the demo's gateways and the payment sandbox's simulated callbacks.
	Sandbox *Sandbox
	// Metrics registers the module's counters (callbacks by outcome, refused signatures); nil: not exported.
	Metrics prometheus.Registerer
	Now     func() time.Time
	Log     *slog.Logger
}

// Service runs every tenant's gateways, deposits and exceptions, always through the tenant gate.
type Service struct {
	o        Options
	kinds    map[string]Kind
	adapters adapterCache
	live     *liveFeed
	metrics  metrics
	groups   groups // callbacks waiting for their gateway's group commit (group.go)
}

// metrics are the module's counters.
type metrics struct {
	callbacks     *prometheus.CounterVec
	badSignatures *prometheus.CounterVec
	groupSize     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "brokerdesk_payment_callbacks_total",
			Help: "Authenticated payment callbacks, by gateway kind and what the deposit flow did with them."}, []string{"kind", "outcome"}),
		badSignatures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "brokerdesk_payment_callbacks_bad_signature_total",
			Help: "Payment callbacks refused because their signature did not verify, by gateway kind."}, []string{"kind"}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "brokerdesk_payment_callback_group_size",
			Help:    "Callbacks per group commit (group.go): 1 at low load, more when callbacks arrive while a group commits.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64}}),
	}
	if reg != nil {
		reg.MustRegister(m.callbacks, m.badSignatures, m.groupSize)
	}
	return m
}

// New returns the payments service.
func New(o Options) (*Service, error) {
	if o.Gate == nil || o.Audit == nil || o.Ledger == nil || o.Clients == nil || o.Events == nil || o.Sealer == nil || o.TenantURL == nil ||
		o.Portal == nil || o.Store == nil {
		return nil, errors.New("payments: Gate, Audit, Ledger, Clients, Events, Portal, Store, Sealer and TenantURL are required")
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 20 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{o: o, kinds: map[string]Kind{}, adapters: adapterCache{m: map[adapterKey]Adapter{}}, live: newLiveFeed(live.Options{}),
		metrics: newMetrics(o.Metrics)}
	for _, k := range o.Kinds {
		s.kinds[k.Name] = k
	}
	return s, nil
}

// Status is where a deposit is.
type Status string

const (
	StatusPending          Status = "pending"
	StatusProcessing       Status = "processing"
	StatusAwaitingApproval Status = "awaiting_approval"
	StatusCompleted        Status = "completed"
	StatusFailed           Status = "failed"
	StatusCancelled        Status = "cancelled"
)

// Label is the status in words.
func (s Status) Label() string {
	switch s {
	case StatusPending:
		return "Waiting for payment"
	case StatusProcessing:
		return "Payment being confirmed"
	case StatusAwaitingApproval:
		return "Waiting for a second approval"
	case StatusCompleted:
		return "Credited"
	case StatusFailed:
		return "Failed"
	case StatusCancelled:
		return "Cancelled"
	}
	return string(s)
}

// Deposit is one deposit's record.
type Deposit struct {
	ID            uuid.UUID
	ClientID      uuid.UUID
	GatewayID     uuid.UUID
	GatewayName   string
	GatewayKind   string
	Amount        money.Amount
	Status        Status
	ExternalID    string
	RedirectURL   string
	Instructions  string
	DepositNumber int // 1 for the client's first completed deposit; 0 until completed
	LedgerTx      *uuid.UUID
	Failure       string
	BankReference string
	// A manual deposit's evidence (the bank statement or advice): its blob key ("" without), the name it was
	// uploaded under, its content type as read from its bytes, its size.
	EvidenceKey  string
	EvidenceName string
	EvidenceType string
	EvidenceSize int64
	CreatedBy    string
	ApprovedBy   *uuid.UUID
	CreatedAt    time.Time
	UpdatedAt    time.Time
	CompletedAt  *time.Time
	PromoCode    string // what the client typed when starting it; "" for none
}

// Audit actions.
const (
	ActionGatewaySaved      = "payments.gateway_saved"
	ActionDepositStarted    = "deposit.started"
	ActionDepositCompleted  = "deposit.completed"
	ActionDepositFailed     = "deposit.failed"
	ActionDepositRecorded   = "deposit.recorded" // a manual deposit entered by finance
	ActionDepositApproved   = "deposit.approved"
	ActionDepositRejected   = "deposit.rejected"
	ActionEvidenceViewed    = "deposit.evidence_viewed" // a link to a manual deposit's bank statement handed out
	ActionExceptionOpened   = "payment_exception.opened"
	ActionExceptionResolved = "payment_exception.resolved"
	ActionSettingsChanged   = "payments.settings_changed"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("payments: not found")
	// ErrNotAllowed: the policy gate refuses the client a deposit (the reason is in the error).
	ErrNotAllowed = errors.New("payments: deposit not allowed")
	// ErrGatewayDisabled: the gateway is switched off or does not take the currency.
	ErrGatewayDisabled = errors.New("payments: gateway not available")
	// ErrPersonRequired: a step of the four eyes (recording, approving or rejecting a manual deposit, resolving an
	// exception case) taken without a staff user, as by an API key: whose eyes they were must be known.
	ErrPersonRequired = errors.New("payments: a staff user must do this")
)

// systemActor is the audit actor of what callbacks and jobs do.
var systemActor = audit.System("payments")
