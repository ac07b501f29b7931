package bonuses

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Credit bonuses (docs/bonuses.md "Credit on a trading account"). A rule whose terms say credit_to
// trading_account gives its bonus as credit on the client's trading account, as brokers do: it shows on the
// platform as credit, adds to the equity the client trades on, and is never the client's to withdraw.
//
//	account   the client's active account on a live server in the rule's currency, opened first (deposits land in
//	          the wallet, not on an account, so "the account the deposit went to" does not exist here); none: the
//	          rule grants nothing, and the evaluation row says "there is no trading account in USD"
//	ledger    the grant credits the client's bonus credit account (bonus_credit:<client>:<currency>, kind
//	          client_bonus_credit: what the CRM has put on the client's accounts as credit) against the bonus
//	          liability, one transaction as for a bonus balance; every end of the bonus debits it again
//	platform  the grant asks the trading desk (Desk, satisfied by *tradingdesk.Service) for a credit_in under the key
//	          bonus:<id>:credit_in in the grant's transaction; the desk's worker books it (operation id of the
//	          desk's row: once, however often the grant's event or the task is delivered); trading.credit_finished
//	          tells the engine it landed (credited_at) or was refused: then the bonus is cancelled, its grant
//	          reversed, audited
//	ends      expiry, cancellation, forfeiture and write-off reverse the grant and ask a credit_out of the bonus
//	          (bonus:<id>:credit_out:<status>), which the desk runs after the credit_in; the release moves the bonus
//	          to the client's wallet (withdrawable) and takes the credit out, so the money is never both credit on
//	          the account and money in the wallet for longer than the desk's worker takes
//	stop-out  bonuses:stop-out each minute per tenant reads the accounts that carry open credit bonuses from their
//	          platforms; an account whose equity fell to or below its credit has lost the client's own money, and
//	          its open credit bonuses are written off (written_off: the grant reversed, the credit taken out)

// Where a rule's bonus goes (Terms.CreditTo).
const (
	CreditToBonusBalance   = "bonus_balance"
	CreditToTradingAccount = "trading_account"
)

// KindClientBonusCredit is the ledger kind of a client's bonus credit account.
const KindClientBonusCredit = "client_bonus_credit"

// ClientBonusCredit is what the brokerage has put on client's trading accounts in c as bonus credit: credited
// when a credit bonus is granted, debited when it ends. Not withdrawable, never overdrawn.
func ClientBonusCredit(client uuid.UUID, c money.Currency) ledger.AccountSpec {
	return ledger.AccountSpec{Code: "bonus_credit:" + client.String() + ":" + c.Code, Kind: KindClientBonusCredit, Currency: c, Owner: client,
		NoOverdraft: true, Shards: 1, Label: "Bonus credit on trading accounts " + c.Code}
}

// bonusAccount is the ledger account an open bonus of client sits on.
func bonusAccount(creditTo string, client uuid.UUID, c money.Currency) ledger.AccountSpec {
	if creditTo == CreditToTradingAccount {
		return ClientBonusCredit(client, c)
	}
	return ledger.ClientBonus(client, c)
}

// Desk is what credit bonuses need of the trading desk (*tradingdesk.Service): the account to credit, credit
// operations asked in the engine's transaction, and accounts' money state read from their platforms.
type Desk interface {
	CreditAccountTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, currency string) (tradingdesk.Account, bool, error)
	CreditTx(ctx context.Context, tx pgx.Tx, o tradingdesk.CreditOrder) (tradingdesk.Credit, error)
	AccountStates(ctx context.Context, t tenants.Tenant, ids []uuid.UUID) (map[uuid.UUID]trading.Account, error)
}

// Audited actions of credit bonuses.
const (
	ActionCredited      = "bonus.credited"
	ActionCreditRefused = "bonus.credit_refused"
	ActionWrittenOff    = "bonus.written_off"
)

var (
	// closeWriteOff: the account's equity fell to its credit (stop-out); the grant is reversed, the credit taken out.
	closeWriteOff = closing{"written_off", "bonus_write_off", ActionWrittenOff}
	// closeCreditRefused: the platform refused the credit_in; the grant is reversed, nothing to take out.
	closeCreditRefused = closing{"cancelled", "bonus_cancel", ActionCreditRefused}
)

// creditAccountTx is the account a credit rule's bonus would go to for client in c, when the rule credits an
// account (nil otherwise, or when the client has none).
func (s *Service) creditAccountTx(ctx context.Context, tx pgx.Tx, r Rule, client uuid.UUID) (*tradingdesk.Account, error) {
	if r.Terms.CreditTo != CreditToTradingAccount || s.o.Desk == nil {
		return nil, nil
	}
	acc, ok, err := s.o.Desk.CreditAccountTx(ctx, tx, client, r.Currency.Code)
	if err != nil || !ok {
		return nil, err
	}
	return &acc, nil
}

// creditInTx records a new credit bonus's account and asks the desk for its credit_in, in the grant's transaction.
func (s *Service) creditInTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, acc *tradingdesk.Account, amount int64, rule string) error {
	if _, err := tx.Exec(ctx, `UPDATE bonuses SET credit_to = $2, credit_account = $3, credit_login = $4 WHERE id = $1`,
		id, CreditToTradingAccount, acc.ID, acc.Login); err != nil {
		return fmt.Errorf("bonuses: credit account: %w", err)
	}
	_, err := s.o.Desk.CreditTx(ctx, tx, tradingdesk.CreditOrder{Key: creditKey(id, "credit_in"), Account: acc.ID, Kind: trading.CreditIn,
		Amount: amount, Comment: "Bonus " + rule, By: "bonus engine"})
	if err != nil {
		return fmt.Errorf("bonuses: credit_in: %w", err)
	}
	return nil
}

func creditKey(id uuid.UUID, what string) string { return "bonus:" + id.String() + ":" + what }

// CreditOutTx asks the trading desk to take amount (minor units) of a credit bonus's credit off its trading
// account, in tx, once per (bonus, why): closing a bonus does it for what the bonus had (why is its new status);
// a partial forfeiture calls it with its own amount and a why naming it ("forfeited:<withdrawal>"). A bonus that
// is a ledger bonus balance, or whose credit the platform refused, has nothing on the platform: nothing is asked.
// The desk runs it after the bonus's credit_in, and takes out at most what credit the account has then.
func (s *Service) CreditOutTx(ctx context.Context, tx pgx.Tx, bonus uuid.UUID, amount int64, why string) error {
	var creditTo, failure, rule string
	var account *uuid.UUID
	err := tx.QueryRow(ctx, `SELECT b.credit_to, b.credit_account, b.credit_failure, r.name FROM bonuses b JOIN bonus_rules r ON r.id = b.rule_id
		WHERE b.id = $1`, bonus).Scan(&creditTo, &account, &failure, &rule)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil || creditTo != CreditToTradingAccount || account == nil || failure != "" || amount <= 0 {
		return err
	}
	if s.o.Desk == nil {
		return errors.New("bonuses: a credit bonus needs the trading desk")
	}
	if _, err := s.o.Desk.CreditTx(ctx, tx, tradingdesk.CreditOrder{Key: creditKey(bonus, "credit_out:"+why), Account: *account,
		Kind: trading.CreditOut, Amount: amount, After: creditKey(bonus, "credit_in"), Comment: "Bonus " + rule + " " + why,
		By: "bonus engine"}); err != nil {
		return fmt.Errorf("bonuses: credit_out: %w", err)
	}
	return nil
}

// onCreditFinished records what the platform did with a credit bonus's credit_in: credited, or refused, which
// cancels the bonus (its grant reversed, bonus.cancelled announced; nothing is on the platform to take out). Other
// credit operations (the desk's trail has them) and other rooms' keys are not the engine's business here.
func (s *Service) onCreditFinished(ctx context.Context, tx pgx.Tx, t tenants.Tenant, m events.Meta, e tradingdesk.CreditFinished) error {
	rest, ok := strings.CutPrefix(e.Key, "bonus:")
	if !ok || e.Kind != trading.CreditIn {
		return nil
	}
	id, err := uuid.Parse(strings.TrimSuffix(rest, ":credit_in"))
	if err != nil {
		return nil
	}
	if e.Status == tradingdesk.RequestDone {
		var client uuid.UUID
		var code string
		var amount int64
		err := tx.QueryRow(ctx, `UPDATE bonuses SET credited_at = $2 WHERE id = $1 AND credited_at IS NULL RETURNING client_id, currency, amount`,
			id, m.OccurredAt).Scan(&client, &code, &amount)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // redelivered
		}
		if err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: engine, Action: ActionCredited, Target: audit.Target{Type: clientTarget, ID: client.String()},
			After: map[string]any{"bonus": id, "amount": money.Amount{Minor: amount, Currency: money.MustLookup(code)}.String(), "login": e.Login}})
	}
	tag, err := tx.Exec(ctx, `UPDATE bonuses SET credit_failure = $2 WHERE id = $1 AND credit_failure = ''`, id, e.Failure)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	err = s.closeTx(ctx, tx, id, closeCreditRefused, engine, "the trading server refused the credit on account "+e.Login+": "+e.Failure)
	if errors.Is(err, ErrState) {
		return nil // it ended meanwhile (its own reversal is done; its credit_out finds nothing credited)
	}
	if err != nil {
		return err
	}
	return s.publishEndedTx(ctx, tx, t, id)
}

// stopOutBatch bounds the accounts one stop-out run reads from their platforms.
const stopOutBatch = 500

// WriteOffStoppedOut reads the tenant's accounts that carry open, credited credit bonuses from their platforms
// (up to stopOutBatch, those checked longest ago first) and writes off the open credit bonuses of each whose
// equity fell to or below its credit; it answers how many it wrote off.
//
// An account whose equity equals its credit exactly may simply never have held money of the client's own (a
// client credited before moving money to the account): its bonuses are written off at equity = credit only
// once a check saw the equity above the credit (equity_above_credit); equity below the credit (losses ate into
// the credit) writes them off at once.
func (s *Service) WriteOffStoppedOut(ctx context.Context, t tenants.Tenant) (int, error) {
	if s.o.Desk == nil {
		return 0, nil
	}
	var ids []uuid.UUID
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT credit_account FROM bonuses WHERE status = 'open' AND credit_to = 'trading_account'
			AND credited_at IS NOT NULL GROUP BY credit_account ORDER BY min(stop_out_checked_at) NULLS FIRST LIMIT $1`, stopOutBatch)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	states, err := s.o.Desk.AccountStates(ctx, t, ids)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		st, ok := states[id]
		if !ok {
			continue
		}
		err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `UPDATE bonuses SET stop_out_checked_at = $2, equity_above_credit = equity_above_credit OR $3
				WHERE credit_account = $1 AND status = 'open' AND credit_to = 'trading_account' AND credited_at IS NOT NULL
				RETURNING id, equity_above_credit`, id, s.o.Now().UTC(), st.Equity.GreaterThan(st.Credit))
			if err != nil {
				return err
			}
			type open struct {
				id    uuid.UUID
				armed bool
			}
			var bs []open
			var b open
			if _, err := pgx.ForEachRow(rows, []any{&b.id, &b.armed}, func() error { bs = append(bs, b); return nil }); err != nil {
				return err
			}
			for _, b := range bs {
				if st.Equity.GreaterThan(st.Credit) || (st.Equity.Equal(st.Credit) && !b.armed) {
					continue
				}
				reason := fmt.Sprintf("stop-out on account %s: equity %s, credit %s", st.Login, st.Equity, st.Credit)
				if err := s.closeTx(ctx, tx, b.id, closeWriteOff, engine, reason); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var _ Desk = (*tradingdesk.Service)(nil)
