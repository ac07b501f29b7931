package withdrawals

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Decisions (withdrawal_decisions): compliance first on a flagged withdrawal (cleared or refused), then finance's
// approval, from two different people at or above the tenant's threshold (four-eyes), or a refusal; each with a
// reason, audited in a sentence. Every decision locks the withdrawal's row, so two decisions on one withdrawal
// take turns, and a unique index allows one approval per person.

// DecisionKind is what a staff user decided.
type DecisionKind string

const (
	ComplianceCleared DecisionKind = "compliance_cleared"
	ComplianceRefused DecisionKind = "compliance_refused"
	Approved          DecisionKind = "approved"
	Rejected          DecisionKind = "rejected"
	MarkedPaid        DecisionKind = "marked_paid"
	MarkedFailed      DecisionKind = "marked_failed"
)

// Decision is one staff decision.
type Decision struct {
	Kind    DecisionKind
	StaffID uuid.UUID
	Reason  string
	At      time.Time
}

// Audit actions of decisions and payouts.
const (
	ActionComplianceCleared = "withdrawal.compliance_cleared"
	ActionComplianceRefused = "withdrawal.compliance_refused"
	ActionApproved          = "withdrawal.approved"
	ActionRejected          = "withdrawal.rejected"
	ActionPaid              = "withdrawal.paid"
	ActionFailed            = "withdrawal.failed"
	ActionExpired           = "withdrawal.expired"
	ActionLegPaid           = "withdrawal.leg_paid"
	ActionPayoutUnknown     = "withdrawal.payout_unknown"
)

// Errors of decisions (409 each, with its own problem).
var (
	// ErrPersonRequired: a decision taken without a staff user (an API key): whose eyes they were must be known.
	ErrPersonRequired = errors.New("withdrawals: a staff user must decide")
	// ErrNotPending: the withdrawal is no longer waiting for this decision.
	ErrNotPending = errors.New("withdrawals: the withdrawal is not waiting for this decision")
	// ErrComplianceFirst: a flagged withdrawal needs compliance's clearance before finance approves it.
	ErrComplianceFirst = errors.New("withdrawals: compliance must clear this withdrawal first")
	// ErrBlocked: a check blocks the withdrawal's approval (refuse it with the reason).
	ErrBlocked = errors.New("withdrawals: a check blocks this withdrawal")
	// ErrSameApprover: the second approval of a four-eyes withdrawal must come from someone else.
	ErrSameApprover = errors.New("withdrawals: the second approval must come from a different person")
	// ErrNotFlagged: compliance reviews flagged withdrawals only.
	ErrNotFlagged = errors.New("withdrawals: this withdrawal is not waiting for compliance")
)

// decideTx locks a withdrawal for a decision and checks the reason (after the lookup: an id of another tenant is
// not found, whatever the body).
func decideTx(ctx context.Context, tx pgx.Tx, id, staffID uuid.UUID, reason string) (Withdrawal, error) {
	w, err := withdrawalTx(ctx, tx, `w.id = $1 FOR UPDATE OF w`, id)
	if err != nil {
		return w, err
	}
	if staffID == uuid.Nil {
		return Withdrawal{}, ErrPersonRequired
	}
	var f validation.Fields
	f.Required("reason", reason)
	f.Text("reason", reason, 1000)
	return w, f.Err()
}

func recordDecision(ctx context.Context, tx pgx.Tx, id, staffID uuid.UUID, k DecisionKind, reason string) error {
	_, err := tx.Exec(ctx, `INSERT INTO withdrawal_decisions (withdrawal_id, position, kind, staff_id, reason)
		VALUES ($1, (SELECT coalesce(max(position), 0) + 1 FROM withdrawal_decisions WHERE withdrawal_id = $1), $2, $3, $4)`,
		id, string(k), staffID, strings.TrimSpace(reason))
	if database.IsUniqueViolation(err) {
		return ErrSameApprover
	}
	return err
}

// cleared reports whether compliance cleared w.
func (w Withdrawal) cleared() bool {
	for _, d := range w.Decisions {
		if d.Kind == ComplianceCleared {
			return true
		}
	}
	return false
}

// Approvals are finance's approvals so far.
func (w Withdrawal) Approvals() []Decision {
	var out []Decision
	for _, d := range w.Decisions {
		if d.Kind == Approved {
			out = append(out, d)
		}
	}
	return out
}

// WaitingFor says who the withdrawal waits for: "compliance", "finance", "a second approver", "the payout", "".
func (w Withdrawal) WaitingFor() string {
	switch {
	case w.Status == StatusApproved:
		return "the payout"
	case w.Status != StatusPending:
		return ""
	case w.Flagged && !w.cleared():
		return "compliance"
	case w.NeedsSecond && len(w.Approvals()) == 1:
		return "a second approver"
	}
	return "finance"
}

// Review is compliance's decision on a flagged withdrawal: cleared (finance may approve it) or refused (its hold is
// voided and the client told why).
func (s *Service) Review(ctx context.Context, t tenants.Tenant, actor audit.Actor, staffID, id uuid.UUID, clear bool, reason string) (Withdrawal, error) {
	var out Withdrawal
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		w, err := decideTx(ctx, tx, id, staffID, reason)
		if err != nil {
			return err
		}
		if w.Status != StatusPending || !w.Flagged || w.cleared() {
			return ErrNotFlagged
		}
		if !clear {
			if err := recordDecision(ctx, tx, id, staffID, ComplianceRefused, reason); err != nil {
				return err
			}
			out, err = s.endTx(ctx, tx, t, w, StatusRejected, reason, actor, ActionComplianceRefused)
			return err
		}
		if err := recordDecision(ctx, tx, id, staffID, ComplianceCleared, reason); err != nil {
			return err
		}
		if out, err = withdrawalTx(ctx, tx, `w.id = $1`, id); err != nil {
			return err
		}
		after := view(out)
		after["reason"] = reason
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionComplianceCleared, Target: audit.Target{Type: target, ID: id.String()},
			After: after})
	})
	return out, err
}

// Approve is finance's approval. A blocked withdrawal cannot be approved, a flagged one only once compliance
// cleared it; at or above the tenant's threshold it needs two approvals by different people. The last approval
// makes it approved and queues its payout (through the outbox, in the same transaction).
func (s *Service) Approve(ctx context.Context, t tenants.Tenant, actor audit.Actor, staffID, id uuid.UUID, reason string) (Withdrawal, error) {
	var out Withdrawal
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		w, err := decideTx(ctx, tx, id, staffID, reason)
		if err != nil {
			return err
		}
		switch {
		case w.Status != StatusPending:
			return ErrNotPending
		case w.Blocked:
			return ErrBlocked
		case w.Flagged && !w.cleared():
			return ErrComplianceFirst
		}
		for _, a := range w.Approvals() {
			if a.StaffID == staffID {
				return ErrSameApprover
			}
		}
		if err := recordDecision(ctx, tx, id, staffID, Approved, reason); err != nil {
			return err
		}
		final := !w.NeedsSecond || len(w.Approvals()) == 1
		if final {
			if _, err := tx.Exec(ctx, `UPDATE withdrawals SET status = 'approved', reason = $2, updated_at = now() WHERE id = $1`, id, reason); err != nil {
				return err
			}
			if err := s.queuePayout(ctx, tx, id, "withdrawal:"+id.String()+":payout"); err != nil {
				return err
			}
		}
		if out, err = withdrawalTx(ctx, tx, `w.id = $1`, id); err != nil {
			return err
		}
		if final {
			if err := s.tellClient(ctx, tx, t, out, "approved", "We are paying it out now."); err != nil {
				return err
			}
		}
		after := view(out)
		after["reason"], after["approval"], after["final"] = reason, len(out.Approvals()), final
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionApproved, Target: audit.Target{Type: target, ID: id.String()},
			Before: map[string]any{"status": w.Status}, After: after})
	})
	return out, err
}

// Reject refuses a withdrawal waiting for a decision: its hold is voided and the client is told the reason.
func (s *Service) Reject(ctx context.Context, t tenants.Tenant, actor audit.Actor, staffID, id uuid.UUID, reason string) (Withdrawal, error) {
	var out Withdrawal
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		w, err := decideTx(ctx, tx, id, staffID, reason)
		if err != nil {
			return err
		}
		if w.Status != StatusPending {
			return ErrNotPending
		}
		if err := recordDecision(ctx, tx, id, staffID, Rejected, reason); err != nil {
			return err
		}
		out, err = s.endTx(ctx, tx, t, w, StatusRejected, reason, actor, ActionRejected)
		return err
	})
	return out, err
}

// decisionsTx reads a withdrawal's decisions in order.
func decisionsTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) ([]Decision, error) {
	rows, err := tx.Query(ctx, `SELECT kind, staff_id, reason, decided_at FROM withdrawal_decisions WHERE withdrawal_id = $1 ORDER BY position`, id)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Decision, error) {
		var d Decision
		var k string
		err := r.Scan(&k, &d.StaffID, &d.Reason, &d.At)
		d.Kind = DecisionKind(k)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("withdrawals: decisions of %s: %w", id, err)
	}
	return out, nil
}
