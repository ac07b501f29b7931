package clients

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Transition is one allowed status change and why it exists (docs/clients.md prints this table).
type Transition struct {
	From, To Status
	Why      string
}

// Transitions is the whole lifecycle: every allowed change, nothing else. Who may ask for a change (the KYC
// review, a compliance officer, the client's own email link) is the caller's rule; TransitionTx only refuses
// changes that are not here.
var Transitions = []Transition{
	{StatusRegistered, StatusEmailVerified, "the client followed the verification link in their email"},
	{StatusRegistered, StatusSuspended, "a registration under investigation (fraud, duplicate identity) before any verification"},
	{StatusRegistered, StatusClosed, "the registration is abandoned or was made in error"},

	{StatusEmailVerified, StatusKYCSubmitted, "the client submitted the first KYC document"},
	{StatusEmailVerified, StatusSuspended, "compliance stops the account pending an investigation"},
	{StatusEmailVerified, StatusClosed, "the client or the brokerage ends the relationship"},

	{StatusKYCSubmitted, StatusKYCApproved, "every required document is approved"},
	{StatusKYCSubmitted, StatusKYCMoreInfo, "a reviewer needs another or a better document"},
	{StatusKYCSubmitted, StatusKYCRejected, "a document shows a problem the client cannot cure (mismatch, forgery, sanctions)"},
	{StatusKYCSubmitted, StatusSuspended, "compliance stops the account pending an investigation"},
	{StatusKYCSubmitted, StatusClosed, "the client or the brokerage ends the relationship"},

	{StatusKYCMoreInfo, StatusKYCSubmitted, "the client uploaded what was asked for (re-submission)"},
	{StatusKYCMoreInfo, StatusKYCRejected, "the client did not cure the problem, or the new document shows it cannot be cured"},
	{StatusKYCMoreInfo, StatusSuspended, "compliance stops the account pending an investigation"},
	{StatusKYCMoreInfo, StatusClosed, "the client or the brokerage ends the relationship"},

	{StatusKYCRejected, StatusKYCSubmitted, "the client submitted new documents after a rejection (re-submission)"},
	{StatusKYCRejected, StatusSuspended, "compliance stops the account pending an investigation"},
	{StatusKYCRejected, StatusClosed, "the brokerage ends the relationship after the rejection"},

	{StatusKYCApproved, StatusKYCMoreInfo, "a periodic review or an expired document needs new documents (re-KYC)"},
	{StatusKYCApproved, StatusRestricted, "compliance limits the account to withdrawals (e.g. a pending source-of-funds check)"},
	{StatusKYCApproved, StatusSuspended, "compliance stops the account pending an investigation"},
	{StatusKYCApproved, StatusClosed, "the client or the brokerage ends the relationship"},

	{StatusRestricted, StatusKYCApproved, "reinstated: the reason for the restriction is resolved"},
	{StatusRestricted, StatusKYCMoreInfo, "the restriction's resolution needs new documents"},
	{StatusRestricted, StatusSuspended, "the restriction is escalated to a full stop"},
	{StatusRestricted, StatusClosed, "the client or the brokerage ends the relationship"},

	{StatusSuspended, StatusRegistered, "reinstated to where the client was before the suspension"},
	{StatusSuspended, StatusEmailVerified, "reinstated to where the client was before the suspension"},
	{StatusSuspended, StatusKYCSubmitted, "reinstated to where the client was before the suspension"},
	{StatusSuspended, StatusKYCMoreInfo, "reinstated, with new documents required"},
	{StatusSuspended, StatusKYCRejected, "reinstated to where the client was before the suspension"},
	{StatusSuspended, StatusKYCApproved, "reinstated: the investigation cleared the client (needs an earlier KYC approval)"},
	{StatusSuspended, StatusRestricted, "partly reinstated: withdrawals only"},
	{StatusSuspended, StatusClosed, "the investigation ends the relationship"},

	{StatusClosed, StatusEmailVerified, "reopened at the client's request: a new relationship, KYC starts again"},
}

// CanMove reports whether the lifecycle allows from -> to.
func CanMove(from, to Status) bool {
	for _, tr := range Transitions {
		if tr.From == from && tr.To == to {
			return true
		}
	}
	return false
}

// Next lists the statuses a client in from may move to, in table order.
func Next(from Status) []Status {
	var out []Status
	for _, tr := range Transitions {
		if tr.From == from {
			out = append(out, tr.To)
		}
	}
	return out
}

// TransitionError is TransitionTx's refusal: the change is not in the lifecycle, or it lacks what it needs, or the
// client's personal data was erased (Erased).
type TransitionError struct {
	From, To Status
	Detail   string
	// Erased: the client was erased (EraseTx); no change of status is possible any more, whatever the table says.
	Erased bool
}

// ErasedDetail is a TransitionError's Detail for an erased client.
const ErasedDetail = "the client's personal data was erased; a returning person registers anew"

func (e *TransitionError) Error() string {
	return fmt.Sprintf("clients: a client cannot move from %s to %s: %s", e.From, e.To, e.Detail)
}

// ErrReasonRequired is returned for a status change without a reason (or with one over MaxReasonLen).
var ErrReasonRequired = errors.New("clients: a status change needs a reason (1 to 500 characters)")

// MaxReasonLen bounds a status change's reason.
const MaxReasonLen = 500

// TransitionTx moves a client to status to, in the caller's transaction (a tenant scope): it refuses any change
// not in Transitions, and any change at all of an erased client, with a *TransitionError, requires a reason, locks the client's row, writes the status history
// row and records ActionStatusChanged with the status before and after. Moving to the status the client already
// has is refused as well (nothing to record).
func (s *Service) TransitionTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id uuid.UUID, to Status, reason string, actor audit.Actor) error {
	_, err := s.transitionTx(ctx, tx, t, id, to, reason, actor)
	return err
}

func (s *Service) transitionTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id uuid.UUID, to Status, reason string, actor audit.Actor) (Client, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > MaxReasonLen {
		return Client{}, ErrReasonRequired
	}
	if p := validation.Text(reason); p != "" {
		return Client{}, validation.New("reason", p)
	}
	if !to.Valid() {
		return Client{}, &TransitionError{To: to, Detail: "unknown status"}
	}
	c, err := getForUpdate(ctx, tx, id)
	if err != nil {
		return Client{}, err
	}
	if c.ErasedAt != nil {
		return c, &TransitionError{From: c.Status, To: to, Detail: ErasedDetail, Erased: true}
	}
	if !CanMove(c.Status, to) {
		return c, &TransitionError{From: c.Status, To: to, Detail: "the lifecycle does not allow this change"}
	}
	if to == StatusKYCApproved && c.Status != StatusKYCSubmitted && c.KYCApprovedAt == nil {
		return c, &TransitionError{From: c.Status, To: to, Detail: "the client's KYC was never approved"}
	}
	// Reopening a closed relationship is a new one: the old KYC approval no longer counts.
	_, err = tx.Exec(ctx, `UPDATE clients SET status = $2, status_changed_at = now(),
		email_verified_at = CASE WHEN $2 = 'email_verified' AND email_verified_at IS NULL THEN now() ELSE email_verified_at END,
		kyc_approved_at = CASE WHEN $2 = 'kyc_approved' AND kyc_approved_at IS NULL THEN now()
		                       WHEN $3 = 'closed' THEN NULL ELSE kyc_approved_at END
		WHERE id = $1`, id, string(to), string(c.Status))
	if err != nil {
		return c, fmt.Errorf("move client %s to %s: %w", id, to, err)
	}
	if err := addHistory(ctx, tx, id, c.Status, to, reason, actor); err != nil {
		return c, err
	}
	if err := s.events.Publish(ctx, tx, t, StatusChanged{ClientID: id, From: c.Status, To: to, Reason: reason, Actor: actor}); err != nil {
		return c, err
	}
	if err := s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionStatusChanged, Target: target(id),
		Before: map[string]any{"status": c.Status}, After: map[string]any{"status": to, "reason": reason}}); err != nil {
		return c, err
	}
	c.Status = to
	return c, nil
}

func addHistory(ctx context.Context, tx pgx.Tx, id uuid.UUID, from, to Status, reason string, actor audit.Actor) error {
	var fromArg *string
	if from != "" {
		f := string(from)
		fromArg = &f
	}
	_, err := tx.Exec(ctx, `INSERT INTO client_status_history (client_id, from_status, to_status, reason, actor_kind, actor_id)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, fromArg, string(to), reason, string(actor.Kind), actor.ID)
	if err != nil {
		return fmt.Errorf("status history of %s: %w", id, err)
	}
	return nil
}

// ReinstateTarget is where "reinstate" takes a restricted, suspended or closed client: kyc_approved for a
// restricted client, the status before the last suspension (from the history) for a suspended one, and
// email_verified for a closed one (reopened: KYC starts again). ok is false for any other status.
func (s *Service) ReinstateTarget(ctx context.Context, tx pgx.Tx, c Client) (Status, bool, error) {
	switch c.Status {
	case StatusClosed:
		return StatusEmailVerified, true, nil
	case StatusRestricted:
		return StatusKYCApproved, true, nil
	case StatusSuspended:
		var from string
		err := tx.QueryRow(ctx, `SELECT coalesce(from_status, '') FROM client_status_history
			WHERE client_id = $1 AND to_status = 'suspended' ORDER BY id DESC LIMIT 1`, c.ID).Scan(&from)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return "", false, err
		}
		if from == "" || !CanMove(StatusSuspended, Status(from)) {
			return StatusEmailVerified, true, nil
		}
		return Status(from), true, nil
	}
	return "", false, nil
}

// staffActions are the status changes staff make by hand; the KYC statuses move through the KYC review.
var staffActions = map[string]Status{"restrict": StatusRestricted, "suspend": StatusSuspended, "close": StatusClosed}

// ChangeStatus applies a staff action (restrict, suspend, close, reinstate) to a client v may see.
func (s *Service) ChangeStatus(ctx context.Context, t tenants.Tenant, v Viewer, id uuid.UUID, action, reason string, actor audit.Actor) (Client, error) {
	var out Client
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		c, err := s.getForTx(ctx, tx, v, id)
		if err != nil {
			return err
		}
		to, ok := staffActions[action]
		if action == "reinstate" {
			to, ok, err = s.ReinstateTarget(ctx, tx, c)
			if err != nil {
				return err
			}
			if !ok {
				return &TransitionError{From: c.Status, To: c.Status, Detail: "only a restricted, suspended or closed client can be reinstated"}
			}
		} else if !ok {
			return validation.New("action", "must be restrict, suspend, close or reinstate")
		}
		out, err = s.transitionTx(ctx, tx, t, id, to, reason, actor)
		return err
	})
	return out, err
}
