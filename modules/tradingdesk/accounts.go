package tradingdesk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Account is a client's trading account as the CRM knows it (trading_accounts).
type Account struct {
	ID         uuid.UUID
	ClientID   uuid.UUID
	ServerID   uuid.UUID
	ServerName string
	Live       bool
	TypeID     uuid.UUID
	TypeName   string
	Login      string
	Currency   money.Currency
	Leverage   int
	Group      string
	SwapFree   bool
	Status     string // active, disabled (login or trading off), closed
	// LoginEnabled and TradingEnabled are the access the CRM believes the platform gives (ExpectedAccess);
	// AccessHeld: a staff user disabled the account by hand, and a client's reinstatement leaves it so.
	LoginEnabled   bool
	TradingEnabled bool
	AccessHeld     bool
	Balance        *money.Amount
	Equity         *money.Amount
	StateAt        *time.Time
	CreatedAt      time.Time
	// Platform is the settings the platform reported at the last drift check (nil: never read).
	Platform *PlatformState
	// OpenDrift are the kinds of the account's open drift items.
	OpenDrift []DriftKind
}

// PlatformState is what the platform reported of an account's settings at the last read.
type PlatformState struct {
	Group    string
	Leverage int
	SwapFree bool
	Access   trading.Access
}

// RequestKind is what a request asks the platform to do.
type RequestKind string

const (
	KindOpenAccount   RequestKind = "open_account"   // open an account (opening.go)
	KindSetLeverage   RequestKind = "set_leverage"   // change an account's leverage (changes.go)
	KindSetSwapFree   RequestKind = "set_swap_free"  // swap-free on or off
	KindSetAccess     RequestKind = "set_access"     // login and trading on or off (access.go)
	KindResetPassword RequestKind = "reset_password" // a new main or investor password, emailed
)

// RequestStatus is where a request is.
type RequestStatus string

const (
	RequestAwaitingApproval RequestStatus = "awaiting_approval" // recorded; nothing queued until a back-office user decides
	RequestPending          RequestStatus = "pending"           // recorded; the worker is on it
	RequestDone             RequestStatus = "done"
	RequestFailed           RequestStatus = "failed"   // after the task's retries, or refused by the platform: Failure says why
	RequestRejected         RequestStatus = "rejected" // a back-office user refused it: Rejection says why
)

// Request is one request to a platform (trading_requests).
type Request struct {
	ID          uuid.UUID
	Kind        RequestKind
	ClientID    uuid.UUID
	ClientName  string
	ServerID    uuid.UUID
	ServerName  string
	Live        bool
	TypeID      uuid.UUID
	TypeName    string
	AccountID   *uuid.UUID
	Currency    string
	Leverage    int
	Group       string
	SwapFree    bool
	Login       string // reserved, then the account's
	Calls       int
	Status      RequestStatus
	Failure     string
	EmailedAt   *time.Time
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  *time.Time
	AccountOpen bool // the platform account exists (AccountID set)
	// Changes (changes.go): set_access's applied access, reset_password's kind, why the request exists when the
	// client did not ask (Reason), and the approval's decision.
	Access       trading.Access
	PasswordKind trading.PasswordKind
	Reason       string
	DecidedBy    string
	DecidedAt    *time.Time
	Rejection    string
}

// OpenAccountInput is a client's request for an account: the type's slug, a currency it offers and one of its
// leverages.
type OpenAccountInput struct {
	Type     string
	Currency string
	Leverage int
}

// Errors of account requests.
var (
	// ErrNotAllowed: the policy gate refuses the client this action; the error's text says why, for the client.
	ErrNotAllowed = errors.New("tradingdesk: not allowed")
)

// TaskOpenAccount opens a requested account on its platform (through the outbox, queue sync, keyed by the request).
const TaskOpenAccount = "tradingdesk:open-account"

type openTask struct {
	RequestID uuid.UUID `json:"request_id"`
}

// Audit actions of accounts.
const (
	ActionAccountRequested     = "trading.account_requested"
	ActionAccountOpened        = "trading.account_opened"
	ActionAccountRequestFailed = "trading.account_request_failed"
	accountTarget              = "trading_account"
	requestTarget              = "trading_request"
	openAccountRetries         = 8
)

// AccountOffer is an account type a client may open, with what they may choose.
type AccountOffer struct {
	Type       AccountType
	Currencies []string
	Leverages  []int
}

// mayOpen reports why client c may not open type a ("" when they may).
func mayOpen(a AccountType, c clients.Client) string {
	switch {
	case !a.Enabled:
		return "this account type is not offered now"
	case len(a.Tiers) > 0 && !slices.Contains(a.Tiers, c.Tier):
		return "this account type is not offered to your client tier"
	case len(a.Countries) > 0 && !slices.Contains(a.Countries, c.Country):
		return "this account type is not offered in your country"
	}
	return ""
}

// gateFor is the policy gate's action for an account on a live or demo server.
func gateFor(live bool) clients.Action {
	if live {
		return clients.ActionOpenLiveAccount
	}
	return clients.ActionOpenDemoAccount
}

// Offers lists the account types client may open now: enabled, on an enabled server, for their tier and country,
// and allowed by the policy gate for live or demo. The reason the gate gives for live or demo is returned too
// ("" when allowed).
func (s *Service) Offers(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) (offers []AccountOffer, refused map[bool]string, err error) {
	refused = map[bool]string{}
	err = s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		c, err := s.o.Clients.GetTx(ctx, tx, clientID)
		if err != nil {
			return err
		}
		for _, live := range []bool{true, false} {
			d, err := s.o.Clients.MayTx(ctx, tx, clientID, gateFor(live))
			if err != nil {
				return err
			}
			if !d.Allowed {
				refused[live] = d.ForClient
			}
		}
		rows, err := tx.Query(ctx, accountTypeSelect+` WHERE a.enabled AND s.enabled ORDER BY s.live DESC, a.name`)
		if err != nil {
			return err
		}
		list, err := scanAccountTypes(rows)
		if err != nil {
			return err
		}
		st, err := deskSettingsTx(ctx, tx)
		if err != nil {
			return err
		}
		for _, a := range list {
			if mayOpen(a, c) != "" || refused[a.Live] != "" {
				continue
			}
			levs := withinTier(a.Leverages, st.TierMaxLeverage[c.Tier])
			if len(levs) == 0 {
				continue
			}
			offers = append(offers, AccountOffer{Type: a, Currencies: a.Currencies(), Leverages: levs})
		}
		return nil
	})
	return offers, refused, err
}

// OpenAccount records client's request for an account and queues its opening on the platform in the same
// transaction: the policy gate (open_live_account or open_demo_account, by the type's server) must allow it, the
// type must be open to the client's tier and country, and the currency and leverage the type's. The login is
// reserved now where the desk chooses it (see reserveLogin). The request answers at once, pending.
func (s *Service) OpenAccount(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, in OpenAccountInput) (Request, error) {
	var out Request
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var f validation.Fields
		in.Type, in.Currency = strings.TrimSpace(in.Type), strings.ToUpper(strings.TrimSpace(in.Currency))
		f.Required("type", in.Type)
		f.Required("currency", in.Currency)
		f.Check(in.Leverage > 0, "leverage", "the leverage to open with, e.g. 100 for 1:100")
		if err := f.Err(); err != nil {
			return err
		}
		a, err := accountTypeTx(ctx, tx, `a.slug = $1`, in.Type)
		if errors.Is(err, ErrNotFound) {
			return validation.New("type", "no such account type")
		}
		if err != nil {
			return err
		}
		c, err := s.o.Clients.GetTx(ctx, tx, clientID)
		if err != nil {
			return err
		}
		d, err := s.o.Clients.MayTx(ctx, tx, clientID, gateFor(a.Live))
		if err != nil {
			return err
		}
		if !d.Allowed {
			return fmt.Errorf("%w: %s", ErrNotAllowed, d.ForClient)
		}
		srv, _, err := serverTx(ctx, tx, `id = $1`, a.ServerID)
		if err != nil {
			return err
		}
		if why := mayOpen(a, c); why != "" || !srv.Enabled {
			if why == "" {
				why = "accounts of this type cannot be opened now"
			}
			return validation.New("type", why)
		}
		g, ok := a.Groups[in.Currency]
		f.Check(ok, "currency", "this account type opens in "+strings.Join(a.Currencies(), ", "))
		f.Check(slices.Contains(a.Leverages, in.Leverage), "leverage", "this account type offers "+leverageList(a.Leverages))
		if err := f.Err(); err != nil {
			return err
		}
		st, err := deskSettingsTx(ctx, tx)
		if err != nil {
			return err
		}
		if limit := st.TierMaxLeverage[c.Tier]; limit > 0 && in.Leverage > limit {
			return validation.New("leverage", fmt.Sprintf("clients of your tier may have at most 1:%d", limit))
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		login := ""
		if reservesLogin(srv.Platform) {
			if login, err = reserveLogin(ctx, tx, srv.ID); err != nil {
				return err
			}
		}
		actor := audit.Actor{Kind: audit.ActorClient, ID: clientID.String()}
		if _, err := tx.Exec(ctx, `INSERT INTO trading_requests (id, kind, client_id, server_id, account_type_id, currency, leverage,
			group_name, swap_free, login, created_by) VALUES ($1, 'open_account', $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			id, clientID, srv.ID, a.ID, in.Currency, in.Leverage, g.Group, isSwapFreeGroup(ctx, tx, srv.ID, g.Group),
			login, "client:"+clientID.String()); err != nil {
			return fmt.Errorf("tradingdesk: record the account request: %w", err)
		}
		if _, err := (jobs.Outbox{}).Add(ctx, tx, TaskOpenAccount, "open-account:"+id.String(), openTask{RequestID: id},
			jobs.InQueue(jobs.QueueSync), jobs.WithMaxRetry(openAccountRetries), jobs.WithTimeout(2*s.o.CheckTimeout)); err != nil {
			return err
		}
		if out, err = requestTx(ctx, tx, `r.id = $1`, id); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionAccountRequested,
			Target: audit.Target{Type: requestTarget, ID: id.String()}, After: requestView(out)})
	})
	return out, err
}

// isSwapFreeGroup reports whether group is another type's swap-free twin on the server (an account type that opens
// straight in a swap-free group, the demo's Islamic).
func isSwapFreeGroup(ctx context.Context, tx pgx.Tx, serverID uuid.UUID, group string) bool {
	twins, err := swapFreeTwinsTx(ctx, tx, serverID, uuid.Nil)
	if err != nil {
		return false
	}
	for _, twin := range twins {
		if twin == group {
			return true
		}
	}
	return false
}

// withinTier are the leverages of l a client whose tier caps leverage at limit may have (all when limit is 0).
func withinTier(l []int, limit int) []int {
	if limit <= 0 {
		return l
	}
	var out []int
	for _, v := range l {
		if v <= limit {
			out = append(out, v)
		}
	}
	return out
}

func leverageList(l []int) string {
	parts := make([]string, len(l))
	for i, v := range l {
		parts[i] = "1:" + strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

// reservesLogin says whether the desk chooses the login on the platform. MT5 (and the simulator and DXtrade, which
// take requested logins or account codes) open an account at the login they are asked for and answer
// ErrAlreadyExists for a taken one; MT5 has no idempotency key for a new user, so the requested login is what lets a
// retry recognise the account a lost answer created. TradeLocker chooses logins itself and dedupes creations by the
// operation id natively.
func reservesLogin(p trading.Platform) bool { return p != trading.PlatformTradeLocker }

// firstLogin is where a server's reserved logins start when the CRM knows no account on it.
const firstLogin = 700000

// reserveLogin takes the server's next login in the request's transaction: above every login the desk reserved or
// recorded on it, so two requests never ask for the same one. The row lock on the server serialises reservations.
func reserveLogin(ctx context.Context, tx pgx.Tx, serverID uuid.UUID) (string, error) {
	var n int64
	err := tx.QueryRow(ctx, `UPDATE trading_servers SET last_login = greatest(last_login, $2,
			(SELECT coalesce(max(login::bigint), 0) FROM trading_accounts WHERE server_id = $1 AND login ~ '^[0-9]{1,18}$')) + 1
		WHERE id = $1 RETURNING last_login`, serverID, int64(firstLogin-1)).Scan(&n)
	if err != nil {
		return "", fmt.Errorf("tradingdesk: reserve a login: %w", err)
	}
	return strconv.FormatInt(n, 10), nil
}

// requestView is a request in the audit trail.
func requestView(r Request) map[string]any {
	return map[string]any{"kind": r.Kind, "type": r.TypeName, "currency": r.Currency, "leverage": r.Leverage, "live": r.Live,
		"server": r.ServerName, "status": r.Status}
}

const requestSelect = `SELECT r.id, r.kind, r.client_id, c.first_name || ' ' || c.last_name, r.server_id, s.name, s.live, r.account_type_id, a.name,
	r.account_id, r.currency, r.leverage, r.group_name, r.swap_free, r.login, r.calls, r.status, r.failure, r.credentials_sent_at, r.created_by,
	r.created_at, r.updated_at, r.finished_at, coalesce(r.login_enabled, false), coalesce(r.trading_enabled, false),
	coalesce(r.password_kind, ''), r.reason, coalesce(r.decided_by, ''), r.decided_at, r.rejection
	FROM trading_requests r JOIN trading_servers s ON s.id = r.server_id JOIN account_types a ON a.id = r.account_type_id
	JOIN clients c ON c.id = r.client_id`

func scanRequests(rows pgx.Rows) ([]Request, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Request, error) {
		var r Request
		err := row.Scan(&r.ID, &r.Kind, &r.ClientID, &r.ClientName, &r.ServerID, &r.ServerName, &r.Live, &r.TypeID, &r.TypeName, &r.AccountID,
			&r.Currency, &r.Leverage, &r.Group, &r.SwapFree, &r.Login, &r.Calls, &r.Status, &r.Failure, &r.EmailedAt, &r.CreatedBy,
			&r.CreatedAt, &r.UpdatedAt, &r.FinishedAt, &r.Access.LoginEnabled, &r.Access.TradingEnabled, &r.PasswordKind, &r.Reason,
			&r.DecidedBy, &r.DecidedAt, &r.Rejection)
		r.AccountOpen = r.AccountID != nil
		return r, err
	})
}

func requestTx(ctx context.Context, tx pgx.Tx, where string, args ...any) (Request, error) {
	return oneTx(ctx, tx, "request", requestSelect+` WHERE `+where, scanRequests, args...)
}

// oneTx reads the first row query finds with scan (ErrNotFound when none), what naming the record in errors.
func oneTx[T any](ctx context.Context, tx pgx.Tx, what, query string, scan func(pgx.Rows) ([]T, error), args ...any) (T, error) {
	var zero T
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return zero, fmt.Errorf("tradingdesk: read %s: %w", what, err)
	}
	list, err := scan(rows)
	if err != nil {
		return zero, err
	}
	if len(list) == 0 {
		return zero, ErrNotFound
	}
	return list[0], nil
}

const accountSelect = `SELECT t.id, t.client_id, t.server_id, s.name, s.live, t.account_type_id, a.name, t.login, t.currency, t.leverage,
	t.group_name, t.swap_free, t.status, t.balance, t.equity, t.state_at, t.created_at, t.login_enabled, t.trading_enabled, t.access_held,
	t.platform_group, t.platform_leverage, t.platform_swap_free, t.platform_login_enabled, t.platform_trading_enabled,
	coalesce((SELECT array_agg(d.kind ORDER BY d.kind) FROM trading_drift_items d WHERE d.account_id = t.id AND d.status = 'open'), '{}')
	FROM trading_accounts t JOIN trading_servers s ON s.id = t.server_id JOIN account_types a ON a.id = t.account_type_id`

func scanAccounts(rows pgx.Rows) ([]Account, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Account, error) {
		var v Account
		var cur string
		var bal, eq *int64
		var pGroup *string
		var pLev *int
		var pSwap, pLogin, pTrade *bool
		var drift []string
		if err := row.Scan(&v.ID, &v.ClientID, &v.ServerID, &v.ServerName, &v.Live, &v.TypeID, &v.TypeName, &v.Login, &cur, &v.Leverage,
			&v.Group, &v.SwapFree, &v.Status, &bal, &eq, &v.StateAt, &v.CreatedAt, &v.LoginEnabled, &v.TradingEnabled, &v.AccessHeld,
			&pGroup, &pLev, &pSwap, &pLogin, &pTrade, &drift); err != nil {
			return v, err
		}
		if pGroup != nil && pLev != nil && pSwap != nil && pLogin != nil && pTrade != nil {
			v.Platform = &PlatformState{Group: *pGroup, Leverage: *pLev, SwapFree: *pSwap,
				Access: trading.Access{LoginEnabled: *pLogin, TradingEnabled: *pTrade}}
		}
		for _, k := range drift {
			v.OpenDrift = append(v.OpenDrift, DriftKind(k))
		}
		c, ok := money.Lookup(cur)
		if !ok {
			return v, fmt.Errorf("tradingdesk: account %s in unknown currency %q", v.Login, cur)
		}
		v.Currency = c
		if bal != nil {
			v.Balance = &money.Amount{Minor: *bal, Currency: c}
		}
		if eq != nil {
			v.Equity = &money.Amount{Minor: *eq, Currency: c}
		}
		return v, nil
	})
}

// ClientAccounts lists a client's trading accounts, newest first.
func (s *Service) ClientAccounts(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]Account, error) {
	var out []Account
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, accountSelect+` WHERE t.client_id = $1 ORDER BY t.created_at DESC, t.login`, clientID)
		if err != nil {
			return err
		}
		out, err = scanAccounts(rows)
		return err
	})
	return out, err
}

// ClientRequests lists a client's requests, newest first.
func (s *Service) ClientRequests(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]Request, error) {
	return s.Requests(ctx, t, RequestFilter{Client: clientID})
}

// Request reads one request; with client set, only that client's (another's is ErrNotFound).
func (s *Service) Request(ctx context.Context, t tenants.Tenant, id, client uuid.UUID) (Request, error) {
	var out Request
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = requestTx(ctx, tx, `r.id = $1 AND ($2::uuid IS NULL OR r.client_id = $2)`, id, nullID(client))
		return err
	})
	return out, err
}

func nullID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// RequestFilter narrows the requests list.
type RequestFilter struct {
	Status RequestStatus // "" any
	Client uuid.UUID     // uuid.Nil any
	Limit  int           // default and most 200
}

// Requests lists requests, newest first.
func (s *Service) Requests(ctx context.Context, t tenants.Tenant, f RequestFilter) ([]Request, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 200
	}
	var out []Request
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, requestSelect+` WHERE ($1 = '' OR r.status = $1) AND ($2::uuid IS NULL OR r.client_id = $2)
			ORDER BY r.status = 'awaiting_approval' DESC, r.created_at DESC, r.id LIMIT $3`, string(f.Status), nullID(f.Client), f.Limit)
		if err != nil {
			return err
		}
		out, err = scanRequests(rows)
		return err
	})
	return out, err
}

// RequestCounts counts requests that are not done, by status (the dashboard's tile).
func (s *Service) RequestCounts(ctx context.Context, t tenants.Tenant) (map[RequestStatus]int, error) {
	out := map[RequestStatus]int{}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT status, count(*) FROM trading_requests WHERE status <> 'done' GROUP BY status`)
		if err != nil {
			return err
		}
		var st string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error { out[RequestStatus(st)] = n; return nil })
		return err
	})
	return out, err
}

// toMinor turns a platform's exact amount into minor units of c (rounded half away from zero to its exponent).
func toMinor(d decimal.Decimal, c money.Currency) int64 {
	return d.Shift(int32(c.Exponent)).Round(0).IntPart()
}
