package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestAuditVerifyCommandSaysOkOrNamesTheFirstBadRow(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	// The command needs only the registry and the audit service.
	a := &app{registry: p.Registry, audit: audit.NewService(p.Gate)}
	ten := p.NewTenant(t, "main")
	ctx := context.Background()
	for i := range 4 {
		err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			return a.audit.Record(ctx, tx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorStaff, ID: "ana"},
				Action: "client.updated", Target: audit.Target{Type: "client", ID: fmt.Sprint(i)},
				After: map[string]any{"note": fmt.Sprintf("call %d", i)}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	verify := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := auditCommand(ctx, a, args, &out)
		return out.String(), err
	}

	out, err := verify("verify", "--tenant", ten.Slug)
	if err != nil || !strings.HasPrefix(out, "ok: 4 rows, chain intact\nhead: row 4, sha256 ") {
		t.Fatalf("intact chain: %v\n%s", err, out)
	}

	// Row 3 altered by someone holding the database's superuser.
	conn, err := pgx.Connect(ctx, p.URLs[ten.Cluster])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `BEGIN; SET LOCAL session_replication_role = replica;
		UPDATE `+pgx.Identifier{ten.Schema, "audit_log"}.Sanitize()+` SET diff = '{"/note":{"after":"call 9"}}' WHERE seq = 3;
		COMMIT`); err != nil {
		t.Fatal(err)
	}
	out, err = verify("verify", "--tenant", ten.Slug)
	var exit exitError
	if !errors.As(err, &exit) || exit != 1 {
		t.Fatalf("tampered chain: %v, want exit status 1\n%s", err, out)
	}
	if !strings.HasPrefix(out, "FAIL: "+ten.Slug+": row 3: hash mismatch: ") || !strings.Contains(out, "rows 1 to 2 link and hash correctly") {
		t.Fatalf("tampered chain output:\n%s", out)
	}

	for _, args := range [][]string{{"verify", "--tenant", "no-such-tenant"}, {"verify"}, {"verify", "--tenant", ten.Slug, "extra"}, {"check"}, {}} {
		if out, err := verify(args...); err == nil || errors.As(err, &exit) || strings.HasPrefix(out, "ok") {
			t.Errorf("audit %q: %v, %q; want a usage error", args, err, out)
		}
	}
}
