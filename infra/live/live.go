// Package live is how a page updates by itself: a feed of subscribers keyed by whatever a module's streams are
// keyed by (payments: a tenant; partners: a tenant and a partner), woken by a Postgres LISTEN loop per database
// cluster, and served to the browser as Server-Sent Events; Script is the one small script that listens to such a
// stream and swaps in the page's parts marked data-live.
//
// A module keeps only what is its own: the channel it notifies on, how a notification's payload names the keys to
// wake, what its streams are keyed by (decided from the session, never from the request), who may open them, and
// its words. The rest is here, so every live page behaves the same way: at most Options.MaxStreams streams open at
// once per process, a comment every Heartbeat (proxies keep the connection; a client that went away is noticed by
// the failed write), the connection's write deadline moved before each write, and an end when the client goes away,
// after MaxAge (the browser's EventSource reconnects through the page guard, so a signed-out user or a changed
// role stops hearing), or when the feed shuts down with the process (Listen returns).
package live

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

// Defaults of Options.
const (
	// MaxStreams bounds the streams one process holds open: each is a connection and a goroutine.
	MaxStreams = 500
	// Heartbeat is how often an idle stream sends a comment.
	Heartbeat = 15 * time.Second
	// MaxAge ends a stream after this long; the browser reconnects by itself.
	MaxAge = 30 * time.Minute
	// WriteTimeout bounds one event's write to the client (the server's own write timeout would end the stream a
	// minute after it began).
	WriteTimeout = 10 * time.Second
)

// Options say what a feed's streams send and how long they live. Zero durations and MaxStreams take the defaults.
type Options struct {
	// Event is the event's name ("deposit"), Data its data line ("credited"): what the page's script listens for.
	Event, Data string
	// Hello is the comment a stream opens with ("live deposits").
	Hello string
	// NotAcceptable is the detail of the 406 a request that does not ask for an event stream gets; Busy that of
	// the 503 beyond MaxStreams or after shutdown.
	NotAcceptable, Busy string

	MaxStreams                      int
	Heartbeat, MaxAge, WriteTimeout time.Duration
}

// Errors of opening a stream.
var (
	ErrFull   = errors.New("live: too many streams open")
	ErrClosed = errors.New("live: the feed is shut down")
)

// Feed fans "something of this key changed" out to the streams open on this process. Its zero value is not
// usable: make one with New.
type Feed[K comparable] struct {
	o    Options
	mu   sync.Mutex
	subs map[K]map[chan struct{}]struct{}
	// slots bounds the open streams; done is closed at shutdown.
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New makes a feed.
func New[K comparable](o Options) *Feed[K] {
	if o.MaxStreams <= 0 {
		o.MaxStreams = MaxStreams
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = Heartbeat
	}
	if o.MaxAge <= 0 {
		o.MaxAge = MaxAge
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = WriteTimeout
	}
	return &Feed[K]{o: o, subs: map[K]map[chan struct{}]struct{}{}, slots: make(chan struct{}, o.MaxStreams), done: make(chan struct{})}
}

// Subscribe returns a channel that receives (coalesced) wake-ups of k, and its cancel.
func (f *Feed[K]) Subscribe(k K) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	if f.subs[k] == nil {
		f.subs[k] = map[chan struct{}]struct{}{}
	}
	f.subs[k][ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.subs[k], ch)
		if len(f.subs[k]) == 0 {
			delete(f.subs, k)
		}
		f.mu.Unlock()
	}
}

// Notify wakes the subscribers of keys, under one lock; a subscriber already woken is not woken twice.
func (f *Feed[K]) Notify(keys ...K) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		wake(f.subs[k])
	}
}

// NotifyWhere wakes the subscribers of every key match accepts (partners: every partner of a tenant).
func (f *Feed[K]) NotifyWhere(match func(K) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, chs := range f.subs {
		if match(k) {
			wake(chs)
		}
	}
}

func wake(chs map[chan struct{}]struct{}) {
	for ch := range chs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribed reports how many keys have subscribers (for tests: a cancelled subscription leaves nothing behind).
func (f *Feed[K]) Subscribed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Listen hears channel on every pool (one per database cluster) until ctx ends, reconnecting with backoff, and
// hands each notification's payload to notify, which wakes the keys it names (a payload it cannot read wakes no
// one). Then it shuts the feed down: the process is stopping, and its open streams must not hold up the HTTP
// server's shutdown. Run it in every process that serves the feed's pages. channel is a constant of the module,
// never input.
func (f *Feed[K]) Listen(ctx context.Context, pools []*pgxpool.Pool, channel string, log *slog.Logger, notify func(payload string)) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			listen(ctx, p, channel, log, notify)
		}()
	}
	wg.Wait()
	f.Shutdown()
}

func listen(ctx context.Context, pool *pgxpool.Pool, channel string, log *slog.Logger, notify func(string)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := func() error {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			c := conn.Conn()
			if _, err := c.Exec(ctx, `LISTEN `+channel); err != nil {
				return err
			}
			backoff = 100 * time.Millisecond
			for {
				n, err := c.WaitForNotification(ctx)
				if err != nil {
					return err
				}
				notify(n.Payload)
			}
		}()
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, "live notifications: reconnecting", "channel", channel, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// Stream is one open stream: a slot and a subscription to its key's wake-ups.
type Stream[K comparable] struct {
	f      *Feed[K]
	wake   <-chan struct{}
	cancel func()
}

// Open takes a slot and subscribes to k; the stream's Run (or Close) gives both back.
func (f *Feed[K]) Open(k K) (*Stream[K], error) {
	select {
	case <-f.done:
		return nil, ErrClosed
	default:
	}
	select {
	case f.slots <- struct{}{}:
	default:
		return nil, ErrFull
	}
	wake, cancel := f.Subscribe(k)
	return &Stream[K]{f: f, wake: wake, cancel: cancel}, nil
}

// Close gives the stream's slot and subscription back (Run does it when it ends).
func (st *Stream[K]) Close() {
	st.cancel()
	<-st.f.slots
}

// Shutdown ends every open stream and refuses new ones.
func (f *Feed[K]) Shutdown() { f.closeOnce.Do(func() { close(f.done) }) }

// OpenStreams reports how many streams are open.
func (f *Feed[K]) OpenStreams() int { return len(f.slots) }

// WriteDeadliner is the client's connection, whose write deadline each write moves on.
type WriteDeadliner interface{ SetWriteDeadline(time.Time) error }

// Run writes the stream as Server-Sent Events until the client goes away (a write fails), the stream is MaxAge
// old, or the feed shuts down: a retry delay and the Hello comment at once, the event on every wake-up of its key
// (coalesced: a burst is one event), and a comment every Heartbeat. It runs in the response body's writer
// goroutine, so it touches nothing of the request; conn may be nil.
func (st *Stream[K]) Run(w *bufio.Writer, conn WriteDeadliner) {
	defer st.Close()
	o := st.f.o
	send := func(s string) bool {
		if conn != nil {
			_ = conn.SetWriteDeadline(time.Now().Add(o.WriteTimeout))
		}
		if _, err := w.WriteString(s); err != nil {
			return false
		}
		return w.Flush() == nil
	}
	if !send("retry: 5000\n: " + o.Hello + "\n\n") {
		return
	}
	event := "event: " + o.Event + "\ndata: " + o.Data + "\n\n"
	beat := time.NewTicker(o.Heartbeat)
	defer beat.Stop()
	end := time.NewTimer(o.MaxAge)
	defer end.Stop()
	for {
		select {
		case <-st.wake:
			if !send(event) {
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

// Serve answers a request for k's stream, once the module's handler has decided who is asking and that they may
// (the key comes from the session, never from the request): 406 to a request that does not ask for an event stream
// (a link followed, a crawler would hold a stream it cannot read; EventSource asks for it), 503 with Retry-After
// beyond MaxStreams or after shutdown (the page then simply does not update by itself), else the stream.
func (f *Feed[K]) Serve(c *fiber.Ctx, k K) error {
	if !strings.Contains(c.Get(fiber.HeaderAccept), "text/event-stream") {
		return web.NewProblem(fiber.StatusNotAcceptable, "not-acceptable", f.o.NotAcceptable)
	}
	st, err := f.Open(k)
	if errors.Is(err, ErrFull) || errors.Is(err, ErrClosed) {
		c.Set(fiber.HeaderRetryAfter, "30")
		return web.NewProblem(fiber.StatusServiceUnavailable, "busy", f.o.Busy)
	} else if err != nil {
		return err
	}
	// The connection, not the Ctx: the writer runs after the handler returns, when the Ctx is no longer ours.
	conn := c.Context().Conn()
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no") // a proxy in front must pass events on at once
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) { st.Run(w, conn) })
	return nil
}

// Script is the live pages' script (live.js). A module serves it at an address of its own, guarded like its pages
// (ServeScript), and a page includes it with the stream's address, the event's name and its words as attributes:
//
//	<script src="/backoffice/live/deposits.js" data-stream="/backoffice/live/deposits" data-event="deposit"
//	  data-open="Live: ..." data-stopped="Live updates stopped: ..." defer></script>
//
//go:embed live.js
var Script []byte

// ServeScript is a handler that sends Script.
func ServeScript(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	return c.Send(Script)
}
