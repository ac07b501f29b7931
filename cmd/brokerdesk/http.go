package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/operators"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// httpServers are the public server (tenant hosts and console) and the internal one (metrics).
type httpServers struct {
	public     *web.Server
	internal   *fiber.App
	tenant     *fiber.App     // the app behind every tenant host
	api        *web.API       // the tenant hosts' API route table
	console    *web.API       // the console's API route table
	consoleApp *fiber.App     // the app behind the console host
	pages      *web.PageTable // every page of the tenant hosts
}

func (a *app) readiness() []web.Check {
	return []web.Check{
		{Name: "database", Check: a.clusters.Ping},
		{Name: "redis", Check: func(ctx context.Context) error { return jobs.CheckRedis(ctx, a.cfg.RedisURL) }},
	}
}

func (a *app) buildHTTP() (*httpServers, error) {
	files := []fs.FS{operators.Pages}
	for _, d := range a.doors {
		if d.PageFiles != nil {
			files = append(files, d.PageFiles)
		}
	}
	pages, err := web.NewPages(files...)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry() // this server's request metrics; the modules' counters are in a.metrics
	opts := web.Options{Log: a.log, Metrics: web.NewMetrics(reg), Pages: pages, ReadTimeout: 30 * time.Second,
		TrustedProxies: a.cfg.TrustedProxies, StreamRoutes: documents.StreamRoutes(), BodyLimits: web.NewBodyLimits()}
	rdb, ok := a.redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("rate limiter: unexpected redis client type")
	}
	limiter := web.RateLimit(web.RateLimitOptions{Redis: rdb, PerIP: a.cfg.RateLimitIP, PerToken: a.cfg.RateLimitToken, Log: a.log,
		Own: []web.PrefixRate{{Prefix: payments.WebhooksPrefix, Rate: a.cfg.RateLimitWebhooks, Name: "webhooks"}}})

	// Tenant hosts: health first (load balancers probe any host), then the host gate, then the modules.
	tenantApp := web.New(opts)
	web.Health(tenantApp, a.readiness()...)
	tenantApp.Use(limiter) // before the host gate: a flood costs no registry lookups
	tenantApp.Use(tenants.HostMiddleware(a.resolver))
	a.mountBlobLinks(tenantApp)                                                   // signed document links of the disk store, for this host's tenant only
	tenantApp.Use(audit.OriginMiddleware())                                       // audit rows written while serving a request carry its IP, agent, id
	tenantApp.Use(clients.ReferralMiddleware(a.cfg.PublicScheme == "https", nil)) // ?ref= on the landing page and /portal pages
	api := web.NewAPI(tenantApp, a.identity.Authorize)                            // every non-public route: a valid token holding its permission
	api.SetBodyLimits(opts.BodyLimits)                                            // a route's own body limit, enforced by the body guard while reading
	// Route.Idempotent: first responses are kept and replayed in the tenant's schema.
	api.SetIdempotency(tenants.NewIdempotencyStore(a.gate), idempotencyPrincipal, a.log)
	web.ServeOpenAPI(api, "BrokerDesk tenant API", version)
	for _, d := range a.doors {
		if d.Routes != nil {
			d.Routes(api)
		}
	}
	if err := api.Err(); err != nil {
		return nil, err
	}
	// The back office and portal pages (cookie sessions with CSRF), each declared with its permission, on one shell
	// whose sessions are identity's.
	// A page's own body limit (Shell.Upload) goes in the table of the API routes' (opts.BodyLimits).
	shell := web.NewShell(tenantApp, web.ShellOptions{Pages: pages, Sessions: a.identity.Sessions(), Secure: a.secure(), Log: a.log,
		BodyLimits: opts.BodyLimits, Brand: func(c *fiber.Ctx) (web.Brand, error) { return a.branding.Get(c.UserContext(), tenants.Current(c)) }})
	for _, d := range a.doors {
		if d.Pages != nil {
			d.Pages(shell)
		}
	}
	if err := shell.Err(); err != nil {
		return nil, err
	}

	// The operator console: health, then operator sign-in, the console API and pages, and asynqmon (console.go);
	// nothing about tenants is served unauthenticated.
	consoleApp := web.New(opts)
	web.Health(consoleApp, a.readiness()...)
	consoleApp.Use(limiter)
	consoleAPI, err := a.mountConsole(consoleApp, pages)
	if err != nil {
		return nil, err
	}

	internal := web.New(web.Options{Log: a.log})
	web.Health(internal, a.readiness()...)
	// The process's collectors (Go runtime, process, modules) and this server's request metrics.
	internal.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(prometheus.Gatherers{a.metrics, reg}, promhttp.HandlerOpts{})))
	internal.Use(pprof.New()) // /debug/pprof: the internal listener is for operators only, never the internet

	console := tenants.ConsoleLabel + "." + a.cfg.BaseDomain
	pick := func(host string) *fiber.App {
		h, _, _ := splitPort(strings.ToLower(host))
		if h == console {
			return consoleApp
		}
		return tenantApp
	}
	return &httpServers{public: web.NewServer([]*fiber.App{tenantApp, consoleApp}, pick, opts), internal: internal,
		tenant: tenantApp, api: api, console: consoleAPI, consoleApp: consoleApp, pages: shell.Table()}, nil
}

// idempotencyPrincipal files Idempotency-Keys under the signed-in user (so a key survives a token refresh), or
// under the credential on public routes.
func idempotencyPrincipal(c *fiber.Ctx) string {
	if p, ok := identity.PrincipalOf(c); ok {
		return fmt.Sprint(p.Kind) + ":" + p.UserID.String()
	}
	return web.CredentialPrincipal(c)
}

// version is the API version in the OpenAPI document.
const version = "1.0.0"

func splitPort(hostport string) (host, port string, ok bool) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, "", false
	}
	return h, p, true
}

// serveHTTP runs both listeners until ctx ends, then shuts them down gracefully.
func (a *app) serveHTTP(ctx context.Context, s *httpServers) error {
	pub, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on BD_HTTP_ADDR %s: %w", a.cfg.HTTPAddr, err)
	}
	in, err := net.Listen("tcp", a.cfg.InternalAddr)
	if err != nil {
		pub.Close()
		return fmt.Errorf("listen on BD_INTERNAL_ADDR %s: %w", a.cfg.InternalAddr, err)
	}
	errs := make(chan error, 2)
	go func() { errs <- s.public.Serve(pub) }()
	go func() { errs <- s.internal.Listener(in) }()
	a.log.Info("http serving", "addr", a.cfg.HTTPAddr, "internal_addr", a.cfg.InternalAddr)
	select {
	case <-ctx.Done():
	case err := <-errs:
		return fmt.Errorf("http server stopped: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(s.public.Shutdown(sctx), s.internal.ShutdownWithContext(sctx))
}
