package identity

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// ErrConfirmationCode: a signed-in user with two-factor sign-in on confirmed an action (a withdrawal) without a
// current authenticator code, or with a wrong or already used one.
var ErrConfirmationCode = errors.New("identity: a current authenticator code is required")

// ConfirmWithCode is the step-up check of a signed-in user before an action that moves money (modules/withdrawals):
// a user of kind k with two-factor sign-in on must give a current TOTP code, once (a code's time step is used up,
// as at sign-in). A wrong code counts as a failed sign-in under the lockout rule, so the confirmation cannot be used
// to guess codes; a locked-out user is refused. A user without two-factor sign-in confirms with nothing (the
// tenant's rules decide who must enrol). what names the action in the audit trail ("a withdrawal of 250.00 USD").
func (s *Service) ConfirmWithCode(ctx context.Context, t tenants.Tenant, k Kind, user uuid.UUID, code, what string) error {
	var outcome error
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		a, err := lookup(ctx, tx, k, "", user)
		if errors.Is(err, errNoAccount) {
			outcome = ErrConfirmationCode
			return nil
		}
		if err != nil || !a.totpEnabled {
			return err
		}
		now := s.o.Now()
		if s.o.Lockout.RetryAfter(a.state, now) > 0 || code == "" {
			outcome = ErrConfirmationCode
			return nil
		}
		secret, _, err := s.openTOTP(k, a.id, a.totpSecret)
		if err != nil {
			s.o.Log.ErrorContext(ctx, "TOTP secret cannot be opened with BD_DATA_KEYS", "kind", k.name, "user", a.id)
			outcome = ErrConfirmationCode
			return nil
		}
		step, err := auth.VerifyTOTP(secret, code, now, a.lastStep)
		if err != nil {
			outcome = ErrConfirmationCode
			reason := "wrong_confirmation_code"
			if errors.Is(err, auth.ErrTOTPReplayed) {
				reason = "replayed_confirmation_code"
			}
			return s.failConfirm(ctx, tx, a, reason, what)
		}
		a.lastStep = step
		return saveState(ctx, tx, a)
	})
	if err != nil {
		return err
	}
	return outcome
}

// failConfirm counts a wrong confirmation code as a failed sign-in (fail) and says what it was confirming.
func (s *Service) failConfirm(ctx context.Context, tx pgx.Tx, a account, reason, what string) error {
	before := a.state
	a.state = s.o.Lockout.Failed(a.state, s.o.Now())
	if err := saveState(ctx, tx, a); err != nil {
		return err
	}
	if err := s.audit.Record(ctx, tx, audit.Entry{Actor: s.actor(a), Action: ActionLoginFailed, Target: a.target(),
		After: map[string]any{"reason": reason, "confirming": what}}); err != nil {
		return err
	}
	if a.state.Lockouts > before.Lockouts {
		return s.audit.Record(ctx, tx, audit.Entry{Actor: audit.System("identity"), Action: ActionLockedOut, Target: a.target(),
			After: map[string]any{"locked_until": a.state.LockedUntil.UTC().Format("2006-01-02T15:04:05Z07:00"), "lockouts": a.state.Lockouts}})
	}
	return nil
}

// TwoFactorOn reports whether a portal user has two-factor sign-in on (the withdrawal form asks for a code then).
func (s *Service) TwoFactorOn(ctx context.Context, t tenants.Tenant, user uuid.UUID) (bool, error) {
	return s.TOTPEnabled(ctx, t, Portal, user)
}
