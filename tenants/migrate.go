package tenants

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brokerdesk/brokerdesk/migrations"
)

// platformMigrationLock is the advisory lock key that keeps two processes from migrating the platform schema at
// once; tenant schemas each lock their own key (see tenantLockKey).
const platformMigrationLock = int64(0x6272_6b64_0001) // "brkd" 1

// MigratePlatform brings the platform schema up to date. Two processes running it at once serialise on an
// advisory lock; the second finds nothing left to do.
func MigratePlatform(ctx context.Context, platform *pgxpool.Pool) ([]int, error) {
	var applied []int
	err := pgx.BeginFunc(ctx, platform, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, platformMigrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS platform`); err != nil {
			return err
		}
		var err error
		applied, err = migrations.Platform().Apply(ctx, tx, "platform.schema_migrations")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate platform schema: %w", err)
	}
	return applied, nil
}

// Migrator migrates tenant schemas, each inside its own tenant scope, so migrations run as the tenant's role and
// cannot touch anything else.
type Migrator struct {
	reg  *Registry
	gate *Gate
	// ready are the clusters whose extensions this process has made sure of.
	ready sync.Map
}

// NewMigrator returns a migrator.
func NewMigrator(reg *Registry, gate *Gate) *Migrator { return &Migrator{reg: reg, gate: gate} }

// ClusterExtensions are the Postgres extensions tenant migrations use, installed in each cluster's database (in
// schema public, whose USAGE every role has) before its tenants migrate: pg_trgm for the trigram indexes of
// substring searches. It is a trusted extension, so the application's login needs only CREATE on the database
// (on RDS the master user has it); docs/deployment.md says so.
var ClusterExtensions = []string{"pg_trgm"}

// ensureExtensions installs ClusterExtensions in cluster's database once per process, as the application's login
// (a tenant role cannot). Two processes at once take turns on an advisory lock: CREATE EXTENSION IF NOT EXISTS is
// not safe against a concurrent one.
func (m *Migrator) ensureExtensions(ctx context.Context, cluster string) error {
	if _, ok := m.ready.Load(cluster); ok {
		return nil
	}
	pool, err := m.gate.clusters.Pool(cluster)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('brokerdesk:extensions', 0))`); err != nil {
			return err
		}
		for _, e := range ClusterExtensions {
			if _, err := tx.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS `+pgx.Identifier{e}.Sanitize()+` WITH SCHEMA public`); err != nil {
				return fmt.Errorf("extension %s: %w", e, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster %s: %w", cluster, err)
	}
	m.ready.Store(cluster, true)
	return nil
}

// MigrateTenant brings one tenant's schema up to date and returns the versions it applied.
func (m *Migrator) MigrateTenant(ctx context.Context, t Tenant) ([]int, error) {
	if err := m.ensureExtensions(ctx, t.Cluster); err != nil {
		return nil, fmt.Errorf("migrate tenant %s: %w", t.Slug, err)
	}
	var applied []int
	err := m.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "brokerdesk:migrate:"+t.Schema); err != nil {
			return err
		}
		var err error
		applied, err = migrations.Tenant().Apply(ctx, tx, "schema_migrations")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate tenant %s: %w", t.Slug, err)
	}
	return applied, nil
}

// MigrateResult is one tenant's outcome.
type MigrateResult struct {
	Tenant  Tenant
	Applied []int
	Err     error
	Took    time.Duration
}

// MigrateAll migrates every active and suspended tenant on every cluster, `concurrency` at a time. A failing tenant
// does not stop the others; progress (if not nil) is called after each tenant, from one goroutine at a time.
func (m *Migrator) MigrateAll(ctx context.Context, concurrency int, progress func(done, total int, r MigrateResult)) ([]MigrateResult, error) {
	list, err := m.reg.List(ctx, ListFilter{Statuses: []Status{StatusActive, StatusSuspended}})
	if err != nil {
		return nil, err
	}
	if concurrency < 1 {
		concurrency = 1
	}
	results := make([]MigrateResult, len(list))
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				start := time.Now()
				applied, err := m.MigrateTenant(ctx, list[i])
				r := MigrateResult{Tenant: list[i], Applied: applied, Err: err, Took: time.Since(start)}
				mu.Lock()
				results[i] = r
				done++
				if progress != nil {
					progress(done, len(list), r)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range list {
		select {
		case work <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	return results, ctx.Err()
}
