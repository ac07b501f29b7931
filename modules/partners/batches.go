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

// PostEarnings posts every due row of t to the wallets, in batches of at most Options.BatchRows rows: each batch
// sums its rows per partner and currency and posts the sums in ledger transactions keyed by the batch
// (partner_earnings:<batch>:<n>), in the transaction that marks its rows posted, so a row is posted exactly once.
// It returns how many rows it posted.
func (s *Service) PostEarnings(ctx context.Context, t tenants.Tenant) (int, error) {
	total := 0
	for {
		n, err := s.postBatch(ctx, t)
		total += n
		if err != nil || n < s.o.BatchRows {
			return total, err
		}
	}
}

type walletSum struct {
	partner  uuid.UUID
	currency string
	amount   int64
}

func (s *Service) postBatch(ctx context.Context, t tenants.Tenant) (int, error) {
	n := 0
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH due AS (
				SELECT commission_id FROM partner_commission_postings WHERE batch_id IS NULL ORDER BY commission_id LIMIT $1
				FOR UPDATE SKIP LOCKED)
			SELECT c.partner_id, c.currency, sum(c.amount)::bigint, count(*), array_agg(c.id)
			FROM due JOIN partner_commissions c ON c.id = due.commission_id GROUP BY c.partner_id, c.currency
			ORDER BY c.currency, c.partner_id`, s.o.BatchRows)
		if err != nil {
			return err
		}
		var sums []walletSum
		var ids []int64
		var w walletSum
		var count int
		var some []int64
		if _, err := pgx.ForEachRow(rows, []any{&w.partner, &w.currency, &w.amount, &count, &some}, func() error {
			n += count
			ids = append(ids, some...)
			if w.amount != 0 {
				sums = append(sums, w)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("partners: due rows: %w", err)
		}
		if n == 0 {
			return nil
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
		if _, err := tx.Exec(ctx, `UPDATE partner_commission_postings SET batch_id = $1, posted_at = now() WHERE commission_id = ANY($2)`,
			batch, ids); err != nil {
			return err
		}
		if txs == nil {
			txs = []uuid.UUID{}
		}
		_, err = tx.Exec(ctx, `INSERT INTO partner_batches (id, rows_posted, ledger_txs) VALUES ($1, $2, $3)`, batch, n, txs)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
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
