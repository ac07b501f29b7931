package tenants_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/testkit"

	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestResolverMapsHostsToTenantsAndConsole(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ctx := context.Background()
	ten := p.NewTenant(t, "")
	r := tenants.NewResolver(p.Registry, "brokerdesk.test", nil)
	domain := ten.Slug + "-portal.example"
	if err := p.Registry.AddDomain(ctx, ten.ID, domain); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		host     string
		kind     tenants.HostKind
		notFound bool
	}{
		{host: ten.Slug + ".brokerdesk.test", kind: tenants.HostTenant},
		{host: ten.Slug + ".brokerdesk.test:8080", kind: tenants.HostTenant},
		{host: "  " + ten.Slug + ".BrokerDesk.Test.", kind: tenants.HostTenant},
		{host: "console.brokerdesk.test:8080", kind: tenants.HostConsole},
		{host: "nobody-here.brokerdesk.test", notFound: true},
		{host: "a.b.brokerdesk.test", notFound: true},
		{host: ten.Slug + ".other.test", notFound: true},
		{host: domain, notFound: true}, // not verified yet
		{host: "", notFound: true},
	}
	for _, c := range cases {
		res, err := r.Resolve(ctx, c.host)
		if c.notFound {
			if !errors.Is(err, tenants.ErrNotFound) {
				t.Errorf("Resolve(%q) = %v, %v; want ErrNotFound", c.host, res, err)
			}
			continue
		}
		if err != nil || res.Kind != c.kind {
			t.Errorf("Resolve(%q) = %+v, %v; want kind %v", c.host, res, err, c.kind)
		}
		if c.kind == tenants.HostTenant && res.Tenant.ID != ten.ID {
			t.Errorf("Resolve(%q) found tenant %s, want %s", c.host, res.Tenant.Slug, ten.Slug)
		}
	}
}

func TestResolverCacheIsDroppedWhenTheRegistryChanges(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := tenants.NewResolver(p.Registry, "brokerdesk.test", nil)
	go r.Listen(ctx)
	host := ten.Slug + ".brokerdesk.test"
	domain := ten.Slug + ".example"
	if err := p.Registry.AddDomain(ctx, ten.ID, domain); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(ctx, domain); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("unverified domain resolved: %v", err)
	}
	if res, _ := r.Resolve(ctx, host); res.Tenant.Status != tenants.StatusActive {
		t.Fatalf("status %s before suspension", res.Tenant.Status)
	}
	if _, err := p.Provisioner.Suspend(ctx, ten.ID, "test", tenants.System("operator:test")); err != nil {
		t.Fatal(err)
	}
	if err := p.Registry.VerifyDomain(ctx, domain); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the cached answers to change", func() bool {
		res, err := r.Resolve(ctx, host)
		if err != nil || res.Tenant.Status != tenants.StatusSuspended {
			return false
		}
		res, err = r.Resolve(ctx, domain)
		return err == nil && res.Tenant.ID == ten.ID
	})
}
