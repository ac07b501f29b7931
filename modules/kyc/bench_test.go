package kyc

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// BenchmarkQueueFirstPage100k measures the server time to the first page of the KYC queue (50 rows, with client
// and officer names) in a tenant holding 100,000 cases of 20,000 clients: through the service, the API handler and
// the page. The goal is < 100 ms; docs/benchmarks.md keeps the figures.
//
//	go test -run '^$' -bench QueueFirstPage100k -benchtime 2s ./modules/kyc/
func BenchmarkQueueFirstPage100k(b *testing.B) {
	w := newWorld(b)
	bu := w.tenant(b)
	o := bu.addOfficer(b, "Ann Lee", "compliance")
	ctx := context.Background()
	err := bu.p.Gate.Scope(ctx, bu.ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status, date_of_birth)
			SELECT gen_random_uuid(), 'client' || i || '@bench.example', 'First' || i, 'Last' || i,
				(ARRAY['DE','FR','NG','GB','JP','ES','IT','AE'])[1 + i % 8], 'kyc_submitted', date '1980-01-01' + (i % 9000)
			FROM generate_series(1, 20000) i`); err != nil {
			return err
		}
		// 100,000 cases over the last 30 days: 80% open, 15% claimed by the officer, 5% decided.
		_, err := tx.Exec(ctx, `WITH c AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM clients)
			INSERT INTO kyc_cases (id, document_id, client_id, document_type, status, opened_at, holder_id, claimed_at, decision, decided_by, decided_at)
			SELECT gen_random_uuid(), gen_random_uuid(), c.id,
				(ARRAY['passport','national_id','driving_licence','proof_of_address','selfie'])[1 + i % 5],
				s.status, now() - (i * interval '25.92 seconds'),
				CASE WHEN s.status = 'claimed' THEN $1::uuid END, CASE WHEN s.status = 'claimed' THEN now() END,
				CASE WHEN s.status = 'decided' THEN 'approved' END, CASE WHEN s.status = 'decided' THEN $1::uuid END,
				CASE WHEN s.status = 'decided' THEN now() END
			FROM generate_series(0, 99999) i
			JOIN c ON c.n = i % 20000
			CROSS JOIN LATERAL (SELECT CASE WHEN i % 20 = 0 THEN 'decided' WHEN i % 20 < 4 THEN 'claimed' ELSE 'open' END AS status) s`, o.id)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := bu.p.Gate.Scope(ctx, bu.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `ANALYZE kyc_cases; ANALYZE clients`)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var n int
	if err := bu.p.Gate.ReadRow(ctx, bu.ten, `SELECT count(*) FROM kyc_cases`, nil, &n); err != nil || n != 100000 {
		b.Fatalf("cases: %d %v", n, err)
	}
	b.Run("service", func(b *testing.B) {
		for b.Loop() {
			items, _, err := bu.kyc.List(ctx, bu.ten, Filter{}, nil, 51)
			if err != nil || len(items) != 51 {
				b.Fatalf("%d %v", len(items), err)
			}
		}
	})
	for _, q := range []struct{ name, path string }{
		{"api", "/api/v1/kyc/cases"},
		{"api-overdue-proof-of-address", "/api/v1/kyc/cases?overdue=true&type=proof_of_address"},
		{"api-held-by-me", "/api/v1/kyc/cases?holder=me"},
		{"api-decided", "/api/v1/kyc/cases?status=decided"},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				if r := do(b, bu.app, "GET", q.path, o.token, nil); r.Status != 200 {
					b.Fatalf("%d %s", r.Status, r.Body)
				}
			}
		})
	}
	b.Run("page", func(b *testing.B) {
		for b.Loop() {
			if r := page(b, bu.app, o, "GET", "/backoffice/kyc", nil); r.Status != 200 {
				b.Fatalf("%d", r.Status)
			}
		}
	})
}
