package mt5

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/brokerdesk/brokerdesk/infra/testkit"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/mt5/mt5fake"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestOperationTagHasOneFixedForm(t *testing.T) {
	t.Parallel()
	// Vectors computed outside Go (Python's hashlib and base64): the form must never drift, or operations done
	// before a change would be invisible to their own retries.
	for id, want := range map[string]string{
		"op-1":                             "bd:ogqo64mv35egkq7w",
		"a":                                "bd:zklycewkdo64v6wc",
		"0f8b1c2d3e4f5a6b7c8d9e0f1a2b3c4d": "bd:vy3dqjieh3cuwpnj",
	} {
		if got := OperationTag(id); got != want {
			t.Errorf("OperationTag(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestCommentCarriesTheOperationTagAndFitsWhateverTheIDsLength(t *testing.T) {
	t.Parallel()
	tags := map[string]string{}
	for _, id := range []string{"op-1", "abcdefghijklmnopqrstuvwxyz01", "abcdefghijklmnopqrstuvwxyz012",
		"abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnopqrstuvwxyz01234", "0f8b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"} {
		tag := OperationTag(id)
		if len(tag) != 19 || !strings.HasPrefix(tag, "bd:") {
			t.Errorf("tag %q of %q", tag, id)
		}
		if other, dup := tags[tag]; dup {
			t.Errorf("%q and %q share the tag %q", id, other, tag)
		}
		tags[tag] = id
		for _, text := range []string{"", "card deposit", "Deposit via card ending 4242 for client 1234567",
			"  tabs\tand\nnewlines  ", "Überweisung 𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞"} {
			got := opComment(id, text)
			if n := len(utf16.Encode([]rune(got))); n > maxComment {
				t.Errorf("opComment(%q, %q) = %q is %d UTF-16 units: the server would cut it", id, text, got, n)
			}
			if !hasTag(got, tag) {
				t.Errorf("comment %q does not carry the tag of %q", got, id)
			}
		}
	}
	for text, want := range map[string]string{
		"card deposit":            "card deposi",
		"  tabs\tand\nnewlines  ": "tabs and ne",
		"Über 𝄞𝄞𝄞𝄞𝄞𝄞":             "Über 𝄞𝄞𝄞",
		"":                        "",
	} {
		got := opComment("op-1", text)
		if want != "" {
			want = " " + want
		}
		if got != "bd:ogqo64mv35egkq7w"+want {
			t.Errorf("opComment(op-1, %q) = %q", text, got)
		}
	}
	if hasTag("bd:ogqo64mv35egkq7wx", OperationTag("op-1")) {
		t.Errorf("a longer tag matched")
	}
}

func TestOperationIDMustBeOfTheInterfacesForm(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	for _, id := range []string{"", strings.Repeat("a", 33), "has space", "semi;colon", "ümlaut"} {
		_, err := c.BalanceOperation(testCtx(t), trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("1"), OperationID: id})
		requireKind(t, err, trading.ErrInvalidRequest)
	}
	if n := f.Total(); n != 0 {
		t.Errorf("%d requests for operations refused locally", n)
	}
}

// TestRetryOfALongOperationIDAfterALostAnswerMovesMoneyOnce is the double deposit this tag form exists for: ids of
// 29 to 32 characters (a UUID without dashes is 32) once made a tag the server cut, so the check after a lost
// answer found nothing and sent the deposit again.
func TestRetryOfALongOperationIDAfterALostAnswerMovesMoneyOnce(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"abcdefghijklmnopqrstuvwxyz012", "abcdefghijklmnopqrstuvwxyz0123",
		"abcdefghijklmnopqrstuvwxyz01234", "0f8b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"} {
		t.Run(fmt.Sprint(len(id)), func(t *testing.T) {
			t.Parallel()
			f := mt5fake.New(t, mt5fake.Options{Offset: 2 * time.Hour})
			c := newTestConnector(t, f, nil)
			login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
			op := trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("250"), OperationID: id,
				Comment: "Transfer from wallet for client 1234567"}
			f.DropNextBalanceAnswer()
			res, err := c.BalanceOperation(testCtx(t), op)
			if err != nil || !res.Replayed {
				t.Fatalf("deposit whose answer was lost: %+v %v, want it found applied", res, err)
			}
			again, err := c.BalanceOperation(testCtx(t), op)
			if err != nil || !again.Replayed || again.Ticket != res.Ticket {
				t.Fatalf("caller's retry: %+v %v, want ticket %s replayed", again, err, res.Ticket)
			}
			if n, u := f.BalanceOps(login), f.User(login); n != 1 || !u.Balance.Equal(dec("250")) {
				t.Fatalf("%d movements, balance %s: want the money moved once", n, u.Balance)
			}
			if cs := f.Comments(); len(cs) != 1 || !hasTag(cs[0], OperationTag(id)) {
				t.Errorf("stored comments %q, want one carrying %s", cs, OperationTag(id))
			}
		})
	}
}

func TestBalanceOperationSendsTheDocumentedTypesAndSigns(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{Offset: 3 * time.Hour})
	c := newTestConnector(t, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	for i, op := range []struct {
		kind          trading.BalanceKind
		amount        string
		balance, cred string
	}{
		{trading.Deposit, "100.25", "100.25", "0"},
		{trading.Withdrawal, "0.25", "100", "0"},
		{trading.CreditIn, "40", "100", "40"},
		{trading.CreditOut, "15.5", "100", "24.5"},
	} {
		res, err := c.BalanceOperation(testCtx(t), trading.BalanceOp{Login: login, Kind: op.kind, Amount: dec(op.amount),
			OperationID: fmt.Sprintf("types-%d", i), Comment: "test"})
		if err != nil || res.Replayed {
			t.Fatalf("%s %s: %+v %v", op.kind, op.amount, res, err)
		}
		u := f.User(login)
		if !u.Balance.Equal(dec(op.balance)) || !u.Credit.Equal(dec(op.cred)) {
			t.Fatalf("after %s %s: balance %s credit %s, want %s and %s", op.kind, op.amount, u.Balance, u.Credit, op.balance, op.cred)
		}
	}
	_, err := c.BalanceOperation(testCtx(t), trading.BalanceOp{Login: login, Kind: trading.Withdrawal, Amount: dec("100.01"), OperationID: "too-much"})
	pe := requireKind(t, err, trading.ErrInsufficientFunds)
	if pe.Code != "10019" || pe.Message != "Not enough money" {
		t.Errorf("platform code and text lost: %+v", pe)
	}
}

func TestDroppedBalanceAnswerMovesMoneyOnceAndReturnsTheTicket(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{Offset: 2 * time.Hour})
	c := newTestConnector(t, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	f.DropNextBalanceAnswer()
	op := trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("42.42"), OperationID: "drop-me"}
	res, err := c.BalanceOperation(testCtx(t), op)
	if err != nil {
		t.Fatalf("BalanceOperation with a dropped answer: %v", err)
	}
	if !res.Replayed {
		t.Errorf("a result found after a lost answer must say Replayed")
	}
	if n := f.BalanceOps(login); n != 1 {
		t.Fatalf("%d balance movements, want 1", n)
	}
	if u := f.User(login); !u.Balance.Equal(dec("42.42")) {
		t.Fatalf("balance %s, want 42.42", u.Balance)
	}
	again, err := c.BalanceOperation(testCtx(t), op)
	if err != nil || !again.Replayed || again.Ticket != res.Ticket {
		t.Fatalf("caller's retry: %+v %v, want Replayed with ticket %s", again, err, res.Ticket)
	}
	if n := f.BalanceOps(login); n != 1 {
		t.Fatalf("%d balance movements after the caller's retry, want 1", n)
	}
}

func TestSlowBalanceAnswerThatTimesOutMovesMoneyOnce(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, func(cfg *Config) { cfg.RequestTimeout = 300 * time.Millisecond })
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	f.SlowNext("/api/trade/balance", time.Minute)
	res, err := c.BalanceOperation(testCtx(t), trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("5"), OperationID: "slow-1"})
	if err != nil || !res.Replayed {
		t.Fatalf("timed-out balance operation: %+v %v, want it found applied", res, err)
	}
	if n := f.BalanceOps(login); n != 1 {
		t.Fatalf("%d balance movements, want 1", n)
	}
}

func TestBalanceOperationStillRunningOnTheServerIsNotSentAgain(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, func(cfg *Config) { cfg.RequestTimeout = 200 * time.Millisecond })
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	op := trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("7"), OperationID: "held-1"}
	release := f.HoldNext("/api/trade/balance")
	_, err := c.BalanceOperation(testCtx(t), op)
	pe := requireKind(t, err, trading.ErrUnavailable)
	if pe.Code != "unknown_outcome" || !trading.Retryable(err) {
		t.Fatalf("got %+v, want a retryable unknown outcome", pe)
	}
	if n := f.Requests("/api/trade/balance"); n != 1 {
		t.Fatalf("trade/balance sent %d times while the first was still running", n)
	}
	release()
	testkit.Eventually(t, 10*time.Second, "the held operation to finish on the server", func() bool { return f.BalanceOps(login) == 1 })
	res, err := c.BalanceOperation(testCtx(t), op)
	if err != nil || !res.Replayed {
		t.Fatalf("caller's retry: %+v %v", res, err)
	}
	if n := f.BalanceOps(login); n != 1 {
		t.Fatalf("%d balance movements, want 1", n)
	}
}

func TestRateLimitedBalanceOperationIsRetriedAndMovesMoneyOnce(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	// Retcode 12 means the server refused the call, so sending the operation again is safe.
	f.RateLimitPath("/api/trade/balance", 2)
	res, err := c.BalanceOperation(testCtx(t), trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("2"), OperationID: "rl"})
	if err != nil || res.Replayed {
		t.Fatalf("rate-limited operation: %+v %v", res, err)
	}
	if n := f.Requests("/api/trade/balance"); n != 3 {
		t.Errorf("trade/balance sent %d times, want 3", n)
	}
	if n := f.BalanceOps(login); n != 1 {
		t.Fatalf("%d balance movements, want 1", n)
	}
}

func TestConcurrentCallsWithOneOperationIDMoveMoneyOnce(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	op := trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("3"), OperationID: "same-id"}
	// The first call stops between its check (nothing found) and its send; the second must wait for it rather
	// than run its own check, which would find nothing too.
	arrived, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.afterCheck = func() { once.Do(func() { close(arrived); <-proceed }) }
	results := make(chan trading.BalanceResult, 2)
	call := func() {
		res, err := c.BalanceOperation(testCtx(t), op)
		if err != nil {
			t.Error(err)
		}
		results <- res
	}
	var wg sync.WaitGroup
	wg.Go(call)
	<-arrived
	wg.Go(call)
	testkit.Eventually(t, 10*time.Second, "the second call to queue behind the first", func() bool {
		c.opLocks.mu.Lock()
		defer c.opLocks.mu.Unlock()
		e := c.opLocks.m[op.OperationID]
		return e != nil && e.waiters == 2
	})
	close(proceed)
	wg.Wait()
	close(results)
	fresh := 0
	for res := range results {
		if !res.Replayed {
			fresh++
		}
	}
	if n := f.BalanceOps(login); n != 1 || fresh != 1 {
		t.Fatalf("%d movements and %d fresh results for one operation id, want 1 and 1", n, fresh)
	}
	if len(c.opLocks.m) != 0 {
		t.Errorf("%d operation locks left behind", len(c.opLocks.m))
	}
}

func TestOperationIDReusedForAnotherMovementIsAlreadyExists(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	if _, err := c.BalanceOperation(testCtx(t), trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("10"), OperationID: "reuse"}); err != nil {
		t.Fatal(err)
	}
	// Same amount written differently is the same movement.
	res, err := c.BalanceOperation(testCtx(t), trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("10.000"), OperationID: "reuse"})
	if err != nil || !res.Replayed {
		t.Fatalf("same movement, other notation: %+v %v", res, err)
	}
	for _, op := range []trading.BalanceOp{
		{Login: login, Kind: trading.Deposit, Amount: dec("11"), OperationID: "reuse"},
		{Login: login, Kind: trading.Withdrawal, Amount: dec("10"), OperationID: "reuse"},
		{Login: login, Kind: trading.CreditIn, Amount: dec("10"), OperationID: "reuse"},
	} {
		_, err := c.BalanceOperation(testCtx(t), op)
		requireKind(t, err, trading.ErrAlreadyExists)
	}
	if n := f.BalanceOps(login); n != 1 {
		t.Fatalf("%d balance movements, want 1", n)
	}
}

// TestBalanceOperationRoundTrips measures the HTTP requests one balance operation costs; the figures are part of
// the connector's documentation, and a change that adds a round trip to every operation should be noticed.
func TestBalanceOperationRoundTrips(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{Offset: 2 * time.Hour})
	c := newTestConnector(t, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	op := func(id string) {
		t.Helper()
		if _, err := c.BalanceOperation(testCtx(t), trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("1"), OperationID: id}); err != nil {
			t.Fatal(err)
		}
	}
	measure := func(id string) int {
		before := f.Total()
		op(id)
		return f.Total() - before
	}
	cold := measure("rt-cold")
	warm := measure("rt-warm")
	replay := measure("rt-warm")
	f.DropNextBalanceAnswer()
	dropped := measure("rt-dropped")
	t.Logf("HTTP requests per balance operation: cold session %d, warm %d, caller retry of a done operation %d, dropped answer %d",
		cold, warm, replay, dropped)
	if warm != 2 || cold != 4 || replay != 1 {
		t.Errorf("round trips cold %d warm %d replay %d, want 4 (login 2, check, operation), 2 and 1", cold, warm, replay)
	}
	if n := f.BalanceOps(login); n != 3 {
		t.Errorf("%d balance movements, want 3", n)
	}
}

func TestBalanceOnUnknownLoginIsNotFound(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	for _, login := range []string{"424242", "not-a-login"} {
		_, err := c.BalanceOperation(testCtx(t), trading.BalanceOp{Login: login, Kind: trading.Deposit, Amount: dec("1"), OperationID: "x"})
		requireKind(t, err, trading.ErrNotFound)
	}
}
