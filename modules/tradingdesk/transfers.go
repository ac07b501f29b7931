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
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Transfers between a client's wallet and their trading account (trading_transfers; docs/trading/desk.md
// "Transfers"). The ledger and the platform are two systems that cannot commit together, so the order of writes is
// what keeps money from being created, lost or moved twice:
//
//   - To the account: the request's transaction holds the amount on the client's wallet (ledger.HoldTx, key
//     transfer:<id>, into the server's trading_server account), records the transfer and queues its task through
//     the outbox, all at once: the available balance drops before the platform hears of it, and two transfers can
//     never spend the same money (the ledger checks under the wallet's row lock). The worker then deposits on the
//     platform with the transfer's id as operation id; on success it posts the hold, on a refusal it voids it. A
//     lost answer is asked again with the same id, which the platform answers Replayed: the money moves there once.
//   - To the wallet: nothing is held (the money is on the platform). The worker reads the account's free margin
//     before the first call and fails the transfer if it is short; then it withdraws on the platform with the id
//     and, on success, posts trading_server -> wallet under the key transfer:<id>. A run killed between the two
//     finds the withdrawal Replayed at its next call and posts then: the key makes the post once.
//   - Before every platform call the transfer's call count is raised and committed. A transfer whose task runs out
//     of retries after a call was sent has an unknown outcome: it stays pending with outcome_unknown set and its hold
//     untouched, for finance, whose Retry asks the platform again by the same id. One that never reached the
//     platform fails (its hold voided): nothing happened there.
//   - Runs claim the transfer (claimed_until) as account requests do, so two deliveries never call at once.

// TransferDirection says which way money moves.
type TransferDirection string

const (
	ToAccount TransferDirection = "to_account" // wallet -> trading account
	ToWallet  TransferDirection = "to_wallet"  // trading account -> wallet
)

// Transfer is one transfer (trading_transfers).
type Transfer struct {
	ID             uuid.UUID
	ClientID       uuid.UUID
	ClientName     string
	AccountID      uuid.UUID
	Login          string
	ServerID       uuid.UUID
	ServerName     string
	Direction      TransferDirection
	Amount         money.Amount
	Status         RequestStatus
	OutcomeUnknown bool
	HoldTx         *uuid.UUID
	LedgerTx       *uuid.UUID
	Ticket         string
	Calls          int
	Failure        string
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	FinishedAt     *time.Time
}

// Outcome is the transfer's state in words for the client.
func (x Transfer) Outcome() string {
	amt := x.Amount.String()
	switch {
	case x.Status == RequestDone && x.Direction == ToAccount:
		return fmt.Sprintf("%s moved from your wallet to account %s.", amt, x.Login)
	case x.Status == RequestDone:
		return fmt.Sprintf("%s moved from account %s to your wallet.", amt, x.Login)
	case x.Status == RequestFailed:
		return fmt.Sprintf("The transfer of %s did not go through: %s. No money moved.", amt, x.Failure)
	case x.OutcomeUnknown:
		return fmt.Sprintf("The transfer of %s is being checked with the trading server; our finance team is on it.", amt)
	case x.Direction == ToAccount:
		return fmt.Sprintf("%s is reserved in your wallet and on its way to account %s.", amt, x.Login)
	}
	return fmt.Sprintf("%s is on its way from account %s to your wallet.", amt, x.Login)
}

// TransferInput is a client's transfer: the account (its id), the direction, and the amount as a decimal string
// in currency, which must be the account's (and so the wallet's).
type TransferInput struct {
	Account   uuid.UUID
	Direction TransferDirection
	Amount    string
	Currency  string
}

// Ledger is what transfers need of the ledger (*ledger.Service): money moves inside the desk's transaction; the
// portal page shows the client's wallets.
type Ledger interface {
	ClientBalances(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]ledger.Balance, error)
	PostTx(ctx context.Context, tx pgx.Tx, e ledger.Entry) (ledger.Transaction, error)
	HoldTx(ctx context.Context, tx pgx.Tx, e ledger.Entry) (ledger.Transaction, error)
	PostHoldTx(ctx context.Context, tx pgx.Tx, key string, holdID uuid.UUID, amount int64, description string) (ledger.Transaction, error)
	VoidHoldTx(ctx context.Context, tx pgx.Tx, key string, holdID uuid.UUID, description string) (ledger.Transaction, error)
}

// TaskTransfer moves a transfer's money on the platform (through the outbox, queue sync, keyed by the transfer).
const TaskTransfer = "tradingdesk:transfer"

type transferTask struct {
	TransferID uuid.UUID `json:"transfer_id"`
}

// Audit actions of transfers.
const (
	ActionTransferRequested = "trading.transfer_requested"
	ActionTransferDone      = "trading.transfer_done"
	ActionTransferFailed    = "trading.transfer_failed"
	ActionTransferUnknown   = "trading.transfer_outcome_unknown"
	ActionTransferRetried   = "trading.transfer_retried"
	transferTarget          = "trading_transfer"
	transferRetries         = 8
)

// ErrNoSuchAccount: the transfer names an account that is not the client's (or none): not found, like any id of
// another client's or tenant's.
var ErrNoSuchAccount = fmt.Errorf("%w: no such trading account of yours", ErrNotFound)

// ErrNoLedger: the desk was built without a ledger, so it cannot move money.
var ErrNoLedger = errors.New("tradingdesk: transfers need the ledger")

// RequestTransfer records a client's transfer and queues its platform call in one transaction: the policy gate
// (internal_transfer) must allow it, the account must be the client's, live (a demo account's money is not real) and
// active, the amount positive and within its currency's decimals (and, the first time money goes to the account, at
// least its type's smallest first deposit), and the currency the account's (no FX). A transfer to the account
// holds the amount on the wallet now: a wallet that does not cover it is refused with what it has available.
func (s *Service) RequestTransfer(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, in TransferInput) (Transfer, error) {
	if s.o.Ledger == nil {
		return Transfer{}, ErrNoLedger
	}
	var out Transfer
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var f validation.Fields
		in.Currency = strings.ToUpper(strings.TrimSpace(in.Currency))
		f.Check(in.Account != uuid.Nil, "account", "is required")
		f.Check(in.Direction == ToAccount || in.Direction == ToWallet, "direction", "to_account or to_wallet")
		f.Required("amount", in.Amount)
		f.Required("currency", in.Currency)
		if err := f.Err(); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, accountSelect+` WHERE t.id = $1 AND t.client_id = $2`, in.Account, clientID)
		if err != nil {
			return err
		}
		accs, err := scanAccounts(rows)
		if err != nil {
			return err
		}
		if len(accs) == 0 {
			return ErrNoSuchAccount
		}
		acc := accs[0]
		if !acc.Live {
			return validation.New("account", fmt.Sprintf("account %s is a demo account: it trades with practice money, which never leaves it or comes from your wallet", acc.Login))
		}
		if acc.Status != "active" {
			return validation.New("account", fmt.Sprintf("account %s is %s: money cannot move to or from it now", acc.Login, acc.Status))
		}
		if in.Currency != acc.Currency.Code {
			return validation.New("currency", fmt.Sprintf("account %s is in %s, so the transfer must be in %s too: transfers between currencies are not offered yet",
				acc.Login, acc.Currency.Code, acc.Currency.Code))
		}
		minor, err := money.Parse(strings.TrimSpace(in.Amount), acc.Currency)
		switch {
		case err != nil:
			return validation.New("amount", fmt.Sprintf("an amount in %s with at most %d decimals, e.g. 250.00", acc.Currency.Code, acc.Currency.Exponent))
		case minor <= 0:
			return validation.New("amount", "must be more than zero")
		case minor > ledger.MaxAmount:
			return validation.New("amount", "is more than any transfer may move")
		}
		if in.Direction == ToAccount {
			if err := firstDepositTx(ctx, tx, acc, minor); err != nil {
				return err
			}
		}
		d, err := s.o.Clients.MayTx(ctx, tx, clientID, clients.ActionInternalTransfer)
		if err != nil {
			return err
		}
		if !d.Allowed {
			return fmt.Errorf("%w: %s", ErrNotAllowed, d.ForClient)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		amt := money.Amount{Minor: minor, Currency: acc.Currency}
		var hold *uuid.UUID
		if in.Direction == ToAccount {
			h, err := s.o.Ledger.HoldTx(ctx, tx, ledger.Entry{Key: "transfer:" + id.String(), Kind: "transfer_hold",
				Description: "Transfer to trading account " + acc.Login, Metadata: map[string]any{"transfer": id, "login": acc.Login},
				Postings: []ledger.Posting{{Account: ledger.ClientWallet(clientID, acc.Currency), Amount: -minor},
					{Account: ledger.TradingServer(acc.ServerID, acc.Currency), Amount: minor}}})
			var short *ledger.InsufficientFundsError
			if errors.As(err, &short) {
				return validation.New("amount", fmt.Sprintf("your wallet has %s available", money.Amount{Minor: short.Available, Currency: acc.Currency}))
			}
			if err != nil {
				return err
			}
			hold = &h.ID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO trading_transfers (id, client_id, account_id, direction, amount, currency, hold_tx, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, clientID, acc.ID, string(in.Direction), minor, acc.Currency.Code, hold,
			"client:"+clientID.String()); err != nil {
			return fmt.Errorf("tradingdesk: record the transfer: %w", err)
		}
		if err := s.queueTransfer(ctx, tx, id, "transfer:"+id.String()); err != nil {
			return err
		}
		if out, err = transferTx(ctx, tx, `x.id = $1`, id); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorClient, ID: clientID.String()},
			Action: ActionTransferRequested, Target: audit.Target{Type: transferTarget, ID: id.String()}, After: transferView(out, amt)})
	})
	return out, err
}

// firstDepositTx refuses (422 naming amount) a first deposit to acc below its account type's smallest first deposit
// in the account's currency. The first is the one before any transfer to the account that is pending or done; an
// account linked with money the platform held before the CRM knew it (opening_balance_at) has had its first.
func firstDepositTx(ctx context.Context, tx pgx.Tx, acc Account, minor int64) error {
	typ, err := accountTypeTx(ctx, tx, `a.id = $1`, acc.TypeID)
	if err != nil {
		return err
	}
	least := typ.MinFirstDeposit[acc.Currency.Code]
	if minor >= least {
		return nil
	}
	var funded bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM trading_transfers WHERE account_id = $1 AND direction = 'to_account'
			AND status IN ('pending', 'done')) OR (SELECT opening_balance_at IS NOT NULL FROM trading_accounts WHERE id = $1)`,
		acc.ID).Scan(&funded); err != nil {
		return fmt.Errorf("tradingdesk: the account's first deposit: %w", err)
	}
	if funded {
		return nil
	}
	return validation.New("amount", fmt.Sprintf("the first deposit to a %s account is at least %s", typ.Name,
		money.Amount{Minor: least, Currency: acc.Currency}))
}

func (s *Service) queueTransfer(ctx context.Context, tx pgx.Tx, id uuid.UUID, key string) error {
	_, err := (jobs.Outbox{}).Add(ctx, tx, TaskTransfer, key, transferTask{TransferID: id},
		jobs.InQueue(jobs.QueueSync), jobs.WithMaxRetry(transferRetries), jobs.WithTimeout(2*s.o.CheckTimeout))
	return err
}

// transferView is a transfer in the audit trail.
func transferView(x Transfer, amt money.Amount) map[string]any {
	return map[string]any{"direction": x.Direction, "amount": amt.Decimal(), "currency": amt.Currency.Code, "login": x.Login,
		"server": x.ServerName, "client": x.ClientName, "status": x.Status}
}

const transferSelect = `SELECT x.id, x.client_id, c.first_name || ' ' || c.last_name, x.account_id, t.login, t.server_id, s.name, x.direction,
	x.amount, x.currency, x.status, x.outcome_unknown, x.hold_tx, x.ledger_tx, x.ticket, x.calls, x.failure, x.created_by, x.created_at,
	x.updated_at, x.finished_at
	FROM trading_transfers x JOIN trading_accounts t ON t.id = x.account_id JOIN trading_servers s ON s.id = t.server_id
	JOIN clients c ON c.id = x.client_id`

func scanTransfers(rows pgx.Rows) ([]Transfer, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Transfer, error) {
		var x Transfer
		var cur string
		if err := row.Scan(&x.ID, &x.ClientID, &x.ClientName, &x.AccountID, &x.Login, &x.ServerID, &x.ServerName, &x.Direction,
			&x.Amount.Minor, &cur, &x.Status, &x.OutcomeUnknown, &x.HoldTx, &x.LedgerTx, &x.Ticket, &x.Calls, &x.Failure, &x.CreatedBy,
			&x.CreatedAt, &x.UpdatedAt, &x.FinishedAt); err != nil {
			return x, err
		}
		c, err := currencyOf(cur)
		x.Amount.Currency = c
		return x, err
	})
}

func transferTx(ctx context.Context, tx pgx.Tx, where string, args ...any) (Transfer, error) {
	return oneTx(ctx, tx, "transfer", transferSelect+` WHERE `+where, scanTransfers, args...)
}

// GetTransfer reads one transfer; with client set, only that client's (another's is ErrNotFound).
func (s *Service) GetTransfer(ctx context.Context, t tenants.Tenant, id, client uuid.UUID) (Transfer, error) {
	var out Transfer
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = transferTx(ctx, tx, `x.id = $1 AND ($2::uuid IS NULL OR x.client_id = $2)`, id, nullID(client))
		return err
	})
	return out, err
}

// TransferFilter narrows the transfers list. Unknown lists the pending transfers whose outcome is unknown.
type TransferFilter struct {
	Status  RequestStatus // "" any
	Unknown bool
	Client  uuid.UUID // uuid.Nil any
	Limit   int       // default and most 200; -1 every one (a client's data export)
}

// Transfers lists transfers, newest first.
func (s *Service) Transfers(ctx context.Context, t tenants.Tenant, f TransferFilter) ([]Transfer, error) {
	var limit *int
	if f.Limit == 0 || f.Limit > 200 {
		f.Limit = 200
	}
	if f.Limit > 0 {
		limit = &f.Limit
	}
	var out []Transfer
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, transferSelect+` WHERE ($1 = '' OR x.status = $1) AND (NOT $2 OR x.outcome_unknown)
			AND ($3::uuid IS NULL OR x.client_id = $3) ORDER BY x.created_at DESC, x.id LIMIT $4`,
			string(f.Status), f.Unknown, nullID(f.Client), limit)
		if err != nil {
			return err
		}
		out, err = scanTransfers(rows)
		return err
	})
	return out, err
}

// TransferCounts counts the transfers finance should look at: failed ones, pending ones older than stuck, and
// those whose outcome is unknown (the dashboard's tile).
func (s *Service) TransferCounts(ctx context.Context, t tenants.Tenant, stuck time.Duration) (failed, pending, unknown int, err error) {
	err = s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'failed' AND finished_at > now() - interval '7 days'),
			count(*) FILTER (WHERE status = 'pending' AND NOT outcome_unknown AND created_at < now() - make_interval(secs => $1)),
			count(*) FILTER (WHERE status = 'pending' AND outcome_unknown)
			FROM trading_transfers WHERE status <> 'done'`, stuck.Seconds()).Scan(&failed, &pending, &unknown)
	})
	return failed, pending, unknown, err
}

// RetryWindow is how long after a transfer's first call the platform can still be asked about it by its operation
// id. The MT5 connector finds an earlier operation by the tag in its deal's comment among the account's deals of its
// idempotency window (seven days by default, mt5.DefaultIdempotencyWindow); asked later, it would not find a deposit
// that happened and would make it again. A day's margin is left.
const RetryWindow = 6 * 24 * time.Hour

// ErrTooLateToRetry: the transfer's first call is older than RetryWindow: finance compares the platform's records
// with the transfer by hand.
var ErrTooLateToRetry = errors.New("tradingdesk: the transfer is too old to ask the platform again by its id")

// RetryTransfer asks the platform again about a pending transfer whose outcome is unknown (finance's action): a new
// run calls with the same operation id, so the platform either answers Replayed (the money had moved) or moves it
// now; the transfer then completes, or fails if the platform refuses. A transfer whose call is older than
// RetryWindow is refused (ErrTooLateToRetry).
func (s *Service) RetryTransfer(ctx context.Context, t tenants.Tenant, actor audit.Actor, id uuid.UUID) (Transfer, error) {
	var out Transfer
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var n int
		var late bool
		err := tx.QueryRow(ctx, `SELECT calls, calls > 0 AND created_at < now() - make_interval(secs => $2) FROM trading_transfers
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
		if _, err := tx.Exec(ctx, `UPDATE trading_transfers SET outcome_unknown = false, updated_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		if err := s.queueTransfer(ctx, tx, id, "transfer:"+id.String()+":retry:"+strconv.Itoa(n)+":"+uuid.NewString()[:8]); err != nil {
			return err
		}
		if out, err = transferTx(ctx, tx, `x.id = $1`, id); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionTransferRetried,
			Target: audit.Target{Type: transferTarget, ID: id.String()}, After: transferView(out, out.Amount)})
	})
	return out, err
}

// handleTransfer runs TaskTransfer: at Asynq's last attempt an unknown outcome is recorded for finance.
func (s *Service) handleTransfer(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var p transferTask
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("%w: %s payload: %v", jobs.SkipRetry, TaskTransfer, err)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	max, ok := asynq.GetMaxRetry(ctx)
	err := s.RunTransfer(ctx, t, p.TransferID, !ok || retried >= max)
	if errors.Is(err, errFailed) {
		return nil
	}
	return err
}

// RunTransfer moves transfer id's money on the platform and in the ledger; a transfer that is no longer pending
// is left alone. A refusal by the platform (or a free margin short of the amount) fails it; any other error is
// returned for the task to retry, and with final set it fails a transfer the platform never heard of, and marks
// one it may have acted on outcome unknown (both wrap errFailed).
func (s *Service) RunTransfer(ctx context.Context, t tenants.Tenant, id uuid.UUID, final bool) error {
	if s.o.Ledger == nil {
		return ErrNoLedger
	}
	x, err := s.GetTransfer(ctx, t, id, uuid.Nil)
	if errors.Is(err, ErrNotFound) {
		return nil // not this tenant's, or erased: nothing to move
	}
	if err != nil || x.Status != RequestPending {
		return err
	}
	release, err := s.claimRow(ctx, t, "trading_transfers", id)
	if err != nil {
		return err
	}
	defer release()
	if x, err = s.GetTransfer(ctx, t, id, uuid.Nil); err != nil || x.Status != RequestPending { // as the claim found it
		return err
	}
	res, state, err := s.transferOnce(ctx, t, &x)
	switch {
	case err == nil:
		return s.completeTransfer(ctx, t, x, res, state)
	case errors.Is(err, errShort) || refusedTransfer(err):
		if ferr := s.failTransfer(ctx, t, x, err); ferr != nil {
			return ferr
		}
		return fmt.Errorf("%w: %v", errFailed, err)
	case final && x.Calls == 0:
		if ferr := s.failTransfer(ctx, t, x, err); ferr != nil {
			return ferr
		}
		return fmt.Errorf("%w: %v", errFailed, err)
	case final:
		if uerr := s.unknownTransfer(ctx, t, x, err); uerr != nil {
			return uerr
		}
		return fmt.Errorf("%w: %v", errFailed, err)
	}
	return err
}

// errShort: the account's free margin does not cover a transfer to the wallet.
var errShort = errors.New("tradingdesk: free margin short")

// refusedTransfer reports whether the platform refused the operation itself: asking again is answered the same,
// and the money did not move there.
func refusedTransfer(err error) bool {
	return !errors.Is(err, ErrBackingOff) && (errors.Is(err, trading.ErrInvalidRequest) || errors.Is(err, trading.ErrInsufficientFunds) ||
		errors.Is(err, trading.ErrNotFound) || errors.Is(err, trading.ErrUnsupported))
}

// operationID is the transfer's id as the platform's operation id: 32 characters, the most every connector takes.
func operationID(id uuid.UUID) string { return strings.ReplaceAll(id.String(), "-", "") }

// transferOnce is one run's platform call: for a transfer to the wallet, the free margin is read first (before the
// first call only: after one, the money may already have left the account). x.Calls counts the calls sent. After
// the money moved it reads the account again, so the pages show its balance after the transfer (state is nil when
// that read failed: the money does not wait on it).
func (s *Service) transferOnce(ctx context.Context, t tenants.Tenant, x *Transfer) (trading.BalanceResult, *trading.Account, error) {
	tg, err := s.target(ctx, t, x.ServerID)
	if err != nil {
		return trading.BalanceResult{}, nil, err
	}
	amount := decimal.New(x.Amount.Minor, -int32(x.Amount.Currency.Exponent))
	var res trading.BalanceResult
	var state *trading.Account
	var short error // not the session's failure: Use would drop the session for an error that is not the platform's
	err = s.sessions.Use(ctx, tg, true, func(c trading.Connector) error {
		kind := trading.Deposit
		if x.Direction == ToWallet {
			kind = trading.Withdrawal
			if x.Calls == 0 {
				acc, err := c.Account(ctx, x.Login)
				if err != nil {
					return err
				}
				if acc.FreeMargin.LessThan(amount) {
					short = fmt.Errorf("%w: account %s has %s %s of free margin", errShort, x.Login,
						money.Grouped(toMinor(acc.FreeMargin, x.Amount.Currency), x.Amount.Currency), x.Amount.Currency.Code)
					return nil
				}
			}
		}
		if err := s.countTransferCall(ctx, t, x); err != nil {
			return err
		}
		var err error
		res, err = c.BalanceOperation(ctx, trading.BalanceOp{Login: x.Login, Kind: kind, Amount: amount, OperationID: operationID(x.ID),
			Comment: "BrokerDesk transfer"})
		if err != nil {
			return err
		}
		if acc, err := c.Account(ctx, x.Login); err == nil {
			state = &acc
		}
		return nil
	})
	if err == nil && short != nil {
		err = short
	}
	return res, state, err
}

func (s *Service) countTransferCall(ctx context.Context, t tenants.Tenant, x *Transfer) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE trading_transfers SET calls = calls + 1, updated_at = now() WHERE id = $1 RETURNING calls`, x.ID).Scan(&x.Calls)
	})
}

// completeTransfer moves the money in the ledger as the platform did (the hold posted, or the posting to the
// wallet), records the ticket and the account's balance and equity the platform answered after it, and audits it,
// in one transaction. Its keys make a second run's completion move
// nothing.
func (s *Service) completeTransfer(ctx context.Context, t tenants.Tenant, x Transfer, res trading.BalanceResult, state *trading.Account) error {
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var tr ledger.Transaction
		var err error
		if x.Direction == ToAccount {
			tr, err = s.o.Ledger.PostHoldTx(ctx, tx, "transfer:"+x.ID.String()+":post", *x.HoldTx, x.Amount.Minor,
				"Transfer to trading account "+x.Login)
		} else {
			tr, err = s.o.Ledger.PostTx(ctx, tx, ledger.Entry{Key: "transfer:" + x.ID.String(), Kind: "transfer",
				Description: "Transfer from trading account " + x.Login,
				Metadata:    map[string]any{"transfer": x.ID, "login": x.Login, "ticket": res.Ticket},
				Postings: []ledger.Posting{{Account: ledger.TradingServer(x.ServerID, x.Amount.Currency), Amount: -x.Amount.Minor},
					{Account: ledger.ClientWallet(x.ClientID, x.Amount.Currency), Amount: x.Amount.Minor}}})
		}
		if err != nil {
			return fmt.Errorf("tradingdesk: transfer %s in the ledger: %w", x.ID, err)
		}
		tag, err := tx.Exec(ctx, `UPDATE trading_transfers SET status = 'done', outcome_unknown = false, ledger_tx = $2, ticket = $3,
			finished_at = now(), updated_at = now() WHERE id = $1 AND status = 'pending'`, x.ID, tr.ID, res.Ticket)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if state != nil {
			if _, err := tx.Exec(ctx, `UPDATE trading_accounts SET balance = $2, equity = $3, state_at = now(), updated_at = now() WHERE id = $1`,
				x.AccountID, toMinor(state.Balance, x.Amount.Currency), toMinor(state.Equity, x.Amount.Currency)); err != nil {
				return err
			}
		}
		x.Status = RequestDone
		after := transferView(x, x.Amount)
		after["ticket"], after["replayed"] = res.Ticket, res.Replayed
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: requestActor(Request{CreatedBy: x.CreatedBy}), Action: ActionTransferDone,
			Target: audit.Target{Type: transferTarget, ID: x.ID.String()}, Before: map[string]any{"status": RequestPending}, After: after})
	})
}

// failTransfer fails a transfer the platform refused or never heard of, releasing its hold, and audits it.
func (s *Service) failTransfer(ctx context.Context, t tenants.Tenant, x Transfer, cause error) error {
	reason := failureText(cause)
	if errors.Is(cause, errShort) {
		reason = strings.TrimPrefix(cause.Error(), errShort.Error()+": ")
	}
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE trading_transfers SET status = 'failed', outcome_unknown = false, failure = $2, finished_at = now(),
			updated_at = now() WHERE id = $1 AND status = 'pending'`, x.ID, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if x.HoldTx != nil {
			if _, err := s.o.Ledger.VoidHoldTx(ctx, tx, "transfer:"+x.ID.String()+":void", *x.HoldTx,
				"Transfer to trading account "+x.Login+" failed"); err != nil {
				return fmt.Errorf("tradingdesk: release the hold of transfer %s: %w", x.ID, err)
			}
		}
		x.Status = RequestFailed
		after := transferView(x, x.Amount)
		after["reason"] = reason
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionTransferFailed,
			Target: audit.Target{Type: transferTarget, ID: x.ID.String()}, Before: map[string]any{"status": RequestPending}, After: after})
	})
	if err == nil {
		s.o.Log.WarnContext(tenants.WithTenant(ctx, t), "transfer failed", "transfer", x.ID, "server", x.ServerName, "reason", reason)
	}
	return err
}

// unknownTransfer records that the task's retries ran out after a call whose outcome is unknown: the transfer
// stays pending, its hold untouched, for finance.
func (s *Service) unknownTransfer(ctx context.Context, t tenants.Tenant, x Transfer, cause error) error {
	reason := failureText(cause)
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE trading_transfers SET outcome_unknown = true, failure = $2, updated_at = now()
			WHERE id = $1 AND status = 'pending' AND NOT outcome_unknown`, x.ID, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		after := transferView(x, x.Amount)
		after["reason"] = reason
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionTransferUnknown,
			Target: audit.Target{Type: transferTarget, ID: x.ID.String()}, After: after})
	})
	if err == nil {
		s.o.Log.ErrorContext(tenants.WithTenant(ctx, t), "transfer outcome unknown: finance must retry it", "transfer", x.ID,
			"server", x.ServerName, "reason", reason)
	}
	return err
}
