package dxtrade

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/time/rate"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/dxtrade/dxfake"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func newAccount(group string) trading.NewAccount {
	return trading.NewAccount{Group: group, Leverage: 100, Currency: "EUR", FirstName: "Grace", LastName: "Test",
		Email: "grace@example.com", Password: "Str0ng!Pass"}
}

func mustCreate(t *testing.T, c *Connector) trading.Account {
	t.Helper()
	a, err := c.CreateAccount(t.Context(), newAccount("Standard"))
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

func mustMove(t *testing.T, c *Connector, login string, kind trading.BalanceKind, amount, opID string) trading.BalanceResult {
	t.Helper()
	r, err := c.BalanceOperation(t.Context(), trading.BalanceOp{Login: login, Kind: kind, Amount: dec(amount), OperationID: opID})
	if err != nil {
		t.Fatalf("%s %s (%s): %v", kind, amount, opID, err)
	}
	return r
}

func requireKind(t *testing.T, err, kind error) *trading.PlatformError {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want %v", err, kind)
	}
	var pe *trading.PlatformError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *trading.PlatformError", err)
	}
	return pe
}

// recordSleeps replaces the connector's back-off sleep with one that returns at once and remembers the delay.
func recordSleeps(c *Connector) func() []time.Duration {
	var mu sync.Mutex
	var got []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
		return ctx.Err()
	}
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func TestExpiredSessionMakesConcurrentCallersLogInOnce(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f, func(cfg *Config) { cfg.RateLimit = rate.Inf })
	a := mustCreate(t, c)
	admin, trade := f.LoginCount(dxfake.AdminAPI), f.LoginCount(dxfake.TradingAPI)
	if admin != 1 || trade != 1 {
		t.Fatalf("after the first calls: %d register and %d trading logins, want 1 each", admin, trade)
	}

	f.ExpireTokens() // every caller below holds a token the server no longer knows
	const callers = 32
	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range callers {
		wg.Go(func() {
			<-start
			if _, err := c.Account(t.Context(), a.Login); err != nil {
				failed.Add(1)
				t.Errorf("Account after the session expired: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if failed.Load() > 0 {
		return
	}
	if got := f.LoginCount(dxfake.AdminAPI) - admin; got != 1 {
		t.Errorf("%d concurrent callers caused %d register logins, want 1", callers, got)
	}
	if got := f.LoginCount(dxfake.TradingAPI) - trade; got != 1 {
		t.Errorf("%d concurrent callers caused %d trading logins, want 1", callers, got)
	}
}

func TestSessionRefusedAfterFreshLoginIsAuthFailed(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	before := f.LoginCount(dxfake.AdminAPI)
	f.SetRefuseTokens(true)
	_, err := c.Account(t.Context(), a.Login)
	pe := requireKind(t, err, trading.ErrAuthFailed)
	if pe.Code != "401" || pe.Message != "Session is not valid" {
		t.Errorf("PlatformError code %q message %q, want the server's 401 and text", pe.Code, pe.Message)
	}
	if got := f.LoginCount(dxfake.AdminAPI) - before; got != 1 {
		t.Errorf("a refused session led to %d logins, want exactly one re-login", got)
	}
	if trading.Retryable(err) {
		t.Errorf("an authentication failure must not be Retryable")
	}
}

func TestWrongPasswordIsAuthFailedWithoutRetrying(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f, func(cfg *Config) { cfg.Password = "wrong" })
	sleeps := recordSleeps(c)
	err := c.Ping(t.Context())
	pe := requireKind(t, err, trading.ErrAuthFailed)
	if pe.Op != "login" || pe.Code != "401" {
		t.Errorf("PlatformError op %q code %q, want login and 401", pe.Op, pe.Code)
	}
	if n := len(sleeps()); n != 0 {
		t.Errorf("a refused login was retried %d times", n)
	}
}

func TestMoneyPathUsesTheOperationIDAsTheTransferID(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	first := mustMove(t, c, a.Login, trading.Deposit, "1500.25", "dep-42")
	want := "PUT /dxweb/rest/api/register/account/BDCLR/" + a.Login + "/deposit/dep-42"
	if !slices.Contains(f.RequestPaths(), want) {
		t.Fatalf("no %s among the requests: %v", want, f.RequestPaths())
	}
	if first.Ticket != "dep-42" || first.Replayed {
		t.Fatalf("first deposit: %+v, want ticket dep-42 and not replayed", first)
	}
	again := mustMove(t, c, a.Login, trading.Deposit, "1500.25", "dep-42")
	if again.Ticket != "dep-42" || !again.Replayed {
		t.Fatalf("repeated deposit: %+v, want ticket dep-42 replayed", again)
	}
	mustMove(t, c, a.Login, trading.Withdrawal, "0.25", "wd-1")
	if got := f.Account(a.Login).Balance; !got.Equal(dec("1500")) {
		t.Fatalf("balance %s, want exactly 1500", got)
	}
	if n := f.BalanceOps(a.Login); n != 2 {
		t.Fatalf("%d movements, want 2", n)
	}
}

func TestLostAnswerMovesMoneyOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind                    trading.BalanceKind
		amount                  string
		wantBalance, wantCredit string
	}{
		{trading.Deposit, "42.42", "142.42", "10"},
		{trading.Withdrawal, "42.42", "57.58", "10"},
		{trading.CreditIn, "5.05", "100", "15.05"},
		{trading.CreditOut, "5.05", "100", "4.95"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			f := dxfake.New(t)
			c := newTestConnector(t, f)
			a := mustCreate(t, c)
			mustMove(t, c, a.Login, trading.Deposit, "100", "seed-dep")
			mustMove(t, c, a.Login, trading.CreditIn, "10", "seed-cred")

			f.DropNextMoneyAnswer()
			r, err := c.BalanceOperation(t.Context(), trading.BalanceOp{
				Login: a.Login, Kind: tc.kind, Amount: dec(tc.amount), OperationID: "lost-1"})
			if err != nil {
				t.Fatalf("%s after a lost answer: %v (the connector resends idempotent money calls itself)", tc.kind, err)
			}
			if !r.Replayed || r.Ticket != "lost-1" {
				t.Fatalf("result %+v, want ticket lost-1 found as already applied", r)
			}
			got := f.Account(a.Login)
			if !got.Balance.Equal(dec(tc.wantBalance)) || !got.Credit.Equal(dec(tc.wantCredit)) {
				t.Fatalf("balance %s credit %s, want %s and %s", got.Balance, got.Credit, tc.wantBalance, tc.wantCredit)
			}
			if n := f.BalanceOps(a.Login); n != 3 {
				t.Fatalf("%d movements, want 3 (two seeds and ONE lost-1)", n)
			}
		})
	}
}

func TestSlowMoneyAnswerIsResentAndMovesMoneyOnce(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f, func(cfg *Config) { cfg.Timeout = 300 * time.Millisecond })
	a := mustCreate(t, c)
	f.SlowNext(1, time.Minute) // the deposit is applied, its answer would come a minute later
	start := time.Now()
	r := mustMove(t, c, a.Login, trading.Deposit, "77.70", "slow-1")
	if !r.Replayed {
		t.Fatalf("result %+v: the resent deposit should have found the first one applied", r)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("the deposit waited %v for a slow answer instead of giving up after the attempt timeout", took)
	}
	if n := f.BalanceOps(a.Login); n != 1 {
		t.Fatalf("%d movements, want 1", n)
	}
}

func TestSlowReadTimesOutAndIsRetried(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f, func(cfg *Config) { cfg.Timeout = 300 * time.Millisecond })
	a := mustCreate(t, c)
	f.SlowNext(1, time.Minute)
	got, err := c.Account(t.Context(), a.Login)
	if err != nil || got.Login != a.Login {
		t.Fatalf("Account through one slow answer: %+v, %v", got, err)
	}
}

func TestRateLimitIsRetriedNoSoonerThanRetryAfter(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	sleeps := recordSleeps(c)
	f.SetRetryAfter("3")
	f.RateLimitNext(2)
	if _, err := c.Account(t.Context(), a.Login); err != nil {
		t.Fatalf("Account through two 429s: %v", err)
	}
	got := sleeps()
	if len(got) != 2 {
		t.Fatalf("waited %d times (%v), want once per 429", len(got), got)
	}
	for _, d := range got {
		if d < 3*time.Second {
			t.Fatalf("waited %v after Retry-After: 3", d)
		}
	}
}

func TestRateLimitThatOutlastsRetriesIsRetryable(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f, func(cfg *Config) { cfg.MaxRetries = 2 })
	a := mustCreate(t, c)
	recordSleeps(c)
	f.RateLimitNext(100)
	_, err := c.Account(t.Context(), a.Login)
	pe := requireKind(t, err, trading.ErrRateLimited)
	if !trading.Retryable(err) || pe.Code != "429" {
		t.Fatalf("error %v: want Retryable with the server's code 429", err)
	}
}

func TestRetryAfterPastTheDeadlineFailsAtOnce(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	sleeps := recordSleeps(c)
	f.SetRetryAfter("120")
	f.RateLimitNext(1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.Account(ctx, a.Login)
	requireKind(t, err, trading.ErrRateLimited)
	if n := len(sleeps()); n != 0 {
		t.Fatalf("slept %d times although Retry-After outlasts the caller's deadline", n)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "7": 7 * time.Second, "-3": 0, "soon": 0, "99999": time.Hour,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestErrorTable drives every row of the status table through a real HTTP answer, so what is tested is what the
// connector does with a server's reply, code and text included.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		kind     error
		code     string
		message  string
		attempts int // how many times the account GET reached the server
	}{
		{"400", 400, `{"errorCode":40,"errorMessage":"Malformed"}`, trading.ErrInvalidRequest, "40", "Malformed", 1},
		{"400 insufficient", 400, `{"errorCode":"INSUFFICIENT_FUNDS","errorMessage":"No"}`, trading.ErrInsufficientFunds, "INSUFFICIENT_FUNDS", "No", 1},
		{"422", 422, `{"errorCode":7,"errorMessage":"Bad value"}`, trading.ErrInvalidRequest, "7", "Bad value", 1},
		{"401 after re-login", 401, `{"errorCode":401,"errorMessage":"Session is not valid"}`, trading.ErrAuthFailed, "401", "Session is not valid", 2},
		{"403 after re-login", 403, `{"errorCode":403,"errorMessage":"Forbidden"}`, trading.ErrAuthFailed, "403", "Forbidden", 2},
		{"404", 404, `{"errorCode":404,"errorMessage":"Account not found"}`, trading.ErrNotFound, "404", "Account not found", 1},
		{"409", 409, `{"errorCode":409,"errorMessage":"Exists"}`, trading.ErrAlreadyExists, "409", "Exists", 1},
		{"412", 412, `{"errorCode":412,"errorMessage":"Modified"}`, trading.ErrUnavailable, "412", "Modified", 1},
		{"418", 418, ``, trading.ErrInvalidRequest, "418", "I'm a teapot", 1},
		{"429", 429, `{"errorCode":429,"errorMessage":"Slow down"}`, trading.ErrRateLimited, "429", "Slow down", 3},
		{"500", 500, `{"errorCode":"E500","description":"Internal"}`, trading.ErrUnavailable, "E500", "Internal", 3},
		{"503 html", 503, `<html>down</html>`, trading.ErrUnavailable, "503", "Service Unavailable", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/login") {
					_, _ = w.Write([]byte(`{"sessionToken":"tok-` + strconv.Itoa(int(attempts.Load())) + `","timeout":60000}`))
					return
				}
				attempts.Add(1)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			cfg := fakeConfig(dxfake.New(t))
			cfg.BaseURL, cfg.MaxRetries = srv.URL, 2
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			recordSleeps(c)
			_, err = c.Account(t.Context(), "12345678")
			pe := requireKind(t, err, tc.kind)
			if pe.Code != tc.code || pe.Message != tc.message || pe.Platform != trading.PlatformDXtrade || pe.Op != "account" {
				t.Errorf("PlatformError %+v, want code %q message %q op account", pe, tc.code, tc.message)
			}
			if got := int(attempts.Load()); got != tc.attempts {
				t.Errorf("%d attempts, want %d", got, tc.attempts)
			}
		})
	}
}

func TestConnectionFailureIsUnavailableAndRetryable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer srv.Close()
	cfg := fakeConfig(dxfake.New(t))
	cfg.BaseURL, cfg.MaxRetries = srv.URL, 1
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	recordSleeps(c)
	err = c.Ping(t.Context())
	pe := requireKind(t, err, trading.ErrUnavailable)
	if !trading.Retryable(err) || pe.Code != "transport" {
		t.Fatalf("error %v: want a Retryable transport failure", err)
	}
}

func TestStatusAndAccessMapping(t *testing.T) {
	t.Parallel()
	on, readOnly, off := trading.Access{LoginEnabled: true, TradingEnabled: true}, trading.Access{LoginEnabled: true}, trading.Access{}
	for status, want := range map[string]trading.Access{
		"FULL_TRADING": on, "CLOSE_ONLY": readOnly, "NO_TRADING": readOnly, "TERMINATED": off, "EXPIRED": off,
		"SOMETHING_NEW": off, "": off,
	} {
		if got := accessOf(status); got != want {
			t.Errorf("accessOf(%q) = %+v, want %+v", status, got, want)
		}
	}
	for a, want := range map[trading.Access]string{
		on: "FULL_TRADING", readOnly: "NO_TRADING", off: "TERMINATED", {TradingEnabled: true}: "TERMINATED",
	} {
		if got := statusFor(a); got != want {
			t.Errorf("statusFor(%+v) = %q, want %q", a, got, want)
		}
		if a.LoginEnabled && accessOf(statusFor(a)) != a {
			t.Errorf("statusFor(%+v) does not read back as itself", a)
		}
	}
}

func TestSetAccessKeepsADealersCloseOnly(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	f.SetStatus(a.Login, "CLOSE_ONLY")
	if err := c.SetAccess(t.Context(), a.Login, trading.Access{LoginEnabled: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.Account(a.Login).Status; got != "CLOSE_ONLY" {
		t.Fatalf("status %s: trading was already off, the dealer's CLOSE_ONLY should stay", got)
	}
	if err := c.SetAccess(t.Context(), a.Login, trading.Access{LoginEnabled: true, TradingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.Account(a.Login).Status; got != "FULL_TRADING" {
		t.Fatalf("status %s after enabling trading, want FULL_TRADING", got)
	}
}

func TestCreditChangesFromTwoProcessesApplyExactlyOnce(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c1 := newTestConnector(t, f)
	c2 := newTestConnector(t, f) // another worker: the per-process lock does not cover it, If-Match must
	a := mustCreate(t, c1)
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		for _, c := range []*Connector{c1, c2} {
			wg.Go(func() {
				// Both workers run the same operation ids, as two workers retrying the same jobs would.
				_, err := c.BalanceOperation(t.Context(), trading.BalanceOp{
					Login: a.Login, Kind: trading.CreditIn, Amount: dec("2.50"), OperationID: "cr-" + strconv.Itoa(i)})
				if err != nil {
					t.Errorf("credit cr-%d: %v", i, err)
				}
			})
		}
	}
	wg.Wait()
	if got := f.Account(a.Login).Credit; !got.Equal(dec("15")) {
		t.Fatalf("credit %s, want 15.00 (6 operations of 2.50, each once)", got)
	}
	if got := f.BalanceOps(a.Login); got != n {
		t.Fatalf("%d credit movements, want %d", got, n)
	}
}

func TestCreditOutOverCreditIsInsufficientFunds(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	mustMove(t, c, a.Login, trading.CreditIn, "10", "c-in")
	_, err := c.BalanceOperation(t.Context(), trading.BalanceOp{Login: a.Login, Kind: trading.CreditOut, Amount: dec("10.01"), OperationID: "c-out"})
	requireKind(t, err, trading.ErrInsufficientFunds)
	if got := f.Account(a.Login).Credit; !got.Equal(dec("10")) {
		t.Fatalf("credit %s after a refused credit out, want 10", got)
	}
}

func TestWithdrawalOverBalanceKeepsTheServersCode(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	mustMove(t, c, a.Login, trading.Deposit, "10", "d")
	_, err := c.BalanceOperation(t.Context(), trading.BalanceOp{Login: a.Login, Kind: trading.Withdrawal, Amount: dec("10.01"), OperationID: "w"})
	pe := requireKind(t, err, trading.ErrInsufficientFunds)
	if pe.Code != "INSUFFICIENT_FUNDS" || pe.Message != "Amount exceeds the withdrawable amount" {
		t.Fatalf("PlatformError %+v, want the server's code and text", pe)
	}
}

func TestCreateAccountWithOperationIDIsIdempotent(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	req := newAccount("Pro")
	req.OperationID = "open-1"
	first, err := c.CreateAccount(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateAccount(t.Context(), req)
	if err != nil {
		t.Fatalf("retried CreateAccount: %v", err)
	}
	if again.Login != first.Login || again.Group != "Pro" || again.Currency != "EUR" || again.Leverage != 100 {
		t.Fatalf("retry returned %+v, first was %+v", again, first)
	}
	if !strings.HasPrefix(first.Login, "BD") || len(first.Login) != 10 {
		t.Fatalf("login %q does not follow the scheme BD + 8 digits", first.Login)
	}
}

func TestCreateAccountStepsAroundACodeSomeoneElseHolds(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	taken, err := fakeConfig(f).AccountCodes.code("open-2", 0)
	if err != nil {
		t.Fatal(err)
	}
	squatter := newAccount("Standard")
	squatter.Login = taken
	if _, err := c.CreateAccount(t.Context(), squatter); err != nil {
		t.Fatal(err)
	}
	req := newAccount("Standard")
	req.OperationID = "open-2"
	got, err := c.CreateAccount(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := fakeConfig(f).AccountCodes.code("open-2", 1)
	if got.Login != want {
		t.Fatalf("login %s, want the second candidate %s (the first, %s, is someone else's)", got.Login, want, taken)
	}
	again, err := c.CreateAccount(t.Context(), req)
	if err != nil || again.Login != want {
		t.Fatalf("retry: %+v, %v; want %s again", again, err, want)
	}
}

func TestCreatedAccountIsReturnedEvenWhenItsReadBackFails(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f, func(cfg *Config) { cfg.MaxRetries = -1 })
	if err := c.Ping(t.Context()); err != nil { // log in first, so the failing reads below hit the read-back
		t.Fatal(err)
	}
	f.FailNextGETs(10)
	got, err := c.CreateAccount(t.Context(), newAccount("Pro"))
	if err != nil {
		t.Fatalf("CreateAccount whose read-back failed: %v (the account exists; a retry would open a second one)", err)
	}
	if got.Login == "" || got.Group != "Pro" || got.Currency != "EUR" || got.Leverage != 100 ||
		got.Access != (trading.Access{LoginEnabled: true, TradingEnabled: true}) || !got.Balance.IsZero() {
		t.Fatalf("account %+v, want the created account's settings", got)
	}
	if a := f.Account(got.Login); a.Code != got.Login {
		t.Fatalf("the fake has no account %s", got.Login)
	}
}

func TestAccountCodeScheme(t *testing.T) {
	t.Parallel()
	s := AccountCodeScheme{Prefix: "DX", Digits: 9}
	a, _ := s.code("op-1", 0)
	b, _ := s.code("op-1", 0)
	other, _ := s.code("op-1", 1)
	r1, _ := s.code("", 0)
	r2, _ := s.code("", 0)
	if a != b || a == other || r1 == r2 {
		t.Fatalf("codes %s %s %s %s %s: derived codes must repeat per attempt, random ones must not", a, b, other, r1, r2)
	}
	for _, code := range []string{a, other, r1, r2} {
		digits, ok := strings.CutPrefix(code, "DX")
		if !ok || len(digits) != 9 || digits[0] == '0' || strings.Trim(digits, "0123456789") != "" {
			t.Fatalf("code %q is not DX + 9 digits without a leading zero", code)
		}
	}
}

func TestClosedDealsNormalisesOrders(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	at := time.Date(2025, 6, 2, 9, 30, 15, 250e6, time.UTC)
	f.AddOrder(a.Login, dxfake.Order{ID: 9001, Status: "COMPLETED", Instrument: "EUR/USD", Side: "SELL", Effect: "CLOSE",
		Position: "p-77", Qty: dec("1.25"), Price: dec("1.08345"), Profit: dec("-12.34"), Commission: dec("-3.125"),
		Swap: dec("-0.42"), At: at})
	f.AddOrder(a.Login, dxfake.Order{ID: 9002, Status: "CANCELED", Instrument: "EUR/USD", Side: "BUY", Effect: "OPEN",
		Qty: dec("1"), Price: dec("1.1"), At: at.Add(time.Minute)})
	page, err := c.ClosedDeals(t.Context(), trading.DealQuery{Login: a.Login, From: at.Add(-time.Hour), To: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Deals) != 1 {
		t.Fatalf("got %d deals, want only the completed order: %+v", len(page.Deals), page.Deals)
	}
	d := page.Deals[0]
	want := trading.Deal{Ticket: "9001", Login: a.Login, Order: "9001", PositionID: "p-77", Action: trading.ActionSell,
		Entry: trading.EntryOut, Symbol: "EUR/USD", Volume: dec("1.25"), Price: dec("1.08345"), Profit: dec("-12.34"),
		Commission: dec("-3.125"), Swap: dec("-0.42"), Time: at}
	if d.Ticket != want.Ticket || d.Login != want.Login || d.Order != want.Order || d.PositionID != want.PositionID ||
		d.Action != want.Action || d.Entry != want.Entry || d.Symbol != want.Symbol || !d.Volume.Equal(want.Volume) ||
		!d.Price.Equal(want.Price) || !d.Profit.Equal(want.Profit) || !d.Commission.Equal(want.Commission) ||
		!d.Swap.Equal(want.Swap) || !d.Time.Equal(want.Time) || d.Time.Location() != time.UTC {
		t.Fatalf("deal\n %+v\nwant\n %+v", d, want)
	}
}

func TestParseDealsKeepsOnlyThisAccountsFilledTradesInTheWindow(t *testing.T) {
	t.Parallel()
	body := `{"orders":[
	 {"account":"C:1","orderId":1,"status":"COMPLETED","side":"BUY","transactionTime":"2025-01-01T00:00:00Z","legs":[{"filledQuantity":1}]},
	 {"account":"C:2","orderId":2,"status":"COMPLETED","side":"BUY","transactionTime":"2025-01-01T00:00:01Z","legs":[{"filledQuantity":1}]},
	 {"account":"C:1","orderId":3,"status":"COMPLETED","side":"BUY","transactionTime":"2025-01-01T00:00:02Z","legs":[{"filledQuantity":0}]},
	 {"account":"C:1","orderId":4,"status":"REJECTED","side":"BUY","transactionTime":"2025-01-01T00:00:03Z","legs":[{"filledQuantity":1}]},
	 {"account":"C:1","orderId":5,"status":"COMPLETED","side":"SELL","transactionTime":"2025-01-01T01:00:00Z","legs":[{"quantity":"2"}]},
	 {"account":"C:1","orderId":6,"status":"COMPLETED","side":"BUY","transactionTime":"2025-01-01T00:30:00+02:00","legs":[{"filledQuantity":1}]}
	]}`
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	deals, raw, err := parseDeals([]byte(body), "C:1", "1", from, from.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var tickets []string
	for _, d := range deals {
		tickets = append(tickets, d.Ticket)
	}
	// 2: other account; 3: nothing filled; 4: not completed; 5: at To (excluded); 6: 22:30 UTC the day before.
	if raw != 6 || !slices.Equal(tickets, []string{"1"}) {
		t.Fatalf("raw %d tickets %v, want raw 6 and only ticket 1", raw, tickets)
	}
}

func TestOpenPositionsJoinFloatingProfit(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	at := time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)
	f.AddPosition(a.Login, dxfake.Position{Code: "pos-1", Symbol: "XAU/USD", Side: "SELL", Qty: dec("0.3"),
		OpenPrice: dec("2315.45"), FPL: dec("-18.90"), Margin: dec("69.46"), Updated: at})
	ps, err := c.OpenPositions(t.Context(), a.Login)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d positions, want 1", len(ps))
	}
	p := ps[0]
	if p.ID != "pos-1" || p.Login != a.Login || p.Symbol != "XAU/USD" || p.Side != trading.Sell ||
		!p.Volume.Equal(dec("0.3")) || !p.OpenPrice.Equal(dec("2315.45")) || !p.Profit.Equal(dec("-18.90")) ||
		!p.OpenTime.Equal(at) || p.OpenTime.Location() != time.UTC {
		t.Fatalf("position %+v", p)
	}
	acc, err := c.Account(t.Context(), a.Login)
	if err != nil {
		t.Fatal(err)
	}
	if !acc.Equity.Equal(dec("-18.90")) || !acc.Margin.Equal(dec("69.46")) || !acc.FreeMargin.Equal(dec("-88.36")) {
		t.Fatalf("account money %+v, want equity -18.90 margin 69.46 free -88.36", acc)
	}
}

func TestLogsAndErrorsNeverCarryPasswordsOrTokens(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	c := newTestConnector(t, f, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	recordSleeps(c)
	a := mustCreate(t, c)
	var errs []error
	f.ExpireTokens()
	_, err := c.Account(t.Context(), a.Login)
	errs = append(errs, err)
	f.RateLimitNext(1)
	errs = append(errs, c.ResetPassword(t.Context(), a.Login, trading.PasswordMain, "N3w!Secret-pw"))
	errs = append(errs, c.ResetPassword(t.Context(), a.Login, trading.PasswordMain, "weak"))
	f.SetRefuseTokens(true)
	_, err = c.Account(t.Context(), a.Login)
	errs = append(errs, err)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	text := logs.String()
	mu.Unlock()
	for _, e := range errs {
		if e != nil {
			text += "\n" + e.Error()
		}
	}
	secrets := append([]string{"Str0ng!Pass", "N3w!Secret-pw"}, f.Secrets()...)
	noUA := f.NoUserAgent()
	if len(secrets) < 5 {
		t.Fatalf("the fake issued %d tokens; the test needs logins to have happened", len(secrets)-3)
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("logs or errors contain the secret %q:\n%s", s, text)
		}
	}
	if !strings.Contains(text, "logging in again") {
		t.Errorf("logs do not show the re-login, so this test saw nothing:\n%s", text)
	}
	if noUA != 0 {
		t.Errorf("%d requests went without a User-Agent", noUA)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestCloseLogsOutAndLaterCallsFail(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	logouts, live := f.Sessions()
	if logouts != 2 || live != 0 {
		t.Fatalf("%d logouts and %d live sessions after Close, want 2 and 0", logouts, live)
	}
	if _, err := c.Account(t.Context(), a.Login); err == nil {
		t.Fatalf("Account after Close succeeded")
	}
}

func TestInvestorPasswordIsUnsupported(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	a := mustCreate(t, c)
	requireKind(t, c.ResetPassword(t.Context(), a.Login, trading.PasswordInvestor, "R3ad!Only"), trading.ErrUnsupported)
	requireKind(t, c.ResetPassword(t.Context(), "99999999", trading.PasswordInvestor, "R3ad!Only"), trading.ErrNotFound)
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	_, err := New(Config{BaseURL: "ftp://x", FinancingStandard: "S", FinancingSwapFree: "S",
		LeverageCategories: map[int]string{0: "x", 100: "x"}, GroupDomain: "Margining"})
	if err == nil {
		t.Fatal("New accepted an unusable config")
	}
	for _, want := range []string{"BaseURL", "Username", "Password", "BrokerCode", "ClearingCode", "must differ",
		"LeverageCategories", "GroupDomain"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("config error %q does not mention %s", err, want)
		}
	}
}

func TestUnsafeLoginNeverReachesAPath(t *testing.T) {
	t.Parallel()
	f := dxfake.New(t)
	c := newTestConnector(t, f)
	for _, login := range []string{"", "../admin", "a/b", "x?y", strings.Repeat("9", 65)} {
		_, err := c.Account(t.Context(), login)
		requireKind(t, err, trading.ErrInvalidRequest)
	}
	if n := len(f.RequestPaths()); n != 0 {
		t.Fatalf("%d requests reached the server: %v", n, f.RequestPaths())
	}
}
