package clients_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestDemoClientsCoverEveryStatusOnceHoweverOftenSeeded(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	ctx := context.Background()
	svc := clients.NewService(clients.Options{Gate: p.Gate})

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

func TestDemoClientsHaveHistoryEndingInTheirStatusTiersManagersAndReferrals(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ten := p.NewTenant(t, "")
	ctx := context.Background()
	err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := (staff.DemoSeeder{}).Seed(ctx, tx, ten); err != nil {
			return err
		}
		return clients.DemoSeeder{}.Seed(ctx, tx, ten)
	})
	if err != nil {
		t.Fatal(err)
	}
	var bad, unmanaged, referrals, untiered int
	err = p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM clients c WHERE c.status <> (SELECT to_status FROM client_status_history h
			WHERE h.client_id = c.id ORDER BY id DESC LIMIT 1)`).Scan(&bad); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM clients c WHERE status <> 'registered' AND (manager_id IS NULL OR NOT EXISTS
			(SELECT 1 FROM staff_users s WHERE s.id = c.manager_id AND s.roles && ARRAY['sales', 'retention']))`).Scan(&unmanaged); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM clients WHERE status <> 'registered' AND tier = ''`).Scan(&untiered); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM client_referrals`).Scan(&referrals)
	})
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 || unmanaged != 0 || untiered != 0 || referrals < 2 {
		t.Errorf("%d clients whose last history row is not their status, %d verified without a sales/retention manager, %d without a tier, %d referrals",
			bad, unmanaged, untiered, referrals)
	}
	svc := clients.NewService(clients.Options{Gate: p.Gate})
	st, err := svc.Settings(ctx, ten)
	if err != nil || len(st.Tiers) != 3 {
		t.Errorf("demo settings: %+v %v", st, err)
	}
}
