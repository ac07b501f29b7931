// Package tenanttest gives tests a real platform: Postgres clusters (and Redis, MinIO, Mailpit, stripe-mock when
// asked), a fresh platform database per test or per package, and a freshly provisioned tenant per test. Under
// `make test` the services are started once for the whole run and reached through BD_* variables; a package
// tested alone (`go test ./tenants/...`) starts what it needs itself in TestMain through Main.
package tenanttest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Main runs a package's tests, first starting the given services (Postgres with two clusters if Postgres is
// listed) unless the environment already names them. Call it from TestMain.
func Main(m *testing.M, services ...localsvc.Service) {
	os.Exit(localsvc.RunTests(m, services...))
}

// Platform is one test's platform database (on every cluster) with its registry, gate and provisioner.
type Platform struct {
	Clusters    *database.Clusters
	Registry    *tenants.Registry
	Gate        *tenants.Gate
	Provisioner *tenants.Provisioner
	Migrator    *tenants.Migrator
	// URLs of the test databases: "main" and every further cluster.
	URLs map[string]string
}

// NewPlatform creates fresh databases on every configured cluster, migrates the platform schema and wires the
// tenants services. Everything is dropped when the test ends.
func NewPlatform(t testing.TB, o tenants.ProvisionerOptions) *Platform {
	t.Helper()
	ctx := context.Background()
	mainURL := os.Getenv("BD_DATABASE_URL")
	if mainURL == "" {
		t.Fatal("BD_DATABASE_URL is not set: call tenanttest.Main from TestMain, or run under make test")
	}
	extra, err := database.ParseClusters(os.Getenv("BD_DATABASE_CLUSTERS"))
	if err != nil {
		t.Fatal(err)
	}
	name := "bdt_" + RandomLabel(12)
	urls := map[string]string{}
	urls[database.PlatformCluster] = createDatabase(t, mainURL, name)
	var clusters []database.Cluster
	for _, c := range extra {
		u := createDatabase(t, c.URL, name)
		urls[c.Name] = u
		clusters = append(clusters, database.Cluster{Name: c.Name, URL: u})
	}
	cl, err := database.Open(ctx, urls[database.PlatformCluster], clusters, database.PoolOptions{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := tenants.MigratePlatform(ctx, cl.Platform()); err != nil {
		t.Fatal(err)
	}
	reg := tenants.NewRegistry(cl.Platform())
	gate := tenants.NewGate(cl)
	return &Platform{Clusters: cl, Registry: reg, Gate: gate, Provisioner: tenants.NewProvisioner(reg, cl, gate, o),
		Migrator: tenants.NewMigrator(reg, gate), URLs: urls}
}

var (
	sharedOnce sync.Once
	shared     *Platform
)

// Shared returns one platform for the whole test binary: for tests that only need tenants of their own and never
// look at the registry as a whole.
func Shared(t testing.TB) *Platform {
	t.Helper()
	sharedOnce.Do(func() { shared = NewPlatform(noCleanup{t}, tenants.ProvisionerOptions{}) })
	if shared == nil {
		t.Fatal("shared platform failed to start")
	}
	return shared
}

// noCleanup keeps the shared platform alive past the first test that asked for it.
type noCleanup struct{ testing.TB }

func (noCleanup) Cleanup(func()) {}

// NewTenant provisions an active tenant with a random slug on the given cluster ("" lets placement choose).
func (p *Platform) NewTenant(t testing.TB, cluster string) tenants.Tenant {
	t.Helper()
	slug := "t" + RandomLabel(11)
	ten, err := p.Provisioner.Create(context.Background(), tenants.Request{Slug: slug, DisplayName: "Test " + slug,
		AdminEmail: "admin@" + slug + ".example", Cluster: cluster})
	if err != nil {
		t.Fatalf("provision tenant %s: %v", slug, err)
	}
	return ten
}

// createDatabase makes database name on the cluster at adminURL and returns its URL; it is dropped at cleanup.
func createDatabase(t testing.TB, adminURL, name string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// RandomLabel returns n random lowercase letters and digits.
func RandomLabel(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
