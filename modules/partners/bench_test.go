package partners

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// BenchmarkEngine is issue 14's figure: deals through a 5-level tree, computed (one row per level) and posted to
// the five wallets in batches. The deal_closed events are delivered as the hall delivers a LaterBatch
// subscriber's: batches of jobs.BatchMaxSize events (of 200 clients, as a tenant's pending deliveries are), each in
// its own transaction with its event_deliveries rows, two batches at a time as the sync queue's workers take them.
// deals is BD_BENCH_PARTNER_DEALS (default 20,000). It reports deals per second and the time 1,000,000 deals would
// take at that rate. BD_BENCH_PARTNER_LIVE=1 publishes partners.commission_recorded with its live push (a
// notification per batch), as the server does.
func BenchmarkEngine(b *testing.B) {
	deals := 20_000
	if v, err := strconv.Atoi(os.Getenv("BD_BENCH_PARTNER_DEALS")); err == nil && v > 0 {
		deals = v
	}
	const workers, clientsN = 2, 200
	for b.Loop() {
		w := setup(b)
		w.svc.o.BatchRows = 5000
		if os.Getenv("BD_BENCH_PARTNER_LIVE") == "1" { // as serve runs it: each batch's rows publish and notify the IB portal
			hall := events.New(events.Options{Gate: w.p.Gate})
			w.svc.o.Events = hall
			w.svc.Subscribe(hall)
		}
		ctx := context.Background()
		r := testRules()
		r.Lines[2].PerLot = per("5", "4", "3", "2", "1")
		plan := w.plan(b, "Five levels", r)
		var parent *uuid.UUID
		var last uuid.UUID
		for i := range 5 {
			id := w.partner(b, fmt.Sprintf("Level %d", 5-i), fmt.Sprintf("L%d", 5-i), &plan.ID, parent)
			parent, last = &id, id
		}
		accts := make([]tradingdesk.DealAccount, clientsN)
		for i := range accts {
			c := w.client(b, "Bench")
			w.register(b, c, "L1", time.Now().Add(-time.Hour))
			accts[i] = w.account(c, strconv.Itoa(600000+i))
		}
		at := time.Now().Add(-time.Minute)
		ds := make([]events.Delivery[tradingdesk.DealClosed], deals)
		for i := range ds {
			ds[i] = events.Delivery[tradingdesk.DealClosed]{Meta: meta(time.Now()),
				Event: tradingdesk.DealClosed{DealAccount: accts[i%clientsN], Deal: closing(strconv.Itoa(i+1), "GBPUSD.m", "0.5", at)}}
		}
		var next atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					from := int(next.Add(jobs.BatchMaxSize)) - jobs.BatchMaxSize
					if from >= deals {
						return
					}
					batch := ds[from:min(from+jobs.BatchMaxSize, deals)]
					ids := make([]uuid.UUID, len(batch))
					for i, d := range batch {
						ids[i] = d.Meta.ID
					}
					if err := w.p.Gate.Scope(ctx, w.ten, func(ctx context.Context, tx pgx.Tx) error {
						if _, err := tx.Exec(ctx, `INSERT INTO event_deliveries (subscriber, event_id, event_type)
							SELECT 'partners.deal_closed', id, $2 FROM unnest($1::uuid[]) AS id`, ids, tradingdesk.EventDealClosed); err != nil {
							return err
						}
						return w.svc.onDealsClosed(ctx, tx, w.ten, batch)
					}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		computed := time.Since(start)
		posted := w.post(b)
		total := time.Since(start)
		if posted != deals*5 {
			b.Fatalf("posted %d rows, want %d", posted, deals*5)
		}
		if got, want := w.wallet(b, last), w.earned(b, last); got != want || got == 0 {
			b.Fatalf("the top partner's wallet holds %d, its rows %d", got, want)
		}
		rate := float64(deals) / total.Seconds()
		b.ReportMetric(rate, "deals/s")
		b.ReportMetric(computed.Seconds(), "compute-s")
		b.ReportMetric(total.Seconds()-computed.Seconds(), "post-s")
		b.ReportMetric(1_000_000/rate, "s/1M-deals")
	}
}

// BenchmarkReferredClients is the partner area's referred clients list for a partner with BD_BENCH_REFERRED
// clients (default 10,000), each with a paid row at level 1: the attributions and rows in one query, the emails
// in one more (clients.EmailsTx). It reports milliseconds per list.
func BenchmarkReferredClients(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("BD_BENCH_REFERRED")); err == nil && v > 0 {
		n = v
	}
	w := setup(b)
	ctx := context.Background()
	plan := w.plan(b, "Bench plan", testRules())
	partner := w.partner(b, "Big Network", "BIG", &plan.ID, nil)
	if err := w.p.Gate.Scope(ctx, w.ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, tier)
			SELECT gen_random_uuid(), 'bench' || i || '@example.com', 'Bench', 'Client', 'GB', '+442079460958', '1990-04-25', 'kyc_approved', 'standard'
			FROM generate_series(1, $1) i`, n); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO partner_attributions (client_id, effective_from, partner_id, code, source)
			SELECT id, now() - interval '1 day', $1, 'BIG', 'registration' FROM clients WHERE email LIKE 'bench%'`, partner); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO partner_commissions (source, server_id, ticket, login, client_id, level, partner_id, plan_id, plan_version,
				kind, amount, currency, symbol, lots, deal_time)
			SELECT 'deal', $2, 'b' || row_number() OVER (), '1', id, 1, $1, $3, 1, 'paid', 700, 'USD', 'GBPJPY', 1, now() - interval '1 hour'
			FROM clients WHERE email LIKE 'bench%'`, partner, w.server, plan.ID)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	// Statistics as autovacuum would have them on a tenant that grew to this size.
	if err := w.p.Gate.Scope(ctx, w.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `ANALYZE clients, partner_attributions, partner_commissions`)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	calls := 0
	for b.Loop() {
		start := time.Now()
		list, err := w.svc.ReferredClients(ctx, w.ten, partner)
		took += time.Since(start)
		calls++
		if err != nil || len(list) != n {
			b.Fatalf("%d referred clients, %v", len(list), err)
		}
	}
	b.ReportMetric(float64(took.Milliseconds())/float64(calls), "ms/list")
}
