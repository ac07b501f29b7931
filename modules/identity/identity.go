// Package identity is the room for signing in: staff of a brokerage (back office, audience "backoffice") and its
// traders (portal, audience "portal"). It keeps their credentials (argon2id password hashes, TOTP, recovery codes,
// lockout state), refresh-token families and password-reset links in the tenant's schema, issues access tokens with
// infra/auth, and guards every non-public route of the tenant API (Authorize). The rules themselves (token format,
// Rotate, lockout, password policy, TOTP) live in infra/auth; this package stores their state and applies them in
// one transaction per request, with the audit entry of each change in that same transaction. It also keeps the
// brokerage's API keys (apikeys.go), which its integrations present instead of an access token. docs/identity.md
// has the flows, the role table and the API.
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Lifetimes of what this package issues.
const (
	AccessTTL = 15 * time.Minute
	ResetTTL  = time.Hour
)

// Audit actions.
const (
	ActionLoginSucceeded     = "identity.login_succeeded"
	ActionLoginFailed        = "identity.login_failed"
	ActionLockedOut          = "identity.locked_out"
	ActionRecoveryCodeUsed   = "identity.recovery_code_used"
	ActionTOTPEnrolStarted   = "identity.totp_enrolment_started"
	ActionTOTPEnrolled       = "identity.totp_enrolled"
	ActionLoggedOut          = "identity.logged_out"
	ActionRefreshReused      = "identity.refresh_reuse_detected"
	ActionResetRequested     = "identity.password_reset_requested"
	ActionPasswordReset      = "identity.password_reset"
	ActionInvitationAccepted = "identity.invitation_accepted"
	ActionPortalUserCreated  = "identity.portal_user_created"
)

// Domain errors; http.go maps them to problems.
var (
	ErrInvalidCredentials   = errors.New("identity: wrong email, password or code")
	ErrSecondFactorRequired = errors.New("identity: a TOTP or recovery code is required")
	ErrInvalidRefresh       = errors.New("identity: refresh token refused")
	ErrInvalidLink          = errors.New("identity: link unknown, used or expired")
	ErrAlreadyEnrolled      = errors.New("identity: two-factor authentication is already on")
	ErrNotEnrolling         = errors.New("identity: no two-factor enrolment in progress")
	ErrInvalidCode          = errors.New("identity: wrong or expired code")
	ErrEmailTaken           = errors.New("identity: email already has a login")
)

// Kind is the kind of user: staff (back office) or portal (trader).
type Kind struct {
	name     string // user_kind column value
	table    string // the table holding credentials and lockout state
	key      string // its key column
	aud      auth.Audience
	actor    audit.ActorKind
	target   string // audit target type
	resetURL string // path of the reset page on the tenant host
}

// The two kinds.
var (
	Staff = Kind{name: "staff", table: "staff_credentials", key: "staff_user_id", aud: auth.AudienceBackoffice,
		actor: audit.ActorStaff, target: "staff_user", resetURL: "/password-reset/"}
	Portal = Kind{name: "portal", table: "portal_users", key: "id", aud: auth.AudiencePortal,
		actor: audit.ActorClient, target: "portal_user", resetURL: "/portal/password-reset/"}
)

// String is the kind's name.
func (k Kind) String() string { return k.name }

// Mailer sends one email (the staff module's interface).
type Mailer = staff.Mailer

// Options are the Service's dependencies.
type Options struct {
	Gate   *tenants.Gate
	Audit  *audit.Service
	Keys   *auth.KeyRing
	Issuer string // iss of access tokens: "https://<base domain>"
	Hasher *auth.Hasher
	// Sealer seals TOTP secrets at rest (BD_DATA_KEYS; secrets.go).
	Sealer *auth.Sealer
	Mailer Mailer
	// Brand returns the tenant's branding; its name is the issuer an authenticator app shows. nil: the tenant's
	// display name.
	Brand func(ctx context.Context, t tenants.Tenant) (web.Brand, error)
	// TenantURL returns the absolute URL of path on the tenant's host.
	TenantURL func(t tenants.Tenant, path string) string
	Log       *slog.Logger
	Lockout   auth.LockoutPolicy // zero: auth.DefaultLockoutPolicy
	Now       func() time.Time   // nil: time.Now
	// Secure: the hosts are served over https (page session cookies are Secure and __Host-).
	Secure bool
}

// Service signs users in and out of any tenant, always through the tenant gate.
type Service struct {
	gate     *tenants.Gate
	audit    *audit.Service
	o        Options
	verified verifiedTokens
	sessions *Sessions
}

// NewService returns the identity service.
func NewService(o Options) (*Service, error) {
	if o.Gate == nil || o.Audit == nil || o.Keys == nil || o.Hasher == nil || o.Sealer == nil || o.Issuer == "" || o.Mailer == nil || o.TenantURL == nil {
		return nil, errors.New("identity: gate, audit trail, keys, hasher, sealer, issuer, mailer and tenant URL are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Lockout == (auth.LockoutPolicy{}) {
		o.Lockout = auth.DefaultLockoutPolicy()
	}
	if err := o.Lockout.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{gate: o.Gate, audit: o.Audit, o: o}
	s.sessions = NewSessions(s, o.Secure)
	return s, nil
}

// Issuer is the iss of the access tokens this service issues and accepts.
func (s *Service) Issuer() string { return s.o.Issuer }

// account is one user's sign-in state, read FOR UPDATE.
type account struct {
	kind        Kind
	id          uuid.UUID
	email       string
	roles       []string
	hash        string
	totpSecret  string // as stored: sealed (secrets.go), or plaintext from before sealing
	totpEnabled bool
	lastStep    int64
	state       auth.LoginState
}

const credColumns = `password_hash, coalesce(totp_secret, ''), totp_enabled_at IS NOT NULL, totp_last_step,
	failures, window_start, lockouts, locked_until, last_failure`

func scanCred(row pgx.Row, a *account, extra ...any) error {
	var ws, lu, lf *time.Time
	dest := append(extra, &a.hash, &a.totpSecret, &a.totpEnabled, &a.lastStep,
		&a.state.Failures, &ws, &a.state.Lockouts, &lu, &lf)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	for _, p := range []struct {
		src *time.Time
		dst *time.Time
	}{{ws, &a.state.WindowStart}, {lu, &a.state.LockedUntil}, {lf, &a.state.LastFailure}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return nil
}

// errNoAccount: no active user with a password under that email or id.
var errNoAccount = errors.New("identity: no such account")

// lookup reads an active user with a password by email (byEmail) or id, locking its credential row.
func lookup(ctx context.Context, tx pgx.Tx, k Kind, email string, id uuid.UUID) (account, error) {
	a := account{kind: k}
	if k == Staff {
		var m staff.Member
		var err error
		if email != "" {
			m, err = staff.ByEmail(ctx, tx, email)
		} else {
			m, err = staff.ByID(ctx, tx, id)
		}
		if errors.Is(err, staff.ErrNotFound) || (err == nil && m.Status != "active") {
			return a, errNoAccount
		}
		if err != nil {
			return a, err
		}
		a.id, a.email = m.ID, m.Email
		for _, r := range m.Roles {
			a.roles = append(a.roles, string(r))
		}
		err = scanCred(tx.QueryRow(ctx, `SELECT `+credColumns+` FROM staff_credentials WHERE staff_user_id = $1 FOR UPDATE`, m.ID), &a)
		if errors.Is(err, pgx.ErrNoRows) {
			return a, errNoAccount
		}
		return a, err
	}
	var status string
	var err error
	if email != "" {
		err = scanCred(tx.QueryRow(ctx, `SELECT id, email, status, `+credColumns+` FROM portal_users WHERE email = $1 FOR UPDATE`, email), &a, &a.id, &a.email, &status)
	} else {
		err = scanCred(tx.QueryRow(ctx, `SELECT id, email, status, `+credColumns+` FROM portal_users WHERE id = $1 FOR UPDATE`, id), &a, &a.id, &a.email, &status)
	}
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && status != "active") {
		return a, errNoAccount
	}
	return a, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// saveState stores the lockout state and the last accepted TOTP step.
func saveState(ctx context.Context, tx pgx.Tx, a account) error {
	_, err := tx.Exec(ctx, `UPDATE `+a.kind.table+` SET failures = $2, window_start = $3, lockouts = $4, locked_until = $5,
		last_failure = $6, totp_last_step = $7, updated_at = now() WHERE `+a.kind.key+` = $1`,
		a.id, a.state.Failures, nullTime(a.state.WindowStart), a.state.Lockouts, nullTime(a.state.LockedUntil),
		nullTime(a.state.LastFailure), a.lastStep)
	if err != nil {
		return fmt.Errorf("save login state: %w", err)
	}
	return nil
}

// setPassword stores a new hash and forgets the lockout state; a staff user gets a credential row if none exists.
func setPassword(ctx context.Context, tx pgx.Tx, k Kind, id uuid.UUID, hash string) error {
	var err error
	if k == Staff {
		_, err = tx.Exec(ctx, `INSERT INTO staff_credentials (staff_user_id, password_hash) VALUES ($1, $2)
			ON CONFLICT (staff_user_id) DO UPDATE SET password_hash = EXCLUDED.password_hash, failures = 0,
			window_start = NULL, lockouts = 0, locked_until = NULL, last_failure = NULL, updated_at = now()`, id, hash)
	} else {
		_, err = tx.Exec(ctx, `UPDATE portal_users SET password_hash = $2, failures = 0, window_start = NULL, lockouts = 0,
			locked_until = NULL, last_failure = NULL, updated_at = now() WHERE id = $1`, id, hash)
	}
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

func (s *Service) actor(a account) audit.Actor {
	return audit.Actor{Kind: a.kind.actor, ID: a.id.String()}
}

func (a account) target() audit.Target { return audit.Target{Type: a.kind.target, ID: a.id.String()} }
