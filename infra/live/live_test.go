package live_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/live"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/testkit"
	"github.com/brokerdesk/brokerdesk/infra/web"
)

func TestMain(m *testing.M) { os.Exit(localsvc.RunTests(m, localsvc.Postgres)) }

// key is a key of two parts, as partners' streams are keyed (a tenant and a partner).
type key struct{ tenant, who string }

func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func feed(o live.Options) *live.Feed[key] {
	o.Event, o.Data, o.Hello = "thing", "changed", "live things"
	return live.New[key](o)
}

// newPipe is the response body a stream writes to, as the HTTP server reads it: lines arrive on a channel; hanging
// up makes the next write fail, as a client that went away does.
func newPipe() (*bufio.Writer, <-chan string, func()) {
	r, w := io.Pipe()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return bufio.NewWriter(w), lines, func() { r.CloseWithError(errors.New("client went away")) }
}

func next(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended before %q", want)
			}
			if l == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on the stream", want)
		}
	}
}

func ended(t *testing.T, done <-chan struct{}, why string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the stream did not end when %s", why)
	}
}

// Notify wakes the subscribers of the keys it names, once however many times (coalesced), and no other key's:
// not one sharing a part of the key; NotifyWhere wakes the keys its match accepts. A cancelled subscription
// leaves nothing behind.
func TestNotifyWakesTheNamedKeysOnly(t *testing.T) {
	t.Parallel()
	f := feed(live.Options{})
	ta, tb, oa := key{"t", "a"}, key{"t", "b"}, key{"o", "a"}
	chA, cancelA := f.Subscribe(ta)
	chA2, cancelA2 := f.Subscribe(ta)
	chB, cancelB := f.Subscribe(tb)
	chO, cancelO := f.Subscribe(oa)
	for _, tc := range []struct {
		name          string
		notify        func()
		a, a2, b, oth bool
	}{
		{"one key", func() { f.Notify(ta) }, true, true, false, false},
		{"one key twice: coalesced", func() { f.Notify(ta); f.Notify(ta) }, true, true, false, false},
		{"two keys", func() { f.Notify(tb, oa) }, false, false, true, true},
		{"a key nobody holds", func() { f.Notify(key{"t", "z"}) }, false, false, false, false},
		{"none", func() { f.Notify() }, false, false, false, false},
		{"every key of a tenant", func() { f.NotifyWhere(func(k key) bool { return k.tenant == "t" }) }, true, true, true, false},
	} {
		tc.notify()
		if woken(chA) != tc.a || woken(chA2) != tc.a2 || woken(chB) != tc.b || woken(chO) != tc.oth {
			t.Errorf("%s woke the wrong subscribers", tc.name)
		}
		if woken(chA) { // coalesced: one wake-up however many notifications
			t.Errorf("%s woke a subscriber twice", tc.name)
		}
	}
	cancelA()
	f.Notify(ta)
	if woken(chA) || !woken(chA2) {
		t.Error("a cancelled subscription was woken, or its sibling was not")
	}
	cancelA2()
	cancelB()
	cancelO()
	if n := f.Subscribed(); n != 0 {
		t.Errorf("%d keys still subscribed after every cancel", n)
	}
}

func TestAStreamSendsItsKeysEventsAndHeartbeatsAndEndsWhenTheClientGoesAway(t *testing.T) {
	t.Parallel()
	f := feed(live.Options{Heartbeat: 20 * time.Millisecond})
	k := key{"t", "a"}
	st, err := f.Open(k)
	if err != nil {
		t.Fatal(err)
	}
	w, lines, hangUp := newPipe()
	done := make(chan struct{})
	go func() { st.Run(w, nil); close(done) }()
	next(t, lines, "retry: 5000")
	next(t, lines, ": live things")
	next(t, lines, ": heartbeat")
	f.Notify(k)
	next(t, lines, "event: thing")
	next(t, lines, "data: changed")
	if n := f.OpenStreams(); n != 1 {
		t.Errorf("%d streams open, want 1", n)
	}
	hangUp()
	ended(t, done, "the client went away")
	if n := f.OpenStreams(); n != 0 {
		t.Errorf("%d streams open after the client left, want 0", n)
	}
	if n := f.Subscribed(); n != 0 {
		t.Errorf("%d keys still subscribed", n)
	}
}

func TestStreamsEndAtShutdownAndAfterTheirMaximumAge(t *testing.T) {
	t.Parallel()
	f := feed(live.Options{MaxAge: 50 * time.Millisecond})
	st, err := f.Open(key{"t", "a"})
	if err != nil {
		t.Fatal(err)
	}
	w, _, _ := newPipe()
	done := make(chan struct{})
	go func() { st.Run(w, nil); close(done) }()
	ended(t, done, "it was older than its maximum age")

	f = feed(live.Options{})
	var wg sync.WaitGroup
	for _, who := range []string{"a", "b", "c"} {
		st, err := f.Open(key{"t", who})
		if err != nil {
			t.Fatal(err)
		}
		w, _, _ := newPipe()
		wg.Add(1)
		go func() { defer wg.Done(); st.Run(w, nil) }()
	}
	f.Shutdown()
	f.Shutdown() // twice is harmless
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	ended(t, all, "the feed shut down")
	if _, err := f.Open(key{"t", "d"}); !errors.Is(err, live.ErrClosed) {
		t.Errorf("a stream opened after shutdown: %v", err)
	}
	if n := f.OpenStreams(); n != 0 {
		t.Errorf("%d streams open after shutdown", n)
	}
}

func TestStreamsAreBoundedPerProcess(t *testing.T) {
	t.Parallel()
	f := feed(live.Options{MaxStreams: 2})
	a, err := f.Open(key{"t", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(key{"t", "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(key{"t", "c"}); !errors.Is(err, live.ErrFull) {
		t.Fatalf("a third stream with two slots: %v", err)
	}
	a.Close()
	if _, err := f.Open(key{"t", "c"}); err != nil {
		t.Errorf("a stream after one closed: %v", err)
	}
	if n := live.New[key](live.Options{}).OpenStreams(); n != 0 {
		t.Errorf("a new feed has %d streams open", n)
	}
}

func TestAStreamMovesTheConnectionsWriteDeadlineBeforeEachWrite(t *testing.T) {
	t.Parallel()
	f := feed(live.Options{Heartbeat: 10 * time.Millisecond})
	st, err := f.Open(key{"t", "a"})
	if err != nil {
		t.Fatal(err)
	}
	conn := &deadlines{}
	w, lines, hangUp := newPipe()
	done := make(chan struct{})
	go func() { st.Run(w, conn); close(done) }()
	next(t, lines, ": heartbeat")
	hangUp()
	ended(t, done, "the client went away")
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if len(conn.set) < 2 {
		t.Fatalf("%d deadlines set", len(conn.set))
	}
	for _, d := range conn.set {
		if until := time.Until(d); until > live.WriteTimeout || until < -time.Minute {
			t.Errorf("a deadline %v away, want within %v", until, live.WriteTimeout)
		}
	}
}

type deadlines struct {
	mu  sync.Mutex
	set []time.Time
}

func (d *deadlines) SetWriteDeadline(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.set = append(d.set, t)
	return nil
}

// Serve answers 406 to a request that does not ask for an event stream, 503 (with Retry-After) when the streams
// are all taken or the feed is shut down, and the stream otherwise.
func TestServeAnswersOnlyEventStreamsWhileThereIsRoom(t *testing.T) {
	t.Parallel()
	f := feed(live.Options{MaxStreams: 1, NotAcceptable: "a stream only", Busy: "try later"})
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var p *web.Problem
		if !errors.As(err, &p) {
			return c.SendStatus(fiber.StatusInternalServerError)
		}
		return c.Status(p.Status).SendString(p.Detail)
	}})
	app.Get("/live", func(c *fiber.Ctx) error { return f.Serve(c, key{"t", "a"}) })
	get := func(accept string) *http.Response {
		t.Helper()
		req := httptest.NewRequest("GET", "/live", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := app.Test(req, 200)
		if err != nil && !strings.Contains(err.Error(), "timeout") {
			t.Fatal(err)
		}
		return res
	}
	if res := get("text/html"); res.StatusCode != http.StatusNotAcceptable {
		t.Errorf("a page asked of the stream: %d, want 406", res.StatusCode)
	}
	held, err := f.Open(key{"t", "b"}) // the one slot taken
	if err != nil {
		t.Fatal(err)
	}
	if res := get("text/event-stream"); res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "30" {
		t.Errorf("a stream beyond the limit: %d %v, want 503 with Retry-After", res.StatusCode, res.Header)
	}
	held.Close()
	f.Shutdown()
	if res := get("text/event-stream"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream after shutdown: %d, want 503", res.StatusCode)
	}
}

// The LISTEN loop, against the real Postgres: a notification on the feed's channel, on either cluster, reaches the
// keys its payload names and no other; a notification on another channel reaches no one; Listen returns when its
// context ends and shuts the feed down.
func TestListenWakesTheKeysANotificationNamesOnEveryCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var pools []*pgxpool.Pool
	urls := []string{os.Getenv("BD_DATABASE_URL")}
	for _, c := range strings.Split(os.Getenv("BD_DATABASE_CLUSTERS"), ";") {
		if _, url, ok := strings.Cut(c, "="); ok {
			urls = append(urls, url)
		}
	}
	for _, url := range urls {
		p, err := database.OpenPool(ctx, url, database.PoolOptions{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		pools = append(pools, p)
	}
	const channel = "brokerdesk_live_test"
	f := feed(live.Options{})
	// The payload is "<tenant> <who>", as a module's notification names its keys.
	notify := func(payload string) {
		if tenant, who, ok := strings.Cut(payload, " "); ok {
			f.Notify(key{tenant, who})
		}
	}
	lctx, stop := context.WithCancel(ctx)
	listening := make(chan struct{})
	go func() { f.Listen(lctx, pools, channel, nil, notify); close(listening) }()
	sub := func(k key) <-chan struct{} {
		ch, cancel := f.Subscribe(k)
		t.Cleanup(cancel)
		return ch
	}
	for i, p := range pools {
		// The listener is up once a probe of its own gets through (LISTEN takes effect when it has run).
		probe := sub(key{"probe", string(rune('a' + i))})
		testkit.Eventually(t, 10*time.Second, "the listener to hear a probe", func() bool {
			if _, err := p.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, "probe "+string(rune('a'+i))); err != nil {
				t.Fatal(err)
			}
			return woken(probe)
		})
		mine, sameWho, sameTenant, otherChannel := sub(key{"t1", "a"}), sub(key{"t2", "a"}), sub(key{"t1", "b"}), sub(key{"t3", "x"})
		if _, err := p.Exec(ctx, `SELECT pg_notify('brokerdesk_live_other', 't3 x')`); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, "t1 a"); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "the named key to wake", func() bool { return woken(mine) })
		// Notifications arrive in commit order and each is handled under one lock: the other channel's, committed
		// first, would have been handled by now, and this one's reached its key only.
		if woken(sameWho) || woken(sameTenant) {
			t.Errorf("cluster %d: a notification woke a key it did not name", i)
		}
		if woken(otherChannel) {
			t.Errorf("cluster %d: a notification on another channel woke a key", i)
		}
	}
	stop()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not return when its context ended")
	}
	if _, err := f.Open(key{"t1", "a"}); !errors.Is(err, live.ErrClosed) {
		t.Errorf("the feed takes streams after Listen returned: %v", err)
	}
}
