// Package simulator is BrokerDesk's built-in trading platform: a complete, in-process trading server that
// implements trading.Connector, so a demo brokerage (and every test of the flows above the connectors) has accounts,
// groups, money, prices, positions and deals without a vendor server. It behaves like the strictest platform we
// connect to where they differ (MT5's groups, passwords and margin modes), keeps money as exact decimals, dedupes
// balance operations by the CRM's OperationID, and keeps its state in a directory as a journal of events, so a
// restart loses nothing. Tests reach its fault hooks through Simulator.Faults.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/sys/unix"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// ErrLocked is returned by Open when another Simulator (in this process or another) holds the state directory.
var ErrLocked = errors.New("simulator state directory is in use")

// Options configure a Simulator. The zero value is a demo brokerage with DefaultGroups.
type Options struct {
	// Groups replace DefaultGroups. Every account in the state directory must be in one of them.
	Groups []Group
	// FirstLogin is the first login the sequence hands out on a fresh directory (default 100000).
	FirstLogin int64
	// Now is the clock for deal and event times (default time.Now); tests fix it.
	Now func() time.Time
	// SnapshotEvery compacts the journal into a snapshot after this many events (default 10000; negative: only at
	// Close).
	SnapshotEvery int
	// PasswordIterations is the PBKDF2 cost for new password hashes (default 600000, OWASP's figure for
	// PBKDF2-SHA256). Tests lower it: the cost is stored with each hash, so old hashes still verify.
	PasswordIterations int
}

func (o Options) withDefaults() Options {
	if o.Groups == nil {
		o.Groups = DefaultGroups()
	}
	if o.FirstLogin == 0 {
		o.FirstLogin = 100_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = 10_000
	}
	if o.PasswordIterations == 0 {
		o.PasswordIterations = 600_000
	}
	return o
}

// Simulator is one simulated trading server with its state directory. It is safe for concurrent use.
type Simulator struct {
	// Faults makes the platform misbehave on purpose; only tests use it.
	Faults Faults

	dir    string
	opts   Options
	groups map[string]Group
	lock   *os.File

	mu            sync.RWMutex // guards everything below; the journal is written under the write lock
	st            *state
	journal       *os.File
	sinceSnapshot int
	broken        error // a failed journal write: the disk and memory may disagree, so no more writes
	closed        bool
}

var _ trading.Connector = (*Simulator)(nil)

// Open opens (creating if needed) the simulator whose state lives in dir, replaying its snapshot and journal. Only
// one Simulator may have dir open at a time; a second Open fails with ErrLocked.
func Open(dir string, opts Options) (*Simulator, error) {
	opts = opts.withDefaults()
	groups, err := groupIndex(opts.Groups)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("simulator: create state dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("simulator: open lock file: %w", err)
	}
	// flock belongs to the open file description, so a second Open in this same process conflicts too.
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("simulator: %s: %w (close the other Simulator first)", dir, ErrLocked)
		}
		return nil, fmt.Errorf("simulator: lock %s: %w", dir, err)
	}
	s := &Simulator{dir: dir, opts: opts, groups: groups, lock: lock}
	s.Faults.sim = s
	if err := s.openState(); err != nil {
		s.unlock()
		return nil, err
	}
	return s, nil
}

func (s *Simulator) openState() error {
	st, err := load(s.dir, func() *state { return newState(s.opts.FirstLogin, startPrices()) })
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	for _, a := range st.Accounts {
		if _, ok := s.groups[a.Group]; !ok {
			return fmt.Errorf("simulator: account %s is in group %q, which Options.Groups no longer has", a.Login, a.Group)
		}
	}
	s.st = st
	s.journal, err = os.OpenFile(filepath.Join(s.dir, journalFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("simulator: open journal for append: %w", err)
	}
	return nil
}

func startPrices() quotes {
	q := quotes{}
	for _, sym := range symbols() {
		q[sym.Name] = sym.StartBid
	}
	return q
}

func (s *Simulator) unlock() {
	_ = unix.Flock(int(s.lock.Fd()), unix.LOCK_UN)
	_ = s.lock.Close()
}

// Close compacts the journal into a snapshot and releases the directory. It is safe to call more than once.
func (s *Simulator) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.broken == nil {
		if err := s.compact(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.journal.Close(); err != nil {
		errs = append(errs, fmt.Errorf("simulator: close journal: %w", err))
	}
	s.unlock()
	return errors.Join(errs...)
}

// compact writes a snapshot and empties the journal. A crash between the two leaves events the snapshot already
// holds; replay skips them by sequence number.
func (s *Simulator) compact() error {
	if err := writeSnapshot(s.dir, s.st); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	if err := s.journal.Truncate(0); err != nil {
		return fmt.Errorf("simulator: empty journal after snapshot: %w", err)
	}
	s.sinceSnapshot = 0
	return nil
}

// commit writes ev to the journal (fsync'd when money moved) and then applies it. Callers hold the write lock and
// have already decided the change is allowed.
func (s *Simulator) commit(op string, ev event) error {
	if s.closed {
		// A call that passed enter just before Close must not write to the closed journal.
		return s.perr(op, trading.ErrUnavailable, "closed", "simulator is closed")
	}
	if s.broken != nil {
		return s.perr(op, trading.ErrUnavailable, "journal", "state journal failed earlier: %v", s.broken)
	}
	ev.Seq = s.st.Seq + 1
	ev.At = s.now()
	line, err := encodeEvent(ev)
	if err != nil {
		return s.perr(op, trading.ErrUnavailable, "internal", "%v", err)
	}
	if _, err := s.journal.Write(line); err != nil {
		s.broken = err
		return s.perr(op, trading.ErrUnavailable, "journal", "write state journal: %v", err)
	}
	if ev.moneyEvent() {
		if err := s.journal.Sync(); err != nil {
			s.broken = err
			return s.perr(op, trading.ErrUnavailable, "journal", "sync state journal: %v", err)
		}
	}
	if err := s.st.apply(ev); err != nil {
		// The event was built from this very state, so this is a bug; stop writing rather than drift further.
		s.broken = err
		return s.perr(op, trading.ErrUnavailable, "internal", "apply %s: %v", ev.Type, err)
	}
	s.sinceSnapshot++
	if s.opts.SnapshotEvery > 0 && s.sinceSnapshot >= s.opts.SnapshotEvery {
		// A failed compaction loses nothing (the journal still holds every event), so the operation stands.
		_ = s.compact()
	}
	return nil
}

func (s *Simulator) now() time.Time { return s.opts.Now().UTC() }

func (s *Simulator) perr(op string, kind error, code, format string, args ...any) error {
	return &trading.PlatformError{
		Kind: kind, Platform: trading.PlatformSimulator, Op: op, Code: code, Message: fmt.Sprintf(format, args...),
	}
}

// enter is the door every connector call goes through: a cancelled context, a closed simulator and an injected rate
// limit are answered before any work.
func (s *Simulator) enter(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("simulator %s: %w", op, err)
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return s.perr(op, trading.ErrUnavailable, "closed", "simulator is closed")
	}
	if s.Faults.takeRateLimit() {
		return s.perr(op, trading.ErrRateLimited, "rate_limited", "too many requests (injected)")
	}
	return nil
}

// Capabilities implements trading.Connector.
func (s *Simulator) Capabilities() trading.Capabilities {
	maxLev := 0
	for _, g := range s.groups {
		maxLev = max(maxLev, g.MaxLeverage)
	}
	return trading.Capabilities{
		Platform:          trading.PlatformSimulator,
		SwapFree:          trading.SwapFreeByGroup,
		CurrencyFixed:     true,
		NativeIdempotency: true,
		MaxLeverage:       maxLev,
	}
}

// Ping implements trading.Connector.
func (s *Simulator) Ping(ctx context.Context) error { return s.enter(ctx, "ping") }

// validLogin accepts what MT5 would: a positive number without a leading zero, small enough for an int64.
func validLogin(s string) bool {
	if len(s) == 0 || len(s) > 18 || s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validOperationID is the interface's rule for OperationID: 1 to 32 of [A-Za-z0-9_-].
func validOperationID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// CreateAccount implements trading.Connector. A requested login must be numeric (as on MT5); the sequence steps
// over logins already taken. An OperationID seen before returns the account it created.
func (s *Simulator) CreateAccount(ctx context.Context, na trading.NewAccount) (trading.Account, error) {
	const op = "create_account"
	if err := s.enter(ctx, op); err != nil {
		return trading.Account{}, err
	}
	g, ok := s.groups[na.Group]
	if !ok {
		return trading.Account{}, s.perr(op, trading.ErrInvalidRequest, "bad_group", "group %q does not exist", na.Group)
	}
	if na.Currency != "" && na.Currency != g.Currency {
		return trading.Account{}, s.perr(op, trading.ErrInvalidRequest, "bad_currency",
			"group %s is in %s, not %s", g.Name, g.Currency, na.Currency)
	}
	if na.Leverage < 1 || na.Leverage > g.MaxLeverage {
		return trading.Account{}, s.perr(op, trading.ErrInvalidRequest, "bad_leverage",
			"leverage 1:%d is outside 1:1..1:%d of group %s", na.Leverage, g.MaxLeverage, g.Name)
	}
	if na.Login != "" && !validLogin(na.Login) {
		return trading.Account{}, s.perr(op, trading.ErrInvalidRequest, "bad_login", "login %q is not a number", na.Login)
	}
	if na.OperationID != "" && !validOperationID(na.OperationID) {
		return trading.Account{}, s.perr(op, trading.ErrInvalidRequest, "bad_operation_id",
			"operation id %q is not 1-32 of [A-Za-z0-9_-]", na.OperationID)
	}
	if p := passwordProblem(na.Password); p != "" {
		return trading.Account{}, s.perr(op, trading.ErrInvalidRequest, "bad_password", "main %s", p)
	}
	if na.InvestorPassword != "" {
		if p := passwordProblem(na.InvestorPassword); p != "" {
			return trading.Account{}, s.perr(op, trading.ErrInvalidRequest, "bad_password", "investor %s", p)
		}
	}
	// Hashing is slow on purpose; do it before taking the lock so it never holds up other accounts.
	main, err := hashPassword(na.Password, s.opts.PasswordIterations)
	if err != nil {
		return trading.Account{}, s.perr(op, trading.ErrUnavailable, "internal", "%v", err)
	}
	var investor string
	if na.InvestorPassword != "" {
		if investor, err = hashPassword(na.InvestorPassword, s.opts.PasswordIterations); err != nil {
			return trading.Account{}, s.perr(op, trading.ErrUnavailable, "internal", "%v", err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if na.OperationID != "" {
		if login, done := s.st.CreateOps[na.OperationID]; done {
			return s.view(op, s.st.Accounts[login])
		}
	}
	login, chosen := na.Login, na.Login == ""
	if chosen {
		n := s.st.NextLogin
		for s.st.Accounts[strconv.FormatInt(n, 10)] != nil {
			n++
		}
		login = strconv.FormatInt(n, 10)
	} else if s.st.Accounts[login] != nil {
		return trading.Account{}, s.perr(op, trading.ErrAlreadyExists, "login_exists", "login %s already exists", login)
	}
	ev := event{Type: evAccountCreated, Created: &createdEv{
		Chosen: chosen, OperationID: na.OperationID,
		Account: accountState{
			Login: login, Group: g.Name, Currency: g.Currency, Leverage: na.Leverage,
			FirstName: na.FirstName, LastName: na.LastName, Email: na.Email,
			LoginEnabled: true, TradingEnabled: true, PassMain: main, PassInvestor: investor,
			Balance: decimal.Zero, Credit: decimal.Zero,
		},
	}}
	if err := s.commit(op, ev); err != nil {
		return trading.Account{}, err
	}
	return s.view(op, s.st.Accounts[login])
}

// lockedAccount takes the write lock and finds the account; the caller unlocks.
func (s *Simulator) lockedAccount(op, login string) (*accountState, error) {
	s.mu.Lock()
	a, ok := s.st.Accounts[login]
	if !ok {
		s.mu.Unlock()
		return nil, s.notFound(op, login)
	}
	return a, nil
}

func (s *Simulator) notFound(op, login string) error {
	return s.perr(op, trading.ErrNotFound, "no_account", "login %s does not exist", login)
}

// SetLeverage implements trading.Connector. Leverage is per account, capped by the account's group.
func (s *Simulator) SetLeverage(ctx context.Context, login string, leverage int) error {
	const op = "set_leverage"
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	a, err := s.lockedAccount(op, login)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	g := s.groups[a.Group]
	if leverage < 1 || leverage > g.MaxLeverage {
		return s.perr(op, trading.ErrInvalidRequest, "bad_leverage",
			"leverage 1:%d is outside 1:1..1:%d of group %s", leverage, g.MaxLeverage, g.Name)
	}
	return s.commit(op, event{Type: evLeverageSet, Leverage: &leverageEv{Login: login, Leverage: leverage}})
}

// MoveGroup implements trading.Connector. The target group must have the account's currency and allow its
// leverage: the simulator refuses rather than silently lowering leverage under open positions.
func (s *Simulator) MoveGroup(ctx context.Context, login, group string) error {
	const op = "move_group"
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	a, err := s.lockedAccount(op, login)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.moveLocked(op, a, group)
}

func (s *Simulator) moveLocked(op string, a *accountState, group string) error {
	g, ok := s.groups[group]
	if !ok {
		return s.perr(op, trading.ErrInvalidRequest, "bad_group", "group %q does not exist", group)
	}
	if g.Currency != a.Currency {
		return s.perr(op, trading.ErrInvalidRequest, "currency_mismatch",
			"group %s is in %s but account %s is in %s; a currency change is a new account", g.Name, g.Currency, a.Login, a.Currency)
	}
	if a.Leverage > g.MaxLeverage {
		return s.perr(op, trading.ErrInvalidRequest, "bad_leverage",
			"account %s has leverage 1:%d, above group %s's 1:%d; lower it first", a.Login, a.Leverage, g.Name, g.MaxLeverage)
	}
	if a.Group == group {
		return nil
	}
	return s.commit(op, event{Type: evGroupMoved, Group: &groupEv{Login: a.Login, Group: group}})
}

// SetSwapFree implements trading.Connector by moving the account to its group's swap-free twin (or back).
func (s *Simulator) SetSwapFree(ctx context.Context, login string, swapFree bool) error {
	const op = "set_swap_free"
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	a, err := s.lockedAccount(op, login)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	g := s.groups[a.Group]
	if g.SwapFree == swapFree {
		return nil
	}
	if g.SwapFreeTwin == "" {
		return s.perr(op, trading.ErrUnsupported, "no_twin", "group %s has no swap-free twin", g.Name)
	}
	return s.moveLocked(op, a, g.SwapFreeTwin)
}

// SetAccess implements trading.Connector.
func (s *Simulator) SetAccess(ctx context.Context, login string, access trading.Access) error {
	const op = "set_access"
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	a, err := s.lockedAccount(op, login)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if a.LoginEnabled == access.LoginEnabled && a.TradingEnabled == access.TradingEnabled {
		return nil
	}
	return s.commit(op, event{Type: evAccessSet, Access: &accessEv{
		Login: login, LoginEnabled: access.LoginEnabled, TradingEnabled: access.TradingEnabled,
	}})
}

// ResetPassword implements trading.Connector. Only the hash is kept, in memory and on disk.
func (s *Simulator) ResetPassword(ctx context.Context, login string, kind trading.PasswordKind, password string) error {
	const op = "reset_password"
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	if kind != trading.PasswordMain && kind != trading.PasswordInvestor {
		return s.perr(op, trading.ErrInvalidRequest, "bad_kind", "password kind %q", kind)
	}
	s.mu.RLock()
	_, exists := s.st.Accounts[login]
	s.mu.RUnlock()
	if !exists {
		return s.notFound(op, login)
	}
	if p := passwordProblem(password); p != "" {
		return s.perr(op, trading.ErrInvalidRequest, "bad_password", "%s", p)
	}
	hash, err := hashPassword(password, s.opts.PasswordIterations)
	if err != nil {
		return s.perr(op, trading.ErrUnavailable, "internal", "%v", err)
	}
	if _, err := s.lockedAccount(op, login); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.commit(op, event{Type: evPasswordSet, Password: &passwordEv{Login: login, Kind: kind, Hash: hash}})
}

// CheckPassword reports whether password is the account's current main or investor password, as the trading
// terminal's login would check it.
func (s *Simulator) CheckPassword(login string, kind trading.PasswordKind, password string) bool {
	s.mu.RLock()
	a, ok := s.st.Accounts[login]
	var stored string
	if ok {
		stored = a.PassMain
		if kind == trading.PasswordInvestor {
			stored = a.PassInvestor
		}
	}
	s.mu.RUnlock()
	return ok && verifyPassword(stored, password)
}

// BalanceOperation implements trading.Connector with native idempotency: the OperationID is remembered (across
// restarts, through the journal) with the ticket it produced, and a repeat returns that ticket with Replayed set.
// Withdrawals are checked against both the balance and the free margin, as MT5's check_margin does.
func (s *Simulator) BalanceOperation(ctx context.Context, bop trading.BalanceOp) (trading.BalanceResult, error) {
	const op = "balance_operation"
	if err := s.enter(ctx, op); err != nil {
		return trading.BalanceResult{}, err
	}
	action := trading.ActionBalance
	switch bop.Kind {
	case trading.Deposit, trading.Withdrawal:
	case trading.CreditIn, trading.CreditOut:
		action = trading.ActionCredit
	default:
		return trading.BalanceResult{}, s.perr(op, trading.ErrInvalidRequest, "bad_kind", "balance kind %q", bop.Kind)
	}
	if !bop.Amount.IsPositive() {
		return trading.BalanceResult{}, s.perr(op, trading.ErrInvalidRequest, "bad_amount", "amount %s is not positive", bop.Amount)
	}
	if !validOperationID(bop.OperationID) {
		return trading.BalanceResult{}, s.perr(op, trading.ErrInvalidRequest, "bad_operation_id",
			"operation id %q is not 1-32 of [A-Za-z0-9_-]", bop.OperationID)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, done := s.st.BalanceOps[bop.OperationID]; done {
		if rec.Login != bop.Login || rec.Kind != bop.Kind || !rec.Amount.Equal(bop.Amount) {
			return trading.BalanceResult{}, s.perr(op, trading.ErrAlreadyExists, "operation_id_reused",
				"operation id %s was used for %s %s on %s", bop.OperationID, rec.Kind, rec.Amount, rec.Login)
		}
		return trading.BalanceResult{Ticket: strconv.FormatInt(rec.Ticket, 10), Replayed: true}, nil
	}
	a, ok := s.st.Accounts[bop.Login]
	if !ok {
		return trading.BalanceResult{}, s.notFound(op, bop.Login)
	}
	if !bop.Amount.Equal(roundMoney(bop.Amount, a.Currency)) {
		return trading.BalanceResult{}, s.perr(op, trading.ErrInvalidRequest, "bad_amount",
			"amount %s has more decimals than %s has", bop.Amount, a.Currency)
	}
	signed := bop.Amount
	switch bop.Kind {
	case trading.Withdrawal:
		acc, err := s.view(op, a)
		if err != nil {
			return trading.BalanceResult{}, err
		}
		if bop.Amount.GreaterThan(a.Balance) || bop.Amount.GreaterThan(acc.FreeMargin) {
			return trading.BalanceResult{}, s.perr(op, trading.ErrInsufficientFunds, "no_money",
				"withdrawal %s exceeds balance %s or free margin %s", bop.Amount, a.Balance, acc.FreeMargin)
		}
		signed = signed.Neg()
	case trading.CreditOut:
		if bop.Amount.GreaterThan(a.Credit) {
			return trading.BalanceResult{}, s.perr(op, trading.ErrInsufficientFunds, "no_credit",
				"credit out %s exceeds credit %s", bop.Amount, a.Credit)
		}
		signed = signed.Neg()
	}
	deal := dealRec{
		Ticket: s.st.NextTicket, Action: action, Volume: decimal.Zero, Price: decimal.Zero, Profit: signed,
		Commission: decimal.Zero, Swap: decimal.Zero, Time: s.now(), Comment: shorten(bop.Comment, 64),
	}
	ev := event{Type: evBalance, Balance: &balanceEv{
		Login: bop.Login, Kind: bop.Kind, Amount: bop.Amount, OperationID: bop.OperationID, Deal: deal,
	}}
	if err := s.commit(op, ev); err != nil {
		return trading.BalanceResult{}, err
	}
	if s.Faults.takeDrop() {
		return trading.BalanceResult{}, s.perr(op, trading.ErrUnavailable, "answer_lost",
			"operation applied but the answer was lost (injected)")
	}
	return trading.BalanceResult{Ticket: strconv.FormatInt(deal.Ticket, 10)}, nil
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// Account implements trading.Connector.
func (s *Simulator) Account(ctx context.Context, login string) (trading.Account, error) {
	const op = "account"
	if err := s.enter(ctx, op); err != nil {
		return trading.Account{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.st.Accounts[login]
	if !ok {
		return trading.Account{}, s.notFound(op, login)
	}
	return s.view(op, a)
}

// view turns stored state into the connector's Account, valuing open positions at current prices:
// Equity = Balance + Credit + floating profit, FreeMargin = Equity - Margin.
func (s *Simulator) view(op string, a *accountState) (trading.Account, error) {
	g := s.groups[a.Group]
	acc := trading.Account{
		Login: a.Login, Group: a.Group, Currency: a.Currency, Leverage: a.Leverage,
		Access:   trading.Access{LoginEnabled: a.LoginEnabled, TradingEnabled: a.TradingEnabled},
		SwapFree: g.SwapFree, Balance: a.Balance, Credit: a.Credit, Margin: decimal.Zero,
	}
	profit := decimal.Zero
	for _, p := range a.Positions {
		pr, m, err := s.valuePosition(a, p)
		if err != nil {
			return trading.Account{}, s.perr(op, trading.ErrUnavailable, "internal", "value position %d: %v", p.ID, err)
		}
		profit = profit.Add(pr)
		acc.Margin = acc.Margin.Add(m)
	}
	acc.Equity = a.Balance.Add(a.Credit).Add(profit)
	acc.FreeMargin = acc.Equity.Sub(acc.Margin)
	return acc, nil
}

// valuePosition is a position's floating profit and the margin it holds, in the account currency.
func (s *Simulator) valuePosition(a *accountState, p positionRec) (profit, margin decimal.Decimal, err error) {
	sym, ok := symbolByName(p.Symbol)
	if !ok {
		return decimal.Zero, decimal.Zero, fmt.Errorf("unknown symbol %q", p.Symbol)
	}
	profit, err = positionProfit(s.st.Prices, sym, p.Side, p.Volume, p.OpenPrice, closePrice(s.st.Prices, sym, p.Side), a.Currency)
	if err != nil {
		return decimal.Zero, decimal.Zero, err
	}
	margin, err = positionMargin(s.st.Prices, sym, p.Side, p.Volume, a.Leverage, a.Currency)
	return profit, margin, err
}

// defaultDealPage and maxDealPage bound one ClosedDeals page; the simulator has no time-window limit.
const (
	defaultDealPage = 100
	maxDealPage     = 1000
)

// ClosedDeals implements trading.Connector. The cursor names the last deal returned (its time and ticket), so
// paging stays exact even when history is added in the middle meanwhile.
func (s *Simulator) ClosedDeals(ctx context.Context, q trading.DealQuery) (trading.DealPage, error) {
	const op = "closed_deals"
	if err := s.enter(ctx, op); err != nil {
		return trading.DealPage{}, err
	}
	if q.To.Before(q.From) {
		return trading.DealPage{}, s.perr(op, trading.ErrInvalidRequest, "bad_window", "To %v is before From %v", q.To, q.From)
	}
	limit := q.Limit
	switch {
	case limit < 0:
		return trading.DealPage{}, s.perr(op, trading.ErrInvalidRequest, "bad_limit", "limit %d", limit)
	case limit == 0:
		limit = defaultDealPage
	case limit > maxDealPage:
		limit = maxDealPage
	}
	start := dealRec{Time: q.From, Ticket: -1}
	if q.Cursor != "" {
		c, err := parseCursor(q.Cursor)
		if err != nil {
			return trading.DealPage{}, s.perr(op, trading.ErrInvalidRequest, "bad_cursor", "%v", err)
		}
		c.Ticket++ // start after the last deal returned
		if start.before(c) {
			start = c
		}
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.st.Accounts[q.Login]
	if !ok {
		return trading.DealPage{}, s.notFound(op, q.Login)
	}
	i, _ := slices.BinarySearchFunc(a.Deals, start, func(d, target dealRec) int {
		if d.before(target) {
			return -1
		}
		return 1
	})
	var page trading.DealPage
	for ; i < len(a.Deals) && a.Deals[i].Time.Before(q.To); i++ {
		if len(page.Deals) == limit {
			last := a.Deals[i-1]
			page.Next = formatCursor(last)
			break
		}
		page.Deals = append(page.Deals, toDeal(a.Login, a.Deals[i]))
	}
	return page, nil
}

func formatCursor(d dealRec) string { return fmt.Sprintf("%d.%d", d.Time.UnixNano(), d.Ticket) }

func parseCursor(c string) (dealRec, error) {
	var nanos, ticket int64
	if _, err := fmt.Sscanf(c, "%d.%d", &nanos, &ticket); err != nil || formatCursor(dealRec{Time: time.Unix(0, nanos), Ticket: ticket}) != c {
		return dealRec{}, fmt.Errorf("cursor %q is not one this simulator issued", c)
	}
	return dealRec{Time: time.Unix(0, nanos).UTC(), Ticket: ticket}, nil
}

func toDeal(login string, d dealRec) trading.Deal {
	out := trading.Deal{
		Ticket: strconv.FormatInt(d.Ticket, 10), Login: login, Action: d.Action, Entry: d.Entry, Symbol: d.Symbol,
		Volume: d.Volume, Price: d.Price, Profit: d.Profit, Commission: d.Commission, Swap: d.Swap,
		Time: d.Time.UTC(), Comment: d.Comment,
	}
	if d.PositionID != 0 {
		out.PositionID = strconv.FormatInt(d.PositionID, 10)
		out.Order = out.PositionID // the simulator fills every order in one deal, as market orders do
	}
	return out
}

// OpenPositions implements trading.Connector.
func (s *Simulator) OpenPositions(ctx context.Context, login string) ([]trading.Position, error) {
	const op = "open_positions"
	if err := s.enter(ctx, op); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.st.Accounts[login]
	if !ok {
		return nil, s.notFound(op, login)
	}
	out := make([]trading.Position, 0, len(a.Positions))
	for _, p := range a.Positions {
		profit, _, err := s.valuePosition(a, p)
		if err != nil {
			return nil, s.perr(op, trading.ErrUnavailable, "internal", "value position %d: %v", p.ID, err)
		}
		out = append(out, trading.Position{
			ID: strconv.FormatInt(p.ID, 10), Login: login, Symbol: p.Symbol, Side: p.Side, Volume: p.Volume,
			OpenPrice: p.OpenPrice, Profit: profit, Swap: decimal.Zero, OpenTime: p.OpenTime.UTC(),
		})
	}
	return out, nil
}
