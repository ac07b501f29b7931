package withdrawals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Payouts. The ledger and a processor cannot commit together, so the order of writes is what keeps money from
// moving twice (as the trading desk's transfers do it):
//
//   - Approval commits the status and the payout task (outbox) together.
//   - The worker (TaskPayout) takes the legs in order. Before each card refund it raises and commits the leg's call
//     count, then asks payments to refund the deposit's PaymentIntent with the key withdrawal:<id>:leg:<n>: Stripe
//     creates one refund per key, so a run killed after the call finds the same refund when it asks again. The
//     answer is committed with the leg (paid, the refund's id).
//   - A refund the processor refuses, or one still failing when the task's retries run out, fails the withdrawal:
//     the hold is posted for what the paid legs paid (withdrawal:<id>:post, in part) or voided
//     (withdrawal:<id>:void), and the client is told why by email.
//   - Legs paid by hand (the bank transfer, a gateway without a payout call) wait for finance, who marks the
//     withdrawal paid with the bank's reference (MarkPaid) or failed with the reason (MarkFailed, when the bank
//     returned it). Paid in full, the hold is posted in full (withdrawal:<id>:post).
//   - A withdrawal nobody decides expires after the tenant's period (TaskExpire, every 10 minutes per tenant): the
//     hold is voided.
//
// Every ledger call has its key, and every status change is conditional on the status it leaves, so a second run,
// a second click or a task delivered twice moves nothing.

// TaskPayout pays an approved withdrawal's legs (queue critical, keyed by the withdrawal).
const TaskPayout = "withdrawals:payout"

// TaskExpire expires the tenant's undecided withdrawals (periodic).
const TaskExpire = "withdrawals:expire"

const payoutRetries = 8

type payoutTask struct {
	WithdrawalID uuid.UUID `json:"withdrawal_id"`
}

// Payer pays out through the gateways (*payments.Service): a deposit's card payment refunded, or a payout through a
// gateway that pays out (its outcome comes back as payments.PayoutNotified).
type Payer interface {
	RefundPayment(ctx context.Context, t tenants.Tenant, depositID uuid.UUID, paymentID string, amount money.Amount, key, reason string) (payments.Refunded, error)
	Payout(ctx context.Context, t tenants.Tenant, gateway string, r payments.PayoutRequest) (payments.PaidOut, error)
}

// Emails queues a client's email in the caller's transaction (*emails.Service).
type Emails interface {
	Queue(ctx context.Context, tx pgx.Tx, t tenants.Tenant, key string, e emails.Email) error
}

func (s *Service) queuePayout(ctx context.Context, tx pgx.Tx, id uuid.UUID, key string) error {
	_, err := (jobs.Outbox{}).Add(ctx, tx, TaskPayout, key, payoutTask{WithdrawalID: id}, jobs.InQueue(jobs.QueueCritical),
		jobs.WithMaxRetry(payoutRetries), jobs.WithTimeout(2*time.Minute))
	return err
}

// Tasks registers the payout task and the periodic expiry.
func (s *Service) Tasks(tt *jobs.Tasks) {
	tt.Handle(TaskPayout, s.handlePayout)
	tt.Handle(TaskExpire, func(ctx context.Context, t tenants.Tenant, _ jobs.Envelope) error {
		_, err := s.Expire(ctx, t)
		return err
	})
	tt.Every(jobs.Entry{Name: "withdrawals-expire", Every: 10 * time.Minute, Type: TaskExpire, Queue: jobs.QueueLow, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(3), asynq.Timeout(5 * time.Minute)}})
}

func (s *Service) handlePayout(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p payoutTask
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("%w: %s payload: %v", jobs.SkipRetry, TaskPayout, err)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	max, ok := asynq.GetMaxRetry(ctx)
	return s.RunPayout(ctx, t, p.WithdrawalID, !ok || retried >= max)
}

// RunPayout pays an approved withdrawal's card refunds, in order; a withdrawal no longer approved is left alone.
// An error is returned for the task to retry (the same keys, so nothing is paid twice); with final set, or when the
// processor refuses outright, the withdrawal fails instead.
func (s *Service) RunPayout(ctx context.Context, t tenants.Tenant, id uuid.UUID, final bool) error {
	if s.o.Payer == nil {
		return errors.New("withdrawals: payouts need payments")
	}
	w, err := s.Get(ctx, t, id, uuid.Nil)
	if errors.Is(err, ErrNotFound) || (err == nil && w.Status != StatusApproved) {
		return nil
	}
	if err != nil {
		return err
	}
	for i, l := range w.Legs {
		if l.Kind == LegGateway && l.Status == "planned" {
			if err := s.payOut(ctx, t, w, i+1, l, final); err != nil {
				return err
			}
			continue
		}
		if l.Kind != LegCardRefund || l.Status != "planned" {
			continue
		}
		n := i + 1
		if err := s.countCall(ctx, t, id, n); err != nil {
			return err
		}
		ref, err := s.o.Payer.RefundPayment(ctx, t, l.DepositID, l.ExternalID, l.Amount, "withdrawal:"+id.String()+":leg:"+strconv.Itoa(n),
			"Withdrawal "+id.String())
		if err != nil {
			_, refused := validation.As(err)
			switch {
			case refused || errors.Is(err, payments.ErrRefundUnsupported) || errors.Is(err, payments.ErrDeclined): // nothing happened there
				return s.fail(ctx, t, w, "the card refund did not go through ("+refundWords(err)+")", systemActor, ActionFailed)
			case final: // the call may have reached the processor: its outcome is unknown, for finance
				return s.unknown(ctx, t, w, "the card refund's outcome is unknown ("+refundWords(err)+")")
			}
			return err
		}
		if err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE withdrawal_legs SET status = 'paid', reference = $3 WHERE withdrawal_id = $1 AND position = $2 AND status = 'planned'`,
				id, n, ref.ExternalID)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE withdrawals SET paid_amount = paid_amount + $2, updated_at = now() WHERE id = $1`, id, l.Amount.Minor); err != nil {
				return err
			}
			return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionLegPaid, Target: audit.Target{Type: target, ID: id.String()},
				After: map[string]any{"amount": l.Amount.Decimal(), "currency": l.Amount.Currency.Code, "kind": l.Kind, "reference": ref.ExternalID,
					"client": w.ClientName}})
		}); err != nil {
			return err
		}
	}
	return s.completeIfPaid(ctx, t, id, systemActor, "", uuid.Nil)
}

// payOut asks the leg's gateway to pay the client's destination, with the reference its callback brings back
// (payments.PayoutReferencePrefix + withdrawal:n) and the key withdrawal:<id>:leg:<n>; the leg is then sent, and its
// callback settles it (settlePayout). A gateway that cannot pay out leaves the leg for finance to pay by hand.
func (s *Service) payOut(ctx context.Context, t tenants.Tenant, w Withdrawal, n int, l Leg, final bool) error {
	if err := s.countCall(ctx, t, w.ID, n); err != nil {
		return err
	}
	out, err := s.o.Payer.Payout(ctx, t, l.GatewaySlug, payments.PayoutRequest{Reference: payoutReference(w.ID, n), Amount: l.Amount,
		Destination: w.Destination, IdempotencyKey: "withdrawal:" + w.ID.String() + ":leg:" + strconv.Itoa(n)})
	switch {
	case errors.Is(err, payments.ErrPayoutUnsupported):
		return nil // paid by hand: finance marks it paid with the reference
	case errors.Is(err, payments.ErrDeclined): // the processor will not pay it: nothing happened there
		return s.fail(ctx, t, w, "the payout through "+l.GatewaySlug+" was declined ("+refundWords(err)+")", systemActor, ActionFailed)
	case err != nil && final:
		return s.unknown(ctx, t, w, "the payout through "+l.GatewaySlug+" has an unknown outcome ("+refundWords(err)+")")
	case err != nil:
		return err
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE withdrawal_legs SET status = 'sent', reference = $3 WHERE withdrawal_id = $1 AND position = $2 AND status = 'planned'`,
			w.ID, n, out.ExternalID)
		return err
	})
}

// unknown records that the payout's retries ran out after a call that may have reached the processor: the
// withdrawal stays approved and its hold untouched, with the reason, for finance, who checks the processor's
// dashboard and marks it paid (with the processor's reference) or failed. Voiding the hold here could pay twice: the
// refund may have happened.
func (s *Service) unknown(ctx context.Context, t tenants.Tenant, w Withdrawal, reason string) error {
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE withdrawals SET failure = $2, updated_at = now() WHERE id = $1 AND status = 'approved'`, w.ID, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		after := view(w)
		after["reason"] = reason
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionPayoutUnknown, Target: audit.Target{Type: target, ID: w.ID.String()},
			After: after})
	})
	if err == nil {
		s.o.Log.ErrorContext(tenants.WithTenant(ctx, t), "withdrawal payout outcome unknown: finance must check the processor", "withdrawal", w.ID,
			"reason", reason)
	}
	return err
}

// payoutReference is the reference a leg's payout carries to the processor and back.
func payoutReference(id uuid.UUID, n int) string {
	return payments.PayoutReferencePrefix + "withdrawal:" + id.String() + ":" + strconv.Itoa(n)
}

// settlePayout reads a payout's callback, in the callback's transaction: paid settles the leg (and the withdrawal
// once every leg is paid: the hold posted), failed fails the withdrawal (what was paid posted, the rest released).
// A callback about a leg already settled changes nothing, so a payout notified twice pays once.
func (s *Service) settlePayout(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, e payments.PayoutNotified) error {
	rest, ok := strings.CutPrefix(e.Reference, payments.PayoutReferencePrefix+"withdrawal:")
	if !ok {
		return nil // another payer's payout
	}
	idText, nText, _ := strings.Cut(rest, ":")
	id, err1 := uuid.Parse(idText)
	n, err2 := strconv.Atoi(nText)
	if err1 != nil || err2 != nil {
		return nil
	}
	w, err := withdrawalTx(ctx, tx, `w.id = $1 FOR UPDATE OF w`, id)
	if errors.Is(err, ErrNotFound) || (err == nil && w.Status != StatusApproved) || n < 1 || (err == nil && n > len(w.Legs)) {
		return nil
	}
	if err != nil {
		return err
	}
	l := w.Legs[n-1]
	if l.Kind != LegGateway || (l.Status != "sent" && l.Status != "planned") {
		return nil
	}
	switch e.Status {
	case payments.NotifiedPaid:
		if _, err := tx.Exec(ctx, `UPDATE withdrawal_legs SET status = 'paid', reference = coalesce(nullif($3, ''), reference)
			WHERE withdrawal_id = $1 AND position = $2`, id, n, e.ExternalID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE withdrawals SET paid_amount = paid_amount + $2, updated_at = now() WHERE id = $1`, id, l.Amount.Minor); err != nil {
			return err
		}
		if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionLegPaid, Target: audit.Target{Type: target, ID: id.String()},
			After: map[string]any{"amount": l.Amount.Decimal(), "currency": l.Amount.Currency.Code, "kind": l.Kind, "reference": e.ExternalID,
				"gateway": l.GatewaySlug, "client": w.ClientName}}); err != nil {
			return err
		}
		return s.completeTx(ctx, tx, t, id, systemActor, "", uuid.Nil)
	case payments.NotifiedFailed:
		cur, err := withdrawalTx(ctx, tx, `w.id = $1`, id)
		if err != nil {
			return err
		}
		_, err = s.failTx(ctx, tx, t, cur, "the payout through "+l.GatewaySlug+" failed", systemActor, ActionFailed)
		return err
	}
	return nil
}

// refundWords is a processor's refusal in a sentence for the client and the trail (never internal text).
func refundWords(err error) string {
	if errors.Is(err, payments.ErrRefundUnsupported) {
		return "this payment method's refunds are made by hand"
	}
	msg := err.Error()
	if i := strings.Index(msg, "stripe: "); i >= 0 {
		msg = msg[i+len("stripe: "):]
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

func (s *Service) countCall(ctx context.Context, t tenants.Tenant, id uuid.UUID, n int) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE withdrawal_legs SET calls = calls + 1 WHERE withdrawal_id = $1 AND position = $2`, id, n)
		return err
	})
}

// completeIfPaid posts the hold in full and pays the withdrawal once every leg is paid; legs paid by hand keep it
// approved, waiting for finance.
func (s *Service) completeIfPaid(ctx context.Context, t tenants.Tenant, id uuid.UUID, actor audit.Actor, reference string, staffID uuid.UUID) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return s.completeTx(ctx, tx, t, id, actor, reference, staffID)
	})
}

// completeTx is completeIfPaid in tx.
func (s *Service) completeTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id uuid.UUID, actor audit.Actor, reference string, staffID uuid.UUID) error {
	w, err := withdrawalTx(ctx, tx, `w.id = $1 FOR UPDATE OF w`, id)
	if err != nil || w.Status != StatusApproved {
		return err
	}
	if reference != "" {
		if _, err := tx.Exec(ctx, `UPDATE withdrawal_legs SET status = 'paid', reference = $2 WHERE withdrawal_id = $1
				AND status IN ('planned', 'sent')`, id, reference); err != nil {
			return err
		}
		if err := recordDecision(ctx, tx, id, staffID, MarkedPaid, "Paid by bank, reference "+reference); err != nil {
			return err
		}
		if w, err = withdrawalTx(ctx, tx, `w.id = $1`, id); err != nil {
			return err
		}
	}
	for _, l := range w.Legs {
		if l.Status != "paid" {
			return nil // waiting for finance's bank payout
		}
	}
	post, err := s.o.Ledger.PostHoldTx(ctx, tx, "withdrawal:"+id.String()+":post", w.HoldTx, w.Amount.Minor, "Withdrawal "+w.Amount.String()+" paid")
	if err != nil {
		return fmt.Errorf("withdrawals: post the hold of %s: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE withdrawals SET status = 'paid', paid_amount = amount, resolve_tx = $2, finished_at = now(), updated_at = now()
			WHERE id = $1`, id, post.ID); err != nil {
		return err
	}
	out, err := withdrawalTx(ctx, tx, `w.id = $1`, id)
	if err != nil {
		return err
	}
	if err := s.o.Events.Publish(ctx, tx, t, Ended{WithdrawalID: id, ClientID: w.ClientID, Status: StatusPaid}); err != nil {
		return err
	}
	if err := s.tellClient(ctx, tx, t, out, "paid", payoutWords(out)); err != nil {
		return err
	}
	after := view(out)
	after["reference"] = reference
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionPaid, Target: audit.Target{Type: target, ID: id.String()},
		Before: map[string]any{"status": StatusApproved}, After: after})
}

// payoutWords says where the money went, for the client.
func payoutWords(w Withdrawal) string {
	var parts []string
	for _, l := range w.Legs {
		switch l.Kind {
		case LegCardRefund:
			parts = append(parts, l.Amount.String()+" back to your card (it may take 5 to 10 days to show)")
		case LegBank:
			parts = append(parts, l.Amount.String()+" by bank transfer")
		default:
			parts = append(parts, l.Amount.String()+" through "+l.GatewaySlug)
		}
	}
	return strings.Join(parts, "; ") + "."
}

// MarkPaid is finance's record of the legs paid by hand (the bank transfer), with the bank's reference: once every
// leg is paid the hold is posted in full.
func (s *Service) MarkPaid(ctx context.Context, t tenants.Tenant, actor audit.Actor, staffID, id uuid.UUID, reference string) (Withdrawal, error) {
	w, err := s.Get(ctx, t, id, uuid.Nil)
	if err != nil {
		return w, err
	}
	if staffID == uuid.Nil {
		return Withdrawal{}, ErrPersonRequired
	}
	var f validation.Fields
	f.Required("reference", reference)
	f.SingleLine("reference", reference, 100)
	if err := f.Err(); err != nil {
		return Withdrawal{}, err
	}
	manual := false
	for _, l := range w.Legs {
		manual = manual || (l.Kind != LegCardRefund && (l.Status == "planned" || l.Status == "sent")) ||
			(l.Status == "planned" && w.Failure != "") // a card refund whose outcome is unknown, found paid at the processor
	}
	if w.Status != StatusApproved || !manual {
		return w, ErrNotPending
	}
	if err := s.completeIfPaid(ctx, t, id, actor, strings.TrimSpace(reference), staffID); err != nil {
		return w, err
	}
	return s.Get(ctx, t, id, uuid.Nil)
}

// MarkFailed is finance's record that an approved withdrawal's payout failed (the bank returned it): what its paid
// legs paid is posted, the rest released, and the client told why.
func (s *Service) MarkFailed(ctx context.Context, t tenants.Tenant, actor audit.Actor, staffID, id uuid.UUID, reason string) (Withdrawal, error) {
	var out Withdrawal
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		w, err := decideTx(ctx, tx, id, staffID, reason)
		if err != nil {
			return err
		}
		if w.Status != StatusApproved {
			return ErrNotPending
		}
		if err := recordDecision(ctx, tx, id, staffID, MarkedFailed, reason); err != nil {
			return err
		}
		out, err = s.failTx(ctx, tx, t, w, reason, actor, ActionFailed)
		return err
	})
	return out, err
}

// fail fails an approved withdrawal whose payout did not go through (the worker's).
func (s *Service) fail(ctx context.Context, t tenants.Tenant, w Withdrawal, reason string, actor audit.Actor, action string) error {
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		cur, err := withdrawalTx(ctx, tx, `w.id = $1 FOR UPDATE OF w`, w.ID)
		if err != nil || cur.Status != StatusApproved {
			return err
		}
		_, err = s.failTx(ctx, tx, t, cur, reason, actor, action)
		return err
	})
	if err == nil {
		s.o.Log.WarnContext(tenants.WithTenant(ctx, t), "withdrawal payout failed", "withdrawal", w.ID, "reason", reason)
	}
	return err
}

// failTx ends an approved withdrawal as failed: the paid legs' sum posted from the hold (the rest released), or the
// hold voided when nothing was paid.
func (s *Service) failTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, w Withdrawal, reason string, actor audit.Actor, action string) (Withdrawal, error) {
	if w.PaidAmount == 0 {
		return s.endTx(ctx, tx, t, w, StatusFailed, reason, actor, action)
	}
	post, err := s.o.Ledger.PostHoldTx(ctx, tx, "withdrawal:"+w.ID.String()+":post", w.HoldTx, w.PaidAmount,
		"Withdrawal "+w.Amount.String()+" paid in part")
	if err != nil {
		return w, fmt.Errorf("withdrawals: post the paid part of %s: %w", w.ID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE withdrawals SET status = 'failed', failure = $2, resolve_tx = $3, finished_at = now(), updated_at = now()
		WHERE id = $1`, w.ID, reason, post.ID); err != nil {
		return w, err
	}
	if _, err := tx.Exec(ctx, `UPDATE withdrawal_legs SET status = 'failed' WHERE withdrawal_id = $1 AND status IN ('planned', 'sent')`, w.ID); err != nil {
		return w, err
	}
	out, err := withdrawalTx(ctx, tx, `w.id = $1`, w.ID)
	if err != nil {
		return w, err
	}
	if err := s.o.Events.Publish(ctx, tx, t, Ended{WithdrawalID: w.ID, ClientID: w.ClientID, Status: StatusFailed, Reason: reason}); err != nil {
		return out, err
	}
	paid := money.Amount{Minor: w.PaidAmount, Currency: w.Amount.Currency}
	if err := s.tellClient(ctx, tx, t, out, "paid in part", fmt.Sprintf("%s was paid; the rest could not be: %s. It is back in your wallet.",
		paid, reason)); err != nil {
		return out, err
	}
	after := view(out)
	after["reason"], after["paid"] = reason, paid.Decimal()
	return out, s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: action, Target: audit.Target{Type: target, ID: w.ID.String()},
		Before: map[string]any{"status": w.Status}, After: after})
}

// Expire expires t's withdrawals still waiting for a decision past their time: each hold voided, the client told.
func (s *Service) Expire(ctx context.Context, t tenants.Tenant) (int, error) {
	n := 0
	for {
		var ids []uuid.UUID
		err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT id FROM withdrawals WHERE status = 'pending' AND expires_at < $1 ORDER BY expires_at LIMIT 100`, s.o.Now())
			if err != nil {
				return err
			}
			ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			return err
		})
		if err != nil || len(ids) == 0 {
			return n, err
		}
		for _, id := range ids {
			err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
				w, err := withdrawalTx(ctx, tx, `w.id = $1 AND w.status = 'pending' FOR UPDATE OF w`, id)
				if errors.Is(err, ErrNotFound) {
					return nil
				}
				if err != nil {
					return err
				}
				_, err = s.endTx(ctx, tx, t, w, StatusExpired, "nobody decided it in time", systemActor, ActionExpired)
				return err
			})
			if err != nil {
				return n, err
			}
			n++
		}
	}
}

// tellClient queues the client's email about their withdrawal's step, once per withdrawal and step.
func (s *Service) tellClient(ctx context.Context, tx pgx.Tx, t tenants.Tenant, w Withdrawal, step, message string) error {
	if s.o.Emails == nil {
		return nil
	}
	c, err := s.o.Clients.GetTx(ctx, tx, w.ClientID)
	if err != nil {
		return err
	}
	if c.ErasedAt != nil || c.Email == "" {
		return nil
	}
	return s.o.Emails.Queue(ctx, tx, t, "withdrawal:"+w.ID.String()+":"+strings.ReplaceAll(step, " ", "_"), emails.Email{
		Template: emails.TemplateWithdrawalUpdate, To: c.Email, Data: map[string]any{"FirstName": c.FirstName, "Amount": w.Amount.String(),
			"Step": step, "Message": message, "WalletURL": "/portal/wallet"}})
}
