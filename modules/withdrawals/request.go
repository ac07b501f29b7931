package withdrawals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Withdrawal is one withdrawal's record.
type Withdrawal struct {
	ID          uuid.UUID
	ClientID    uuid.UUID
	ClientName  string
	Amount      money.Amount
	Status      Status
	Method      string
	Destination string
	HoldTx      uuid.UUID
	ResolveTx   *uuid.UUID
	Flagged     bool
	Blocked     bool
	NeedsSecond bool
	Reason      string
	Failure     string
	ExpiresAt   time.Time
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  *time.Time
	PaidAmount  int64
	Checks      []Check
	Legs        []Leg
	Decisions   []Decision
}

// Outcome is where the withdrawal is, in words for the client.
func (w Withdrawal) Outcome() string {
	amt := w.Amount.String()
	switch w.Status {
	case StatusPending:
		return amt + " is reserved in your wallet while our finance team reviews the withdrawal. You can cancel it until it is approved."
	case StatusApproved:
		return "The withdrawal of " + amt + " is approved and being paid."
	case StatusPaid:
		return "The withdrawal of " + amt + " is paid."
	case StatusCancelled:
		return "You cancelled the withdrawal of " + amt + "; the money is back in your wallet."
	case StatusRejected:
		return "The withdrawal of " + amt + " was refused: " + w.Reason + " The money is back in your wallet."
	case StatusFailed:
		return "The payout of " + amt + " failed: " + w.Failure + " The money is back in your wallet."
	case StatusExpired:
		return "The withdrawal of " + amt + " expired undecided; the money is back in your wallet."
	}
	return string(w.Status)
}

// Input is a client's withdrawal: the amount as a decimal string in currency, where the rest goes once card
// payments are refunded (Method: bank or a gateway's slug the tenant allows; Destination: the client's account
// there), and Code: a current authenticator code when the client has two-factor sign-in on.
type Input struct {
	Amount      string
	Currency    string
	Method      string
	Destination string
	Code        string
	// ForfeitBonuses confirms giving up what the withdrawal forfeits of the client's open bonuses (Preview shows
	// it): without it a withdrawal that would forfeit anything is refused, naming forfeit_bonuses.
	ForfeitBonuses bool
}

// Request records a client's withdrawal: the code is confirmed first (a client with two-factor sign-in gives a
// current one; portalUser is their login, uuid.Nil when the service is called without one), then, in one
// transaction, the policy gate, the tier's limits, what it forfeits of open bonuses (refused unless in confirms it),
// the hold, the row, the checks and legs, the events and the audit.
func (s *Service) Request(ctx context.Context, t tenants.Tenant, clientID, portalUser uuid.UUID, in Input) (Withdrawal, error) {
	var f validation.Fields
	in.Currency = strings.ToUpper(strings.TrimSpace(in.Currency))
	in.Method = strings.TrimSpace(in.Method)
	in.Destination = strings.TrimSpace(in.Destination)
	if in.Method == "" {
		in.Method = MethodBank
	}
	amt := parseAmount(&f, in.Amount, in.Currency)
	f.SingleLine("destination", in.Destination, 200)
	if err := f.Err(); err != nil {
		return Withdrawal{}, err
	}
	cur, minor := amt.Currency, amt.Minor
	if !in.ForfeitBonuses && s.o.Bonuses.Installed() {
		// Refused before the authenticator code is used up, so the client confirms with the same code.
		forfeits, err := s.forfeits(ctx, t, clientID, amt)
		if err != nil {
			return Withdrawal{}, err
		}
		// A wallet short of the amount is said first, by the hold below.
		if len(forfeits) > 0 && minor <= forfeits[0].Balance.Minor {
			return Withdrawal{}, forfeitRefusal(forfeits)
		}
	}
	if portalUser != uuid.Nil {
		err := s.o.Portal.ConfirmWithCode(ctx, t, identity.Portal, portalUser, strings.TrimSpace(in.Code), "a withdrawal of "+amt.String())
		if errors.Is(err, identity.ErrConfirmationCode) {
			return Withdrawal{}, validation.New("code", "the current 6-digit code of your authenticator app (two-factor sign-in is on)")
		}
		if err != nil {
			return Withdrawal{}, err
		}
	}
	var out Withdrawal
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		c, err := s.o.Clients.GetTx(ctx, tx, clientID)
		if errors.Is(err, clients.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		d, err := s.o.Clients.MayTx(ctx, tx, clientID, clients.ActionWithdraw)
		if err != nil {
			return err
		}
		if !d.Allowed {
			return fmt.Errorf("%w: %s", ErrNotAllowed, d.ForClient)
		}
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := CheckAmount(st, c.Tier, amt); err != nil {
			return validation.New("amount", err.Error())
		}
		if !slices.Contains(st.Methods, in.Method) {
			return validation.New("method", "one of "+strings.Join(st.Methods, ", "))
		}
		// Before the hold: a pro rata forfeiture is a share of the balance before the withdrawal, and the bonus
		// engine locks the bonuses before the wallet, the order its turnover release takes.
		forfeits, err := s.o.Bonuses.ForfeitsTx(ctx, tx, clientID, amt)
		if err != nil {
			return err
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		hold, err := s.o.Ledger.HoldTx(ctx, tx, ledger.Entry{Key: "withdrawal:" + id.String(), Kind: "withdrawal_hold",
			Description: "Withdrawal " + amt.String(), Metadata: map[string]any{"withdrawal": id},
			Postings: []ledger.Posting{{Account: ledger.ClientWallet(clientID, cur), Amount: -minor},
				{Account: ledger.WithdrawalsPayable(cur), Amount: minor}}})
		var short *ledger.InsufficientFundsError
		if errors.As(err, &short) {
			return validation.New("amount", fmt.Sprintf("your %s wallet has %s available", cur.Code, money.Amount{Minor: short.Available, Currency: cur}))
		}
		if err != nil {
			return err
		}
		if len(forfeits) > 0 && !in.ForfeitBonuses {
			return forfeitRefusal(forfeits) // the hold rolls back with the refusal
		}
		now := s.o.Now().UTC()
		inputs, err := s.inputsTx(ctx, tx, c, amt, in.Method, id, st, now)
		if err != nil {
			return err
		}
		inputs.Forfeits, inputs.ForfeitConfirmed = forfeits, in.ForfeitBonuses
		checks, legs := Evaluate(inputs)
		for _, l := range legs {
			if l.Kind != LegCardRefund && in.Destination == "" {
				return validation.New("destination", fmt.Sprintf("where %s not refunded to your card goes: your bank account (IBAN) or your account at %s",
					l.Amount, in.Method))
			}
		}
		flagged, blocked := false, false
		for _, ch := range checks {
			flagged = flagged || ch.Outcome == Review
			blocked = blocked || ch.Outcome == Block
		}
		second, hasSecond := st.SecondApproval[cur.Code]
		needsSecond := hasSecond && minor >= second
		actor := "client:" + clientID.String()
		if _, err := tx.Exec(ctx, `INSERT INTO withdrawals (id, client_id, amount, currency, exponent, status, method, destination, hold_tx,
			flagged, blocked, needs_second, expires_at, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)`, id, clientID, minor, cur.Code, cur.Exponent,
			in.Method, in.Destination, hold.ID, flagged, blocked, needsSecond, now.Add(time.Duration(st.ExpiryHours)*time.Hour), actor, now); err != nil {
			return fmt.Errorf("withdrawals: record the withdrawal: %w", err)
		}
		if err := insertChecks(ctx, tx, id, checks, legs, now); err != nil {
			return err
		}
		if out, err = withdrawalTx(ctx, tx, `w.id = $1`, id); err != nil {
			return err
		}
		if err := s.o.Events.Publish(ctx, tx, t, Requested{WithdrawalID: id, ClientID: clientID, Amount: minor, Currency: cur.Code,
			Exponent: cur.Exponent, HoldTx: hold.ID, Flagged: flagged}); err != nil {
			return err
		}
		if len(forfeits) > 0 {
			e := ForfeitConfirmed{WithdrawalID: id, ClientID: clientID, Amount: minor, Balance: forfeits[0].Balance.Minor, Currency: cur.Code,
				Exponent: cur.Exponent}
			for _, fb := range forfeits {
				e.Bonuses = append(e.Bonuses, ForfeitedBonus{BonusID: fb.Bonus.ID, Amount: fb.Amount.Minor})
			}
			if err := s.o.Events.Publish(ctx, tx, t, e); err != nil {
				return err
			}
		}
		if err := s.tellClient(ctx, tx, t, out, "received", "The amount is reserved in your wallet while we review the withdrawal; you can cancel it until it is approved."); err != nil {
			return err
		}
		after := view(out)
		after["checks"] = checkSummary(checks)
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorClient, ID: clientID.String()},
			Action: ActionRequested, Target: audit.Target{Type: target, ID: id.String()}, After: after})
	})
	return out, err
}

// inputsTx reads what the checks look at, in the request's transaction (after the hold, under the wallet's lock).
func (s *Service) inputsTx(ctx context.Context, tx pgx.Tx, c clients.Client, amt money.Amount, method string, id uuid.UUID, st Settings,
	now time.Time) (Inputs, error) {
	in := Inputs{Amount: amt, Method: method, Client: c, Settings: st, Now: now, BonusEngine: s.o.Bonuses.Installed(), Refunded: map[uuid.UUID]int64{}}
	var err error
	if in.Docs, err = s.o.Documents.ClientDocumentsTx(ctx, tx, c.ID); err != nil {
		return in, err
	}
	if in.MoneyIn, err = s.o.MoneyIn.MoneyInTx(ctx, tx, c.ID, amt.Currency.Code); err != nil {
		return in, err
	}
	rows, err := tx.Query(ctx, `SELECT l.deposit_id, sum(l.amount)::bigint FROM withdrawal_legs l JOIN withdrawals w ON w.id = l.withdrawal_id
		WHERE w.client_id = $1 AND l.kind = 'card_refund' AND l.status IN ('planned', 'paid') AND w.status IN ('pending', 'approved', 'paid')
		GROUP BY l.deposit_id`, c.ID)
	if err != nil {
		return in, err
	}
	var dep uuid.UUID
	var sum int64
	if _, err := pgx.ForEachRow(rows, []any{&dep, &sum}, func() error { in.Refunded[dep] = sum; return nil }); err != nil {
		return in, err
	}
	// The count is of every currency's withdrawals (the tier's daily count is per client), the sum of this one's.
	if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(amount) FILTER (WHERE currency = $2), 0)::bigint FROM withdrawals
		WHERE client_id = $1 AND id <> $3 AND created_at > $4 AND status IN ('pending', 'approved', 'paid')`, c.ID, amt.Currency.Code, id,
		now.Add(-24*time.Hour)).Scan(&in.RecentCount, &in.RecentSum); err != nil {
		return in, err
	}
	in.LotsSinceDeposit = decimal.Zero
	if last := in.MoneyIn.Last(); last != nil {
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(lots), 0) FROM withdrawal_trading WHERE client_id = $1 AND closed_at >= $2 AND NOT cancelled`,
			c.ID, last.CompletedAt).Scan(&in.LotsSinceDeposit); err != nil {
			return in, err
		}
	}
	return in, nil
}

// insertChecks records the checks' answers and the payout's legs.
func insertChecks(ctx context.Context, tx pgx.Tx, id uuid.UUID, checks []Check, legs []Leg, now time.Time) error {
	b := &pgx.Batch{}
	for i, c := range checks {
		detail := c.Detail
		if detail == nil {
			detail = map[string]any{}
		}
		b.Queue(`INSERT INTO withdrawal_checks (withdrawal_id, name, position, outcome, answer, detail, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, c.Name, i+1, string(c.Outcome), c.Answer, detail, now)
	}
	for i, l := range legs {
		var dep *uuid.UUID
		if l.DepositID != uuid.Nil {
			dep = &l.DepositID
		}
		b.Queue(`INSERT INTO withdrawal_legs (withdrawal_id, position, kind, amount, deposit_id, gateway_slug, external_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, i+1, string(l.Kind), l.Amount.Minor, dep, l.GatewaySlug, l.ExternalID)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("withdrawals: record the checks: %w", err)
	}
	return nil
}

// checkSummary is the checks in the audit trail: name -> outcome.
func checkSummary(list []Check) map[string]string {
	out := map[string]string{}
	for _, c := range list {
		out[c.Name] = string(c.Outcome)
	}
	return out
}

// view is a withdrawal in the audit trail.
func view(w Withdrawal) map[string]any {
	return map[string]any{"amount": w.Amount.Decimal(), "currency": w.Amount.Currency.Code, "status": w.Status, "method": w.Method,
		"client": w.ClientName, "flagged": w.Flagged, "blocked": w.Blocked, "needs_second": w.NeedsSecond}
}

// Cancel cancels a client's withdrawal while it waits for approval, and voids its hold: the money is available
// again at once. Another client's withdrawal is ErrNotFound.
func (s *Service) Cancel(ctx context.Context, t tenants.Tenant, clientID, id uuid.UUID) (Withdrawal, error) {
	var out Withdrawal
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		w, err := withdrawalTx(ctx, tx, `w.id = $1 AND w.client_id = $2 FOR UPDATE OF w`, id, clientID)
		if err != nil {
			return err
		}
		if w.Status != StatusPending {
			return ErrNotCancellable
		}
		out, err = s.endTx(ctx, tx, t, w, StatusCancelled, "", audit.Actor{Kind: audit.ActorClient, ID: clientID.String()}, ActionCancelled)
		return err
	})
	return out, err
}

// endTx ends an open withdrawal without paying it (cancelled, rejected, failed, expired): its hold voided, its legs
// voided, the event published and the change audited, in tx.
func (s *Service) endTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, w Withdrawal, to Status, reason string, actor audit.Actor, action string) (Withdrawal, error) {
	void, err := s.o.Ledger.VoidHoldTx(ctx, tx, "withdrawal:"+w.ID.String()+":void", w.HoldTx, "Withdrawal "+w.Amount.String()+" "+string(to))
	if err != nil {
		return w, fmt.Errorf("withdrawals: release the hold of %s: %w", w.ID, err)
	}
	col := "reason"
	if to == StatusFailed {
		col = "failure"
	}
	if _, err := tx.Exec(ctx, `UPDATE withdrawals SET status = $2, `+col+` = $3, resolve_tx = $4, finished_at = now(), updated_at = now()
		WHERE id = $1`, w.ID, string(to), reason, void.ID); err != nil {
		return w, err
	}
	if _, err := tx.Exec(ctx, `UPDATE withdrawal_legs SET status = 'voided' WHERE withdrawal_id = $1 AND status IN ('planned', 'sent')`, w.ID); err != nil {
		return w, err
	}
	out, err := withdrawalTx(ctx, tx, `w.id = $1`, w.ID)
	if err != nil {
		return w, err
	}
	if err := s.o.Events.Publish(ctx, tx, t, Ended{WithdrawalID: w.ID, ClientID: w.ClientID, Status: to, Reason: reason}); err != nil {
		return out, err
	}
	if to != StatusCancelled {
		msg := "The money is back in your wallet."
		if reason != "" {
			msg = strings.TrimSuffix(reason, ".") + ". " + msg
		}
		words := map[Status]string{StatusRejected: "refused", StatusFailed: "not paid", StatusExpired: "expired"}[to]
		if err := s.tellClient(ctx, tx, t, out, words, msg); err != nil {
			return out, err
		}
	}
	after := view(out)
	if reason != "" {
		after["reason"] = reason
	}
	return out, s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: action, Target: audit.Target{Type: target, ID: w.ID.String()},
		Before: map[string]any{"status": w.Status}, After: after})
}
