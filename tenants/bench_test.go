package tenants_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// BenchmarkProvisionTenant: the time to provision one tenant end to end (role, schema, migrations, seed).
func BenchmarkProvisionTenant(b *testing.B) {
	p := tenanttest.NewPlatform(b, tenants.ProvisionerOptions{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.NewTenant(b, "main")
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/tenant")
}

// countingConn counts the writes a client makes: with pgx, one write is one round trip's request.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// BenchmarkGateOneRowRead compares a one-row read inside a tenant scope with the same read in a bare transaction,
// and reports the client's writes (round trips) per read for each.
func BenchmarkGateOneRowRead(b *testing.B) {
	p := tenanttest.NewPlatform(b, tenants.ProvisionerOptions{})
	ten := p.NewTenant(b, "main")
	ctx := context.Background()
	var id string
	err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status)
			VALUES (gen_random_uuid(), 'bench@x.example', 'B', 'C', 'GB', 'registered') RETURNING id::text`).Scan(&id)
	})
	if err != nil {
		b.Fatal(err)
	}
	var writes atomic.Int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return countingConn{c, &writes}, err
	}
	cl, err := database.Open(ctx, p.URLs[database.PlatformCluster], nil, database.PoolOptions{MaxConns: 4, DialFunc: dial})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	gate := tenants.NewGate(cl)
	qualified := `SELECT email FROM ` + pgx.Identifier{ten.Schema, "clients"}.Sanitize() + ` WHERE id = $1`
	run := func(b *testing.B, read func() error) {
		for i := 0; i < 100; i++ { // warm the statement cache
			if err := read(); err != nil {
				b.Fatal(err)
			}
		}
		writes.Store(0)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := read(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(writes.Load())/float64(b.N), "roundtrips/op")
	}
	b.Run("bare", func(b *testing.B) {
		run(b, func() error {
			return pgx.BeginFunc(ctx, cl.Platform(), func(tx pgx.Tx) error {
				var email string
				return tx.QueryRow(ctx, qualified, id).Scan(&email)
			})
		})
	})
	b.Run("bare-autocommit", func(b *testing.B) { // what pgbench -S does: no transaction block at all
		run(b, func() error {
			var email string
			return cl.Platform().QueryRow(ctx, qualified, id).Scan(&email)
		})
	})
	b.Run("scoped-readrow", func(b *testing.B) {
		run(b, func() error {
			var email string
			return gate.ReadRow(ctx, ten, `SELECT email FROM clients WHERE id = $1`, []any{id}, &email)
		})
	})
	b.Run("scoped", func(b *testing.B) {
		run(b, func() error {
			return gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
				var email string
				return tx.QueryRow(ctx, `SELECT email FROM clients WHERE id = $1`, id).Scan(&email)
			})
		})
	})
}

// BenchmarkMigrate200Tenants: migrating 200 tenants with every tenant migration pending (each schema emptied
// first), and the everyday case of 200 tenants already up to date.
func BenchmarkMigrate200Tenants(b *testing.B) {
	const n = 200
	p := tenanttest.NewPlatform(b, tenants.ProvisionerOptions{})
	ctx := context.Background()
	var list []tenants.Tenant
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t := p.NewTenant(b, "")
			mu.Lock()
			list = append(list, t)
			mu.Unlock()
		}()
	}
	wg.Wait()
	empty := func() {
		for _, t := range list {
			pool, _ := p.Clusters.Pool(t.Cluster)
			s := pgx.Identifier{t.Schema}.Sanitize()
			if _, err := pool.Exec(ctx, `DROP SCHEMA `+s+` CASCADE; CREATE SCHEMA `+s+` AUTHORIZATION `+s); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, concurrency := range []int{1, 4} {
		b.Run(fmt.Sprintf("all-pending/concurrency=%d", concurrency), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				empty()
				b.StartTimer()
				migrateAll(b, p, concurrency, n)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/200-tenants")
		})
	}
	b.Run("up-to-date/concurrency=4", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			migrateAll(b, p, 4, n)
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/200-tenants")
	})
}

func migrateAll(b *testing.B, p *tenanttest.Platform, concurrency, want int) {
	res, err := p.Migrator.MigrateAll(context.Background(), concurrency, nil)
	if err != nil {
		b.Fatal(err)
	}
	if len(res) != want {
		b.Fatalf("migrated %d tenants, want %d", len(res), want)
	}
	for _, r := range res {
		if r.Err != nil {
			b.Fatalf("%s: %v", r.Tenant.Slug, r.Err)
		}
	}
}
