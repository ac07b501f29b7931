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

	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
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

// Commission rows name partners and plans without foreign keys (migration 0034): what stands in for them is that a
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
