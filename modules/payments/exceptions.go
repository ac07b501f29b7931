package payments

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// CaseKind is why a case was opened.
type CaseKind string

const (
	CaseUnknownReference    CaseKind = "unknown_reference"     // money arrived for no known deposit
	CaseAmountMismatch      CaseKind = "amount_mismatch"       // another amount than the deposit asked for
	CaseCurrencyMismatch    CaseKind = "currency_mismatch"     // another currency than the deposit asked for
	CaseClientRefused       CaseKind = "client_refused"        // the policy gate refuses the client a deposit now
	CaseLatePayment         CaseKind = "late_payment"          // money arrived after the deposit failed or was cancelled
	CaseDuplicateConflict   CaseKind = "duplicate_conflict"    // one processor event id, two different contents
	CaseConflictingStatus   CaseKind = "conflicting_status"    // a failure reported for a credited deposit
	CaseRefundedAtProcessor CaseKind = "refunded_at_processor" // the processor refunded a credited deposit
	CaseUnreadable          CaseKind = "unreadable_callback"   // an authentic callback that could not be read
	CaseLedgerVerifyFailed  CaseKind = "ledger_verify_failed"  // the nightly ledger verification found a discrepancy
)

// Label is the kind in words.
func (k CaseKind) Label() string {
	switch k {
	case CaseUnknownReference:
		return "Unknown reference"
	case CaseAmountMismatch:
		return "Amount differs"
	case CaseCurrencyMismatch:
		return "Currency differs"
	case CaseClientRefused:
		return "Client may not deposit"
	case CaseLatePayment:
		return "Payment after failure"
	case CaseDuplicateConflict:
		return "Conflicting duplicate"
	case CaseConflictingStatus:
		return "Conflicting status"
	case CaseRefundedAtProcessor:
		return "Refunded at the processor"
	case CaseUnreadable:
		return "Unreadable callback"
	case CaseLedgerVerifyFailed:
		return "Ledger verification failed"
	}
	return string(k)
}

// Resolution is how a case was closed.
type Resolution string

const (
	ResolvedMatched    Resolution = "matched"     // the money was credited to a client from suspense
	ResolvedRefunded   Resolution = "refunded"    // the money went back to the payer
	ResolvedWrittenOff Resolution = "written_off" // the money was written off, with a reason
	ResolvedDismissed  Resolution = "dismissed"   // a case without money, closed with a note
)

// Case is one case of the exceptions queue.
type Case struct {
	ID             uuid.UUID
	Kind           CaseKind
	Open           bool
	GatewayID      *uuid.UUID
	CallbackID     *uuid.UUID
	DepositID      *uuid.UUID
	ClientID       *uuid.UUID
	Amount         *money.Amount // money waiting in suspense for this case
	Reason         string
	AssigneeID     *uuid.UUID
	OpenedAt       time.Time
	DueAt          time.Time
	ResolvedAt     *time.Time
	ResolvedBy     *uuid.UUID
	Resolution     Resolution
	ResolutionNote string
	LedgerTx       *uuid.UUID
	// RefundStartedAt is when a refund of the case's money was asked of its processor (Resolve); until the case is
	// resolved it cannot be matched to a client.
	RefundStartedAt *time.Time
}

// Overdue reports whether an open case is past its due time at now.
func (c Case) Overdue(now time.Time) bool { return c.Open && now.After(c.DueAt) }

// exceptionSpec is a case to open.
type exceptionSpec struct {
	Kind     CaseKind
	Gateway  uuid.UUID
	Callback *uuid.UUID
	Deposit  *uuid.UUID
	Client   *uuid.UUID
	Amount   *money.Amount
	LedgerTx *uuid.UUID
	Reason   string
	Dedupe   string
}

// openExceptionTx opens a case once per Dedupe key, assigned round-robin to the brokerage's active finance staff
// (nobody when it has none: the queue shows it unassigned), due after the tenant's SLA, audited.
func (s *Service) openExceptionTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e exceptionSpec) error {
	st, err := settingsTx(ctx, tx)
	if err != nil {
		return err
	}
	var last *uuid.UUID
	if err := tx.QueryRow(ctx, `SELECT last_assignee FROM payment_exception_rotation FOR UPDATE`).Scan(&last); err != nil {
		return fmt.Errorf("payments: exception rotation: %w", err)
	}
	var assignee *uuid.UUID
	next, ok, err := staff.NextWithRole(ctx, tx, staff.RoleFinance, last)
	if err != nil {
		return err
	}
	if ok {
		assignee = &next
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	var gateway *uuid.UUID
	if e.Gateway != uuid.Nil {
		gateway = &e.Gateway
	}
	var amount *int64
	currency := ""
	if e.Amount != nil {
		amount, currency = &e.Amount.Minor, e.Amount.Currency.Code
	}
	now := s.o.Now()
	tag, err := tx.Exec(ctx, `INSERT INTO payment_exceptions (id, kind, status, gateway_id, callback_id, deposit_id, client_id, amount,
		currency, reason, dedupe_key, assignee_id, opened_at, due_at, ledger_tx)
		VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (dedupe_key) DO NOTHING`,
		id, string(e.Kind), gateway, e.Callback, e.Deposit, e.Client, amount, currency, cut(e.Reason, 2000), e.Dedupe, assignee, now,
		now.Add(time.Duration(st.ExceptionSLAHours)*time.Hour), e.LedgerTx)
	if err != nil {
		return fmt.Errorf("payments: open exception: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil // the same cause already has its case
	}
	if assignee != nil {
		if _, err := tx.Exec(ctx, `UPDATE payment_exception_rotation SET last_assignee = $1`, *assignee); err != nil {
			return err
		}
	}
	after := map[string]any{"kind": e.Kind, "reason": e.Reason, "assignee_id": assignee}
	if e.Amount != nil {
		after["amount"], after["currency"] = e.Amount.Decimal(), e.Amount.Currency.Code
	}
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionExceptionOpened, Target: caseTarget(id), After: after})
}

func caseTarget(id uuid.UUID) audit.Target {
	return audit.Target{Type: caseTargetType, ID: id.String()}
}

const caseColumns = `id, kind, status = 'open', gateway_id, callback_id, deposit_id, client_id, amount, currency, reason, assignee_id,
	opened_at, due_at, resolved_at, resolved_by, coalesce(resolution, ''), resolution_note, ledger_tx, refund_started_at`

func scanCase(row pgx.Row) (Case, error) {
	var c Case
	var kind, cur, resolution string
	var amount *int64
	err := row.Scan(&c.ID, &kind, &c.Open, &c.GatewayID, &c.CallbackID, &c.DepositID, &c.ClientID, &amount, &cur, &c.Reason,
		&c.AssigneeID, &c.OpenedAt, &c.DueAt, &c.ResolvedAt, &c.ResolvedBy, &resolution, &c.ResolutionNote, &c.LedgerTx, &c.RefundStartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, err
	}
	c.Kind, c.Resolution = CaseKind(kind), Resolution(resolution)
	if amount != nil {
		currency, ok := money.Lookup(cur)
		if !ok {
			return c, fmt.Errorf("payments: case %s holds an unknown currency %q", c.ID, cur)
		}
		c.Amount = &money.Amount{Minor: *amount, Currency: currency}
	}
	return c, nil
}

// CaseFilter narrows Cases.
type CaseFilter struct {
	Open     *bool
	Assignee uuid.UUID
	Kind     CaseKind
}

// Cases lists t's cases: open ones oldest-due first (overdue at the top), resolved ones newest first; at most limit.
func (s *Service) Cases(ctx context.Context, t tenants.Tenant, f CaseFilter, limit int) ([]Case, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	order := "due_at, id"
	if f.Open != nil {
		if *f.Open {
			where = append(where, "status = 'open'")
		} else {
			where = append(where, "status = 'resolved'")
			order = "resolved_at DESC, id"
		}
	}
	if f.Assignee != uuid.Nil {
		where = append(where, "assignee_id = "+arg(f.Assignee))
	}
	if f.Kind != "" {
		where = append(where, "kind = "+arg(string(f.Kind)))
	}
	q := `SELECT ` + caseColumns + ` FROM payment_exceptions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY ` + order + ` LIMIT ` + arg(limit)
	return readAll(ctx, s.o.Gate, t, scanCase, q, args...)
}

// Case reads one case.
func (s *Service) Case(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Case, error) {
	var c Case
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		c, err = scanCase(tx.QueryRow(ctx, `SELECT `+caseColumns+` FROM payment_exceptions WHERE id = $1`, id))
		return err
	})
	return c, err
}

// ErrCaseClosed: the case was already resolved.
var ErrCaseClosed = errors.New("payments: the case is already resolved")

// ErrNoMoney: the resolution moves money but the case holds none (dismiss it instead), or the other way round.
var ErrNoMoney = errors.New("payments: the case holds no money")

// Resolve closes a case. Every resolution is audited; those that move money are one ledger transaction with the
// case's change:
//
//   - matched: the money in suspense is credited to client (whose policy gate must allow deposits now) as a
//     completed deposit of the case's gateway, which publishes deposit.completed like any other;
//   - refunded: the money goes back to the payer through the gateway (a Stripe refund through its API; processors
//     refunded by hand need the reference of the refund made there), and leaves suspense for the clearing account;
//   - written_off: the money leaves suspense for the write-off account;
//   - dismissed: a case without money, closed with a note.
//
// note is required (at most 1000 characters): it is what an auditor reads.
func (s *Service) Resolve(ctx context.Context, t tenants.Tenant, id uuid.UUID, by uuid.UUID, r Resolution, client uuid.UUID, note string) (Case, error) {
	if by == uuid.Nil {
		return Case{}, ErrPersonRequired
	}
	note = strings.TrimSpace(note)
	var f validation.Fields
	f.Required("note", note)
	f.MaxLen("note", note, 1000)
	switch r {
	case ResolvedMatched:
		f.Check(client != uuid.Nil, "client_id", "choose the client to credit")
	case ResolvedRefunded, ResolvedWrittenOff, ResolvedDismissed:
	default:
		f.Add("resolution", "one of matched, refunded, written_off, dismissed")
	}
	if err := f.Err(); err != nil {
		return Case{}, err
	}
	actor := audit.Actor{Kind: audit.ActorStaff, ID: by.String()}
	var refunded Refunded
	if r == ResolvedRefunded {
		// The case is claimed for the refund (committed) before the processor is asked, so no one can credit the
		// money to a client meanwhile; then the processor, with an idempotency key: a resolution retried after a
		// failure below finds the same refund, and the ledger records it once. A refund refused before the processor
		// was asked releases the claim; once the processor was asked, its answer may have been lost, and the claim
		// stays (the case can still be refunded again or written off, not matched).
		if err := s.claimRefund(ctx, t, id, true); err != nil {
			return Case{}, err
		}
		var err error
		if refunded, err = s.refund(ctx, t, id, note); err != nil {
			if !errors.Is(err, ErrProcessor) {
				err = errors.Join(err, s.claimRefund(context.WithoutCancel(ctx), t, id, false))
			}
			return Case{}, err
		}
	}
	var out Case
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		c, err := scanCase(tx.QueryRow(ctx, `SELECT `+caseColumns+` FROM payment_exceptions WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if !c.Open {
			return ErrCaseClosed
		}
		if c.RefundStartedAt != nil && r == ResolvedMatched {
			return validation.New("resolution", "a refund of this case was asked of the processor at "+
				c.RefundStartedAt.UTC().Format("2006-01-02 15:04 UTC")+": refund it again (the processor returns the same refund) or write it off")
		}
		if (r == ResolvedDismissed) != (c.Amount == nil) {
			if c.Amount == nil {
				return ErrNoMoney
			}
			return validation.New("resolution", "this case holds "+c.Amount.String()+" in suspense: match, refund or write it off")
		}
		var txID *uuid.UUID
		switch r {
		case ResolvedMatched:
			txID, err = s.matchCaseTx(ctx, tx, t, c, client, actor)
		case ResolvedRefunded:
			g, _, gerr := s.gatewayTx(ctx, tx, `id = $1`, *c.GatewayID, false)
			if gerr != nil {
				return gerr
			}
			if refunded.ExternalID != "" {
				note += " (refund " + refunded.ExternalID + ", " + refunded.Status + ")"
			}
			txID, err = s.moveFromSuspenseTx(ctx, tx, c, "refunded", ledger.Clearing(g.Slug, c.Amount.Currency), note)
		case ResolvedWrittenOff:
			txID, err = s.moveFromSuspenseTx(ctx, tx, c, "written_off", ledger.WriteOff(c.Amount.Currency), note)
		}
		if err != nil {
			return err
		}
		if txID == nil {
			txID = c.LedgerTx
		}
		if _, err := tx.Exec(ctx, `UPDATE payment_exceptions SET status = 'resolved', resolved_at = now(), resolved_by = $2,
			resolution = $3, resolution_note = $4, ledger_tx = $5 WHERE id = $1`, id, by, string(r), note, txID); err != nil {
			return err
		}
		if out, err = scanCase(tx.QueryRow(ctx, `SELECT `+caseColumns+` FROM payment_exceptions WHERE id = $1`, id)); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionExceptionResolved, Target: caseTarget(id),
			Before: map[string]any{"status": "open"}, After: map[string]any{"status": "resolved", "resolution": r, "note": note,
				"client_id": nilIfZero(client)}})
	})
	if err != nil {
		return Case{}, err
	}
	return out, nil
}

// claimRefund marks an open case as being refunded at its processor (on) or releases that mark (off), in a
// transaction of its own that commits before the processor is asked.
func (s *Service) claimRefund(ctx context.Context, t tenants.Tenant, id uuid.UUID, on bool) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if !on {
			_, err := tx.Exec(ctx, `UPDATE payment_exceptions SET refund_started_at = NULL WHERE id = $1 AND status = 'open'`, id)
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE payment_exceptions SET refund_started_at = coalesce(refund_started_at, now())
			WHERE id = $1 AND status = 'open'`, id)
		if err == nil && tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payment_exceptions WHERE id = $1)`, id).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return ErrNotFound
			}
			return ErrCaseClosed
		}
		return err
	})
}

// errRefund marks a processor's failure to refund, for its own message.
var errRefund = errors.New("refund")

// refund asks the case's gateway to return the case's money to the payer. A gateway whose refunds are made by hand
// (ErrRefundUnsupported) records nothing at the processor: the note must say the refund's reference there.
func (s *Service) refund(ctx context.Context, t tenants.Tenant, id uuid.UUID, note string) (Refunded, error) {
	var c Case
	var g Gateway
	var sealed, external string
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if c, err = scanCase(tx.QueryRow(ctx, `SELECT `+caseColumns+` FROM payment_exceptions WHERE id = $1`, id)); err != nil {
			return err
		}
		if !c.Open {
			return ErrCaseClosed
		}
		if c.Amount == nil {
			return ErrNoMoney
		}
		if c.GatewayID == nil || c.CallbackID == nil {
			return validation.New("resolution", "this case's money did not come through a gateway callback: write it off or match it")
		}
		if g, sealed, err = s.gatewayTx(ctx, tx, `id = $1`, *c.GatewayID, true); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT external_id FROM payment_callbacks WHERE id = $1`, *c.CallbackID).Scan(&external)
	})
	if err != nil {
		return Refunded{}, err
	}
	a, err := s.adapterFor(t, g, sealed)
	if err != nil {
		return Refunded{}, err
	}
	out, err := a.Refund(ctx, RefundRequest{ExternalID: external, Amount: *c.Amount, IdempotencyKey: "case:" + id.String() + ":refund",
		Reason: cut(note, 200)})
	if errors.Is(err, ErrRefundUnsupported) {
		return Refunded{}, nil
	}
	if _, invalid := validation.As(err); invalid {
		return Refunded{}, err // refused before the processor was asked (no PaymentIntent to refund, say)
	}
	if err != nil {
		return Refunded{}, fmt.Errorf("%w: %w: %v", ErrProcessor, errRefund, err)
	}
	return out, nil
}

func nilIfZero(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

// matchCaseTx credits the case's money to client as a completed deposit of the case's gateway.
func (s *Service) matchCaseTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, c Case, client uuid.UUID, actor audit.Actor) (*uuid.UUID, error) {
	if c.GatewayID == nil {
		return nil, validation.New("resolution", "this case has no gateway to credit a deposit through")
	}
	if _, err := s.o.Clients.GetTx(ctx, tx, client); errors.Is(err, clients.ErrNotFound) {
		return nil, validation.New("client_id", "no such client")
	} else if err != nil {
		return nil, err
	}
	dec, err := s.o.Clients.MayTx(ctx, tx, client, clients.ActionDeposit)
	if err != nil {
		return nil, err
	}
	if !dec.Allowed {
		return nil, validation.New("client_id", "this client may not deposit now: "+dec.Reason)
	}
	g, _, err := s.gatewayTx(ctx, tx, `id = $1`, *c.GatewayID, false)
	if err != nil {
		return nil, err
	}
	// The case's own deposit when it is the same client's and still open; else a deposit recorded for the match.
	var d Deposit
	if c.DepositID != nil {
		d, err = depositTx(ctx, tx, `d.id = $1 FOR UPDATE OF d`, *c.DepositID)
		if err != nil {
			return nil, err
		}
	}
	if c.DepositID == nil || d.ClientID != client || d.Status == StatusCompleted || d.Amount != *c.Amount {
		if c.DepositID != nil && d.Status != StatusCompleted && d.ClientID == client {
			if err := s.failTx(ctx, tx, d, "Credited through exception case "+c.ID.String()+" for the amount that arrived."); err != nil {
				return nil, err
			}
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO deposits (id, client_id, gateway_id, amount, currency, exponent, status, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, 'processing', $7)`, id, client, g.ID, c.Amount.Minor, c.Amount.Currency.Code,
			c.Amount.Currency.Exponent, string(actor.Kind)+":"+actor.ID); err != nil {
			return nil, err
		}
		if d, err = depositTx(ctx, tx, `d.id = $1`, id); err != nil {
			return nil, err
		}
	}
	if err := s.completeTx(ctx, tx, t, d, g, ledger.Suspense(c.Amount.Currency), map[string]any{"case": c.ID}, actor); err != nil {
		return nil, err
	}
	d, err = depositTx(ctx, tx, `d.id = $1`, d.ID)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE payment_exceptions SET deposit_id = $2, client_id = $3 WHERE id = $1`, c.ID, d.ID, client); err != nil {
		return nil, err
	}
	return d.LedgerTx, nil
}

// moveFromSuspenseTx moves the case's money out of suspense to account to.
func (s *Service) moveFromSuspenseTx(ctx context.Context, tx pgx.Tx, c Case, why string, to ledger.AccountSpec, note string) (*uuid.UUID, error) {
	tr, err := s.o.Ledger.PostTx(ctx, tx, ledger.Entry{Key: "case:" + c.ID.String() + ":" + why, Kind: "suspense_" + why,
		Description: "Exception case " + why + ": " + cut(note, 200), Metadata: map[string]any{"case": c.ID},
		Postings: []ledger.Posting{{Account: ledger.Suspense(c.Amount.Currency), Amount: -c.Amount.Minor}, {Account: to, Amount: c.Amount.Minor}}})
	if err != nil {
		return nil, err
	}
	return &tr.ID, nil
}
