package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/brokerdesk/brokerdesk/infra/logging"
)

// HeaderRequestID carries the request id in both directions.
const HeaderRequestID = "X-Request-ID"

// Options configure New.
type Options struct {
	Log     *slog.Logger
	Metrics *Metrics // request metrics, shared by every app of a process; nil: not recorded
	Pages   *Pages   // renders HTML error pages for browsers; nil: problem+json only
	// ReadTimeout/WriteTimeout/IdleTimeout bound connections (Fiber's shutdown does not close idle keep-alives).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// TrustedProxies are the load balancers whose X-Forwarded-For is believed (BD_TRUSTED_PROXIES). Empty: the
	// client is the TCP peer and the header is ignored.
	TrustedProxies []netip.Prefix
	// BodyLimit bounds the request body of every route that declares no limit of its own (default
	// DefaultMaxBody, 1 MiB); larger ones get 413 while being read, before the handler runs.
	BodyLimit int
	// BodyLimits are the routes' own limits (Route.BodyLimit, recorded by API.SetBodyLimits); nil: none.
	BodyLimits *BodyLimits
	// BodyReaders bounds the bodies being read at once (default DefaultBodyReaders); BodyWait is how long a request
	// waits for a reader before it gets 503 (default 2 s).
	BodyReaders int
	BodyWait    time.Duration
	// StreamRoutes read their bodies as streams, unbuffered and not bounded by BodyLimit (see bodyGuard).
	StreamRoutes []StreamRoute
}

// New returns a Fiber app with BrokerDesk's error handler and middleware installed.
func New(o Options) *fiber.App {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = DefaultMaxBody
	}
	if o.BodyReaders <= 0 {
		o.BodyReaders = DefaultBodyReaders()
	}
	if o.BodyWait <= 0 {
		o.BodyWait = 2 * time.Second
	}
	cfg := fiber.Config{
		AppName:               "brokerdesk",
		DisableStartupMessage: true,
		// Strings from the Ctx are reused after a handler returns; Immutable copies them so none can leak into
		// a later request through a goroutine or a cache.
		Immutable:    true,
		ReadTimeout:  o.ReadTimeout,
		WriteTimeout: o.WriteTimeout,
		IdleTimeout:  o.IdleTimeout,
		BodyLimit:    max(o.BodyLimit, DefaultBodyLimit), // what fasthttp itself accepts; bodyGuard applies the routes' limits
		// An over-long head is refused by the server (web.Server: ReadBufferSize, 431 problem+json).
		ReadBufferSize: ReadBufferSize,
		// Bodies arrive as streams, so an upload can go to the blob store as it is received instead of being
		// held whole in memory; bodyGuard buffers (and limits) the body of every other route as before. Multipart
		// forms are not pre-parsed (that would read a whole upload before the handler).
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		ErrorHandler:                 errorHandler(o.Log, o.Pages),
	}
	if len(o.TrustedProxies) > 0 {
		cfg.ProxyHeader = fiber.HeaderXForwardedFor
		cfg.EnableTrustedProxyCheck = true
		for _, p := range o.TrustedProxies {
			cfg.TrustedProxies = append(cfg.TrustedProxies, p.String())
		}
	}
	app := fiber.New(cfg)
	if len(o.TrustedProxies) > 0 {
		app.Use(forwardedFor(o.TrustedProxies))
	}
	app.Use(requestID(), accessLog(o.Log), recoverer(o.Log))
	if o.Metrics != nil {
		app.Use(o.Metrics.middleware)
	}
	// The edge, before any handler: the head (query size, text of path and query), then the body (each route's
	// limit, enforced while reading, a bounded number read at once), then the text of url-encoded forms.
	app.Use(headGuard(), bodyGuard(o.BodyLimit, o.BodyLimits, &bodyReaders{slots: make(chan struct{}, o.BodyReaders), wait: o.BodyWait},
		&bodyReaders{slots: make(chan struct{}, LargeBodyReaders()), wait: o.BodyWait}, o.StreamRoutes), formGuard())
	return app
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// requestID accepts a well-formed incoming X-Request-ID (from the load balancer) or makes one, echoes it, and puts
// it in the request's context for logs.
func requestID() fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := c.Get(HeaderRequestID)
		if !validRequestID.MatchString(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(HeaderRequestID, id)
		c.Locals("request_id", id)
		c.SetUserContext(logging.WithRequestID(c.UserContext(), id))
		return c.Next()
	}
}

// recoverer turns a panic into an internal error (logged with its stack by the error handler's caller).
func recoverer(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(c.UserContext(), "panic in handler", "panic", fmt.Sprint(r), "path", c.Path())
				err = errors.New("panic")
			}
		}()
		return c.Next()
	}
}

func accessLog(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		if err != nil {
			// Let the error handler write the response now, so the status we log is the one sent.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
			err = nil
		}
		// One line per request, so it is built by hand: typed attributes (no boxing into interfaces), nothing
		// formatted when info is off, and no caller lookup (Logger.LogAttrs walks the stack for a source position
		// this handler never prints).
		ctx, h := c.UserContext(), log.Handler()
		if h.Enabled(ctx, slog.LevelInfo) {
			end := time.Now()
			r := slog.NewRecord(end, slog.LevelInfo, "http request", 0)
			r.AddAttrs(slog.String("method", c.Method()), slog.String("host", Host(c)), slog.String("path", c.Path()),
				slog.Int("status", c.Response().StatusCode()), slog.Int64("duration_ms", end.Sub(start).Milliseconds()),
				slog.String("ip", c.IP()))
			_ = h.Handle(ctx, r) // as Logger does: a log line that cannot be written does not fail the request
		}
		return err
	}
}

// Metrics records HTTP request durations by route pattern, method and status.
type Metrics struct {
	requests *prometheus.HistogramVec
}

// NewMetrics registers the HTTP metrics on reg.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "brokerdesk_http_request_duration_seconds",
		Help:    "HTTP requests by route pattern, method and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method", "status"})}
	reg.MustRegister(m.requests)
	return m
}

func (m *Metrics) middleware(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	// The route pattern, not the path: ids in paths would explode the label set.
	m.requests.WithLabelValues(c.Route().Path, c.Method(), strconv.Itoa(c.Response().StatusCode())).Observe(time.Since(start).Seconds())
	return err
}

func errorHandler(log *slog.Logger, pages *Pages) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		p, internal := toProblem(err)
		if internal {
			log.ErrorContext(c.UserContext(), "internal error", "err", err, "method", c.Method(), "path", c.Path())
		}
		if id, ok := c.Locals("request_id").(string); ok {
			p.RequestID = id
		}
		p.Instance = c.Path()
		if p.Status == fiber.StatusServiceUnavailable && c.GetRespHeader(fiber.HeaderRetryAfter) == "" {
			c.Set(fiber.HeaderRetryAfter, "2")
		}
		c.Status(p.Status)
		if pages != nil && wantsHTML(c) {
			return pages.Error(c, p)
		}
		c.Set(fiber.HeaderContentType, "application/problem+json")
		return c.JSON(p, "application/problem+json")
	}
}

// NewRegistry returns a metrics registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Check is one readiness dependency.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Health registers /healthz (the process is up) and /readyz (every dependency answers within 2 s) on r.
func Health(r fiber.Router, checks ...Check) {
	r.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	r.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		status, code := fiber.Map{}, fiber.StatusOK
		for _, ch := range checks {
			if err := ch.Check(ctx); err != nil {
				status[ch.Name] = "unavailable"
				code = fiber.StatusServiceUnavailable
			} else {
				status[ch.Name] = "ok"
			}
		}
		return c.Status(code).JSON(fiber.Map{"status": map[bool]string{true: "ready", false: "not ready"}[code == fiber.StatusOK], "checks": status})
	})
}

// MetricsRoute registers /metrics for reg on r.
func MetricsRoute(r fiber.Router, reg *prometheus.Registry) {
	r.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
}
