package partners

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// TaskPostEarnings posts one tenant's due commission rows to the partners' wallets (PostEarnings).
const TaskPostEarnings = "partners:post-earnings"

// partnersPerTx keeps a ledger transaction within its 64 postings: one currency's 63 wallets and the brokerage's
// IB commissions account.
const partnersPerTx = 63

// PostEarnings posts every due row of t to the wallets, in batches of about Options.BatchRows rows: each batch
// takes whole writes of the engine (partner_commission_writes, the queue: one per statement that inserted rows with
// money), sums their rows per partner and currency and posts the sums in ledger transactions keyed by the batch
// (partner_earnings:<batch>:<n>), in the transaction that marks the writes posted, so a row is posted exactly once.
// It returns how many rows it posted.
func (s *Service) PostEarnings(ctx context.Context, t tenants.Tenant) (int, error) {
	total := 0
	for {
		n, more, err := s.postBatch(ctx, t)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

type walletSum struct {
	partner  uuid.UUID
	currency string
	amount   int64
}

// dueWrites is how many due writes a batch looks at: it takes them in order while their rows fit Options.BatchRows
// (at least one).
const dueWrites = 1000

// postBatch posts one batch; more says whether due writes were left for the next.
//
// Exactly once, under concurrency: a write row is inserted by the statement that inserts its rows, so it is
// visible exactly when they are (both commit or neither); a due write is locked here (FOR UPDATE SKIP LOCKED: a
// concurrent poster takes others, or, once this one commits, finds it posted) and marked posted in the transaction
// that posts its rows' sums to the ledger; a posted write is never due again (a trigger refuses any later change
// of it). Each row with money names exactly one write.
func (s *Service) postBatch(ctx context.Context, t tenants.Tenant) (int, bool, error) {
	n, more := 0, false
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, row_count FROM partner_commission_writes WHERE batch_id IS NULL ORDER BY id LIMIT $1
			FOR UPDATE SKIP LOCKED`, dueWrites)
		if err != nil {
			return err
		}
		var writes []int64
		var id int64
		var size int
		if _, err := pgx.ForEachRow(rows, []any{&id, &size}, func() error {
			if len(writes) > 0 && n+size > s.o.BatchRows {
				more = true
				return nil
			}
			writes, n = append(writes, id), n+size
			return nil
		}); err != nil {
			return fmt.Errorf("partners: due writes: %w", err)
		}
		if len(writes) == dueWrites {
			more = true
		}
		if n == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT c.partner_id, c.currency, sum(c.amount)::bigint, count(*)
			FROM partner_commission_writes w CROSS JOIN LATERAL (SELECT partner_id, currency, amount FROM partner_commissions c
				WHERE c.id BETWEEN w.first_id AND w.last_id AND c.write_id = w.id OFFSET 0) c
			WHERE w.id = ANY($1) GROUP BY c.partner_id, c.currency ORDER BY c.currency, c.partner_id`, writes)
		if err != nil {
			return err
		}
		var sums []walletSum
		var w walletSum
		var count int
		found := 0
		if _, err := pgx.ForEachRow(rows, []any{&w.partner, &w.currency, &w.amount, &count}, func() error {
			found += count
			if w.amount != 0 {
				sums = append(sums, w)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("partners: due rows: %w", err)
		}
		if found != n {
			return fmt.Errorf("partners: the due writes name %d rows, %d found", n, found)
		}
		batch, err := uuid.NewV7()
		if err != nil {
			return err
		}
		var txs []uuid.UUID
		for chunk, part := range chunks(sums) {
			c, ok := money.Lookup(part[0].currency)
			if !ok {
				return fmt.Errorf("partners: unknown currency %q", part[0].currency)
			}
			var postings []ledger.Posting
			var contra int64
			for _, w := range part {
				postings = append(postings, ledger.Posting{Account: ledger.PartnerWallet(w.partner, c), Amount: w.amount})
				contra -= w.amount
			}
			if contra != 0 {
				postings = append(postings, ledger.Posting{Account: ledger.IBCommissions(c), Amount: contra})
			}
			if len(postings) < 2 {
				continue
			}
			lt, err := s.o.Ledger.PostTx(ctx, tx, ledger.Entry{Key: "partner_earnings:" + batch.String() + ":" + strconv.Itoa(chunk), Kind: "partner_earnings",
				Description: fmt.Sprintf("Partners' earnings, batch %s (%d partners, %s)", batch, len(part), c.Code), Postings: postings,
				Metadata: map[string]any{"batch": batch, "chunk": chunk}})
			if err != nil {
				return fmt.Errorf("partners: post batch %s: %w", batch, err)
			}
			txs = append(txs, lt.ID)
		}
		if _, err := tx.Exec(ctx, `UPDATE partner_commission_writes SET batch_id = $1, posted_at = now() WHERE id = ANY($2)`,
			batch, writes); err != nil {
			return err
		}
		if txs == nil {
			txs = []uuid.UUID{}
		}
		_, err = tx.Exec(ctx, `INSERT INTO partner_batches (id, rows_posted, ledger_txs) VALUES ($1, $2, $3)`, batch, n, txs)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return n, more, nil
}

// chunks cuts sums (ordered by currency) into groups of one currency and at most partnersPerTx partners.
func chunks(sums []walletSum) [][]walletSum {
	var out [][]walletSum
	for i := 0; i < len(sums); {
		j := i + 1
		for j < len(sums) && j-i < partnersPerTx && sums[j].currency == sums[i].currency {
			j++
		}
		out = append(out, slices.Clone(sums[i:j]))
		i = j
	}
	return out
}
