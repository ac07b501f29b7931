package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMigrateCommandCoversEveryClusterAndFailsWhenATenantFails(t *testing.T) {
	t.Parallel()
	a, _, p := startServer(t)
	ctx := context.Background()
	var made []tenants.Tenant
	for _, cluster := range a.clusters.Names() {
		ten, err := a.provisioner.Create(ctx, tenants.Request{Slug: "m" + tenanttest.RandomLabel(10), DisplayName: "M", AdminEmail: "a@m.example", Cluster: cluster})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, ten)
	}
	if len(made) < 2 {
		t.Fatalf("want tenants on two clusters, have %d cluster(s)", len(made))
	}
	var out bytes.Buffer
	if err := a.migrateAll(ctx, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	for _, ten := range made {
		if !strings.Contains(out.String(), "ok   "+ten.Slug) || !strings.Contains(out.String(), ten.Cluster) {
			t.Errorf("migrate output lacks %s on %s:\n%s", ten.Slug, ten.Cluster, out.String())
		}
	}

	broken := made[1]
	pool, _ := p.Clusters.Pool(broken.Cluster)
	if _, err := pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{broken.Schema}.Sanitize()+` CASCADE`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := a.migrateAll(ctx, &out)
	var exit exitError
	if !errors.As(err, &exit) || exit != 1 {
		t.Fatalf("migrate with a broken tenant: %v, want exit status 1", err)
	}
	if !strings.Contains(out.String(), "FAIL "+broken.Slug) || !strings.Contains(out.String(), "ok   "+made[0].Slug) || !strings.Contains(out.String(), "1 failed") {
		t.Fatalf("migrate output:\n%s", out.String())
	}
}
