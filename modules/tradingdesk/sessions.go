package tradingdesk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// Sessions keeps one manager session per trading server, shared by every job of the worker that talks to it. A
// session is dialled on first use and kept; a call that finds the platform unreachable or refusing the credentials
// drops it, and the next dial waits for a backoff that doubles with each failure in a row (from MinBackoff to
// MaxBackoff), so a server that is down is tried now and then, not by every job. Until then Use answers at once with
// an error wrapping ErrBackingOff and the last failure. A server whose settings changed (its Version) is dialled
// afresh and the old session closed.
type Sessions struct {
	dial Dialer
	o    SessionOptions

	mu sync.Mutex
	m  map[sessionKey]*session
}

// SessionOptions tune the pool.
type SessionOptions struct {
	MinBackoff, MaxBackoff time.Duration // defaults 2 s and 5 min
	Now                    func() time.Time
}

type sessionKey struct{ tenant, server uuid.UUID }

type session struct {
	mu       sync.Mutex // held while dialling, so one dial per server at a time
	version  string
	conn     trading.Connector
	failures int
	retryAt  time.Time
	lastErr  error
}

// ErrBackingOff: the server failed recently and is not tried again before its backoff ends.
var ErrBackingOff = errors.New("tradingdesk: the trading server failed recently; not tried again yet")

// NewSessions returns an empty pool dialling through d.
func NewSessions(d Dialer, o SessionOptions) *Sessions {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sessions{dial: d, o: o, m: map[sessionKey]*session{}}
}

// Target is what Use needs to reach a server: who it is, its settings' version, and how to read its credentials
// (only when a dial is due).
type Target struct {
	Tenant      uuid.UUID
	Server      Server
	Version     string
	Credentials func() (Credentials, error)
}

// Use runs fn with the server's session, dialling it first if needed. Now skips a running backoff (an admin's
// check asks the platform now). An error of fn that says the session is no good (the platform unavailable, the
// credentials refused) drops the session and starts the backoff; any other error (a refused request, ctx
// cancelled by the caller) keeps it.
func (p *Sessions) Use(ctx context.Context, tg Target, now bool, fn func(trading.Connector) error) error {
	key := sessionKey{tg.Tenant, tg.Server.ID}
	p.mu.Lock()
	s := p.m[key]
	if s == nil {
		s = &session{}
		p.m[key] = s
	}
	p.mu.Unlock()

	s.mu.Lock()
	if s.conn != nil && s.version != tg.Version {
		_ = s.conn.Close()
		s.conn, s.failures, s.retryAt, s.lastErr = nil, 0, time.Time{}, nil
	}
	if s.conn == nil {
		if !now && s.lastErr != nil && p.o.Now().Before(s.retryAt) && s.version == tg.Version {
			err := s.lastErr
			s.mu.Unlock()
			return fmt.Errorf("%w (until %s): %w", ErrBackingOff, s.retryAt.UTC().Format(time.TimeOnly), err)
		}
		conn, err := p.dialNow(ctx, tg)
		s.version = tg.Version
		if err != nil {
			p.failed(s, err)
			s.mu.Unlock()
			return err
		}
		s.conn = conn
	}
	conn := s.conn
	s.mu.Unlock()

	err := fn(conn)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.failures, s.lastErr = 0, nil
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The caller gave up (a job cancelled, the worker stopping): that says nothing of the platform, and a
		// backoff here would answer the next check with the server down.
	case sessionBroken(err) && s.conn == conn:
		_ = conn.Close()
		s.conn = nil
		p.failed(s, err)
	}
	return err
}

func (p *Sessions) dialNow(ctx context.Context, tg Target) (trading.Connector, error) {
	creds, err := tg.Credentials()
	if err != nil {
		return nil, err
	}
	conn, err := p.dial.Dial(ctx, tg.Server, creds)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", tg.Server.Name, err)
	}
	return conn, nil
}

// failed records a failure in a row and when the server may be tried again.
func (p *Sessions) failed(s *session, err error) {
	s.failures++
	wait := p.o.MinBackoff << min(s.failures-1, 20)
	if wait <= 0 || wait > p.o.MaxBackoff {
		wait = p.o.MaxBackoff
	}
	s.lastErr, s.retryAt = err, p.o.Now().Add(wait)
}

// sessionBroken reports whether err says the session itself is no good rather than one request.
func sessionBroken(err error) bool {
	return errors.Is(err, trading.ErrUnavailable) || errors.Is(err, trading.ErrAuthFailed) || errors.Is(err, context.DeadlineExceeded) ||
		!errors.As(err, new(*trading.PlatformError))
}

// Keep closes the sessions of tenant's servers that are not in keep (disabled or gone), so nothing idles on a
// server the brokerage switched off.
func (p *Sessions) Keep(tenant uuid.UUID, keep map[uuid.UUID]bool) {
	p.mu.Lock()
	var drop []*session
	for k, s := range p.m {
		if k.tenant == tenant && !keep[k.server] {
			drop = append(drop, s)
			delete(p.m, k)
		}
	}
	p.mu.Unlock()
	closeAll(drop)
}

// KeepTenants closes the sessions of every tenant not in active (suspended, deleted): the periodic checks visit
// active tenants only, so nothing else would ever close them.
func (p *Sessions) KeepTenants(active map[uuid.UUID]bool) {
	p.mu.Lock()
	var drop []*session
	for k, s := range p.m {
		if !active[k.tenant] {
			drop = append(drop, s)
			delete(p.m, k)
		}
	}
	p.mu.Unlock()
	closeAll(drop)
}

// Open counts the sessions the pool holds open, per tenant.
func (p *Sessions) Open() map[uuid.UUID]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[uuid.UUID]int{}
	for k, s := range p.m {
		s.mu.Lock()
		if s.conn != nil {
			out[k.tenant]++
		}
		s.mu.Unlock()
	}
	return out
}

// Close closes every session (the worker's shutdown).
func (p *Sessions) Close() {
	p.mu.Lock()
	all := p.m
	p.m = map[sessionKey]*session{}
	p.mu.Unlock()
	closeAll(slices.Collect(maps.Values(all)))
}

func closeAll(list []*session) {
	for _, s := range list {
		s.mu.Lock()
		if s.conn != nil {
			_ = s.conn.Close()
			s.conn = nil
		}
		s.mu.Unlock()
	}
}
