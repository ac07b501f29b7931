package dxtrade

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// api names one of the server's two REST roots; each has its own session.
type api int

const (
	adminAPI api = iota
	tradingAPI
)

func (a api) String() string {
	if a == adminAPI {
		return "register"
	}
	return "trading"
}

// call is one logical request; do turns it into as many HTTP attempts as the retry rules allow.
type call struct {
	api    api
	method string
	path   string // escaped, relative to the API root
	query  url.Values
	body   any
	out    *[]byte // the 2xx body, for the caller's parser
	op     string  // the connector operation, for errors and logs
	header map[string]string

	noAuth bool // the login call itself
	// resend allows sending again after a transport failure or 5xx, when the server may have acted. True for
	// GET and for PUTs whose effect is the same however often it lands (money PUTs carry their id in the path).
	resend bool

	// Filled in by do.
	status int
	etag   string
}

// maxAnswer bounds how much of an answer is read: the largest legitimate one is a page of order history.
const maxAnswer = 32 << 20

// do sends c, logging in when needed, and retries by the connector's rules:
//   - 401/403: the session is dropped and the call goes once more with a fresh login; a second refusal is final;
//   - 429: again after Retry-After or the back-off, whichever is longer (the server did nothing);
//   - 5xx and transport failures: again only when cl.resend says a repeat cannot act twice.
//
// A non-2xx answer that is final becomes a *trading.PlatformError through the table in errors.go.
func (c *Connector) do(ctx context.Context, cl *call) error {
	var body []byte
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return fmt.Errorf("dxtrade %s: encode request: %w", cl.op, err)
		}
		body = b
	}
	s := c.sessions[cl.api]
	reauthed := false
	for attempt := 0; ; attempt++ {
		token := ""
		if !cl.noAuth {
			t, err := c.token(ctx, s)
			if err != nil {
				return err
			}
			token = t
		}
		if err := c.limiter.Wait(ctx); err != nil {
			return transportError(cl.op, err)
		}
		status, header, answer, err := c.send(ctx, cl, token, body)
		retryLeft := attempt < c.cfg.MaxRetries
		if err != nil {
			if ctx.Err() != nil || !cl.resend || !retryLeft {
				return transportError(cl.op, err)
			}
			c.log.Warn("dxtrade call failed, retrying", "op", cl.op, "api", cl.api.String(), "method", cl.method,
				"path", cl.path, "attempt", attempt+1, "err", err)
			if err := c.backoff(ctx, cl.op, attempt, 0); err != nil {
				return err
			}
			continue
		}
		cl.status = status
		switch {
		case status >= 200 && status < 300:
			if token != "" {
				s.touch(token, c.now())
			}
			cl.etag = header.Get("ETag")
			if cl.out != nil {
				*cl.out = answer
			}
			return nil
		case (status == http.StatusUnauthorized || status == http.StatusForbidden) && !cl.noAuth && !reauthed:
			c.log.Info("dxtrade session refused, logging in again", "op", cl.op, "api", cl.api.String(), "status", status)
			s.invalidate(token)
			reauthed = true
			attempt-- // a re-login is not a retry of a failing server
			continue
		case status == http.StatusTooManyRequests && retryLeft:
			c.log.Warn("dxtrade rate limit, retrying", "op", cl.op, "api", cl.api.String(), "attempt", attempt+1,
				"retry_after", header.Get("Retry-After"))
			if err := c.backoff(ctx, cl.op, attempt, retryAfter(header.Get("Retry-After"), c.now())); err != nil {
				return err
			}
			continue
		case status >= 500 && cl.resend && retryLeft:
			c.log.Warn("dxtrade server error, retrying", "op", cl.op, "api", cl.api.String(), "status", status,
				"attempt", attempt+1)
			if err := c.backoff(ctx, cl.op, attempt, 0); err != nil {
				return err
			}
			continue
		}
		err = c.answerError(cl.op, status, answer)
		c.log.Info("dxtrade call refused", "op", cl.op, "api", cl.api.String(), "method", cl.method, "path", cl.path,
			"status", status, "err", err)
		return err
	}
}

// send makes one HTTP attempt, bounded by the configured per-attempt timeout.
func (c *Connector) send(ctx context.Context, cl *call, token string, body []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.roots[cl.api] + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "DXAPI "+token)
	}
	for k, v := range cl.header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		// The status line arrived but the body did not: for the caller that is no answer at all.
		return 0, nil, nil, err
	}
	if len(answer) > maxAnswer {
		return 0, nil, nil, fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}
	return resp.StatusCode, resp.Header, answer, nil
}

// backoff waits before attempt+1: RetryBaseDelay doubling per attempt up to maxRetryDelay, and never less than
// the server's Retry-After. When the wait would outlast ctx it gives up at once with a retryable error rather
// than sleep into a deadline.
func (c *Connector) backoff(ctx context.Context, op string, attempt int, atLeast time.Duration) error {
	d := c.cfg.RetryBaseDelay << min(attempt, 16)
	if d > maxRetryDelay || d <= 0 {
		d = maxRetryDelay
	}
	if atLeast > d {
		d = atLeast
	}
	if dl, ok := ctx.Deadline(); ok && c.now().Add(d).After(dl) {
		return platformError(trading.ErrRateLimited, op, "retry", "the server asked to wait past the caller's deadline")
	}
	if err := c.sleep(ctx, d); err != nil {
		return transportError(op, err)
	}
	return nil
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date. Anything else is no floor.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), time.Hour)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// session is one API's session token, shared by every caller of the connector.
type session struct {
	api api

	mu      sync.Mutex
	token   string
	ttl     time.Duration
	expires time.Time
	pending *pendingLogin // the login in flight, which every caller that needs a token waits for
}

type pendingLogin struct {
	done  chan struct{}
	token string
	err   error
}

// tokenMargin is how long before the server's idle timeout the connector stops trusting a token: a call that
// leaves just before expiry must not arrive just after it.
func tokenMargin(ttl time.Duration) time.Duration { return min(ttl/10, 30*time.Second) }

// touch extends the token's life after a successful call: DXtrade's timeout counts idle time (inferred; if the
// server counts from login instead, the 401 path logs in again).
func (s *session) touch(token string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.expires = now.Add(s.ttl - tokenMargin(s.ttl))
	}
}

// invalidate forgets token, unless another caller has already replaced it: concurrent callers that all met the
// same expired token cause one login between them, not one each.
func (s *session) invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.token = ""
	}
}

func (s *session) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// token returns a live session token, starting one login for all waiting callers when there is none.
func (c *Connector) token(ctx context.Context, s *session) (string, error) {
	s.mu.Lock()
	if s.token != "" && c.now().Before(s.expires) {
		t := s.token
		s.mu.Unlock()
		return t, nil
	}
	p := s.pending
	if p == nil {
		p = &pendingLogin{done: make(chan struct{})}
		s.pending = p
		go c.login(s, p)
	}
	s.mu.Unlock()
	select {
	case <-p.done:
		return p.token, p.err
	case <-ctx.Done():
		return "", transportError("login", ctx.Err())
	}
}

// login runs one POST /login for every caller waiting on p. It runs on the connector's lifetime rather than one
// caller's context, so a caller that gives up does not fail the login the others wait for.
func (c *Connector) login(s *session, p *pendingLogin) {
	ctx, cancel := context.WithTimeout(c.life, c.cfg.Timeout*time.Duration(c.cfg.MaxRetries+1))
	defer cancel()
	var answer []byte
	err := c.do(ctx, &call{
		api: s.api, method: http.MethodPost, path: "/login", op: "login", noAuth: true, resend: true, out: &answer,
		body: map[string]string{"username": c.cfg.Username, "domain": c.cfg.Domain, "password": c.cfg.Password},
	})
	var token string
	var ttl time.Duration
	if err == nil {
		token, ttl, err = parseLogin(answer)
		if err != nil {
			err = fmt.Errorf("%w: %w", platformError(trading.ErrUnavailable, "login", "answer", "unreadable login answer"), err)
		}
	}
	s.mu.Lock()
	if err == nil {
		s.token, s.ttl, s.expires = token, ttl, c.now().Add(ttl-tokenMargin(ttl))
	}
	s.pending = nil
	s.mu.Unlock()
	if err != nil {
		c.log.Warn("dxtrade login failed", "api", s.api.String(), "user", c.cfg.Username, "domain", c.cfg.Domain, "err", err)
	} else {
		c.log.Info("dxtrade logged in", "api", s.api.String(), "user", c.cfg.Username, "domain", c.cfg.Domain,
			"session_ttl", ttl)
	}
	p.token, p.err = token, err
	close(p.done)
}

// logout ends s on the server, best effort: Close must not hang on a server that is already gone.
func (c *Connector) logout(s *session) {
	token := s.current()
	if token == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl := &call{api: s.api, method: http.MethodPost, path: "/logout", op: "logout", noAuth: true,
		header: map[string]string{"Authorization": "DXAPI " + token}}
	if _, _, _, err := c.send(ctx, cl, "", nil); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Info("dxtrade logout failed", "api", s.api.String(), "err", err)
	}
	s.invalidate(token)
}
