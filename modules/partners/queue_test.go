package partners

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/brokerdesk/brokerdesk/migrations"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// The engine's batches and changes and two batch posters run at once; when all is done every row with money was
// posted exactly once: each partner's wallet holds what its rows add up to, every write is posted, and the
// batches posted as many rows as there are rows with money.
func TestTheEngineAndThePostersRunTogetherAndEveryRowReachesItsWalletOnce(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	ctx := context.Background()
	accts := []tradingdesk.DealAccount{tr.acct}
	for i, code := range []string{"IB-BRAVO", "IB-ATLAS", "IB-CHARLIE"} {
		c := tr.client(t, fmt.Sprintf("Client %d", i))
		tr.register(t, c, code, tr.registered)
		accts = append(accts, tr.account(c, fmt.Sprintf("50020%d", i)))
	}
	at := time.Now().Add(-time.Minute)
	const engines, batches, perBatch = 2, 8, 15
	var done atomic.Bool
	errs := make(chan error, engines+2)
	var engineWG, posterWG sync.WaitGroup
	for e := range engines {
		engineWG.Add(1)
		go func() {
			defer engineWG.Done()
			for b := range batches {
				var ds []events.Delivery[tradingdesk.DealClosed]
				for i := range perBatch {
					ds = append(ds, events.Delivery[tradingdesk.DealClosed]{Meta: meta(time.Now()), Event: tradingdesk.DealClosed{
						DealAccount: accts[i%len(accts)], Deal: closing(fmt.Sprintf("q%d-%d-%d", e, b, i), "EURUSD", "1.5", at)}})
				}
				if err := tr.p.Gate.Scope(ctx, tr.ten, func(ctx context.Context, tx pgx.Tx) error {
					return tr.svc.onDealsClosed(ctx, tx, tr.ten, ds)
				}); err != nil {
					errs <- err
					return
				}
				// The batch's first deal cancelled: its reversals are a write of their own.
				first := ds[0].Event
				if err := tr.p.Gate.Scope(ctx, tr.ten, func(ctx context.Context, tx pgx.Tx) error {
					return tr.svc.onDealChanged(ctx, tx, tr.ten, meta(time.Now()), tradingdesk.DealChanged{DealAccount: first.DealAccount,
						Change: tradingdesk.DealCancelled, Before: first.Deal})
				}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var postedByPosters atomic.Int64
	for range 2 {
		posterWG.Add(1)
		go func() {
			defer posterWG.Done()
			for !done.Load() {
				n, err := tr.svc.PostEarnings(ctx, tr.ten)
				if err != nil {
					errs <- err
					return
				}
				postedByPosters.Add(int64(n))
			}
		}()
	}
	engineWG.Wait()
	done.Store(true)
	posterWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := tr.post(t)
	var moneyRows, inWrites, due, batchRows int64
	tr.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM partner_commissions WHERE kind <> 'nothing'),
			(SELECT count(*) FROM partner_commissions c JOIN partner_commission_writes w ON w.id = c.write_id AND c.id BETWEEN w.first_id AND w.last_id),
			(SELECT count(*) FROM partner_commission_writes WHERE batch_id IS NULL),
			(SELECT coalesce(sum(rows_posted), 0) FROM partner_batches)`).Scan(&moneyRows, &inWrites, &due, &batchRows)
	})
	if moneyRows <= engines*batches*perBatch { // a deal pays one to three levels, and each batch reverses one
		t.Fatalf("%d rows with money", moneyRows)
	}
	if inWrites != moneyRows || due != 0 || batchRows != moneyRows || postedByPosters.Load()+int64(last) != moneyRows {
		t.Fatalf("%d rows with money, %d in writes, %d writes due, batches posted %d rows, posters said %d+%d",
			moneyRows, inWrites, due, batchRows, postedByPosters.Load(), last)
	}
	for _, p := range []uuid.UUID{tr.atlas, tr.bravo, tr.charlie} {
		var sum int64
		tr.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM partner_commissions WHERE partner_id = $1`, p).Scan(&sum)
		})
		if got, earned := tr.wallet(t, p), tr.earned(t, p); got != sum || earned != sum || sum == 0 {
			t.Errorf("partner %s: wallet %d, earned %d, rows %d", p, got, earned, sum)
		}
	}
}

// Commission rows name partners and plans without foreign keys (migration 0036): what stands in for them is that a
// partner, a plan or a plan version is never deleted and its key never changes. And a write of the poster's queue
// is marked posted once.
func TestPartnersAndPlansStayForeverAndAPostedWriteStaysPosted(t *testing.T) {
	t.Parallel()
	tr := threeLevels(t)
	tr.closed(t, tr.acct, closing("7001", "EURUSD", "1", time.Now().Add(-time.Minute)), time.Now())
	tr.post(t)
	for _, stmt := range []string{
		`DELETE FROM partners WHERE id = '` + tr.charlie.String() + `'`,
		`TRUNCATE partners CASCADE`,
		`DELETE FROM partner_plans WHERE id = '` + tr.plan.ID.String() + `'`,
		`TRUNCATE partner_plans CASCADE`,
		`DELETE FROM partner_plan_versions`,
		`TRUNCATE partner_plan_versions`,
		`UPDATE partners SET id = gen_random_uuid() WHERE id = '` + tr.charlie.String() + `'`,
		`UPDATE partner_plans SET id = gen_random_uuid()`,
		`UPDATE partner_plan_versions SET version = version + 10`,
		`UPDATE partner_commission_writes SET batch_id = gen_random_uuid(), posted_at = now()`,
		`UPDATE partner_commission_writes SET row_count = row_count + 1`,
		`DELETE FROM partner_commission_writes`,
		`DELETE FROM partner_commissions`,
		`UPDATE partner_commissions SET amount = amount + 1`,
	} {
		err := tr.p.Gate.Scope(context.Background(), tr.ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, stmt)
			return err
		})
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != "42501" {
			t.Errorf("%s: %v, want refused (42501)", stmt, err)
		}
	}
	if rows := tr.rows(t, CommissionFilter{Ticket: "7001"}); len(rows) != 3 || rows[0].Posted == nil {
		t.Fatalf("rows after the refusals: %+v", rows)
	}
}

// Migration 0036 turns the postings of existing rows into writes: one posted write per poster batch (its time kept)
// and one due write for the rows not yet posted, so the posted sums, Earned and the next batch stay exact. Run on a
// schema of its own, migrated to 0033 and given rows in every state, in a transaction rolled back at the end.
func TestMigration0036TurnsPostingsIntoWrites(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	ctx := context.Background()
	pool, err := p.Clusters.Pool(p.NewTenant(t, "").Cluster)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // nothing of it stays
	schema := "m0036_" + tenanttest.RandomLabel(8)
	set := migrations.Tenant()
	var upToBefore []migrations.Migration
	for _, m := range set.Migrations {
		if m.Version <= 35 {
			upToBefore = append(upToBefore, m)
		}
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE SCHEMA ` + schema)
	exec(`SELECT set_config('search_path', $1, true)`, schema)
	if _, err := (migrations.Set{Name: set.Name, Migrations: upToBefore}).Apply(ctx, tx, "schema_migrations"); err != nil {
		t.Fatal(err)
	}
	// Partners b1 and b2; rows 1-10 paid 100 x i alternately to b2 and b1 (row 7 paid nothing), and a row of no one.
	// Batch c1 posted rows 1-4, batch c2 rows 5, 6 and 8; rows 9 and 10 wait.
	exec(`INSERT INTO partner_plans (id, name, currency) VALUES ('00000000-0000-0000-0000-0000000000a1', 'P', 'USD')`)
	exec(`INSERT INTO partners (id, name, status, plan_id) VALUES ('00000000-0000-0000-0000-0000000000b1', 'B1', 'active', '00000000-0000-0000-0000-0000000000a1'),
		('00000000-0000-0000-0000-0000000000b2', 'B2', 'active', '00000000-0000-0000-0000-0000000000a1')`)
	exec(`INSERT INTO partner_commissions (source, server_id, ticket, level, partner_id, plan_id, plan_version, kind, amount, currency, deal_time, reason)
		SELECT 'deal', gen_random_uuid(), 't' || i, 1, ('00000000-0000-0000-0000-0000000000b' || (1 + i % 2))::uuid, '00000000-0000-0000-0000-0000000000a1', 1,
			CASE WHEN i = 7 THEN 'nothing' ELSE 'paid' END, CASE WHEN i = 7 THEN 0 ELSE 100 * i END, 'USD', now(), CASE WHEN i = 7 THEN 'level_not_paid' ELSE '' END
		FROM generate_series(1, 10) i ORDER BY i`)
	exec(`INSERT INTO partner_commissions (source, server_id, ticket, level, kind, amount, deal_time, reason)
		VALUES ('deal', gen_random_uuid(), 'x', 0, 'nothing', 0, now(), 'account_unknown')`)
	exec(`INSERT INTO partner_commission_postings (commission_id) SELECT id FROM partner_commissions WHERE kind <> 'nothing'`)
	exec(`UPDATE partner_commission_postings SET batch_id = '00000000-0000-0000-0000-0000000000c1', posted_at = '2026-12-01'
		WHERE commission_id IN (SELECT id FROM partner_commissions WHERE ticket IN ('t1', 't2', 't3', 't4'))`)
	exec(`UPDATE partner_commission_postings SET batch_id = '00000000-0000-0000-0000-0000000000c2', posted_at = '2026-12-02'
		WHERE commission_id IN (SELECT id FROM partner_commissions WHERE ticket IN ('t5', 't6', 't8'))`)
	if _, err := set.Apply(ctx, tx, "schema_migrations"); err != nil {
		t.Fatal(err)
	}
	type write struct {
		rows   int
		posted string
	}
	got := map[string]write{} // by the tickets of its rows
	rows, err := tx.Query(ctx, `SELECT string_agg(c.ticket, ',' ORDER BY c.id), w.row_count, coalesce(w.posted_at::date::text, '')
		FROM partner_commission_writes w JOIN partner_commissions c ON c.write_id = w.id AND c.id BETWEEN w.first_id AND w.last_id
		GROUP BY w.id`)
	if err != nil {
		t.Fatal(err)
	}
	var tickets string
	var wr write
	if _, err := pgx.ForEachRow(rows, []any{&tickets, &wr.rows, &wr.posted}, func() error { got[tickets] = wr; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]write{"t1,t2,t3,t4": {4, "2026-12-01"}, "t5,t6,t8": {3, "2026-12-02"}, "t9,t10": {2, ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("writes %v, want %v", got, want)
	}
	// Earned (posted sums and the due write's rows) is every row's sum; posting the due write moves the sums to it.
	earned := func(partner string) (sum, rows int64) {
		t.Helper()
		if err := tx.QueryRow(ctx, `SELECT (SELECT sum(sum) FROM (`+earnedSQL+`) e), (SELECT sum(amount) FROM partner_commissions WHERE partner_id = $1)`,
			partner).Scan(&sum, &rows); err != nil {
			t.Fatal(err)
		}
		return sum, rows
	}
	for _, b := range []string{"00000000-0000-0000-0000-0000000000b1", "00000000-0000-0000-0000-0000000000b2"} {
		if sum, rows := earned(b); sum != rows {
			t.Errorf("%s: earned %d, rows %d", b, sum, rows)
		}
	}
	exec(`UPDATE partner_commission_writes SET batch_id = gen_random_uuid(), posted_at = now() WHERE batch_id IS NULL`)
	var posted, all int64
	if err := tx.QueryRow(ctx, `SELECT (SELECT sum(amount) FROM partner_posted_sums), (SELECT sum(amount) FROM partner_commissions)`).Scan(&posted, &all); err != nil {
		t.Fatal(err)
	}
	if posted != all || all != 4800 {
		t.Fatalf("posted sums %d, rows %d, want 4800", posted, all)
	}
}
