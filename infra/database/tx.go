package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tx is a transaction on one pooled connection that sends nothing it need not wait for on its own:
//   - BEGIN and the statement that sets the transaction up (a tenant's role and search_path) travel with the
//     transaction's first statement, in its round trip;
//   - writes nobody reads the answer of (ExecLater: an audit row, an outbox row, a status update) are held back
//     until the transaction's next statement and travel in its round trip; the last of them travel with COMMIT.
//
// A handler's transaction then costs one round trip per answer it waits for, plus COMMIT.
//
// Order is kept: everything runs in the order it was asked for, in one pipeline, so the transaction's own reads
// see the rows held back before them. A held-back statement that fails fails the statement it travelled with
// (wrapped in a *DeferredError) and, like any failed statement, the transaction: nothing commits.
//
// A statement travelling behind BEGIN is prepared before the pipeline runs, that is before the setup; one that
// cannot be (the first time a connection meets it, its tables resolve only through the setup's search_path)
// fails before anything ran, and is sent again after BEGIN and the setup have been sent alone. From then on the
// connection knows the statement and it travels behind BEGIN.
//
// Only Begin (nested transactions) and LargeObjects are not offered; nothing here uses them.
type Tx struct {
	conn    *pgxpool.Conn
	begin   []pgx.QueuedQuery // BEGIN and the setup, until the first statement carries them
	pending []pgx.QueuedQuery // held back by ExecLater
	done    bool
	err     error // a failure of Conn's flush, reported by the next statement
}

var _ pgx.Tx = (*Tx)(nil)

// Begin returns a transaction on conn that begins with opts and then runs setup (with args) before anything
// else, both in the round trip of its first statement. setup must name no table of a schema it puts on the
// search_path: it is prepared before it runs.
func Begin(conn *pgxpool.Conn, opts pgx.TxOptions, setup string, args ...any) *Tx {
	begin := "BEGIN"
	if opts.IsoLevel != "" {
		begin += " ISOLATION LEVEL " + string(opts.IsoLevel)
	}
	if opts.AccessMode != "" {
		begin += " " + string(opts.AccessMode)
	}
	return &Tx{conn: conn, begin: []pgx.QueuedQuery{{SQL: begin}, {SQL: setup, Arguments: args}}}
}

// DeferredError is the failure of a statement held back by ExecLater, reported by the statement it travelled
// with.
type DeferredError struct {
	SQL string
	Err error
}

func (e *DeferredError) Error() string {
	return fmt.Sprintf("a held-back statement failed (%.60s): %v", e.SQL, e.Err)
}

func (e *DeferredError) Unwrap() error { return e.Err }

// ExecLater runs sql, one statement, in tx: held back until tx's next round trip when tx is a *Tx, at once
// otherwise. It is for statements whose answer nobody reads and whose failure nobody handles but by failing the
// transaction.
func ExecLater(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	if t, ok := tx.(*Tx); ok {
		if t.done {
			return pgx.ErrTxClosed
		}
		t.pending = append(t.pending, pgx.QueuedQuery{SQL: sql, Arguments: args})
		return nil
	}
	_, err := tx.Exec(ctx, sql, args...)
	return err
}

// held reports whether anything waits to travel with the next statement.
func (t *Tx) held() bool { return len(t.begin)+len(t.pending) > 0 || t.err != nil }

// send sends what waits (BEGIN and the setup if not sent yet, then the held-back statements) followed by the
// queries of b (nil: none) in one pipeline, and reads the answers of what waited; the rest are the caller's.
func (t *Tx) send(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	if t.err != nil {
		return nil, t.err
	}
	br, err := t.sendOnce(ctx, b, true)
	if errors.Is(err, errNotBegun) {
		// Something in the pipeline could not be prepared before the setup ran, so nothing ran: BEGIN and the
		// setup go alone, and the rest after them.
		if br, err = t.sendOnce(ctx, nil, false); err == nil {
			err = br.Close()
		}
		if err == nil {
			br, err = t.sendOnce(ctx, b, true)
		}
	}
	if err != nil {
		t.fail(err)
		return nil, err
	}
	return br, nil
}

// fail makes err the answer to everything the transaction is asked after it. A pipeline that failed left the
// transaction either aborted or never begun, and one never begun must not let a later statement reach the
// connection outside its scope (say, one sent with a fresh context after the request's was cancelled).
func (t *Tx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// errNotBegun: the pipeline that carried BEGIN failed before anything in it ran.
var errNotBegun = errors.New("database: the transaction's first pipeline could not be prepared")

// sendOnce sends BEGIN and the setup if not sent yet, then (if rest) the held-back statements and b's queries,
// and reads the answers of all but b's.
func (t *Tx) sendOnce(ctx context.Context, b *pgx.Batch, rest bool) (pgx.BatchResults, error) {
	// Fresh copies: pgx notes in a queued query how it prepared it, which a pipeline sent again must not reuse.
	all := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(t.begin)+len(t.pending)+1)}
	add := func(q *pgx.QueuedQuery) {
		all.QueuedQueries = append(all.QueuedQueries, &pgx.QueuedQuery{SQL: q.SQL, Arguments: q.Arguments, Fn: q.Fn})
	}
	for i := range t.begin {
		add(&t.begin[i])
	}
	nBegin, n := len(t.begin), len(t.begin)
	if rest {
		for i := range t.pending {
			add(&t.pending[i])
		}
		n += len(t.pending)
		if b != nil {
			for _, q := range b.QueuedQueries {
				add(q)
			}
		}
	}
	br := t.conn.SendBatch(ctx, all)
	for i := range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			if i < nBegin && rest && len(all.QueuedQueries) > nBegin && t.conn.Conn().PgConn().TxStatus() == 'I' {
				return nil, errNotBegun // nothing ran; send tries again after BEGIN and the setup alone
			}
			t.begin, t.pending = nil, nil
			if i < nBegin {
				return nil, err
			}
			return nil, &DeferredError{SQL: all.QueuedQueries[i].SQL, Err: err}
		}
	}
	t.begin = nil
	if rest {
		t.pending = nil
	}
	return br, nil
}

// ownMode reports whether a statement's arguments begin with how to run it (a pgx.QueryExecMode, or a
// rewriter such as pgx.NamedArgs), which a pipeline cannot honour: such a statement goes alone, after what waits.
func ownMode(args []any) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0].(type) {
	case pgx.QueryExecMode, pgx.QueryRewriter:
		return true
	}
	return false
}

func one(sql string, args []any) *pgx.Batch {
	return &pgx.Batch{QueuedQueries: []*pgx.QueuedQuery{{SQL: sql, Arguments: args}}}
}

// Exec runs sql, with the held-back statements before it in the same round trip.
func (t *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.done {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	if !t.held() {
		return t.conn.Exec(ctx, sql, args...)
	}
	if len(args) == 0 || ownMode(args) { // without arguments pgx sends it as text, which may hold several statements
		if err := t.flush(ctx); err != nil {
			return pgconn.CommandTag{}, err
		}
		return t.conn.Exec(ctx, sql, args...)
	}
	br, err := t.send(ctx, one(sql, args))
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs sql, with the held-back statements before it in the same round trip.
func (t *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.done {
		return nil, pgx.ErrTxClosed
	}
	if !t.held() {
		return t.conn.Query(ctx, sql, args...)
	}
	if ownMode(args) {
		if err := t.flush(ctx); err != nil {
			return nil, err
		}
		return t.conn.Query(ctx, sql, args...)
	}
	br, err := t.send(ctx, one(sql, args))
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		if rows != nil {
			rows.Close()
		}
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs sql, with the held-back statements before it in the same round trip.
func (t *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.done {
		return errRow{pgx.ErrTxClosed}
	}
	if !t.held() {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	if ownMode(args) {
		if err := t.flush(ctx); err != nil {
			return errRow{err}
		}
		return t.conn.QueryRow(ctx, sql, args...)
	}
	br, err := t.send(ctx, one(sql, args))
	if err != nil {
		return errRow{err}
	}
	return batchRow{Row: br.QueryRow(), br: br}
}

// SendBatch sends b, with the held-back statements before it in the same round trip.
func (t *Tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.done {
		return errResults{pgx.ErrTxClosed}
	}
	if !t.held() {
		return t.conn.SendBatch(ctx, b)
	}
	br, err := t.send(ctx, b)
	if err != nil {
		return errResults{err}
	}
	return br
}

// Prepare prepares sql on the transaction's connection (after sending what is held back).
func (t *Tx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.conn.Conn().Prepare(ctx, name, sql)
}

// CopyFrom copies rows in (after sending what is held back).
func (t *Tx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// flush sends what is held back on its own.
func (t *Tx) flush(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if !t.held() {
		return nil
	}
	br, err := t.send(ctx, nil)
	if err != nil {
		return err
	}
	if err := br.Close(); err != nil {
		t.fail(err)
		return err
	}
	return nil
}

// Conn is the transaction's connection, after what waits has been sent (BEGIN and the setup included), so that
// what is sent on it directly runs in the transaction. If that send failed, or the transaction had failed before,
// the connection is closed, so nothing sent on it can run outside the transaction's scope; the failure is reported
// by the transaction's next statement or Commit.
func (t *Tx) Conn() *pgx.Conn {
	if err := t.flush(context.Background()); err != nil || t.err != nil {
		t.fail(err)
		_ = t.conn.Conn().Close(context.Background())
	}
	return t.conn.Conn()
}

// Begin would open a nested transaction (a savepoint); nothing here needs one.
func (t *Tx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("database: nested transactions are not supported")
}

// LargeObjects is not supported (nothing here stores large objects).
func (t *Tx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Commit sends what is held back and COMMIT in one round trip; a transaction that never sent anything sends
// nothing. If anything failed, nothing commits and the transaction is rolled back.
func (t *Tx) Commit(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if len(t.begin) > 0 && len(t.pending) == 0 && t.err == nil {
		t.done, t.begin = true, nil // never begun: nothing to commit
		return nil
	}
	var tag pgconn.CommandTag
	var err error
	if !t.held() {
		tag, err = t.conn.Exec(ctx, "COMMIT")
	} else {
		var br pgx.BatchResults
		if br, err = t.send(ctx, one("COMMIT", nil)); err == nil {
			tag, err = br.Exec()
			if cerr := br.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		_ = t.Rollback(context.WithoutCancel(ctx))
		return err
	}
	t.done = true
	if tag.String() == "ROLLBACK" { // the transaction had failed before: Postgres rolled it back
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// Rollback discards what is held back and rolls back; after Commit it does nothing. On a connection it cannot
// roll back, the connection is closed (the pool never hands out a connection inside a transaction).
func (t *Tx) Rollback(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done, t.begin, t.pending = true, nil, nil
	if t.conn.Conn().PgConn().TxStatus() == 'I' {
		return nil // never begun, or already ended by a failed COMMIT: nothing to roll back
	}
	if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = t.conn.Conn().Close(ctx)
		return err
	}
	return nil
}

// batchRows are a query's rows read from a pipeline: the pipeline closes when the rows do (or run out).
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.err = r.br.Close()
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// batchRow is a QueryRow's row read from a pipeline, which closes when the row is scanned.
type batchRow struct {
	pgx.Row
	br pgx.BatchResults
}

func (r batchRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type errResults struct{ err error }

func (r errResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, r.err }
func (r errResults) Query() (pgx.Rows, error)         { return errRows{r.err}, r.err }
func (r errResults) QueryRow() pgx.Row                { return errRow(r) }
func (r errResults) Close() error                     { return r.err }
func (r errResults) Tx() pgx.Tx                       { return nil }

// errRows are the rows of a query that was never sent.
type errRows struct{ err error }

func (r errRows) Close()                                       {}
func (r errRows) Err() error                                   { return r.err }
func (r errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (r errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r errRows) Next() bool                                   { return false }
func (r errRows) Scan(...any) error                            { return r.err }
func (r errRows) Values() ([]any, error)                       { return nil, r.err }
func (r errRows) RawValues() [][]byte                          { return nil }
func (r errRows) Conn() *pgx.Conn                              { return nil }
func (r errRows) TypeMap() *pgtype.Map                         { return nil }
