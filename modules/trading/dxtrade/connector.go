package dxtrade

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// Connector is one manager session on one DXtrade server. It is safe for concurrent use.
type Connector struct {
	cfg      Config
	roots    [2]string // by api
	sessions [2]*session
	http     *http.Client
	own      *http.Transport // the transport New made, closed by Close; nil when the caller brought a client
	limiter  *rate.Limiter
	log      *slog.Logger

	insufficient map[string]bool
	leverageOf   map[string]int // Margining category name -> leverage, for reading accounts back
	maxLeverage  int

	life     context.Context // ends at Close; logins run on it
	stop     context.CancelFunc
	stopOnce sync.Once

	// now and sleep are the clock; tests replace them to see back-off without waiting for it.
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	// currencies caches each account's currency: DXtrade fixes it at creation, so an entry never goes stale.
	currencies sync.Map
	// creditLocks serialises credit changes per account inside this process (see changeCredit).
	creditLocks keyedLocks
}

var _ trading.Connector = (*Connector)(nil)

// New checks cfg and returns a connector. It does not call the server: the first call logs in.
func New(cfg Config) (*Connector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Connector{
		cfg:          cfg,
		roots:        [2]string{cfg.BaseURL + cfg.AdminPath, cfg.BaseURL + cfg.TradingPath},
		sessions:     [2]*session{{api: adminAPI}, {api: tradingAPI}},
		http:         cfg.HTTPClient,
		limiter:      rate.NewLimiter(cfg.RateLimit, cfg.RateBurst),
		log:          cfg.Logger.With("platform", string(trading.PlatformDXtrade), "server", cfg.BaseURL),
		insufficient: map[string]bool{},
		leverageOf:   map[string]int{},
		now:          time.Now,
		sleep:        sleepCtx,
	}
	if c.http == nil {
		c.own = http.DefaultTransport.(*http.Transport).Clone()
		c.own.MaxIdleConnsPerHost = 16
		c.http = &http.Client{Transport: c.own}
	}
	for _, code := range cfg.InsufficientFundsCodes {
		c.insufficient[code] = true
	}
	for lev, name := range cfg.LeverageCategories {
		c.leverageOf[name] = lev
		c.maxLeverage = max(c.maxLeverage, lev)
	}
	c.life, c.stop = context.WithCancel(context.Background())
	return c, nil
}

// Capabilities is what this connector tells callers about DXtrade.
func (c *Connector) Capabilities() trading.Capabilities {
	return trading.Capabilities{
		Platform:          trading.PlatformDXtrade,
		SwapFree:          trading.SwapFreeByCategory,
		LeverageByGroup:   false,
		CurrencyFixed:     true,
		NativeIdempotency: true,
		MaxDealWindow:     0,
		MaxLeverage:       c.maxLeverage,
	}
}

// Ping logs in to both APIs if needed and pings the trading API, which also keeps its session alive.
func (c *Connector) Ping(ctx context.Context) error {
	if _, err := c.token(ctx, c.sessions[adminAPI]); err != nil {
		return err
	}
	return c.do(ctx, &call{api: tradingAPI, method: http.MethodPost, path: "/ping", op: "ping", resend: true})
}

// Close logs out of both APIs (best effort) and releases the connector's connections. Calls after Close fail.
func (c *Connector) Close() error {
	c.stopOnce.Do(func() {
		c.stop()
		for _, s := range c.sessions {
			c.logout(s)
		}
		if c.own != nil {
			c.own.CloseIdleConnections()
		}
	})
	return nil
}

// Account reads the account's settings from the register API and its money from the trading API's metrics.
func (c *Connector) Account(ctx context.Context, login string) (trading.Account, error) {
	const op = "account"
	if err := checkLogin(op, login); err != nil {
		return trading.Account{}, err
	}
	wa, _, err := c.getAccount(ctx, op, login)
	if err != nil {
		return trading.Account{}, err
	}
	m, err := c.metrics(ctx, op, login, false)
	if err != nil {
		return trading.Account{}, err
	}
	return c.toAccount(wa, m), nil
}

// toAccount is the named converter from DXtrade's two records to the platform-neutral account.
func (c *Connector) toAccount(wa wireAccount, m wireMetrics) trading.Account {
	return trading.Account{
		Login:      wa.AccountCode,
		Group:      wa.category(c.cfg.GroupDomain),
		Currency:   wa.Currency,
		Leverage:   c.leverageOf[wa.category(domainMargining)], // 0 when the category is not one we map
		Access:     accessOf(wa.Status),
		SwapFree:   wa.category(domainFinancing) == c.cfg.FinancingSwapFree,
		Balance:    m.Balance.d,
		Credit:     m.Credit.d,
		Equity:     m.Equity.d,
		Margin:     m.Margin.d,
		FreeMargin: m.MarginFree.or(m.AvailableFunds),
	}
}

// DXtrade account statuses.
const (
	statusFullTrading = "FULL_TRADING"
	statusCloseOnly   = "CLOSE_ONLY"
	statusNoTrading   = "NO_TRADING"
	statusTerminated  = "TERMINATED"
	statusExpired     = "EXPIRED"
)

// accessOf maps an account status to what the account may do:
//
//	FULL_TRADING           login on,  trading on
//	CLOSE_ONLY, NO_TRADING login on,  trading off (CLOSE_ONLY may still close positions)
//	TERMINATED, EXPIRED    login off, trading off
//
// An unknown status reads as everything off: the CRM must not believe an account can trade when it cannot tell.
func accessOf(status string) trading.Access {
	switch status {
	case statusFullTrading:
		return trading.Access{LoginEnabled: true, TradingEnabled: true}
	case statusCloseOnly, statusNoTrading:
		return trading.Access{LoginEnabled: true}
	default:
		return trading.Access{}
	}
}

// statusFor is the status SetAccess writes. Trading off is NO_TRADING, like a disabled trade right elsewhere;
// login off is TERMINATED, DXtrade's only account status that keeps the trader out.
func statusFor(a trading.Access) string {
	switch {
	case !a.LoginEnabled:
		return statusTerminated
	case !a.TradingEnabled:
		return statusNoTrading
	default:
		return statusFullTrading
	}
}

// SetAccess writes the status for a, unless the account's status already means a: a CLOSE_ONLY the dealing desk
// chose is not replaced by NO_TRADING when the CRM only asks for "trading off".
func (c *Connector) SetAccess(ctx context.Context, login string, a trading.Access) error {
	const op = "set_access"
	if err := checkLogin(op, login); err != nil {
		return err
	}
	wa, _, err := c.getAccount(ctx, op, login)
	if err != nil {
		return err
	}
	if accessOf(wa.Status) == a {
		return nil
	}
	return c.do(ctx, &call{api: adminAPI, method: http.MethodPut, path: c.accountPath(login), op: op, resend: true,
		body: map[string]string{"status": statusFor(a)}})
}

// metaCreatedBy is the account metadata key that records which CRM operation created the account, so a retried
// CreateAccount can tell its own account from someone else's holding the same code.
const metaCreatedBy = "brokerdesk.operationId"

// maxCodeAttempts bounds how many generated codes CreateAccount tries when codes are already taken.
const maxCodeAttempts = 5

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// CreateAccount registers one DXtrade user owning one LIVE account, both named by the account code, with its
// leverage, swap and group categories set in the same call. The code is a.Login when requested, otherwise one
// from Config.AccountCodes; with an OperationID a retry finds and returns the account the first attempt made.
func (c *Connector) CreateAccount(ctx context.Context, a trading.NewAccount) (trading.Account, error) {
	const op = "create_account"
	if !currencyRE.MatchString(a.Currency) {
		return trading.Account{}, invalid(op, "currency %q is not an ISO 4217 code", a.Currency)
	}
	levCategory, err := c.leverageCategory(op, a.Leverage)
	if err != nil {
		return trading.Account{}, err
	}
	if a.Password == "" {
		return trading.Account{}, invalid(op, "a password is required")
	}
	if a.Login != "" {
		if err := checkLogin(op, a.Login); err != nil {
			return trading.Account{}, err
		}
	}
	categories := []wireCategory{
		{Category: domainMargining, Value: levCategory},
		{Category: domainFinancing, Value: c.cfg.FinancingStandard},
	}
	if a.Group != "" {
		categories = append(categories, wireCategory{Category: c.cfg.GroupDomain, Value: a.Group})
	}
	var metadata map[string]string
	if a.OperationID != "" {
		metadata = map[string]string{metaCreatedBy: a.OperationID}
	}
	for attempt := range maxCodeAttempts {
		code := a.Login
		if code == "" {
			if code, err = c.cfg.AccountCodes.code(a.OperationID, attempt); err != nil {
				return trading.Account{}, fmt.Errorf("dxtrade %s: %w", op, err)
			}
		}
		err := c.do(ctx, &call{api: adminAPI, method: http.MethodPost, path: "/api/register/client", op: op,
			body: registerClient{
				Domain: c.cfg.Domain, Login: code, Password: a.Password, Email: a.Email,
				FullName: strings.TrimSpace(a.FirstName + " " + a.LastName), BrokerCode: c.cfg.BrokerCode,
				Accounts: []registerAccount{{
					ClearingCode: c.cfg.ClearingCode, AccountCode: code, Currency: a.Currency,
					AccountType: "LIVE", Status: statusFullTrading, Categories: categories, Metadata: metadata,
				}},
			}})
		switch {
		case err == nil:
			c.currencies.Store(code, a.Currency)
			return c.createdAccount(ctx, code, a), nil
		case errors.Is(err, trading.ErrNotFound):
			// Nothing exists yet that could be missing except what the request names: a category, the broker or
			// the clearing. That is the request's fault.
			return trading.Account{}, rekind(err, trading.ErrInvalidRequest)
		case !errors.Is(err, trading.ErrAlreadyExists) || a.Login != "":
			return trading.Account{}, err
		}
		// The code is taken. If our own earlier attempt took it, this is a retry: return that account.
		if a.OperationID != "" {
			if wa, _, gerr := c.getAccount(ctx, op, code); gerr == nil {
				if by, _ := wa.metaString(metaCreatedBy); by == a.OperationID {
					c.log.Info("dxtrade account already created by this operation", "op", op, "login", code)
					return c.createdAccount(ctx, code, a), nil
				}
			}
		}
		c.log.Info("dxtrade account code taken, trying the next", "op", op, "login", code)
	}
	return trading.Account{}, platformError(trading.ErrAlreadyExists, op, "account_code",
		fmt.Sprintf("every generated account code tried (%d) is taken", maxCodeAttempts))
}

// createdAccount reads a just-created account back. The account exists whatever that read says, so a failed read
// must not turn into an error (a caller without an OperationID would open a second account): it falls back to
// what was created, which for a new account is all there is: the request's settings and no money.
func (c *Connector) createdAccount(ctx context.Context, code string, a trading.NewAccount) trading.Account {
	acc, err := c.Account(ctx, code)
	if err == nil {
		return acc
	}
	c.log.Warn("dxtrade account created but not read back", "op", "create_account", "login", code, "err", err)
	return trading.Account{
		Login: code, Group: a.Group, Currency: a.Currency, Leverage: a.Leverage,
		Access: trading.Access{LoginEnabled: true, TradingEnabled: true},
	}
}

// registerClient is the body of POST /api/register/client: a user and the accounts it owns.
type registerClient struct {
	Domain     string            `json:"domain"`
	Login      string            `json:"login"`
	Password   string            `json:"password"`
	Email      string            `json:"email,omitempty"`
	FullName   string            `json:"fullName,omitempty"`
	BrokerCode string            `json:"brokerCode"`
	Accounts   []registerAccount `json:"accounts"`
}

type registerAccount struct {
	ClearingCode string            `json:"clearingCode"`
	AccountCode  string            `json:"accountCode"`
	Currency     string            `json:"currency"`
	AccountType  string            `json:"accountType"`
	Status       string            `json:"status"`
	Categories   []wireCategory    `json:"categories"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// leverageCategory returns the Margining category for 1:lev, refusing leverages the broker has not mapped.
func (c *Connector) leverageCategory(op string, lev int) (string, error) {
	if lev < 1 || lev > c.maxLeverage {
		return "", invalid(op, "leverage 1:%d is outside 1..%d", lev, c.maxLeverage)
	}
	name, ok := c.cfg.LeverageCategories[lev]
	if !ok {
		levs := make([]int, 0, len(c.cfg.LeverageCategories))
		for l := range c.cfg.LeverageCategories {
			levs = append(levs, l)
		}
		slices.Sort(levs)
		return "", invalid(op, "no Margining category is configured for 1:%d (configured: %v)", lev, levs)
	}
	return name, nil
}

// SetLeverage assigns the Margining category mapped to 1:leverage.
func (c *Connector) SetLeverage(ctx context.Context, login string, leverage int) error {
	const op = "set_leverage"
	if err := checkLogin(op, login); err != nil {
		return err
	}
	name, err := c.leverageCategory(op, leverage)
	if err != nil {
		return err
	}
	return c.setCategory(ctx, op, login, domainMargining, name)
}

// MoveGroup assigns group as the account's category in Config.GroupDomain. Leverage (Margining), swaps
// (Financing) and currency are untouched: on DXtrade those are separate, so a "group" is only the account type.
func (c *Connector) MoveGroup(ctx context.Context, login, group string) error {
	const op = "move_group"
	if err := checkLogin(op, login); err != nil {
		return err
	}
	if group == "" {
		return invalid(op, "group is empty")
	}
	return c.setCategory(ctx, op, login, c.cfg.GroupDomain, group)
}

// SetSwapFree assigns the swap-free or the standard Financing category.
func (c *Connector) SetSwapFree(ctx context.Context, login string, swapFree bool) error {
	const op = "set_swap_free"
	if err := checkLogin(op, login); err != nil {
		return err
	}
	name := c.cfg.FinancingStandard
	if swapFree {
		name = c.cfg.FinancingSwapFree
	}
	return c.setCategory(ctx, op, login, domainFinancing, name)
}

// setCategory assigns value in domain. DXtrade answers 404 both when the account is unknown and when the category
// is, so a 404 is checked against the account: an existing account means the category name was wrong.
func (c *Connector) setCategory(ctx context.Context, op, login, domain, value string) error {
	err := c.do(ctx, &call{api: adminAPI, method: http.MethodPut, op: op, resend: true,
		path: c.accountPath(login) + "/category/" + url.PathEscape(domain), body: map[string]string{"value": value}})
	if !errors.Is(err, trading.ErrNotFound) {
		return err
	}
	if _, _, gerr := c.getAccount(ctx, op, login); gerr != nil {
		return gerr
	}
	return rekind(err, trading.ErrInvalidRequest)
}

// ResetPassword sets the password of the user that owns the account, whose login is the account code for every
// account CreateAccount made. DXtrade has no investor (read-only) password: that kind is ErrUnsupported.
func (c *Connector) ResetPassword(ctx context.Context, login string, kind trading.PasswordKind, password string) error {
	const op = "reset_password"
	if err := checkLogin(op, login); err != nil {
		return err
	}
	switch kind {
	case trading.PasswordMain:
		if password == "" {
			return invalid(op, "password is empty")
		}
		return c.do(ctx, &call{api: adminAPI, method: http.MethodPut, op: op, resend: true,
			path: "/api/register/client/" + url.PathEscape(c.cfg.Domain) + "/" + url.PathEscape(login),
			body: map[string]string{"password": password}})
	case trading.PasswordInvestor:
		// An unknown account is still "not found" rather than "unsupported": the caller's mistake comes first.
		if _, _, err := c.getAccount(ctx, op, login); err != nil {
			return err
		}
		return platformError(trading.ErrUnsupported, op, "investor_password",
			"DXtrade accounts have no investor (read-only) password")
	default:
		return invalid(op, "unknown password kind %q", kind)
	}
}

// getAccount reads the register API's account record and its ETag (for conditional updates).
func (c *Connector) getAccount(ctx context.Context, op, login string) (wireAccount, string, error) {
	var body []byte
	cl := &call{api: adminAPI, method: http.MethodGet, path: c.accountPath(login), op: op, resend: true, out: &body}
	if err := c.do(ctx, cl); err != nil {
		return wireAccount{}, "", err
	}
	wa, err := parseAccount(body)
	if err != nil {
		return wireAccount{}, "", badAnswer(op, err)
	}
	if wa.Currency != "" {
		c.currencies.Store(login, wa.Currency)
	}
	return wa, cl.etag, nil
}

// metrics reads the account's entry in the trading API's metrics, with per-position metrics when asked.
func (c *Connector) metrics(ctx context.Context, op, login string, withPositions bool) (wireMetrics, error) {
	var body []byte
	cl := &call{api: tradingAPI, method: http.MethodGet, path: c.tradingPath(login) + "/metrics", op: op,
		resend: true, out: &body}
	if withPositions {
		cl.query = url.Values{"include-positions": {"true"}}
	}
	if err := c.do(ctx, cl); err != nil {
		return wireMetrics{}, err
	}
	m, err := parseMetrics(body, c.tradingAccount(login))
	if err != nil {
		return wireMetrics{}, badAnswer(op, err)
	}
	return m, nil
}

func (c *Connector) accountPath(login string) string {
	return "/api/register/account/" + url.PathEscape(c.cfg.ClearingCode) + "/" + url.PathEscape(login)
}

// tradingAccount is how the trading API names an account: clearing code and account code joined by a colon.
func (c *Connector) tradingAccount(login string) string { return c.cfg.ClearingCode + ":" + login }

func (c *Connector) tradingPath(login string) string {
	return "/accounts/" + url.PathEscape(c.tradingAccount(login))
}

// checkLogin refuses logins that cannot be an account code before they reach a URL path.
func checkLogin(op, login string) error {
	if !codeRE.MatchString(login) {
		return invalid(op, "login %q is not a DXtrade account code", clip(login, 70))
	}
	return nil
}

// badAnswer is a 2xx answer the connector cannot read: the server is not behaving, so callers may retry later.
func badAnswer(op string, cause error) error {
	return fmt.Errorf("%w: %w", platformError(trading.ErrUnavailable, op, "answer", "unreadable answer"), cause)
}

// keyedLocks is a mutex per key that exists only while someone holds or waits for it.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	mu      sync.Mutex
	holders int
}

func (k *keyedLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.holders++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.holders--; l.holders == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
