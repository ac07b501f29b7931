package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// bundle is one test's tenant and audit service.
type bundle struct {
	p   *tenanttest.Platform
	svc *audit.Service
	ten tenants.Tenant
}

func setup(t *testing.T) bundle {
	t.Helper()
	p := tenanttest.Shared(t)
	return bundle{p: p, svc: audit.NewService(p.Gate), ten: p.NewTenant(t, "main")}
}

// record appends each entry in its own tenant transaction, as business code does.
func (b bundle) record(t *testing.T, entries ...audit.Entry) {
	t.Helper()
	for _, e := range entries {
		if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
			return b.svc.Record(ctx, tx, e)
		}); err != nil {
			t.Fatalf("record %s: %v", e.Action, err)
		}
	}
}

func (b bundle) verify(t *testing.T) audit.Report {
	t.Helper()
	rep, err := b.svc.Verify(context.Background(), b.ten)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// superuser runs sql in the tenant's schema as the cluster's superuser, with every trigger off: what an attacker
// with the database's keys can do, and what Verify must notice.
func (b bundle) superuser(t *testing.T, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.p.URLs[b.ten.Cluster])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, b.ten.Schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		t.Fatalf("as superuser: %s: %v", sql, err)
	}
}

func staffEntry(i int) audit.Entry {
	return audit.Entry{
		Actor:  audit.Actor{Kind: audit.ActorStaff, ID: fmt.Sprintf("staff-%d", i%3)},
		Action: "client.updated",
		Target: audit.Target{Type: "client", ID: fmt.Sprintf("client-%d", i)},
		Before: map[string]any{"email": fmt.Sprintf("old%d@example.com", i), "status": "registered"},
		After:  map[string]any{"email": fmt.Sprintf("new%d@example.com", i), "status": "registered"},
		Origin: audit.Origin{IP: netip.MustParseAddr("203.0.113.9"), UserAgent: "Mozilla/5.0", RequestID: fmt.Sprintf("req-%04d", i)},
	}
}

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestRecordStoresActorActionTargetRedactedDiffAndOrigin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := logging.WithRequestID(context.Background(), "req-from-logging")
	ctx = audit.WithOrigin(ctx, audit.Origin{IP: netip.MustParseAddr("::ffff:198.51.100.7"), UserAgent: "agent/1 \x00nul"})
	before := time.Now()
	err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return b.svc.Record(ctx, tx, audit.Entry{
			Actor:  audit.Actor{Kind: audit.ActorStaff, ID: "7d4c"},
			Action: "staff.password_changed",
			Target: audit.Target{Type: "staff_user", ID: "7d4c"},
			Before: map[string]any{"password_hash": "$argon2id$old", "totp_secret": "JBSWY3DP", "name": "Ana"},
			After:  map[string]any{"password_hash": "$argon2id$new", "totp_secret": "KRUGS4ZA", "name": "Ana B"},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	page, err := b.svc.List(context.Background(), b.ten, audit.Filter{}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 1 {
		t.Fatalf("%d rows, want 1", len(page.Rows))
	}
	r := page.Rows[0]
	wantDiff := `{"/name":{"after":"Ana B","before":"Ana"},"/password_hash":{"after":"[redacted]","before":"[redacted]"},` +
		`"/totp_secret":{"after":"[redacted]","before":"[redacted]"}}`
	if r.Seq != 1 || r.Actor != (audit.Actor{Kind: audit.ActorStaff, ID: "7d4c"}) || r.Action != "staff.password_changed" ||
		r.Target != (audit.Target{Type: "staff_user", ID: "7d4c"}) || string(r.Diff) != wantDiff {
		t.Errorf("stored row: %+v\ndiff %s", r, r.Diff)
	}
	// The origin comes from the context; the request id from the logging context when the origin has none.
	if r.Origin.IP.String() != "198.51.100.7" || r.Origin.UserAgent != "agent/1 nul" || r.Origin.RequestID != "req-from-logging" {
		t.Errorf("origin: %+v", r.Origin)
	}
	if r.At.Before(before.Add(-time.Second)) || r.At.After(time.Now().Add(time.Second)) || r.At.Location() != time.UTC {
		t.Errorf("time %v is not now, in UTC", r.At)
	}
	if r.PrevHash != (audit.Hash{}) || r.Hash != r.ComputeHash() {
		t.Errorf("row 1 links to %s and has hash %s (computed %s)", r.PrevHash, r.Hash, r.ComputeHash())
	}
	// No secret reached any column of the table.
	var leaks int
	err = b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE strpos(audit_log::text, 'argon2id') > 0
			OR strpos(audit_log::text, 'JBSWY3DP') > 0 OR strpos(audit_log::text, 'KRUGS4ZA') > 0`).Scan(&leaks)
	})
	if err != nil || leaks != 0 {
		t.Fatalf("rows holding a secret: %d (%v)", leaks, err)
	}
	if rep := b.verify(t); !rep.OK() || rep.Rows != 1 || rep.HeadSeq != 1 || rep.HeadHash != r.Hash {
		t.Fatalf("verify: %+v", rep)
	}
}

func TestAuditRowCommitsExactlyWhenTheBusinessChangeDoes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	insertClient := func(ctx context.Context, tx pgx.Tx, email string) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status)
			VALUES ($1, $2, 'A', 'B', 'GB', 'registered')`, uuid.New(), email)
		return err
	}
	count := func(table string) int {
		var n int
		if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	entry := audit.Entry{Actor: audit.System("test"), Action: "client.registered", Target: audit.Target{Type: "client", ID: "x"}}

	// The business change fails after Record: neither commits.
	boom := errors.New("payment gateway said no")
	err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := insertClient(ctx, tx, "a@example.com"); err != nil {
			return err
		}
		if err := b.svc.Record(ctx, tx, entry); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || count("clients") != 0 || count("audit_log") != 0 {
		t.Fatalf("after a failed change: err %v, %d clients, %d audit rows; want the error and nothing stored", err, count("clients"), count("audit_log"))
	}
	// Record fails (an invalid entry): the business change does not commit either.
	err = b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := insertClient(ctx, tx, "a@example.com"); err != nil {
			return err
		}
		bad := entry
		bad.Action = "Registered"
		return b.svc.Record(ctx, tx, bad)
	})
	if !errors.Is(err, audit.ErrInvalidEntry) || count("clients") != 0 || count("audit_log") != 0 {
		t.Fatalf("after a failed audit: err %v, %d clients, %d audit rows", err, count("clients"), count("audit_log"))
	}
	// Both succeed: both commit, and the aborted attempts left no hole in the chain.
	err = b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := insertClient(ctx, tx, "a@example.com"); err != nil {
			return err
		}
		return b.svc.Record(ctx, tx, entry)
	})
	if err != nil || count("clients") != 1 || count("audit_log") != 1 {
		t.Fatalf("after a good change: err %v, %d clients, %d audit rows", err, count("clients"), count("audit_log"))
	}
	if rep := b.verify(t); !rep.OK() || rep.Rows != 1 {
		t.Fatalf("verify: %+v %v", rep, rep.Problem)
	}
}

func TestConcurrentAppendsFormOneLinearChain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := staffEntry(w*each + i)
				errs <- b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
					return b.svc.Record(ctx, tx, e)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rep := b.verify(t)
	if !rep.OK() || rep.Rows != workers*each || rep.HeadSeq != workers*each {
		t.Fatalf("verify after concurrent appends: %+v %v", rep, rep.Problem)
	}
	// Time never runs backwards along the chain, and every request id landed exactly once.
	var rows []audit.Row
	for cursor := ""; ; {
		page, err := b.svc.List(context.Background(), b.ten, audit.Filter{}, cursor, audit.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, page.Rows...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	seen := map[string]bool{}
	for i, r := range rows {
		if i > 0 && r.At.After(rows[i-1].At) {
			t.Errorf("row %d (%v) is later than row %d (%v)", r.Seq, r.At, rows[i-1].Seq, rows[i-1].At)
		}
		seen[r.Origin.RequestID] = true
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct request ids, want %d", len(seen), workers*each)
	}
}

func TestATransactionsRowsJoinTheChainTogetherInTheOrderRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// Transactions of 1 to 40 rows each, eight at a time: every row lands once, each transaction's rows are
	// consecutive, in the order it recorded them, with one time, and the chain verifies.
	const workers, each = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	total := 0
	for w := range workers {
		for i := range each {
			total += 1 + (w*each+i)%40
		}
		wg.Go(func() {
			for i := range each {
				n, first := 1+(w*each+i)%40, (w*each+i)*100
				errs <- b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
					for k := range n {
						if err := b.svc.Record(ctx, tx, staffEntry(first+k)); err != nil {
							return err
						}
					}
					return nil
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rep := b.verify(t)
	if !rep.OK() || rep.Rows != int64(total) || rep.HeadSeq != int64(total) {
		t.Fatalf("verify: %+v %v; want %d rows", rep, rep.Problem, total)
	}
	var pending int
	err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_pending`).Scan(&pending)
	})
	if err != nil || pending != 0 {
		t.Fatalf("pending rows left: %d (%v)", pending, err)
	}
	// Each transaction's rows, found by their request ids (req-<transaction*100 + k>), in one run of numbers.
	type where struct {
		seq int64
		at  time.Time
	}
	by := map[string]where{}
	for cursor := ""; ; {
		page, err := b.svc.List(ctx, b.ten, audit.Filter{}, cursor, audit.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rows {
			by[r.Origin.RequestID] = where{r.Seq, r.At}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	for x := range workers * each {
		n, first := 1+x%40, x*100
		start := by[fmt.Sprintf("req-%04d", first)]
		for k := range n {
			got, ok := by[fmt.Sprintf("req-%04d", first+k)]
			if !ok || got.seq != start.seq+int64(k) || !got.at.Equal(start.at) {
				t.Fatalf("transaction %d, row %d: %+v, found %v; want seq %d at %v", x, k, got, ok, start.seq+int64(k), start.at)
			}
		}
	}
}

func TestTheTenantRoleCannotChangeOrRemoveAuditRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.record(t, staffEntry(1), staffEntry(2))
	ctx := context.Background()
	// The privileges are gone (the REVOKEs), and the head moves only through the append trigger (its guard).
	for _, c := range []struct{ sql, because string }{
		{`UPDATE audit_log SET actor_id = 'someone else' WHERE seq = 1`, "permission denied"},
		{`DELETE FROM audit_log WHERE seq = 2`, "permission denied"},
		{`TRUNCATE audit_log`, "permission denied"},
		{`UPDATE audit_chain SET last_seq = 0`, "moves only by appending"},
		{`DELETE FROM audit_chain`, "permission denied"},
		{`TRUNCATE audit_chain`, "permission denied"},
		{`INSERT INTO audit_chain (singleton, last_seq, last_hash) VALUES (false, 0, '\x00')`, "permission denied"},
	} {
		err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, c.sql)
			return err
		})
		if pgCode(err) != "42501" || !strings.Contains(err.Error(), c.because) {
			t.Errorf("%s inside the tenant scope: got %v, want 42501 %q", c.sql, err, c.because)
		}
	}
	// Even with its privileges granted back (the owner can), the triggers refuse.
	err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `GRANT UPDATE, DELETE, TRUNCATE ON audit_log TO CURRENT_USER`); err != nil {
			return err
		}
		for _, sql := range []string{`UPDATE audit_log SET actor_id = 'x' WHERE seq = 1`, `DELETE FROM audit_log WHERE seq = 2`, `TRUNCATE audit_log`} {
			_, err := tx.Exec(ctx, `SAVEPOINT s`)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, sql); pgCode(err) != "42501" || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s with privileges granted back: got %v, want the append-only trigger", sql, err)
			}
			if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`); err != nil {
				return err
			}
		}
		return errors.New("roll back the grant")
	})
	if err == nil || err.Error() != "roll back the grant" {
		t.Fatal(err)
	}
	// An insert that does not extend the chain is refused by the database, whatever the application computed: by the
	// chain trigger (23000), or for a number already taken by the primary key (23505). A statement of several rows
	// is refused as a whole when any of them breaks the chain.
	const copyOf = `created_at, actor_kind, actor_id, action, target_type, target_id, diff, ip, user_agent, request_id`
	for _, c := range []struct{ name, sql, code string }{
		{"skips a seq", `INSERT INTO audit_log SELECT 4, ` + copyOf + `, hash, hash FROM audit_log WHERE seq = 2`, "23000"},
		{"wrong link", `INSERT INTO audit_log SELECT 3, ` + copyOf + `, prev_hash, hash FROM audit_log WHERE seq = 2`, "23000"},
		{"replays a seq", `INSERT INTO audit_log SELECT 2, ` + copyOf + `, prev_hash, hash FROM audit_log WHERE seq = 2`, "23505"},
		{"links its first row and breaks its second", `INSERT INTO audit_log SELECT seq + 2, ` + copyOf + `,
			CASE seq WHEN 1 THEN (SELECT last_hash FROM audit_chain) ELSE '\x00'::bytea || substr(hash, 2) END, hash
			FROM audit_log WHERE seq <= 2`, "23000"},
		{"links its rows but starts past the head", `INSERT INTO audit_log SELECT seq + 3, ` + copyOf + `,
			CASE seq WHEN 1 THEN (SELECT last_hash FROM audit_chain) ELSE prev_hash END, hash FROM audit_log WHERE seq <= 2`, "23000"},
	} {
		err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, c.sql)
			return err
		})
		if pgCode(err) != c.code {
			t.Errorf("insert that %s: got %v, want %s", c.name, err, c.code)
		}
	}
	if rep := b.verify(t); !rep.OK() || rep.Rows != 2 {
		t.Fatalf("verify: %+v %v", rep, rep.Problem)
	}
}

func TestVerifyNamesTheFirstTamperedRow(t *testing.T) {
	t.Parallel()
	const rows = 6
	sql := func(q string) func(*testing.T, bundle) { return func(t *testing.T, b bundle) { b.superuser(t, q) } }
	cases := []struct {
		name   string
		tamper func(*testing.T, bundle)
		seq    int64
		kind   audit.ProblemKind
	}{
		{"one byte of a diff flipped ('new3' becomes 'new2')", sql(`UPDATE audit_log SET diff = convert_from(set_byte(convert_to(diff::text, 'UTF8'),
			strpos(diff::text, 'new3') + 2, get_byte(convert_to(diff::text, 'UTF8'), strpos(diff::text, 'new3') + 2) # 1), 'UTF8')::json
			WHERE seq = 3`), 3, audit.ProblemHashMismatch},
		{"actor rewritten", sql(`UPDATE audit_log SET actor_id = 'staff-9' WHERE seq = 2`), 2, audit.ProblemHashMismatch},
		{"time moved by a microsecond", sql(`UPDATE audit_log SET created_at = created_at + interval '1 microsecond' WHERE seq = 5`), 5, audit.ProblemHashMismatch},
		{"ip respelled", sql(`UPDATE audit_log SET ip = '::ffff:203.0.113.9' WHERE seq = 4`), 4, audit.ProblemHashMismatch},
		{"hash overwritten", sql(`UPDATE audit_log SET hash = sha256(hash) WHERE seq = 3`), 3, audit.ProblemHashMismatch},
		{"row deleted from the middle", sql(`DELETE FROM audit_log WHERE seq = 3`), 3, audit.ProblemMissing},
		{"two rows deleted from the middle", sql(`DELETE FROM audit_log WHERE seq IN (2, 3)`), 2, audit.ProblemMissing},
		{"first row deleted", sql(`DELETE FROM audit_log WHERE seq = 1`), 1, audit.ProblemMissing},
		{"last row deleted", sql(`DELETE FROM audit_log WHERE seq = 6`), 6, audit.ProblemMissing},
		{"rows 3 and 4 swapped", sql(`UPDATE audit_log SET seq = 1000 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4;
			UPDATE audit_log SET seq = 4 WHERE seq = 1000`), 3, audit.ProblemBrokenLink},
		{"a deleted row's gap closed by renumbering", sql(`DELETE FROM audit_log WHERE seq = 2;
			UPDATE audit_log SET seq = seq - 1 WHERE seq = 3; UPDATE audit_log SET seq = seq - 1 WHERE seq = 4;
			UPDATE audit_log SET seq = seq - 1 WHERE seq = 5; UPDATE audit_log SET seq = seq - 1 WHERE seq = 6;
			UPDATE audit_chain SET last_seq = last_seq - 1`), 2, audit.ProblemBrokenLink},
		{"row 3 rewritten with a correct new hash", func(t *testing.T, b bundle) { b.rewrite(t, 3) }, 4, audit.ProblemBrokenLink},
		{"last row rewritten with a correct new hash", func(t *testing.T, b bundle) { b.rewrite(t, 6) }, 6, audit.ProblemHeadMismatch},
		{"a well-formed row added behind the trigger's back", func(t *testing.T, b bundle) {
			r := b.row(t, 6)
			r.Seq, r.PrevHash, r.Actor.ID = 7, r.Hash, "intruder"
			r.Hash = r.ComputeHash()
			b.superuser(t, `INSERT INTO audit_log SELECT 7, created_at, actor_kind, $1, action, target_type, target_id, diff, ip,
				user_agent, request_id, $2, $3 FROM audit_log WHERE seq = 6`, r.Actor.ID, r.PrevHash[:], r.Hash[:])
		}, 7, audit.ProblemHeadMismatch},
		{"two rows altered: the earlier is named", sql(`UPDATE audit_log SET action = 'client.deleted' WHERE seq IN (2, 5)`), 2, audit.ProblemHashMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			for i := 1; i <= rows; i++ {
				b.record(t, staffEntry(i))
			}
			if rep := b.verify(t); !rep.OK() || rep.Rows != rows {
				t.Fatalf("before tampering: %+v %v", rep, rep.Problem)
			}
			c.tamper(t, b)
			rep := b.verify(t)
			if rep.OK() {
				t.Fatalf("tampering went unnoticed: %+v", rep)
			}
			if rep.Problem.Seq != c.seq || rep.Problem.Kind != c.kind {
				t.Fatalf("Verify says %q; want row %d, %s", rep.Problem, c.seq, c.kind)
			}
		})
	}
}

// row reads one stored row through List.
func (b bundle) row(t *testing.T, seq int64) audit.Row {
	t.Helper()
	page, err := b.svc.List(context.Background(), b.ten, audit.Filter{}, "", audit.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Rows {
		if r.Seq == seq {
			return r
		}
	}
	t.Fatalf("no row %d", seq)
	return audit.Row{}
}

// rewrite changes row seq's actor and stores the hash that matches its new content: a forger who knows the
// encoding. Only the next link (or, for the last row, the chain head) gives it away.
func (b bundle) rewrite(t *testing.T, seq int64) {
	t.Helper()
	r := b.row(t, seq)
	r.Actor.ID = "forger"
	r.Hash = r.ComputeHash()
	b.superuser(t, `UPDATE audit_log SET actor_id = $1, hash = $2 WHERE seq = $3`, r.Actor.ID, r.Hash[:], seq)
}

// docRecipe reads docs/audit.md's SQL that recomputes every row's hash from its columns (so anyone can check a
// chain with psql alone), without its first line, which sets the search_path the test's scope already has.
func docRecipe(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```sql\nSET search_path TO tenant_acme;")
	if !ok {
		t.Fatal("docs/audit.md: no SQL block that starts with SET search_path TO tenant_acme;")
	}
	block, _, ok = strings.Cut(block, "```")
	_, block, _ = strings.Cut(block, "\n") // the rest of the SET line, a comment
	if !ok || !strings.Contains(block, "sha256(") {
		t.Fatal("docs/audit.md: the recipe's SQL block is not closed or does not hash")
	}
	return block
}

func TestTheDocumentedSQLRecipeAgreesWithEveryStoredHash(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tricky := audit.Entry{
		Actor:  audit.Actor{Kind: audit.ActorAPIKey, ID: "ключ-1"},
		Action: "gateway.configured",
		Target: audit.Target{Type: "payment_gateway", ID: ""},
		After:  map[string]any{"name": "Ünïcode \"quoted\" \\ <tag> \n", "limits": []any{1.5, 2, nil, true}},
		Origin: audit.Origin{IP: netip.MustParseAddr("2001:db8:0:0:1:0:0:1"), UserAgent: "ü/1"},
	}
	b.record(t, staffEntry(1), tricky, audit.Entry{Actor: audit.System("sweeper"), Action: "session.expired", Target: audit.Target{Type: "session", ID: "1"}})
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		// The recipe is several statements: run it over the simple protocol, then read the last result.
		mrr := tx.Conn().PgConn().Exec(ctx, docRecipe(t))
		results, err := mrr.ReadAll()
		if err != nil {
			return err
		}
		last := results[len(results)-1]
		if len(last.Rows) != 3 {
			return fmt.Errorf("recipe returned %d rows, want 3", len(last.Rows))
		}
		for _, row := range last.Rows {
			if !bytes.Equal(row[1], []byte("t")) || !bytes.Equal(row[2], []byte("t")) {
				t.Errorf("row %s: the recipe gives hash_ok=%s link_ok=%s", row[0], row[1], row[2])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
