package bonuses

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Explanation is what a rule saw and decided for one deposit, stored on its evaluation row: "why did this client
// get (or not get) a bonus" is answered by it alone.
type Explanation struct {
	Rule     string   `json:"rule"`
	Version  int      `json:"version"`
	Terms    Terms    `json:"terms"`
	Deposit  inputs   `json:"deposit"`
	Decision Decision `json:"decision"`
}

// inputs are a Deposit's facts in JSON.
type inputs struct {
	ID               uuid.UUID `json:"id"`
	Amount           string    `json:"amount"`
	Currency         string    `json:"currency"`
	Number           int       `json:"number"`
	GatewayKind      string    `json:"gateway_kind"`
	PromoCode        string    `json:"promo_code"`
	At               time.Time `json:"at"`
	Tier             string    `json:"tier"`
	Country          string    `json:"country"`
	Granted          int       `json:"granted_before"`
	GrantedThisMonth string    `json:"granted_this_month"`
	CreditAccount    string    `json:"credit_account,omitempty"`
}

// onDeposit evaluates every rule in force at the deposit's time, once per (rule, deposit), and grants what they
// decide. The client's advisory lock serialises its deposits' evaluations, so the per-client and per-month limits
// hold when two of its deposits are delivered at once.
func (s *Service) onDeposit(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m events.Meta, e payments.DepositCompleted) error {
	rules, err := rulesAtTx(ctx, tx, m.OccurredAt)
	if err != nil || len(rules) == 0 {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('bonuses:client:' || $1::text, 0))`, e.ClientID); err != nil {
		return err
	}
	c, err := s.o.Clients.GetTx(ctx, tx, e.ClientID)
	if err != nil {
		return fmt.Errorf("bonuses: client of deposit %s: %w", e.DepositID, err)
	}
	at := m.OccurredAt.UTC()
	dc := money.Currency{Code: e.Currency, Exponent: e.Exponent}
	for _, r := range rules {
		var seen bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bonus_evaluations WHERE rule_id = $1 AND deposit_id = $2)`,
			r.ID, e.DepositID).Scan(&seen); err != nil {
			return err
		}
		if seen {
			continue // a redelivered event: evaluated, and granted if it was to be
		}
		d := Deposit{Amount: e.Amount, Currency: dc, Number: e.DepositNumber, GatewayKind: e.GatewayKind, PromoCode: e.PromoCode, At: at,
			Tier: c.Tier, Country: c.Country}
		month := time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
		if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(amount + forfeited) FILTER (WHERE granted_at >= $3 AND granted_at < $4), 0)
			FROM bonuses WHERE rule_id = $1 AND client_id = $2`, r.ID, e.ClientID, month, month.AddDate(0, 1, 0)).Scan(&d.Granted, &d.GrantedThisMonth); err != nil {
			return err
		}
		acc, err := s.creditAccountTx(ctx, tx, r, e.ClientID)
		if err != nil {
			return err
		}
		if acc != nil {
			d.CreditAccount = acc.Login
		}
		dec := r.Terms.Evaluate(r.Currency, d)
		expl := Explanation{Rule: r.Name, Version: r.Version, Terms: r.Terms, Decision: dec, Deposit: inputs{ID: e.DepositID,
			Amount: money.Format(e.Amount, dc), Currency: dc.Code, Number: d.Number, GatewayKind: d.GatewayKind, PromoCode: d.PromoCode,
			At: at, Tier: d.Tier, Country: d.Country, Granted: d.Granted, GrantedThisMonth: money.Format(d.GrantedThisMonth, r.Currency), CreditAccount: d.CreditAccount}}
		raw, err := json.Marshal(expl)
		if err != nil {
			return err
		}
		outcome := "not_granted"
		if dec.Reason == "" {
			outcome = "granted"
		}
		if _, err := tx.Exec(ctx, `INSERT INTO bonus_evaluations (rule_id, deposit_id, rule_version, client_id, outcome, reason, explanation, evaluated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.ID, e.DepositID, r.Version, e.ClientID, outcome, string(dec.Reason), raw, at); err != nil {
			return fmt.Errorf("bonuses: evaluation: %w", err)
		}
		if dec.Reason != "" {
			continue
		}
		if err := s.grantTx(ctx, tx, r, e, at, dec, acc); err != nil {
			return err
		}
		if err := s.publishGrantedTx(ctx, tx, t, r.ID, e.DepositID); err != nil {
			return err
		}
	}
	return nil
}

// grantTx credits the client's bonus account (or, for a credit bonus, its bonus credit account, and asks the desk
// to credit acc) against the brokerage's bonus liability and records the bonus.
func (s *Service) grantTx(ctx context.Context, tx pgx.Tx, r Rule, e payments.DepositCompleted, at time.Time, dec Decision, acc *tradingdesk.Account) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	amount := money.Amount{Minor: dec.Amount, Currency: r.Currency}
	lt, err := s.o.Ledger.PostTx(ctx, tx, ledger.Entry{Key: "bonus:" + r.ID.String() + ":" + e.DepositID.String() + ":grant", Kind: "bonus_grant",
		Description: fmt.Sprintf("Bonus %s (%s v%d) on deposit %s", amount, r.Name, r.Version, e.DepositID),
		Postings: []ledger.Posting{
			{Account: bonusAccount(r.Terms.CreditTo, e.ClientID, r.Currency), Amount: dec.Amount},
			{Account: ledger.BonusLiability(r.Currency), Amount: -dec.Amount},
		},
		Metadata: map[string]any{"bonus_id": id.String(), "rule_id": r.ID.String(), "rule_version": r.Version, "deposit_id": e.DepositID.String()}})
	if err != nil {
		return fmt.Errorf("bonuses: grant: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO bonuses (id, rule_id, rule_version, deposit_id, client_id, currency, amount, lots_required,
			min_hold_seconds, status, granted_at, expires_at, grant_tx)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11, $12)`,
		id, r.ID, r.Version, e.DepositID, e.ClientID, r.Currency.Code, dec.Amount, dec.LotsRequired, dec.MinHoldSeconds, at, dec.ExpiresAt, lt.ID); err != nil {
		return fmt.Errorf("bonuses: bonus: %w", err)
	}
	if acc != nil {
		if err := s.creditInTx(ctx, tx, id, acc, dec.Amount, r.Name); err != nil {
			return err
		}
	}
	return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: engine, Action: ActionGranted, Target: audit.Target{Type: clientTarget, ID: e.ClientID.String()},
		After: map[string]any{"bonus": id, "rule": r.Name, "version": r.Version, "amount": amount.String(), "says": dec.Says}})
}
