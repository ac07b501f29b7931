package main

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/bonuses"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/kyc"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/partners"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/generic"
	"github.com/brokerdesk/brokerdesk/modules/payments/stripe"
	"github.com/brokerdesk/brokerdesk/modules/privacy"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// buildModules builds every module, each from its options, in the order their dependencies need, and keeps their
// front doors in that order. A new module is one line here, use(a, &a.<field>)(<module>.New(...)), and serve,
// worker and dev wire its routes, pages, tasks, subscriptions, seeders, demo data and personal data from its Door.
func (a *app) buildModules(sender *mail.Sender, w wiring) {
	use(a, &a.audit)(audit.NewService(a.gate), nil)
	use(a, &a.branding)(branding.NewService(a.gate), nil)
	use(a, &a.emails)(emails.NewService(emails.Options{Registry: a.registry, Brands: a.branding, From: a.cfg.SMTPFrom,
		MailerFor: a.mailerFor, TenantURL: a.tenantURL, Redis: a.redis, Log: a.log}))
	// Staff before identity: identity's demo logins are set on the staff rows staff's demo seeder writes.
	use(a, &a.staff)(staff.NewService(staff.Options{Gate: a.gate, Audit: a.audit, Mailer: sender, TenantURL: a.tenantURL,
		Actor: identity.Actor, TwoFactor: staff.TwoFactorFunc(a.staffWithTwoFactor), Log: a.log}), nil)
	use(a, &a.identity)(identity.NewService(identity.Options{Gate: a.gate, Audit: a.audit, Keys: a.cfg.JWTKeys, Issuer: a.issuer(),
		Hasher: a.hasher, Sealer: a.cfg.DataKeys, Brand: a.branding.Get, Mailer: sender, TenantURL: a.tenantURL,
		Secure: a.secure(), Log: a.log}))
	use(a, &a.clients)(clients.NewService(clients.Options{Gate: a.gate, Audit: a.audit, Portal: a.identity, Emails: a.emails,
		Events: a.events, Secure: a.secure(), Log: a.log}), nil)
	use(a, &a.documents)(documents.NewService(documents.Options{Gate: a.gate, Audit: a.audit, Clients: a.clients, Store: a.blobs,
		Emails: a.emails, Events: a.events, Portal: a.identity, MaxBytes: a.cfg.UploadMaxBytes, TenantURL: a.tenantURL, Log: a.log,
		// The portal shows a rejection's reason in the review's words for the client.
		ReasonText: func(code string) string { r, _ := kyc.ReasonFor(kyc.ReasonCode(code)); return r.Text }}))
	use(a, &a.kyc)(kyc.NewService(kyc.Options{Gate: a.gate, Audit: a.audit, Clients: a.clients, Emails: a.emails,
		Documents: a.documents, Log: a.log}))
	use(a, &a.privacy)(privacy.NewService(privacy.Options{Gate: a.gate, Clients: a.clients, Trail: a.audit, Log: a.log}), nil)
	use(a, &a.ledger)(ledger.New(ledger.Options{Gate: a.gate, Events: a.events, Log: a.log}))
	use(a, &a.payments)(payments.New(payments.Options{Gate: a.gate, Audit: a.audit, Ledger: a.ledger, Clients: a.clients,
		Emails: a.emails, Events: a.events, Portal: a.identity, Store: a.blobs, Sealer: a.cfg.DataKeys, Kinds: []payments.Kind{stripe.Kind(), generic.Kind()},
		TenantURL: a.tenantURL, Metrics: a.metrics, Sandbox: w.paymentSandbox, HTTP: w.paymentHTTP, Log: a.log}))
	use(a, &a.tradingdesk)(tradingdesk.New(tradingdesk.Options{Gate: a.gate, Tenants: a.registry, Audit: a.audit, Clients: a.clients, Emails: a.emails, Portal: a.identity,
		Events: a.events, Ledger: a.ledger, Sealer: a.cfg.DataKeys, Queue: a.queue,
		Dialer: tradingDialer{sim: w.simulator, log: a.log.With("component", "trading")}, Faults: w.simulatorFaults, Log: a.log}))
	use(a, &a.partners)(partners.New(partners.Options{Gate: a.gate, Audit: a.audit, Clients: a.clients, Ledger: a.ledger,
		Events: a.events, Portal: a.identity, Trades: partnerTrades{a}, Deposits: partnerDeposits{a}, Log: a.log}))
	// The bonus engine reads hold times through the partners engine's seam (partnerTrades), credits trading accounts
	// through the trading desk's service (bonuses.Desk), answers withdrawals' open-bonus check, forfeits on a
	// confirmed withdrawal (withdrawal.forfeit_confirmed), and announces grants, releases and forfeitures (the
	// client's emails).
	use(a, &a.bonuses)(bonuses.New(bonuses.Options{Gate: a.gate, Audit: a.audit, Clients: a.clients, Ledger: a.ledger, Events: a.events,
		Trades: partnerTrades{a}, Desk: a.tradingdesk, Emails: a.emails, Portal: a.identity, Log: a.log}))
	var demoClients withdrawals.DemoClients // the demo's withdrawals, beside payments' demo deposits (make run)
	if w.paymentSandbox != nil {
		demoClients = a.clients
	}
	use(a, &a.withdrawals)(withdrawals.New(withdrawals.Options{DemoClients: demoClients, Gate: a.gate, Audit: a.audit, Ledger: a.ledger, Clients: a.clients,
		Documents: a.documents, MoneyIn: a.payments, Payer: a.payments, Emails: a.emails, Portal: a.identity, Events: a.events,
		Bonuses: a.bonuses, Log: a.log}))
}

// staffWithTwoFactor asks identity (built after staff) which staff users have two-factor sign-in on.
func (a *app) staffWithTwoFactor(ctx context.Context, t tenants.Tenant) (map[uuid.UUID]bool, error) {
	return a.identity.StaffWithTwoFactor(ctx, t)
}

// use returns what keeps a built module in dst with its front door (or its construction error, which openApp
// reports once every module is built): use(a, &a.kyc)(kyc.NewService(...)).
func use[M frontdoor.Module](a *app, dst *M) func(M, error) {
	return func(m M, err error) {
		if err != nil {
			a.errs = append(a.errs, err)
			return
		}
		*dst = m
		a.doors = append(a.doors, m.Door())
	}
}

// wireDoors connects what every module's door declares and needs nothing of HTTP or the worker: event
// subscriptions, personal data for export and erasure, and the seeders of new tenants (with the demo brokerage's
// own when demo is set).
func (a *app) wireDoors(demo bool) []tenants.Seeder {
	var seeders, demoSeeders []tenants.Seeder
	for _, d := range a.doors {
		if d.Subscribe != nil {
			d.Subscribe(a.events)
		}
		if d.Data != nil {
			a.privacy.Register(d.Data)
		}
		if d.Trail != nil {
			d.Trail() // how the module's audit rows read, before anything reads them
		}
		seeders = append(seeders, d.Seeders...)
		demoSeeders = append(demoSeeders, d.DemoSeeders...)
	}
	if demo {
		for _, s := range demoSeeders {
			seeders = append(seeders, demoOnly{s})
		}
	}
	return seeders
}

// registerTasks adds the platform's own work (provisioning, outbox and idempotency pruning, event deliveries) and
// every module's to the worker's task table.
func (a *app) registerTasks(t *jobs.Tasks) {
	jobs.Provisioning{Provisioner: a.provisioner}.Register(t)
	jobs.OutboxPruner{Registry: a.registry, Gate: a.gate}.Register(t)
	jobs.IdempotencyPruner{Registry: a.registry, Gate: a.gate}.Register(t)
	a.events.Register(t)
	for _, d := range a.doors {
		if d.Tasks != nil {
			d.Tasks(t)
		}
	}
}

// runDemos lets every module fill the demo brokerage through its own service, after provisioning committed.
func (a *app) runDemos(ctx context.Context, demo tenants.Tenant) error {
	for _, d := range a.doors {
		if d.Demo != nil {
			if err := d.Demo(ctx, demo); err != nil {
				return err
			}
		}
	}
	return nil
}

// demoOnly runs a module's demo seeder for the demo brokerage of `make run` and for no other tenant that dev
// provisions.
type demoOnly struct{ tenants.Seeder }

func (d demoOnly) Seed(ctx context.Context, tx pgx.Tx, t tenants.Tenant) error {
	if t.Slug != DemoSlug {
		return nil
	}
	return d.Seeder.Seed(ctx, tx, t)
}
