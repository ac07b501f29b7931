package audit_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// BenchmarkRecord appends to one tenant's chain, one append per tenant transaction (what business code does):
// "serial" from one goroutine, "parallel" from GOMAXPROCS goroutines contending for the same chain head.
func BenchmarkRecord(b *testing.B) {
	for _, name := range []string{"serial", "parallel"} {
		b.Run(name, func(b *testing.B) {
			p := tenanttest.Shared(b)
			svc := audit.NewService(p.Gate)
			ten := p.NewTenant(b, "main")
			ctx := context.Background()
			e := staffEntry(1)
			record := func() error {
				return p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error { return svc.Record(ctx, tx, e) })
			}
			b.ReportAllocs()
			b.ResetTimer()
			if name == "serial" {
				for b.Loop() {
					if err := record(); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := record(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// BenchmarkVerify walks a chain of 20,000 rows per iteration.
func BenchmarkVerify(b *testing.B) {
	const rows = 20000
	p := tenanttest.Shared(b)
	svc := audit.NewService(p.Gate)
	ten := p.NewTenant(b, "main")
	ctx := context.Background()
	if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		for i := range rows {
			if err := svc.Record(ctx, tx, staffEntry(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := svc.Verify(ctx, ten)
		if err != nil || !rep.OK() || rep.Rows != rows {
			b.Fatalf("verify: %+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
}
