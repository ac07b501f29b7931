package tradingdesk_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
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

// BenchmarkDriftCheck checks a server of 10,000 accounts against the simulator: issue 12's figure (goal under
// 60 s; ns/op is one whole check). The simulator answers in-process; the latency cases add a wait to every read of
// an account, as a platform across a network would, to show what the bounded parallelism buys. Every account is on the simulator and in the CRM with a done transfer and its
// synced balance deal, so both the settings and the money are compared; 10 accounts have their leverage changed on
// the platform before the first round (healed in it) and 5 a deposit by hand (money drift, seen again each round).
func BenchmarkDriftCheck(b *testing.B) {
	const accounts = 10_000
	for _, c := range []struct {
		parallel int
		latency  time.Duration
	}{{16, 0}, {64, 0}, {16, 5 * time.Millisecond}, {64, 5 * time.Millisecond}} {
		parallel := c.parallel
		b.Run(fmt.Sprintf("accounts=%d/parallel=%d/latency=%s", accounts, parallel, c.latency), func(b *testing.B) {
			bd := setup(b)
			if c.latency > 0 {
				bd.wrap = func(conn trading.Connector) trading.Connector { return slowReads{conn, c.latency} }
			}
			bd.svc = bd.service(b, func(o *tradingdesk.Options) { o.DriftParallel = parallel })
			srv := bd.simServer(b, "sim")
			ctx := context.Background()
			for i := range accounts {
				if _, err := bd.sim.CreateAccount(ctx, trading.NewAccount{Login: strconv.Itoa(2_000_000 + i), Group: "standard-usd", Leverage: 100,
					Currency: "USD", Password: "Tr4de!Desk"}); err != nil {
					b.Fatal(err)
				}
			}
			bd.linked(b, bd.ten, srv.ID, "2000000", "active", time.Now().Add(-time.Hour)) // the account type and a client to share
			if err := bd.p.Gate.Scope(ctx, bd.ten, func(ctx context.Context, tx pgx.Tx) error {
				for _, q := range []string{
					`INSERT INTO trading_accounts (id, client_id, server_id, account_type_id, login, currency, leverage, group_name, created_at)
						SELECT gen_random_uuid(), a.client_id, a.server_id, a.account_type_id, (2000000 + i)::text, 'USD', 100, 'standard-usd', a.created_at
						FROM trading_accounts a, generate_series(1, ` + strconv.Itoa(accounts-1) + `) i`,
					`INSERT INTO trading_transfers (id, client_id, account_id, direction, amount, currency, status, created_by, created_at, finished_at)
						SELECT gen_random_uuid(), client_id, id, 'to_account', 100000, 'USD', 'done', 'bench', now() - interval '1 hour', now() - interval '1 hour'
						FROM trading_accounts`,
					`INSERT INTO trading_deals (server_id, ticket, login, action, volume, price, profit, commission, swap, time, content_hash)
						SELECT server_id, 'b' || login, login, 'balance', 0, 0, 1000.00, 0, 0, now() - interval '1 hour', sha256(login::bytea)
						FROM trading_accounts`,
					`INSERT INTO trading_deal_cursors (server_id, login, synced_to, synced_at) SELECT server_id, login, now(), now() FROM trading_accounts`,
					`INSERT INTO trading_deals (server_id, ticket, login, action, volume, price, profit, commission, swap, time, content_hash)
						SELECT server_id, 'h' || login, login, 'balance', 0, 0, 25.00, 0, 0, now() - interval '30 minutes', sha256(('h' || login)::bytea)
						FROM trading_accounts WHERE login::int < 2000005`,
				} {
					if _, err := tx.Exec(ctx, q); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			for i := range 10 {
				if err := bd.sim.Faults.LeverageByHand(strconv.Itoa(2_000_100+i), 500); err != nil {
					b.Fatal(err)
				}
			}
			round := 0
			b.ResetTimer()
			for b.Loop() {
				round++
				c, err := bd.svc.CheckDrift(ctx, bd.ten, srv.ID)
				if err != nil {
					b.Fatal(err)
				}
				want := "10000 accounts checked, 15 drifts: 10 leverage healed, 5 balance for finance"
				if round > 1 {
					want = "10000 accounts checked, 5 drifts: 5 balance for finance"
				}
				if c.Checked != accounts || c.Summary() != want {
					b.Fatalf("round %d: %s", round, c.Summary())
				}
			}
			b.ReportMetric(float64(accounts)*float64(round)/b.Elapsed().Seconds(), "accounts/s")
		})
	}
}

// slowReads waits before every read of an account, as a platform across a network answers.
type slowReads struct {
	trading.Connector
	wait time.Duration
}

func (s slowReads) Account(ctx context.Context, login string) (trading.Account, error) {
	time.Sleep(s.wait)
	return s.Connector.Account(ctx, login)
}
