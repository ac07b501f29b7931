package bonuses

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// BenchmarkTurnover is issue 13's figure: bonus turnover updated from deal events. Each of 200 clients holds one
// open bonus whose rule asks a minimum hold (answered by the fake trades at once); each trading.deal_closed is
// delivered in its own transaction with its event_deliveries row, as the hall delivers a Later event, eight at a
// time as a worker would. events is BD_BENCH_BONUS_EVENTS (default 20,000). The turnover never meets the
// requirement, so every event is counted and none releases. It reports events per second.
func BenchmarkTurnover(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("BD_BENCH_BONUS_EVENTS")); err == nil && v > 0 {
		n = v
	}
	const workers, clientsN = 8, 200
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
		deals := make([]tradingdesk.Deal, n)
		for i := range deals {
			deals[i] = w.closingDeal(strconv.Itoa(i), "0.1", at, time.Hour)
		}
		var next atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					m := meta(at)
					if err := w.p.Gate.Scope(ctx, w.ten, func(ctx context.Context, tx pgx.Tx) error {
						if _, err := tx.Exec(ctx, `INSERT INTO event_deliveries (subscriber, event_id, event_type) VALUES ('bonuses.deal_closed', $1, $2)`,
							m.ID, tradingdesk.EventDealClosed); err != nil {
							return err
						}
						return w.svc.onDealClosed(ctx, tx, w.ten, m, tradingdesk.DealClosed{DealAccount: accts[int(i)%clientsN], Deal: deals[i]})
					}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
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
