package tenants

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
)

// Gate is the only way into a tenant's schema. Scope opens a transaction on the tenant's cluster that has switched
// to the tenant's role and search_path for that transaction only (SET LOCAL), so:
//   - even a schema-qualified query for another tenant's table fails with "permission denied": the role owns
//     only its own schema, and nothing grants it another;
//   - nothing leaks to the next borrower of the connection: SET LOCAL ends with the transaction, commit or not;
//   - it costs no extra round trip: the SET LOCALs travel with BEGIN in one simple-protocol message.
type Gate struct {
	clusters *database.Clusters
}

// NewGate returns the gate over the given clusters.
func NewGate(c *database.Clusters) *Gate { return &Gate{clusters: c} }

// Scope runs fn inside t's scope and commits if fn returns nil; otherwise it rolls back and returns fn's error.
func (g *Gate) Scope(ctx context.Context, t Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return g.ScopeWith(ctx, t, pgx.TxOptions{}, fn)
}

// ScopeWith is Scope with an isolation level or read-only mode.
func (g *Gate) ScopeWith(ctx context.Context, t Tenant, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	pool, err := g.clusters.Pool(t.Cluster)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", t.Slug, err)
	}
	begin, err := beginSQL(t, opts)
	if err != nil {
		return err
	}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return fmt.Errorf("tenant %s: open scope: %w", t.Slug, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("tenant %s: commit: %w", t.Slug, err)
	}
	return nil
}

// beginSQL builds "BEGIN ...; SET LOCAL ROLE ...; SET LOCAL search_path TO ...". pgx sends a statement without
// arguments over the simple protocol, which allows several statements in one message.
func beginSQL(t Tenant, opts pgx.TxOptions) (string, error) {
	// The names come from the registry, which only ever stores SchemaName(valid slug); checking again here keeps a
	// corrupted row from becoming SQL.
	if t.Schema != SchemaName(t.Slug) || t.Role != t.Schema || ValidateSlugShape(t.Slug) != nil {
		return "", fmt.Errorf("tenant %q: inconsistent schema %q / role %q", t.Slug, t.Schema, t.Role)
	}
	begin := "BEGIN"
	if opts.IsoLevel != "" {
		begin += " ISOLATION LEVEL " + string(opts.IsoLevel)
	}
	if opts.AccessMode != "" {
		begin += " " + string(opts.AccessMode)
	}
	ident := pgx.Identifier{t.Schema}.Sanitize()
	return begin + "; SET LOCAL ROLE " + ident + "; SET LOCAL search_path TO " + ident, nil
}

// ValidateSlugShape checks only the shape of a slug, not whether it is reserved: reserved names may exist in
// the registry from before they were reserved and must stay reachable.
func ValidateSlugShape(slug string) error {
	if !slugPattern.MatchString(slug) {
		return ErrInvalidSlug
	}
	return nil
}
