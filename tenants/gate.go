package tenants

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/brokerdesk/brokerdesk/infra/database"
)

// Gate is the only way into a tenant's schema. Scope opens a transaction on the tenant's cluster that has switched
// to the tenant's role and search_path for that transaction only (SET LOCAL), so:
//   - even a schema-qualified query for another tenant's table fails with "permission denied": the role owns
//     only its own schema, and nothing grants it another;
//   - nothing leaks to the next borrower of the connection: SET LOCAL ends with the transaction, commit or not;
//   - it costs no round trip of its own: the transaction is a *database.Tx, whose BEGIN and setup (scopeSetup)
//     travel with its first statement, and whose writes nobody reads the answer of (database.ExecLater) travel
//     with the next statement, the last ones with COMMIT.
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
	if err := checkNames(t); err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("tenant %s: open scope: %w", t.Slug, err)
	}
	defer conn.Release() // back to the pool, or closed if the transaction could not be ended
	tx := database.Begin(conn, opts, scopeSetup, t.Role, pgx.Identifier{t.Schema}.Sanitize())
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
	if err := checkNames(t); err != nil {
		return "", err
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

// checkNames checks t's schema and role are the ones its slug maps to. The names come from the registry, which
// only ever stores SchemaName(valid slug); checking again before they become SQL keeps a corrupted row from
// becoming SQL.
func checkNames(t Tenant) error {
	if !slugShaped(t.Slug) || t.Role != t.Schema || t.Schema != SchemaName(t.Slug) {
		return fmt.Errorf("tenant %q: inconsistent schema %q / role %q", t.Slug, t.Schema, t.Role)
	}
	return nil
}

// ValidateSlugShape checks only the shape of a slug, not whether it is reserved: reserved names may exist in
// the registry from before they were reserved and must stay reachable.
func ValidateSlugShape(slug string) error {
	if !slugShaped(slug) {
		return ErrInvalidSlug
	}
	return nil
}

// scopeSetup is what SET LOCAL ROLE and SET LOCAL search_path do, in their function form (set_config(..., true)
// switches role with the same membership check), with the names as parameters so that its text is the same for
// every tenant and it is prepared once per connection.
const scopeSetup = `SELECT set_config('role', $1, true), set_config('search_path', $2, true)`

// readScope sets the scope of a ReadRow. Unlike beginSQL it takes the names as parameters, so its text is the same
// for every tenant and it is prepared once per connection; set_config(..., true) is SET LOCAL's function form and
// switches role with the same membership check.
//
// ReadRow needs no BEGIN or COMMIT: in the extended protocol every statement up to the Sync runs in one implicit
// transaction, which ends at the Sync (committed, or rolled back if a statement failed) and takes the
// transaction-local settings with it. transaction_read_only may be switched on at any point of a transaction.
const readScope = `SELECT set_config('role', $1, true), set_config('search_path', $2, true), set_config('transaction_read_only', 'on', true)`

// ReadRow runs one read-only, single-row query in t's scope in ONE round trip: the scope and the query travel
// together, Bind and Execute for each, ending in one Sync. It is for the hot reads of request handling (a user by
// id, a setting); anything that writes or reads more than one statement uses Scope. It returns pgx.ErrNoRows like
// QueryRow.Scan.
//
// It speaks to the connection through pgconn's batch (pgx's own SendBatch goes through pipeline mode, whose
// bookkeeping cost a request more allocations than the rest of the server together), and scans with the
// connection's type map, as pgx's Rows.Scan does.
func (g *Gate) ReadRow(ctx context.Context, t Tenant, sql string, args []any, dest ...any) error {
	if err := checkNames(t); err != nil { // as Scope does
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
	// A statement must be prepared on the connection before it can travel behind the scope; prepared outside a
	// scope the tenant's tables would not resolve. Prepare is idempotent and answers from the connection's own map
	// once done, so this costs nothing after the first time a query meets a connection; that first time it is
	// prepared inside a scoped transaction. (Postgres re-parses a prepared statement when search_path changes, so
	// one prepared statement follows every tenant's scope.)
	sd, err := c.Prepare(ctx, sql, sql)
	if err != nil {
		if err := prepareInScope(ctx, c, t, sql); err != nil {
			return fmt.Errorf("tenant %s: %w", t.Slug, err)
		}
		if sd, err = c.Prepare(ctx, sql, sql); err != nil {
			return fmt.Errorf("tenant %s: %w", t.Slug, err)
		}
	}
	scope, err := c.Prepare(ctx, readScope, readScope)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", t.Slug, err)
	}
	var q pgx.ExtendedQueryBuilder
	if err := q.Build(c.TypeMap(), sd, args); err != nil {
		return err
	}
	var b pgconn.Batch
	b.ExecStatement(scope, [][]byte{[]byte(t.Role), []byte(pgx.Identifier{t.Schema}.Sanitize())}, nil, nil)
	b.ExecStatement(sd, q.ParamValues, q.ParamFormats, q.ResultFormats)
	results := c.PgConn().ExecBatch(ctx, &b)
	found := false
	var scanErr error
	if results.NextResult() {
		_, err = results.ResultReader().Close() // the scope's one row
	}
	if err == nil && results.NextResult() {
		rr := results.ResultReader()
		if rr.NextRow() {
			found = true
			scanErr = scanRow(c.TypeMap(), rr.FieldDescriptions(), rr.Values(), dest)
		}
		_, err = rr.Close()
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return err
	case scanErr != nil:
		return scanErr
	case !found:
		return pgx.ErrNoRows
	}
	return nil
}

// scanRow scans one row's values into dest as pgx's Rows.Scan does: a nil destination skips its column.
func scanRow(m *pgtype.Map, fields []pgconn.FieldDescription, values [][]byte, dest []any) error {
	if len(fields) != len(dest) {
		return fmt.Errorf("number of field descriptions must equal number of destinations, got %d and %d", len(fields), len(dest))
	}
	for i, d := range dest {
		if d == nil {
			continue
		}
		if err := m.Scan(fields[i].DataTypeOID, fields[i].Format, values[i], d); err != nil {
			return pgx.ScanArgError{ColumnIndex: i, FieldName: fields[i].Name, Err: err}
		}
	}
	return nil
}

func prepareInScope(ctx context.Context, c *pgx.Conn, t Tenant, sql string) error {
	begin, err := beginSQL(t, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
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
