package tradingdesk

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
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Credit operations (trading_credits; docs/trading/desk.md "Credit operations"): credit_in and credit_out on a
// client's trading account, asked by another room (the bonus engine) inside its own transaction and carried to the
// platform by the worker the way transfers are:
//
//   - CreditTx records the operation under the caller's key (a second call with the key finds the first: a
//     redelivered grant asks once) and queues tradingdesk:credit through the outbox in the caller's transaction, so
//     the operation exists exactly when the caller's change commits.
//   - The worker claims the row, counts each call before sending it, and calls BalanceOperation with the row's id
//     as the operation id: every connector moves money at most once per id, so a lost answer asked again is
//     answered Replayed and nothing is credited twice.
//   - A credit_out waits for the operation it names (After: the bonus's credit_in) to finish; when that one failed
//     nothing was credited and the credit_out is done having moved nothing. Before its first call it reads the
//     account and takes out at most the credit the account has (a dealer may have removed some by hand): what it
//     moved is recorded beside what was asked.
//   - A refusal fails the operation; the task's last attempt fails one that never reached the platform, and leaves
//     one that may have (a call sent, no answer) pending with outcome_unknown, audited and logged for finance.
//   - Every end (done or failed) publishes trading.credit_finished in its transaction: the bonus engine learns that
//     its credit landed, or was refused.
//
// The desk posts nothing to the ledger for credits: a credit is not the client's money (it cannot be withdrawn),
// and the room that asked keeps its ledger side (docs/bonuses.md).

// CreditOrder is another room's credit operation on a trading account.
type CreditOrder struct {
	// Key makes the operation once: a second CreditTx with the key answers the first operation.
	Key     string
	Account uuid.UUID
	Kind    trading.BalanceKind // trading.CreditIn or trading.CreditOut
	Amount  int64               // minor units of the account's currency, > 0
	// After is the key of an operation that must finish first ("": none).
	After string
	// Comment is for the platform's records and the trail ("Bonus 2nd deposit 50%").
	Comment string
	// By names who asked, for the trail ("bonuses").
	By string
}

// Credit is one credit operation.
type Credit struct {
	ID             uuid.UUID
	Key            string
	ClientID       uuid.UUID
	ClientName     string
	AccountID      uuid.UUID
	Login          string
	ServerID       uuid.UUID
	ServerName     string
	Kind           trading.BalanceKind
	Amount         money.Amount
	Moved          *int64
	After          string
	Comment        string
	Status         RequestStatus
	OutcomeUnknown bool
	Ticket         string
	Calls          int
	Failure        string
	CreatedBy      string
	CreatedAt      time.Time
	FinishedAt     *time.Time
}

// EventCreditFinished: a credit operation is done or failed (CreditFinished).
const EventCreditFinished = "trading.credit_finished"

// CreditFinished is the payload of trading.credit_finished.
type CreditFinished struct {
	CreditID  uuid.UUID           `json:"credit_id"`
	Key       string              `json:"key"`
	ClientID  uuid.UUID           `json:"client_id"`
	AccountID uuid.UUID           `json:"account_id"`
	Login     string              `json:"login"`
	Kind      trading.BalanceKind `json:"kind"`
	Currency  string              `json:"currency"`
	Amount    int64               `json:"amount"`
	Moved     int64               `json:"moved"`
	Status    RequestStatus       `json:"status"`
	Failure   string              `json:"failure,omitempty"`
}

// EventType names the event.
func (CreditFinished) EventType() string { return EventCreditFinished }

// TaskCredit carries a credit operation to the platform (queue sync, keyed by the operation).
const TaskCredit = "tradingdesk:credit"

type creditTask struct {
	CreditID uuid.UUID `json:"credit_id"`
}

// Audit actions of credit operations.
const (
	ActionCreditRequested = "trading.credit_requested"
	ActionCreditDone      = "trading.credit_done"
	ActionCreditFailed    = "trading.credit_failed"
	ActionCreditUnknown   = "trading.credit_outcome_unknown"
	ActionCreditRetried   = "trading.credit_retried"
	creditTarget          = "trading_credit"
)

// ErrCreditKind: a credit order that is neither credit_in nor credit_out, or has no amount or key.
var ErrCreditKind = errors.New("tradingdesk: a credit operation is a credit_in or credit_out of a positive amount under a key")

// CreditAccountTx is the account a credit in currency goes to for client: the client's active account on a live
// server in that currency, opened first; ok is false when the client has none.
func (s *Service) CreditAccountTx(ctx context.Context, tx pgx.Tx, client uuid.UUID, currency string) (Account, bool, error) {
	rows, err := tx.Query(ctx, accountSelect+` WHERE t.client_id = $1 AND t.currency = $2 AND t.status = 'active' AND s.live
		ORDER BY t.created_at, t.id LIMIT 1`, client, currency)
	if err != nil {
		return Account{}, false, err
	}
	accs, err := scanAccounts(rows)
	if err != nil || len(accs) == 0 {
		return Account{}, false, err
	}
	return accs[0], true, nil
}

// CreditTx records a credit operation and queues it, in tx (the caller's transaction); an operation with o.Key
// already recorded is answered as it is. ErrNotFound for an account that is not the tenant's.
func (s *Service) CreditTx(ctx context.Context, tx pgx.Tx, o CreditOrder) (Credit, error) {
	if (o.Kind != trading.CreditIn && o.Kind != trading.CreditOut) || o.Amount <= 0 || o.Key == "" || len(o.Key) > 200 {
		return Credit{}, ErrCreditKind
	}
	if x, err := creditTx(ctx, tx, `x.key = $1`, o.Key); err == nil || !errors.Is(err, ErrNotFound) {
		return x, err
	}
	var client uuid.UUID
	var cur string
	err := tx.QueryRow(ctx, `SELECT client_id, currency FROM trading_accounts WHERE id = $1`, o.Account).Scan(&client, &cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return Credit{}, fmt.Errorf("%w: trading account %s", ErrNotFound, o.Account)
	}
	if err != nil {
		return Credit{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Credit{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO trading_credits (id, key, client_id, account_id, kind, amount, currency, after_key, comment, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, id, o.Key, client, o.Account, string(o.Kind), o.Amount, cur, o.After,
		o.Comment, o.By); err != nil {
		return Credit{}, fmt.Errorf("tradingdesk: record the credit operation: %w", err)
	}
	if err := s.queueCredit(ctx, tx, id, "credit:"+id.String()); err != nil {
		return Credit{}, err
	}
	x, err := creditTx(ctx, tx, `x.id = $1`, id)
	if err != nil {
		return Credit{}, err
	}
	return x, s.o.Audit.Record(ctx, tx, audit.Entry{Actor: audit.System(o.By), Action: ActionCreditRequested,
		Target: audit.Target{Type: creditTarget, ID: id.String()}, After: creditView(x)})
}

func (s *Service) queueCredit(ctx context.Context, tx pgx.Tx, id uuid.UUID, key string) error {
	_, err := (jobs.Outbox{}).Add(ctx, tx, TaskCredit, key, creditTask{CreditID: id},
		jobs.InQueue(jobs.QueueSync), jobs.WithMaxRetry(transferRetries), jobs.WithTimeout(2*s.o.CheckTimeout))
	return err
}

// creditView is a credit operation in the audit trail.
func creditView(x Credit) map[string]any {
	v := map[string]any{"kind": x.Kind, "amount": x.Amount.Decimal(), "currency": x.Amount.Currency.Code, "login": x.Login,
		"server": x.ServerName, "client": x.ClientName, "status": x.Status, "comment": x.Comment}
	if x.Moved != nil {
		v["moved"] = money.Amount{Minor: *x.Moved, Currency: x.Amount.Currency}.Decimal()
	}
	return v
}

const creditSelect = `SELECT x.id, x.key, x.client_id, c.first_name || ' ' || c.last_name, x.account_id, t.login, t.server_id, s.name, x.kind,
	x.amount, x.moved, x.currency, x.after_key, x.comment, x.status, x.outcome_unknown, x.ticket, x.calls, x.failure, x.created_by,
	x.created_at, x.finished_at
	FROM trading_credits x JOIN trading_accounts t ON t.id = x.account_id JOIN trading_servers s ON s.id = t.server_id
	JOIN clients c ON c.id = x.client_id`

func scanCredits(rows pgx.Rows) ([]Credit, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Credit, error) {
		var x Credit
		var cur string
		if err := row.Scan(&x.ID, &x.Key, &x.ClientID, &x.ClientName, &x.AccountID, &x.Login, &x.ServerID, &x.ServerName, &x.Kind,
			&x.Amount.Minor, &x.Moved, &cur, &x.After, &x.Comment, &x.Status, &x.OutcomeUnknown, &x.Ticket, &x.Calls, &x.Failure,
			&x.CreatedBy, &x.CreatedAt, &x.FinishedAt); err != nil {
			return x, err
		}
		c, err := currencyOf(cur)
		x.Amount.Currency = c
		return x, err
	})
}

func creditTx(ctx context.Context, tx pgx.Tx, where string, args ...any) (Credit, error) {
	return oneTx(ctx, tx, "credit operation", creditSelect+` WHERE `+where, scanCredits, args...)
}

// GetCredit reads one credit operation.
func (s *Service) GetCredit(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Credit, error) {
	var out Credit
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = creditTx(ctx, tx, `x.id = $1`, id)
		return err
	})
	return out, err
}

// Credits lists credit operations, newest first: with unknown, only the pending ones whose outcome is unknown;
// with client set, only that client's (up to 200).
func (s *Service) Credits(ctx context.Context, t tenants.Tenant, client uuid.UUID, unknown bool) ([]Credit, error) {
	var out []Credit
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, creditSelect+` WHERE ($1::uuid IS NULL OR x.client_id = $1) AND (NOT $2 OR (x.status = 'pending' AND x.outcome_unknown))
			ORDER BY x.created_at DESC, x.id DESC LIMIT 200`, nullID(client), unknown)
		if err != nil {
			return err
		}
		out, err = scanCredits(rows)
		return err
	})
	return out, err
}

// CreditCounts are the credit operations finance acts on: pending with an unknown outcome, and refused this week.
func (s *Service) CreditCounts(ctx context.Context, t tenants.Tenant) (unknown, failed int, err error) {
	err = s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending' AND outcome_unknown),
			count(*) FILTER (WHERE status = 'failed' AND finished_at > now() - interval '7 days')
			FROM trading_credits WHERE status <> 'done'`).Scan(&unknown, &failed)
	})
	return unknown, failed, err
}

// clientCredits are every credit operation of the client's accounts, oldest first, as its export shows them.
func (s *Service) clientCredits(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]CreditResponse, error) {
	out := []CreditResponse{}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, creditSelect+` WHERE x.client_id = $1 ORDER BY x.created_at, x.id`, client)
		if err != nil {
			return err
		}
		xs, err := scanCredits(rows)
		for _, x := range xs {
			out = append(out, ToCreditResponse(x))
		}
		return err
	})
	return out, err
}

// RetryCredit asks the platform again about a pending credit operation (finance's action once the server answers
// again, for one whose outcome is unknown): a new run calls with the same operation id, so the platform either
// answers Replayed (it was booked) or books it now, or refuses it. ErrNotFound when it is not pending;
// ErrTooLateToRetry past RetryWindow (the platform may no longer recognise the id).
func (s *Service) RetryCredit(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID) (Credit, error) {
	var out Credit
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var n int
		var late bool
		err := tx.QueryRow(ctx, `SELECT calls, calls > 0 AND created_at < now() - make_interval(secs => $2) FROM trading_credits
			WHERE id = $1 AND status = 'pending' FOR UPDATE`, id, RetryWindow.Seconds()).Scan(&n, &late)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if late {
			return ErrTooLateToRetry
		}
		if _, err := tx.Exec(ctx, `UPDATE trading_credits SET outcome_unknown = false, updated_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		if err := s.queueCredit(ctx, tx, id, "credit:"+id.String()+":retry:"+strconv.Itoa(n)+":"+uuid.NewString()[:8]); err != nil {
			return err
		}
		if out, err = creditTx(ctx, tx, `x.id = $1`, id); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionCreditRetried,
			Target: audit.Target{Type: creditTarget, ID: id.String()}, After: creditView(out)})
	})
	return out, err
}

// AccountStates reads the money state of the accounts from their platforms, through each server's shared session
// (worker only: it calls the platform). An account the platform would not answer for (its server in backoff,
// down, the login unknown there) is left out of the answer: the caller asks again at its next run.
func (s *Service) AccountStates(ctx context.Context, t tenants.Tenant, ids []uuid.UUID) (map[uuid.UUID]trading.Account, error) {
	type acct struct {
		id     uuid.UUID
		server uuid.UUID
		login  string
	}
	var accs []acct
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT t.id, t.server_id, t.login FROM trading_accounts t JOIN trading_servers s ON s.id = t.server_id
			WHERE t.id = ANY($1) AND s.enabled ORDER BY t.server_id, t.login`, ids)
		if err != nil {
			return err
		}
		var a acct
		_, err = pgx.ForEachRow(rows, []any{&a.id, &a.server, &a.login}, func() error { accs = append(accs, a); return nil })
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]trading.Account, len(accs))
	for i := 0; i < len(accs); {
		j := i
		for j < len(accs) && accs[j].server == accs[i].server {
			j++
		}
		tg, err := s.target(ctx, t, accs[i].server)
		if err != nil {
			return nil, err
		}
		_ = s.sessions.Use(ctx, tg, false, func(c trading.Connector) error {
			for _, a := range accs[i:j] {
				st, err := c.Account(ctx, a.login)
				if errors.Is(err, trading.ErrUnavailable) || errors.Is(err, trading.ErrAuthFailed) || errors.Is(err, trading.ErrRateLimited) {
					return err // the session is no good: the rest of the server waits for the next run
				}
				if err == nil {
					out[a.id] = st
				}
			}
			return nil
		})
		i = j
	}
	return out, ctx.Err()
}

// handleCredit runs TaskCredit: at Asynq's last attempt an unknown outcome is recorded for finance.
func (s *Service) handleCredit(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p creditTask
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("%w: %s payload: %v", jobs.SkipRetry, TaskCredit, err)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	max, ok := asynq.GetMaxRetry(ctx)
	err := s.RunCredit(ctx, t, p.CreditID, !ok || retried >= max)
	if errors.Is(err, errFailed) {
		return nil
	}
	return err
}

// errWaiting: a credit_out whose credit_in has not finished yet.
var errWaiting = errors.New("tradingdesk: the credit operation waits for the one before it")

// RunCredit carries credit operation id to the platform; one that is no longer pending is left alone. A refusal
// fails it; any other error is returned for the task to retry, and with final set it fails an operation the
// platform never heard of and marks one it may have acted on outcome unknown (both wrap errFailed).
func (s *Service) RunCredit(ctx context.Context, t tenants.Tenant, id uuid.UUID, final bool) error {
	x, err := s.GetCredit(ctx, t, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || x.Status != RequestPending {
		return err
	}
	release, err := s.claimRow(ctx, t, "trading_credits", id)
	if err != nil {
		return err
	}
	defer release()
	if x, err = s.GetCredit(ctx, t, id); err != nil || x.Status != RequestPending {
		return err
	}
	if x.After != "" {
		var before RequestStatus
		var found bool
		err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
			err := tx.QueryRow(ctx, `SELECT status FROM trading_credits WHERE key = $1`, x.After).Scan(&before)
			found = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
		switch {
		case err != nil:
			return err
		case found && before == RequestPending && final:
			cause := fmt.Errorf("%w: the credit it takes out never finished on the platform", errWaiting)
			if ferr := s.finishCredit(ctx, t, x, RequestFailed, 0, trading.BalanceResult{}, cause); ferr != nil {
				return ferr
			}
			return fmt.Errorf("%w: %v", errFailed, cause)
		case found && before == RequestPending:
			return errWaiting
		case found && before == RequestFailed && x.Calls == 0:
			x.Comment += "; nothing was credited" // its credit_in failed: nothing to take out
			return s.finishCredit(ctx, t, x, RequestDone, 0, trading.BalanceResult{}, nil)
		}
	}
	res, moved, err := s.creditOnce(ctx, t, &x)
	switch {
	case err == nil:
		return s.finishCredit(ctx, t, x, RequestDone, moved, res, nil)
	case refusedTransfer(err), final && x.Calls == 0:
		if ferr := s.finishCredit(ctx, t, x, RequestFailed, 0, res, err); ferr != nil {
			return ferr
		}
		return fmt.Errorf("%w: %v", errFailed, err)
	case final:
		if uerr := s.unknownCredit(ctx, t, x, err); uerr != nil {
			return uerr
		}
		return fmt.Errorf("%w: %v", errFailed, err)
	}
	return err
}

// creditOnce is one run's platform call. A credit_out reads the account before its first call and takes out at
// most the credit it has; none: no call, nothing moved.
func (s *Service) creditOnce(ctx context.Context, t tenants.Tenant, x *Credit) (trading.BalanceResult, int64, error) {
	tg, err := s.target(ctx, t, x.ServerID)
	if err != nil {
		return trading.BalanceResult{}, 0, err
	}
	moved := x.Amount.Minor
	var res trading.BalanceResult
	err = s.sessions.Use(ctx, tg, true, func(c trading.Connector) error {
		if x.Kind == trading.CreditOut && x.Calls == 0 {
			acc, err := c.Account(ctx, x.Login)
			if err != nil {
				return err
			}
			if has := toMinor(acc.Credit, x.Amount.Currency); has < moved {
				moved = max(has, 0)
			}
			if moved == 0 {
				return nil
			}
		}
		if x.Kind == trading.CreditOut && x.Calls > 0 && x.Moved != nil {
			moved = *x.Moved
		}
		if err := s.countCreditCall(ctx, t, x, moved); err != nil {
			return err
		}
		var err error
		res, err = c.BalanceOperation(ctx, trading.BalanceOp{Login: x.Login, Kind: x.Kind, OperationID: operationID(x.ID),
			Amount: decimal.New(moved, -int32(x.Amount.Currency.Exponent)), Comment: shortComment(x.Comment)})
		return err
	})
	return res, moved, err
}

// shortComment keeps the platform's comment short (MT5 keeps 32 characters beside the operation's tag).
func shortComment(c string) string {
	if c == "" {
		return "BrokerDesk credit"
	}
	if r := []rune(c); len(r) > 24 {
		return string(r[:24])
	}
	return c
}

// countCreditCall raises the call count and keeps the amount the call asks (so a retry asks the same amount
// under the same operation id), committed before the call.
func (s *Service) countCreditCall(ctx context.Context, t tenants.Tenant, x *Credit, moved int64) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE trading_credits SET calls = calls + 1, moved = $2, updated_at = now() WHERE id = $1
			RETURNING calls, moved`, x.ID, moved).Scan(&x.Calls, &x.Moved)
	})
}

// finishCredit records the operation's end (done with what moved, or failed with the cause), publishes
// trading.credit_finished and audits it, in one transaction.
func (s *Service) finishCredit(ctx context.Context, t tenants.Tenant, x Credit, status RequestStatus, moved int64, res trading.BalanceResult, cause error) error {
	reason := ""
	if cause != nil {
		reason = failureText(cause)
		if errors.Is(cause, errWaiting) {
			reason = strings.TrimPrefix(cause.Error(), errWaiting.Error()+": ")
		}
	}
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE trading_credits SET status = $2, moved = CASE WHEN $2 = 'done' THEN $3::bigint END, ticket = $4,
			failure = $5, outcome_unknown = false, finished_at = now(), updated_at = now() WHERE id = $1 AND status = 'pending'`,
			x.ID, string(status), moved, res.Ticket, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		x.Status, x.Failure = status, reason
		if status == RequestDone {
			x.Moved = &moved
		}
		if err := s.o.Events.Publish(ctx, tx, t, CreditFinished{CreditID: x.ID, Key: x.Key, ClientID: x.ClientID, AccountID: x.AccountID,
			Login: x.Login, Kind: x.Kind, Currency: x.Amount.Currency.Code, Amount: x.Amount.Minor, Moved: moved, Status: status,
			Failure: reason}); err != nil {
			return err
		}
		action := ActionCreditDone
		if status == RequestFailed {
			action = ActionCreditFailed
		}
		after := creditView(x)
		after["reason"], after["ticket"], after["replayed"] = reason, res.Ticket, res.Replayed
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: action, Target: audit.Target{Type: creditTarget, ID: x.ID.String()},
			Before: map[string]any{"status": RequestPending}, After: after})
	})
	if err == nil && status == RequestFailed {
		s.o.Log.WarnContext(tenants.WithTenant(ctx, t), "credit operation failed", "credit", x.ID, "server", x.ServerName, "reason", reason)
	}
	return err
}

// unknownCredit records that the task's retries ran out after a call whose outcome is unknown: the operation
// stays pending for finance (the platform is asked again by the same id when it is run again).
func (s *Service) unknownCredit(ctx context.Context, t tenants.Tenant, x Credit, cause error) error {
	reason := failureText(cause)
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE trading_credits SET outcome_unknown = true, failure = $2, updated_at = now()
			WHERE id = $1 AND status = 'pending' AND NOT outcome_unknown`, x.ID, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		after := creditView(x)
		after["reason"] = reason
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionCreditUnknown,
			Target: audit.Target{Type: creditTarget, ID: x.ID.String()}, After: after})
	})
	if err == nil {
		s.o.Log.ErrorContext(tenants.WithTenant(ctx, t), "credit operation outcome unknown: finance must check it", "credit", x.ID,
			"server", x.ServerName, "reason", reason)
	}
	return err
}
