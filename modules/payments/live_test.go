package payments

import (
	"bufio"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// newPipe is the response body a live stream writes to, as the HTTP server reads it: lines arrive on a channel;
// hanging up makes the next write fail, as a client that went away does.
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

func TestALiveStreamSendsItsTenantsCreditsHeartbeatsAndEndsWhenTheClientGoesAway(t *testing.T) {
	t.Parallel()
	f := newLiveFeed()
	f.heartbeat = 20 * time.Millisecond
	tenant, other := uuid.New(), uuid.New()
	st, err := f.open(tenant)
	if err != nil {
		t.Fatal(err)
	}
	w, lines, hangUp := newPipe()
	done := make(chan struct{})
	go func() { st.run(w, nil); close(done) }()
	next(t, lines, "retry: 5000")
	next(t, lines, ": heartbeat")
	f.notify(tenant)
	next(t, lines, "event: deposit")
	// Another tenant's credit wakes that tenant's streams only (notify is synchronous: no waiting needed).
	wakeOther, cancelOther := f.subscribe(other)
	f.notify(tenant)
	select {
	case <-wakeOther:
		t.Error("a credit of one tenant woke another tenant's stream")
	default:
	}
	next(t, lines, "event: deposit")
	f.notify(other)
	select {
	case <-wakeOther:
	default:
		t.Error("a tenant's credit did not wake its stream")
	}
	cancelOther()
	if n := f.openStreams(); n != 1 {
		t.Errorf("%d streams open, want 1", n)
	}
	hangUp()
	ended(t, done, "the client went away")
	if n := f.openStreams(); n != 0 {
		t.Errorf("%d streams open after the client left, want 0", n)
	}
	f.mu.Lock()
	subs := len(f.subs)
	f.mu.Unlock()
	if subs != 0 {
		t.Errorf("%d tenants still subscribed", subs)
	}
}

func TestLiveStreamsEndAtShutdownAndAfterTheirMaximumAge(t *testing.T) {
	t.Parallel()
	f := newLiveFeed()
	f.maxAge = 50 * time.Millisecond
	st, err := f.open(uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	w, _, _ := newPipe()
	done := make(chan struct{})
	go func() { st.run(w, nil); close(done) }()
	ended(t, done, "it was older than its maximum age")

	f = newLiveFeed()
	var wg sync.WaitGroup
	for range 3 {
		st, err := f.open(uuid.New())
		if err != nil {
			t.Fatal(err)
		}
		w, _, _ := newPipe()
		wg.Add(1)
		go func() { defer wg.Done(); st.run(w, nil) }()
	}
	f.shutdown()
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	ended(t, all, "the feed shut down")
	if _, err := f.open(uuid.New()); !errors.Is(err, errLiveClosed) {
		t.Errorf("a stream opened after shutdown: %v", err)
	}
}

func TestLiveStreamsAreBoundedPerProcess(t *testing.T) {
	t.Parallel()
	f := newLiveFeed()
	f.slots = make(chan struct{}, 2)
	a, err := f.open(uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.open(uuid.New()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.open(uuid.New()); !errors.Is(err, errLiveFull) {
		t.Fatalf("a third stream with two slots: %v", err)
	}
	a.close()
	if _, err := f.open(uuid.New()); err != nil {
		t.Errorf("a stream after one closed: %v", err)
	}
}

func TestAStreamMovesTheConnectionsWriteDeadlineBeforeEachEvent(t *testing.T) {
	t.Parallel()
	f := newLiveFeed()
	f.heartbeat = 10 * time.Millisecond
	st, err := f.open(uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	conn := &deadlines{}
	w, lines, hangUp := newPipe()
	done := make(chan struct{})
	go func() { st.run(w, conn); close(done) }()
	next(t, lines, ": heartbeat")
	hangUp()
	ended(t, done, "the client went away")
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if len(conn.set) < 2 {
		t.Fatalf("%d deadlines set", len(conn.set))
	}
	for _, d := range conn.set {
		if until := time.Until(d); until > f.writeTimeout || until < -time.Minute {
			t.Errorf("a deadline %v away, want within %v", until, f.writeTimeout)
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
