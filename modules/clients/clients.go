// Package clients is the room for a brokerage's traders as CRM records: registration on the portal with email
// verification, the client lifecycle (statuses, the explicit transition table, status history), tier and account
// manager assignment, the referral attribution, and THE policy gate (Decide, May) that every path moving money or
// opening accounts asks before it acts. Other modules read and move clients through this service only (GetTx,
// TransitionTx, MayTx). docs/clients.md has the lifecycle table, the gate, the registration rules and the API.
package clients

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Status is where a client is in onboarding and the relationship.
type Status string

const (
	StatusRegistered    Status = "registered"
	StatusEmailVerified Status = "email_verified"
	StatusKYCSubmitted  Status = "kyc_submitted"
	StatusKYCMoreInfo   Status = "kyc_more_info"
	StatusKYCRejected   Status = "kyc_rejected"
	StatusKYCApproved   Status = "kyc_approved"
	StatusRestricted    Status = "restricted"
	StatusSuspended     Status = "suspended"
	StatusClosed        Status = "closed"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusRegistered, StatusEmailVerified, StatusKYCSubmitted, StatusKYCMoreInfo, StatusKYCRejected,
	StatusKYCApproved, StatusRestricted, StatusSuspended, StatusClosed}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, x := range Statuses {
		if x == s {
			return true
		}
	}
	return false
}

// Label is the status as a person reads it.
func (s Status) Label() string {
	switch s {
	case StatusRegistered:
		return "Registered (email not verified)"
	case StatusEmailVerified:
		return "Email verified"
	case StatusKYCSubmitted:
		return "KYC submitted"
	case StatusKYCMoreInfo:
		return "KYC: more information requested"
	case StatusKYCRejected:
		return "KYC rejected"
	case StatusKYCApproved:
		return "KYC approved"
	case StatusRestricted:
		return "Restricted"
	case StatusSuspended:
		return "Suspended"
	case StatusClosed:
		return "Closed"
	}
	return string(s)
}

// Client is one trader's CRM record.
type Client struct {
	ID               uuid.UUID
	Email            string
	FirstName        string
	LastName         string
	Country          string // ISO 3166-1 alpha-2
	Phone            string // E.164
	DateOfBirth      time.Time
	MarketingConsent bool
	Experience       string // "", none, some, experienced
	Status           Status
	Tier             string
	ManagerID        *uuid.UUID
	ReferralCode     string
	ReferralSource   string // link or typed; "" without a referral
	EmailVerifiedAt  *time.Time
	KYCApprovedAt    *time.Time
	StatusChangedAt  time.Time
	CreatedAt        time.Time
	// ErasedAt is set once the client's personal data was erased (EraseTx): the status never changes again.
	ErasedAt *time.Time
}

// Name is the client's full name.
func (c Client) Name() string { return c.FirstName + " " + c.LastName }

// Errors callers branch on.
var (
	ErrNotFound = errors.New("clients: client not found")
)

// Audit actions.
const (
	ActionRegistered       = "client.registered"
	ActionStatusChanged    = "client.status_changed"
	ActionEmailVerified    = "client.email_verified"
	ActionAssigned         = "client.assigned"
	ActionVerificationSent = "client.verification_sent"
	ActionSettingsChanged  = "client.onboarding_settings_changed"
)

// PortalUsers is what registration needs of identity: a portal login created in the registration's transaction.
type PortalUsers interface {
	CreatePortalUserTx(ctx context.Context, tx pgx.Tx, email, password string, clientID uuid.UUID) (uuid.UUID, error)
}

// Emails sends one templated, branded email now (*emails.Service): the verification task mints its token and
// sends at once, so the token never rests in the outbox.
type Emails interface {
	Send(ctx context.Context, t tenants.Tenant, e emails.Email) error
}

// Service reads and changes clients of any tenant through the tenant gate.
type Service struct {
	gate     *tenants.Gate
	audit    *audit.Service
	portal   PortalUsers
	emails   Emails
	registry *tenants.Registry
	outbox   jobs.Outbox
	now      func() time.Time
	log      *slog.Logger
}

// Option configures the Service.
type Option func(*Service)

// WithAudit records through trail (default: an audit.Service on the same gate).
func WithAudit(trail *audit.Service) Option { return func(s *Service) { s.audit = trail } }

// WithPortalUsers is identity, for registration's portal login.
func WithPortalUsers(p PortalUsers) Option { return func(s *Service) { s.portal = p } }

// WithEmails sends the verification email.
func WithEmails(e Emails) Option { return func(s *Service) { s.emails = e } }

// WithRegistry loads the tenant of a task (the verification task's handler, jobs.ForTenant).
func WithRegistry(r *tenants.Registry) Option { return func(s *Service) { s.registry = r } }

// WithClock replaces time.Now (tests of expiry).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLog logs through l.
func WithLog(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// NewService returns the clients service. With the gate alone it reads clients, moves them through the
// lifecycle and answers the policy gate; registration also needs WithPortalUsers, and the verification task
// WithEmails and WithRegistry.
func NewService(gate *tenants.Gate, opts ...Option) *Service {
	s := &Service{gate: gate, now: time.Now, outbox: jobs.Outbox{DefaultQueue: jobs.QueueNotifications}}
	for _, o := range opts {
		o(s)
	}
	if s.audit == nil {
		s.audit = audit.NewService(gate)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

const clientColumns = `c.id, c.email, c.first_name, c.last_name, c.country, c.phone, c.date_of_birth, c.marketing_consent,
	c.experience, c.status, c.tier, c.manager_id, coalesce(r.code, ''), coalesce(r.source, ''), c.email_verified_at,
	c.kyc_approved_at, c.status_changed_at, c.created_at, c.erased_at`

const clientFrom = ` FROM clients c LEFT JOIN client_referrals r ON r.client_id = c.id`

func scanClient(row pgx.Row) (Client, error) {
	var c Client
	var dob *time.Time
	var st string
	err := row.Scan(&c.ID, &c.Email, &c.FirstName, &c.LastName, &c.Country, &c.Phone, &dob, &c.MarketingConsent,
		&c.Experience, &st, &c.Tier, &c.ManagerID, &c.ReferralCode, &c.ReferralSource, &c.EmailVerifiedAt,
		&c.KYCApprovedAt, &c.StatusChangedAt, &c.CreatedAt, &c.ErasedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Client{}, ErrNotFound
	}
	if err != nil {
		return Client{}, err
	}
	c.Status = Status(st)
	if dob != nil {
		c.DateOfBirth = *dob
	}
	return c, nil
}

// GetTx returns one client of the tenant whose scope tx is; ErrNotFound for an unknown id.
func (s *Service) GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Client, error) {
	return scanClient(tx.QueryRow(ctx, `SELECT `+clientColumns+clientFrom+` WHERE c.id = $1`, id))
}

// getForUpdate is GetTx that locks the client's row until tx ends (status changes serialise on it).
func getForUpdate(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Client, error) {
	return scanClient(tx.QueryRow(ctx, `SELECT `+clientColumns+clientFrom+` WHERE c.id = $1 FOR UPDATE OF c`, id))
}

// Get returns one client of t; ErrNotFound for an id that is not one of t's.
func (s *Service) Get(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Client, error) {
	var c Client
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		c, err = s.GetTx(ctx, tx, id)
		return err
	})
	return c, err
}

// CountByStatus counts a tenant's clients per status (every status present, zero included).
func (s *Service) CountByStatus(ctx context.Context, t tenants.Tenant) (map[Status]int, error) {
	out := make(map[Status]int, len(Statuses))
	for _, st := range Statuses {
		out[st] = 0
	}
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT status, count(*) FROM clients GROUP BY status`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			out[Status(st)] = n
		}
		return rows.Err()
	})
	return out, err
}

// HistoryEntry is one row of a client's status history.
type HistoryEntry struct {
	From   Status // "" for the registration
	To     Status
	Reason string
	Actor  audit.Actor
	At     time.Time
}

// HistoryTx returns a client's status history, oldest first.
func (s *Service) HistoryTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) ([]HistoryEntry, error) {
	rows, err := tx.Query(ctx, `SELECT coalesce(from_status, ''), to_status, reason, actor_kind, actor_id, created_at
		FROM client_status_history WHERE client_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("status history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (HistoryEntry, error) {
		var h HistoryEntry
		var from, to, kind string
		err := r.Scan(&from, &to, &h.Reason, &kind, &h.Actor.ID, &h.At)
		h.From, h.To, h.Actor.Kind = Status(from), Status(to), audit.ActorKind(kind)
		return h, err
	})
}

// History returns a client's status history, oldest first.
func (s *Service) History(ctx context.Context, t tenants.Tenant, id uuid.UUID) ([]HistoryEntry, error) {
	var out []HistoryEntry
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = s.HistoryTx(ctx, tx, id)
		return err
	})
	return out, err
}

func target(id uuid.UUID) audit.Target { return audit.Target{Type: "client", ID: id.String()} }
