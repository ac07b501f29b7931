package tenants

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// changedChannel is the Postgres NOTIFY channel on which every registry change is announced, so every process's
// host cache drops what it knew.
const changedChannel = "brokerdesk_tenants_changed"

// Registry is the store of platform.tenants and platform.tenant_domains. All its SQL names the platform schema.
type Registry struct {
	db *pgxpool.Pool
}

// NewRegistry returns the registry on the platform cluster's pool.
func NewRegistry(platform *pgxpool.Pool) *Registry { return &Registry{db: platform} }

const tenantColumns = `id, slug, display_name, status, status_reason, schema_name, role_name, cluster, admin_email, created_at, updated_at`

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	var status string
	err := row.Scan(&t.ID, &t.Slug, &t.DisplayName, &status, &t.StatusReason, &t.Schema, &t.Role, &t.Cluster,
		&t.AdminEmail, &t.CreatedAt, &t.UpdatedAt)
	t.Status = Status(status)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// insert records a requested tenant.
func (r *Registry) insert(ctx context.Context, t Tenant) error {
	tx, err := r.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, `INSERT INTO platform.tenants (`+tenantColumns+`)
		VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, now(), now())`,
		t.ID, t.Slug, t.DisplayName, string(StatusRequested), t.Schema, t.Role, t.Cluster, t.AdminEmail)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %q", ErrSlugTaken, t.Slug)
	}
	if err != nil {
		return fmt.Errorf("insert tenant: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, changedChannel, t.ID.String()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Get returns a tenant by id.
func (r *Registry) Get(ctx context.Context, id uuid.UUID) (Tenant, error) {
	return scanTenant(r.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM platform.tenants WHERE id = $1`, id))
}

// BySlug returns a tenant by slug.
func (r *Registry) BySlug(ctx context.Context, slug string) (Tenant, error) {
	return scanTenant(r.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM platform.tenants WHERE slug = $1`, slug))
}

// ByDomain returns the tenant owning a verified custom domain.
func (r *Registry) ByDomain(ctx context.Context, domain string) (Tenant, error) {
	return scanTenant(r.db.QueryRow(ctx, `SELECT `+prefixed("t.", tenantColumns)+`
		FROM platform.tenant_domains d JOIN platform.tenants t ON t.id = d.tenant_id
		WHERE d.domain = $1 AND d.verified_at IS NOT NULL`, strings.ToLower(domain)))
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// ListFilter narrows List.
type ListFilter struct {
	Statuses []Status // empty: every status but deleted
	Cluster  string   // empty: every cluster
}

// List returns tenants ordered by slug.
func (r *Registry) List(ctx context.Context, f ListFilter) ([]Tenant, error) {
	statuses := make([]string, 0, len(f.Statuses))
	for _, s := range f.Statuses {
		statuses = append(statuses, string(s))
	}
	rows, err := r.db.Query(ctx, `SELECT `+tenantColumns+` FROM platform.tenants
		WHERE (cardinality($1::text[]) = 0 AND status <> 'deleted' OR status = ANY($1::text[]))
		  AND ($2 = '' OR cluster = $2)
		ORDER BY slug`, statuses, f.Cluster)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Tenant, error) { return scanTenant(row) })
}

// countByCluster counts live (not deleted) tenants per cluster.
func (r *Registry) countByCluster(ctx context.Context) (map[string]int, error) {
	rows, err := r.db.Query(ctx, `SELECT cluster, count(*) FROM platform.tenants WHERE status <> 'deleted' GROUP BY cluster`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for rows.Next() {
		var c string
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		out[c] = n
	}
	return out, rows.Err()
}

// move changes a tenant's status if the transition is allowed, recording the event, in one transaction.
// move changes a tenant's status, records it in platform.tenant_events and announces it through events (nil: to
// nobody), all in one transaction.
func (r *Registry) move(ctx context.Context, events Publisher, id uuid.UUID, to Status, reason string, by Actor) (Tenant, error) {
	tx, err := r.db.Begin(ctx)
	if err != nil {
		return Tenant{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	t, err := scanTenant(tx.QueryRow(ctx, `SELECT `+tenantColumns+` FROM platform.tenants WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return Tenant{}, err
	}
	if t.Status == to {
		return t, nil // already there: a retried command is not an error
	}
	if !CanMove(t.Status, to) {
		return t, fmt.Errorf("%w: %s is %s and cannot become %s", ErrBadTransition, t.Slug, t.Status, to)
	}
	from := t.Status
	t, err = scanTenant(tx.QueryRow(ctx, `UPDATE platform.tenants SET status = $2, status_reason = $3, updated_at = now()
		WHERE id = $1 RETURNING `+tenantColumns, id, string(to), reason))
	if err != nil {
		return Tenant{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO platform.tenant_events (tenant_id, from_status, to_status, reason, actor)
		VALUES ($1, $2, $3, $4, $5)`, id, string(from), string(to), reason, by.Label); err != nil {
		return Tenant{}, err
	}
	if events != nil {
		if err := events.Publish(ctx, tx, t, StatusChanged{TenantID: id, Slug: t.Slug, From: from, To: to, Reason: reason, By: by}); err != nil {
			return Tenant{}, err
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, changedChannel, id.String()); err != nil {
		return Tenant{}, err
	}
	return t, tx.Commit(ctx)
}

// AddDomain attaches a custom domain to a tenant, unverified. Verification (DNS TXT or HTTP challenge) marks it.
func (r *Registry) AddDomain(ctx context.Context, tenantID uuid.UUID, domain string) error {
	_, err := r.db.Exec(ctx, `INSERT INTO platform.tenant_domains (domain, tenant_id) VALUES ($1, $2)`, strings.ToLower(domain), tenantID)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("%w: domain %q is already attached", ErrInvalidInput, domain)
	}
	return err
}

// VerifyDomain marks a custom domain verified and announces the change.
func (r *Registry) VerifyDomain(ctx context.Context, domain string) error {
	tx, err := r.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	tag, err := tx.Exec(ctx, `UPDATE platform.tenant_domains SET verified_at = now() WHERE domain = $1`, strings.ToLower(domain))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: domain %q", ErrNotFound, domain)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, changedChannel, domain); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// stepStarted and stepDone keep platform.provisioning_steps for operators.
func (r *Registry) stepFailed(ctx context.Context, id uuid.UUID, step string, cause error) {
	_, _ = r.db.Exec(context.WithoutCancel(ctx), `INSERT INTO platform.provisioning_steps (tenant_id, step, last_error)
		VALUES ($1, $2, $3) ON CONFLICT (tenant_id, step)
		DO UPDATE SET attempts = platform.provisioning_steps.attempts + 1, last_error = EXCLUDED.last_error`,
		id, step, cause.Error())
}

func (r *Registry) stepDone(ctx context.Context, id uuid.UUID, step string) error {
	_, err := r.db.Exec(ctx, `INSERT INTO platform.provisioning_steps (tenant_id, step, done_at)
		VALUES ($1, $2, now()) ON CONFLICT (tenant_id, step) DO UPDATE SET done_at = now(), last_error = ''`, id, step)
	return err
}

// Step is one provisioning step's record.
type Step struct {
	Name      string
	Attempts  int
	LastError string
	Done      bool
}

// Steps returns the recorded provisioning steps of a tenant.
func (r *Registry) Steps(ctx context.Context, id uuid.UUID) ([]Step, error) {
	rows, err := r.db.Query(ctx, `SELECT step, attempts, last_error, done_at IS NOT NULL FROM platform.provisioning_steps
		WHERE tenant_id = $1`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Step, error) {
		var s Step
		err := row.Scan(&s.Name, &s.Attempts, &s.LastError, &s.Done)
		return s, err
	})
}
