// Package mt5 is BrokerDesk's connector to MetaTrader 5 through the MT5 Manager Web API (HTTPS on the trade
// server's access point). It turns the platform-neutral trading.Connector calls into Web API calls and back:
// the challenge/response login bound to one TLS connection, retcodes mapped to trading error kinds, numbers sent
// as strings parsed into exact decimals, server-local times converted to UTC by the server's time zone, volume
// units converted to lots, and balance operations made idempotent by starting the deal comment (of which the server
// keeps 31 characters) with a fixed-length tag of the CRM's operation id, because MT5 itself has no idempotency key.
//
// Its tests run against a protocol-faithful fake of the Web API, package mt5fake, which the trading contract suite
// and the trading desk's flows use too.
package mt5

import (
	"crypto/md5"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"golang.org/x/time/rate"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// Defaults for the zero values in Config.
const (
	DefaultAgent             = "BrokerDesk"
	DefaultBuild             = 484 // the Web API accepts any client version not below 484
	DefaultRateLimit         = rate.Limit(20)
	DefaultRateBurst         = 5
	DefaultRequestTimeout    = 30 * time.Second
	DefaultDialTimeout       = 10 * time.Second
	DefaultKeepAlive         = 20 * time.Second
	DefaultMaxRetries        = 4
	DefaultRetryBackoff      = 250 * time.Millisecond
	DefaultIdempotencyWindow = 7 * 24 * time.Hour
	DefaultClockTTL          = time.Hour
	DefaultMaxLeverage       = 500
)

// Config is one manager session on one MT5 server.
type Config struct {
	// Addr is the Web API access point as host:port, e.g. "mt5.broker.example:443".
	Addr string
	// Login is the manager account's login; the manager needs Web API access enabled on the server.
	Login uint64
	// Password is the manager's password. The connector keeps only its protocol hash after New.
	Password string
	// Agent names this client in the server's journal (no spaces). Default DefaultAgent.
	Agent string
	// Build is the client version sent at login (>= 484). Default DefaultBuild.
	Build int
	// TLS configures the connection (RootCAs for a server with a private CA, ServerName when Addr is an IP).
	// Nil uses the system roots. Certificate verification is never turned off by the connector.
	TLS *tls.Config
	// Proxy, when set, is an HTTP CONNECT proxy to reach the server through (e.g. a fixed egress IP). Nil dials
	// directly; the environment's proxy variables are deliberately ignored so the egress IP is what was configured.
	Proxy *url.URL

	// RateLimit and RateBurst bound the requests this session sends. Default 20/s, burst 5.
	RateLimit rate.Limit
	RateBurst int
	// RequestTimeout bounds each HTTP request (the caller's context may be shorter). Default 30s.
	RequestTimeout time.Duration
	// DialTimeout bounds connecting and the TLS handshake. Default 10s.
	DialTimeout time.Duration
	// KeepAlive is how often an idle session pings /api/test/access so the server keeps the authenticated
	// connection. Default 20s; negative disables pinging.
	KeepAlive time.Duration
	// MaxRetries is how many times a call is repeated after a rate limit (retcode 12) or, for calls that are safe
	// to repeat, a transport failure. Default 4; negative means no retries.
	MaxRetries int
	// RetryBackoff is the first retry's delay; each further retry doubles it (capped at 5s). Default 250ms.
	RetryBackoff time.Duration

	// SwapFreeGroups maps each standard group to its swap-free twin (same currency, swaps disabled), e.g.
	// `real\standard` -> `real\standard-sf`. SetSwapFree moves accounts between the two.
	SwapFreeGroups map[string]string
	// IdempotencyWindow is how far back a balance operation looks for an earlier deal carrying its operation id.
	// A retry with the same id after this window could move money again. Default 7 days.
	IdempotencyWindow time.Duration
	// TimeZone is the trade server's time zone as an IANA name, e.g. "Europe/Nicosia", "EET" or "Asia/Tokyo" (ask
	// the MT5 administrator which zone and daylight-saving rule the server's clock follows). MT5 keeps every time
	// as a wall-clock reading without a zone; with the zone's rules the connector converts times on both sides of
	// a daylight-saving change exactly. Empty falls back to the offset /api/time/get reports now, which reads
	// times from before the server's last clock change an hour off.
	TimeZone string
	// TimeZoneShift is added to TimeZone's offset at every instant, for a server whose clock keeps a zone's
	// daylight-saving dates at another offset: the common "New York plus 7 hours" server (GMT+2 in winter, GMT+3
	// in summer, changing on New York's dates) is TimeZone "America/New_York" with TimeZoneShift 7h.
	TimeZoneShift time.Duration
	// ClockTTL is how long the offset from /api/time/get is trusted before it is asked again (servers on zones
	// with daylight saving change offset twice a year), and how often the clock is checked against
	// /api/time/server. Default 1h.
	ClockTTL time.Duration
	// MaxLeverage is the largest leverage accepted. Default 500.
	MaxLeverage int

	// Now is the clock for the idempotency window; default time.Now. Tests may fix it.
	Now func() time.Time
	// Logger receives the session's events; passwords and request queries never reach it. Default: discard.
	Logger *slog.Logger
}

// LogValue keeps the password out of structured logs if a Config is ever logged whole.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.Uint64("login", c.Login),
		slog.String("agent", c.Agent),
		slog.Int("build", c.Build),
		slog.String("time_zone", c.TimeZone),
	)
}

// String keeps the password out of fmt output.
func (c Config) String() string {
	return fmt.Sprintf("mt5.Config{Addr:%s Login:%d Agent:%s Build:%d Password:[redacted]}", c.Addr, c.Login, c.Agent, c.Build)
}

// GoString keeps the password out of %#v.
func (c Config) GoString() string { return c.String() }

func (c Config) withDefaults() Config {
	if c.Agent == "" {
		c.Agent = DefaultAgent
	}
	if c.Build == 0 {
		c.Build = DefaultBuild
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateBurst == 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.IdempotencyWindow == 0 {
		c.IdempotencyWindow = DefaultIdempotencyWindow
	}
	if c.ClockTTL == 0 {
		c.ClockTTL = DefaultClockTTL
	}
	if c.MaxLeverage == 0 {
		c.MaxLeverage = DefaultMaxLeverage
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("mt5: Addr %q must be host:port: %w", c.Addr, err)
	}
	if c.Login == 0 {
		return fmt.Errorf("mt5: manager Login is required")
	}
	if c.Password == "" {
		return fmt.Errorf("mt5: manager Password is required")
	}
	if strings.ContainsAny(c.Agent, " \t\r\n") {
		return fmt.Errorf("mt5: Agent %q must not contain spaces", c.Agent)
	}
	if c.Build < 484 {
		return fmt.Errorf("mt5: Build %d is below 484, the oldest Web API client version", c.Build)
	}
	if c.RequestTimeout < 0 || c.DialTimeout < 0 || c.RetryBackoff < 0 || c.IdempotencyWindow < 0 || c.ClockTTL < 0 {
		return fmt.Errorf("mt5: durations must not be negative")
	}
	for std, sf := range c.SwapFreeGroups {
		if std == "" || sf == "" || std == sf {
			return fmt.Errorf("mt5: swap-free twin of %q is %q: both must be set and differ", std, sf)
		}
		if _, twin := c.SwapFreeGroups[sf]; twin {
			return fmt.Errorf("mt5: %q is both a swap-free twin and a standard group", sf)
		}
	}
	return nil
}

// Connector is one MT5 manager session. It is safe for concurrent use; calls are serialised over the session's
// single connection, which is what the server allows anyway.
type Connector struct {
	cfg       Config
	hash      [md5.Size]byte // MD5(MD5(UTF-16LE(password)) || "WebAPI"): all the handshake needs
	base      string
	transport *http.Transport
	client    *http.Client
	limiter   *rate.Limiter
	log       *slog.Logger
	// standardOf is SwapFreeGroups reversed: twin -> standard group.
	standardOf map[string]string
	// zone is Config.TimeZone loaded, shifted by Config.TimeZoneShift; without a zone (nil) times convert with the
	// offset from /api/time/get.
	zone  *time.Location
	shift time.Duration

	mu       sync.Mutex // held for a whole request, including any re-authentication it triggers
	authed   bool       // the session's connection has completed the handshake
	closed   bool
	lastUsed time.Time

	clockMu    sync.Mutex
	clock      serverClock
	clockKnown bool
	clockAt    time.Time

	groupsMu sync.Mutex
	groups   map[string]groupRecord

	opLocks keyedLock // one balance operation per OperationID at a time
	// afterCheck, when set by a test, runs between a balance operation's check and its send.
	afterCheck func()

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ trading.Connector = (*Connector)(nil)

// New prepares a session; it does not connect until the first call.
func New(cfg Config) (*Connector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	zone, err := loadZone(cfg.TimeZone, cfg.TimeZoneShift)
	if err != nil {
		return nil, err
	}
	c := &Connector{
		zone:       zone,
		shift:      cfg.TimeZoneShift,
		cfg:        cfg,
		hash:       passwordHash(cfg.Password),
		base:       "https://" + cfg.Addr,
		limiter:    rate.NewLimiter(cfg.RateLimit, cfg.RateBurst),
		log:        cfg.Logger.With(slog.String("platform", string(trading.PlatformMT5)), slog.String("server", cfg.Addr), slog.Uint64("manager", cfg.Login)),
		standardOf: make(map[string]string, len(cfg.SwapFreeGroups)),
		groups:     make(map[string]groupRecord),
	}
	c.cfg.Password = "" // only the hash is needed from here on; a heap dump then holds no plain password
	for std, sf := range cfg.SwapFreeGroups {
		c.standardOf[sf] = std
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tlsConf = cfg.TLS.Clone()
		if tlsConf.MinVersion == 0 {
			tlsConf.MinVersion = tls.VersionTLS12
		}
	}
	tlsConf.NextProtos = []string{"http/1.1"}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	c.transport = &http.Transport{
		// The server binds the login to the TCP connection, so the session must be exactly one connection:
		// MaxConnsPerHost=1 makes a second concurrent request wait for it instead of dialing an unauthenticated one.
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		MaxIdleConns:        1,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: cfg.DialTimeout,
		// HTTP/2 would multiplex on one connection but the Web API speaks HTTP/1.1; an empty map turns h2 off.
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
		ResponseHeaderTimeout: cfg.RequestTimeout,
	}
	if cfg.Proxy != nil {
		c.transport.Proxy = http.ProxyURL(cfg.Proxy)
	}
	c.client = &http.Client{
		Transport: c.transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect would leave the authenticated connection
		},
	}
	if cfg.KeepAlive > 0 {
		c.stop = make(chan struct{})
		c.done = make(chan struct{})
		go c.keepAlive(cfg.KeepAlive)
	}
	return c, nil
}

// loadZone loads the TimeZone setting from the machine's time-zone database (or one embedded in the binary with
// time/tzdata). "Local" is refused: it would be the BrokerDesk machine's zone, not the trade server's.
func loadZone(name string, shift time.Duration) (*time.Location, error) {
	if name == "" {
		if shift != 0 {
			return nil, fmt.Errorf("mt5: TimeZoneShift is added to a TimeZone, and none is set")
		}
		return nil, nil
	}
	if name == "Local" {
		return nil, fmt.Errorf("mt5: TimeZone %q would be this machine's zone: name the trade server's, e.g. Europe/Nicosia", name)
	}
	zone, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("mt5: TimeZone %q is not a time zone this machine knows (an IANA name such as Europe/Nicosia): %w", name, err)
	}
	// The shifted zone must still be a possible clock: whole minutes, within a real zone's distance from UTC.
	clk := serverClock{zone: zone, offset: shift}
	year := time.Now().Year()
	for _, t := range []time.Time{time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(year, 7, 1, 0, 0, 0, 0, time.UTC)} {
		if off := clk.offsetAt(t); off%time.Minute != 0 || off < -maxZoneOffset || off > maxZoneOffset {
			return nil, fmt.Errorf("mt5: TimeZone %q shifted by %v is %v from UTC, which no server clock is", name, shift, off)
		}
	}
	return zone, nil
}

// zoneClock is the configured time zone's clock; its zone is nil without one.
func (c *Connector) zoneClock() serverClock {
	if c.zone == nil {
		return serverClock{}
	}
	return serverClock{zone: c.zone, offset: c.shift}
}

// zoneName names the TimeZone setting, shift included; "" without one.
func (c *Connector) zoneName() string {
	switch {
	case c.zone == nil:
		return ""
	case c.shift == 0:
		return c.zone.String()
	case c.shift > 0:
		return c.zone.String() + "+" + c.shift.String()
	default:
		return c.zone.String() + c.shift.String()
	}
}

// passwordHash is the Web API's password digest: MD5 over the UTF-16LE password, then MD5 of that digest
// followed by the ASCII bytes "WebAPI", all in raw bytes.
func passwordHash(password string) [md5.Size]byte {
	units := utf16.Encode([]rune(password))
	le := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(le[2*i:], u)
	}
	h1 := md5.Sum(le)
	return md5.Sum(append(h1[:], "WebAPI"...))
}

// Capabilities says how MT5 does what platforms disagree on.
func (c *Connector) Capabilities() trading.Capabilities {
	return trading.Capabilities{
		Platform:          trading.PlatformMT5,
		SwapFree:          trading.SwapFreeByGroup,
		LeverageByGroup:   false,
		CurrencyFixed:     true,
		NativeIdempotency: false,
		MaxDealWindow:     0,
		MaxLeverage:       c.cfg.MaxLeverage,
	}
}

// Close stops the keep-alive, waits for a call in flight and closes the session's connection.
func (c *Connector) Close() error {
	c.closeOnce.Do(func() {
		if c.stop != nil {
			close(c.stop)
			<-c.done
		}
		c.mu.Lock()
		c.closed = true
		c.authed = false
		c.mu.Unlock()
		c.transport.CloseIdleConnections()
		c.log.Info("mt5 manager session closed")
	})
	return nil
}
