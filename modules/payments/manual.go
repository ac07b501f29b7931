package payments

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// ManualDeposit is a deposit finance records by hand: a bank wire that reached the brokerage's account.
type ManualDeposit struct {
	ClientID uuid.UUID
	// Gateway is the slug of a manual gateway (the bank account the money reached).
	Gateway       string
	Amount        string
	Currency      string
	BankReference string
	// Evidence is the bank statement or advice (optional): stored with the deposit, shown to the second approver.
	Evidence *Evidence
}

// ErrSameApprover: the second approval of a manual deposit must come from another finance user.
var ErrSameApprover = errors.New("payments: the second approval must come from another person")

// RecordManual records a manual deposit by finance user by. Below the tenant's four-eyes threshold for its
// currency it is credited at once (from the manual gateway's clearing account: the bank account); at or above, it
// waits for a second, different finance user (Approve). The client's policy gate must allow deposits.
//
// Its evidence, when given, is checked with the fields (every bad field is named at once, and nothing is stored
// for a refused form), then stored, then the deposit is recorded in one transaction; if that transaction fails
// (the client may not deposit, the gateway does not take the currency, the database), the stored file is deleted.
func (s *Service) RecordManual(ctx context.Context, t tenants.Tenant, by uuid.UUID, in ManualDeposit) (Deposit, error) {
	if by == uuid.Nil {
		return Deposit{}, ErrPersonRequired
	}
	var f validation.Fields
	f.Check(in.ClientID != uuid.Nil, "client_id", "choose the client")
	f.Required("gateway", in.Gateway)
	f.Required("bank_reference", in.BankReference)
	f.MaxLen("bank_reference", in.BankReference, 140)
	amount, _ := parseAmount(in.Amount, in.Currency, &f)
	var ct string
	if in.Evidence != nil {
		var err error
		if ct, err = EvidenceType(in.Evidence.Content, in.Evidence.Size); err != nil {
			if f.Len() == 0 {
				return Deposit{}, err // the file alone is wrong: its own problem (too large, not a PDF...)
			}
			f.Add("evidence", evidenceMessage(err))
		}
	}
	if err := f.Err(); err != nil {
		return Deposit{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Deposit{}, err
	}
	var ev storedEvidence
	if in.Evidence != nil {
		if ev, err = s.putEvidence(ctx, t, in.ClientID, id, in.Evidence, ct); err != nil {
			return Deposit{}, err
		}
	}
	d, err := s.recordManual(ctx, t, by, id, in, amount, ev)
	if err != nil && ev.key != "" {
		s.discardUnrecorded(ctx, t, id, ev.key)
	}
	return d, err
}

// recordManual is RecordManual's transaction: the deposit id, its checked amount and its stored evidence.
func (s *Service) recordManual(ctx context.Context, t tenants.Tenant, by, id uuid.UUID, in ManualDeposit, amount money.Amount, ev storedEvidence) (Deposit, error) {
	actor := audit.Actor{Kind: audit.ActorStaff, ID: by.String()}
	var d Deposit
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		g, _, err := s.gatewayTx(ctx, tx, `slug = $1`, in.Gateway, false)
		if errors.Is(err, ErrNotFound) || (err == nil && g.Kind != KindManual) {
			return validation.New("gateway", "not a manual deposit method")
		}
		if err != nil {
			return err
		}
		if !g.Takes(amount.Currency.Code) {
			return validation.New("currency", g.Name+" does not take "+amount.Currency.Code)
		}
		if _, err := s.o.Clients.GetTx(ctx, tx, in.ClientID); errors.Is(err, clients.ErrNotFound) {
			return validation.New("client_id", "no such client")
		} else if err != nil {
			return err
		}
		dec, err := s.o.Clients.MayTx(ctx, tx, in.ClientID, clients.ActionDeposit)
		if err != nil {
			return err
		}
		if !dec.Allowed {
			return fmt.Errorf("%w: %s", ErrNotAllowed, dec.Reason)
		}
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		threshold, four := st.ManualApproval[amount.Currency.Code]
		status := StatusProcessing
		if four && amount.Minor >= threshold {
			status = StatusAwaitingApproval
		}
		if _, err := tx.Exec(ctx, `INSERT INTO deposits (id, client_id, gateway_id, amount, currency, exponent, status, bank_reference,
			evidence_key, evidence_name, evidence_type, evidence_size, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			id, in.ClientID, g.ID, amount.Minor, amount.Currency.Code, amount.Currency.Exponent, string(status), strings.TrimSpace(in.BankReference),
			ev.key, ev.name, ev.contentType, ev.size, string(actor.Kind)+":"+actor.ID); err != nil {
			return fmt.Errorf("payments: record manual deposit: %w", err)
		}
		after := map[string]any{"client_id": in.ClientID, "gateway": g.Slug, "amount": amount.Decimal(), "currency": amount.Currency.Code,
			"bank_reference": in.BankReference, "needs_second_approval": status == StatusAwaitingApproval}
		if ev.key != "" { // what the file is, never what it says
			after["evidence_name"], after["evidence_type"], after["evidence_size"] = ev.name, ev.contentType, ev.size
		}
		if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionDepositRecorded, Target: depositTarget(id),
			After: after}); err != nil {
			return err
		}
		if d, err = depositTx(ctx, tx, `d.id = $1`, id); err != nil {
			return err
		}
		if status == StatusAwaitingApproval {
			return nil
		}
		if err := s.completeTx(ctx, tx, t, d, g, ledger.Clearing(g.Slug, amount.Currency), map[string]any{
			"bank_reference": in.BankReference, "recorded_by": by}, actor); err != nil {
			return err
		}
		d, err = depositTx(ctx, tx, `d.id = $1`, id)
		return err
	})
	return d, err
}

// Approve gives a manual deposit waiting for it its second approval (by a finance user other than the one who
// recorded it) and credits it.
func (s *Service) Approve(ctx context.Context, t tenants.Tenant, id, by uuid.UUID) (Deposit, error) {
	if by == uuid.Nil {
		return Deposit{}, ErrPersonRequired
	}
	actor := audit.Actor{Kind: audit.ActorStaff, ID: by.String()}
	var d Deposit
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if d, err = awaitingTx(ctx, tx, id); err != nil {
			return err
		}
		if d.CreatedBy == string(actor.Kind)+":"+actor.ID {
			return ErrSameApprover
		}
		dec, err := s.o.Clients.MayTx(ctx, tx, d.ClientID, clients.ActionDeposit)
		if err != nil {
			return err
		}
		if !dec.Allowed {
			return fmt.Errorf("%w: %s", ErrNotAllowed, dec.Reason)
		}
		if _, err := tx.Exec(ctx, `UPDATE deposits SET approved_by = $2 WHERE id = $1`, id, by); err != nil {
			return err
		}
		if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionDepositApproved, Target: depositTarget(id),
			Before: map[string]any{"status": d.Status}, After: map[string]any{"approved_by": by}}); err != nil {
			return err
		}
		g, _, err := s.gatewayTx(ctx, tx, `id = $1`, d.GatewayID, false)
		if err != nil {
			return err
		}
		if err := s.completeTx(ctx, tx, t, d, g, ledger.Clearing(g.Slug, d.Amount.Currency), map[string]any{
			"bank_reference": d.BankReference, "approved_by": by}, actor); err != nil {
			return err
		}
		d, err = depositTx(ctx, tx, `d.id = $1`, id)
		return err
	})
	return d, err
}

// awaitingTx locks a manual deposit waiting for its second approval.
func awaitingTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Deposit, error) {
	d, err := depositTx(ctx, tx, `d.id = $1 FOR UPDATE OF d`, id)
	if err == nil && d.Status != StatusAwaitingApproval {
		err = validation.New("status", "this deposit is "+d.Status.Label()+", not waiting for an approval")
	}
	return d, err
}

// Reject cancels a manual deposit waiting for its second approval, with a reason.
func (s *Service) Reject(ctx context.Context, t tenants.Tenant, id, by uuid.UUID, reason string) (Deposit, error) {
	if by == uuid.Nil {
		return Deposit{}, ErrPersonRequired
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return Deposit{}, validation.New("reason", "say why, in at most 500 characters")
	}
	actor := audit.Actor{Kind: audit.ActorStaff, ID: by.String()}
	var d Deposit
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if d, err = awaitingTx(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE deposits SET status = 'cancelled', failure = $2, updated_at = now() WHERE id = $1`,
			id, "Rejected by the second approver: "+reason); err != nil {
			return err
		}
		if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionDepositRejected, Target: depositTarget(id),
			Before: map[string]any{"status": d.Status}, After: map[string]any{"status": StatusCancelled, "reason": reason}}); err != nil {
			return err
		}
		d, err = depositTx(ctx, tx, `d.id = $1`, id)
		return err
	})
	return d, err
}
