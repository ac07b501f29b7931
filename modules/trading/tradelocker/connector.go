// Package tradelocker is the trading.Connector for the TradeLocker Brand API: the HTTPS JSON API a broker ("brand")
// uses to manage its users, accounts, groups and money on TradeLocker.
//
// The platform's shape, and how this connector fits it to trading.Connector:
//   - a login is TradeLocker's accountId; accounts belong to users (one e-mail, one password), so CreateAccount
//     finds or creates the user first and ResetPassword changes the password of every account of that user;
//   - leverage and swaps are properties of the group, and the API does not list them, so Config.Groups says which
//     group is which (account type, leverage, swap-free) and SetLeverage and SetSwapFree are group moves;
//   - the currency is fixed when the account is created;
//   - create-user, create-account, deposit, withdraw and credit carry an Idempotency-Key derived from the CRM's
//     OperationID, so a call repeated after a lost answer is deduplicated by the platform;
//   - closed trades come from a report limited to 31-day windows, which ClosedDeals splits and pages through.
//
// docs/trading/tradelocker.md is the operator's guide.
package tradelocker

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
	"golang.org/x/time/rate"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// Connector talks to one brand on one TradeLocker environment. It is safe for concurrent use.
type Connector struct {
	cfg     Config
	groups  *catalogue
	maxLev  int
	limiter *rate.Limiter
	log     *slog.Logger
	replays *replayMemory
}

var _ trading.Connector = (*Connector)(nil)

// New checks cfg and returns a connector. It does not call the platform; Ping does.
func New(cfg Config) (*Connector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	groups, err := newCatalogue(cfg.Groups)
	if err != nil {
		return nil, fmt.Errorf("tradelocker config: %w", err)
	}
	maxLev := cfg.MaxLeverage
	if maxLev == 0 {
		maxLev = groups.maxLev
	}
	return &Connector{
		cfg:     cfg,
		groups:  groups,
		maxLev:  maxLev,
		limiter: rate.NewLimiter(cfg.RateLimit, cfg.RateBurst),
		log:     cfg.Logger.With(slog.String("platform", string(trading.PlatformTradeLocker))),
		replays: newReplayMemory(),
	}, nil
}

// Capabilities describes TradeLocker.
func (c *Connector) Capabilities() trading.Capabilities {
	return trading.Capabilities{
		Platform:          trading.PlatformTradeLocker,
		SwapFree:          trading.SwapFreeByGroup,
		LeverageByGroup:   true,
		CurrencyFixed:     true,
		NativeIdempotency: true,
		MaxDealWindow:     maxWindow,
		MaxLeverage:       c.maxLev,
	}
}

// Ping checks the API is up (alive needs no key) and then that the key works, by listing groups: a revoked key
// must show at Ping, not at the first deposit.
func (c *Connector) Ping(ctx context.Context) error {
	const op = "ping"
	if _, err := c.call(ctx, request{op: op, method: http.MethodGet, path: "alive", resendable: true}); err != nil {
		return err
	}
	_, err := c.listGroups(ctx, op)
	return err
}

// MissingGroups lists the catalogue's group ids that the platform does not know, so an operator can catch a typo
// in the catalogue at start-up instead of at the first account opening.
func (c *Connector) MissingGroups(ctx context.Context) ([]string, error) {
	rows, err := c.listGroups(ctx, "missing_groups")
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(rows))
	for _, r := range rows {
		known[string(r.ID)] = true
	}
	var missing []string
	for _, g := range c.cfg.Groups {
		if !known[g.ID] {
			missing = append(missing, g.ID)
		}
	}
	return missing, nil
}

func (c *Connector) listGroups(ctx context.Context, op string) ([]groupRow, error) {
	a, err := c.call(ctx, request{op: op, method: http.MethodPost, path: "v1/groups/all",
		body: map[string]any{"type": c.cfg.Environment}, resendable: true})
	if err != nil {
		return nil, err
	}
	rows, err := parseGroups(a.body)
	if err != nil {
		return nil, unreadable(op, a, err)
	}
	return rows, nil
}

// Close releases idle connections; the Brand API has no session to end.
func (c *Connector) Close() error {
	c.cfg.HTTPClient.CloseIdleConnections()
	return nil
}

// operationID is the CRM's id rule (trading.BalanceOp): it becomes part of an Idempotency-Key, so it must be short
// and plain.
var operationID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// idempotencyKey derives the platform key from the CRM's id. The purpose keeps the user, account and money calls
// of one CreateAccount apart; balance operations of all kinds share "money", so one OperationID cannot both deposit
// and withdraw.
func (c *Connector) idempotencyKey(purpose, opID string) string {
	return c.cfg.IdempotencyPrefix + ":" + string(c.cfg.Environment) + ":" + purpose + ":" + opID
}

// CreateAccount finds the user by e-mail (creating it if needed) and opens an account in the group for the
// requested leverage. The platform chooses the login; a requested one is ErrUnsupported. An existing user keeps
// their password: on TradeLocker it is the user's, shared by all their accounts. InvestorPassword is ignored.
func (c *Connector) CreateAccount(ctx context.Context, n trading.NewAccount) (trading.Account, error) {
	const op = "create_account"
	if n.Login != "" {
		return trading.Account{}, clientError(op, trading.ErrUnsupported,
			"TradeLocker assigns account ids itself; login %q cannot be requested", n.Login)
	}
	g, err := c.groupFor(op, n.Group, n.Leverage)
	if err != nil {
		return trading.Account{}, err
	}
	currency := strings.ToUpper(strings.TrimSpace(n.Currency))
	if currency == "" {
		return trading.Account{}, clientError(op, trading.ErrInvalidRequest, "currency is empty")
	}
	email := strings.TrimSpace(n.Email)
	if email == "" {
		return trading.Account{}, clientError(op, trading.ErrInvalidRequest, "e-mail is empty")
	}
	if n.OperationID != "" && !operationID.MatchString(n.OperationID) {
		return trading.Account{}, clientError(op, trading.ErrInvalidRequest,
			"operation id %q is not 1-32 characters of [A-Za-z0-9_-]", n.OperationID)
	}

	userID, err := c.findOrCreateUser(ctx, op, n, email)
	if err != nil {
		return trading.Account{}, err
	}
	name := strings.TrimSpace(n.FirstName + " " + n.LastName)
	if name == "" {
		name = email
	}
	req := request{op: op, method: http.MethodPost, path: "v1/accounts/create", body: map[string]any{
		"userId": userID, "accountName": name, "type": c.cfg.Environment, "currency": currency, "groupId": g.ID,
	}}
	if n.OperationID != "" {
		req.idemKey, req.resendable = c.idempotencyKey("account", n.OperationID), true
	}
	a, err := c.call(ctx, req)
	if err != nil {
		return trading.Account{}, err
	}
	login, err := parseAccountID(a.body)
	if err != nil {
		return trading.Account{}, unreadable(op, a, err)
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "tradelocker account created", slog.String("login", login),
		slog.String("group", g.ID), slog.String("currency", currency), slog.Bool("replayed", a.replayed))
	return trading.Account{
		Login: login, Group: g.ID, Currency: currency, Leverage: g.Leverage, SwapFree: g.SwapFree,
		Access:  trading.Access{LoginEnabled: true, TradingEnabled: true},
		Balance: decimal.Zero, Credit: decimal.Zero, Equity: decimal.Zero, Margin: decimal.Zero, FreeMargin: decimal.Zero,
	}, nil
}

// groupFor validates a requested group and leverage and returns the group that has both: the requested group, or
// its sibling with that leverage (same account type and swap-free setting).
func (c *Connector) groupFor(op, group string, leverage int) (Group, error) {
	g, ok := c.groups.group(group)
	if !ok {
		return Group{}, clientError(op, trading.ErrInvalidRequest, "group %q is not in the TradeLocker group catalogue", group)
	}
	if err := c.checkLeverage(op, leverage); err != nil {
		return Group{}, err
	}
	if g.Leverage == leverage {
		return g, nil
	}
	s, ok := c.groups.sibling(g, leverage, g.SwapFree)
	if !ok {
		return Group{}, clientError(op, trading.ErrInvalidRequest,
			"no group of account type %q with leverage 1:%d and swap-free %t in the catalogue", g.AccountType, leverage, g.SwapFree)
	}
	return s, nil
}

func (c *Connector) checkLeverage(op string, leverage int) error {
	if leverage < 1 || leverage > c.maxLev {
		return clientError(op, trading.ErrInvalidRequest, "leverage 1:%d is outside 1..%d", leverage, c.maxLev)
	}
	return nil
}

// findOrCreateUser returns the userId for the e-mail, creating the user when check-by-email says 404. A 409 from
// create means another request created the same user meanwhile; the second lookup then finds it.
func (c *Connector) findOrCreateUser(ctx context.Context, op string, n trading.NewAccount, email string) (string, error) {
	lookup := func() (string, error) {
		a, err := c.call(ctx, request{op: op, method: http.MethodPost, path: "v1/users/check-by-email",
			body: map[string]any{"email": email}, resendable: true})
		if err != nil {
			return "", err
		}
		id, err := parseUserID(a.body)
		if err != nil {
			return "", unreadable(op, a, err)
		}
		return id, nil
	}
	id, err := lookup()
	if err == nil || !isKind(err, trading.ErrNotFound) {
		return id, err
	}
	req := request{op: op, method: http.MethodPost, path: "v1/users/create", secrets: []string{n.Password},
		body: map[string]any{"email": email, "password": n.Password, "firstName": n.FirstName, "lastName": n.LastName}}
	if n.OperationID != "" {
		req.idemKey, req.resendable = c.idempotencyKey("user", n.OperationID), true
	}
	a, err := c.call(ctx, req)
	if isKind(err, trading.ErrAlreadyExists) {
		return lookup()
	}
	if err != nil {
		return "", err
	}
	if id, err = parseUserID(a.body); err != nil {
		return "", unreadable(op, a, err)
	}
	return id, nil
}

// Account reads v1/accounts/details. Leverage comes from the answer when it has one, otherwise from the catalogue;
// swap-free always comes from the catalogue (false for a group the catalogue does not list).
func (c *Connector) Account(ctx context.Context, login string) (trading.Account, error) {
	d, err := c.details(ctx, "account", login)
	if err != nil {
		return trading.Account{}, err
	}
	return d.account, nil
}

func (c *Connector) details(ctx context.Context, op, login string) (details, error) {
	if strings.TrimSpace(login) == "" {
		return details{}, clientError(op, trading.ErrInvalidRequest, "login is empty")
	}
	a, err := c.call(ctx, request{op: op, method: http.MethodPost, path: "v1/accounts/details",
		body: map[string]any{"accountId": login}, resendable: true})
	if err != nil {
		return details{}, err
	}
	d, err := parseDetails(a.body)
	if err != nil {
		return details{}, unreadable(op, a, err)
	}
	if g, ok := c.groups.group(d.account.Group); ok {
		d.account.SwapFree = g.SwapFree
		if d.account.Leverage == 0 {
			d.account.Leverage = g.Leverage
		}
	}
	return d, nil
}

// currentGroup reads the account's group and finds it in the catalogue: leverage and swap-free changes are moves
// to a sibling of it.
func (c *Connector) currentGroup(ctx context.Context, op, login string) (Group, error) {
	d, err := c.details(ctx, op, login)
	if err != nil {
		return Group{}, err
	}
	g, ok := c.groups.group(d.account.Group)
	if !ok {
		return Group{}, clientError(op, trading.ErrInvalidRequest,
			"account %s is in group %q, which the catalogue does not list, so its siblings are unknown", login, d.account.Group)
	}
	return g, nil
}

// SetLeverage moves the account to the sibling group with that leverage.
func (c *Connector) SetLeverage(ctx context.Context, login string, leverage int) error {
	const op = "set_leverage"
	if err := c.checkLeverage(op, leverage); err != nil {
		return err
	}
	g, err := c.currentGroup(ctx, op, login)
	if err != nil {
		return err
	}
	if g.Leverage == leverage {
		return nil
	}
	s, ok := c.groups.sibling(g, leverage, g.SwapFree)
	if !ok {
		return clientError(op, trading.ErrInvalidRequest,
			"no group of account type %q with leverage 1:%d and swap-free %t in the catalogue", g.AccountType, leverage, g.SwapFree)
	}
	return c.setGroup(ctx, op, login, s.ID)
}

// SetSwapFree moves the account to its swap-free (or swap-charging) sibling with the same leverage.
func (c *Connector) SetSwapFree(ctx context.Context, login string, swapFree bool) error {
	const op = "set_swap_free"
	g, err := c.currentGroup(ctx, op, login)
	if err != nil {
		return err
	}
	if g.SwapFree == swapFree {
		return nil
	}
	s, ok := c.groups.sibling(g, g.Leverage, swapFree)
	if !ok {
		return clientError(op, trading.ErrInvalidRequest,
			"no group of account type %q with leverage 1:%d and swap-free %t in the catalogue", g.AccountType, g.Leverage, swapFree)
	}
	return c.setGroup(ctx, op, login, s.ID)
}

// MoveGroup moves the account to a catalogue group. The currency stays: on TradeLocker it belongs to the account.
func (c *Connector) MoveGroup(ctx context.Context, login, group string) error {
	const op = "move_group"
	if _, ok := c.groups.group(group); !ok {
		return clientError(op, trading.ErrInvalidRequest, "group %q is not in the TradeLocker group catalogue", group)
	}
	return c.setGroup(ctx, op, login, group)
}

func (c *Connector) setGroup(ctx context.Context, op, login, group string) error {
	if strings.TrimSpace(login) == "" {
		return clientError(op, trading.ErrInvalidRequest, "login is empty")
	}
	_, err := c.call(ctx, request{op: op, method: http.MethodPut, path: "v1/accounts/set-group",
		body: map[string]any{"accountId": login, "newGroupId": group}, resendable: true})
	return err
}

// SetAccess maps the two switches onto TradeLocker's three account statuses:
// login disabled -> suspend (the account disappears from the app and cannot trade, whatever TradingEnabled says),
// login enabled but trading disabled -> restrict (no new positions), both enabled -> activate.
func (c *Connector) SetAccess(ctx context.Context, login string, access trading.Access) error {
	const op = "set_access"
	if strings.TrimSpace(login) == "" {
		return clientError(op, trading.ErrInvalidRequest, "login is empty")
	}
	path := "v1/accounts/activate"
	switch {
	case !access.LoginEnabled:
		path = "v1/accounts/suspend"
	case !access.TradingEnabled:
		path = "v1/accounts/restrict"
	}
	_, err := c.call(ctx, request{op: op, method: http.MethodPut, path: path,
		body: map[string]any{"accountId": login}, resendable: true})
	return err
}

// ResetPassword sets the main password, which on TradeLocker is the user's: every account of the account's owner
// gets it. TradeLocker has no investor (read-only) password, so that kind is ErrUnsupported once the account is
// known to exist.
func (c *Connector) ResetPassword(ctx context.Context, login string, kind trading.PasswordKind, password string) error {
	const op = "reset_password"
	if kind != trading.PasswordMain && kind != trading.PasswordInvestor {
		return clientError(op, trading.ErrInvalidRequest, "password kind %q", kind)
	}
	d, err := c.details(ctx, op, login)
	if err != nil {
		return err
	}
	if kind == trading.PasswordInvestor {
		return clientError(op, trading.ErrUnsupported, "TradeLocker has no investor password")
	}
	if d.userID == "" {
		return unreadable(op, answer{status: http.StatusOK}, fmt.Errorf("account %s details carry no userId", login))
	}
	_, err = c.call(ctx, request{op: op, method: http.MethodPost, path: "v1/users/set-password",
		body: map[string]any{"userId": d.userID, "password": password}, resendable: true, secrets: []string{password}})
	return err
}

// BalanceOperation moves money with deposit, withdraw or credit (credit out is a negative credit). The
// Idempotency-Key is derived from OperationID, so whatever happens to an answer the money moves at most once.
func (c *Connector) BalanceOperation(ctx context.Context, op trading.BalanceOp) (trading.BalanceResult, error) {
	const name = "balance_operation"
	if !operationID.MatchString(op.OperationID) {
		return trading.BalanceResult{}, clientError(name, trading.ErrInvalidRequest,
			"operation id %q is not 1-32 characters of [A-Za-z0-9_-]", op.OperationID)
	}
	if !op.Amount.IsPositive() {
		return trading.BalanceResult{}, clientError(name, trading.ErrInvalidRequest, "amount %s is not positive", op.Amount)
	}
	if strings.TrimSpace(op.Login) == "" {
		return trading.BalanceResult{}, clientError(name, trading.ErrInvalidRequest, "login is empty")
	}
	amount := op.Amount
	var path string
	switch op.Kind {
	case trading.Deposit:
		path = "v1/account-operations/deposit"
	case trading.Withdrawal:
		path = "v1/account-operations/withdraw"
	case trading.CreditIn:
		path = "v1/account-operations/credit"
	case trading.CreditOut:
		path, amount = "v1/account-operations/credit", amount.Neg()
	default:
		return trading.BalanceResult{}, clientError(name, trading.ErrInvalidRequest, "balance kind %q", op.Kind)
	}
	key := c.idempotencyKey("money", op.OperationID)
	a, err := c.call(ctx, request{op: name, method: http.MethodPost, path: path, idemKey: key, resendable: true,
		money: true, body: map[string]any{"accountId": op.Login, "amount": amount.String(), "note": note(op)}})
	if err != nil {
		return trading.BalanceResult{}, err
	}
	ticket, err := parseOperationID(a.body)
	if err != nil {
		return trading.BalanceResult{}, unreadable(name, a, err)
	}
	replayed := c.replays.note(key, ticket) || a.replayed
	c.log.LogAttrs(ctx, slog.LevelInfo, "tradelocker balance operation", slog.String("login", op.Login),
		slog.String("kind", string(op.Kind)), slog.String("amount", op.Amount.String()),
		slog.String("operation_id", op.OperationID), slog.String("ticket", ticket), slog.Bool("replayed", replayed))
	return trading.BalanceResult{Ticket: ticket, Replayed: replayed}, nil
}

// maxNote is our own cap on the note: TradeLocker publishes none, and back-office reports truncate long notes.
const maxNote = 255

// note puts the CRM's id first, so an operator can find the CRM record from TradeLocker's reports.
func note(op trading.BalanceOp) string {
	s := strings.TrimSpace(op.OperationID + " " + strings.TrimSpace(op.Comment))
	if r := []rune(s); len(r) > maxNote {
		s = string(r[:maxNote])
	}
	return s
}

// OpenPositions reads v1/positions/get-open-positions for the account.
func (c *Connector) OpenPositions(ctx context.Context, login string) ([]trading.Position, error) {
	const op = "open_positions"
	if strings.TrimSpace(login) == "" {
		return nil, clientError(op, trading.ErrInvalidRequest, "login is empty")
	}
	a, err := c.call(ctx, request{op: op, method: http.MethodPost, path: "v1/positions/get-open-positions",
		body: map[string]any{"type": c.cfg.Environment, "accountId": login}, resendable: true})
	if err != nil {
		return nil, err
	}
	ps, err := parsePositions(a.body, login)
	if err != nil {
		return nil, unreadable(op, a, err)
	}
	return ps, nil
}
