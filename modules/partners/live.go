package partners

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
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The IB portal, live (docs/partners.md, "IB portal"): when the engine records commission rows it publishes
// partners.commission_recorded in the deal's (or deposit's) transaction, naming the partners the rows are of. The
// module's own OnTx subscriber turns it into a Postgres notification at commit (CommissionsChannel: the tenant and
// the partners), so every process serving pages hears it whichever worker computed the deal, and wakes the portal
// streams of those partners of that tenant only: a partner's stream (GET /portal/partner/live, Server-Sent Events)
// is keyed by the tenant and the partner its session is, never by anything the browser sends. The page's script
// then fetches the page again (narrowed to the session's partner as always) and swaps in its live parts.
//
// The feed is payments' live feed's shape (modules/payments/live.go): a bound on open streams per process, a
// heartbeat, a maximum age after which the browser reconnects through the page guard, and shutdown with the process.

// EventCommissionRecorded is published when the engine records commission rows.
const EventCommissionRecorded = "partners.commission_recorded"

// CommissionRecorded says a deal (or a first deposit) got rows of these partners: paid, paid nothing or reversed;
// or, from the engine's batch of closing deals, that Deals deals did (no server, no ticket). The payload carries
// ids only; the rows are read through the service.
type CommissionRecorded struct {
	Partners   []uuid.UUID `json:"partners"`
	Source     string      `json:"source"`              // deal or cpa
	ServerID   *uuid.UUID  `json:"server_id,omitempty"` // the deal's server (deals only)
	Ticket     string      `json:"ticket"`              // the deal's ticket, or the deposit's id
	Generation int         `json:"generation"`
	Deals      int         `json:"deals,omitempty"` // a batch's deals (no ticket then)
}

// EventType implements events.Event.
func (CommissionRecorded) EventType() string { return EventCommissionRecorded }

// CommissionsChannel is the Postgres channel a commission_recorded notifies on, at commit: "<tenant id>
// <partner id>,<partner id>..." ("<tenant id> *" when the partners would not fit a notification: every partner
// stream of the tenant wakes).
const CommissionsChannel = "brokerdesk_partner_commissions"

// maxNotifyPartners keeps a notification's payload under Postgres's 8000 bytes.
const maxNotifyPartners = 150

// publishRecorded announces rows of partners (duplicates and nils left out); nothing when the module has no hall.
func (s *Service) publishRecorded(ctx context.Context, tx pgx.Tx, t tenants.Tenant, e CommissionRecorded, partners ...*uuid.UUID) error {
	if s.o.Events == nil {
		return nil
	}
	seen := map[uuid.UUID]bool{}
	for _, p := range partners {
		if p != nil && !seen[*p] {
			seen[*p] = true
			e.Partners = append(e.Partners, *p)
		}
	}
	if len(e.Partners) == 0 {
		return nil
	}
	return s.o.Events.Publish(ctx, tx, t, e)
}

// notifyLive is the OnTx subscriber partners.live_push: the notification that wakes the partners' portal streams,
// sent with the transaction's next statement and delivered by Postgres at commit (never for a rollback).
func (s *Service) notifyLive(ctx context.Context, tx pgx.Tx, t tenants.Tenant, _ events.Meta, e CommissionRecorded) error {
	payload := t.ID.String() + " *"
	if len(e.Partners) <= maxNotifyPartners {
		ids := make([]string, len(e.Partners))
		for i, p := range e.Partners {
			ids[i] = p.String()
		}
		payload = t.ID.String() + " " + strings.Join(ids, ",")
	}
	return database.ExecLater(ctx, tx, `SELECT pg_notify($1, $2)`, CommissionsChannel, payload)
}

// liveKey is whose stream: a partner of a tenant.
type liveKey struct{ tenant, partner uuid.UUID }

// liveFeed fans "rows of these partners were recorded" out to the partner streams open on this process.
type liveFeed struct {
	mu        sync.Mutex
	subs      map[liveKey]map[chan struct{}]struct{}
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// heartbeat, maxAge and writeTimeout are payments' (shorter in tests).
	heartbeat, maxAge, writeTimeout time.Duration
}

// MaxLiveStreams bounds the partner streams one process holds open.
const MaxLiveStreams = 500

func newLiveFeed() *liveFeed {
	return &liveFeed{subs: map[liveKey]map[chan struct{}]struct{}{}, slots: make(chan struct{}, MaxLiveStreams), done: make(chan struct{}),
		heartbeat: 15 * time.Second, maxAge: 30 * time.Minute, writeTimeout: 10 * time.Second}
}

func (f *liveFeed) subscribe(k liveKey) (<-chan struct{}, func()) {
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

// notify wakes the streams a notification's payload names (coalesced: a stream already woken is not woken twice).
// A payload it cannot read wakes no one.
func (f *liveFeed) notify(payload string) {
	tenantText, list, ok := strings.Cut(payload, " ")
	tenant, err := uuid.Parse(tenantText)
	if !ok || err != nil {
		return
	}
	wake := func(chs map[chan struct{}]struct{}) {
		for ch := range chs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if list == "*" {
		for k, chs := range f.subs {
			if k.tenant == tenant {
				wake(chs)
			}
		}
		return
	}
	for _, p := range strings.Split(list, ",") {
		if id, err := uuid.Parse(p); err == nil {
			wake(f.subs[liveKey{tenant, id}])
		}
	}
}

// Listen hears CommissionsChannel on every pool (one per database cluster) until ctx ends, reconnecting with
// backoff, and wakes the partner streams each notification names. Run it in every process that serves pages.
func (s *Service) Listen(ctx context.Context, pools []*pgxpool.Pool) {
	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			listenCommissions(ctx, p, s.live, s.o.Log)
		}()
	}
	wg.Wait()
	s.live.shutdown()
}

func listenCommissions(ctx context.Context, pool *pgxpool.Pool, f *liveFeed, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := func() error {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			c := conn.Conn()
			if _, err := c.Exec(ctx, `LISTEN `+CommissionsChannel); err != nil {
				return err
			}
			backoff = 100 * time.Millisecond
			for {
				n, err := c.WaitForNotification(ctx)
				if err != nil {
					return err
				}
				f.notify(n.Payload)
			}
		}()
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, "partner commission notifications: reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

var (
	errLiveFull   = errors.New("partners: too many live streams open")
	errLiveClosed = errors.New("partners: the live feed is shut down")
)

type liveStream struct {
	f      *liveFeed
	wake   <-chan struct{}
	cancel func()
}

func (f *liveFeed) open(k liveKey) (*liveStream, error) {
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
	wake, cancel := f.subscribe(k)
	return &liveStream{f: f, wake: wake, cancel: cancel}, nil
}

func (st *liveStream) close() {
	st.cancel()
	<-st.f.slots
}

func (f *liveFeed) shutdown() { f.closeOnce.Do(func() { close(f.done) }) }

type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// run writes the stream until the client goes away, the stream is maxAge old or the feed shuts down: a retry delay
// and a comment at once, "event: commission" on every wake-up (coalesced), a comment every heartbeat.
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
	if !send("retry: 5000\n: live commissions\n\n") {
		return
	}
	beat := time.NewTicker(st.f.heartbeat)
	defer beat.Stop()
	end := time.NewTimer(st.f.maxAge)
	defer end.Stop()
	for {
		select {
		case <-st.wake:
			if !send("event: commission\ndata: recorded\n\n") {
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

// liveScript is the partner area's script: it listens to the stream and swaps in the page's live parts.
//
//go:embed live.js
var liveScript []byte

const (
	portalLivePath   = portalPartnerPath + "/live"
	portalScriptPath = portalPartnerPath + "/live.js"
)

func (s *Service) mountLivePages(p *pages) {
	p.shell.Page(fiber.MethodGet, portalLivePath, identity.PermPortalAccount, p.portalLive)
	p.shell.Page(fiber.MethodGet, portalScriptPath, identity.PermPortalAccount, func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		return c.Send(liveScript)
	})
}

// portalLive is the partner's live stream: its own partner's wake-ups, found from the session. A login that is no
// active partner gets 204 (an EventSource does not reconnect after it); one that does not ask for an event stream
// gets 406; beyond MaxLiveStreams, 503 (the page then simply does not update by itself).
func (p *pages) portalLive(c *fiber.Ctx) error {
	x, err := p.s.portalPartner(c)
	if errors.Is(err, ErrNotPartner) {
		return c.SendStatus(fiber.StatusNoContent)
	} else if err != nil {
		return err
	}
	if !strings.Contains(c.Get(fiber.HeaderAccept), "text/event-stream") {
		return web.NewProblem(fiber.StatusNotAcceptable, "not-acceptable", "This address is a live event stream (text/event-stream) for the partner page's script.")
	}
	st, err := p.s.live.open(liveKey{tenants.Current(c).ID, x.ID})
	if errors.Is(err, errLiveFull) || errors.Is(err, errLiveClosed) {
		c.Set(fiber.HeaderRetryAfter, "30")
		return web.NewProblem(fiber.StatusServiceUnavailable, "busy", "Live updates are not available just now; reload the page to see new commissions.")
	} else if err != nil {
		return err
	}
	conn := c.Context().Conn()
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) { st.run(w, conn) })
	return nil
}
