package tradingdesk_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/mt5"
	"github.com/brokerdesk/brokerdesk/modules/trading/simulator"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) {
	tenanttest.Main(m, localsvc.Postgres, localsvc.Redis)
}

// bundle is one test's world: a tenant, the desk with a real sealer, a dialer that reaches a simulator of the
// test's own and real MT5 connectors, and the desk's log lines.
type bundle struct {
	p      *tenanttest.Platform
	ten    tenants.Tenant
	trail  *audit.Service
	sealer *auth.Sealer
	sim    *simulator.Simulator
	svc    *tradingdesk.Service
	hall   *events.Hall
	dial   tradingdesk.DialFunc
	log    *lines
	dials  *counter
	// pageHook, when set, runs before each page the simulator's session is asked for (deal sync's tests cut
	// a sync short with it).
	pageHook func()
	// wrap, when set, wraps the simulator's session (a test's faults).
	wrap func(trading.Connector) trading.Connector
	// vendor, when set, dials every server that is not the simulator: a vendor platform's real connector against
	// its protocol fake (platforms_test.go).
	vendor tradingdesk.DialFunc
	// mailFails is how many emails the mailer refuses before it sends.
	mailFails *counter
	mails     *emails.Service
	cl        *clients.Service
	led       *ledger.Service
}

// lines keeps every log record's text.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count is how many lines hold s.
func (l *lines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add(n ...int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(n) == 0 {
		c.n++
	}
	for _, v := range n {
		c.n += v
	}
}
func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// simSession is the test's simulator as a session the desk may close.
type simSession struct {
	trading.Connector
	b *bundle
}

func (simSession) Close() error { return nil }

func (s simSession) ClosedDeals(ctx context.Context, q trading.DealQuery) (trading.DealPage, error) {
	if s.b.pageHook != nil {
		s.b.pageHook()
	}
	return s.Connector.ClosedDeals(ctx, q)
}

func setup(t testing.TB) *bundle {
	t.Helper()
	p := tenanttest.Shared(t)
	b := &bundle{p: p, ten: p.NewTenant(t, ""), trail: audit.NewService(p.Gate), hall: events.New(events.Options{Gate: p.Gate}), log: &lines{},
		dials: &counter{}, mailFails: &counter{}}
	var err error
	if b.sealer, err = auth.ParseSealer("d1:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))); err != nil {
		t.Fatal(err)
	}
	if b.sim, err = simulator.Open(t.TempDir(), simulator.Options{PasswordIterations: 1000}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.sim.Close() })
	b.dial = tradingdesk.DialFunc(func(ctx context.Context, s tradingdesk.Server, c tradingdesk.Credentials) (trading.Connector, error) {
		b.dials.add()
		if b.vendor != nil && s.Platform != trading.PlatformSimulator {
			return b.vendor(ctx, s, c)
		}
		switch s.Platform {
		case trading.PlatformSimulator:
			if b.wrap != nil {
				return b.wrap(simSession{b.sim, b}), nil
			}
			return simSession{b.sim, b}, nil
		case trading.PlatformMT5:
			login, _ := strconv.ParseUint(s.Config.Login, 10, 64)
			return mt5.New(mt5.Config{Addr: s.Config.Address, Login: login, Password: c.Password, KeepAlive: -1, MaxRetries: -1,
				SwapFreeGroups: s.SwapFreeTwins})
		}
		return nil, &trading.PlatformError{Kind: trading.ErrUnsupported, Platform: s.Platform, Op: "dial", Message: "not in this test"}
	})
	mails, err := emails.NewService(emails.Options{Registry: p.Registry, Brands: branding.NewService(p.Gate), From: "BrokerDesk <no-reply@brokerdesk.test>",
		MailerFor: func(from string) (emails.Mailer, error) {
			if b.mailFails.get() > 0 {
				b.mailFails.add(-1)
				return nil, errors.New("smtp: the test's mail server is away")
			}
			return mail.NewSender(os.Getenv("BD_SMTP_ADDR"), from, "", "")
		},
		TenantURL: identitytest.TenantURL, Queue: "tradingdesk-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mails.Close() })
	b.mails = mails
	b.cl = clients.NewService(clients.Options{Gate: p.Gate, Audit: b.trail, Events: b.hall})
	b.cl.Door().Trail() // clients named in sentences
	if b.led, err = ledger.New(ledger.Options{Gate: p.Gate, Events: b.hall}); err != nil {
		t.Fatal(err)
	}
	b.svc = b.service(t, nil)
	b.svc.Door().Trail()
	return b
}

// service builds a desk over the bundle's tenant platform, simulator and hall, with change applied to its options:
// a second one is a worker restarted (its own session pool).
func (b *bundle) service(t testing.TB, change func(*tradingdesk.Options)) *tradingdesk.Service {
	t.Helper()
	o := tradingdesk.Options{Gate: b.p.Gate, Tenants: b.p.Registry, Audit: b.trail, Clients: b.cl,
		Emails: b.mails, Portal: noPortal{}, Events: b.hall, Ledger: b.led, Sealer: b.sealer, Dialer: b.dial, Log: slog.New(slog.NewTextHandler(b.log, nil))}
	if change != nil {
		change(&o)
	}
	svc, err := tradingdesk.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// noPortal: the module's tests call the service; the portal's routes are tested in cmd/brokerdesk.
type noPortal struct{}

func (noPortal) PortalClientID(context.Context, tenants.Tenant, uuid.UUID) (uuid.UUID, error) {
	return uuid.Nil, errors.New("no portal in this test")
}

var admin = audit.Actor{Kind: audit.ActorStaff, ID: "7a1d5e0c-2f43-4c61-9f0e-5b8a9d3c2e11"}

// simServer adds a simulator server.
func (b *bundle) simServer(t testing.TB, slug string) tradingdesk.Server {
	t.Helper()
	s, err := b.svc.CreateServer(context.Background(), b.ten, admin, tradingdesk.ServerInput{Slug: slug, Name: "Sim " + slug,
		Platform: trading.PlatformSimulator, Live: true, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// closedPort is a local address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// mt5Server adds an MT5 server at addr with the manager password pw.
func (b *bundle) mt5Server(t testing.TB, slug, addr, pw string) tradingdesk.Server {
	t.Helper()
	s, err := b.svc.CreateServer(context.Background(), b.ten, admin, tradingdesk.ServerInput{Slug: slug, Name: "MT5 " + slug,
		Platform: trading.PlatformMT5, Live: true, Enabled: true, Config: tradingdesk.Config{Address: addr, Login: "1001", TimeZone: "Europe/Nicosia"},
		Credentials: &tradingdesk.Credentials{Password: pw}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (b *bundle) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, q, args...).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
