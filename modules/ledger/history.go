package ledger

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// Line is one posting of an account's history, with its transaction and the balance right after it.
type Line struct {
	PostingID     int64
	TransactionID uuid.UUID
	Kind          string
	Description   string
	Amount        int64
	Pending       bool
	At            time.Time
}

// HistoryPage is a page of an account's history, newest first; Next is the cursor of the following page ("" at
// the end).
type HistoryPage struct {
	Balance Balance
	Lines   []Line
	Next    string
}

// ErrBadCursor is a cursor this service did not write.
var ErrBadCursor = errors.New("ledger: bad cursor")

// MaxHistory bounds one page.
const MaxHistory = 200

// History reads the postings of the account code, newest first, limit at a time (at most MaxHistory), after the
// cursor of a previous page. It reads one index range, however long the account's history.
func (s *Service) History(ctx context.Context, t tenants.Tenant, code, cursor string, limit int) (HistoryPage, error) {
	if limit <= 0 || limit > MaxHistory {
		limit = MaxHistory
	}
	before := int64(1<<63 - 1)
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(raw) != 8 {
			return HistoryPage{}, ErrBadCursor
		}
		before = int64(binary.BigEndian.Uint64(raw))
	}
	var page HistoryPage
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if page.Balance, err = s.BalanceTx(ctx, tx, code); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT p.id, p.transaction_id, t.kind, t.description, p.amount, p.pending, p.created_at
			FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id
			WHERE p.account_id = $1 AND p.id < $2 ORDER BY p.id DESC LIMIT $3`, page.Balance.Account.ID, before, limit+1)
		if err != nil {
			return err
		}
		page.Lines, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Line, error) {
			var l Line
			return l, r.Scan(&l.PostingID, &l.TransactionID, &l.Kind, &l.Description, &l.Amount, &l.Pending, &l.At)
		})
		return err
	})
	if err != nil {
		return HistoryPage{}, fmt.Errorf("ledger: history of %s: %w", code, err)
	}
	if len(page.Lines) > limit {
		page.Lines = page.Lines[:limit]
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(page.Lines[limit-1].PostingID))
		page.Next = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if page.Lines == nil {
		page.Lines = []Line{}
	}
	return page, nil
}
