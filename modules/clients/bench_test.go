package clients_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/clients"
)

// BenchmarkListFirstPage measures the back office's client list (first page of 50, newest first) in a tenant with
// 100,000 clients: unfiltered, by status, by manager, and searched by name and by email prefix.
func BenchmarkListFirstPage(b *testing.B) {
	bb := setup(b)
	ctx := context.Background()
	manager := bb.addStaff(b, "active", "sales")
	err := bb.p.Gate.Scope(ctx, bb.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status, tier, manager_id, created_at)
			SELECT gen_random_uuid(), 'client' || i || '@bench.example', 'First' || i, 'Last' || (i % 5000),
				(ARRAY['DE','GB','FR','ES','IT'])[1 + i % 5],
				(ARRAY['registered','email_verified','kyc_submitted','kyc_approved'])[1 + i % 4],
				'standard', CASE WHEN i % 10 = 0 THEN $1::uuid END, now() - make_interval(secs => i)
			FROM generate_series(1, 100000) i`, manager)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `ANALYZE clients`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	for name, f := range map[string]clients.Filter{
		"all":          {},
		"status":       {Status: clients.StatusKYCApproved},
		"manager":      {ManagerID: manager},
		"name search":  {Query: "Last4242"},
		"email prefix": {Query: "client777@"},
		"id":           {Query: uuid.NewString()},
		"country+tier": {Country: "FR", Tier: "standard"},
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bb.svc.List(ctx, bb.ten, clients.Viewer{}, f, nil, 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
