package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// ActionTwoFactorReset is audited when an admin turns a user's two-factor sign-in off (a lost phone). (Not
// "identity.2fa_reset": an audit action's parts start with a letter; this matches operator.totp_reset and
// identity.totp_enrolled.)
const ActionTwoFactorReset = "identity.totp_reset"

// Errors of an admin's two-factor reset; http.go and pages.go map them.
var (
	// ErrNotFound: no user of that kind and id on the tenant (or, by client, no portal login of that client).
	ErrNotFound = errors.New("identity: no such user")
	// ErrOwnTwoFactor: a staff user cannot reset their own second factor with a session alone; another admin must.
	ErrOwnTwoFactor = errors.New("identity: one's own two-factor sign-in is reset by another admin")
)

// ResetTwoFactor turns a user's two-factor sign-in off for the lost-phone case, done by an admin (by): in one
// tenant-scoped transaction it clears the TOTP secret (pending or confirmed) and its confirmation, deletes the
// user's recovery codes, revokes every refresh token of the user (their sessions end at the next refresh, at most
// AccessTTL later) and audits ActionTwoFactorReset. The user signs in with the password alone and may enrol again;
// when the tenant requires staff 2FA, a staff user's next sign-in is an enrolment-only session (Login).
//
// It works whatever the user's status (a disabled user's stale secret goes too) and whether or not 2FA was on (the
// sessions end either way). Unknown ids of the kind are ErrNotFound; a staff user resetting their own is
// ErrOwnTwoFactor.
func (s *Service) ResetTwoFactor(ctx context.Context, t tenants.Tenant, k Kind, userID uuid.UUID, by audit.Actor) error {
	if k == Staff && by.Kind == audit.ActorStaff && by.ID == userID.String() {
		return ErrOwnTwoFactor
	}
	return s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return s.resetTwoFactorTx(ctx, tx, k, userID, by, nil)
	})
}

// ResetClientTwoFactor is ResetTwoFactor for every portal login of a client (a client normally has one), in one
// transaction. It returns how many logins it reset; a client with no portal login, or no such client on t, is
// ErrNotFound.
func (s *Service) ResetClientTwoFactor(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, by audit.Actor) (int, error) {
	n := 0
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM portal_users WHERE client_id = $1 ORDER BY id FOR UPDATE`, clientID)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return ErrNotFound
		}
		for _, id := range ids {
			if err := s.resetTwoFactorTx(ctx, tx, Portal, id, by, &clientID); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// resetTwoFactorTx does ResetTwoFactor's work inside tx; clientID, when known, goes into the audit entry.
func (s *Service) resetTwoFactorTx(ctx context.Context, tx pgx.Tx, k Kind, userID uuid.UUID, by audit.Actor, clientID *uuid.UUID) error {
	var wasOn, pending bool
	if k == Staff {
		if _, err := staff.ByID(ctx, tx, userID); errors.Is(err, staff.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		// A staff user who never set a password has no credential row, and nothing to clear there.
		err := tx.QueryRow(ctx, `SELECT totp_enabled_at IS NOT NULL, totp_secret IS NOT NULL FROM staff_credentials
			WHERE staff_user_id = $1 FOR UPDATE`, userID).Scan(&wasOn, &pending)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	} else {
		err := tx.QueryRow(ctx, `SELECT totp_enabled_at IS NOT NULL, totp_secret IS NOT NULL FROM portal_users
			WHERE id = $1 FOR UPDATE`, userID).Scan(&wasOn, &pending)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
	}
	pending = pending && !wasOn
	// The last accepted step belonged to the old secret: a new enrolment starts from none, or its first code, made
	// within a minute of the user's last sign-in, would be refused as a replay.
	if _, err := tx.Exec(ctx, `UPDATE `+k.table+` SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = 0,
		updated_at = now() WHERE `+k.key+` = $1`, userID); err != nil {
		return fmt.Errorf("reset two-factor: %w", err)
	}
	codes, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_kind = $1 AND user_id = $2`, k.name, userID)
	if err != nil {
		return fmt.Errorf("reset two-factor: recovery codes: %w", err)
	}
	revoked, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_kind = $1 AND user_id = $2 AND revoked_at IS NULL`, k.name, userID)
	if err != nil {
		return fmt.Errorf("reset two-factor: sessions: %w", err)
	}
	// Keys the audit diff keeps readable ("totp", "recovery" and "token" are redacted wherever they appear).
	after := map[string]any{"two_factor": false, "enrolment_pending": false, "backup_codes_deleted": codes.RowsAffected(),
		"sessions_ended": revoked.RowsAffected()}
	if clientID != nil {
		after["client_id"] = clientID.String()
	}
	if err := s.audit.Record(ctx, tx, audit.Entry{Actor: by, Action: ActionTwoFactorReset,
		Target: audit.Target{Type: k.target, ID: userID.String()},
		Before: map[string]any{"two_factor": wasOn, "enrolment_pending": pending}, After: after}); err != nil {
		return err
	}
	// The user hears of it from us, by email, in the same transaction's outbox: a reset they did not ask for is
	// how an account takeover through the help desk would show.
	key, err := uuid.NewV7()
	if err != nil {
		return err
	}
	_, err = jobs.Outbox{}.Add(ctx, tx, TaskTwoFactorResetNotice, key.String(),
		resetNotice{Kind: k.name, UserID: userID, At: s.o.Now().UTC()},
		jobs.InQueue(jobs.QueueNotifications), jobs.WithMaxRetry(8), jobs.WithTimeout(time.Minute))
	return err
}

// TaskTwoFactorResetNotice is the outbox task that tells a user their two-factor sign-in was turned off
// (HandleTwoFactorResetNotice).
const TaskTwoFactorResetNotice = "identity:two-factor-reset-notice"

// resetNotice is TaskTwoFactorResetNotice's payload: whose second factor went, and when. The address is looked up
// when the email is sent, so a login erased in between gets nothing.
type resetNotice struct {
	Kind   string    `json:"kind"`
	UserID uuid.UUID `json:"user_id"`
	At     time.Time `json:"at"`
}

// HandleTwoFactorResetNotice handles TaskTwoFactorResetNotice for tenant t (register it through jobs.ForTenant):
// it emails the user that an administrator turned their two-factor sign-in off, how to turn it on again, and to
// tell the brokerage at once if they did not ask for it. A user who is gone or disabled since gets nothing. Delivery
// is at least once: a retry after a send whose acknowledgement was lost sends the notice twice.
func (s *Service) HandleTwoFactorResetNotice(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p resetNotice
	k, err := decodeUserTask(e, TaskTwoFactorResetNotice, &p, &p.Kind)
	if err != nil {
		return err
	}
	var email, status string
	err = s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		if k == Staff {
			m, err := staff.ByID(ctx, tx, p.UserID)
			email, status = m.Email, m.Status
			return err
		}
		return tx.QueryRow(ctx, `SELECT email, status FROM portal_users WHERE id = $1`, p.UserID).Scan(&email, &status)
	})
	if errors.Is(err, staff.ErrNotFound) || errors.Is(err, pgx.ErrNoRows) || (err == nil && status == "disabled") {
		s.o.Log.InfoContext(ctx, "two-factor reset notice: the login is gone or disabled, nothing sent", "kind", k.name)
		return nil
	}
	if err != nil {
		return err
	}
	page := "/backoffice/2fa"
	if k == Portal {
		page = "/portal/2fa"
	}
	if err := s.o.Mailer.Send(ctx, mail.Message{To: email, Subject: "Two-factor sign-in was turned off on your " + t.DisplayName + " account",
		Text: "Hello,\n\nAn administrator of " + t.DisplayName + " turned off two-factor sign-in on your account on " +
			p.At.Format("2 January 2006 at 15:04 UTC") + ", as is done when a phone is lost. Your recovery codes no longer " +
			"work and you were signed out everywhere. You can sign in with your password alone until you set it up again:\n" +
			s.o.TenantURL(t, page) + "\n\n" +
			"If you did not ask for this, tell " + t.DisplayName + " at once and change your password: someone may be " +
			"trying to take over your account.\n"}); err != nil {
		return fmt.Errorf("send two-factor reset notice: %w", err)
	}
	s.o.Log.InfoContext(ctx, "two-factor reset notice sent", "kind", k.name)
	return nil
}

// ClientSignIn is what the client page shows of a client's portal sign-in.
type ClientSignIn struct {
	Logins    int  // portal logins of the client (registration makes one)
	TwoFactor bool // at least one of them has two-factor sign-in on
}

// ClientSignIn reads a client's portal logins for the client page (no such client: zero logins).
func (s *Service) ClientSignIn(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) (ClientSignIn, error) {
	var out ClientSignIn
	err := s.gate.ReadRow(ctx, t, `SELECT count(*), coalesce(bool_or(totp_enabled_at IS NOT NULL), false)
		FROM portal_users WHERE client_id = $1`, []any{clientID}, &out.Logins, &out.TwoFactor)
	return out, err
}

// StaffWithTwoFactor returns the ids of t's staff users who have two-factor sign-in on (the staff page offers
// them a reset).
func (s *Service) StaffWithTwoFactor(ctx context.Context, t tenants.Tenant) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT staff_user_id FROM staff_credentials WHERE totp_enabled_at IS NOT NULL`)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		for _, id := range ids {
			out[id] = true
		}
		return err
	})
	return out, err
}
