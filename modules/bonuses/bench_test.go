package bonuses

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/events/eventstest"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// BenchmarkTurnover is issue 13's figure: bonus turnover updated from deal events. Each of 200 clients holds one
// open bonus whose rule asks a minimum hold (answered by the fake trades at once). The deal_closed events are
// delivered as the hall delivers a LaterBatch subscriber's: batches of jobs.BatchMaxSize events (of many clients,
// as a tenant's pending deliveries are), each in its own transaction with its event_deliveries rows, two batches
// at a time as the sync queue's workers take them. events is BD_BENCH_BONUS_EVENTS (default 20,000). The turnover
// never meets the requirement, so every event is counted and none releases. It reports events per second.
func BenchmarkTurnover(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("BD_BENCH_BONUS_EVENTS")); err == nil && v > 0 {
		n = v
	}
	const workers, clientsN = 2, 200
	for b.Loop() {
		w := setup(b)
		ctx := context.Background()
		terms := secondDeposit()
		terms.LotsPerUnit, terms.MinHoldSeconds = dec("100"), 60
		w.rule(b, "Bench", terms)
		w.advance(time.Second)
		accts := make([]tradingdesk.DealAccount, clientsN)
		clients := make([]uuid.UUID, clientsN)
		for i := range accts {
			clients[i] = w.client(b, "Bench", "GB", "standard")
			w.deposit(b, clients[i], 2, 40000)
			accts[i] = w.account(clients[i])
		}
		at := w.clock().Add(time.Minute)
		ds := make([]events.Delivery[tradingdesk.DealClosed], n)
		for i := range ds {
			ds[i] = events.Delivery[tradingdesk.DealClosed]{Meta: meta(at),
				Event: tradingdesk.DealClosed{DealAccount: accts[i%clientsN], Deal: w.closingDeal(strconv.Itoa(i), "0.1", at, time.Hour)}}
		}
		start := time.Now()
		if err := eventstest.DeliverBatches(ctx, w.p.Gate, w.ten, "bonuses.deal_closed", ds, workers, w.svc.onDealsClosed); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		total := decimal.Zero
		for _, c := range clients {
			total = total.Add(w.bonuses(b, c)[0].LotsDone)
		}
		if want := decimal.New(int64(n), -1); !total.Equal(want) {
			b.Fatalf("counted %s lots, want %s", total, want)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "events/s")
	}
}
