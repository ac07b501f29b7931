package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/money"
)

var (
	kindPattern = regexp.MustCompile(`^[a-z][a-z_]*$`)
	codePattern = regexp.MustCompile(`^[a-z][a-z_]*(:[A-Za-z0-9_-]+)+$`)
)

// maxPostings bounds one transaction.
const maxPostings = 64

// PostTx records e as a posted transaction in tx, a transaction of the tenant's scope: the postings count in the
// accounts' posted balances at once. It returns the transaction (Replayed if the key was already recorded with the
// same content, in which case nothing moved). After an error, tx must not commit: the ledger may have written part
// of the transaction (tenants.Gate.Scope rolls back when its function returns an error).
func (s *Service) PostTx(ctx context.Context, tx pgx.Tx, e Entry) (Transaction, error) {
	return s.record(ctx, tx, plan{entry: e, status: StatusPosted})
}

// HoldTx records e as a pending transaction (a hold) in tx: its debits count in their accounts' pending debits, so
// the money is reserved (the available balance drops, the posted balance does not) until PostHoldTx or
// VoidHoldTx resolves it. A hold has exactly two postings: the account it reserves from (a debit) and the one
// that receives the money when it is posted.
func (s *Service) HoldTx(ctx context.Context, tx pgx.Tx, e Entry) (Transaction, error) {
	if len(e.Postings) != 2 || (e.Postings[0].Amount < 0) == (e.Postings[1].Amount < 0) {
		return Transaction{}, fmt.Errorf("%w: a hold is one debit and one credit", ErrInvalid)
	}
	return s.record(ctx, tx, plan{entry: e, status: StatusPending})
}

// PostHoldTx posts amount (1 up to the held amount, in the hold's currency) of the hold holdID and releases the
// rest, in tx. key is the post's own idempotency key.
func (s *Service) PostHoldTx(ctx context.Context, tx pgx.Tx, key string, holdID uuid.UUID, amount int64, description string) (Transaction, error) {
	hold, err := s.holdTx(ctx, tx, holdID)
	if err != nil {
		return Transaction{}, err
	}
	debit, credit := holdLegs(hold)
	if amount <= 0 || amount > -debit.Amount {
		return Transaction{}, fmt.Errorf("%w: post between 0 and the held %s", ErrInvalid, money.Format(-debit.Amount, debit.Currency))
	}
	from, err := s.accountByIDTx(ctx, tx, debit.AccountID)
	if err != nil {
		return Transaction{}, err
	}
	to, err := s.accountByIDTx(ctx, tx, credit.AccountID)
	if err != nil {
		return Transaction{}, err
	}
	e := Entry{Key: key, Kind: "hold_post", Description: description,
		Postings: []Posting{{Account: from.spec(), Amount: -amount}, {Account: to.spec(), Amount: amount}},
		Metadata: map[string]any{"hold": holdID, "held": -debit.Amount}}
	return s.record(ctx, tx, plan{entry: e, status: StatusPosted, resolves: &hold})
}

// VoidHoldTx releases the hold holdID without moving money (the withdrawal was refused, failed or expired), in tx.
func (s *Service) VoidHoldTx(ctx context.Context, tx pgx.Tx, key string, holdID uuid.UUID, description string) (Transaction, error) {
	hold, err := s.holdTx(ctx, tx, holdID)
	if err != nil {
		return Transaction{}, err
	}
	e := Entry{Key: key, Kind: "hold_void", Description: description, Metadata: map[string]any{"hold": holdID}}
	return s.record(ctx, tx, plan{entry: e, status: StatusPosted, resolves: &hold})
}

// holdLegs returns a hold's debit and credit postings.
func holdLegs(h Transaction) (debit, credit PostingRow) {
	for _, p := range h.Postings {
		if p.Amount < 0 {
			debit = p
		} else {
			credit = p
		}
	}
	return debit, credit
}

// holdTx reads a hold that is still open.
func (s *Service) holdTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Transaction, error) {
	h, err := s.transactionTx(ctx, tx, `t.id = $1`, id)
	if err != nil {
		return h, err
	}
	if h.Status != StatusPending {
		return h, fmt.Errorf("%w: transaction %s is not a hold", ErrInvalid, id)
	}
	var resolved bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ledger_transactions WHERE resolves = $1)`, id).Scan(&resolved); err != nil {
		return h, err
	}
	if resolved {
		return h, ErrHoldResolved
	}
	return h, nil
}

// plan is a transaction to record: an entry, its status and, for a hold's post or void, the hold it resolves.
type plan struct {
	entry    Entry
	status   Status
	resolves *Transaction
}

// validate checks the entry's shape and that it balances per currency.
func (p plan) validate() error {
	e := p.entry
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case e.Key == "" || len(e.Key) > 200:
		return bad("the idempotency key must be 1 to 200 bytes")
	case !kindPattern.MatchString(e.Kind):
		return bad("kind %q must be lower case letters and _", e.Kind)
	case len(e.Postings) > maxPostings:
		return bad("at most %d postings", maxPostings)
	case p.resolves == nil && len(e.Postings) < 2:
		return bad("a transaction has two or more postings")
	}
	sums := map[string]int64{}
	for i, q := range e.Postings {
		a := q.Account
		switch {
		case q.Amount == 0:
			return bad("posting %d: a zero amount", i+1)
		case q.Amount > MaxAmount || q.Amount < -MaxAmount:
			return bad("posting %d: more than %d minor units", i+1, MaxAmount)
		case !codePattern.MatchString(a.Code):
			return bad("posting %d: account code %q", i+1, a.Code)
		case !kindPattern.MatchString(a.Kind):
			return bad("posting %d: account kind %q", i+1, a.Kind)
		case a.Shards < 1 || a.Shards > 64 || (a.NoOverdraft && a.Shards != 1):
			return bad("posting %d: %s: 1 to 64 shards, and one for a no-overdraft account", i+1, a.Code)
		}
		if c, ok := money.Lookup(a.Currency.Code); !ok || c != a.Currency {
			return bad("posting %d: %s: unknown currency %q", i+1, a.Code, a.Currency.Code)
		}
		sums[a.Currency.Code] += q.Amount // bounded: at most a few hundred postings of at most MaxAmount each
	}
	for _, code := range e.Guard {
		i := slices.IndexFunc(e.Postings, func(q Posting) bool { return q.Account.Code == code })
		if i < 0 || e.Postings[i].Account.Shards != 1 {
			return bad("guard %q: not an account of the postings kept in one balance row", code)
		}
	}
	for cur, sum := range sums {
		if sum != 0 {
			return fmt.Errorf("%w: %s postings sum to %d, not zero", ErrUnbalanced, cur, sum)
		}
	}
	return nil
}

// contentHash is what idempotency compares: kind, status, corrects, resolves and the postings (account code and
// amount, in a canonical order). Description and metadata are not part of it: a retry may word them differently.
func (p plan) contentHash() []byte {
	type leg struct {
		Code   string `json:"c"`
		Amount int64  `json:"a"`
	}
	legs := make([]leg, len(p.entry.Postings))
	for i, q := range p.entry.Postings {
		legs[i] = leg{q.Account.Code, q.Amount}
	}
	slices.SortFunc(legs, func(a, b leg) int {
		if a.Code != b.Code {
			return cmpString(a.Code, b.Code)
		}
		return cmpInt(a.Amount, b.Amount)
	})
	var resolves *uuid.UUID
	if p.resolves != nil {
		resolves = &p.resolves.ID
	}
	b, _ := json.Marshal(struct {
		Kind     string     `json:"k"`
		Status   Status     `json:"s"`
		Corrects *uuid.UUID `json:"c"`
		Resolves *uuid.UUID `json:"r"`
		Legs     []leg      `json:"l"`
	}{p.entry.Kind, p.status, p.entry.Corrects, resolves, legs})
	sum := sha256.Sum256(b)
	return sum[:]
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// shardOf is the balance row of account a that transaction id updates: spread by the id for a sharded account.
func shardOf(a Account, id uuid.UUID) int {
	if a.Shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write(id[:])
	return int(h.Sum32() % uint32(a.Shards))
}

// delta is a change to one balance row.
type delta struct {
	account                 Account
	shard                   int
	posted, pDebit, pCredit int64
	// guarded: checked like a no-overdraft account in this transaction (Entry.Guard).
	guarded bool
}

// PostEachTx records the entries as posted transactions in tx, each its own transaction with its own key, in one
// round trip for them all (after reading their accounts): what a group of deposits posts (payments' group
// commit). The balance rows they touch are locked once, in one fixed order, and changed once each by the sum of
// the entries; an account kept in several rows (a clearing account) gets the whole batch in one of them. It is all
// or nothing: a key recorded before fails the batch with ErrRecordedBefore (nothing recorded; post that entry on
// its own, which answers its replay), and so does a no-overdraft account the batch as a whole would overdraw.
// Entries may not correct another transaction. A batch of one entry is PostTx (a replay answers the first
// transaction). After an error, tx must not commit.
func (s *Service) PostEachTx(ctx context.Context, tx pgx.Tx, entries []Entry) ([]Transaction, error) {
	plans := make([]plan, len(entries))
	for i, e := range entries {
		if e.Corrects != nil {
			return nil, fmt.Errorf("%w: %s: a correction is posted on its own", ErrInvalid, e.Key)
		}
		plans[i] = plan{entry: e, status: StatusPosted}
	}
	return s.recordEach(ctx, tx, plans)
}

func (s *Service) record(ctx context.Context, tx pgx.Tx, p plan) (Transaction, error) {
	out, err := s.recordEach(ctx, tx, []plan{p})
	if err != nil {
		return Transaction{}, err
	}
	return out[0], nil
}

// recordEach records plans in one pipeline (record's one of them, PostEachTx's several).
func (s *Service) recordEach(ctx context.Context, tx pgx.Tx, plans []plan) ([]Transaction, error) {
	if len(plans) == 0 {
		return nil, nil
	}
	var specs []AccountSpec
	hashes := make([][]byte, len(plans))
	keys := make(map[string]bool, len(plans))
	for i, p := range plans {
		if err := p.validate(); err != nil {
			return nil, err
		}
		if keys[p.entry.Key] {
			return nil, fmt.Errorf("%w: key %q twice in one batch", ErrInvalid, p.entry.Key)
		}
		keys[p.entry.Key] = true
		hashes[i] = p.contentHash()
		for _, q := range p.entry.Postings {
			specs = append(specs, q.Account)
		}
	}
	accounts, err := s.ensureAccountsTx(ctx, tx, specs)
	if err != nil {
		return nil, err
	}
	at := s.o.Now().UTC().Truncate(time.Microsecond)
	n := len(plans)
	ids := make([]uuid.UUID, n)
	rawMetas := make([]string, n)
	storedMetas := make([]map[string]any, n)
	for i, p := range plans {
		if ids[i], err = uuid.NewV7(); err != nil {
			return nil, err
		}
		meta := p.entry.Metadata
		if meta == nil {
			meta = map[string]any{}
		}
		// The transaction returned is the one stored: metadata as its JSON reads back, the time as Postgres keeps it.
		raw, err := json.Marshal(meta)
		if err != nil {
			return nil, fmt.Errorf("ledger: metadata of %s: %w", p.entry.Key, err)
		}
		if err := json.Unmarshal(raw, &storedMetas[i]); err != nil {
			return nil, fmt.Errorf("ledger: metadata of %s: %w", p.entry.Key, err)
		}
		rawMetas[i] = string(raw)
	}
	// The balance rows the plans change, each once, in one fixed order. An account kept in several rows gets the
	// whole batch in the row the first transaction's id picks.
	deltas := map[[2]any]*delta{}
	change := func(a Account, shard int) *delta {
		k := [2]any{a.ID, shard}
		if d, ok := deltas[k]; ok {
			return d
		}
		d := &delta{account: a, shard: shard}
		deltas[k] = d
		return d
	}
	for _, p := range plans {
		for _, q := range p.entry.Postings {
			a := accounts[q.Account.Code]
			d := change(a, shardOf(a, ids[0]))
			d.guarded = d.guarded || slices.Contains(p.entry.Guard, a.Code)
			switch {
			case p.status == StatusPosted:
				d.posted += q.Amount
			case q.Amount < 0:
				d.pDebit -= q.Amount
			default:
				d.pCredit += q.Amount
			}
		}
		if h := p.resolves; h != nil { // the hold's reservation is released where it was made
			for _, q := range h.Postings {
				a, err := s.accountByIDTx(ctx, tx, q.AccountID)
				if err != nil {
					return nil, err
				}
				d := change(a, shardOf(a, h.ID))
				if q.Amount < 0 {
					d.pDebit += q.Amount
				} else {
					d.pCredit -= q.Amount
				}
			}
		}
	}
	list := make([]*delta, 0, len(deltas))
	for _, d := range deltas {
		list = append(list, d)
	}
	slices.SortFunc(list, func(a, b *delta) int {
		if c := bytes.Compare(a.account.ID[:], b.account.ID[:]); c != 0 {
			return c
		}
		return a.shard - b.shard
	})

	// Three statements in one round trip (a pipeline), in this order:
	//   - the transaction rows: a key already recorded inserts nothing, and the two statements after it then do
	//     nothing at all (they act only when every row of the batch exists), so a replay locks no balance row; a
	//     concurrent insert of the same key waits on the unique index until the first commits, then sees it;
	//   - the postings;
	//   - the balance rows, last: they stay locked until the commit, and a clearing account's are shared by many
	//     transactions (queueBalances).
	var (
		keyList, kinds, descs, statuses []string
		resolves                        []*uuid.UUID
		txOf, accountIDs                []uuid.UUID
		amounts                         []int64
	)
	for i, p := range plans {
		keyList, kinds, descs = append(keyList, p.entry.Key), append(kinds, p.entry.Kind), append(descs, p.entry.Description)
		statuses = append(statuses, string(p.status))
		var r *uuid.UUID
		if p.resolves != nil {
			r = &p.resolves.ID
		}
		resolves = append(resolves, r)
		for _, q := range p.entry.Postings {
			txOf, accountIDs, amounts = append(txOf, ids[i]), append(accountIDs, accounts[q.Account.Code].ID), append(amounts, q.Amount)
		}
	}
	b := &pgx.Batch{}
	if n == 1 { // corrects and resolves are single values here
		p := plans[0]
		b.Queue(`INSERT INTO ledger_transactions (id, idem_key, kind, status, description, content_hash, corrects, resolves, metadata, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10) ON CONFLICT (idem_key) DO NOTHING RETURNING true`,
			ids[0], p.entry.Key, p.entry.Kind, string(p.status), p.entry.Description, hashes[0], p.entry.Corrects, resolves[0], rawMetas[0], at)
	} else { // posted, correcting and resolving nothing (PostEachTx)
		b.Queue(`INSERT INTO ledger_transactions (id, idem_key, kind, status, description, content_hash, metadata, created_at)
			SELECT i, k, kd, s, d, h, m::jsonb, $8 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[])
				WITH ORDINALITY AS x(i, k, kd, s, d, h, m, n) ORDER BY n
			ON CONFLICT (idem_key) DO NOTHING RETURNING true`, ids, keyList, kinds, statuses, descs, hashes, rawMetas, at)
	}
	pending := plans[0].status == StatusPending // a hold is recorded alone
	b.Queue(`INSERT INTO ledger_postings (transaction_id, account_id, amount, pending, created_at)
		SELECT t, a, m, $4, $5 FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) WITH ORDINALITY AS x(t, a, m, n)
		WHERE (SELECT count(*) FROM ledger_transactions WHERE id = ANY($6)) = cardinality($6::uuid[]) ORDER BY n
		RETURNING id`, txOf, accountIDs, amounts, pending, at, ids)
	queueBalances(b, ids, list)
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	rows, err := res.Query()
	if err != nil {
		return nil, fmt.Errorf("ledger: record %s: %w", plans[0].entry.Key, err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	switch {
	case database.IsUniqueViolation(err):
		return nil, ErrHoldResolved // another post or void of the same hold won
	case err != nil:
		return nil, fmt.Errorf("ledger: record %s: %w", plans[0].entry.Key, err)
	case len(inserted) < n:
		if err := res.Close(); err != nil {
			return nil, fmt.Errorf("ledger: record %s: %w", plans[0].entry.Key, err)
		}
		if n > 1 {
			return nil, ErrRecordedBefore
		}
		t, err := s.replay(ctx, tx, plans[0].entry.Key, hashes[0])
		return []Transaction{t}, err
	}
	rows, err = res.Query()
	if err != nil {
		return nil, fmt.Errorf("ledger: postings of %s: %w", plans[0].entry.Key, err)
	}
	postingIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("ledger: postings of %s: %w", plans[0].entry.Key, err)
	}
	if len(postingIDs) != len(txOf) {
		return nil, fmt.Errorf("ledger: postings of %s: %d of %d recorded", plans[0].entry.Key, len(postingIDs), len(txOf))
	}
	if err := balancesApplied(res.QueryRow(), list); err != nil {
		return nil, err
	}
	if err := res.Close(); err != nil {
		return nil, fmt.Errorf("ledger: record %s: %w", plans[0].entry.Key, err)
	}
	slices.Sort(postingIDs) // identity values in insertion order, which is the entries'
	out := make([]Transaction, n)
	k := 0
	for i, p := range plans {
		e := p.entry
		out[i] = Transaction{ID: ids[i], Key: e.Key, Kind: e.Kind, Status: p.status, Description: e.Description, Corrects: e.Corrects,
			Resolves: resolves[i], Metadata: storedMetas[i], CreatedAt: at}
		for _, q := range e.Postings {
			a := accounts[q.Account.Code]
			out[i].Postings = append(out[i].Postings, PostingRow{ID: postingIDs[k], AccountID: a.ID, AccountCode: a.Code, Currency: a.Currency,
				Amount: q.Amount, Pending: p.status == StatusPending})
			k++
		}
	}
	return out, nil
}

// queueBalances queues the statement that changes the balance rows of list, for the transactions ids, once every
// one of their rows exists: it locks the rows in list's order, refuses the whole change if it would take a
// no-overdraft account's available balance below zero (balancesApplied then returns an InsufficientFundsError,
// and no row changed), and otherwise applies it. One statement, because the rows stay locked until the commit and
// a clearing account's rows are shared: every round trip inside the lock is a wait for the next transaction.
func queueBalances(b *pgx.Batch, txIDs []uuid.UUID, list []*delta) {
	n := len(list)
	ids, shards := make([]uuid.UUID, n), make([]int32, n)
	posted, pDebit, pCredit := make([]int64, n), make([]int64, n), make([]int64, n)
	guarded := make([]bool, n)
	for i, d := range list {
		ids[i], shards[i] = d.account.ID, int32(d.shard)
		posted[i], pDebit[i], pCredit[i], guarded[i] = d.posted, d.pDebit, d.pCredit, d.account.NoOverdraft || d.guarded
	}
	// "locked" takes the row locks in (account, shard) order, the same in every transaction, so two transactions
	// touching the same accounts never wait on each other in a cycle; "short" (an InitPlan, evaluated before the
	// update visits a row) reads the locked rows' values, which are the newest committed ones; the update then
	// changes those rows only when nothing is short. Money taken that is not there is short; a credit to an
	// overdrawn account is not.
	b.Queue(`WITH x AS (
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bool[]) AS x(a, s, p, d, c, g)
			WHERE (SELECT count(*) FROM ledger_transactions WHERE id = ANY($7)) = cardinality($7::uuid[])),
		locked AS (
			SELECT b.account_id, b.shard, b.posted, b.pending_debits FROM ledger_balances b
			JOIN x ON b.account_id = x.a AND b.shard = x.s ORDER BY b.account_id, b.shard FOR UPDATE OF b),
		short AS (
			SELECT l.account_id, l.posted - l.pending_debits AS available, l.posted - l.pending_debits + x.p - x.d AS after
			FROM locked l JOIN x ON l.account_id = x.a AND l.shard = x.s
			WHERE x.g AND l.posted - l.pending_debits + x.p - x.d < 0 AND x.p - x.d < 0
			LIMIT 1),
		changed AS (
			UPDATE ledger_balances b SET posted = b.posted + x.p, pending_debits = b.pending_debits + x.d,
				pending_credits = b.pending_credits + x.c
			FROM x WHERE b.account_id = x.a AND b.shard = x.s AND NOT EXISTS (SELECT 1 FROM short)
			RETURNING 1)
		SELECT (SELECT count(*) FROM locked), (SELECT count(*) FROM changed), s.account_id, s.available, s.after
		FROM (SELECT 1) one LEFT JOIN short s ON true`, ids, shards, posted, pDebit, pCredit, guarded, txIDs)
}

// balancesApplied reads what queueBalances' statement did.
func balancesApplied(row pgx.Row, list []*delta) error {
	var found, changed int
	var shortAccount *uuid.UUID
	var available, after *int64
	if err := row.Scan(&found, &changed, &shortAccount, &available, &after); err != nil {
		return fmt.Errorf("ledger: update balances: %w", err)
	}
	if shortAccount != nil {
		for _, d := range list {
			if d.account.ID == *shortAccount {
				return &InsufficientFundsError{Account: d.account.Code, Available: *available, Needed: *available - *after, Currency: d.account.Currency}
			}
		}
	}
	if found != len(list) || changed != len(list) {
		return fmt.Errorf("ledger: %d balance rows locked and %d changed of %d", found, changed, len(list))
	}
	return nil
}

// replay returns the transaction already recorded under key if its content is hash, else ErrKeyReused.
func (s *Service) replay(ctx context.Context, tx pgx.Tx, key string, hash []byte) (Transaction, error) {
	var stored []byte
	if err := tx.QueryRow(ctx, `SELECT content_hash FROM ledger_transactions WHERE idem_key = $1`, key).Scan(&stored); err != nil {
		return Transaction{}, fmt.Errorf("ledger: read %s: %w", key, err)
	}
	if !bytes.Equal(stored, hash) {
		return Transaction{}, fmt.Errorf("%w: %q", ErrKeyReused, key)
	}
	t, err := s.transactionTx(ctx, tx, `t.idem_key = $1`, key)
	t.Replayed = true
	return t, err
}

// transactionTx reads one transaction with its postings.
func (s *Service) transactionTx(ctx context.Context, tx pgx.Tx, where string, arg any) (Transaction, error) {
	var t Transaction
	var status string
	err := tx.QueryRow(ctx, `SELECT t.id, t.idem_key, t.kind, t.status, t.description, t.corrects, t.resolves, t.metadata, t.created_at
		FROM ledger_transactions t WHERE `+where, arg).Scan(&t.ID, &t.Key, &t.Kind, &status, &t.Description, &t.Corrects,
		&t.Resolves, &t.Metadata, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("ledger: read transaction: %w", err)
	}
	t.Status = Status(status)
	rows, err := tx.Query(ctx, `SELECT p.id, p.account_id, a.code, a.currency, a.exponent, p.amount, p.pending
		FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id WHERE p.transaction_id = $1 ORDER BY p.id`, t.ID)
	if err != nil {
		return t, fmt.Errorf("ledger: read postings: %w", err)
	}
	t.Postings, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (PostingRow, error) {
		var p PostingRow
		var exp int16
		err := r.Scan(&p.ID, &p.AccountID, &p.AccountCode, &p.Currency.Code, &exp, &p.Amount, &p.Pending)
		p.Currency.Exponent = int(exp)
		return p, err
	})
	return t, err
}
