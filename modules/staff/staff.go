// Package staff is the room for a brokerage's back-office people: staff users, their roles, invitations to set a
// password, and the back office's staff page (pages.go). Provisioning uses it to invite a tenant's first
// administrator; sign-in, 2FA and permissions (modules/identity, a room above this one) build on these tables.
package staff

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Role is a staff role; a user may hold several.
type Role string

const (
	RoleAdmin      Role = "admin"
	RoleCompliance Role = "compliance"
	RoleSales      Role = "sales"
	RoleRetention  Role = "retention"
	RoleFinance    Role = "finance"
	RoleSupport    Role = "support"
	RoleIBManager  Role = "ib_manager"
	RoleReadonly   Role = "readonly"
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleCompliance, RoleSales, RoleRetention, RoleFinance, RoleSupport, RoleIBManager, RoleReadonly}

// InvitationTTL is how long an invitation link stays valid.
const InvitationTTL = 7 * 24 * time.Hour

// Mailer sends one email.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Options are the module's collaborators.
type Options struct {
	Gate   *tenants.Gate
	Audit  *audit.Service
	Mailer Mailer
	// TenantURL returns the absolute URL of path on the tenant's host (scheme and base domain come from config).
	TenantURL func(t tenants.Tenant, path string) string
	// Actor is the signed-in caller of an API request as an audit actor (identity.Actor).
	Actor func(c *fiber.Ctx) audit.Actor
	// TwoFactor says which staff users have two-factor sign-in on, for the staff page (identity).
	TwoFactor TwoFactor
	Log       *slog.Logger
}

// Service manages staff users of any tenant, always through the tenant gate.
type Service struct {
	o         Options
	gate      *tenants.Gate
	audit     *audit.Service
	mailer    Mailer
	tenantURL func(t tenants.Tenant, path string) string
	log       *slog.Logger
}

// NewService returns the staff service. Every change it makes to staff is recorded in the audit trail.
func NewService(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, gate: o.Gate, audit: o.Audit, mailer: o.Mailer, tenantURL: o.TenantURL, log: o.Log}
}

// Door is the module's front door: the staff API and page, and the demo brokerage's staff (one per role).
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{
		Name:        "staff",
		Routes:      func(api *web.API) { Routes(api, s, s.o.Actor) },
		PageFiles:   PageFiles,
		Pages:       func(shell *web.Shell) { MountPages(shell, s, s.o.TwoFactor) },
		DemoSeeders: []tenants.Seeder{DemoSeeder{}},
		Trail:       s.trail,
	}
}

// ActionInvited is the audit action of a new invitation (with the user, for the first one).
const ActionInvited = "staff.invited"

// InviteAdmin creates the tenant's first administrator (status invited) and emails a single-use set-password
// link. It implements tenants.AdminInviter: called again after a crash it sends nothing if an unexpired
// invitation was already sent. (A crash between sending and recording the send may send a second link; both
// work until they expire or one is used.) Each new invitation is recorded in the audit trail as ActionInvited,
// by the system, in the transaction that creates it.
func (s *Service) InviteAdmin(ctx context.Context, t tenants.Tenant) error {
	var token string
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var userID uuid.UUID
		var status string
		err := tx.QueryRow(ctx, `INSERT INTO staff_users (id, email, full_name, roles, status)
			VALUES ($1, $2, 'Administrator', $3, 'invited')
			ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
			RETURNING id, status`, uuid.New(), t.AdminEmail, []string{string(RoleAdmin)}).Scan(&userID, &status)
		if err != nil {
			return fmt.Errorf("create admin user: %w", err)
		}
		if status != "invited" {
			return nil // the administrator already set a password
		}
		var pending bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM staff_invitations WHERE staff_user_id = $1
			AND sent_at IS NOT NULL AND accepted_at IS NULL AND expires_at > now())`, userID).Scan(&pending); err != nil {
			return err
		}
		if pending {
			return nil
		}
		var expires time.Time
		if token, expires, err = s.newInvitation(ctx, tx, userID); err != nil {
			return err
		}
		// Recorded last, just before commit: the audit append holds the tenant's chain lock until then.
		return s.audit.Record(ctx, tx, audit.Entry{
			Actor:  audit.System("provisioning"),
			Action: ActionInvited,
			Target: audit.Target{Type: "staff_user", ID: userID.String()},
			After: map[string]any{"email": t.AdminEmail, "roles": []Role{RoleAdmin}, "status": status,
				"invitation_expires_at": expires.UTC().Format(time.RFC3339)},
		})
	})
	if err != nil || token == "" {
		return err
	}
	link := s.tenantURL(t, "/invitations/"+token)
	msg := mail.Message{
		To:      t.AdminEmail,
		Subject: "Your " + t.DisplayName + " back office is ready",
		Text: "Hello,\n\nThe BrokerDesk back office of " + t.DisplayName + " is ready and you are its first administrator.\n\n" +
			"Set your password here (the link works once and expires in 7 days):\n" + link + "\n\n" +
			"If you did not expect this email, ignore it.\n",
	}
	if err := s.mailer.Send(ctx, msg); err != nil {
		return fmt.Errorf("send admin invitation: %w", err)
	}
	s.log.InfoContext(ctx, "admin invitation sent", "tenant", t.Slug) // never the link: it is a credential
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE staff_invitations SET sent_at = now() WHERE token_hash = $1`, hashToken(token))
		return err
	})
}

// newInvitation stores a new invitation and returns its token and expiry; only the token's hash is kept.
func (s *Service) newInvitation(ctx context.Context, tx pgx.Tx, userID uuid.UUID) (string, time.Time, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	expires := time.Now().Add(InvitationTTL)
	_, err := tx.Exec(ctx, `INSERT INTO staff_invitations (id, staff_user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)`,
		uuid.New(), userID, hashToken(token), expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("store invitation: %w", err)
	}
	return token, expires, nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Member is a staff user as listed.
type Member struct {
	ID       uuid.UUID
	Email    string
	FullName string
	Roles    []Role
	Status   string
}

// List returns the tenant's staff ordered by email.
func (s *Service) List(ctx context.Context, t tenants.Tenant) ([]Member, error) {
	var out []Member
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, email, full_name, roles, status FROM staff_users ORDER BY email`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) {
			var m Member
			var roles []string
			err := r.Scan(&m.ID, &m.Email, &m.FullName, &roles, &m.Status)
			for _, role := range roles {
				m.Roles = append(m.Roles, Role(role))
			}
			return m, err
		})
		return err
	})
	return out, err
}

// ErrEmailTaken is returned when a staff user with that email exists already.
var ErrEmailTaken = errors.New("staff: a staff user with this email exists")

// Invite creates a staff user (status invited) with the given roles and emails a single-use set-password link,
// recorded in the audit trail as ActionInvited by actor. email must be lower case; roles must be known (see Roles).
func (s *Service) Invite(ctx context.Context, t tenants.Tenant, actor audit.Actor, email, fullName string, roles []Role) (Member, error) {
	m := Member{ID: uuid.New(), Email: email, FullName: fullName, Roles: roles, Status: "invited"}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	var token string
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO staff_users (id, email, full_name, roles, status) VALUES ($1, $2, $3, $4, 'invited')`,
			m.ID, email, fullName, names)
		if database.IsUniqueViolation(err) {
			return ErrEmailTaken
		}
		if err != nil {
			return fmt.Errorf("create staff user: %w", err)
		}
		var expires time.Time
		if token, expires, err = s.newInvitation(ctx, tx, m.ID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionInvited,
			Target: audit.Target{Type: "staff_user", ID: m.ID.String()},
			After: map[string]any{"email": email, "full_name": fullName, "roles": roles, "status": m.Status,
				"invitation_expires_at": expires.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		return Member{}, err
	}
	msg := mail.Message{
		To:      email,
		Subject: "You are invited to the " + t.DisplayName + " back office",
		Text: "Hello " + fullName + ",\n\nYou have been invited to the BrokerDesk back office of " + t.DisplayName + ".\n\n" +
			"Set your password here (the link works once and expires in 7 days):\n" + s.tenantURL(t, "/invitations/"+token) + "\n\n" +
			"If you did not expect this email, ignore it.\n",
	}
	if err := s.mailer.Send(ctx, msg); err != nil {
		return Member{}, fmt.Errorf("send staff invitation: %w", err)
	}
	s.log.InfoContext(ctx, "staff invitation sent", "tenant", t.Slug, "staff_user", m.ID) // never the link
	err = s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE staff_invitations SET sent_at = now() WHERE token_hash = $1`, hashToken(token))
		return err
	})
	return m, err
}
