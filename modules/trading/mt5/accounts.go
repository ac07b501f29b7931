package mt5

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// parseLogin turns a CRM login into MT5's UINT64. Text that is no MT5 login names no account there.
func parseLogin(op, login string) (uint64, error) {
	n, err := strconv.ParseUint(login, 10, 64)
	if err != nil || n == 0 {
		return 0, localError(op, trading.ErrNotFound, "%q is not an MT5 login", login)
	}
	return n, nil
}

func loginQuery(login uint64) url.Values {
	return url.Values{"login": {strconv.FormatUint(login, 10)}}
}

// getUser reads /api/user/get.
func (c *Connector) getUser(ctx context.Context, op string, login uint64) (userRecord, error) {
	ans, err := c.call(ctx, request{op: op, method: http.MethodGet, path: "/api/user/get", query: loginQuery(login)})
	if err != nil {
		return userRecord{}, err
	}
	u, err := parseUser(ans)
	if err != nil {
		return userRecord{}, &transportError{cause: fmt.Errorf("/api/user/get: %w", err), sent: true}
	}
	return u, nil
}

// userExists tells a missing account from an empty list: some server builds answer 13 (not found) to a batch
// query that matched nothing.
func (c *Connector) userExists(ctx context.Context, op string, login uint64) error {
	_, err := c.getUser(ctx, op, login)
	return err
}

func accessOf(rights uint64) trading.Access {
	return trading.Access{
		LoginEnabled:   rights&rightEnabled != 0,
		TradingEnabled: rights&rightTradeDisabled == 0,
	}
}

func (c *Connector) isSwapFree(group string) bool {
	_, ok := c.standardOf[group]
	return ok
}

// CreateAccount opens an account with /api/user/add. The group fixes the currency; a NewAccount.Currency that
// differs from the group's is refused before the server is asked.
func (c *Connector) CreateAccount(ctx context.Context, a trading.NewAccount) (trading.Account, error) {
	const op = "create_account"
	acc, err := c.createAccount(ctx, op, a)
	return acc, toPlatformError(op, err)
}

func (c *Connector) createAccount(ctx context.Context, op string, a trading.NewAccount) (trading.Account, error) {
	var login uint64
	if a.Login != "" {
		n, err := strconv.ParseUint(a.Login, 10, 64)
		if err != nil || n == 0 {
			return trading.Account{}, localError(op, trading.ErrInvalidRequest, "requested login %q is not an MT5 login", a.Login)
		}
		login = n
	}
	if a.Group == "" {
		return trading.Account{}, localError(op, trading.ErrInvalidRequest, "a group is required")
	}
	if err := c.checkLeverage(op, a.Leverage); err != nil {
		return trading.Account{}, err
	}
	if a.Password == "" {
		return trading.Account{}, localError(op, trading.ErrInvalidRequest, "a main password is required")
	}
	if a.OperationID != "" {
		if err := checkOperationID(op, a.OperationID); err != nil {
			return trading.Account{}, err
		}
	}
	g, err := c.existingGroup(ctx, op, a.Group)
	if err != nil {
		return trading.Account{}, err
	}
	if a.Currency != "" && !strings.EqualFold(a.Currency, g.Currency) {
		return trading.Account{}, localError(op, trading.ErrInvalidRequest,
			"group %s keeps accounts in %s, not %s: on MT5 the group fixes the currency", a.Group, g.Currency, a.Currency)
	}
	investor := a.InvestorPassword
	if investor == "" {
		// MT5 needs an investor password; an unguessable one keeps read-only access closed until the client
		// sets their own through ResetPassword.
		investor = randomPassword()
	}
	name := strings.TrimSpace(a.FirstName + " " + a.LastName)
	if name == "" {
		name = a.Email
	}
	q := url.Values{
		"login":    {strconv.FormatUint(login, 10)},
		"group":    {a.Group},
		"name":     {name},
		"leverage": {strconv.Itoa(a.Leverage)},
	}
	if a.Email != "" {
		q.Set("email", a.Email)
	}
	body := map[string]string{
		// Passwords travel in the body, never in the query, so they stay out of any access log.
		"PassMain":     a.Password,
		"PassInvestor": investor,
		"FirstName":    a.FirstName,
		"LastName":     a.LastName,
	}
	if a.OperationID != "" {
		body["Comment"] = OperationTag(a.OperationID) // lets an operator find which CRM request opened the account
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return trading.Account{}, fmt.Errorf("mt5: encoding user/add body: %w", err)
	}
	ans, err := c.call(ctx, request{op: op, method: http.MethodPost, path: "/api/user/add", query: q, body: raw, unsafe: true})
	var te *transportError
	if errors.As(err, &te) && te.sent && login != 0 {
		// The answer was lost. With a requested login the account is unmistakable: if it now exists in the
		// requested group, the first attempt created it.
		u, gerr := c.getUser(ctx, op, login)
		if gerr == nil && u.Group == a.Group {
			return c.newAccount(u, g), nil
		}
		return trading.Account{}, err
	}
	if err != nil {
		return trading.Account{}, err
	}
	u, err := parseUser(ans)
	if err != nil {
		return trading.Account{}, &transportError{cause: fmt.Errorf("/api/user/add: %w", err), sent: true}
	}
	c.log.Info("mt5 account created", "login", u.Login, "group", u.Group)
	return c.newAccount(u, g), nil
}

func (c *Connector) newAccount(u userRecord, g groupRecord) trading.Account {
	return trading.Account{
		Login:    strconv.FormatUint(u.Login, 10),
		Group:    u.Group,
		Currency: g.Currency,
		Leverage: int(u.Leverage),
		Access:   accessOf(u.Rights),
		SwapFree: c.isSwapFree(u.Group),
	}
}

// existingGroup reads a group named by the caller; a group the server does not know is a bad request, not a
// missing account.
func (c *Connector) existingGroup(ctx context.Context, op, name string) (groupRecord, error) {
	g, err := c.group(ctx, op, name)
	if errors.Is(err, trading.ErrNotFound) {
		var pe *trading.PlatformError
		errors.As(err, &pe)
		return groupRecord{}, &trading.PlatformError{Kind: trading.ErrInvalidRequest, Platform: trading.PlatformMT5, Op: op,
			Code: pe.Code, Message: fmt.Sprintf("group %s does not exist on the server: %s", name, pe.Message)}
	}
	return g, err
}

func (c *Connector) checkLeverage(op string, leverage int) error {
	if leverage < 1 || leverage > c.cfg.MaxLeverage {
		return localError(op, trading.ErrInvalidRequest, "leverage 1:%d is outside 1..%d", leverage, c.cfg.MaxLeverage)
	}
	return nil
}

// randomPassword makes a password that meets MT5's rules (8-16 characters with lower case, upper case, digits
// and a symbol).
func randomPassword() string {
	const (
		lower = "abcdefghijkmnpqrstuvwxyz"
		upper = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		digit = "23456789"
		punct = "#@!$%&*+-=?"
	)
	classes := []string{lower, upper, digit, punct, lower, upper, digit, lower, upper, digit, lower, upper}
	var b [12]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, len(classes))
	for i, set := range classes {
		out[i] = set[int(b[i])%len(set)]
	}
	return string(out)
}

// Account reads the user record, the account's money state and its group's currency.
func (c *Connector) Account(ctx context.Context, login string) (trading.Account, error) {
	const op = "account"
	acc, err := c.account(ctx, op, login)
	return acc, toPlatformError(op, err)
}

func (c *Connector) account(ctx context.Context, op, login string) (trading.Account, error) {
	n, err := parseLogin(op, login)
	if err != nil {
		return trading.Account{}, err
	}
	u, err := c.getUser(ctx, op, n)
	if err != nil {
		return trading.Account{}, err
	}
	ans, err := c.call(ctx, request{op: op, method: http.MethodGet, path: "/api/user/account/get", query: loginQuery(n)})
	if err != nil {
		return trading.Account{}, err
	}
	st, err := parseAccount(ans)
	if err != nil {
		return trading.Account{}, &transportError{cause: fmt.Errorf("/api/user/account/get: %w", err), sent: true}
	}
	g, err := c.group(ctx, op, u.Group)
	if err != nil {
		return trading.Account{}, err
	}
	acc := c.newAccount(u, g)
	acc.Balance, acc.Credit, acc.Equity, acc.Margin, acc.FreeMargin = st.Balance, st.Credit, st.Equity, st.Margin, st.MarginFree
	return acc, nil
}

// updateUser changes a user by read-modify-write: /api/user/update replaces the record, so it is sent back whole
// (every field the server gave, including ones this connector does not know) with only the intended change.
// change returns false when the account already is as asked, which saves the write.
func (c *Connector) updateUser(ctx context.Context, op, login string, change func(u *userRecord) (bool, error)) error {
	n, err := parseLogin(op, login)
	if err != nil {
		return err
	}
	u, err := c.getUser(ctx, op, n)
	if err != nil {
		return err
	}
	changed, err := change(&u)
	if err != nil || !changed {
		return err
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(u.raw, &fields); err != nil {
		return fmt.Errorf("mt5: re-reading user record: %w", err)
	}
	for k, v := range map[string]string{
		"Group":    u.Group,
		"Leverage": strconv.FormatInt(u.Leverage, 10),
		"Rights":   strconv.FormatUint(u.Rights, 10),
	} {
		q, _ := json.Marshal(v) // the server sends numbers as strings; send them back the same way
		fields[k] = q
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return fmt.Errorf("mt5: encoding user record: %w", err)
	}
	q := loginQuery(n)
	q.Set("group", u.Group)
	q.Set("leverage", strconv.FormatInt(u.Leverage, 10))
	q.Set("rights", strconv.FormatUint(u.Rights, 10))
	// An update sets absolute values, so resending it after a lost answer cannot do harm.
	_, err = c.call(ctx, request{op: op, method: http.MethodPost, path: "/api/user/update", query: q, body: body})
	return err
}

// SetLeverage changes the account's leverage.
func (c *Connector) SetLeverage(ctx context.Context, login string, leverage int) error {
	const op = "set_leverage"
	if err := c.checkLeverage(op, leverage); err != nil {
		return err
	}
	err := c.updateUser(ctx, op, login, func(u *userRecord) (bool, error) {
		if u.Leverage == int64(leverage) {
			return false, nil
		}
		u.Leverage = int64(leverage)
		return true, nil
	})
	return toPlatformError(op, err)
}

// MoveGroup moves the account to another group of the same currency.
func (c *Connector) MoveGroup(ctx context.Context, login, group string) error {
	const op = "move_group"
	if group == "" {
		return localError(op, trading.ErrInvalidRequest, "a group is required")
	}
	return toPlatformError(op, c.moveGroup(ctx, op, login, func(string) (string, error) { return group, nil }))
}

// moveGroup moves the account to the group target picks from its current one, refusing a currency change:
// MT5 answers 3010 for most such moves, but the check here does not depend on the server catching it.
func (c *Connector) moveGroup(ctx context.Context, op, login string, target func(current string) (string, error)) error {
	return c.updateUser(ctx, op, login, func(u *userRecord) (bool, error) {
		to, err := target(u.Group)
		if err != nil || to == u.Group {
			return false, err
		}
		dst, err := c.existingGroup(ctx, op, to)
		if err != nil {
			return false, err
		}
		src, err := c.group(ctx, op, u.Group)
		if err != nil {
			return false, err
		}
		if !strings.EqualFold(src.Currency, dst.Currency) {
			return false, localError(op, trading.ErrInvalidRequest,
				"group %s is in %s but the account is in %s: a currency change needs a new account", to, dst.Currency, src.Currency)
		}
		u.Group = to
		return true, nil
	})
}

// SetSwapFree moves the account to its group's swap-free twin (or back) as configured in Config.SwapFreeGroups.
func (c *Connector) SetSwapFree(ctx context.Context, login string, swapFree bool) error {
	const op = "set_swap_free"
	err := c.moveGroup(ctx, op, login, func(current string) (string, error) {
		if swapFree {
			if c.isSwapFree(current) {
				return current, nil
			}
			twin, ok := c.cfg.SwapFreeGroups[current]
			if !ok {
				return "", localError(op, trading.ErrInvalidRequest, "group %s has no swap-free twin configured", current)
			}
			return twin, nil
		}
		if std, ok := c.standardOf[current]; ok {
			return std, nil
		}
		return current, nil
	})
	return toPlatformError(op, err)
}

// SetAccess sets the rights bits for logging in (0x1 enabled) and trading (0x4 trade disabled), keeping all
// other rights as they are.
func (c *Connector) SetAccess(ctx context.Context, login string, access trading.Access) error {
	const op = "set_access"
	err := c.updateUser(ctx, op, login, func(u *userRecord) (bool, error) {
		rights := u.Rights &^ (rightEnabled | rightTradeDisabled)
		if access.LoginEnabled {
			rights |= rightEnabled
		}
		if !access.TradingEnabled {
			rights |= rightTradeDisabled
		}
		if rights == u.Rights {
			return false, nil
		}
		u.Rights = rights
		return true, nil
	})
	return toPlatformError(op, err)
}

// ResetPassword sets the main or investor password with /api/user/change_password.
func (c *Connector) ResetPassword(ctx context.Context, login string, kind trading.PasswordKind, password string) error {
	const op = "reset_password"
	var typ string
	switch kind {
	case trading.PasswordMain:
		typ = "main"
	case trading.PasswordInvestor:
		typ = "investor"
	default:
		return localError(op, trading.ErrInvalidRequest, "unknown password kind %q", kind)
	}
	if password == "" || !utf8.ValidString(password) {
		return localError(op, trading.ErrInvalidRequest, "a password is required")
	}
	n, err := parseLogin(op, login)
	if err != nil {
		return err
	}
	q := loginQuery(n)
	q.Set("type", typ)
	q.Set("password", password)
	// Setting a password is idempotent, so a resend after a lost answer is harmless.
	_, err = c.call(ctx, request{op: op, method: http.MethodGet, path: "/api/user/change_password", query: q})
	return toPlatformError(op, err)
}

// OpenPositions lists the account's positions with /api/position/get_batch.
func (c *Connector) OpenPositions(ctx context.Context, login string) ([]trading.Position, error) {
	const op = "open_positions"
	ps, err := c.openPositions(ctx, op, login)
	return ps, toPlatformError(op, err)
}

func (c *Connector) openPositions(ctx context.Context, op, login string) ([]trading.Position, error) {
	n, err := parseLogin(op, login)
	if err != nil {
		return nil, err
	}
	clk, err := c.serverClock(ctx, op)
	if err != nil {
		return nil, err
	}
	ans, err := c.call(ctx, request{op: op, method: http.MethodGet, path: "/api/position/get_batch", query: loginQuery(n)})
	if errors.Is(err, trading.ErrNotFound) {
		return nil, c.userExists(ctx, op, n)
	}
	if err != nil {
		return nil, err
	}
	recs, err := parsePositions(ans)
	if err != nil {
		return nil, &transportError{cause: fmt.Errorf("/api/position/get_batch: %w", err), sent: true}
	}
	out := make([]trading.Position, 0, len(recs))
	for _, p := range recs {
		out = append(out, p.toPosition(clk))
	}
	return out, nil
}

// signedAmount is the Web API's form of a balance movement: positive in, negative out.
func signedAmount(kind trading.BalanceKind, amount decimal.Decimal) decimal.Decimal {
	if kind == trading.Withdrawal || kind == trading.CreditOut {
		return amount.Neg()
	}
	return amount
}
