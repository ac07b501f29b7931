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
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity"
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

// Portal is identity's side of a client: the portal login created in the registration's transaction, which client
// a portal login is (the portal's profile), and the client page's sign-in section with its two-factor reset
// (*identity.Service).
type Portal interface {
	CreatePortalUserTx(ctx context.Context, tx pgx.Tx, email, password string, clientID uuid.UUID) (uuid.UUID, error)
	PortalClientID(ctx context.Context, t tenants.Tenant, portalUserID uuid.UUID) (uuid.UUID, error)
	ClientSignIn(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) (identity.ClientSignIn, error)
	ResetClientTwoFactor(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, by audit.Actor) (int, error)
}

// Emails sends one templated, branded email now (*emails.Service): the verification task mints its token and
// sends at once, so the token never rests in the outbox.
type Emails interface {
	Send(ctx context.Context, t tenants.Tenant, e emails.Email) error
}

// Options are the module's collaborators. Only Gate is required: with it alone the service reads clients, moves
// them through the lifecycle and answers the policy gate. Registration needs Portal; the verification task Emails.
type Options struct {
	Gate *tenants.Gate
	// Audit records every change and lists a client's timeline (default: an audit.Service on the same gate).
	Audit  *audit.Service
	Portal Portal
	Emails Emails
	// Events announces registrations and status changes (default: a hall nobody listens to).
	Events Publisher
	// Documents lists a client's KYC documents on the client page (nil: the section is left out).
	Documents DocumentLister
	// Secure: the hosts are served over https (the referral cookie is Secure and __Host-).
	Secure bool
	Now    func() time.Time
	Log    *slog.Logger
}

// Service reads and changes clients of any tenant through the tenant gate.
type Service struct {
	o      Options
	gate   *tenants.Gate
	audit  *audit.Service
	portal Portal
	emails Emails
	outbox jobs.Outbox
	events Publisher
	now    func() time.Time
	log    *slog.Logger
}

// NewService returns the clients service.
func NewService(o Options) *Service {
	if o.Audit == nil {
		o.Audit = audit.NewService(o.Gate)
	}
	if o.Events == nil {
		o.Events = events.New(events.Options{Gate: o.Gate}) // a hall nobody subscribes to: publishing costs nothing
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, gate: o.Gate, audit: o.Audit, portal: o.Portal, emails: o.Emails, events: o.Events, now: o.Now, log: o.Log,
		outbox: jobs.Outbox{DefaultQueue: jobs.QueueNotifications}}
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

// Detail is a client with everything the client page shows that the service owns.
type Detail struct {
	Client   Client
	History  []HistoryEntry
	Policy   []Decision
	Settings Settings
	// Reinstate is where "reinstate" would take the client ("" when it does not apply).
	Reinstate Status
}

// Detail loads a client v may see with its history and the gate's answers.
func (s *Service) Detail(ctx context.Context, t tenants.Tenant, v Viewer, id uuid.UUID) (Detail, error) {
	var d Detail
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if d.Client, err = s.getForTx(ctx, tx, v, id); err != nil {
			return err
		}
		if d.History, err = s.HistoryTx(ctx, tx, id); err != nil {
			return err
		}
		if d.Policy, err = s.PolicyTx(ctx, tx, d.Client); err != nil {
			return err
		}
		if d.Settings, err = settingsTx(ctx, tx); err != nil {
			return err
		}
		if d.Client.ErasedAt != nil {
			return nil // an erased client's status never changes: nothing to reinstate
		}
		if to, ok, err := s.ReinstateTarget(ctx, tx, d.Client); err != nil {
			return err
		} else if ok {
			d.Reinstate = to
		}
		return nil
	})
	return d, err
}
