package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/blob"
	"github.com/brokerdesk/brokerdesk/infra/config"
	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/kyc"
	"github.com/brokerdesk/brokerdesk/modules/privacy"
	"github.com/brokerdesk/brokerdesk/modules/staff"
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
	audit       *audit.Service
	staff       *staff.Service
	clients     *clients.Service
	branding    *branding.Service
	emails      *emails.Service
	identity    *identity.Service
	// blobs keeps KYC documents: the disk store (make run) or S3 (BD_BLOB_STORE); see docs/documents.md.
	blobs blob.Store
	// documents keeps clients' KYC documents in blobs; its review side (Reviews) is wired once kyc is built.
	documents *documents.Service
	// privacy answers a client's export and erasure requests across clients, identity and documents.
	privacy *privacy.Service
	// kyc is the compliance review of documents (the queue, checklists, decisions, four-eyes): documents' Reviews.
	kyc *kyc.Service
	// hasher is the one argon2id hasher of the process: staff, traders and operators share its cap on hashes in
	// flight (each takes 64 MiB), so the process's peak memory is bounded once, not per module.
	hasher *auth.Hasher
}

// wiring options that differ between `serve` and `dev`.
type wiring struct {
	extraSeeders []tenants.Seeder // demo data for the dev brokerage
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

func openApp(ctx context.Context, cfg config.Config, log *slog.Logger, w wiring) (*app, error) {
	clusters, err := database.Open(ctx, cfg.DatabaseURL, cfg.DatabaseClusters, database.PoolOptions{MaxConns: cfg.DatabaseMaxConns})
	if err != nil {
		return nil, err
	}
	redisOpt, err := jobs.RedisOpt(cfg.RedisURL)
	if err != nil {
		clusters.Close()
		return nil, err
	}
	sender, err := mail.NewSender(cfg.SMTPAddr, cfg.SMTPFrom, cfg.SMTPUsername, cfg.SMTPPassword)
	if err != nil {
		clusters.Close()
		return nil, err
	}
	a := &app{cfg: cfg, log: log, clusters: clusters, redis: redisOpt, queue: asynq.NewClient(redisOpt)}
	a.registry = tenants.NewRegistry(clusters.Platform())
	a.gate = tenants.NewGate(clusters)
	a.audit = audit.NewService(a.gate)
	a.staff = staff.NewService(a.gate, a.audit, sender, a.tenantURL, log)
	a.branding = branding.NewService(a.gate)
	if a.blobs, err = blob.Open(cfg); err != nil {
		clusters.Close()
		return nil, err
	}
	if a.emails, err = emails.NewService(emails.Options{Registry: a.registry, Brands: a.branding, From: cfg.SMTPFrom,
		MailerFor: func(from string) (emails.Mailer, error) { // the tenant's brand name on BD_SMTP_FROM's address
			return mail.NewSender(cfg.SMTPAddr, from, cfg.SMTPUsername, cfg.SMTPPassword)
		}, TenantURL: a.tenantURL, Redis: a.redis, Log: log}); err != nil {
		clusters.Close()
		return nil, err
	}
	if a.hasher, err = auth.NewHasher(auth.DefaultParams(), 4); err != nil { // at most 4 x 64 MiB hashing at once
		return nil, err
	}
	if a.identity, err = newIdentity(a, sender); err != nil {
		clusters.Close()
		return nil, err
	}
	// Registration creates the portal login in its own transaction and sends the verification link by email.
	a.clients = clients.NewService(a.gate, clients.WithAudit(a.audit), clients.WithPortalUsers(a.identity),
		clients.WithEmails(a.emails), clients.WithRegistry(a.registry), clients.WithLog(log))
	if a.documents, err = documents.NewService(documents.Options{Gate: a.gate, Audit: a.audit, Clients: a.clients,
		Store: a.blobs, Emails: a.emails, MaxBytes: cfg.UploadMaxBytes, Log: log,
		// The portal shows a rejection's reason in kyc's words for the client.
		ReasonText: func(code string) string { r, _ := kyc.ReasonFor(kyc.ReasonCode(code)); return r.Text }}); err != nil {
		clusters.Close()
		return nil, err
	}
	if a.kyc, err = kyc.NewService(kyc.Options{Gate: a.gate, Audit: a.audit, Clients: a.clients, Emails: a.emails,
		Documents: a.documents, Log: log}); err != nil {
		clusters.Close()
		return nil, err
	}
	a.documents.SetReviews(a.kyc) // every upload opens its review case in the upload's transaction
	a.privacy = privacy.NewService(privacy.Options{Gate: a.gate, Clients: a.clients, Logins: a.identity, Documents: a.documents,
		Reviews: a.kyc, Blobs: a.blobs, Trail: a.audit})
	a.provisioner = tenants.NewProvisioner(a.registry, clusters, a.gate, tenants.ProvisionerOptions{
		Seeders: w.extraSeeders, Inviter: a.staff, Log: log,
	})
	a.migrator = tenants.NewMigrator(a.registry, a.gate)
	a.resolver = tenants.NewResolver(a.registry, cfg.BaseDomain, log)
	return a, nil
}

// tenantURL is the absolute URL of path on a tenant's own host.
func (a *app) tenantURL(t tenants.Tenant, path string) string {
	host := t.Slug + "." + a.cfg.BaseDomain
	if _, port, ok := splitPort(a.cfg.HTTPAddr); ok && a.cfg.PublicScheme == "http" && port != "80" {
		host += ":" + port
	}
	return fmt.Sprintf("%s://%s%s", a.cfg.PublicScheme, host, path)
}

func (a *app) close() {
	a.emails.Close()
	a.queue.Close()
	a.clusters.Close()
}

// newIdentity wires sign-in for staff and traders.
func newIdentity(a *app, sender identity.Mailer) (*identity.Service, error) {
	return identity.NewService(a.gate, a.audit, identity.Options{Keys: a.cfg.JWTKeys, Issuer: a.issuer(),
		Hasher: a.hasher, Sealer: a.cfg.DataKeys, Brand: a.branding.Get, Mailer: sender, TenantURL: a.tenantURL, Log: a.log})
}
