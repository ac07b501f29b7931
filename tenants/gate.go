package tenants

import (
	"context"
	"errors"
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
	if !slugShaped(slug) {
		return ErrInvalidSlug
	}
	return nil
}

// pipelineScope sets the scope inside a pipelined transaction. Unlike beginSQL it takes the names as parameters,
// so its text is the same for every tenant and pgx prepares it once per connection; set_config(..., true) is
// SET LOCAL's function form and switches role with the same membership check.
//
// The pipeline needs no BEGIN or COMMIT: in the extended protocol every statement up to the Sync runs in one
// implicit transaction, which ends at the Sync (committed, or rolled back if a statement failed) and takes the
// transaction-local settings with it. transaction_read_only may be switched on at any point of a transaction.
const pipelineScope = `SELECT set_config('role', $1, true), set_config('search_path', $2, true), set_config('transaction_read_only', 'on', true)`

// ReadRow runs one read-only, single-row query in t's scope in ONE round trip: the scope and the query travel
// together as a pipeline ending in one Sync. It is for the hot reads of request handling (a user by id, a
// setting); anything that writes or reads more than one statement uses Scope. It returns pgx.ErrNoRows like
// QueryRow.Scan.
func (g *Gate) ReadRow(ctx context.Context, t Tenant, sql string, args []any, dest ...any) error {
	begin, err := beginSQL(t, pgx.TxOptions{AccessMode: pgx.ReadOnly}) // the same consistency check as Scope
	if err != nil {
		return err
	}
	pool, err := g.clusters.Pool(t.Cluster)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", t.Slug, err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("tenant %s: open scope: %w", t.Slug, err)
	}
	defer conn.Release()
	c := conn.Conn()
	// pgx pipelines a statement as it is only when it is already prepared on the connection; otherwise it would
	// prepare it before the batch, outside the scope, where the tenant's tables do not resolve. Prepare is
	// idempotent and answers from the connection's own map once done, so this costs nothing after the first time
	// a query meets a connection; that first time it is prepared inside a scoped transaction. (Postgres re-parses
	// a prepared statement when search_path changes, so one prepared statement follows every tenant's scope.)
	if _, err := c.Prepare(ctx, sql, sql); err != nil {
		if err := prepareInScope(ctx, c, begin, sql); err != nil {
			return fmt.Errorf("tenant %s: %w", t.Slug, err)
		}
	}
	b := &pgx.Batch{}
	b.Queue(pipelineScope, t.Role, pgx.Identifier{t.Schema}.Sanitize())
	b.Queue(sql, args...)
	br := c.SendBatch(ctx, b)
	_, err = br.Exec()
	var scanErr error
	if err == nil {
		scanErr = br.QueryRow().Scan(dest...)
		if scanErr != nil && !errors.Is(scanErr, pgx.ErrNoRows) {
			err = scanErr
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return scanErr
}

func prepareInScope(ctx context.Context, c *pgx.Conn, begin, sql string) error {
	tx, err := c.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Prepare(ctx, sql, sql); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
