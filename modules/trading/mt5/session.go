package mt5

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// maxAnswer bounds one answer's size; a deal batch of a busy account over a week stays well below it.
const maxAnswer = 64 << 20

// request is one Web API call.
type request struct {
	op     string // connector operation, for errors
	method string
	path   string
	query  url.Values
	body   []byte
	// unsafe marks calls that a second copy would repeat (a balance operation, creating an account): after a
	// failure that may have reached the server they are never resent here; the caller checks what happened.
	unsafe bool
}

// errForbidden is the server's HTTP 403: this connection has not authenticated (or the session expired).
var errForbidden = errors.New("mt5: HTTP 403, connection not authenticated")

// call sends r, authenticating first when needed, and returns the answer of a successful retcode. It retries
// rate limits with backoff (the server refused, nothing happened) and, for safe calls, transport failures.
func (c *Connector) call(ctx context.Context, r request) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		ans, err := c.attempt(ctx, r)
		if err == nil {
			return ans, nil
		}
		if attempt >= c.cfg.MaxRetries || !retryable(r, err) || ctx.Err() != nil {
			return nil, err
		}
		c.log.Warn("mt5 call failed, retrying", slog.String("op", r.op), slog.String("path", r.path),
			slog.Int("attempt", attempt+1), slog.String("error", err.Error()))
	}
}

func retryable(r request, err error) bool {
	if errors.Is(err, trading.ErrRateLimited) {
		return true
	}
	var te *transportError
	if errors.As(err, &te) {
		return !r.unsafe || !te.sent
	}
	return false
}

// backoff waits before retry number attempt: RetryBackoff doubled per attempt, capped at 5s, with up to 50%
// jitter so several sessions rate-limited together do not come back together.
func (c *Connector) backoff(ctx context.Context, attempt int) error {
	d := c.cfg.RetryBackoff << (attempt - 1)
	if d > 5*time.Second || d <= 0 {
		d = 5 * time.Second
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	d += time.Duration(int64(d) / 2 * int64(uint16(b[0])<<8|uint16(b[1])) / 65535)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt is one try of r on the session: it authenticates if the session has no authenticated connection,
// and after a 403 or retcode 1008 (the server no longer knows this connection) it authenticates again and sends
// the call once more, which is safe because the server refused the first copy.
func (c *Connector) attempt(ctx context.Context, r request) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, localError(r.op, trading.ErrUnavailable, "connector is closed")
	}
	if !c.authed {
		if err := c.authenticate(ctx); err != nil {
			return nil, notSent(err)
		}
	}
	env, _, err := c.send(ctx, r)
	if needsAuth(env, err) {
		c.authed = false
		c.log.Info("mt5 session not authenticated on the server, logging in again", slog.String("op", r.op), slog.String("path", r.path))
		if err := c.authenticate(ctx); err != nil {
			return nil, notSent(err)
		}
		env, _, err = c.send(ctx, r)
		if needsAuth(env, err) {
			c.authed = false
			code := "403"
			if err == nil {
				code = strconv.Itoa(env.Code)
			}
			return nil, &trading.PlatformError{Kind: trading.ErrAuthFailed, Platform: trading.PlatformMT5, Op: r.op,
				Code: code, Message: "the server refused the call right after a successful login"}
		}
	}
	if err != nil {
		return nil, err
	}
	if env.Code != retDone && env.Code != retDoneNone {
		return nil, retcodeError(r.op, env.Code, env.Text)
	}
	return env.Answer, nil
}

// notSent marks a login failure as one that happened before r itself was sent, so even an unsafe call may be
// tried again.
func notSent(err error) error {
	var te *transportError
	if errors.As(err, &te) && te.sent {
		return &transportError{cause: te.cause, sent: false}
	}
	return err
}

func needsAuth(env envelope, err error) bool {
	return errors.Is(err, errForbidden) || (err == nil && env.Code == retNotAuthenticated)
}

// connLog records which connections the transport used for one request.
type connLog struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connLog) got(info httptrace.GotConnInfo) {
	l.mu.Lock()
	l.conns = append(l.conns, info.Conn)
	l.mu.Unlock()
}

func (l *connLog) list() []net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]net.Conn(nil), l.conns...)
}

// send performs one HTTP exchange and returns the parsed envelope and the connection it went over. Any failure
// to get a well-formed answer is a *transportError and ends the session's authentication: the transport drops a
// connection that failed, and the next one must log in again.
func (c *Connector) send(ctx context.Context, r request) (envelope, net.Conn, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return envelope{}, nil, fmt.Errorf("mt5: waiting for the client-side rate limit: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var used connLog
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: used.got})
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("mt5: building %s: %w", r.path, err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", c.cfg.Agent)

	resp, err := c.client.Do(req)
	c.lastUsed = time.Now()
	conns := used.list()
	if err != nil {
		c.authed = false
		return envelope{}, nil, &transportError{cause: redact(r, err), sent: len(conns) > 0}
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if len(conns) > 1 {
		// Go's transport silently resends a GET on a fresh connection when a reused one closes without an
		// answer. The first copy may have been executed, so this is a lost answer, whatever the resend got
		// (on the new, unauthenticated connection the server refuses it with 403).
		c.authed = false
		return envelope{}, nil, &transportError{sent: true,
			cause: fmt.Errorf("%s %s: the connection closed before the answer", r.method, r.path)}
	}
	var conn net.Conn
	if len(conns) == 1 {
		conn = conns[0]
	}
	if readErr != nil {
		c.authed = false
		return envelope{}, conn, &transportError{cause: redact(r, readErr), sent: true}
	}
	if len(raw) > maxAnswer {
		c.authed = false
		return envelope{}, conn, &transportError{cause: fmt.Errorf("%s %s: answer larger than %d bytes", r.method, r.path, maxAnswer), sent: true}
	}
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return envelope{}, conn, errForbidden
	case resp.StatusCode == http.StatusTooManyRequests:
		return envelope{}, conn, &trading.PlatformError{Kind: trading.ErrRateLimited, Platform: trading.PlatformMT5, Op: r.op,
			Code: "http 429", Message: http.StatusText(resp.StatusCode)}
	case resp.StatusCode == http.StatusNotFound:
		return envelope{}, conn, &trading.PlatformError{Kind: trading.ErrUnsupported, Platform: trading.PlatformMT5, Op: r.op,
			Code: "http 404", Message: r.path + " is not served by this server build"}
	case resp.StatusCode != http.StatusOK:
		// Anything else (a 5xx from the access server) gives no retcode: whether the call ran is unknown.
		return envelope{}, conn, &transportError{sent: true, cause: fmt.Errorf("%s %s: HTTP %d", r.method, r.path, resp.StatusCode)}
	}
	env, err := parseEnvelope(raw)
	if err != nil {
		// A cut or garbled answer: the server may have executed the call.
		return envelope{}, conn, &transportError{cause: fmt.Errorf("%s %s: %w", r.method, r.path, err), sent: true}
	}
	return env, conn, nil
}

// redact drops the URL from transport errors: its query may hold a password (change_password) and must not
// reach logs or callers.
func redact(r request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s %s: %w", r.method, r.path, err)
}

// authenticate runs the challenge/response login on the session's connection (caller holds c.mu):
// auth/start gives srv_rand; we prove the password with MD5(H || srv_rand) and challenge the server with our own
// cli_rand, which it must answer with MD5(H || cli_rand). Both steps must travel over the same connection, and the
// server's answer is checked so that an impostor at the address learns nothing usable and gets no calls.
func (c *Connector) authenticate(ctx context.Context) error {
	const op = "login"
	c.authed = false
	start := request{op: op, method: http.MethodGet, path: "/api/auth/start", query: url.Values{
		"version": {strconv.Itoa(c.cfg.Build)},
		"agent":   {c.cfg.Agent},
		"login":   {strconv.FormatUint(c.cfg.Login, 10)},
		"type":    {"manager"},
	}}
	env, conn1, err := c.send(ctx, start)
	if err != nil {
		return authTransport(op, err)
	}
	if env.Code != retDone {
		return authRefusal(op, env)
	}
	srvRand, err := hex.DecodeString(env.SrvRand)
	if err != nil || len(srvRand) == 0 {
		return localError(op, trading.ErrAuthFailed, "the server sent an unusable srv_rand")
	}
	var cliRand [16]byte
	if _, err := rand.Read(cliRand[:]); err != nil {
		return fmt.Errorf("mt5: cli_rand: %w", err)
	}
	answer := md5Sum(c.hash[:], srvRand)
	env, conn2, err := c.send(ctx, request{op: op, method: http.MethodGet, path: "/api/auth/answer", query: url.Values{
		"srv_rand_answer": {hex.EncodeToString(answer)},
		"cli_rand":        {hex.EncodeToString(cliRand[:])},
	}})
	if err != nil {
		return authTransport(op, err)
	}
	if env.Code != retDone {
		return authRefusal(op, env)
	}
	if conn1 == nil || conn1 != conn2 {
		// The first connection died between the two steps; the login is not bound to the one we now hold.
		return &transportError{cause: errors.New("the connection changed during login")}
	}
	want := md5Sum(c.hash[:], cliRand[:])
	got, err := hex.DecodeString(env.CliRandAnswer)
	if err != nil || !hmac.Equal(got, want) {
		// Not the server we share the password with (or a different password there): drop the connection so
		// nothing else is sent over it.
		c.transport.CloseIdleConnections()
		c.log.Error("mt5 server failed mutual authentication (wrong cli_rand_answer)")
		return localError(op, trading.ErrAuthFailed,
			"the server did not prove it knows the manager password (cli_rand_answer mismatch): wrong address or an impostor")
	}
	c.authed = true
	c.log.Info("mt5 manager session authenticated")
	return nil
}

// md5Sum is MD5 over the concatenated parts, in raw bytes as the handshake needs.
func md5Sum(parts ...[]byte) []byte {
	h := md5.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func authTransport(op string, err error) error {
	if errors.Is(err, errForbidden) {
		return localError(op, trading.ErrAuthFailed, "the server refused the login request (HTTP 403)")
	}
	return err
}

// authRefusal maps a refused login: passing rate limits and outages through, everything else is a failed login
// (wrong password, manager without Web API access, IP not allowed).
func authRefusal(op string, env envelope) error {
	pe := retcodeError(op, env.Code, env.Text)
	if pe.Kind != trading.ErrRateLimited && pe.Kind != trading.ErrUnavailable {
		pe.Kind = trading.ErrAuthFailed
	}
	return pe
}

// keepAlive pings an idle authenticated session so the server does not drop its connection.
func (c *Connector) keepAlive(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.pingIfIdle(every)
		}
	}
}

func (c *Connector) pingIfIdle(every time.Duration) {
	if !c.mu.TryLock() {
		return // a call is in flight; it keeps the connection busy
	}
	due := c.authed && !c.closed && time.Since(c.lastUsed) >= every/2
	c.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	defer cancel()
	if _, err := c.attempt(ctx, pingRequest("keep_alive")); err != nil {
		c.log.Warn("mt5 keep-alive ping failed", slog.String("error", err.Error()))
	}
}

func pingRequest(op string) request {
	return request{op: op, method: http.MethodGet, path: "/api/test/access"}
}

// Ping checks the session, logging in first if needed.
func (c *Connector) Ping(ctx context.Context) error {
	_, err := c.call(ctx, pingRequest("ping"))
	return toPlatformError("ping", err)
}

// serverClock returns how to convert the server's times: by the configured time zone, or by the offset
// /api/time/get reports, asked again after ClockTTL. Each time, the result is checked against the server's own
// wall clock.
func (c *Connector) serverClock(ctx context.Context, op string) (serverClock, error) {
	c.clockMu.Lock()
	if c.clockKnown && time.Since(c.clockAt) < c.cfg.ClockTTL {
		clk := c.clock
		c.clockMu.Unlock()
		return clk, nil
	}
	c.clockMu.Unlock()
	clk := c.zoneClock()
	if clk.zone == nil {
		ans, err := c.call(ctx, request{op: op, method: http.MethodGet, path: "/api/time/get"})
		if err != nil {
			return serverClock{}, err
		}
		if clk.offset, err = parseTimeConfig(ans); err != nil {
			return serverClock{}, &transportError{cause: fmt.Errorf("/api/time/get: %w", err), sent: true}
		}
	}
	c.checkClock(ctx, op, clk)
	c.clockMu.Lock()
	if !c.clockKnown || c.clock != clk {
		c.log.Info("mt5 server clock learned", slog.String("time_zone", c.zoneName()),
			slog.Duration("utc_offset_now", clk.offsetAt(time.Now())))
	}
	c.clock, c.clockKnown, c.clockAt = clk, true, time.Now()
	c.clockMu.Unlock()
	return clk, nil
}

// clockTolerance is how far the server's wall clock may stray from what its clock settings predict before it is
// reported: room for the round trip and a drifting server clock, well under any zone error (15 minutes at least,
// usually an hour).
const clockTolerance = 5 * time.Minute

// checkClock compares the server's wall clock (/api/time/server) with what clk says it reads now. A wrong
// TimeZone setting, or a server whose clock is not at the offset /api/time/get reports, shifts every deal time.
// The answer carries no zone, so nothing can be corrected from it: the difference is logged as an error for the
// operator. The check is advice, so failing to ask is only a warning.
func (c *Connector) checkClock(ctx context.Context, op string, clk serverClock) {
	sent := time.Now()
	ans, err := c.call(ctx, request{op: op, method: http.MethodGet, path: "/api/time/server"})
	var wall time.Time
	if err == nil {
		wall, err = parseServerTime(ans)
	}
	if err != nil {
		c.log.Warn("mt5 server clock not checked", slog.String("error", err.Error()))
		return
	}
	now := sent.Add(time.Since(sent) / 2).UTC()
	want := now.Add(clk.offsetAt(now)).Truncate(time.Second)
	if diff := wall.Sub(want); diff > clockTolerance || diff < -clockTolerance {
		c.log.Error("mt5 server clock disagrees with the zone its times are read in: deal and position times will be "+
			"off until the TimeZone setting names the server's zone", slog.String("time_zone", c.zoneName()),
			slog.Duration("utc_offset_used", clk.offsetAt(now)), slog.Duration("server_ahead_by", diff.Round(time.Second)))
	}
}

// group returns a group's record; groups are cached for the connector's life because a group's currency never
// changes (MT5 refuses it once accounts exist).
func (c *Connector) group(ctx context.Context, op, name string) (groupRecord, error) {
	c.groupsMu.Lock()
	g, ok := c.groups[name]
	c.groupsMu.Unlock()
	if ok {
		return g, nil
	}
	ans, err := c.call(ctx, request{op: op, method: http.MethodGet, path: "/api/group/get", query: url.Values{"group": {name}}})
	if err != nil {
		return groupRecord{}, err
	}
	g, err = parseGroup(ans)
	if err != nil {
		return groupRecord{}, &transportError{cause: fmt.Errorf("/api/group/get: %w", err), sent: true}
	}
	c.groupsMu.Lock()
	c.groups[name] = g
	c.groupsMu.Unlock()
	return g, nil
}
