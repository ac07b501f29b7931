package tenants

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/validation"
)

// Seeder fills a freshly migrated tenant schema with a module's defaults. It runs inside the tenant's scope and must
// be idempotent (ON CONFLICT DO NOTHING or a check first): a resumed provisioning runs it again.
type Seeder interface {
	Seed(ctx context.Context, tx pgx.Tx, t Tenant) error
}

// AdminInviter invites the tenant's first administrator (creates the staff user and sends the set-password email).
// It must be idempotent: a resumed provisioning calls it again, and it must not send a second email.
type AdminInviter interface {
	InviteAdmin(ctx context.Context, t Tenant) error
}

// Provisioner walks tenants through their lifecycle: requested -> provisioning -> active | failed, then
// suspended / active / deleted. Every step is idempotent, so a run killed at any point and started again ends
// in a correct tenant.
type Provisioner struct {
	reg      *Registry
	clusters *database.Clusters
	gate     *Gate
	migrator *Migrator
	seeders  []Seeder
	inviter  AdminInviter
	events   Publisher
	log      *slog.Logger
	// afterStep, when set, is called after each completed step (tests use it to kill a run in the middle).
	afterStep func(step string)
}

// ProvisionerOptions are the Provisioner's collaborators.
type ProvisionerOptions struct {
	Seeders []Seeder
	Inviter AdminInviter // nil: no invitation step (tests of the platform alone)
	// Events announces every status change (StatusChanged) in the registry's transaction; nil: nobody is told.
	Events    Publisher
	Log       *slog.Logger
	AfterStep func(step string)
}

// NewProvisioner returns a provisioner.
func NewProvisioner(reg *Registry, clusters *database.Clusters, gate *Gate, o ProvisionerOptions) *Provisioner {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Provisioner{reg: reg, clusters: clusters, gate: gate, migrator: NewMigrator(reg, gate),
		seeders: o.Seeders, inviter: o.Inviter, events: o.Events, log: o.Log, afterStep: o.AfterStep}
}

// Request is what a new tenant needs.
type Request struct {
	Slug        string
	DisplayName string
	AdminEmail  string
	Cluster     string // empty: the cluster with the fewest live tenants
}

// validate checks a tenant request. A refusal is a *validation.Error naming every bad field, wrapped so that
// errors.Is(err, ErrInvalidInput) holds too.
func (p *Provisioner) validate(r Request) error {
	var f validation.Fields
	if err := ValidateSlug(r.Slug); err != nil {
		f.Add("slug", strings.TrimPrefix(err.Error(), ErrInvalidSlug.Error()+": "))
	}
	if n := len(strings.TrimSpace(r.DisplayName)); n == 0 || n > 120 {
		f.Add("name", "must be 1 to 120 characters")
	} else {
		f.Name("name", r.DisplayName, 0) // the brokerage's brand, shown on every page and email
	}
	if a, err := mail.ParseAddress(r.AdminEmail); err != nil || a.Address != r.AdminEmail || validation.Email(r.AdminEmail) != "" {
		f.Add("admin_email", "must be a plain email address like admin@broker.com")
	}
	if r.Cluster != "" {
		if _, err := p.clusters.Pool(r.Cluster); err != nil {
			f.Add("cluster", err.Error())
		}
	}
	if err := f.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return nil
}

// Request validates and records a new tenant in status requested, placed on a cluster. Provision does the work.
func (p *Provisioner) Request(ctx context.Context, r Request) (Tenant, error) {
	r.AdminEmail = strings.ToLower(strings.TrimSpace(r.AdminEmail))
	r.DisplayName = strings.TrimSpace(r.DisplayName)
	if err := p.validate(r); err != nil {
		return Tenant{}, err
	}
	cluster := r.Cluster
	if cluster == "" {
		var err error
		if cluster, err = p.emptiestCluster(ctx); err != nil {
			return Tenant{}, err
		}
	}
	t := Tenant{ID: uuid.New(), Slug: r.Slug, DisplayName: r.DisplayName, Status: StatusRequested,
		Schema: SchemaName(r.Slug), Role: SchemaName(r.Slug), Cluster: cluster, AdminEmail: r.AdminEmail}
	if err := p.reg.insert(ctx, t); err != nil {
		return Tenant{}, err
	}
	p.log.InfoContext(ctx, "tenant requested", "tenant", t.Slug, "cluster", t.Cluster)
	return p.reg.Get(ctx, t.ID)
}

// emptiestCluster picks the configured cluster with the fewest live tenants (ties: the first by name).
func (p *Provisioner) emptiestCluster(ctx context.Context) (string, error) {
	counts, err := p.reg.countByCluster(ctx)
	if err != nil {
		return "", err
	}
	names := p.clusters.Names()
	best := names[0]
	for _, n := range names[1:] {
		if counts[n] < counts[best] {
			best = n
		}
	}
	return best, nil
}

// Create requests and provisions a tenant synchronously (the CLI's `tenants create`).
func (p *Provisioner) Create(ctx context.Context, r Request) (Tenant, error) {
	t, err := p.Request(ctx, r)
	if err != nil {
		return Tenant{}, err
	}
	return p.Provision(ctx, t.ID)
}

type step struct {
	name string
	run  func(ctx context.Context, t Tenant) error
}

func (p *Provisioner) steps() []step {
	s := []step{
		{"role", p.createRole},
		{"schema", p.createSchema},
		{"migrate", func(ctx context.Context, t Tenant) error { _, err := p.migrator.MigrateTenant(ctx, t); return err }},
		{"seed", p.seed},
	}
	if p.inviter != nil {
		s = append(s, step{"invite_admin", p.inviter.InviteAdmin})
	}
	return s
}

// Provision runs (or resumes) a tenant's provisioning to active. It is safe to call again after any failure or
// crash, and safe to call from two processes: the second gets ErrProvisioningBusy while the first runs.
func (p *Provisioner) Provision(ctx context.Context, id uuid.UUID) (Tenant, error) {
	conn, err := p.clusters.Platform().Acquire(ctx)
	if err != nil {
		return Tenant{}, err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, "brokerdesk:provision:"+id.String()).Scan(&locked); err != nil {
		return Tenant{}, err
	}
	if !locked {
		return Tenant{}, ErrProvisioningBusy
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, "brokerdesk:provision:"+id.String()) //nolint:errcheck

	t, err := p.reg.Get(ctx, id)
	if err != nil {
		return Tenant{}, err
	}
	switch t.Status {
	case StatusActive, StatusSuspended:
		return t, nil
	case StatusDeleted:
		return t, fmt.Errorf("%w: %s is deleted", ErrBadTransition, t.Slug)
	case StatusRequested, StatusFailed:
		if t, err = p.reg.move(ctx, p.events, id, StatusProvisioning, "", System("provisioner")); err != nil {
			return t, err
		}
	}
	start := time.Now()
	for _, s := range p.steps() {
		if err := s.run(ctx, t); err != nil {
			p.reg.stepFailed(ctx, id, s.name, err)
			p.log.ErrorContext(ctx, "tenant provisioning step failed", "tenant", t.Slug, "step", s.name, "err", err)
			if _, merr := p.reg.move(context.WithoutCancel(ctx), p.events, id, StatusFailed, s.name+": "+err.Error(), System("provisioner")); merr != nil {
				return t, errors.Join(err, merr)
			}
			return t, fmt.Errorf("provision %s: step %s: %w", t.Slug, s.name, err)
		}
		if err := p.reg.stepDone(ctx, id, s.name); err != nil {
			return t, err
		}
		if p.afterStep != nil {
			p.afterStep(s.name)
		}
	}
	t, err = p.reg.move(ctx, p.events, id, StatusActive, "", System("provisioner"))
	if err != nil {
		return t, err
	}
	p.log.InfoContext(ctx, "tenant provisioned", "tenant", t.Slug, "cluster", t.Cluster, "took_ms", time.Since(start).Milliseconds())
	return t, nil
}

func (p *Provisioner) clusterExec(ctx context.Context, t Tenant, sql string) error {
	pool, err := p.clusters.Pool(t.Cluster)
	if err != nil {
		return err
	}
	_, err = pool.Exec(ctx, sql)
	return err
}

// createRole creates the tenant's NOLOGIN role and lets the application's login role switch to it.
// Names are SchemaName(valid slug): [a-z0-9_] only, so the literal below cannot be broken out of.
func (p *Provisioner) createRole(ctx context.Context, t Tenant) error {
	ident := pgx.Identifier{t.Role}.Sanitize()
	return p.clusterExec(ctx, t, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '`+t.Role+`') THEN
			CREATE ROLE `+ident+` NOLOGIN NOINHERIT;
		END IF;
		END $$;
		GRANT `+ident+` TO CURRENT_USER;`)
}

func (p *Provisioner) createSchema(ctx context.Context, t Tenant) error {
	ident := pgx.Identifier{t.Schema}.Sanitize()
	return p.clusterExec(ctx, t, `CREATE SCHEMA IF NOT EXISTS `+ident+` AUTHORIZATION `+pgx.Identifier{t.Role}.Sanitize())
}

func (p *Provisioner) seed(ctx context.Context, t Tenant) error {
	return p.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		for _, s := range p.seeders {
			if err := s.Seed(ctx, tx, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// Suspend blocks a tenant's hosts (403) without touching its data.
func (p *Provisioner) Suspend(ctx context.Context, id uuid.UUID, reason string, by Actor) (Tenant, error) {
	return p.reg.move(ctx, p.events, id, StatusSuspended, reason, by)
}

// Resume reopens a suspended tenant.
func (p *Provisioner) Resume(ctx context.Context, id uuid.UUID, reason string, by Actor) (Tenant, error) {
	return p.reg.move(ctx, p.events, id, StatusActive, reason, by)
}

// Delete exports the tenant's data to a zip in exportDir (one CSV per table), then drops its schema and role, then
// marks it deleted. The export is written and synced before anything is dropped. Safe to run again after a crash.
func (p *Provisioner) Delete(ctx context.Context, id uuid.UUID, exportDir, reason string, by Actor) (Tenant, string, error) {
	t, err := p.reg.Get(ctx, id)
	if err != nil {
		return t, "", err
	}
	if t.Status == StatusDeleted {
		return t, "", nil
	}
	if !CanMove(t.Status, StatusDeleted) {
		return t, "", fmt.Errorf("%w: %s is %s", ErrBadTransition, t.Slug, t.Status)
	}
	pool, err := p.clusters.Pool(t.Cluster)
	if err != nil {
		return t, "", err
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, t.Schema).Scan(&exists); err != nil {
		return t, "", err
	}
	var path string
	if exists {
		if path, err = p.export(ctx, t, exportDir); err != nil {
			return t, "", fmt.Errorf("export %s before delete: %w", t.Slug, err)
		}
		ident := pgx.Identifier{t.Schema}.Sanitize()
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DROP SCHEMA `+ident+` CASCADE; DROP OWNED BY `+ident+`; DROP ROLE `+ident)
			return err
		}); err != nil {
			return t, path, fmt.Errorf("drop %s: %w", t.Schema, err)
		}
	}
	t, err = p.reg.move(ctx, p.events, id, StatusDeleted, reason, by)
	return t, path, err
}

// export writes every table of the tenant's schema as CSV into one zip, reading through the tenant gate.
func (p *Provisioner) export(ctx context.Context, t Tenant, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.zip", t.Slug, time.Now().UTC().Format("20060102T150405Z")))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	err = p.gate.ScopeWith(ctx, t, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_catalog.pg_class c
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'`)
		if err != nil {
			return err
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		sort.Strings(tables)
		for _, tbl := range tables {
			w, err := zw.Create(tbl + ".csv")
			if err != nil {
				return err
			}
			if _, err := tx.Conn().PgConn().CopyTo(ctx, w, `COPY `+pgx.Identifier{tbl}.Sanitize()+` TO STDOUT WITH (FORMAT csv, HEADER)`); err != nil {
				return fmt.Errorf("export table %s: %w", tbl, err)
			}
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return path, nil
}
