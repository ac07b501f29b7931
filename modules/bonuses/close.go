package bonuses

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// How an open bonus ends: each is one ledger transaction and one audited sentence.
type closing struct {
	status, kind, action string
}

var (
	// closeRelease: turnover met; the bonus moves from the bonus account to the client's wallet.
	closeRelease = closing{"released", "bonus_release", ActionReleased}
	// closeExpire: past its expiry; the grant is reversed (back to the bonus liability).
	closeExpire = closing{"expired", "bonus_expiry", ActionExpired}
	// closeCancel: staff cancelled it with a reason; the grant is reversed.
	closeCancel = closing{"cancelled", "bonus_cancel", ActionCancelled}
)

// closeTx ends an open bonus as c says; ErrState when it is no longer open, ErrNotFound when there is none.
func (s *Service) closeTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, c closing, actor audit.Actor, reason string) error {
	var client uuid.UUID
	var code, status, rule, creditTo string
	var amt int64
	var grantTx uuid.UUID
	var done, required decimal.Decimal
	err := tx.QueryRow(ctx, `SELECT b.client_id, b.currency, b.status, b.amount, b.grant_tx, b.lots_done, b.lots_required, r.name, b.credit_to
		FROM bonuses b JOIN bonus_rules r ON r.id = b.rule_id WHERE b.id = $1 FOR UPDATE OF b`, id).
		Scan(&client, &code, &status, &amt, &grantTx, &done, &required, &rule, &creditTo)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if status != "open" {
		return ErrState
	}
	cur := money.MustLookup(code)
	other := ledger.BonusLiability(cur)
	e := ledger.Entry{Key: "bonus:" + id.String() + ":" + c.status, Kind: c.kind, Metadata: map[string]any{"bonus_id": id.String()}}
	switch c {
	case closeRelease:
		other = ledger.ClientWallet(client, cur)
		e.Description = fmt.Sprintf("Bonus %s (%s) released: turnover met", money.Amount{Minor: amt, Currency: cur}, rule)
	default:
		e.Corrects = &grantTx
		e.Description = fmt.Sprintf("Bonus %s (%s) %s", money.Amount{Minor: amt, Currency: cur}, rule, c.status)
	}
	e.Postings = []ledger.Posting{{Account: bonusAccount(creditTo, client, cur), Amount: -amt}, {Account: other, Amount: amt}}
	lt, err := s.o.Ledger.PostTx(ctx, tx, e)
	if err != nil {
		return fmt.Errorf("bonuses: %s: %w", c.status, err)
	}
	if err := s.CreditOutTx(ctx, tx, id, amt, c.status); err != nil { // a credit bonus's credit leaves its account
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE bonuses SET status = $2, closed_at = $3, close_reason = $4, close_tx = $5 WHERE id = $1`,
		id, c.status, s.o.Now().UTC(), reason, lt.ID); err != nil {
		return err
	}
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: c.action, Target: audit.Target{Type: clientTarget, ID: client.String()},
		After: map[string]any{"bonus": id, "rule": rule, "amount": money.Amount{Minor: amt, Currency: cur}.String(), "status": c.status,
			"lots_done": done.StringFixed(2), "lots_required": required.StringFixed(2), "reason": reason}})
}

// Cancel ends an open bonus by staff's decision: the grant is reversed and bonus.cancelled announced (the client's
// email gives the reason, which the portal shows too). The reason is required.
func (s *Service) Cancel(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID, reason string) error {
	reason = strings.TrimSpace(reason)
	var f validation.Fields
	f.Required("reason", reason)
	f.Text("reason", reason, 500)
	if err := f.Err(); err != nil {
		return err
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.closeTx(ctx, tx, id, closeCancel, actor, reason); err != nil {
			return err
		}
		return s.publishEndedTx(ctx, tx, t, id)
	})
}

// ExpireDue removes the tenant's open bonuses past their expiry, up to limit per call (the oldest first), each in
// the worker's one transaction and announced (bonus.expired); it answers how many it removed. Rows another worker
// holds are skipped.
func (s *Service) ExpireDue(ctx context.Context, t tenants.Tenant, limit int) (int, error) {
	n := 0
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM bonuses WHERE status = 'open' AND expires_at <= $1 ORDER BY expires_at
			LIMIT $2 FOR UPDATE SKIP LOCKED`, s.o.Now().UTC(), limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.closeTx(ctx, tx, id, closeExpire, engine, "expired"); err != nil {
				return err
			}
			if err := s.publishEndedTx(ctx, tx, t, id); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// Bonus is a granted bonus as staff and the client see it.
type Bonus struct {
	ID           uuid.UUID
	RuleID       uuid.UUID
	RuleName     string
	RuleVersion  int
	DepositID    uuid.UUID
	ClientID     uuid.UUID
	Amount       money.Amount
	LotsRequired decimal.Decimal
	LotsDone     decimal.Decimal
	Status       string
	GrantedAt    time.Time
	ExpiresAt    time.Time
	ClosedAt     *time.Time
	CloseReason  string
	// Forfeited is what withdrawals took off the bonus in part (pro rata), in Amount's currency: Amount is what is
	// left, Amount + Forfeited what was granted. A bonus forfeited in full keeps its Amount (status forfeited).
	Forfeited int64
	// CreditTo is where the bonus went: bonus_balance (the ledger) or trading_account (credit on CreditLogin,
	// booked on the platform at CreditedAt; nil while the desk's credit_in is on its way).
	CreditTo    string
	CreditLogin string
	CreditedAt  *time.Time
}

const selectBonus = `SELECT b.id, b.rule_id, r.name, b.rule_version, b.deposit_id, b.client_id, b.currency, b.amount, b.lots_required,
	b.lots_done, b.status, b.granted_at, b.expires_at, b.closed_at, b.close_reason, b.forfeited, b.credit_to, b.credit_login, b.credited_at
	FROM bonuses b JOIN bonus_rules r ON r.id = b.rule_id`

func scanBonuses(rows pgx.Rows) ([]Bonus, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Bonus, error) {
		var b Bonus
		var code string
		err := row.Scan(&b.ID, &b.RuleID, &b.RuleName, &b.RuleVersion, &b.DepositID, &b.ClientID, &code, &b.Amount.Minor, &b.LotsRequired,
			&b.LotsDone, &b.Status, &b.GrantedAt, &b.ExpiresAt, &b.ClosedAt, &b.CloseReason, &b.Forfeited, &b.CreditTo, &b.CreditLogin, &b.CreditedAt)
		if err != nil {
			return b, err
		}
		b.Amount.Currency = money.MustLookup(code)
		return b, nil
	})
}

// ClientBonuses are a client's bonuses, newest first.
func (s *Service) ClientBonuses(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]Bonus, error) {
	var out []Bonus
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, selectBonus+` WHERE b.client_id = $1 ORDER BY b.granted_at DESC, b.id DESC`, client)
		if err != nil {
			return err
		}
		out, err = scanBonuses(rows)
		return err
	})
	return out, err
}
