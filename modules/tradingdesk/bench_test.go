package tradingdesk_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// BenchmarkDealSync syncs one simulator account's whole history into a tenant (a new server each round, so every
// deal is new) and reports stored deals per second: issue 12's figure (goal >= 50,000 deals/s; the time of the
// 1,000,000-deal case is its ns/op). The history is seeded in bulk, 10,000 deals a day, as the simulator's own
// benchmark does; seeded deals close positions, so each is announced as trading.deal_closed. Without a subscriber
// (today's wiring) that costs nothing; the later-subscriber case adds one outbox row per deal, what each Later
// subscriber of the event (IB commissions, bonus turnover) will cost.
func BenchmarkDealSync(b *testing.B) {
	for _, c := range []struct {
		total      int
		subscriber bool
	}{{100_000, false}, {1_000_000, false}, {100_000, true}} {
		name := fmt.Sprintf("deals=%d", c.total)
		if c.subscriber {
			name += "/later-subscriber"
		}
		total := c.total
		b.Run(name, func(b *testing.B) {
			bd := setup(b)
			if c.subscriber {
				bd.subscribe()
			}
			ctx := context.Background()
			a, err := bd.sim.CreateAccount(ctx, trading.NewAccount{Group: "standard-usd", Leverage: 100, Password: "Tr4de!Desk"})
			if err != nil {
				b.Fatal(err)
			}
			const perDay = 10_000
			from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range total / perDay {
				day := from.Add(time.Duration(i) * 24 * time.Hour)
				if err := bd.sim.SeedDeals(a.Login, perDay, day, day.Add(24*time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
			stored, round := 0, 0
			b.ResetTimer()
			for b.Loop() {
				round++
				srv := bd.simServer(b, fmt.Sprintf("sim-%d", round))
				res, err := bd.svc.SyncAccount(ctx, bd.ten, srv.ID, a.Login)
				if err != nil {
					b.Fatal(err)
				}
				if res.New != total {
					b.Fatalf("round %d stored %d deals, want %d", round, res.New, total)
				}
				stored += res.New
			}
			b.ReportMetric(float64(stored)/b.Elapsed().Seconds(), "deals/s")
		})
	}
}

// BenchmarkWalk walks a tenant of 10,000 accounts on one server: one read of the accounts to sync, then one task
// each into Redis (ns/op is one slot's walk). Each round is a new slot, so every task is new.
func BenchmarkWalk(b *testing.B) {
	const accounts = 10_000
	bd := setup(b)
	in := bd.queue(b)
	srv := bd.simServer(b, "sim")
	ctx := context.Background()
	bd.linked(b, bd.ten, srv.ID, "1", "active", time.Now()) // the account type and a client to share
	if err := bd.p.Gate.Scope(ctx, bd.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO trading_accounts (id, client_id, server_id, account_type_id, login, currency, leverage, group_name)
			SELECT gen_random_uuid(), a.client_id, a.server_id, a.account_type_id, (1000000 + i)::text, 'USD', 100, 'standard-usd'
			FROM trading_accounts a, generate_series(2, $1) i`, accounts)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	slot := time.Now().Truncate(time.Minute)
	b.ResetTimer()
	for b.Loop() {
		slot = slot.Add(time.Minute)
		n, err := bd.svc.WalkAccounts(ctx, bd.ten, slot)
		if err != nil || n != accounts {
			b.Fatalf("the walk enqueued %d tasks (%v), want %d", n, err, accounts)
		}
	}
	b.StopTimer()
	if q, err := in.GetQueueInfo(jobs.QueueSync); err != nil || q.Pending < accounts {
		b.Fatalf("the queue holds %+v (%v)", q, err)
	}
}
