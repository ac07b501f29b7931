package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

const insertHeldBack = `INSERT INTO clients (id, email, first_name, last_name, country, status)
	VALUES (gen_random_uuid(), $1, 'Held', 'Back', 'GB', 'registered')`

func countClients(t *testing.T, p *tenanttest.Platform, ten tenants.Tenant, email string) int {
	t.Helper()
	var n int
	if err := p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM clients WHERE email = $1`, email).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHeldBackWritesRunBeforeTheNextStatementOfEveryKindAndCommitWithTheTransaction(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	a := p.NewTenant(t, "main")
	ctx := context.Background()
	err := p.Gate.Scope(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
		if _, ok := tx.(*database.Tx); !ok {
			t.Fatalf("a scope's transaction is a %T, want *database.Tx", tx)
		}
		// QueryRow sees the row held back before it.
		if err := database.ExecLater(ctx, tx, insertHeldBack, "one@held.example"); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM clients WHERE email LIKE '%@held.example'`).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("QueryRow after one held-back insert counts %d rows, want 1", n)
		}
		// Query, read to the end without Close, leaves the connection usable; Exec and SendBatch see theirs too.
		if err := database.ExecLater(ctx, tx, insertHeldBack, "two@held.example"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT email FROM clients WHERE email LIKE '%@held.example' ORDER BY email`)
		if err != nil {
			return err
		}
		var emails []string
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				return err
			}
			emails = append(emails, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(emails) != 2 {
			t.Errorf("Query after the second held-back insert read %v, want both", emails)
		}
		if err := database.ExecLater(ctx, tx, insertHeldBack, "three@held.example"); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE clients SET first_name = 'Seen' WHERE email LIKE '%@held.example'`)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 3 {
			t.Errorf("Exec after the third held-back insert updated %d rows, want 3", tag.RowsAffected())
		}
		if err := database.ExecLater(ctx, tx, insertHeldBack, "four@held.example"); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`SELECT count(*) FROM clients WHERE email LIKE '%@held.example'`).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if n != 4 {
			t.Errorf("a batch after the fourth held-back insert counts %d rows, want 4", n)
		}
		// A statement that names its own exec mode goes alone, after what waits.
		if err := database.ExecLater(ctx, tx, insertHeldBack, "five@held.example"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM clients WHERE email LIKE $1`, pgx.QueryExecModeExec, "%@held.example").Scan(&n); err != nil {
			return err
		}
		if n != 5 {
			t.Errorf("a statement with its own exec mode after the fifth held-back insert counts %d rows, want 5", n)
		}
		// Text without arguments may hold several statements: it goes alone, after what waits.
		if err := database.ExecLater(ctx, tx, insertHeldBack, "six@held.example"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE clients SET last_name = 'One' WHERE email LIKE '%@held.example';
			UPDATE clients SET last_name = 'Two' WHERE email LIKE '%@held.example'`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM clients WHERE last_name = 'Two'`).Scan(&n); err != nil {
			return err
		}
		if n != 6 {
			t.Errorf("two statements in one text after the sixth held-back insert changed %d rows, want 6", n)
		}
		// The last one travels with COMMIT.
		return database.ExecLater(ctx, tx, insertHeldBack, "seven@held.example")
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := countClients(t, p, a, "seven@held.example"); n != 1 {
		t.Fatalf("the write held back until COMMIT: %d rows after the commit, want 1", n)
	}
}

func TestAHeldBackWriteThatFailsFailsItsTransactionAndNothingOfItCommits(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	a := p.NewTenant(t, "main")
	ctx := context.Background()
	const bad = `INSERT INTO clients (id, email, first_name, last_name, country, status)
		VALUES (gen_random_uuid(), $1, 'Bad', 'Status', 'GB', 'no such status')`
	for i, tc := range []struct {
		name string
		next func(ctx context.Context, tx pgx.Tx) error // what the failure travels with
	}{
		{"with COMMIT", func(context.Context, pgx.Tx) error { return nil }},
		{"with a QueryRow", func(ctx context.Context, tx pgx.Tx) error {
			var n int
			return tx.QueryRow(ctx, `SELECT count(*) FROM clients`).Scan(&n)
		}},
		{"with a Query", func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT email FROM clients`)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		}},
		{"with an Exec", func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE clients SET first_name = 'X' WHERE false`)
			return err
		}},
		{"with a batch", func(ctx context.Context, tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`SELECT 1`)
			return tx.SendBatch(ctx, b).Close()
		}},
	} {
		email := fmt.Sprintf("kept-out-%d@held.example", i)
		err := p.Gate.Scope(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, insertHeldBack, email); err != nil { // sent at once: must not commit either
				return err
			}
			if err := database.ExecLater(ctx, tx, bad, "bad@held.example"); err != nil {
				return err
			}
			return tc.next(ctx, tx)
		})
		var held *database.DeferredError
		if !errors.As(err, &held) || pgCode(err) != "23514" { // check_violation on clients.status
			t.Fatalf("%s: the scope returned %v, want the held-back insert's check violation as a *database.DeferredError", tc.name, err)
		}
		if n := countClients(t, p, a, email); n != 0 {
			t.Fatalf("%s: the transaction's other insert committed (%d rows)", tc.name, n)
		}
	}
}

func TestHeldBackWritesOfARolledBackScopeAreNeverSent(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	a := p.NewTenant(t, "main")
	ctx := context.Background()
	failed := errors.New("handler failed")
	err := p.Gate.Scope(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
		if err := database.ExecLater(ctx, tx, insertHeldBack, "rolled-back@held.example"); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("scope returned %v, want the handler's error", err)
	}
	if n := countClients(t, p, a, "rolled-back@held.example"); n != 0 {
		t.Fatalf("a rolled-back scope's held-back insert committed (%d rows)", n)
	}
}

func TestAScopeWhoseFirstPipelineFailedRunsNothingAfterItAndDoesNotCommit(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	a := p.NewTenant(t, "main")
	ctx := context.Background()
	err := p.Gate.Scope(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		var n int
		if err := tx.QueryRow(cancelled, `SELECT count(*) FROM clients`).Scan(&n); err == nil {
			t.Fatal("the first statement ran with a cancelled context")
		}
		// BEGIN never ran: a statement sent afterwards with a live context must not reach the connection, where it
		// would run outside any transaction and outside the tenant's scope.
		var role string
		if err := tx.QueryRow(context.Background(), `SELECT current_user`).Scan(&role); err == nil {
			t.Errorf("after the failed first pipeline a statement ran, as %q", role)
		}
		if _, err := tx.Exec(context.Background(), `SELECT 1`); err == nil {
			t.Error("after the failed first pipeline a statement without arguments ran")
		}
		if c := tx.Conn(); !c.IsClosed() {
			t.Error("Conn of a transaction whose first pipeline failed hands out an open connection")
		}
		return nil
	})
	if err == nil {
		t.Fatal("the scope committed a transaction whose first pipeline failed")
	}
}
