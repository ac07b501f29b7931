package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/config"
	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/bonuses"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/kyc"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/operators"
	"github.com/brokerdesk/brokerdesk/modules/partners"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/privacy"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// app is every long-lived component, wired once from the configuration.
type app struct {
	cfg         config.Config
	log         *slog.Logger
	clusters    *database.Clusters
	registry    *tenants.Registry
	gate        *tenants.Gate
	provisioner *tenants.Provisioner
	migrator    *tenants.Migrator
	resolver    *tenants.Resolver
	redis       asynq.RedisConnOpt
	queue       *asynq.Client
	// events is the hall modules meet in: every module's subscriptions, registered while wiring.
	events *events.Hall
	// blobs keeps KYC documents: the disk store (make run) or S3 (BD_BLOB_STORE); see docs/documents.md.
	blobs blob.Store
	// metrics is the process's Prometheus registry (/metrics on the internal listener).
	metrics *prometheus.Registry
	// hasher is the one argon2id hasher of the process: staff, traders and operators share its cap on hashes in
	// flight (each takes 64 MiB), so the process's peak memory is bounded once, not per module.
	hasher *auth.Hasher

	// The modules (modules.go), and their front doors in the order they were built.
	audit     *audit.Service
	branding  *branding.Service
	emails    *emails.Service
	identity  *identity.Service
	staff     *staff.Service
	clients   *clients.Service
	documents *documents.Service
	kyc       *kyc.Service
	privacy   *privacy.Service
	ledger    *ledger.Service
	payments  *payments.Service
	// tradingdesk is the trading desk: servers, account types, the worker's sessions and checks.
	tradingdesk *tradingdesk.Service
	partners    *partners.Service
	bonuses     *bonuses.Service
	// withdrawals is money out: requests held in the ledger, their checks, the finance queue.
	withdrawals *withdrawals.Service
	doors       []frontdoor.Door
	errs        []error // of building the modules
}

// wiring options that differ between `serve` and `dev`.
type wiring struct {
	demo bool // the modules' demo seeders fill the demo brokerage (DemoSlug) when it is provisioned
	// paymentSandbox is `make run`'s: the demo's gateways on stripe-mock and the local payment sandbox, and the
	// client that reaches them.
	paymentSandbox *payments.Sandbox
	paymentHTTP    *http.Client
	// simulator is `make run`'s built-in trading server, which the desk's simulator servers dial.
	simulator trading.Connector
	// simulatorFaults is the simulator's fault switch, which `make run`'s drift page uses to change an account
	// behind the CRM's back (tradingdesk.Options.Faults); nil everywhere else.
	simulatorFaults tradingdesk.Faults
	// passwordParams, when set, are the hasher's parameters instead of auth.DefaultParams: the tests' servers hash
	// cheaply, as their demo passwords are (64 MiB per login under the race detector is most of a login test's
	// time). Never set by serve or dev.
	passwordParams *auth.Params
}

// loadConfig reads the configuration and returns the process's logger on stderr, batched (logging.Buffered: one
// write per batch instead of one per access-log line); close the returned writer before exiting.
func loadConfig() (config.Config, *slog.Logger, io.Closer, error) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return cfg, nil, nil, err
	}
	out := logging.NewBuffered(os.Stderr, 0, 0)
	return cfg, logging.New(out, cfg.LogLevel), out, nil
}

// withApp loads the configuration, opens the app, runs fn and closes the app: the shape of every subcommand that
// works on a configured deployment.
func withApp(ctx context.Context, fn func(a *app) error) error {
	cfg, log, logOut, err := loadConfig()
	if err != nil {
		return err
	}
	defer logOut.Close()
	a, err := openApp(ctx, cfg, log, wiring{})
	if err != nil {
		return err
	}
	defer a.close()
	return fn(a)
}

// openApp opens the databases, Redis, the mailer, the blob store, builds every module and wires what their doors
// declare. On any error it closes what it opened.
func openApp(ctx context.Context, cfg config.Config, log *slog.Logger, w wiring) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.clusters, err = database.Open(ctx, cfg.DatabaseURL, cfg.DatabaseClusters, database.PoolOptions{MaxConns: cfg.DatabaseMaxConns}); err != nil {
		return nil, err
	}
	if a.redis, err = jobs.RedisOpt(cfg.RedisURL); err != nil {
		return nil, err
	}
	a.queue = asynq.NewClient(a.redis)
	sender, err := mail.NewSender(cfg.SMTPAddr, cfg.SMTPFrom, cfg.SMTPUsername, cfg.SMTPPassword)
	if err != nil {
		return nil, err
	}
	if a.blobs, err = blob.Open(cfg); err != nil {
		return nil, err
	}
	params := auth.DefaultParams()
	if w.passwordParams != nil {
		params = *w.passwordParams
	}
	if a.hasher, err = auth.NewHasher(params, 4); err != nil { // at most 4 x 64 MiB hashing at once
		return nil, err
	}
	a.metrics = web.NewRegistry()
	a.registry = tenants.NewRegistry(a.clusters.Platform())
	a.gate = tenants.NewGate(a.clusters)
	a.events = events.New(events.Options{Gate: a.gate})
	a.buildModules(sender, w)
	if err := errors.Join(a.errs...); err != nil {
		return nil, err
	}
	seeders := a.wireDoors(w.demo)
	// A tenant's suspension, resumption or deletion writes its platform audit row in the registry's transaction.
	operators.AuditTenantStatus(a.events, audit.NewPlatform(a.clusters.Platform()))
	if err := a.events.Err(); err != nil {
		return nil, err
	}
	a.provisioner = tenants.NewProvisioner(a.registry, a.clusters, a.gate, tenants.ProvisionerOptions{
		Seeders: seeders, Inviter: a.staff, Events: a.events, Log: log})
	a.migrator = tenants.NewMigrator(a.registry, a.gate)
	a.resolver = tenants.NewResolver(a.registry, cfg.BaseDomain, log)
	return a, nil
}

// secure: the hosts are served over https (cookies are Secure and __Host-).
func (a *app) secure() bool { return a.cfg.PublicScheme == "https" }

// mailerFor sends email from the tenant's brand name on BD_SMTP_FROM's address.
func (a *app) mailerFor(from string) (emails.Mailer, error) {
	return mail.NewSender(a.cfg.SMTPAddr, from, a.cfg.SMTPUsername, a.cfg.SMTPPassword)
}

// demoSeeders are every module's seeders of the demo brokerage (what `make run` provisions it with).
func (a *app) demoSeeders() []tenants.Seeder {
	var out []tenants.Seeder
	for _, d := range a.doors {
		out = append(out, d.DemoSeeders...)
	}
	return out
}

// tenantURL is the absolute URL of path on a tenant's own host.
func (a *app) tenantURL(t tenants.Tenant, path string) string {
	host := t.Slug + "." + a.cfg.BaseDomain
	if _, port, ok := splitPort(a.cfg.HTTPAddr); ok && a.cfg.PublicScheme == "http" && port != "80" {
		host += ":" + port
	}
	return fmt.Sprintf("%s://%s%s", a.cfg.PublicScheme, host, path)
}

// close closes what openApp opened (any part of it).
func (a *app) close() {
	if a.emails != nil {
		a.emails.Close()
	}
	if a.tradingdesk != nil {
		a.tradingdesk.Sessions().Close() // the worker's manager sessions (MT5 keeps its connection alive)
	}
	if a.queue != nil {
		a.queue.Close()
	}
	if a.clusters != nil {
		a.clusters.Close()
	}
}
