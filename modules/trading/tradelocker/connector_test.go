package tradelocker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/logging/logtest"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/tradelocker/tlfake"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openAccount(t *testing.T, c *Connector, group string, leverage int) trading.Account {
	t.Helper()
	a, err := c.CreateAccount(ctxFor(t), trading.NewAccount{
		Group: group, Leverage: leverage, Currency: "EUR", FirstName: "Grace", LastName: "Hopper",
		Email: "grace@example.com", Password: "C0bol!Rules",
	})
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

func requireKind(t *testing.T, err, kind error) *trading.PlatformError {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("got error %v, want one that is %v", err, kind)
	}
	var pe *trading.PlatformError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *trading.PlatformError", err)
	}
	return pe
}

func deposit(t *testing.T, c *Connector, login, amount, opID string) (trading.BalanceResult, error) {
	t.Helper()
	return c.BalanceOperation(ctxFor(t), trading.BalanceOp{
		Login: login, Kind: trading.Deposit, Amount: dec(amount), OperationID: opID, Comment: "test",
	})
}

func TestSameOperationIDIsSentWithTheSameIdempotencyKeyAndReplayed(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, func(c *Config) { c.IdempotencyPrefix = "crm7" })
	a := openAccount(t, c, "1001", 100)

	first, err := deposit(t, c, a.Login, "250.75", "dep-42")
	if err != nil || first.Replayed {
		t.Fatalf("first deposit: %+v, %v", first, err)
	}
	second, err := deposit(t, c, a.Login, "250.75", "dep-42")
	if err != nil {
		t.Fatalf("second deposit: %v", err)
	}
	if !second.Replayed || second.Ticket != first.Ticket {
		t.Fatalf("second deposit = %+v, want Replayed with ticket %s", second, first.Ticket)
	}
	calls := f.CallsTo("v1/account-operations/deposit")
	if len(calls) != 2 {
		t.Fatalf("platform saw %d deposit calls, want 2", len(calls))
	}
	for _, call := range calls {
		if call.IdemKey != "crm7:DEMO:money:dep-42" {
			t.Fatalf("Idempotency-Key = %q, want crm7:DEMO:money:dep-42", call.IdemKey)
		}
	}
	if !calls[1].Replayed {
		t.Fatalf("the platform did not answer the second call from its idempotency store")
	}
	if got := f.Account(a.Login).Balance; !got.Equal(dec("250.75")) {
		t.Fatalf("balance = %s, want 250.75", got)
	}
	if n := f.BalanceOps(a.Login); n != 1 {
		t.Fatalf("money moved %d times, want 1", n)
	}
}

func TestOperationIDReusedForAnotherAmountIsAlreadyExistsAndMovesNothing(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	if _, err := deposit(t, c, a.Login, "10", "dup-1"); err != nil {
		t.Fatal(err)
	}
	_, err := c.BalanceOperation(ctxFor(t), trading.BalanceOp{
		Login: a.Login, Kind: trading.Withdrawal, Amount: dec("5"), OperationID: "dup-1",
	})
	pe := requireKind(t, err, trading.ErrAlreadyExists)
	if pe.Code != "409" || !strings.Contains(pe.Message, "Idempotency-Key") {
		t.Fatalf("PlatformError = %+v, want code 409 with the platform's reason", pe)
	}
	if n := f.BalanceOps(a.Login); n != 1 {
		t.Fatalf("money moved %d times, want 1", n)
	}
}

func TestReplayIsRecognisedByTicketWhenThePlatformDoesNotMarkIt(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	f.OmitReplayMarker()
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	first, err := deposit(t, c, a.Login, "1", "mark-1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := deposit(t, c, a.Login, "1", "mark-1")
	if err != nil {
		t.Fatal(err)
	}
	if first.Replayed || !second.Replayed || second.Ticket != first.Ticket {
		t.Fatalf("first %+v, second %+v: want only the second Replayed, same ticket", first, second)
	}
}

func TestDroppedAnswerIsResentOnceWithTheSameKeyAndMovesMoneyOnce(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	// Without keep-alive net/http cannot resend on its own, so the resend seen here is the connector's.
	c := newTestConnector(t, f, func(c *Config) {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	})
	a := openAccount(t, c, "1001", 100)
	f.DropNextMoneyAnswers(1)

	r, err := deposit(t, c, a.Login, "42.42", "drop-7")
	if err != nil {
		t.Fatalf("deposit whose first answer was lost: %v", err)
	}
	if !r.Replayed || r.Ticket == "" {
		t.Fatalf("result %+v: the resend must come back as the platform's replay of the first deposit", r)
	}
	calls := f.CallsTo("v1/account-operations/deposit")
	if len(calls) != 2 || calls[0].IdemKey != calls[1].IdemKey || calls[0].Status != 0 || !calls[1].Replayed {
		t.Fatalf("calls = %+v, want a dropped call then a replayed one with the same key", calls)
	}
	if n := f.BalanceOps(a.Login); n != 1 {
		t.Fatalf("money moved %d times, want 1", n)
	}
	if got := f.Account(a.Login).Balance; !got.Equal(dec("42.42")) {
		t.Fatalf("balance = %s, want 42.42", got)
	}
}

func TestAnswerLostTwiceIsRetryableAndTheCallersRetryMovesMoneyOnce(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, func(c *Config) {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	})
	a := openAccount(t, c, "1001", 100)
	f.DropNextMoneyAnswers(2)

	_, err := deposit(t, c, a.Login, "5.05", "drop-8")
	requireKind(t, err, trading.ErrUnavailable)
	if !trading.Retryable(err) {
		t.Fatalf("%v is not Retryable, so the caller would give up on money that moved", err)
	}
	r, err := deposit(t, c, a.Login, "5.05", "drop-8")
	if err != nil || !r.Replayed {
		t.Fatalf("caller's retry = %+v, %v; want the replayed first deposit", r, err)
	}
	if n := f.BalanceOps(a.Login); n != 1 {
		t.Fatalf("money moved %d times, want 1", n)
	}
}

func TestSlowAnswerTimesOutAndTheResendIsReplayed(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, func(c *Config) { c.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond} })
	a := openAccount(t, c, "1001", 100)
	f.SlowNext(1)

	r, err := deposit(t, c, a.Login, "7", "slow-1")
	if err != nil {
		t.Fatalf("deposit after a timed-out first attempt: %v", err)
	}
	if !r.Replayed {
		t.Fatalf("result %+v: the first attempt was applied, so the resend must be a replay", r)
	}
	if n := f.BalanceOps(a.Login); n != 1 {
		t.Fatalf("money moved %d times, want 1", n)
	}
}

func TestRateLimitedCallsAreRetriedUntilTheyPass(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	f.RateLimitNext(2)
	if _, err := deposit(t, c, a.Login, "12.34", "rl-2"); err != nil {
		t.Fatalf("deposit through two 429s: %v", err)
	}
	calls := f.CallsTo("v1/account-operations/deposit")
	if len(calls) != 3 || calls[0].Status != 429 || calls[1].Status != 429 || calls[2].Status != 200 {
		t.Fatalf("calls = %+v, want 429, 429, 200", calls)
	}
	if n := f.BalanceOps(a.Login); n != 1 {
		t.Fatalf("money moved %d times, want 1", n)
	}
}

func TestRateLimitBeyondTheRetriesIsRateLimited(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, func(c *Config) { c.RateLimitRetries = 1 })
	a := openAccount(t, c, "1001", 100)
	f.RateLimitNext(5)
	_, err := c.Account(ctxFor(t), a.Login)
	pe := requireKind(t, err, trading.ErrRateLimited)
	if pe.Code != "429" || !trading.Retryable(err) {
		t.Fatalf("PlatformError %+v: want code 429 and Retryable", pe)
	}
	if n := len(f.CallsTo("v1/accounts/details")); n != 2 {
		t.Fatalf("platform saw %d calls, want the first and one retry", n)
	}
}

func TestRetryAfterLongerThanMaxRetryWaitIsReturnedAtOnce(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, func(c *Config) { c.MaxRetryWait = time.Second })
	a := openAccount(t, c, "1001", 100)
	f.SetRetryAfter("3600")
	f.RateLimitNext(1)
	_, err := c.Account(ctxFor(t), a.Login)
	requireKind(t, err, trading.ErrRateLimited)
	if n := len(f.CallsTo("v1/accounts/details")); n != 1 {
		t.Fatalf("platform saw %d calls; a worker must not block for an hour", n)
	}
}

func TestRetryAfterAcceptsSecondsAndHTTPDates(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in    string
		want  time.Duration
		given bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 2 ", 2 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	} {
		got, given := retryAfter(tc.in, now)
		if got != tc.want || given != tc.given {
			t.Errorf("retryAfter(%q) = %v, %t; want %v, %t", tc.in, got, given, tc.want, tc.given)
		}
	}
}

func TestStatusTableMapsEveryStatusToOneKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		reason string
		money  bool
		want   error
	}{
		{400, "amount must be a positive number", false, trading.ErrInvalidRequest},
		{400, "Insufficient funds: available balance is 1.00", true, trading.ErrInsufficientFunds},
		{400, "Not enough money on the account", true, trading.ErrInsufficientFunds},
		// Outside money calls "insufficient" means something else and must stay a request error.
		{400, "insufficient password strength", false, trading.ErrInvalidRequest},
		{401, "Invalid brand api key", false, trading.ErrAuthFailed},
		{403, "Forbidden resource", false, trading.ErrAuthFailed},
		{404, "Account not found", false, trading.ErrNotFound},
		{405, "", false, trading.ErrInvalidRequest},
		{408, "", false, trading.ErrUnavailable},
		{409, "exists", false, trading.ErrAlreadyExists},
		{422, "", false, trading.ErrInvalidRequest},
		{429, "", true, trading.ErrRateLimited},
		{500, "", true, trading.ErrUnavailable},
		{503, "", false, trading.ErrUnavailable},
		{599, "", false, trading.ErrUnavailable},
		{302, "", false, trading.ErrUnavailable},
	} {
		if got := kindFor(tc.status, tc.reason, tc.money); got != tc.want {
			t.Errorf("kindFor(%d, %q, money=%t) = %v, want %v", tc.status, tc.reason, tc.money, got, tc.want)
		}
	}
}

// rawPlatform answers every call with the given status and body, counting calls; for error mapping end to end.
func rawPlatform(t *testing.T, status int, body string) (*Connector, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/brand-api/", APIKey: "k", Environment: Live, Groups: testGroups(),
		RetryBackoff: time.Millisecond, RateLimitRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

func TestPlatformStatusesBecomeErrorKindsWithTheBodysReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status    int
		body      string
		want      error
		reason    string
		wantCalls int32
	}{
		{400, `{"statusCode":400,"message":["amount must be a number string","note too long"],"error":"Bad Request"}`,
			trading.ErrInvalidRequest, "amount must be a number string; note too long", 1},
		{401, `{"statusCode":401,"message":"Invalid brand api key","error":"Unauthorized"}`, trading.ErrAuthFailed, "Invalid brand api key", 1},
		{403, `{"statusCode":403,"message":"Forbidden resource","error":"Forbidden"}`, trading.ErrAuthFailed, "Forbidden resource", 1},
		{404, `{"statusCode":404,"message":"Account 1 not found","error":"Not Found"}`, trading.ErrNotFound, "Account 1 not found", 1},
		{409, `{"statusCode":409,"message":"Conflict"}`, trading.ErrAlreadyExists, "Conflict", 1},
		{429, `{"statusCode":429,"message":"ThrottlerException: Too Many Requests"}`, trading.ErrRateLimited, "Too Many Requests", 3},
		{500, `<html>Internal Server Error</html>`, trading.ErrUnavailable, "<html>Internal Server Error</html>", 1},
		// A gateway error may hide an applied call: a keyed call is sent once more.
		{503, ``, trading.ErrUnavailable, "", 2},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			c, calls := rawPlatform(t, tc.status, tc.body)
			_, err := c.BalanceOperation(ctxFor(t), trading.BalanceOp{
				Login: "1", Kind: trading.Withdrawal, Amount: dec("1"), OperationID: "e-1",
			})
			pe := requireKind(t, err, tc.want)
			if pe.Code != fmt.Sprint(tc.status) || !strings.Contains(pe.Message, tc.reason) {
				t.Fatalf("PlatformError = %+v, want code %d and reason %q", pe, tc.status, tc.reason)
			}
			if pe.Op != "balance_operation" || pe.Platform != trading.PlatformTradeLocker {
				t.Fatalf("PlatformError = %+v, want op balance_operation on tradelocker", pe)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Fatalf("platform saw %d calls, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestInsufficientFundsOnWithdrawalAndCreditOut(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	if _, err := deposit(t, c, a.Login, "100", "if-dep"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []trading.BalanceOp{
		{Login: a.Login, Kind: trading.Withdrawal, Amount: dec("100.01"), OperationID: "if-wd"},
		{Login: a.Login, Kind: trading.CreditOut, Amount: dec("0.01"), OperationID: "if-co"},
	} {
		_, err := c.BalanceOperation(ctxFor(t), op)
		pe := requireKind(t, err, trading.ErrInsufficientFunds)
		if pe.Code != "400" || !strings.Contains(pe.Message, "Insufficient") {
			t.Fatalf("%s: PlatformError = %+v, want the platform's 400 and its text", op.Kind, pe)
		}
	}
	if n := f.BalanceOps(a.Login); n != 1 {
		t.Fatalf("money moved %d times, want only the deposit", n)
	}
}

func TestErrorTextNeverCarriesThePassword(t *testing.T) {
	t.Parallel()
	const password = "S3cret!Echo"
	// A platform whose validation message quotes the password it was sent.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/brand-api/v1/users/check-by-email":
			w.WriteHeader(http.StatusNotFound)
		case "/brand-api/v1/accounts/details":
			_, _ = w.Write([]byte(`{"accountId":"1","userId":"u1","userGroupId":"1001","status":"ACTIVE","currency":"USD","balance":"0"}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"statusCode":400,"message":"password ` + password + ` is not allowed"}`))
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, APIKey: "k", Environment: Live, Groups: testGroups()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateAccount(ctxFor(t), trading.NewAccount{
		Group: "1001", Leverage: 100, Currency: "USD", Email: "a@example.com", Password: password,
	})
	requireKind(t, err, trading.ErrInvalidRequest)
	if strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error %v carries the password (or lost the platform's text)", err)
	}
	err = c.ResetPassword(ctxFor(t), "1", trading.PasswordMain, password)
	requireKind(t, err, trading.ErrInvalidRequest)
	if strings.Contains(err.Error(), password) {
		t.Fatalf("error %v carries the password", err)
	}
}

func TestLogsNeverContainTheKeyOrPasswords(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	logs := &logtest.Buffer{}
	c := newTestConnector(t, f, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	a, err := c.CreateAccount(ctxFor(t), trading.NewAccount{Group: "1001", Leverage: 100, Currency: "USD",
		Email: "log@example.com", Password: "L0g!Secret", OperationID: "acc-1"})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.ResetPassword(ctxFor(t), a.Login, trading.PasswordMain, "N3w!Secret")
	_ = c.ResetPassword(ctxFor(t), a.Login, trading.PasswordMain, "short")
	f.RateLimitNext(1)
	_, _ = deposit(t, c, a.Login, "1", "log-dep")
	if !strings.Contains(logs.String(), "v1/accounts/create") {
		t.Fatalf("logs do not show the calls at all, so the check below proves nothing:\n%s", logs)
	}
	for _, secret := range []string{tlfake.APIKey, "L0g!Secret", "N3w!Secret", "short"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func TestWrongKeyIsAuthFailedAtPing(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, func(c *Config) { c.APIKey = "not-the-key" })
	requireKind(t, c.Ping(ctxFor(t)), trading.ErrAuthFailed)
	good := newTestConnector(t, f, nil)
	if err := good.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping with the right key: %v", err)
	}
}

func TestMissingGroupsNamesCatalogueEntriesThePlatformLacks(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, func(c *Config) {
		c.Groups = append(c.Groups, Group{ID: "9999", AccountType: "vip", Leverage: 100})
	})
	missing, err := c.MissingGroups(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0] != "9999" {
		t.Fatalf("MissingGroups = %v, want [9999]", missing)
	}
}

func TestSetAccessMapsToSuspendRestrictAndActivate(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	for _, tc := range []struct {
		access trading.Access
		status string
	}{
		{trading.Access{LoginEnabled: false, TradingEnabled: true}, "SUSPENDED"},
		{trading.Access{LoginEnabled: false, TradingEnabled: false}, "SUSPENDED"},
		{trading.Access{LoginEnabled: true, TradingEnabled: false}, "RESTRICTED"},
		{trading.Access{LoginEnabled: true, TradingEnabled: true}, "ACTIVE"},
	} {
		if err := c.SetAccess(ctxFor(t), a.Login, tc.access); err != nil {
			t.Fatalf("SetAccess(%+v): %v", tc.access, err)
		}
		if got := f.Account(a.Login).Status; got != tc.status {
			t.Fatalf("SetAccess(%+v) left status %s, want %s", tc.access, got, tc.status)
		}
	}
}

func TestResetPasswordIsTheUsersAndInvestorIsUnsupported(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	b := openAccount(t, c, "2001", 100)
	if f.Account(a.Login).UserID != f.Account(b.Login).UserID {
		t.Fatalf("two accounts for one e-mail got different users")
	}
	if err := c.ResetPassword(ctxFor(t), b.Login, trading.PasswordMain, "Fresh!Pass1"); err != nil {
		t.Fatal(err)
	}
	if got := f.User(f.Account(a.Login).UserID).Password; got != "Fresh!Pass1" {
		t.Fatalf("user password = %q after a reset through the other account", got)
	}
	err := c.ResetPassword(ctxFor(t), a.Login, trading.PasswordInvestor, "Inv3stor!x")
	requireKind(t, err, trading.ErrUnsupported)
	err = c.ResetPassword(ctxFor(t), "424242", trading.PasswordInvestor, "Inv3stor!x")
	requireKind(t, err, trading.ErrNotFound)
}

func TestCreateAccountPicksTheSiblingGroupForTheLeverage(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a, err := c.CreateAccount(ctxFor(t), trading.NewAccount{Group: "1002", Leverage: 500, Currency: "usd",
		Email: "sf@example.com", Password: "Sw4p!Free"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Group != "1006" || !a.SwapFree || a.Leverage != 500 || a.Currency != "USD" {
		t.Fatalf("account = %+v, want group 1006 (standard, 1:500, swap-free) in USD", a)
	}
	if got := f.Account(a.Login); got.Group != "1006" || got.Currency != "USD" {
		t.Fatalf("platform account = %+v", got)
	}
	_, err = c.CreateAccount(ctxFor(t), trading.NewAccount{Group: "2001", Leverage: 50, Currency: "USD",
		Email: "sf@example.com", Password: "Sw4p!Free"})
	requireKind(t, err, trading.ErrInvalidRequest) // no pro group at 1:50
}

func TestCreateAccountWithOperationIDIsIdempotent(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	req := trading.NewAccount{Group: "1001", Leverage: 100, Currency: "USD", Email: "idem@example.com",
		Password: "Idem!Pass1", OperationID: "open-1"}
	a, err := c.CreateAccount(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateAccount(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if a.Login != b.Login {
		t.Fatalf("the same OperationID opened two accounts: %s and %s", a.Login, b.Login)
	}
	calls := f.CallsTo("v1/accounts/create")
	if len(calls) != 2 || calls[0].IdemKey != "brokerdesk:DEMO:account:open-1" || !calls[1].Replayed {
		t.Fatalf("account create calls = %+v", calls)
	}
}

func TestNewRefusesConfigsItCannotRunWith(t *testing.T) {
	t.Parallel()
	good := Config{BaseURL: "https://api.tradelocker.com", APIKey: "k", Environment: Live, Groups: testGroups()}
	for name, edit := range map[string]func(*Config){
		"no url":          func(c *Config) { c.BaseURL = "" },
		"ftp url":         func(c *Config) { c.BaseURL = "ftp://api.tradelocker.com" },
		"no key":          func(c *Config) { c.APIKey = " " },
		"bad environment": func(c *Config) { c.Environment = "PAPER" },
		"no groups":       func(c *Config) { c.Groups = nil },
		"duplicate group": func(c *Config) { c.Groups = append(c.Groups, c.Groups[0]) },
		"ambiguous sibling": func(c *Config) {
			c.Groups = append(c.Groups, Group{ID: "x", AccountType: "standard", Leverage: 100})
		},
		"zero leverage": func(c *Config) { c.Groups = []Group{{ID: "x", AccountType: "a"}} },
	} {
		cfg := good
		cfg.Groups = append([]Group(nil), good.Groups...)
		edit(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	c, err := New(good)
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	if c.Capabilities().MaxLeverage != 500 {
		t.Fatalf("MaxLeverage = %d, want the catalogue's largest, 500", c.Capabilities().MaxLeverage)
	}
	if strings.Contains(fmt.Sprint(New(Config{APIKey: "very-secret-key"})), "very-secret-key") {
		t.Fatalf("a config error shows the API key")
	}
}
