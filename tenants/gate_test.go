package tenants_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestScopeOfOneTenantCannotReadAnotherTenantsTableEvenSchemaQualified(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	a, b := p.NewTenant(t, "main"), p.NewTenant(t, "main") // same cluster: the wall is the role, not the distance
	ctx := context.Background()
	insertClient(t, p, b, "victim@b.example")

	err := p.Gate.Scope(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
		var n int
		return tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{b.Schema, "clients"}.Sanitize()).Scan(&n)
	})
	if pgCode(err) != "42501" { // insufficient_privilege
		t.Fatalf("reading %s.clients from %s's scope: got %v, want permission denied (42501)", b.Schema, a.Slug, err)
	}
	err = p.Gate.Scope(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT count(*) FROM platform.tenants`)
		return err
	})
	if pgCode(err) != "42501" {
		t.Fatalf("reading platform.tenants from a tenant scope: got %v, want permission denied (42501)", err)
	}
	// Unqualified names resolve to the scope's own schema only.
	err = p.Gate.Scope(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM clients WHERE email = 'victim@b.example'`).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("tenant %s sees %d of %s's clients", a.Slug, n, b.Slug)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestQueryOutsideAnyScopeFailsInsteadOfReadingSomeSchema(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	p.NewTenant(t, "")
	_, err := p.Clusters.Platform().Exec(context.Background(), `SELECT count(*) FROM clients`)
	if pgCode(err) != "42P01" { // undefined_table: the pool's search_path is empty
		t.Fatalf("unscoped query: got %v, want undefined table (42P01)", err)
	}
}

func TestScopeLeavesNoRoleOrSearchPathOnTheConnection(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	a := p.NewTenant(t, "main")
	ctx := context.Background()
	for _, outcome := range []error{nil, errors.New("handler failed")} {
		err := p.Gate.Scope(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
			var role, path string
			if err := tx.QueryRow(ctx, `SELECT current_user, current_setting('search_path')`).Scan(&role, &path); err != nil {
				return err
			}
			// set_config keeps the search_path as given: the schema's quoted identifier.
			if want := (pgx.Identifier{a.Schema}).Sanitize(); role != a.Role || path != want {
				t.Errorf("inside scope: role %q search_path %q, want %q and %q", role, path, a.Role, want)
			}
			return outcome
		})
		if !errors.Is(err, outcome) {
			t.Fatalf("scope returned %v, want %v", err, outcome)
		}
		// Every connection in the pool must be back to the login role and an empty search_path.
		pool := p.Clusters.Platform()
		conns, _ := pool.Acquire(ctx)
		var role, path string
		if err := conns.QueryRow(ctx, `SELECT current_user, current_setting('search_path')`).Scan(&role, &path); err != nil {
			t.Fatal(err)
		}
		conns.Release()
		if role == a.Role || path != "" {
			t.Fatalf("after scope (outcome %v): role %q, search_path %q leaked to the pool", outcome, role, path)
		}
	}
}

func insertClient(t *testing.T, p *tenanttest.Platform, ten tenants.Tenant, email string) {
	t.Helper()
	err := p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status)
			VALUES (gen_random_uuid(), $1, 'Test', 'Client', 'GB', 'registered')`, email)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadRowReadsInOneScopeAndCannotReachAnotherTenant(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	a, b := p.NewTenant(t, "main"), p.NewTenant(t, "main")
	ctx := context.Background()
	insertClient(t, p, a, "mine@a.example")
	insertClient(t, p, b, "theirs@b.example")

	var email string
	if err := p.Gate.ReadRow(ctx, a, `SELECT email FROM clients WHERE email LIKE $1`, []any{"%@a.example"}, &email); err != nil || email != "mine@a.example" {
		t.Fatalf("own row: %q, %v", email, err)
	}
	if err := p.Gate.ReadRow(ctx, a, `SELECT email FROM clients WHERE email = $1`, []any{"theirs@b.example"}, &email); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("another tenant's row by unqualified name: %v, want ErrNoRows", err)
	}
	var n int
	err := p.Gate.ReadRow(ctx, a, `SELECT count(*) FROM `+pgx.Identifier{b.Schema, "clients"}.Sanitize(), nil, &n)
	if pgCode(err) != "42501" {
		t.Fatalf("schema-qualified read of %s from %s: %v, want permission denied", b.Schema, a.Slug, err)
	}
	if err := p.Gate.ReadRow(ctx, a, `INSERT INTO clients (id, email, first_name, last_name, country, status)
		VALUES (gen_random_uuid(), 'w@a.example', 'W', 'X', 'GB', 'registered') RETURNING email`, nil, &email); pgCode(err) != "25006" {
		t.Fatalf("a write through ReadRow: %v, want read-only transaction (25006)", err)
	}
	// After failures, every pooled connection is idle, back to the login role and an empty search_path.
	pool := p.Clusters.Platform()
	for i := 0; i < 4; i++ {
		var role, path string
		if err := pool.QueryRow(ctx, `SELECT current_user, current_setting('search_path')`).Scan(&role, &path); err != nil {
			t.Fatalf("connection after a failed ReadRow: %v", err)
		}
		if role == a.Role || path != "" {
			t.Fatalf("after ReadRow: role %q, search_path %q leaked to the pool", role, path)
		}
	}
}

func TestReadRowScansAsRowsScanDoes(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	a := p.NewTenant(t, "main")
	ctx := context.Background()
	insertClient(t, p, a, "scan@a.example")

	var email string
	var id uuid.UUID
	if err := p.Gate.ReadRow(ctx, a, `SELECT id, email FROM clients WHERE email = $1`, []any{"scan@a.example"}, nil, &email); err != nil || email != "scan@a.example" {
		t.Fatalf("a nil destination skips its column: %q, %v", email, err)
	}
	if err := p.Gate.ReadRow(ctx, a, `SELECT id, email FROM clients WHERE email = $1`, []any{"scan@a.example"}, &id); err == nil {
		t.Fatal("two columns into one destination: no error")
	}
	var argErr pgx.ScanArgError
	if err := p.Gate.ReadRow(ctx, a, `SELECT id, NULL::text FROM clients WHERE email = $1`, []any{"scan@a.example"}, &id, &email); !errors.As(err, &argErr) || argErr.ColumnIndex != 1 {
		t.Fatalf("NULL into a string: %v, want a ScanArgError for column 1", err)
	}
	if err := p.Gate.ReadRow(ctx, a, `SELECT id FROM clients WHERE email = $1`, []any{42}, &id); err == nil {
		t.Fatal("an argument of the wrong type: no error")
	}
	if err := p.Gate.ReadRow(ctx, a, `SELECT id FROM clients WHERE email = $1`, []any{"scan@a.example"}, &id); err != nil || id == uuid.Nil {
		t.Fatalf("after the failures above the connection still reads: %v, %v", id, err)
	}
}
