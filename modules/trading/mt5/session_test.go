package mt5

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/testkit"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/mt5/mt5fake"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func requireKind(t *testing.T, err, kind error) *trading.PlatformError {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("got error %v, want kind %v", err, kind)
	}
	var pe *trading.PlatformError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *trading.PlatformError", err)
	}
	return pe
}

func TestPasswordHashAndAnswersMatchIndependentVectors(t *testing.T) {
	t.Parallel()
	// Vectors computed with Python's hashlib: md5(utf-16-le(password)), then md5(h1 + b"WebAPI"), then md5 with
	// the random bytes appended. The second password has non-ASCII and a surrogate pair.
	srv, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	cli, _ := hex.DecodeString("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
	for _, v := range []struct{ password, hash, srvAnswer, cliAnswer string }{
		{"Mgr!Pass9", "91650a17628bb2ba349676f84352716b", "d2ba8bc5e02ab30d7fa73d43250d4fbd", "7dd6dc3e9c1e876f37c5ab452cef97fe"},
		{"Pässwörd€1𝄞", "71f778d0f7d6641008b2c9204282ffa4", "0062fdca71d5119bdbcbe3fff938e020", "98f3c446a25e3ea512a2cbc4bc447021"},
	} {
		h := passwordHash(v.password)
		if got := hex.EncodeToString(h[:]); got != v.hash {
			t.Errorf("hash(%q) = %s, want %s", v.password, got, v.hash)
		}
		if got := hex.EncodeToString(md5Sum(h[:], srv)); got != v.srvAnswer {
			t.Errorf("srv_rand_answer(%q) = %s, want %s", v.password, got, v.srvAnswer)
		}
		if got := hex.EncodeToString(md5Sum(h[:], cli)); got != v.cliAnswer {
			t.Errorf("cli_rand_answer(%q) = %s, want %s", v.password, got, v.cliAnswer)
		}
	}
}

func TestLoginHappensOnceAndEveryCallSharesOneConnection(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	login := f.AddUser(`real\standard`, "10")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			if _, err := c.Account(testCtx(t), fmt.Sprint(login)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := f.AuthStarts(); n != 1 {
		t.Errorf("%d logins for one session, want 1", n)
	}
	if n := f.Connections(); n != 1 {
		t.Errorf("%d TCP connections for one session, want 1", n)
	}
}

func TestServerThatAnswersTheChallengeWronglyIsRefused(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{BadCliRandAnswer: true})
	c := newTestConnector(t, f, nil)
	err := c.Ping(testCtx(t))
	pe := requireKind(t, err, trading.ErrAuthFailed)
	if !strings.Contains(pe.Message, "cli_rand_answer") {
		t.Errorf("message %q does not say the server failed the challenge", pe.Message)
	}
	if n := f.Requests("/api/test/access"); n != 0 {
		t.Errorf("%d calls sent to a server that failed mutual authentication", n)
	}
	testkit.Eventually(t, 10*time.Second, "the impostor's connection to close", func() bool { return f.LiveConnections() == 0 })
}

func TestWrongManagerPasswordIsAuthFailedWithTheRetcode(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, func(cfg *Config) { cfg.Password = "Wrong!Pass1" })
	pe := requireKind(t, c.Ping(testCtx(t)), trading.ErrAuthFailed)
	if pe.Code != "3006" {
		t.Errorf("code %q, want the server's 3006", pe.Code)
	}
	if trading.Retryable(pe) {
		t.Errorf("a wrong password must not be retryable")
	}
}

func TestForbiddenCallLogsInAgainAndIsSentOnce(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	login := f.AddUser(`real\standard`, "10")
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	f.ForgetLogins()
	if _, err := c.Account(testCtx(t), fmt.Sprint(login)); err != nil {
		t.Fatalf("Account after the server forgot the login: %v", err)
	}
	if n := f.AuthStarts(); n != 2 {
		t.Errorf("%d logins, want 2 (the first and one after the 403)", n)
	}
	if n := f.Requests("/api/user/get"); n != 2 {
		t.Errorf("user/get sent %d times, want 2 (refused, then after login)", n)
	}
}

func TestRetcode1008LogsInAgain(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	f.NotAuthenticatedNext()
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatalf("Ping after retcode 1008: %v", err)
	}
	if n := f.AuthStarts(); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}
}

func TestDroppedConnectionLogsInAgainOnANewOne(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	login := f.AddUser(`real\standard`, "10")
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	f.CloseConnections()
	testkit.Eventually(t, 10*time.Second, "the server to drop the connection", func() bool { return f.LiveConnections() == 0 })
	if _, err := c.Account(testCtx(t), fmt.Sprint(login)); err != nil {
		t.Fatalf("Account after the connection dropped: %v", err)
	}
	if n := f.AuthStarts(); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}
	if n := f.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestReadWhoseAnswerIsLostIsRetried(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	login := f.AddUser(`real\standard`, "10")
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	f.DropNextAnswer("/api/user/get")
	a, err := c.Account(testCtx(t), fmt.Sprint(login))
	if err != nil {
		t.Fatalf("Account with a lost answer: %v", err)
	}
	if !a.Balance.Equal(dec("10")) {
		t.Errorf("Balance %s, want 10", a.Balance)
	}
}

func TestRateLimitIsRetriedWithBackoffThenReported(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, func(cfg *Config) { cfg.MaxRetries = 3 })
	login := f.AddUser(`real\standard`, "10")
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	f.RateLimitNext(3)
	before := f.Requests("/api/user/get")
	if _, err := c.Account(testCtx(t), fmt.Sprint(login)); err != nil {
		t.Fatalf("Account through 3 rate-limited answers with 3 retries: %v", err)
	}
	if n := f.Requests("/api/user/get") - before; n != 4 {
		t.Errorf("user/get sent %d times, want 4", n)
	}

	f.RateLimitNext(4)
	err := c.Ping(testCtx(t))
	pe := requireKind(t, err, trading.ErrRateLimited)
	if pe.Code != "12" || !trading.Retryable(err) {
		t.Errorf("exhausted rate limit: code %q retryable %v, want 12 and retryable", pe.Code, trading.Retryable(err))
	}
}

func TestKeepAlivePingsAnIdleSessionUntilClose(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, func(cfg *Config) { cfg.KeepAlive = 5 * time.Millisecond })
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "keep-alive pings", func() bool { return f.Requests("/api/test/access") >= 4 })
	if n := f.AuthStarts(); n != 1 {
		t.Errorf("%d logins while pinging, want 1", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "Close to release the connection", func() bool { return f.LiveConnections() == 0 })
	after := f.Requests("/api/test/access")
	requireKind(t, c.Ping(testCtx(t)), trading.ErrUnavailable)
	if n := f.Requests("/api/test/access"); n != after {
		t.Errorf("a closed connector still sent %d pings", n-after)
	}
}

func TestErrorsAndLogsNeverHoldPasswords(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var logMu sync.Mutex
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.MaxRetries = -1
	})
	secrets := []string{mt5fake.ManagerPassword, "Cl1ent!Main", "Cl1ent!Inv", "N3w!Secret"}
	a, err := c.CreateAccount(testCtx(t), trading.NewAccount{Group: `real\standard`, Leverage: 100, FirstName: "Ann",
		Password: secrets[1], InvestorPassword: secrets[2]})
	if err != nil {
		t.Fatal(err)
	}
	// A change_password whose answer is lost fails (no retries here) with a transport error: Go's url.Error would
	// carry the whole URL, query and password included.
	f.DropNextAnswer("/api/user/change_password")
	err = c.ResetPassword(testCtx(t), a.Login, trading.PasswordMain, secrets[3])
	requireKind(t, err, trading.ErrUnavailable)
	texts := []string{err.Error(), fmt.Sprint(fakeConfig(f)), fmt.Sprintf("%+v", fakeConfig(f)), fmt.Sprintf("%#v", fakeConfig(f))}
	logMu.Lock()
	texts = append(texts, logs.String())
	logMu.Unlock()
	if !strings.Contains(texts[len(texts)-1], "authenticated") {
		t.Fatalf("the logs hold no login event, so this test checks nothing: %s", texts[len(texts)-1])
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("password %q leaked into: %s", s, text)
			}
		}
	}
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func TestConfigIsValidated(t *testing.T) {
	t.Parallel()
	good := Config{Addr: "mt5.example:443", Login: 1, Password: "x"}
	if _, err := New(good); err != nil {
		t.Fatalf("a minimal config is refused: %v", err)
	}
	zoned := good
	zoned.TimeZone, zoned.TimeZoneShift = "America/New_York", 7*time.Hour
	if _, err := New(zoned); err != nil {
		t.Fatalf("New York plus 7 hours is refused: %v", err)
	}
	for name, edit := range map[string]func(*Config){
		"no port":            func(c *Config) { c.Addr = "mt5.example" },
		"no login":           func(c *Config) { c.Login = 0 },
		"no password":        func(c *Config) { c.Password = "" },
		"agent with a space": func(c *Config) { c.Agent = "Broker Desk" },
		"old build":          func(c *Config) { c.Build = 483 },
		"twin of itself":     func(c *Config) { c.SwapFreeGroups = map[string]string{"a": "a"} },
		"twin chain":         func(c *Config) { c.SwapFreeGroups = map[string]string{"a": "b", "b": "c"} },
		"unknown zone":       func(c *Config) { c.TimeZone = "Europe/Atlantis" },
		"this machine's":     func(c *Config) { c.TimeZone = "Local" },
		"shift without zone": func(c *Config) { c.TimeZoneShift = 7 * time.Hour },
		"shift too far":      func(c *Config) { c.TimeZone, c.TimeZoneShift = "Asia/Tokyo", 6*time.Hour },
		"shift in seconds":   func(c *Config) { c.TimeZone, c.TimeZoneShift = "UTC", time.Second },
	} {
		cfg := good
		edit(&cfg)
		if c, err := New(cfg); err == nil {
			_ = c.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}
