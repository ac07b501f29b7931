package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Enrolment is a started TOTP enrolment: the secret to type in, or the URI to show as a QR code.
type Enrolment struct {
	Secret string
	URI    string
}

// EnrolTOTP starts (or restarts) TOTP enrolment for a staff user who has none yet. The secret counts only once
// ConfirmTOTP accepts a code made with it.
func (s *Service) EnrolTOTP(ctx context.Context, t tenants.Tenant, k Kind, user uuid.UUID) (Enrolment, error) {
	var e Enrolment
	// The app shows the issuer next to the codes: the brand the user knows (the tenant's name unless branding
	// names it otherwise).
	issuerName := t.DisplayName
	if s.o.Brand != nil {
		b, err := s.o.Brand(ctx, t)
		if err != nil {
			return e, err
		}
		if strings.TrimSpace(b.Name) != "" {
			issuerName = b.Name
		}
	}
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := lookup(ctx, tx, k, "", user)
		if err != nil {
			return err
		}
		if a.totpEnabled {
			return ErrAlreadyEnrolled
		}
		if e.Secret, err = auth.NewTOTPSecret(); err != nil {
			return err
		}
		issuer := strings.ReplaceAll(issuerName, ":", " ")
		if e.URI, err = auth.TOTPURI(issuer, a.email, e.Secret); err != nil {
			return err
		}
		sealed, err := s.sealTOTP(k, a.id, e.Secret)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+k.table+` SET totp_secret = $2, updated_at = now() WHERE `+k.key+` = $1`, a.id, sealed); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: s.actor(a), Action: ActionTOTPEnrolStarted, Target: a.target()})
	})
	return e, err
}

// ConfirmTOTP turns TOTP on when code matches the pending secret, and returns fresh recovery codes (shown once;
// only their hashes are kept, replacing any earlier ones).
func (s *Service) ConfirmTOTP(ctx context.Context, t tenants.Tenant, k Kind, user uuid.UUID, code string) ([]string, error) {
	var codes []string
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := lookup(ctx, tx, k, "", user)
		if err != nil {
			return err
		}
		switch {
		case a.totpEnabled:
			return ErrAlreadyEnrolled
		case a.totpSecret == "":
			return ErrNotEnrolling
		}
		secret, reseal, err := s.openTOTP(k, a.id, a.totpSecret)
		if err != nil {
			s.o.Log.ErrorContext(ctx, "TOTP secret cannot be opened with BD_DATA_KEYS", "kind", k.name, "user", a.id)
			return ErrInvalidCode
		}
		step, err := auth.VerifyTOTP(secret, code, s.o.Now(), a.lastStep)
		if err != nil {
			return ErrInvalidCode
		}
		if reseal {
			if err := s.resealTOTP(ctx, tx, k, a.id, secret); err != nil {
				return err
			}
		}
		var hashes []auth.TokenHash
		if codes, hashes, err = auth.GenerateRecoveryCodes(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+k.table+` SET totp_enabled_at = now(), totp_last_step = $2, updated_at = now() WHERE `+k.key+` = $1`, a.id, step); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_kind = $1 AND user_id = $2`, k.name, a.id); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_kind, user_id, code_hash) VALUES ($1, $2, $3)`, k.name, a.id, h[:]); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: s.actor(a), Action: ActionTOTPEnrolled, Target: a.target(),
			Before: map[string]any{"totp": false}, After: map[string]any{"totp": true, "recovery_codes": len(hashes)}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// TaskPasswordReset is the outbox task that emails a reset link (HandlePasswordReset).
const TaskPasswordReset = "identity:password-reset"

// resetTask is TaskPasswordReset's payload: who asked, as typed (normalised), not whether they exist.
type resetTask struct {
	Kind  string `json:"kind"`
	Email string `json:"email"`
}

// maxEmail is the longest address any login can have (RFC 5321's path limit); longer ones are not even queued.
const maxEmail = 254

// RequestReset queues a password reset for email and reports nothing about it (the API always answers 202).
//
// It does the same work, in the same time, whether or not the address has a login: one transaction that adds one
// outbox row (TaskPasswordReset, a fresh idempotency key per request). Looking the user up, minting the link and
// sending the email happen in HandlePasswordReset, in the worker, where their cost tells the requester nothing.
func (s *Service) RequestReset(ctx context.Context, t tenants.Tenant, k Kind, email string) error {
	email = NormalizeEmail(email)
	if len(email) > maxEmail || !strings.Contains(email, "@") {
		return nil // no login has such an address, and the answer does not depend on the database
	}
	key, err := uuid.NewV7()
	if err != nil {
		return err
	}
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := jobs.Outbox{}.Add(ctx, tx, TaskPasswordReset, key.String(), resetTask{Kind: k.name, Email: email},
			jobs.InQueue(jobs.QueueNotifications), jobs.WithMaxRetry(8), jobs.WithTimeout(time.Minute))
		return err
	})
}

// HandlePasswordReset handles TaskPasswordReset for tenant t (register it through jobs.ForTenant): if the address
// belongs to an active user of the task's kind, it mints a single-use link (ResetTTL), stores the token's hash,
// audits identity.password_reset_requested, commits, then emails the link. An unknown address ends the task
// quietly. A failed send returns the error, so the task retries with a fresh link (the unsent one is never known to
// anyone and expires); delivery is at least once, so a retry after a send whose acknowledgement was lost may send a
// second link, each of which works once.
func (s *Service) HandlePasswordReset(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p resetTask
	k, err := decodeUserTask(e, TaskPasswordReset, &p, &p.Kind)
	if err != nil {
		return err
	}
	email := NormalizeEmail(p.Email)
	var token string
	err = s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := lookupForReset(ctx, tx, k, email)
		if errors.Is(err, errNoAccount) {
			return nil
		}
		if err != nil {
			return err
		}
		if token, err = auth.NewRefreshToken(); err != nil { // 256 random bits, the same shape as a refresh token
			return err
		}
		h := auth.HashToken(token)
		expires := s.o.Now().Add(ResetTTL)
		if _, err := tx.Exec(ctx, `INSERT INTO password_resets (token_hash, user_kind, user_id, expires_at) VALUES ($1, $2, $3, $4)`,
			h[:], k.name, a.id, expires); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("identity"), Action: ActionResetRequested, Target: a.target(),
			After: map[string]any{"expires_at": expires.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		return err
	}
	if token == "" {
		s.o.Log.InfoContext(ctx, "password reset for an address without a login: nothing sent", "kind", k.name)
		return nil
	}
	link := s.o.TenantURL(t, k.resetURL+token)
	if err := s.o.Mailer.Send(ctx, mail.Message{To: email, Subject: "Reset your " + t.DisplayName + " password",
		Text: "Hello,\n\nSomeone (hopefully you) asked to reset your " + t.DisplayName + " password.\n\n" +
			"Choose a new one here (the link works once and expires in 1 hour):\n" + link + "\n\n" +
			"If you did not ask for this, ignore this email; your password stays as it is.\n"}); err != nil {
		return fmt.Errorf("send password reset: %w", err)
	}
	s.o.Log.InfoContext(ctx, "password reset sent", "kind", k.name) // never the link: it is a credential
	return nil
}

// decodeUserTask decodes the payload of an identity task about one user into p, whose kind field is kind, and
// returns that kind. A payload no retry could mend is asynq.SkipRetry.
func decodeUserTask(e jobs.Envelope, task string, p any, kind *string) (Kind, error) {
	if err := json.Unmarshal(e.Payload, p); err != nil {
		return Kind{}, fmt.Errorf("%w: %s payload: %v", asynq.SkipRetry, task, err)
	}
	for _, k := range []Kind{Staff, Portal} {
		if k.name == *kind {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("%w: %s: unknown user kind %q", asynq.SkipRetry, task, *kind)
}

// lookupForReset is lookup for a reset: a staff user who is active but never set a password may reset too.
func lookupForReset(ctx context.Context, tx pgx.Tx, k Kind, email string) (account, error) {
	if k == Staff {
		m, err := staff.ByEmail(ctx, tx, email)
		if errors.Is(err, staff.ErrNotFound) || (err == nil && m.Status != "active") {
			return account{}, errNoAccount
		}
		return account{kind: k, id: m.ID, email: m.Email}, err
	}
	return lookup(ctx, tx, k, email, uuid.Nil)
}

// ConfirmReset sets a new password through a reset link, spends the link, forgets the lockout state and revokes
// every refresh family of the user (sessions of whoever knew the old password end).
func (s *Service) ConfirmReset(ctx context.Context, t tenants.Tenant, k Kind, token, password string) error {
	if err := auth.CheckPassword(password); err != nil {
		return err
	}
	hash, err := s.o.Hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		h := auth.HashToken(token)
		var user uuid.UUID
		err := tx.QueryRow(ctx, `UPDATE password_resets SET used_at = $3 WHERE token_hash = $1 AND user_kind = $2
			AND used_at IS NULL AND expires_at > $3 RETURNING user_id`, h[:], k.name, s.o.Now()).Scan(&user)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidLink
		}
		if err != nil {
			return err
		}
		if err := setPassword(ctx, tx, k, user, hash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_kind = $1 AND user_id = $2 AND revoked_at IS NULL`, k.name, user); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: k.actor, ID: user.String()}, Action: ActionPasswordReset,
			Target: audit.Target{Type: k.target, ID: user.String()}, After: map[string]any{"sessions_revoked": true}})
	})
}

// AcceptInvitation spends a staff invitation, sets the user's password and makes the user active.
func (s *Service) AcceptInvitation(ctx context.Context, t tenants.Tenant, token, password string) error {
	if err := auth.CheckPassword(password); err != nil {
		return err
	}
	hash, err := s.o.Hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := staff.AcceptInvitation(ctx, tx, token, s.o.Now())
		if errors.Is(err, staff.ErrNotFound) {
			return ErrInvalidLink
		}
		if err != nil {
			return err
		}
		if err := setPassword(ctx, tx, Staff, before.ID, hash); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorStaff, ID: before.ID.String()},
			Action: ActionInvitationAccepted, Target: audit.Target{Type: Staff.target, ID: before.ID.String()},
			Before: map[string]any{"status": before.Status}, After: map[string]any{"status": "active"}})
	})
}

// CreatePortalUser gives a trader a portal login (onboarding calls it at registration). clientID may be nil.
func (s *Service) CreatePortalUser(ctx context.Context, t tenants.Tenant, email, password string, clientID *uuid.UUID) (uuid.UUID, error) {
	if err := auth.CheckPassword(password); err != nil {
		return uuid.Nil, err
	}
	hash, err := s.o.Hasher.Hash(ctx, password)
	if err != nil {
		return uuid.Nil, err
	}
	id := uuid.New()
	email = NormalizeEmail(email)
	err = s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO portal_users (id, email, client_id, password_hash) VALUES ($1, $2, $3, $4)`, id, email, clientID, hash)
		if database.IsUniqueViolation(err) {
			return ErrEmailTaken
		}
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("identity"), Action: ActionPortalUserCreated,
			Target: audit.Target{Type: Portal.target, ID: id.String()}, After: map[string]any{"email": email, "client_id": clientID}})
	})
	return id, err
}

// TOTPEnabled reports whether a user of kind k has two-factor sign-in on.
func (s *Service) TOTPEnabled(ctx context.Context, t tenants.Tenant, k Kind, user uuid.UUID) (bool, error) {
	var on bool
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT totp_enabled_at IS NOT NULL FROM `+k.table+` WHERE `+k.key+` = $1`, user).Scan(&on)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // a staff user without a password has no credential row, and no second factor
		}
		return err
	})
	return on, err
}

// Profile is the signed-in user as GET /api/v1/me shows it.
type Profile struct {
	ID       uuid.UUID
	Email    string
	FullName string
	Roles    []string
	TOTP     bool
}

// StaffProfile returns a staff user's profile.
func (s *Service) StaffProfile(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Profile, error) {
	var p Profile
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		m, err := staff.ByID(ctx, tx, id)
		if err != nil {
			return err
		}
		p = Profile{ID: m.ID, Email: m.Email, FullName: m.FullName}
		for _, r := range m.Roles {
			p.Roles = append(p.Roles, string(r))
		}
		err = tx.QueryRow(ctx, `SELECT totp_enabled_at IS NOT NULL FROM staff_credentials WHERE staff_user_id = $1`, id).Scan(&p.TOTP)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return p, err
}
