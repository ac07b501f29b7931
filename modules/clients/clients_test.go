package clients_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestDemoClientsCoverEveryStatusOnceHoweverOftenSeeded(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	ctx := context.Background()
	svc := clients.NewService(p.Gate)

	empty, err := svc.CountByStatus(ctx, ten)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range clients.Statuses {
		if n, ok := empty[st]; !ok || n != 0 {
			t.Fatalf("a new tenant counts %d (present %v) clients in %s, want 0 and present", n, ok, st)
		}
	}
	var first map[clients.Status]int
	for run := 0; run < 2; run++ {
		if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			return clients.DemoSeeder{}.Seed(ctx, tx, ten)
		}); err != nil {
			t.Fatal(err)
		}
		counts, err := svc.CountByStatus(ctx, ten)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range clients.Statuses {
			if counts[st] == 0 {
				t.Errorf("run %d: no demo client in status %s", run+1, st)
			}
		}
		if run == 0 {
			first = counts
			continue
		}
		for st, n := range counts {
			if first[st] != n {
				t.Errorf("seeding again changed %s from %d to %d", st, first[st], n)
			}
		}
	}
}
