package tenants_test

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/testkit"
	"github.com/brokerdesk/brokerdesk/infra/validation"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/migrations"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestCreateRejectsDuplicateSlugWithClearError(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	_, err := p.Provisioner.Create(context.Background(), tenants.Request{Slug: ten.Slug, DisplayName: "Again", AdminEmail: "a@b.example"})
	if !errors.Is(err, tenants.ErrSlugTaken) {
		t.Fatalf("second tenant with slug %s: got %v, want ErrSlugTaken", ten.Slug, err)
	}
}

func TestCreateNamesEveryBadField(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	_, err := p.Provisioner.Create(context.Background(), tenants.Request{Slug: "www", DisplayName: " ", AdminEmail: "not an email", Cluster: "nowhere"})
	var ve *validation.Error
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a ValidationError", err)
	}
	got := map[string]bool{}
	for _, f := range ve.Fields {
		got[f.Field] = true
	}
	for _, want := range []string{"slug", "name", "admin_email", "cluster"} {
		if !got[want] {
			t.Errorf("no field error for %s in %v", want, ve.Fields)
		}
	}
}

// nameSeeder is a module's seeder as provisioning runs it: it records the tenant's name under its own settings key.
type nameSeeder struct{}

func (nameSeeder) Seed(ctx context.Context, tx pgx.Tx, t tenants.Tenant) error {
	_, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('test_seed', jsonb_build_object('name', $1::text))
		ON CONFLICT (key) DO NOTHING`, t.DisplayName)
	return err
}

var seeded = tenants.ProvisionerOptions{Seeders: []tenants.Seeder{nameSeeder{}}}

func TestProvisionedTenantHasLatestSchemaSeedAndOwnRole(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, seeded)
	ten := p.NewTenant(t, "")
	if ten.Status != tenants.StatusActive {
		t.Fatalf("status %s, want active", ten.Status)
	}
	assertTenantComplete(t, p, ten)
}

func assertTenantComplete(t *testing.T, p *tenanttest.Platform, ten tenants.Tenant) {
	t.Helper()
	err := p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		var version int
		var owner string
		if err := tx.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil {
			return err
		}
		if version != migrations.Tenant().Latest() {
			t.Errorf("tenant schema at version %d, want %d", version, migrations.Tenant().Latest())
		}
		if err := tx.QueryRow(ctx, `SELECT nspowner::regrole::text FROM pg_catalog.pg_namespace WHERE nspname = $1`, ten.Schema).Scan(&owner); err != nil {
			return err
		}
		if owner != ten.Role {
			t.Errorf("schema owned by %s, want %s", owner, ten.Role)
		}
		var seeded string
		if err := tx.QueryRow(ctx, `SELECT value->>'name' FROM settings WHERE key = 'test_seed'`).Scan(&seeded); err != nil {
			return fmt.Errorf("the seeders' row: %w", err)
		}
		if seeded != ten.DisplayName {
			t.Errorf("seeded %q, want %q", seeded, ten.DisplayName)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The child half of TestProvisioningSurvivesAKillInTheMiddle: it provisions and SIGKILLs itself after a step.
func TestProvisionChildProcess(t *testing.T) {
	id, killAfter := os.Getenv("BD_TEST_PROVISION_ID"), os.Getenv("BD_TEST_KILL_AFTER")
	if id == "" {
		t.Skip("only runs as the child of TestProvisioningSurvivesAKillInTheMiddle")
	}
	ctx := context.Background()
	extra, _ := database.ParseClusters(os.Getenv("BD_DATABASE_CLUSTERS"))
	cl, err := database.Open(ctx, os.Getenv("BD_DATABASE_URL"), extra, database.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg := tenants.NewRegistry(cl.Platform())
	prov := tenants.NewProvisioner(reg, cl, tenants.NewGate(cl), tenants.ProvisionerOptions{Seeders: seeded.Seeders, AfterStep: func(step string) {
		if step == killAfter {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}})
	_, err = prov.Provision(ctx, uuid.MustParse(id))
	t.Fatalf("provisioning finished (%v) but the child should have been killed after %s", err, killAfter)
}

func TestProvisioningSurvivesAKillInTheMiddle(t *testing.T) {
	t.Parallel()
	for _, killAfter := range []string{"role", "schema", "migrate"} {
		t.Run("killed after "+killAfter, func(t *testing.T) {
			t.Parallel()
			p := tenanttest.NewPlatform(t, seeded)
			ctx := context.Background()
			ten, err := p.Provisioner.Request(ctx, tenants.Request{Slug: "k" + tenanttest.RandomLabel(10), DisplayName: "Killed", AdminEmail: "admin@killed.example"})
			if err != nil {
				t.Fatal(err)
			}
			var extra []string
			for name, u := range p.URLs {
				if name != database.PlatformCluster {
					extra = append(extra, name+"="+u)
				}
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestProvisionChildProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "BD_TEST_PROVISION_ID="+ten.ID.String(), "BD_TEST_KILL_AFTER="+killAfter,
				"BD_DATABASE_URL="+p.URLs[database.PlatformCluster], "BD_DATABASE_CLUSTERS="+strings.Join(extra, ";"))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed: %v\n%s", err, out)
			}
			mid, err := p.Registry.Get(ctx, ten.ID)
			if err != nil {
				t.Fatal(err)
			}
			if mid.Status != tenants.StatusProvisioning {
				t.Fatalf("after the kill the tenant is %s, want provisioning", mid.Status)
			}
			// The killed child's backend may hold the provisioning lock until Postgres notices the dropped
			// connection; like the job queue, retry while it says busy.
			var done tenants.Tenant
			testkit.Eventually(t, 10*time.Second, "the dead run's lock to go", func() bool {
				done, err = p.Provisioner.Provision(ctx, ten.ID)
				return !errors.Is(err, tenants.ErrProvisioningBusy)
			})
			if err != nil {
				t.Fatalf("resumed provisioning: %v", err)
			}
			if done.Status != tenants.StatusActive {
				t.Fatalf("resumed provisioning ended %s", done.Status)
			}
			assertTenantComplete(t, p, done)
		})
	}
}

func TestNewTenantsGoToTheEmptiestClusterAndBothClustersWork(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	if len(p.Clusters.Names()) < 2 {
		t.Fatalf("want two database clusters, have %v", p.Clusters.Names())
	}
	second := p.Clusters.Names()[1]
	first := p.NewTenant(t, "main")
	placed := p.NewTenant(t, "")
	if placed.Cluster != second {
		t.Fatalf("with one tenant on main, placement chose %s, want %s", placed.Cluster, second)
	}
	third := p.NewTenant(t, "")
	if third.Cluster != "main" { // tie: the first by name order
		t.Fatalf("with one tenant on each, placement chose %s, want main", third.Cluster)
	}
	for _, ten := range []tenants.Tenant{first, placed, third} {
		insertClient(t, p, ten, "someone@"+ten.Slug+".example")
		// The schema really lives on the named cluster and nowhere else.
		for _, name := range p.Clusters.Names() {
			pool, _ := p.Clusters.Pool(name)
			var exists bool
			if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, ten.Schema).Scan(&exists); err != nil {
				t.Fatal(err)
			}
			if exists != (name == ten.Cluster) {
				t.Errorf("schema %s exists on %s: %v (tenant is on %s)", ten.Schema, name, exists, ten.Cluster)
			}
		}
	}
	results, err := p.Migrator.MigrateAll(context.Background(), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("migrate %s: %v", r.Tenant.Slug, r.Err)
		}
		if len(r.Applied) != 0 {
			t.Errorf("migrate %s applied %v to an up-to-date tenant", r.Tenant.Slug, r.Applied)
		}
		seen[r.Tenant.Cluster] = true
	}
	if len(results) != 3 || !seen["main"] || !seen[second] {
		t.Fatalf("migrate covered %d tenants on %v, want 3 on both clusters", len(results), seen)
	}
	// Each cluster got the extensions its tenants' migrations use, and each tenant's search indexes are built on them.
	for _, ten := range []tenants.Tenant{first, placed} {
		pool, _ := p.Clusters.Pool(ten.Cluster)
		for _, ext := range tenants.ClusterExtensions {
			var schema string
			if err := pool.QueryRow(context.Background(), `SELECT n.nspname FROM pg_catalog.pg_extension e
				JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1`, ext).Scan(&schema); err != nil || schema != "public" {
				t.Errorf("extension %s on cluster %s: schema %q, %v", ext, ten.Cluster, schema, err)
			}
		}
		var indexes int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_catalog.pg_indexes WHERE schemaname = $1
			AND indexname IN ('clients_name_trgm', 'clients_email_trgm')`, ten.Schema).Scan(&indexes); err != nil || indexes != 2 {
			t.Errorf("tenant %s on %s has %d of the 2 trigram indexes (%v)", ten.Slug, ten.Cluster, indexes, err)
		}
	}
}

func TestMigrateAllReportsAFailingTenantAndMigratesTheOthers(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	good1, broken, good2 := p.NewTenant(t, ""), p.NewTenant(t, ""), p.NewTenant(t, "")
	pool, _ := p.Clusters.Pool(broken.Cluster)
	if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{broken.Schema}.Sanitize()+` CASCADE`); err != nil {
		t.Fatal(err)
	}
	results, err := p.Migrator.MigrateAll(context.Background(), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		switch r.Tenant.ID {
		case broken.ID:
			if r.Err == nil {
				t.Errorf("tenant with no schema migrated without error")
			}
		case good1.ID, good2.ID:
			if r.Err != nil {
				t.Errorf("healthy tenant %s failed: %v", r.Tenant.Slug, r.Err)
			}
		}
	}
}

func TestPlatformMigrationFromTwoProcessesAtOnceAppliesOnce(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	ctx := context.Background()
	// Start from an empty platform schema again.
	if _, err := p.Clusters.Platform().Exec(ctx, `DROP SCHEMA platform CASCADE`); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			pool, err := database.OpenPool(ctx, p.URLs[database.PlatformCluster], database.PoolOptions{MaxConns: 2})
			if err != nil {
				errs <- err
				return
			}
			defer pool.Close()
			_, err = tenants.MigratePlatform(ctx, pool)
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent platform migration: %v", err)
		}
	}
	var n int
	if err := p.Clusters.Platform().QueryRow(ctx, `SELECT count(*) FROM platform.schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations.Platform().Migrations) {
		t.Fatalf("%d rows in platform.schema_migrations, want %d", n, len(migrations.Platform().Migrations))
	}
}

func TestSuspendResumeAndDeleteExportsThenDropsSchemaAndRole(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ctx := context.Background()
	ten := p.NewTenant(t, "")
	insertClient(t, p, ten, "kept@export.example")

	s, err := p.Provisioner.Suspend(ctx, ten.ID, "unpaid invoice", tenants.System("operator:test"))
	if err != nil || s.Status != tenants.StatusSuspended {
		t.Fatalf("suspend: %v, status %s", err, s.Status)
	}
	if _, err := p.Provisioner.Provision(ctx, ten.ID); err != nil {
		t.Fatalf("provision of a suspended tenant should be a no-op: %v", err)
	}
	r, err := p.Provisioner.Resume(ctx, ten.ID, "paid", tenants.System("operator:test"))
	if err != nil || r.Status != tenants.StatusActive {
		t.Fatalf("resume: %v, status %s", err, r.Status)
	}
	dir := t.TempDir()
	d, path, err := p.Provisioner.Delete(ctx, ten.ID, dir, "contract ended", tenants.System("operator:test"))
	if err != nil || d.Status != tenants.StatusDeleted {
		t.Fatalf("delete: %v, status %s", err, d.Status)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("export %q: %v", path, err)
	}
	defer zr.Close()
	var clients string
	for _, f := range zr.File {
		if f.Name == "clients.csv" {
			rc, _ := f.Open()
			b := make([]byte, 4096)
			n, _ := rc.Read(b)
			rc.Close()
			clients = string(b[:n])
		}
	}
	if !strings.Contains(clients, "kept@export.example") {
		t.Fatalf("export's clients.csv lacks the client: %q", clients)
	}
	pool, _ := p.Clusters.Pool(ten.Cluster)
	var schemas, roles int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1),
		(SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1)`, ten.Schema).Scan(&schemas, &roles); err != nil {
		t.Fatal(err)
	}
	if schemas != 0 || roles != 0 {
		t.Fatalf("after delete: %d schemas and %d roles named %s remain", schemas, roles, ten.Schema)
	}
	if _, err := p.Provisioner.Resume(ctx, ten.ID, "", tenants.System("operator:test")); !errors.Is(err, tenants.ErrBadTransition) {
		t.Fatalf("resume of a deleted tenant: %v, want ErrBadTransition", err)
	}
}
