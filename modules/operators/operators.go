// Package operators is the room for platform operators: the people who run BrokerDesk itself through the
// operator console (console.<base domain>). Their accounts live in the platform schema, never in a tenant's; they
// sign in with email, password and (once enrolled) a TOTP code, and get console access tokens (audience
// "console", no tenant) with rotating refresh tokens. The rules themselves (hashing, policy, lockout, TOTP,
// rotation) are infra/auth's; this package stores their state and wires them into login, refresh, logout and the
// console's API and pages.
package operators

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/modules/audit"
)

// AccessTTL is the lifetime of a console access token: operators hold the keys to every tenant, so their tokens
// are short.
const AccessTTL = 15 * time.Minute

// RoleOperator is the role every operator holds today; permissions are granted to roles (Permissions).
const RoleOperator = "operator"

// Errors of the operator service. The HTTP layer maps them; none carries a password, token or secret.
var (
	ErrEmailTaken      = errors.New("operators: an operator with this email exists")
	ErrBadCredentials  = errors.New("operators: wrong email, password or code")
	ErrTOTPRequired    = errors.New("operators: a one-time code is required")
	ErrInvalidRefresh  = errors.New("operators: refresh token refused")
	ErrNotFound        = errors.New("operators: no such operator")
	ErrNoPendingTOTP   = errors.New("operators: no two-factor enrolment in progress")
	ErrInvalidOperator = errors.New("operators: invalid operator")
)

// Operator is one platform operator as the rest of the code sees it (no hashes, no secrets).
type Operator struct {
	ID          uuid.UUID
	Email       string
	Name        string
	Roles       []string
	Status      string
	TOTPEnabled bool
	CreatedAt   time.Time
}

// Session is what a successful login or refresh hands out.
type Session struct {
	Operator      Operator
	AccessToken   string
	AccessExpires time.Time
	RefreshToken  string
	FamilyID      string
}

// Options are the service's dependencies.
type Options struct {
	Keys   *auth.KeyRing
	Hasher *auth.Hasher
	Sealer *auth.Sealer // seals TOTP secrets at rest (BD_DATA_KEYS; secrets.go)
	// Audit is the platform's audit trail: sign-ins, and every change to operators and (through Tenants) tenants.
	Audit   *audit.Platform
	Issuer  string // iss of console tokens, the same as the tenants' ("https://<base domain>")
	Lockout auth.LockoutPolicy
	Now     func() time.Time // nil: time.Now
	Log     *slog.Logger     // security events (refusals, lockouts, recovery codes, refresh reuse); nil: none
}

// Service manages operators. All its SQL names the platform schema.
type Service struct {
	db *pgxpool.Pool
	o  Options
}

// NewService returns the operator service over the platform pool.
func NewService(platform *pgxpool.Pool, o Options) (*Service, error) {
	if o.Keys == nil || o.Hasher == nil || o.Sealer == nil || o.Audit == nil || o.Issuer == "" {
		return nil, errors.New("operators: keys, hasher, sealer, audit trail and issuer are required")
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
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: platform, o: o}, nil
}

// Expectation is what a console request requires of its access token: audience console, no tenant.
func (s *Service) Expectation() auth.Expectation {
	return auth.Expectation{Audience: auth.AudienceConsole, Issuer: s.o.Issuer, TenantID: ""}
}

// Verify checks a console access token.
func (s *Service) Verify(token string) (auth.Claims, error) {
	return s.o.Keys.Verify(token, s.Expectation())
}

// NormalizeEmail is the stored form of an email address.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// Create adds an operator after applying the password policy (a *auth.PasswordError lists its problems).
func (s *Service) Create(ctx context.Context, email, name, password string) (Operator, error) {
	email, name = NormalizeEmail(email), strings.TrimSpace(name)
	if !validEmail(email) || name == "" || len(name) > 120 {
		return Operator{}, fmt.Errorf("%w: want an email address and a name of 1 to 120 characters", ErrInvalidOperator)
	}
	if err := auth.CheckPassword(password); err != nil {
		return Operator{}, err
	}
	hash, err := s.o.Hasher.Hash(ctx, password)
	if err != nil {
		return Operator{}, err
	}
	op := Operator{ID: uuid.New(), Email: email, Name: name, Roles: []string{RoleOperator}, Status: "active"}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO platform.operators (id, email, name, password_hash, roles)
			VALUES ($1, $2, $3, $4, $5) RETURNING created_at`, op.ID, email, name, hash, op.Roles).Scan(&op.CreatedAt); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: CLIActor, Action: ActionCreated, Target: target(op.ID),
			After: map[string]any{"email": email, "name": name, "roles": op.Roles}})
	})
	if database.IsUniqueViolation(err) {
		return Operator{}, ErrEmailTaken
	}
	if err != nil {
		return Operator{}, fmt.Errorf("create operator: %w", err)
	}
	return op, nil
}

func validEmail(e string) bool {
	at := strings.LastIndex(e, "@")
	return at > 0 && at < len(e)-1 && len(e) <= 254 && !strings.ContainsAny(e, " \t\r\n<>")
}

// ByID returns an operator.
func (s *Service) ByID(ctx context.Context, id uuid.UUID) (Operator, error) {
	var op Operator
	err := s.db.QueryRow(ctx, `SELECT id, email, name, roles, status, totp_secret IS NOT NULL, created_at
		FROM platform.operators WHERE id = $1`, id).
		Scan(&op.ID, &op.Email, &op.Name, &op.Roles, &op.Status, &op.TOTPEnabled, &op.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Operator{}, ErrNotFound
	}
	return op, err
}

// Credentials are what a login presents. Code is a TOTP code or a recovery code.
type Credentials struct {
	Email    string
	Password string
	Code     string
}

// loginRow is what a login reads of an operator.
type loginRow struct {
	op         Operator
	hash       string
	totpSecret *string
	lastStep   int64
	state      auth.LoginState
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Service) loadLogin(ctx context.Context, q querier, email string, lock bool) (loginRow, error) {
	var r loginRow
	var ws, lu, lf *time.Time
	sql := `SELECT id, email, name, roles, status, password_hash, totp_secret, totp_last_step,
			failures, window_start, lockouts, locked_until, last_failure, created_at
		FROM platform.operators WHERE email = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	err := q.QueryRow(ctx, sql, email).Scan(&r.op.ID, &r.op.Email, &r.op.Name, &r.op.Roles, &r.op.Status, &r.hash,
		&r.totpSecret, &r.lastStep, &r.state.Failures, &ws, &r.state.Lockouts, &lu, &lf, &r.op.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	r.state.WindowStart, r.state.LockedUntil, r.state.LastFailure = deref(ws), deref(lu), deref(lf)
	r.op.TOTPEnabled = r.totpSecret != nil
	return r, err
}

// Login checks credentials under the lockout rule and starts a session (a new refresh family).
//
// The password check (the slow part: ~100 ms and 64 MiB) runs before any transaction, so waiting logins hold
// neither a row lock nor a database connection; the decision is then made and recorded under the row lock on
// fresh state, so concurrent attempts cannot escape the failure count or reuse a TOTP step.
func (s *Service) Login(ctx context.Context, c Credentials) (Session, error) {
	now := s.o.Now()
	email := NormalizeEmail(c.Email)
	row, err := s.loadLogin(ctx, s.db, email, false)
	if errors.Is(err, ErrNotFound) {
		if err := s.o.Hasher.VerifyAbsent(ctx, c.Password); err != nil && ctx.Err() != nil {
			return Session{}, ctx.Err()
		}
		s.o.Log.Warn("operator login refused: wrong credentials", "known_operator", false)
		if err := s.o.Audit.RecordAlone(ctx, audit.Entry{Actor: audit.System("console"), Action: ActionSignInFailed,
			Target: audit.Target{Type: auditTarget, ID: "unknown"}, After: map[string]any{"email": email, "reason": "unknown_account"}}); err != nil {
			return Session{}, err
		}
		return Session{}, ErrBadCredentials
	}
	if err != nil {
		return Session{}, err
	}
	who := row.op.ID
	if wait := s.o.Lockout.RetryAfter(row.state, now); wait > 0 {
		s.o.Log.Warn("operator login refused: account locked", "operator_id", who, "retry_after", wait)
		if err := s.o.Audit.RecordAlone(ctx, audit.Entry{Actor: actor(who), Action: ActionSignInFailed, Target: target(who),
			After: map[string]any{"reason": "locked"}}); err != nil {
			return Session{}, err
		}
		return Session{}, &auth.LockedError{RetryAfter: wait}
	}
	ok, needsRehash, err := s.o.Hasher.Verify(ctx, c.Password, row.hash)
	if err != nil {
		return Session{}, err
	}

	var sess Session
	var refused error // a refusal that still commits (a recorded failure)
	var usedRecovery bool
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		cur, err := s.loadLogin(ctx, tx, email, true)
		if err != nil {
			return err
		}
		if cur.op.ID != row.op.ID || cur.hash != row.hash {
			refused = ErrBadCredentials // the account changed while the password was checked: try again
			return nil
		}
		if wait := s.o.Lockout.RetryAfter(cur.state, now); wait > 0 {
			refused = &auth.LockedError{RetryAfter: wait}
			return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor(who), Action: ActionSignInFailed, Target: target(who),
				After: map[string]any{"reason": "locked"}})
		}
		if !ok || cur.op.Status != "active" {
			refused = ErrBadCredentials
			reason := "wrong_password"
			if ok {
				reason = "disabled"
			}
			return s.failed(ctx, tx, cur.op.ID, cur.state, now, reason)
		}
		lastStep := cur.lastStep
		if cur.totpSecret != nil {
			code := strings.TrimSpace(c.Code)
			if code == "" {
				return ErrTOTPRequired // the password was right: not a failure, the form asks for the code
			}
			secret, reseal, oerr := s.openTOTP(cur.op.ID, *cur.totpSecret)
			if oerr != nil {
				// Copied from another row, altered, or sealed under a key no longer in BD_DATA_KEYS: only a
				// recovery code can still sign in.
				s.o.Log.Error("operator TOTP secret cannot be opened with BD_DATA_KEYS", "operator_id", cur.op.ID)
			}
			step, terr := auth.VerifyTOTP(secret, code, now, lastStep)
			if oerr == nil && terr == nil {
				lastStep = step
				if reseal { // plaintext from before sealing, or an older key's seal (docs/security.md)
					if err := s.resealTOTP(ctx, tx, cur.op.ID, "totp_secret", secret); err != nil {
						return err
					}
				}
			} else if s.useRecoveryCode(ctx, tx, cur.op.ID, code) {
				usedRecovery = true
			} else {
				refused = ErrBadCredentials
				return s.failed(ctx, tx, cur.op.ID, cur.state, now, "wrong_code")
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE platform.operators SET failures = 0, window_start = NULL, lockouts = 0,
				locked_until = NULL, last_failure = NULL, totp_last_step = $2, last_login_at = $3, updated_at = now()
			WHERE id = $1`, cur.op.ID, lastStep, now); err != nil {
			return err
		}
		if sess, err = s.startSession(ctx, tx, cur.op, now); err != nil {
			return err
		}
		factor := "none"
		switch {
		case usedRecovery:
			factor = "recovery_code"
		case cur.totpSecret != nil:
			factor = "totp"
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor(who), Action: ActionSignedIn, Target: target(who),
			After: map[string]any{"second_factor": factor}})
	})
	var locked *auth.LockedError
	switch {
	case err == nil && errors.As(refused, &locked):
		s.o.Log.Warn("operator login refused: account locked", "operator_id", who, "retry_after", locked.RetryAfter)
	case err == nil && refused != nil:
		s.o.Log.Warn("operator login refused: wrong credentials", "operator_id", who, "known_operator", true)
	}
	if err != nil {
		return Session{}, err
	}
	if refused != nil {
		return Session{}, refused
	}
	if usedRecovery {
		s.o.Log.Warn("operator signed in with a recovery code", "operator_id", who)
	}
	s.o.Log.Info("operator signed in", "operator_id", who, "family", sess.FamilyID)
	if needsRehash {
		if h, err := s.o.Hasher.Hash(ctx, c.Password); err == nil {
			_, _ = s.db.Exec(ctx, `UPDATE platform.operators SET password_hash = $2 WHERE id = $1`, who, h)
		}
	}
	return sess, nil
}

// failed records one failed attempt in the login transaction, which then commits: the count must survive, and so
// must its audit row (and that of the lockout it may start).
func (s *Service) failed(ctx context.Context, tx pgx.Tx, id uuid.UUID, st auth.LoginState, now time.Time, reason string) error {
	before := st
	st = s.o.Lockout.Failed(st, now)
	if _, err := tx.Exec(ctx, `UPDATE platform.operators SET failures = $2, window_start = $3, lockouts = $4, locked_until = $5,
			last_failure = $6, updated_at = now() WHERE id = $1`,
		id, st.Failures, nullTime(st.WindowStart), st.Lockouts, nullTime(st.LockedUntil), nullTime(st.LastFailure)); err != nil {
		return err
	}
	if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor(id), Action: ActionSignInFailed, Target: target(id),
		After: map[string]any{"reason": reason}}); err != nil {
		return err
	}
	if st.Lockouts > before.Lockouts {
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: audit.System("console"), Action: ActionLockedOut, Target: target(id),
			After: map[string]any{"locked_until": st.LockedUntil.UTC().Format(time.RFC3339), "lockouts": st.Lockouts}})
	}
	return nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Service) useRecoveryCode(ctx context.Context, tx pgx.Tx, id uuid.UUID, code string) bool {
	rows, err := tx.Query(ctx, `SELECT code_hash FROM platform.operator_recovery_codes WHERE operator_id = $1`, id)
	if err != nil {
		return false
	}
	hashes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.TokenHash, error) {
		var b []byte
		err := r.Scan(&b)
		var h auth.TokenHash
		copy(h[:], b)
		return h, err
	})
	if err != nil {
		return false
	}
	i := auth.MatchRecoveryCode(code, hashes)
	if i < 0 {
		return false
	}
	tag, err := tx.Exec(ctx, `DELETE FROM platform.operator_recovery_codes WHERE operator_id = $1 AND code_hash = $2`, id, hashes[i][:])
	return err == nil && tag.RowsAffected() == 1
}

// startSession issues an access token and the first refresh token of a new family.
func (s *Service) startSession(ctx context.Context, tx pgx.Tx, op Operator, now time.Time) (Session, error) {
	family, err := auth.NewFamilyID()
	if err != nil {
		return Session{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO platform.operator_refresh_families (id, operator_id, expires_at) VALUES ($1, $2, $3)`,
		family, op.ID, now.Add(auth.RefreshAbsoluteTTL)); err != nil {
		return Session{}, err
	}
	return s.issue(ctx, tx, op, family, now.Add(auth.RefreshIdleTTL))
}

func (s *Service) issue(ctx context.Context, tx pgx.Tx, op Operator, family string, refreshExpires time.Time) (Session, error) {
	refresh, err := auth.NewRefreshToken()
	if err != nil {
		return Session{}, err
	}
	h := auth.HashToken(refresh)
	if _, err := tx.Exec(ctx, `INSERT INTO platform.operator_refresh_tokens (token_hash, family_id, expires_at) VALUES ($1, $2, $3)`,
		h[:], family, refreshExpires); err != nil {
		return Session{}, err
	}
	access, claims, err := s.o.Keys.Issue(auth.Claims{Issuer: s.o.Issuer, Audience: auth.AudienceConsole,
		Subject: op.ID.String(), Roles: op.Roles}, AccessTTL)
	if err != nil {
		return Session{}, err
	}
	return Session{Operator: op, AccessToken: access, AccessExpires: claims.ExpiresAt, RefreshToken: refresh, FamilyID: family}, nil
}

// Refresh spends a refresh token and issues its successor; a spent token presented again revokes its family.
func (s *Service) Refresh(ctx context.Context, token string) (Session, error) {
	now := s.o.Now()
	h := auth.HashToken(token)
	var sess Session
	var reason error
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var (
			st        auth.StoredRefresh
			spent     *time.Time
			revoked   *time.Time
			opID      uuid.UUID
			opStatus  string
			found     = true
			op        Operator
			totpOn    bool
			createdAt time.Time
		)
		err := tx.QueryRow(ctx, `SELECT t.family_id, t.expires_at, t.spent_at, f.expires_at, f.revoked_at,
				o.id, o.email, o.name, o.roles, o.status, o.totp_secret IS NOT NULL, o.created_at
			FROM platform.operator_refresh_tokens t
			JOIN platform.operator_refresh_families f ON f.id = t.family_id
			JOIN platform.operators o ON o.id = f.operator_id
			WHERE t.token_hash = $1 FOR UPDATE OF t, f`, h[:]).
			Scan(&st.FamilyID, &st.ExpiresAt, &spent, &st.FamilyExpiresAt, &revoked,
				&opID, &op.Email, &op.Name, &op.Roles, &opStatus, &totpOn, &createdAt)
		if errors.Is(err, pgx.ErrNoRows) {
			found = false
		} else if err != nil {
			return err
		}
		op.ID, op.Status, op.TOTPEnabled, op.CreatedAt = opID, opStatus, totpOn, createdAt
		var stored *auth.StoredRefresh
		if found {
			st.Hash, st.Subject, st.Audience = h, opID.String(), auth.AudienceConsole
			st.SpentAt, st.FamilyRevokedAt = deref(spent), deref(revoked)
			stored = &st
		}
		d := auth.Rotate(token, stored, auth.RefreshExpectation{Audience: auth.AudienceConsole}, now)
		switch d.Action {
		case auth.RotateRevokeFamily:
			reason = d.Reason
			_, err := tx.Exec(ctx, `UPDATE platform.operator_refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, st.FamilyID, now)
			return err
		case auth.RotateIssue:
			if op.Status != "active" {
				reason = ErrInvalidRefresh
				return nil
			}
			tag, err := tx.Exec(ctx, `UPDATE platform.operator_refresh_tokens SET spent_at = $2 WHERE token_hash = $1 AND spent_at IS NULL`, h[:], now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				reason = auth.ErrRefreshReused
				_, err := tx.Exec(ctx, `UPDATE platform.operator_refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, st.FamilyID, now)
				return err
			}
			sess, err = s.issue(ctx, tx, op, st.FamilyID, d.NextExpiresAt)
			return err
		default:
			reason = d.Reason
			return nil
		}
	})
	if err != nil {
		return Session{}, err
	}
	if reason != nil {
		if errors.Is(reason, auth.ErrRefreshReused) {
			s.o.Log.Warn("operator refresh token reused: session revoked", "reason", reason)
		}
		return Session{}, fmt.Errorf("%w: %w", ErrInvalidRefresh, reason)
	}
	return sess, nil
}

// Logout revokes the family of a refresh token. An unknown token is not an error: the session is gone either way.
func (s *Service) Logout(ctx context.Context, token string) error {
	h := auth.HashToken(token)
	_, err := s.db.Exec(ctx, `UPDATE platform.operator_refresh_families SET revoked_at = now()
		WHERE revoked_at IS NULL AND id = (SELECT family_id FROM platform.operator_refresh_tokens WHERE token_hash = $1)`, h[:])
	return err
}

// Enrolment is a TOTP secret waiting for its first code.
type Enrolment struct {
	Secret string
	URI    string
}

// EnrolTOTP starts (or restarts) two-factor enrolment; the secret counts only after ConfirmTOTP. It asks for the
// operator's password, so a stolen session (a 15-minute cookie) cannot move the second factor to another device.
func (s *Service) EnrolTOTP(ctx context.Context, id uuid.UUID, password string) (Enrolment, error) {
	op, err := s.ByID(ctx, id)
	if err != nil {
		return Enrolment{}, err
	}
	var hash string
	if err := s.db.QueryRow(ctx, `SELECT password_hash FROM platform.operators WHERE id = $1`, id).Scan(&hash); err != nil {
		return Enrolment{}, err
	}
	ok, _, err := s.o.Hasher.Verify(ctx, password, hash)
	if err != nil {
		return Enrolment{}, err
	}
	if !ok {
		s.o.Log.Warn("operator two-factor enrolment refused: wrong password", "operator_id", id)
		return Enrolment{}, ErrBadCredentials
	}
	secret, err := auth.NewTOTPSecret()
	if err != nil {
		return Enrolment{}, err
	}
	uri, err := auth.TOTPURI("BrokerDesk console", op.Email, secret)
	if err != nil {
		return Enrolment{}, err
	}
	sealed, err := s.o.Sealer.Seal(totpPurpose(id), []byte(secret))
	if err != nil {
		return Enrolment{}, err
	}
	if _, err := s.db.Exec(ctx, `UPDATE platform.operators SET totp_pending_secret = $2, updated_at = now() WHERE id = $1`, id, sealed); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: secret, URI: uri}, nil
}

// ConfirmTOTP completes enrolment with a valid code and returns fresh recovery codes, shown once.
func (s *Service) ConfirmTOTP(ctx context.Context, id uuid.UUID, code string) ([]string, error) {
	now := s.o.Now()
	var codes []string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var pending *string
		var lastStep int64
		err := tx.QueryRow(ctx, `SELECT totp_pending_secret, totp_last_step FROM platform.operators WHERE id = $1 FOR UPDATE`, id).Scan(&pending, &lastStep)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if pending == nil {
			return ErrNoPendingTOTP
		}
		secret, _, err := s.openTOTP(id, *pending)
		if err != nil {
			s.o.Log.Error("operator pending TOTP secret cannot be opened with BD_DATA_KEYS", "operator_id", id)
			return ErrBadCredentials
		}
		step, err := auth.VerifyTOTP(secret, code, now, lastStep)
		if err != nil {
			return ErrBadCredentials
		}
		sealed, err := s.o.Sealer.Seal(totpPurpose(id), []byte(secret)) // under the current first key
		if err != nil {
			return err
		}
		var hashes []auth.TokenHash
		codes, hashes, err = auth.GenerateRecoveryCodes()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE platform.operators SET totp_secret = $3, totp_pending_secret = NULL,
				totp_last_step = $2, updated_at = now() WHERE id = $1`, id, step, sealed); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM platform.operator_recovery_codes WHERE operator_id = $1`, id); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.Exec(ctx, `INSERT INTO platform.operator_recovery_codes (operator_id, code_hash) VALUES ($1, $2)`, id, h[:]); err != nil {
				return err
			}
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor(id), Action: ActionTOTPEnrolled, Target: target(id),
			After: map[string]any{"totp": true, "recovery_codes": len(hashes)}})
	})
	return codes, err
}

// List returns every operator by email.
func (s *Service) List(ctx context.Context) ([]Operator, error) {
	rows, err := s.db.Query(ctx, `SELECT id, email, name, roles, status, totp_secret IS NOT NULL, created_at
		FROM platform.operators ORDER BY email`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Operator, error) {
		var op Operator
		err := r.Scan(&op.ID, &op.Email, &op.Name, &op.Roles, &op.Status, &op.TOTPEnabled, &op.CreatedAt)
		return op, err
	})
}

// SetActive enables or disables an operator by email. Disabling also ends every session at once (refresh tokens);
// an access token already issued lives out its 15 minutes.
func (s *Service) SetActive(ctx context.Context, email string, active bool) error {
	status := "disabled"
	if active {
		status = "active"
	}
	return s.withOperator(ctx, email, func(tx pgx.Tx, id uuid.UUID) error {
		var before string
		if err := tx.QueryRow(ctx, `SELECT status FROM platform.operators WHERE id = $1`, id).Scan(&before); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE platform.operators SET status = $2, updated_at = now() WHERE id = $1`, id, status); err != nil {
			return err
		}
		action := ActionEnabled
		if !active {
			action = ActionDisabled
			if err := revokeAll(ctx, tx, id); err != nil {
				return err
			}
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: CLIActor, Action: action, Target: target(id),
			Before: map[string]any{"status": before}, After: map[string]any{"status": status}})
	})
}

// ResetTOTP turns two-factor sign-in off for an operator who lost both the phone and the recovery codes, and ends
// their sessions; they sign in with the password alone and enrol again.
func (s *Service) ResetTOTP(ctx context.Context, email string) error {
	return s.withOperator(ctx, email, func(tx pgx.Tx, id uuid.UUID) error {
		if _, err := tx.Exec(ctx, `UPDATE platform.operators SET totp_secret = NULL, totp_pending_secret = NULL, updated_at = now()
			WHERE id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM platform.operator_recovery_codes WHERE operator_id = $1`, id); err != nil {
			return err
		}
		if err := revokeAll(ctx, tx, id); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: CLIActor, Action: ActionTOTPReset, Target: target(id),
			After: map[string]any{"totp": false, "sessions_revoked": true}})
	})
}

func (s *Service) withOperator(ctx context.Context, email string, fn func(pgx.Tx, uuid.UUID) error) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var id uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM platform.operators WHERE email = $1 FOR UPDATE`, NormalizeEmail(email)).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return fn(tx, id)
	})
}

func revokeAll(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	_, err := tx.Exec(ctx, `UPDATE platform.operator_refresh_families SET revoked_at = now() WHERE operator_id = $1 AND revoked_at IS NULL`, id)
	return err
}
