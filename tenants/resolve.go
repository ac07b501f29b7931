package tenants

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// HostKind says what a request's host is.
type HostKind int

const (
	HostTenant  HostKind = iota + 1 // <slug>.<base domain> or a verified custom domain
	HostConsole                     // console.<base domain>: the operator console
)

// Resolution is what a host maps to.
type Resolution struct {
	Kind   HostKind
	Tenant Tenant // set for HostTenant
}

// Resolver maps Host headers to tenants. Answers are cached (positive and negative) and the cache is dropped
// whenever the registry announces a change (Postgres NOTIFY, so every process hears it), with a TTL as a backstop
// in case a notification is missed while reconnecting.
type Resolver struct {
	reg        *Registry
	baseDomain string
	ttl        time.Duration
	maxEntries int
	log        *slog.Logger

	mu    sync.RWMutex
	cache map[string]cached
	now   func() time.Time
}

type cached struct {
	res Resolution
	err error
	at  time.Time
}

// ConsoleLabel is the subdomain of the base domain that serves the operator console.
const ConsoleLabel = "console"

// NewResolver returns a resolver for hosts under baseDomain (e.g. "brokerdesk.app" or "localhost").
func NewResolver(reg *Registry, baseDomain string, log *slog.Logger) *Resolver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resolver{reg: reg, baseDomain: strings.ToLower(baseDomain), ttl: time.Minute, maxEntries: 10_000,
		log: log, cache: map[string]cached{}, now: time.Now}
}

// Resolve maps a Host header (with or without port) to the console or a tenant, or ErrNotFound. It does not judge
// the tenant's status: callers decide what a suspended or unfinished tenant may see.
func (r *Resolver) Resolve(ctx context.Context, hostHeader string) (Resolution, error) {
	host := normalizeHost(hostHeader)
	if host == "" {
		return Resolution{}, ErrNotFound
	}
	if host == ConsoleLabel+"."+r.baseDomain {
		return Resolution{Kind: HostConsole}, nil
	}
	r.mu.RLock()
	c, ok := r.cache[host]
	r.mu.RUnlock()
	if ok && r.now().Sub(c.at) < r.ttl {
		return c.res, c.err
	}
	res, err := r.lookup(ctx, host)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return res, err // a database failure is not cached
	}
	r.mu.Lock()
	if len(r.cache) >= r.maxEntries {
		r.cache = map[string]cached{} // random hosts cannot grow memory without bound
	}
	r.cache[host] = cached{res: res, err: err, at: r.now()}
	r.mu.Unlock()
	return res, err
}

func (r *Resolver) lookup(ctx context.Context, host string) (Resolution, error) {
	if label, ok := strings.CutSuffix(host, "."+r.baseDomain); ok {
		if strings.Contains(label, ".") || ValidateSlugShape(label) != nil {
			return Resolution{}, ErrNotFound
		}
		t, err := r.reg.BySlug(ctx, label)
		if err != nil {
			return Resolution{}, err
		}
		return Resolution{Kind: HostTenant, Tenant: t}, nil
	}
	t, err := r.reg.ByDomain(ctx, host)
	if err != nil {
		return Resolution{}, err
	}
	return Resolution{Kind: HostTenant, Tenant: t}, nil
}

// normalizeHost lowercases a Host header and strips the port and a trailing dot.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(h, ".")
}

// Invalidate drops every cached answer.
func (r *Resolver) Invalidate() {
	r.mu.Lock()
	r.cache = map[string]cached{}
	r.mu.Unlock()
}

// Listen drops the cache on every registry change announced by any process, until ctx ends. It reconnects after
// a lost connection (dropping the cache then too, since changes may have been missed).
func (r *Resolver) Listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		r.Invalidate()
		r.log.WarnContext(ctx, "tenant change listener reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (r *Resolver) listenOnce(ctx context.Context) error {
	conn, err := r.reg.db.Acquire(ctx)
	if err != nil {
		return err
	}
	// A LISTENing connection must not go back to the pool still listening: take it out of the pool for good.
	c := conn.Hijack()
	defer c.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := c.Exec(ctx, `LISTEN `+changedChannel); err != nil {
		return err
	}
	r.Invalidate() // anything cached before we listened may be stale
	for {
		if _, err := c.WaitForNotification(ctx); err != nil {
			return err
		}
		r.Invalidate()
	}
}
