package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Credentials are what a user presents at login.
type Credentials struct {
	Email        string
	Password     string
	TOTPCode     string
	RecoveryCode string
	// Ticket replaces Email and Password in a second step: the Ticket of a Login that ended in
	// ErrSecondFactorRequired, so a sign-in page need not carry the password from one form to the next.
	Ticket string
}

// TicketTTL is how long the second step of a sign-in may take.
const TicketTTL = 5 * time.Minute

// Tokens are a successful login's or refresh's result.
type Tokens struct {
	AccessToken  string
	ExpiresAt    time.Time
	RefreshToken string // empty for an enrolment-only login
	// EnrolmentRequired: the tenant requires 2FA and the user has none; the access token only allows enrolling.
	EnrolmentRequired bool
	// Ticket comes (alone) with ErrSecondFactorRequired: proof of the right password, for Credentials.Ticket.
	Ticket string
	Claims auth.Claims
}

// NormalizeEmail is how emails are compared: trimmed, lower case.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Login checks credentials against the lockout rule and the password (and second factor), and on success starts
// a refresh family. Failures are counted and audited in the same transaction that decides them; unknown emails cost
// what a real check costs (auth.Hasher.VerifyAbsent).
func (s *Service) Login(ctx context.Context, t tenants.Tenant, k Kind, c Credentials) (Tokens, error) {
	if c.Ticket == "" {
		// The password is checked inside the transaction below: take the hasher's turn first, so a login waiting
		// for it (a flood queues up to auth.MaxHashWait, then is refused as busy) holds no database connection.
		var release func()
		var err error
		if ctx, release, err = s.o.Hasher.Turn(ctx); err != nil {
			return Tokens{}, err
		}
		defer release()
	}
	email := NormalizeEmail(c.Email)
	var out Tokens
	var outcome error
	recoveryLeft := -1 // unused recovery codes after this login used one; -1: none used
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		now := s.o.Now()
		var a account
		var err error
		if c.Ticket != "" {
			a, err = s.ticketAccount(ctx, tx, t, k, c.Ticket)
			if errors.Is(err, errNoAccount) {
				outcome = ErrInvalidCredentials // an invalid ticket names no account to count a failure against
				return nil
			}
			email = a.email
		} else {
			a, err = lookup(ctx, tx, k, email, uuid.Nil)
		}
		if errors.Is(err, errNoAccount) {
			if err := s.o.Hasher.VerifyAbsent(ctx, c.Password); err != nil {
				return err
			}
			outcome = ErrInvalidCredentials
			return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("identity"), Action: ActionLoginFailed,
				Target: audit.Target{Type: k.target, ID: "unknown"}, After: map[string]any{"email": email, "reason": "unknown_account"}})
		}
		if err != nil {
			return err
		}
		if wait := s.o.Lockout.RetryAfter(a.state, now); wait > 0 {
			outcome = &auth.LockedError{RetryAfter: wait}
			return s.audit.Record(ctx, tx, audit.Entry{Actor: s.actor(a), Action: ActionLoginFailed, Target: a.target(),
				After: map[string]any{"reason": "locked"}})
		}
		ok, rehash := true, false // a ticket is the password's proof
		if c.Ticket == "" {
			if ok, rehash, err = s.o.Hasher.Verify(ctx, c.Password, a.hash); err != nil {
				return fmt.Errorf("verify password: %w", err)
			}
		}
		if !ok {
			outcome = ErrInvalidCredentials
			return s.fail(ctx, tx, a, now, "wrong_password")
		}
		usedRecovery := false
		enrolOnly := false
		switch {
		case c.Ticket != "" && !a.totpEnabled:
			outcome = ErrInvalidCredentials // a ticket only ever stands in for the password before a second factor
			return nil
		case a.totpEnabled && c.TOTPCode == "" && c.RecoveryCode == "":
			// The password was right: say what is missing, without counting a failure.
			outcome = ErrSecondFactorRequired
			out.Ticket, _, err = s.o.Keys.IssueTicket(auth.Claims{Issuer: s.o.Issuer, Audience: k.aud, Subject: a.id.String(),
				TenantID: t.ID.String()}, TicketTTL)
			return err
		case a.totpEnabled && c.TOTPCode != "":
			secret, reseal, err := s.openTOTP(k, a.id, a.totpSecret)
			if err != nil {
				// Copied from another row, altered, or sealed under a key no longer in BD_DATA_KEYS: no code can
				// match, and an operator should know.
				s.o.Log.ErrorContext(ctx, "TOTP secret cannot be opened with BD_DATA_KEYS", "kind", k.name, "user", a.id)
				outcome = ErrInvalidCredentials
				return s.fail(ctx, tx, a, now, "unreadable_totp_secret")
			}
			step, err := auth.VerifyTOTP(secret, c.TOTPCode, now, a.lastStep)
			if err != nil {
				outcome = ErrInvalidCredentials
				reason := "wrong_totp"
				if errors.Is(err, auth.ErrTOTPReplayed) {
					reason = "replayed_totp"
				}
				return s.fail(ctx, tx, a, now, reason)
			}
			a.lastStep = step
			if reseal { // plaintext from before sealing, or an older key's seal: BD_DATA_KEYS rotation (docs/security.md)
				if err := s.resealTOTP(ctx, tx, k, a.id, secret); err != nil {
					return err
				}
			}
		case a.totpEnabled:
			used, left, err := useRecoveryCode(ctx, tx, a, c.RecoveryCode)
			if err != nil {
				return err
			}
			if !used {
				outcome = ErrInvalidCredentials
				return s.fail(ctx, tx, a, now, "wrong_recovery_code")
			}
			usedRecovery, recoveryLeft = true, left
		case k == Staff:
			required, err := requireStaff2FA(ctx, tx)
			if err != nil {
				return err
			}
			enrolOnly = required
		}
		a.state = s.o.Lockout.Succeeded(a.state)
		if err := saveState(ctx, tx, a); err != nil {
			return err
		}
		if rehash {
			if h, err := s.o.Hasher.Hash(ctx, c.Password); err == nil {
				if _, err := tx.Exec(ctx, `UPDATE `+k.table+` SET password_hash = $2 WHERE `+k.key+` = $1`, a.id, h); err != nil {
					return err
				}
			}
		}
		if enrolOnly {
			out, err = s.issue(t, a, []string{RoleEnrolment})
			out.EnrolmentRequired = true
		} else {
			out, err = s.issue(t, a, a.roles)
			if err == nil {
				out.RefreshToken, err = newFamily(ctx, tx, a, now)
			}
		}
		if err != nil {
			return err
		}
		if usedRecovery {
			if err := s.audit.Record(ctx, tx, audit.Entry{Actor: s.actor(a), Action: ActionRecoveryCodeUsed, Target: a.target()}); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: s.actor(a), Action: ActionLoginSucceeded, Target: a.target(),
			After: map[string]any{"audience": string(k.aud), "second_factor": secondFactor(a.totpEnabled, usedRecovery), "enrolment_only": enrolOnly}})
	})
	if err != nil {
		return Tokens{}, err
	}
	if outcome != nil {
		s.o.Log.InfoContext(ctx, "login refused", "kind", k.name, "reason", outcome.Error())
		return Tokens{Ticket: out.Ticket}, outcome
	}
	s.o.Log.InfoContext(ctx, "login", "kind", k.name, "user", out.Claims.Subject)
	if recoveryLeft >= 0 {
		// Tell the owner: if it was not them, their password and a recovery code are out there.
		msg := mail.Message{To: email, Subject: "A recovery code was used to sign in to " + t.DisplayName,
			Text: fmt.Sprintf("Hello,\n\nSomeone signed in to your %s account with one of your recovery codes. %d unused codes remain.\n\n"+
				"If this was not you, reset your password now and contact your administrator.\n", t.DisplayName, recoveryLeft)}
		if err := s.o.Mailer.Send(ctx, msg); err != nil {
			s.o.Log.ErrorContext(ctx, "recovery code notice not sent", "kind", k.name, "err", err)
		}
	}
	return out, nil
}

// ticketAccount reads (and locks) the account a sign-in ticket names: the ticket must be genuine, unexpired, of
// this tenant and kind; the account still active.
func (s *Service) ticketAccount(ctx context.Context, tx pgx.Tx, t tenants.Tenant, k Kind, ticket string) (account, error) {
	cl, err := s.o.Keys.VerifyTicket(ticket, auth.Expectation{Audience: k.aud, Issuer: s.o.Issuer, TenantID: t.ID.String()})
	if err != nil {
		return account{}, errNoAccount
	}
	id, err := uuid.Parse(cl.Subject)
	if err != nil {
		return account{}, errNoAccount
	}
	return lookup(ctx, tx, k, "", id)
}

func secondFactor(enabled, recovery bool) string {
	switch {
	case recovery:
		return "recovery_code"
	case enabled:
		return "totp"
	}
	return "none"
}

// fail counts a failed attempt under the lockout rule and audits it (and the lockout it may start).
func (s *Service) fail(ctx context.Context, tx pgx.Tx, a account, now time.Time, reason string) error {
	before := a.state
	a.state = s.o.Lockout.Failed(a.state, now)
	if err := saveState(ctx, tx, a); err != nil {
		return err
	}
	if err := s.audit.Record(ctx, tx, audit.Entry{Actor: s.actor(a), Action: ActionLoginFailed, Target: a.target(),
		After: map[string]any{"reason": reason}}); err != nil {
		return err
	}
	if a.state.Lockouts > before.Lockouts {
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("identity"), Action: ActionLockedOut, Target: a.target(),
			After: map[string]any{"locked_until": a.state.LockedUntil.UTC().Format(time.RFC3339), "lockouts": a.state.Lockouts}})
	}
	return nil
}

// useRecoveryCode deletes the matching recovery code, reporting whether there was one and how many remain.
func useRecoveryCode(ctx context.Context, tx pgx.Tx, a account, code string) (bool, int, error) {
	rows, err := tx.Query(ctx, `SELECT code_hash FROM recovery_codes WHERE user_kind = $1 AND user_id = $2 ORDER BY code_hash FOR UPDATE`, a.kind.name, a.id)
	if err != nil {
		return false, 0, err
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return false, 0, err
	}
	hashes := make([]auth.TokenHash, len(stored))
	for i, h := range stored {
		copy(hashes[i][:], h)
	}
	i := auth.MatchRecoveryCode(code, hashes)
	if i < 0 {
		return false, 0, nil
	}
	tag, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_kind = $1 AND user_id = $2 AND code_hash = $3`, a.kind.name, a.id, stored[i])
	if err != nil {
		return false, 0, err
	}
	return tag.RowsAffected() == 1, len(stored) - 1, nil
}

// requireStaff2FA reads the tenant setting require_staff_2fa (a JSON boolean; absent: false).
func requireStaff2FA(ctx context.Context, tx pgx.Tx) (bool, error) {
	var raw []byte
	err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = 'require_staff_2fa'`).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var on bool
	if err := json.Unmarshal(raw, &on); err != nil {
		return false, fmt.Errorf("setting require_staff_2fa: want a boolean: %w", err)
	}
	return on, nil
}

// Actions of the sign-in security settings: a change that stops requiring two-factor sign-in is recorded as a
// weakening (its own action, with what it weakened under audit.WeakenedKey), so it stands out in the trail and on
// the settings page.
const (
	ActionSettingsChanged  = "settings.changed"
	ActionSettingsWeakened = "settings.weakened"
)

// SetRequireStaff2FA turns the tenant's require_staff_2fa setting on or off, audited as done by actor; turning it
// off is audited as a weakening.
func (s *Service) SetRequireStaff2FA(ctx context.Context, t tenants.Tenant, actor audit.Actor, on bool) error {
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := requireStaff2FA(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('require_staff_2fa', to_jsonb($1::boolean))
			ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, on); err != nil {
			return err
		}
		target := audit.Target{Type: "setting", ID: "require_staff_2fa"}
		if before && !on {
			return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsWeakened, Target: target,
				Before: map[string]any{"value": before},
				After:  map[string]any{"value": on, audit.WeakenedKey: []string{"two-factor sign-in no longer required of staff"}}})
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsChanged, Target: target,
			Before: map[string]any{"value": before}, After: map[string]any{"value": on}})
	})
}

// LastSettingsWeakening is the newest weakening of the sign-in security settings (who, when, what), or nil.
func (s *Service) LastSettingsWeakening(ctx context.Context, t tenants.Tenant) (*audit.Weakening, error) {
	return s.audit.LastWeakening(ctx, t, ActionSettingsWeakened)
}

// issue makes an access token for a on t's host.
func (s *Service) issue(t tenants.Tenant, a account, roles []string) (Tokens, error) {
	tok, claims, err := s.o.Keys.Issue(auth.Claims{Issuer: s.o.Issuer, Audience: a.kind.aud, Subject: a.id.String(),
		TenantID: t.ID.String(), Roles: roles}, AccessTTL)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: tok, ExpiresAt: claims.ExpiresAt, Claims: claims}, nil
}

// newFamily starts a refresh family for a and returns its first token.
func newFamily(ctx context.Context, tx pgx.Tx, a account, now time.Time) (string, error) {
	family, err := auth.NewFamilyID()
	if err != nil {
		return "", err
	}
	return insertRefresh(ctx, tx, a.kind, a.id, family, now.Add(auth.RefreshIdleTTL), now.Add(auth.RefreshAbsoluteTTL))
}

func insertRefresh(ctx context.Context, tx pgx.Tx, k Kind, user uuid.UUID, family string, expires, familyExpires time.Time) (string, error) {
	tok, err := auth.NewRefreshToken()
	if err != nil {
		return "", err
	}
	h := auth.HashToken(tok)
	if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, family_id, user_kind, user_id, audience, expires_at, family_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, h[:], family, k.name, user, string(k.aud), expires, familyExpires); err != nil {
		return "", fmt.Errorf("store refresh token: %w", err)
	}
	return tok, nil
}

type storedRow struct {
	auth.StoredRefresh
	kind string
	user uuid.UUID
}

func loadRefresh(ctx context.Context, tx pgx.Tx, t tenants.Tenant, presented string) (*storedRow, error) {
	h := auth.HashToken(presented)
	var r storedRow
	var hash []byte
	var spent, revoked *time.Time
	var aud string
	err := tx.QueryRow(ctx, `SELECT r.token_hash, r.family_id, r.user_kind, r.user_id, r.audience, r.expires_at, r.family_expires_at, r.spent_at,
		(SELECT min(f.revoked_at) FROM refresh_tokens f WHERE f.family_id = r.family_id)
		FROM refresh_tokens r WHERE r.token_hash = $1 FOR UPDATE`, h[:]).
		Scan(&hash, &r.FamilyID, &r.kind, &r.user, &aud, &r.ExpiresAt, &r.FamilyExpiresAt, &spent, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	copy(r.Hash[:], hash)
	r.Subject, r.TenantID, r.Audience = r.user.String(), t.ID.String(), auth.Audience(aud)
	if spent != nil {
		r.SpentAt = *spent
	}
	if revoked != nil {
		r.FamilyRevokedAt = *revoked
	}
	return &r, nil
}

func revokeFamily(ctx context.Context, tx pgx.Tx, family string) error {
	_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, family)
	return err
}

func kindByName(name string) Kind {
	if name == Staff.name {
		return Staff
	}
	return Portal
}

// Refresh rotates a refresh token of kind k (auth.Rotate): a spent token coming back revokes its whole family.
func (s *Service) Refresh(ctx context.Context, t tenants.Tenant, k Kind, presented string) (Tokens, error) {
	var out Tokens
	var outcome error
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		now := s.o.Now()
		r, err := loadRefresh(ctx, tx, t, presented)
		if err != nil {
			return err
		}
		var stored *auth.StoredRefresh
		if r != nil {
			stored = &r.StoredRefresh
		}
		d := auth.Rotate(presented, stored, auth.RefreshExpectation{Audience: k.aud, TenantID: t.ID.String()}, now)
		switch d.Action {
		case auth.RotateReject:
			outcome = fmt.Errorf("%w: %w", ErrInvalidRefresh, d.Reason)
			return nil
		case auth.RotateRevokeFamily:
			outcome = fmt.Errorf("%w: %w", ErrInvalidRefresh, d.Reason)
			return s.revokeReused(ctx, tx, r)
		}
		tag, err := tx.Exec(ctx, `UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1 AND spent_at IS NULL`, r.Hash[:], now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			outcome = fmt.Errorf("%w: %w", ErrInvalidRefresh, auth.ErrRefreshReused)
			return s.revokeReused(ctx, tx, r)
		}
		a, err := lookup(ctx, tx, kindByName(r.kind), "", r.user)
		if errors.Is(err, errNoAccount) {
			outcome = fmt.Errorf("%w: the user is no longer active", ErrInvalidRefresh)
			return revokeFamily(ctx, tx, r.FamilyID)
		}
		if err != nil {
			return err
		}
		if out, err = s.issue(t, a, a.roles); err != nil {
			return err
		}
		out.RefreshToken, err = insertRefresh(ctx, tx, a.kind, a.id, r.FamilyID, d.NextExpiresAt, r.FamilyExpiresAt)
		return err
	})
	if err != nil {
		return Tokens{}, err
	}
	if outcome != nil {
		s.o.Log.InfoContext(ctx, "refresh refused", "kind", k.name, "reason", outcome.Error())
		return Tokens{}, outcome
	}
	return out, nil
}

func (s *Service) revokeReused(ctx context.Context, tx pgx.Tx, r *storedRow) error {
	if err := revokeFamily(ctx, tx, r.FamilyID); err != nil {
		return err
	}
	k := kindByName(r.kind)
	return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("identity"), Action: ActionRefreshReused,
		Target: audit.Target{Type: k.target, ID: r.user.String()}, After: map[string]any{"family_revoked": true}})
}

// Logout revokes the family of a refresh token. An unknown or already revoked token changes nothing.
func (s *Service) Logout(ctx context.Context, t tenants.Tenant, presented string) error {
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		r, err := loadRefresh(ctx, tx, t, presented)
		if err != nil || r == nil || !r.FamilyRevokedAt.IsZero() {
			return err
		}
		if err := revokeFamily(ctx, tx, r.FamilyID); err != nil {
			return err
		}
		k := kindByName(r.kind)
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: k.actor, ID: r.user.String()}, Action: ActionLoggedOut,
			Target: audit.Target{Type: k.target, ID: r.user.String()}, After: map[string]any{"audience": string(r.Audience)}})
	})
}
