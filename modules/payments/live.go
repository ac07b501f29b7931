package payments

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DepositsChannel is the Postgres channel a credited deposit notifies on, at commit, with the tenant's id: every
// API process hears it, whichever one the callback reached, and wakes the live dashboards of that tenant.
const DepositsChannel = "brokerdesk_deposits"

// liveFeed fans a tenant's "a deposit was credited" out to the dashboards open on this process: the back office's
// live stream (GET /backoffice/live/deposits, Server-Sent Events) subscribes per tenant and wakes the pages' script,
// which fetches the page again. At most MaxLiveStreams streams are open at once per process; every stream ends when
// its client goes away, when it has been open for liveMaxAge (the browser reconnects by itself), or when the feed
// shuts down with the process (Listen returns).
type liveFeed struct {
	mu   sync.Mutex
	subs map[uuid.UUID]map[chan struct{}]struct{}
	// slots bounds the open streams; done is closed at shutdown.
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// heartbeat, maxAge and writeTimeout are liveHeartbeat, liveMaxAge and liveWriteTimeout (shorter in tests).
	heartbeat, maxAge, writeTimeout time.Duration
}

// MaxLiveStreams bounds the live streams one process holds open: each is a connection and a goroutine.
const MaxLiveStreams = 500

const (
	// liveHeartbeat is how often an idle stream sends a comment: proxies keep the connection, and a client that
	// went away is noticed (the write fails) within this time.
	liveHeartbeat = 15 * time.Second
	// liveMaxAge ends a stream after this long; the browser's EventSource reconnects through the page guard, so a
	// signed-out user or a changed role stops hearing within this time.
	liveMaxAge = 30 * time.Minute
	// liveWriteTimeout bounds one event's write to the client (the server's own write timeout would end the
	// stream a minute after it began).
	liveWriteTimeout = 10 * time.Second
)

func newLiveFeed() *liveFeed {
	return &liveFeed{subs: map[uuid.UUID]map[chan struct{}]struct{}{}, slots: make(chan struct{}, MaxLiveStreams),
		done: make(chan struct{}), heartbeat: liveHeartbeat, maxAge: liveMaxAge, writeTimeout: liveWriteTimeout}
}

// subscribe returns a channel that receives (coalesced) wake-ups for tenant, and its cancel.
func (f *liveFeed) subscribe(tenant uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	if f.subs[tenant] == nil {
		f.subs[tenant] = map[chan struct{}]struct{}{}
	}
	f.subs[tenant][ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.subs[tenant], ch)
		if len(f.subs[tenant]) == 0 {
			delete(f.subs, tenant)
		}
		f.mu.Unlock()
	}
}

// notify wakes tenant's subscribers; a subscriber already woken is not woken twice.
func (f *liveFeed) notify(tenant uuid.UUID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs[tenant] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Listen hears DepositsChannel on every pool (one per database cluster) until ctx ends, reconnecting with backoff,
// and wakes the dashboards of the tenant each notification names. Run it in every process that serves pages.
func (s *Service) Listen(ctx context.Context, pools []*pgxpool.Pool) {
	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			listenDeposits(ctx, p, s.live, s.o.Log)
		}()
	}
	wg.Wait()
	s.live.shutdown() // the process is stopping: end the open streams, so the HTTP server's shutdown is not held up
}

func listenDeposits(ctx context.Context, pool *pgxpool.Pool, f *liveFeed, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := func() error {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			c := conn.Conn()
			if _, err := c.Exec(ctx, `LISTEN `+DepositsChannel); err != nil {
				return err
			}
			backoff = 100 * time.Millisecond
			for {
				n, err := c.WaitForNotification(ctx)
				if err != nil {
					return err
				}
				if id, err := uuid.Parse(n.Payload); err == nil {
					f.notify(id)
				}
			}
		}()
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, "deposit notifications: reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// Errors of opening a live stream.
var (
	errLiveFull   = errors.New("payments: too many live streams open")
	errLiveClosed = errors.New("payments: the live feed is shut down")
)

// liveStream is one open stream: a slot and a subscription to its tenant's wake-ups.
type liveStream struct {
	f      *liveFeed
	wake   <-chan struct{}
	cancel func()
}

// open takes a slot and subscribes to tenant; the stream's run (or close) gives both back.
func (f *liveFeed) open(tenant uuid.UUID) (*liveStream, error) {
	select {
	case <-f.done:
		return nil, errLiveClosed
	default:
	}
	select {
	case f.slots <- struct{}{}:
	default:
		return nil, errLiveFull
	}
	wake, cancel := f.subscribe(tenant)
	return &liveStream{f: f, wake: wake, cancel: cancel}, nil
}

func (st *liveStream) close() {
	st.cancel()
	<-st.f.slots
}

// shutdown ends every open stream and refuses new ones.
func (f *liveFeed) shutdown() { f.closeOnce.Do(func() { close(f.done) }) }

// openStreams reports how many streams are open (for tests).
func (f *liveFeed) openStreams() int { return len(f.slots) }

// writeDeadliner is the client's connection, whose write deadline each event moves on.
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// run writes the stream as Server-Sent Events until the client goes away (a write fails), the stream is liveMaxAge
// old, or the feed shuts down: a retry delay and a first comment at once, "event: deposit" on every wake-up of its
// tenant (coalesced: a burst of credits is one event), and a comment every heartbeat. It runs in the response
// body's writer goroutine, so it touches nothing of the request; conn may be nil.
func (st *liveStream) run(w *bufio.Writer, conn writeDeadliner) {
	defer st.close()
	send := func(s string) bool {
		if conn != nil {
			_ = conn.SetWriteDeadline(time.Now().Add(st.f.writeTimeout))
		}
		if _, err := w.WriteString(s); err != nil {
			return false
		}
		return w.Flush() == nil
	}
	if !send("retry: 5000\n: live deposits\n\n") {
		return
	}
	beat := time.NewTicker(st.f.heartbeat)
	defer beat.Stop()
	end := time.NewTimer(st.f.maxAge)
	defer end.Stop()
	for {
		select {
		case <-st.wake:
			if !send("event: deposit\ndata: credited\n\n") {
				return
			}
		case <-beat.C:
			if !send(": heartbeat\n\n") {
				return
			}
		case <-end.C:
			return
		case <-st.f.done:
			return
		}
	}
}
