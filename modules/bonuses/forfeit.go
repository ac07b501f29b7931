package bonuses

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Forfeiture on a withdrawal (docs/bonuses.md#withdrawals). A withdrawal from a wallet whose currency has open
// bonuses gives up a part of each, by the term forfeit of the rule version the bonus was granted under:
//
//	full      the whole bonus, on any withdrawal (the default, and what a version made before the term reads as)
//	pro_rata  the withdrawal's share of the client's withdrawable balance in the currency before the withdrawal:
//	          open × withdrawn / balance, rounded UP to the minor unit (so splitting one withdrawal into many never
//	          forfeits less than the one would), and the whole bonus when the withdrawal takes the whole balance
//
// Withdrawals asks ForfeitsTx before it holds the amount (the bonus rows are locked first, the order a turnover
// release takes too, so the two never wait on each other in a cycle), refuses a request that would forfeit
// unless the client confirmed it (forfeit_bonuses), and publishes withdrawal.forfeit_confirmed in the request's
// transaction; onForfeitConfirmed books it in that same transaction: one ledger transaction per bonus moving the
// forfeited part from the client's bonus account back to the bonus liability, a bonus_forfeitures row keyed
// (bonus, withdrawal), an audited sentence, and bonus.forfeited. A full forfeiture closes the bonus (status
// forfeited, key bonus:<id>:forfeited); a partial one leaves it open with what is left and the turnover that amount
// asks under the rule (key bonus:<id>:forfeited:<withdrawal>, since one bonus may lose parts to several
// withdrawals), released at once when the turnover already done meets it. The forfeiture stands if the withdrawal
// is later cancelled, refused or fails: the client was told so before confirming.

// The rule term forfeit.
const (
	ForfeitFull    = "full"
	ForfeitProRata = "pro_rata"
)

// ForfeitRule is the term as the engine applies it: "" (a version made before the term existed) is full.
func (r Terms) ForfeitRule() string {
	if r.Forfeit == ForfeitProRata {
		return ForfeitProRata
	}
	return ForfeitFull
}

// validateForfeit checks and normalises the term forfeit ("" becomes full).
func (r *Terms) validateForfeit() (string, bool) {
	switch r.Forfeit {
	case "":
		r.Forfeit = ForfeitFull
	case ForfeitFull, ForfeitProRata:
	default:
		return "must be full or pro_rata", false
	}
	return "", true
}

// Forfeits is what withdrawing withdrawn (minor units) takes of a bonus of which open is still open, when the
// client's withdrawable balance in the currency was balance before the withdrawal: pure, table-tested. Full: all
// of it. Pro rata: open × withdrawn / balance rounded up to the minor unit, never more than open, all of it when
// withdrawn is the whole balance or more.
func (r Terms) Forfeits(open, withdrawn, balance int64) int64 {
	switch {
	case open <= 0 || withdrawn <= 0:
		return 0
	case r.ForfeitRule() == ForfeitFull || withdrawn >= balance:
		return open
	}
	n := new(big.Int).Mul(big.NewInt(open), big.NewInt(withdrawn))
	q, rem := new(big.Int).QuoRem(n, big.NewInt(balance), new(big.Int))
	if rem.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return min(q.Int64(), open)
}

// lotsFor is the turnover a bonus of amount (minor units of c) asks at perUnit lots per unit: rounded up to the
// hundredth of a lot. Grants and what a partial forfeiture leaves are sized by it alike.
func lotsFor(amount int64, c money.Currency, perUnit decimal.Decimal) decimal.Decimal {
	lots := decimal.New(amount, -int32(c.Exponent)).Mul(perUnit)
	if r := lots.Round(2); r.LessThan(lots) {
		return r.Add(decimal.New(1, -2))
	}
	return lots.Round(2)
}

// openForForfeit is an open bonus as forfeiture needs it, locked.
type openForForfeit struct {
	id         uuid.UUID
	client     uuid.UUID
	currency   string
	rule       string
	amount     int64
	lotsDone   decimal.Decimal
	lotsNeeded decimal.Decimal
	grantTx    uuid.UUID
	expires    time.Time
	terms      Terms
}

const selectForForfeit = `SELECT b.id, b.client_id, b.currency, r.name, b.amount, b.lots_done, b.lots_required, b.grant_tx, b.expires_at,
	v.terms
	FROM bonuses b JOIN bonus_rules r ON r.id = b.rule_id JOIN bonus_rule_versions v ON v.rule_id = b.rule_id AND v.version = b.rule_version`

func scanForForfeit(rows pgx.Rows) ([]openForForfeit, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (openForForfeit, error) {
		var b openForForfeit
		var raw []byte
		if err := row.Scan(&b.id, &b.client, &b.currency, &b.rule, &b.amount, &b.lotsDone, &b.lotsNeeded, &b.grantTx, &b.expires, &raw); err != nil {
			return b, err
		}
		return b, json.Unmarshal(raw, &b.terms)
	})
}

// ForfeitsTx answers withdrawals' Bonuses: what withdrawing amount would forfeit of each of the client's open
// bonuses in its currency, oldest first, given the client's withdrawable balance (the wallet's available balance)
// read now, before the withdrawal's hold. The bonuses stay locked until tx ends, so the answer holds when the
// withdrawal commits and two withdrawals of one client are weighed one after the other.
func (s *Service) ForfeitsTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, amount money.Amount) ([]withdrawals.Forfeit, error) {
	rows, err := tx.Query(ctx, selectForForfeit+` WHERE b.client_id = $1 AND b.currency = $2 AND b.status = 'open'
		ORDER BY b.granted_at, b.id FOR UPDATE OF b`, client, amount.Currency.Code)
	if err != nil {
		return nil, err
	}
	open, err := scanForForfeit(rows)
	if err != nil || len(open) == 0 {
		return nil, err
	}
	var balance int64
	bal, err := s.o.Ledger.BalanceTx(ctx, tx, ledger.ClientWallet(client, amount.Currency).Code)
	switch {
	case err == nil:
		balance = bal.Available()
	case !errors.Is(err, ledger.ErrNotFound):
		return nil, err
	}
	cur := amount.Currency
	balanceAmt := money.Amount{Minor: balance, Currency: cur}
	out := make([]withdrawals.Forfeit, 0, len(open))
	for _, b := range open {
		take := b.terms.Forfeits(b.amount, amount.Minor, balance)
		if take <= 0 {
			continue
		}
		openAmt := money.Amount{Minor: b.amount, Currency: cur}
		f := withdrawals.Forfeit{Bonus: withdrawals.OpenBonus{ID: b.id, Amount: openAmt,
			Description: fmt.Sprintf("%s, %s (%s of %s lots traded, expires %s)", b.rule, openAmt, b.lotsDone.StringFixed(2),
				b.lotsNeeded.StringFixed(2), b.expires.UTC().Format("2 Jan 2006"))},
			Amount: money.Amount{Minor: take, Currency: cur}, Full: take == b.amount, Rule: b.terms.ForfeitRule(), Balance: balanceAmt}
		switch {
		case f.Rule == ForfeitFull:
			f.Why = "its rule forfeits the whole bonus on any withdrawal"
		case f.Full:
			f.Why = fmt.Sprintf("pro rata: the withdrawal takes the whole withdrawable %s", balanceAmt)
		default:
			f.Why = fmt.Sprintf("pro rata: %s of the %s withdrawable, rounded up to %s", amount, balanceAmt, money.Amount{Minor: 1, Currency: cur})
		}
		out = append(out, f)
	}
	return out, nil
}

// closeForfeit: a withdrawal took the whole bonus; the grant is reversed.
var closeForfeit = closing{"forfeited", "bonus_forfeit", ActionForfeited}

// onForfeitConfirmed books a confirmed withdrawal's forfeitures, in the withdrawal's transaction (OnTx).
func (s *Service) onForfeitConfirmed(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, e withdrawals.ForfeitConfirmed) error {
	cur, ok := money.Lookup(e.Currency)
	if !ok {
		return fmt.Errorf("bonuses: forfeiture of withdrawal %s: unknown currency %q", e.WithdrawalID, e.Currency)
	}
	for _, fb := range e.Bonuses {
		if err := s.forfeitTx(ctx, tx, t, e, cur, fb); err != nil {
			return err
		}
	}
	return nil
}

// forfeitTx takes fb.Amount (at most what is open) of one bonus for the withdrawal: once per (bonus, withdrawal).
func (s *Service) forfeitTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e withdrawals.ForfeitConfirmed, cur money.Currency,
	fb withdrawals.ForfeitedBonus) error {
	rows, err := tx.Query(ctx, selectForForfeit+` WHERE b.id = $1 AND b.status = 'open' FOR UPDATE OF b`, fb.BonusID)
	if err != nil {
		return err
	}
	list, err := scanForForfeit(rows)
	if err != nil {
		return err
	}
	if len(list) == 0 || fb.Amount <= 0 {
		return nil // closed meanwhile (released, expired, cancelled or forfeited before): nothing left to take
	}
	b := list[0]
	if b.client != e.ClientID || b.currency != cur.Code {
		return fmt.Errorf("bonuses: withdrawal %s names bonus %s of another client or currency", e.WithdrawalID, b.id)
	}
	var seen bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bonus_forfeitures WHERE bonus_id = $1 AND withdrawal_id = $2)`,
		b.id, e.WithdrawalID).Scan(&seen); err != nil || seen {
		return err
	}
	take := min(fb.Amount, b.amount)
	full, left := take == b.amount, b.amount-take
	withdrawn := money.Amount{Minor: e.Amount, Currency: cur}
	reason := fmt.Sprintf("the client withdrew %s and confirmed giving it up", withdrawn)
	if b.terms.ForfeitRule() == ForfeitProRata {
		reason = fmt.Sprintf("the client withdrew %s of %s withdrawable and confirmed giving up that share (pro rata)", withdrawn,
			money.Amount{Minor: e.Balance, Currency: cur})
	}
	lotsAfter := decimal.Zero
	var ltID uuid.UUID
	if full {
		if err := s.closeTx(ctx, tx, b.id, closeForfeit, engine, reason); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT close_tx FROM bonuses WHERE id = $1`, b.id).Scan(&ltID); err != nil {
			return err
		}
	} else {
		lotsAfter = lotsFor(left, cur, b.terms.LotsPerUnit)
		takeAmt := money.Amount{Minor: take, Currency: cur}
		lt, err := s.o.Ledger.PostTx(ctx, tx, ledger.Entry{Key: "bonus:" + b.id.String() + ":forfeited:" + e.WithdrawalID.String(),
			Kind: closeForfeit.kind, Corrects: &b.grantTx,
			Description: fmt.Sprintf("Bonus %s (%s): %s forfeited by a withdrawal of %s", money.Amount{Minor: b.amount, Currency: cur}, b.rule, takeAmt, withdrawn),
			Postings:    []ledger.Posting{{Account: bonusAccount(b.terms.CreditTo, b.client, cur), Amount: -take}, {Account: ledger.BonusLiability(cur), Amount: take}},
			Metadata:    map[string]any{"bonus_id": b.id.String(), "withdrawal_id": e.WithdrawalID.String()}})
		if err != nil {
			return fmt.Errorf("bonuses: forfeited: %w", err)
		}
		// A credit bonus's forfeited part comes off its trading account too.
		if err := s.CreditOutTx(ctx, tx, b.id, take, "forfeited:"+e.WithdrawalID.String()); err != nil {
			return err
		}
		ltID = lt.ID
		if _, err := tx.Exec(ctx, `UPDATE bonuses SET amount = $2, forfeited = forfeited + $3, lots_required = $4 WHERE id = $1`,
			b.id, left, take, lotsAfter); err != nil {
			return err
		}
		if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: engine, Action: ActionForfeited,
			Target: audit.Target{Type: clientTarget, ID: b.client.String()},
			After: map[string]any{"bonus": b.id, "rule": b.rule, "forfeited": takeAmt.String(), "amount": money.Amount{Minor: b.amount, Currency: cur}.String(),
				"status": "open", "left": money.Amount{Minor: left, Currency: cur}.String(), "lots_done": b.lotsDone.StringFixed(2),
				"lots_required": lotsAfter.StringFixed(2), "withdrawal": e.WithdrawalID, "reason": reason}}); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO bonus_forfeitures (bonus_id, withdrawal_id, client_id, currency, amount, full_forfeit, rule, open_before,
		withdrawn, balance, lots_required_before, lots_required_after, ledger_tx, forfeited_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, b.id, e.WithdrawalID, b.client, cur.Code, take, full,
		b.terms.ForfeitRule(), b.amount, e.Amount, max(e.Balance, 0), b.lotsNeeded, lotsAfter, ltID, s.o.Now().UTC()); err != nil {
		return fmt.Errorf("bonuses: forfeiture: %w", err)
	}
	if s.o.Events != nil {
		if err := s.o.Events.Publish(ctx, tx, t, Forfeited{BonusID: b.id, ClientID: b.client, WithdrawalID: &e.WithdrawalID, Amount: take, Left: left, Reason: reason,
			Currency: cur.Code, Exponent: cur.Exponent, Full: full, Rule: b.terms.ForfeitRule()}); err != nil {
			return err
		}
	}
	if !full && b.lotsDone.GreaterThanOrEqual(lotsAfter) {
		// What is left asks no more turnover than was done: it is earned.
		return s.releaseTx(ctx, tx, t, b.id)
	}
	return nil
}
