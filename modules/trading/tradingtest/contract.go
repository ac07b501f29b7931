package tradingtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// Run runs the connector contract. Every case is a parallel subtest with its own Env from newEnv, so a case never
// sees another case's accounts, faults or money.
//
// What the contract decides where the interface alone leaves room (vendor connectors map their platform onto this):
//   - a group that does not exist, a leverage outside 1..Capabilities.MaxLeverage, a non-positive amount and an
//     obviously weak password are ErrInvalidRequest; ErrNotFound is kept for an unknown login, so operators can tell
//     "fix the request" from "the account is gone";
//   - with no open positions an account's Equity is Balance+Credit, Margin is zero and FreeMargin equals Equity;
//   - a requested login that the platform cannot honour is ErrUnsupported (the case then skips); a requested login
//     already in use is ErrAlreadyExists;
//   - a platform without investor (read-only) passwords answers ResetPassword(investor) with ErrUnsupported (the case
//     then skips), but only after finding the login: an unknown login is still ErrNotFound;
//   - after a lost answer the connector either finishes the job itself or returns a Retryable error, and the caller's
//     retry with the same OperationID is answered with Replayed set and the first operation's money, never a second
//     movement;
//   - Env.SeedDeals places deal i of n at from + i*(to-from)/n, so n=1 puts the one deal exactly at from.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	t.Helper()
	for _, c := range contractCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			c.run(t, env)
		})
	}
}

type contractCase struct {
	name string
	run  func(t *testing.T, env Env)
}

// contractCases is a slice rather than a map so the subtests always run and report in the same order.
func contractCases() []contractCase {
	return []contractCase{
		{"Capabilities/DescribeThePlatform", capabilitiesDescribeThePlatform},
		{"Ping/SucceedsOnAFreshSession", pingSucceeds},

		{"CreateAccount/PlatformChoosesTheLoginWhenNoneIsRequested", createAccountPlatformChoosesLogin},
		{"CreateAccount/RequestedLoginIsHonouredWhereSupported", createAccountRequestedLogin},
		{"CreateAccount/LoginAlreadyInUseIsAlreadyExists", createAccountDuplicateLogin},
		{"CreateAccount/LeverageOutOfRangeIsInvalidRequest", createAccountInvalidLeverage},
		{"CreateAccount/UnknownGroupIsInvalidRequest", createAccountUnknownGroup},
		{"CreateAccount/NewAccountStartsEnabledWithNoMoney", createAccountStateFields},

		{"SetLeverage/NewLeverageReadsBack", setLeverageReadsBack},
		{"SetLeverage/OutOfRangeIsInvalidRequestAndLeavesLeverage", setLeverageOutOfRange},
		{"MoveGroup/NewGroupReadsBackAndCurrencyStays", moveGroupReadsBack},
		{"MoveGroup/UnknownGroupIsInvalidRequestAndLeavesGroup", moveGroupUnknownGroup},
		{"SetSwapFree/OnAndOffReadBack", setSwapFreeReadsBack},
		{"SetAccess/DisableReadOnlyAndEnableReadBack", setAccessReadsBack},
		{"ResetPassword/MainIsAccepted", resetMainPassword},
		{"ResetPassword/InvestorIsAcceptedWhereThePlatformHasOne", resetInvestorPassword},
		{"ResetPassword/WeakPasswordIsInvalidRequest", resetPasswordWeak},

		{"Balance/DepositWithdrawalAndCreditReadBackToTheCent", balanceOperationsReadBack},
		{"Balance/WithdrawalOverBalanceIsInsufficientFundsAndMovesNothing", balanceWithdrawalOverBalance},
		{"Balance/NonPositiveAmountIsInvalidRequest", balanceNonPositiveAmount},
		{"Balance/SameOperationIDTwiceMovesMoneyOnce", balanceSameOperationIDTwice},
		{"Balance/LongCommentIsAccepted", balanceLongComment},
		{"Balance/ConcurrentOperationsAllApplyExactlyOnce", balanceConcurrent},
		{"Balance/DroppedAnswerThenRetryMovesMoneyOnce", balanceDroppedAnswer},

		{"RateLimit/ReadSucceedsThroughRetriesOrSaysRetryable", rateLimitRead},
		{"RateLimit/BalanceOperationRetriedAfterRateLimitMovesMoneyOnce", rateLimitBalance},

		{"ClosedDeals/PagesCoverEveryDealOnceOldestFirstInUTC", closedDealsPaging},
		{"ClosedDeals/FromIsIncludedAndToIsExcluded", closedDealsBoundaries},
		{"ClosedDeals/EmptyWindowHasNoDealsAndNoNextPage", closedDealsEmptyWindow},
		{"OpenPositions/FreshAccountHasNone", openPositionsFresh},

		{"UnknownLogin/EveryReadIsNotFound", unknownLoginReads},
		{"UnknownLogin/EveryChangeIsNotFound", unknownLoginChanges},
	}
}

// unknownLogin is numeric because MT5-style platforms only have numeric logins, and large enough that no fresh
// platform hands it out before the cases below create their handful of accounts.
const unknownLogin = "987654321"

// strongPassword passes the strictest rules we know (MT5: 8-16 characters, four character classes).
const strongPassword = "Tr4de!Desk"

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	// A connector that hangs must fail the case, not the whole run at its global timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func newAccountRequest(env Env) trading.NewAccount {
	return trading.NewAccount{
		Group:            env.StandardGroup,
		Leverage:         100,
		Currency:         env.Currency,
		FirstName:        "Ada",
		LastName:         "Contract",
		Email:            "ada.contract@example.com",
		Password:         strongPassword,
		InvestorPassword: "R3ad!Only",
	}
}

// createAccount opens an account in the standard group and fails the case if the platform refuses.
func createAccount(t *testing.T, env Env) trading.Account {
	t.Helper()
	a, err := env.Conn.CreateAccount(ctxFor(t), newAccountRequest(env))
	if err != nil {
		t.Fatalf("CreateAccount in group %q: %v", env.StandardGroup, err)
	}
	if a.Login == "" {
		t.Fatalf("CreateAccount returned an account with no login: %+v", a)
	}
	return a
}

func readAccount(t *testing.T, env Env, login string) trading.Account {
	t.Helper()
	a, err := env.Conn.Account(ctxFor(t), login)
	if err != nil {
		t.Fatalf("Account(%s): %v", login, err)
	}
	return a
}

func requireKind(t *testing.T, err, kind error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want %v", what, kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v, want one that errors.Is %v", what, err, kind)
	}
	var pe *trading.PlatformError
	if !errors.As(err, &pe) {
		t.Errorf("%s: error %v is not a *trading.PlatformError, so operators lose the platform's code and text", what, err)
	}
}

func requireMoney(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(dec(want)) {
		t.Fatalf("%s: got %s, want exactly %s", what, got.String(), want)
	}
}

func balanceOp(t *testing.T, env Env, op trading.BalanceOp) trading.BalanceResult {
	t.Helper()
	r, err := env.Conn.BalanceOperation(ctxFor(t), op)
	if err != nil {
		t.Fatalf("BalanceOperation %s %s on %s (op %s): %v", op.Kind, op.Amount, op.Login, op.OperationID, err)
	}
	if r.Ticket == "" {
		t.Fatalf("BalanceOperation %s (op %s) returned no ticket", op.Kind, op.OperationID)
	}
	return r
}

func deposit(t *testing.T, env Env, login, amount, opID string) trading.BalanceResult {
	t.Helper()
	return balanceOp(t, env, trading.BalanceOp{
		Login: login, Kind: trading.Deposit, Amount: dec(amount), OperationID: opID, Comment: "contract deposit",
	})
}

func capabilitiesDescribeThePlatform(t *testing.T, env Env) {
	c := env.Conn.Capabilities()
	if c.Platform == "" {
		t.Errorf("Capabilities.Platform is empty")
	}
	switch c.SwapFree {
	case trading.SwapFreeByGroup, trading.SwapFreeByFlag, trading.SwapFreeByCategory:
	default:
		t.Errorf("Capabilities.SwapFree = %q, want one of group, flag, category", c.SwapFree)
	}
	if c.MaxLeverage < 100 {
		t.Errorf("Capabilities.MaxLeverage = %d; every platform we support allows at least 1:100", c.MaxLeverage)
	}
	if c.MaxDealWindow < 0 {
		t.Errorf("Capabilities.MaxDealWindow = %v, want >= 0", c.MaxDealWindow)
	}
	if c.SwapFree == trading.SwapFreeByGroup && env.SwapFreeGroup == env.StandardGroup {
		t.Errorf("swap-free by group but Env.SwapFreeGroup equals StandardGroup %q", env.StandardGroup)
	}
}

func pingSucceeds(t *testing.T, env Env) {
	if err := env.Conn.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func createAccountPlatformChoosesLogin(t *testing.T, env Env) {
	a := createAccount(t, env)
	b := createAccount(t, env)
	if a.Login == b.Login {
		t.Fatalf("two accounts got the same login %q", a.Login)
	}
	got := readAccount(t, env, a.Login)
	if got.Login != a.Login {
		t.Errorf("Account(%s).Login = %q", a.Login, got.Login)
	}
	if got.Currency != env.Currency {
		t.Errorf("Currency = %q, want %q", got.Currency, env.Currency)
	}
	if got.Leverage != 100 {
		t.Errorf("Leverage = %d, want 100", got.Leverage)
	}
	// Where leverage is a property of the group the connector may have picked the group mapped to 1:100.
	if !env.Conn.Capabilities().LeverageByGroup && got.Group != env.StandardGroup {
		t.Errorf("Group = %q, want %q", got.Group, env.StandardGroup)
	}
}

func createAccountRequestedLogin(t *testing.T, env Env) {
	req := newAccountRequest(env)
	req.Login = "5550123"
	a, err := env.Conn.CreateAccount(ctxFor(t), req)
	if errors.Is(err, trading.ErrUnsupported) {
		t.Skipf("platform %s cannot create an account with a requested login: %v", env.Conn.Capabilities().Platform, err)
	}
	if err != nil {
		t.Fatalf("CreateAccount with requested login %s: %v", req.Login, err)
	}
	if a.Login != req.Login {
		t.Fatalf("requested login %s, got %s", req.Login, a.Login)
	}
	if got := readAccount(t, env, req.Login); got.Login != req.Login {
		t.Fatalf("Account(%s).Login = %q", req.Login, got.Login)
	}
	// The platform's own sequence must step around a login it did not choose.
	next := createAccount(t, env)
	if next.Login == req.Login {
		t.Fatalf("platform-chosen login collided with the requested login %s", req.Login)
	}
}

func createAccountDuplicateLogin(t *testing.T, env Env) {
	existing := createAccount(t, env)
	req := newAccountRequest(env)
	req.Login = existing.Login
	_, err := env.Conn.CreateAccount(ctxFor(t), req)
	if errors.Is(err, trading.ErrUnsupported) {
		t.Skipf("platform %s cannot create an account with a requested login: %v", env.Conn.Capabilities().Platform, err)
	}
	requireKind(t, err, trading.ErrAlreadyExists, "CreateAccount with login "+existing.Login+" already in use")
}

func createAccountInvalidLeverage(t *testing.T, env Env) {
	maxLev := env.Conn.Capabilities().MaxLeverage
	if maxLev <= 0 {
		t.Fatalf("Capabilities.MaxLeverage = %d: the connector must say which leverage it accepts", maxLev)
	}
	tooHigh := maxLev + 1
	for _, lev := range []int{0, -1, tooHigh} {
		req := newAccountRequest(env)
		req.Leverage = lev
		_, err := env.Conn.CreateAccount(ctxFor(t), req)
		requireKind(t, err, trading.ErrInvalidRequest, fmt.Sprintf("CreateAccount with leverage %d", lev))
	}
}

func createAccountUnknownGroup(t *testing.T, env Env) {
	req := newAccountRequest(env)
	req.Group = "no-such-group-contract"
	_, err := env.Conn.CreateAccount(ctxFor(t), req)
	requireKind(t, err, trading.ErrInvalidRequest, "CreateAccount in a group that does not exist")
}

func createAccountStateFields(t *testing.T, env Env) {
	a := createAccount(t, env)
	got := readAccount(t, env, a.Login)
	if got.Access != (trading.Access{LoginEnabled: true, TradingEnabled: true}) {
		t.Errorf("new account Access = %+v, want login and trading enabled", got.Access)
	}
	if got.SwapFree {
		t.Errorf("new account in standard group %q reads as swap-free", env.StandardGroup)
	}
	requireMoney(t, "new account Balance", got.Balance, "0")
	requireMoney(t, "new account Credit", got.Credit, "0")
	requireMoney(t, "new account Equity", got.Equity, "0")
	requireMoney(t, "new account Margin", got.Margin, "0")
	requireMoney(t, "new account FreeMargin", got.FreeMargin, "0")

	deposit(t, env, a.Login, "500.00", "state-dep")
	balanceOp(t, env, trading.BalanceOp{Login: a.Login, Kind: trading.CreditIn, Amount: dec("100.50"), OperationID: "state-cred"})
	got = readAccount(t, env, a.Login)
	requireMoney(t, "Balance after deposit", got.Balance, "500")
	requireMoney(t, "Credit after credit in", got.Credit, "100.5")
	requireMoney(t, "Equity with no positions (Balance+Credit)", got.Equity, "600.5")
	requireMoney(t, "Margin with no positions", got.Margin, "0")
	requireMoney(t, "FreeMargin with no positions (Equity)", got.FreeMargin, "600.5")
}

func setLeverageReadsBack(t *testing.T, env Env) {
	a := createAccount(t, env)
	if err := env.Conn.SetLeverage(ctxFor(t), a.Login, 50); err != nil {
		t.Fatalf("SetLeverage(%s, 50): %v", a.Login, err)
	}
	got := readAccount(t, env, a.Login)
	if got.Leverage != 50 {
		t.Fatalf("Leverage after SetLeverage(50) = %d", got.Leverage)
	}
	if got.Currency != a.Currency {
		t.Errorf("Currency changed from %q to %q on a leverage change", a.Currency, got.Currency)
	}
	if !env.Conn.Capabilities().LeverageByGroup && got.Group != a.Group {
		t.Errorf("Group changed from %q to %q although leverage is per account", a.Group, got.Group)
	}
}

func setLeverageOutOfRange(t *testing.T, env Env) {
	a := createAccount(t, env)
	for _, lev := range []int{0, env.Conn.Capabilities().MaxLeverage + 1} {
		err := env.Conn.SetLeverage(ctxFor(t), a.Login, lev)
		requireKind(t, err, trading.ErrInvalidRequest, fmt.Sprintf("SetLeverage(%d)", lev))
	}
	if got := readAccount(t, env, a.Login); got.Leverage != 100 {
		t.Fatalf("Leverage after refused changes = %d, want 100", got.Leverage)
	}
}

func moveGroupReadsBack(t *testing.T, env Env) {
	a := createAccount(t, env)
	if err := env.Conn.MoveGroup(ctxFor(t), a.Login, env.OtherGroup); err != nil {
		t.Fatalf("MoveGroup(%s, %s): %v", a.Login, env.OtherGroup, err)
	}
	got := readAccount(t, env, a.Login)
	if got.Group != env.OtherGroup {
		t.Fatalf("Group after MoveGroup = %q, want %q", got.Group, env.OtherGroup)
	}
	if got.Currency != a.Currency {
		t.Fatalf("Currency changed from %q to %q on a group move", a.Currency, got.Currency)
	}
}

func moveGroupUnknownGroup(t *testing.T, env Env) {
	a := createAccount(t, env)
	err := env.Conn.MoveGroup(ctxFor(t), a.Login, "no-such-group-contract")
	requireKind(t, err, trading.ErrInvalidRequest, "MoveGroup to a group that does not exist")
	if got := readAccount(t, env, a.Login); got.Group != a.Group {
		t.Fatalf("Group after refused move = %q, want %q", got.Group, a.Group)
	}
}

func setSwapFreeReadsBack(t *testing.T, env Env) {
	a := createAccount(t, env)
	byGroup := env.Conn.Capabilities().SwapFree == trading.SwapFreeByGroup
	if err := env.Conn.SetSwapFree(ctxFor(t), a.Login, true); err != nil {
		t.Fatalf("SetSwapFree(%s, true): %v", a.Login, err)
	}
	got := readAccount(t, env, a.Login)
	if !got.SwapFree {
		t.Fatalf("SwapFree after SetSwapFree(true) is false")
	}
	if byGroup && got.Group != env.SwapFreeGroup {
		t.Fatalf("swap-free by group: Group = %q, want %q", got.Group, env.SwapFreeGroup)
	}
	if got.Currency != a.Currency {
		t.Fatalf("Currency changed from %q to %q when going swap-free", a.Currency, got.Currency)
	}

	if err := env.Conn.SetSwapFree(ctxFor(t), a.Login, false); err != nil {
		t.Fatalf("SetSwapFree(%s, false): %v", a.Login, err)
	}
	got = readAccount(t, env, a.Login)
	if got.SwapFree {
		t.Fatalf("SwapFree after SetSwapFree(false) is true")
	}
	if byGroup && got.Group != env.StandardGroup {
		t.Fatalf("swap-free off by group: Group = %q, want back in %q", got.Group, env.StandardGroup)
	}
}

func setAccessReadsBack(t *testing.T, env Env) {
	a := createAccount(t, env)
	for _, want := range []trading.Access{
		{LoginEnabled: false, TradingEnabled: false},
		{LoginEnabled: true, TradingEnabled: false},
		{LoginEnabled: true, TradingEnabled: true},
	} {
		if err := env.Conn.SetAccess(ctxFor(t), a.Login, want); err != nil {
			t.Fatalf("SetAccess(%s, %+v): %v", a.Login, want, err)
		}
		if got := readAccount(t, env, a.Login).Access; got != want {
			t.Fatalf("Access after SetAccess(%+v) = %+v", want, got)
		}
	}
}

func resetMainPassword(t *testing.T, env Env) {
	a := createAccount(t, env)
	if err := env.Conn.ResetPassword(ctxFor(t), a.Login, trading.PasswordMain, "N3w!Main"); err != nil {
		t.Fatalf("ResetPassword main: %v", err)
	}
}

func resetInvestorPassword(t *testing.T, env Env) {
	a := createAccount(t, env)
	err := env.Conn.ResetPassword(ctxFor(t), a.Login, trading.PasswordInvestor, "N3w!Invest")
	if errors.Is(err, trading.ErrUnsupported) {
		t.Skipf("platform %s has no investor (read-only) password: %v", env.Conn.Capabilities().Platform, err)
	}
	if err != nil {
		t.Fatalf("ResetPassword investor: %v", err)
	}
}

func resetPasswordWeak(t *testing.T, env Env) {
	a := createAccount(t, env)
	err := env.Conn.ResetPassword(ctxFor(t), a.Login, trading.PasswordMain, "x")
	requireKind(t, err, trading.ErrInvalidRequest, "ResetPassword with a one-character password")
}

func balanceOperationsReadBack(t *testing.T, env Env) {
	a := createAccount(t, env)
	steps := []struct {
		kind                  trading.BalanceKind
		amount                string
		wantBalance, wantCred string
	}{
		{trading.Deposit, "1000.55", "1000.55", "0"},
		{trading.Withdrawal, "200.10", "800.45", "0"},
		{trading.CreditIn, "50.25", "800.45", "50.25"},
		{trading.CreditOut, "20.05", "800.45", "30.20"},
		{trading.Deposit, "0.01", "800.46", "30.20"},
		{trading.Withdrawal, "800.46", "0", "30.20"},
	}
	tickets := map[string]bool{}
	for i, s := range steps {
		r := balanceOp(t, env, trading.BalanceOp{
			Login: a.Login, Kind: s.kind, Amount: dec(s.amount), OperationID: "rb-" + strconv.Itoa(i),
		})
		if r.Replayed {
			t.Fatalf("step %d (%s %s) with a fresh OperationID reported Replayed", i, s.kind, s.amount)
		}
		if tickets[r.Ticket] {
			t.Fatalf("step %d got ticket %s already used by an earlier operation", i, r.Ticket)
		}
		tickets[r.Ticket] = true
		got := readAccount(t, env, a.Login)
		requireMoney(t, fmt.Sprintf("Balance after step %d (%s %s)", i, s.kind, s.amount), got.Balance, s.wantBalance)
		requireMoney(t, fmt.Sprintf("Credit after step %d (%s %s)", i, s.kind, s.amount), got.Credit, s.wantCred)
	}
	if n := env.BalanceOps(a.Login); n != len(steps) {
		t.Fatalf("platform recorded %d balance movements, want %d", n, len(steps))
	}
}

func balanceWithdrawalOverBalance(t *testing.T, env Env) {
	a := createAccount(t, env)
	deposit(t, env, a.Login, "100.00", "over-dep")
	_, err := env.Conn.BalanceOperation(ctxFor(t), trading.BalanceOp{
		Login: a.Login, Kind: trading.Withdrawal, Amount: dec("100.01"), OperationID: "over-wd",
	})
	requireKind(t, err, trading.ErrInsufficientFunds, "withdrawal of 100.01 from a balance of 100.00")
	requireMoney(t, "Balance after refused withdrawal", readAccount(t, env, a.Login).Balance, "100")
	if n := env.BalanceOps(a.Login); n != 1 {
		t.Fatalf("platform recorded %d balance movements, want only the deposit", n)
	}
}

func balanceNonPositiveAmount(t *testing.T, env Env) {
	a := createAccount(t, env)
	for i, amount := range []string{"0", "-5.00"} {
		_, err := env.Conn.BalanceOperation(ctxFor(t), trading.BalanceOp{
			Login: a.Login, Kind: trading.Deposit, Amount: dec(amount), OperationID: "nonpos-" + strconv.Itoa(i),
		})
		requireKind(t, err, trading.ErrInvalidRequest, "deposit of "+amount)
	}
	requireMoney(t, "Balance after refused deposits", readAccount(t, env, a.Login).Balance, "0")
}

func balanceSameOperationIDTwice(t *testing.T, env Env) {
	a := createAccount(t, env)
	op := trading.BalanceOp{Login: a.Login, Kind: trading.Deposit, Amount: dec("250.75"), OperationID: "twice-1"}
	first := balanceOp(t, env, op)
	if first.Replayed {
		t.Fatalf("first call with a fresh OperationID reported Replayed")
	}
	second := balanceOp(t, env, op)
	if !second.Replayed {
		t.Fatalf("second call with the same OperationID did not report Replayed")
	}
	if second.Ticket != first.Ticket {
		t.Fatalf("replay returned ticket %s, want the first operation's %s", second.Ticket, first.Ticket)
	}
	requireMoney(t, "Balance after the same deposit twice", readAccount(t, env, a.Login).Balance, "250.75")
	if n := env.BalanceOps(a.Login); n != 1 {
		t.Fatalf("platform recorded %d balance movements for one OperationID, want 1", n)
	}
}

func balanceLongComment(t *testing.T, env Env) {
	a := createAccount(t, env)
	balanceOp(t, env, trading.BalanceOp{
		Login: a.Login, Kind: trading.Deposit, Amount: dec("10"), OperationID: "long-comment-0123456789abcdefghi",
		Comment: "Deposit via card ending 4242 for client 1234567 approved by the finance desk",
	})
	requireMoney(t, "Balance after deposit with a long comment", readAccount(t, env, a.Login).Balance, "10")
}

func balanceConcurrent(t *testing.T, env Env) {
	a := createAccount(t, env)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := env.Conn.BalanceOperation(ctxFor(t), trading.BalanceOp{
				Login: a.Login, Kind: trading.Deposit, Amount: dec("1.01"), OperationID: "conc-" + strconv.Itoa(i),
			})
			if err != nil {
				errs <- fmt.Errorf("deposit conc-%d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	requireMoney(t, "Balance after 8 concurrent deposits of 1.01", readAccount(t, env, a.Login).Balance, "8.08")
	if got := env.BalanceOps(a.Login); got != n {
		t.Fatalf("platform recorded %d balance movements, want %d", got, n)
	}
}

func balanceDroppedAnswer(t *testing.T, env Env) {
	a := createAccount(t, env)
	deposit(t, env, a.Login, "100.00", "drop-seed")
	// The longest id a caller may pass (32 characters, a dashless UUID): a connector that tags the platform's
	// comment with it must still find the tag after the platform cut the comment to its length.
	op := trading.BalanceOp{Login: a.Login, Kind: trading.Deposit, Amount: dec("42.42"), OperationID: "0f8fad5bd9cb469fa16570867728950e"}

	env.DropNextBalanceAnswer()
	first, firstErr := env.Conn.BalanceOperation(ctxFor(t), op)
	if firstErr != nil && !trading.Retryable(firstErr) {
		t.Fatalf("after a lost answer the connector returned %v, which is not Retryable: the caller would give up on "+
			"money that has moved", firstErr)
	}

	second, err := env.Conn.BalanceOperation(ctxFor(t), op)
	if err != nil {
		t.Fatalf("retry with the same OperationID after a lost answer: %v", err)
	}
	if !second.Replayed {
		t.Fatalf("retry after the platform had applied the operation did not report Replayed")
	}
	if firstErr == nil && second.Ticket != first.Ticket {
		t.Fatalf("retry returned ticket %s, first call returned %s", second.Ticket, first.Ticket)
	}
	requireMoney(t, "Balance after a lost answer and a retry", readAccount(t, env, a.Login).Balance, "142.42")
	if n := env.BalanceOps(a.Login); n != 2 {
		t.Fatalf("platform recorded %d balance movements, want 2 (the seed deposit and ONE for the retried operation)", n)
	}
}

func rateLimitRead(t *testing.T, env Env) {
	a := createAccount(t, env)
	env.RateLimitNext(2)
	got, err := env.Conn.Account(ctxFor(t), a.Login)
	if err != nil {
		if !trading.Retryable(err) {
			t.Fatalf("rate-limited read returned %v, which is not Retryable", err)
		}
		requireKind(t, err, trading.ErrRateLimited, "rate-limited read")
		return
	}
	if got.Login != a.Login {
		t.Fatalf("Account read through the rate limit returned login %q", got.Login)
	}
}

func rateLimitBalance(t *testing.T, env Env) {
	a := createAccount(t, env)
	op := trading.BalanceOp{Login: a.Login, Kind: trading.Deposit, Amount: dec("12.34"), OperationID: "rl-1"}
	env.RateLimitNext(2)
	// The caller's retry loop: the platform limits two calls, so a few attempts must get through whatever the
	// connector does internally.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		_, lastErr = env.Conn.BalanceOperation(ctxFor(t), op)
		if lastErr == nil {
			break
		}
		if !trading.Retryable(lastErr) {
			t.Fatalf("attempt %d: rate-limited balance operation returned %v, which is not Retryable", attempt, lastErr)
		}
	}
	if lastErr != nil {
		t.Fatalf("balance operation still failing after 5 attempts against a limit of 2 calls: %v", lastErr)
	}
	requireMoney(t, "Balance after rate-limited deposit", readAccount(t, env, a.Login).Balance, "12.34")
	if n := env.BalanceOps(a.Login); n != 1 {
		t.Fatalf("platform recorded %d balance movements, want 1", n)
	}
}

// dealEpoch is a fixed past instant, so seeded history never overlaps the balance deals a case makes now.
func dealEpoch() time.Time { return time.Date(2025, time.March, 3, 0, 0, 0, 0, time.UTC) }

func allDeals(t *testing.T, env Env, q trading.DealQuery) (deals []trading.Deal, pages int) {
	t.Helper()
	seen := map[string]bool{}
	for pages = 1; ; pages++ {
		if pages > 1000 {
			t.Fatalf("ClosedDeals still returning a Next cursor after 1000 pages")
		}
		page, err := env.Conn.ClosedDeals(ctxFor(t), q)
		if err != nil {
			t.Fatalf("ClosedDeals page %d (cursor %q): %v", pages, q.Cursor, err)
		}
		if q.Limit > 0 && len(page.Deals) > q.Limit {
			t.Fatalf("page %d has %d deals, more than Limit %d", pages, len(page.Deals), q.Limit)
		}
		for _, d := range page.Deals {
			if seen[d.Ticket] {
				t.Fatalf("deal %s returned twice (page %d)", d.Ticket, pages)
			}
			seen[d.Ticket] = true
		}
		deals = append(deals, page.Deals...)
		if page.Next == "" {
			return deals, pages
		}
		if page.Next == q.Cursor {
			t.Fatalf("page %d returned the cursor it was given (%q): paging would never end", pages, q.Cursor)
		}
		q.Cursor = page.Next
	}
}

func closedDealsPaging(t *testing.T, env Env) {
	a := createAccount(t, env)
	from := dealEpoch()
	to := from.Add(40 * 24 * time.Hour)
	const n = 250
	env.SeedDeals(a.Login, n, from, to)

	deals, pages := allDeals(t, env, trading.DealQuery{Login: a.Login, From: from, To: to, Limit: 100})
	if len(deals) != n {
		t.Fatalf("got %d deals over %d pages, want %d", len(deals), pages, n)
	}
	if pages < 3 {
		t.Fatalf("250 deals with Limit 100 came in %d pages", pages)
	}
	for i, d := range deals {
		if d.Time.Location() != time.UTC {
			t.Fatalf("deal %s Time %v is in %v, want UTC", d.Ticket, d.Time, d.Time.Location())
		}
		if d.Time.Before(from) || !d.Time.Before(to) {
			t.Fatalf("deal %s at %v is outside [%v, %v)", d.Ticket, d.Time, from, to)
		}
		if i > 0 && d.Time.Before(deals[i-1].Time) {
			t.Fatalf("deal %s at %v comes after deal %s at %v: not oldest first",
				d.Ticket, d.Time, deals[i-1].Ticket, deals[i-1].Time)
		}
		if d.Login != a.Login {
			t.Fatalf("deal %s belongs to login %q, want %q", d.Ticket, d.Login, a.Login)
		}
		if d.Action != trading.ActionBuy && d.Action != trading.ActionSell {
			t.Fatalf("seeded trade deal %s has Action %q", d.Ticket, d.Action)
		}
		if d.Symbol == "" || !d.Volume.IsPositive() {
			t.Fatalf("seeded trade deal %s has symbol %q and volume %s", d.Ticket, d.Symbol, d.Volume)
		}
	}
	if !deals[0].Time.Equal(from) {
		t.Fatalf("first deal at %v, want exactly From %v", deals[0].Time, from)
	}
}

func closedDealsBoundaries(t *testing.T, env Env) {
	a := createAccount(t, env)
	from := dealEpoch()
	to := from.Add(24 * time.Hour)
	env.SeedDeals(a.Login, 1, from, from.Add(time.Hour))  // exactly at From
	env.SeedDeals(a.Login, 1, from.Add(-time.Hour), from) // an hour before From
	env.SeedDeals(a.Login, 1, to, to.Add(time.Hour))      // exactly at To
	env.SeedDeals(a.Login, 1, from.Add(12*time.Hour), to) // inside
	deals, _ := allDeals(t, env, trading.DealQuery{Login: a.Login, From: from, To: to})
	if len(deals) != 2 {
		t.Fatalf("got %d deals in [From, To), want 2 (the one at From and the one inside): %+v", len(deals), deals)
	}
	if !deals[0].Time.Equal(from) {
		t.Fatalf("first deal at %v, want the one exactly at From %v", deals[0].Time, from)
	}
	if !deals[1].Time.Equal(from.Add(12 * time.Hour)) {
		t.Fatalf("second deal at %v, want %v", deals[1].Time, from.Add(12*time.Hour))
	}
}

func closedDealsEmptyWindow(t *testing.T, env Env) {
	a := createAccount(t, env)
	env.SeedDeals(a.Login, 5, dealEpoch(), dealEpoch().Add(time.Hour))
	from := dealEpoch().Add(24 * time.Hour)
	page, err := env.Conn.ClosedDeals(ctxFor(t), trading.DealQuery{Login: a.Login, From: from, To: from.Add(time.Hour)})
	if err != nil {
		t.Fatalf("ClosedDeals over a window with no deals: %v", err)
	}
	if len(page.Deals) != 0 || page.Next != "" {
		t.Fatalf("window with no deals returned %d deals and Next %q", len(page.Deals), page.Next)
	}
}

func openPositionsFresh(t *testing.T, env Env) {
	a := createAccount(t, env)
	ps, err := env.Conn.OpenPositions(ctxFor(t), a.Login)
	if err != nil {
		t.Fatalf("OpenPositions(%s): %v", a.Login, err)
	}
	if len(ps) != 0 {
		t.Fatalf("fresh account has %d open positions: %+v", len(ps), ps)
	}
}

func unknownLoginReads(t *testing.T, env Env) {
	ctx := ctxFor(t)
	_, err := env.Conn.Account(ctx, unknownLogin)
	requireKind(t, err, trading.ErrNotFound, "Account of an unknown login")
	_, err = env.Conn.ClosedDeals(ctx, trading.DealQuery{Login: unknownLogin, From: dealEpoch(), To: dealEpoch().Add(time.Hour)})
	requireKind(t, err, trading.ErrNotFound, "ClosedDeals of an unknown login")
	_, err = env.Conn.OpenPositions(ctx, unknownLogin)
	requireKind(t, err, trading.ErrNotFound, "OpenPositions of an unknown login")
}

func unknownLoginChanges(t *testing.T, env Env) {
	ctx := ctxFor(t)
	requireKind(t, env.Conn.SetLeverage(ctx, unknownLogin, 50), trading.ErrNotFound, "SetLeverage of an unknown login")
	requireKind(t, env.Conn.MoveGroup(ctx, unknownLogin, env.OtherGroup), trading.ErrNotFound,
		"MoveGroup of an unknown login")
	requireKind(t, env.Conn.SetAccess(ctx, unknownLogin, trading.Access{}), trading.ErrNotFound,
		"SetAccess of an unknown login")
	requireKind(t, env.Conn.SetSwapFree(ctx, unknownLogin, true), trading.ErrNotFound,
		"SetSwapFree of an unknown login")
	requireKind(t, env.Conn.ResetPassword(ctx, unknownLogin, trading.PasswordMain, "N3w!Main"), trading.ErrNotFound,
		"ResetPassword (main) of an unknown login")
	requireKind(t, env.Conn.ResetPassword(ctx, unknownLogin, trading.PasswordInvestor, "N3w!Invest"), trading.ErrNotFound,
		"ResetPassword (investor) of an unknown login")
	_, err := env.Conn.BalanceOperation(ctx, trading.BalanceOp{
		Login: unknownLogin, Kind: trading.Deposit, Amount: dec("1"), OperationID: "unknown-1",
	})
	requireKind(t, err, trading.ErrNotFound, "BalanceOperation on an unknown login")
}
