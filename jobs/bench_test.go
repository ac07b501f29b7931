package jobs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
)

// BenchmarkOutboxRelay measures the relay's throughput: b.N committed rows of one tenant are relayed into Redis
// (claim, enqueue, mark, batch after batch), reported as rows/s. Inserting the rows is not timed.
func BenchmarkOutboxRelay(b *testing.B) {
	bb := setupRelay(b)
	ten := bb.p.NewTenant(b, "")
	ctx := context.Background()
	for done := 0; done < b.N; {
		n := min(b.N-done, 5000)
		err := bb.p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			for i := range n {
				key := fmt.Sprintf("bench-%d", done+i)
				if _, err := (jobs.Outbox{}).Add(ctx, tx, "bench:thing", key, thing{From: ten.Slug, Key: key}, jobs.InQueue(bb.queue)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	r := bb.relay(jobs.RelayOptions{})
	b.ResetTimer()
	n, err := r.RelayTenant(ctx, ten)
	b.StopTimer()
	if err != nil || n != b.N {
		b.Fatalf("relayed %d of %d: %v", n, b.N, err)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}
