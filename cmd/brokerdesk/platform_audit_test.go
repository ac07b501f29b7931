package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/operators"
)

func TestConsoleSignInsAndTenantChangesAreInThePlatformChainThatAuditVerifyChecks(t *testing.T) {
	t.Parallel()
	a, base, p := startServer(t)
	ctx := context.Background()
	ten := provisionForTest(t, a)
	createOperator(t, a, "ops@brokerdesk.test")
	c := newConsoleClient(t, base)
	if r := c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: "wrong password!!"}); r.status != 401 {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	r := c.json(http.MethodPost, "/api/v1/console/login", operators.LoginRequest{Email: "ops@brokerdesk.test", Password: operatorPasswrd})
	var tok operators.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	c.bearer = tok.AccessToken
	for _, verb := range []string{"suspend", "resume"} {
		if r := c.json(http.MethodPost, "/api/v1/console/tenants/"+ten.Slug+"/"+verb, operators.StatusRequest{Reason: "unpaid invoice"}); r.status != 200 {
			t.Fatalf("%s: %d %s", verb, r.status, r.body)
		}
	}

	type row struct{ actor, action, target, ip string }
	rows, err := a.clusters.Platform().Query(ctx, `SELECT actor_kind || ':' || actor_id, action, target_type, ip FROM platform.audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.actor, &x.action, &x.target, &x.ip)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantActions := []string{operators.ActionCreated, operators.ActionSignInFailed, operators.ActionSignedIn,
		operators.ActionTenantSuspended, operators.ActionTenantResumed}
	if len(got) != len(wantActions) {
		t.Fatalf("platform trail: %+v", got)
	}
	for i, w := range wantActions {
		if got[i].action != w {
			t.Errorf("row %d: %+v, want action %s", i+1, got[i], w)
		}
	}
	if got[3].target != "tenant" || !strings.HasPrefix(got[3].actor, "operator:") || got[2].ip != "127.0.0.1" {
		t.Errorf("tenant change or sign-in row: %+v %+v", got[2], got[3])
	}

	verify := func() (string, error) {
		var out bytes.Buffer
		err := auditCommand(ctx, a, []string{"verify", "--platform"}, &out)
		return out.String(), err
	}
	if out, err := verify(); err != nil || !strings.HasPrefix(out, "ok: 5 rows, chain intact\nhead: row 5, sha256 ") {
		t.Fatalf("intact platform chain: %v\n%s", err, out)
	}
	// The application's own connection cannot rewrite a row.
	if _, err := a.clusters.Platform().Exec(ctx, `UPDATE platform.audit_log SET actor_id = 'someone-else' WHERE seq = 3`); err == nil {
		t.Fatal("the application rewrote a platform audit row")
	}
	// Someone with the superuser's keys and triggers off can, and verify names the row.
	conn, err := pgx.Connect(ctx, p.URLs["main"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `BEGIN; SET LOCAL session_replication_role = replica;
		UPDATE platform.audit_log SET actor_id = 'someone-else' WHERE seq = 3; COMMIT`); err != nil {
		t.Fatal(err)
	}
	out, err := verify()
	var exit exitError
	if !errors.As(err, &exit) || exit != 1 || !strings.HasPrefix(out, "FAIL: platform: row 3: hash mismatch: ") {
		t.Fatalf("tampered platform chain: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"verify", "--platform", "--tenant", ten.Slug}, {"verify", "--platform", "extra"}} {
		var out bytes.Buffer
		if err := auditCommand(ctx, a, args, &out); err == nil || errors.As(err, &exit) {
			t.Errorf("audit %q: %v, want a usage error", args, err)
		}
	}
}

func TestTenantsCommandsRecordSuspendResumeAndDeleteInThePlatformChain(t *testing.T) {
	t.Parallel()
	a := workerApp(t)
	a.cfg.ExportDir = t.TempDir()
	ctx := context.Background()
	ten := provisionForTest(t, a)
	for _, verb := range []string{"suspend", "resume", "delete"} {
		if err := tenantsCommand(ctx, a, []string{verb, "--slug", ten.Slug, "--reason", "test " + verb}); err != nil {
			t.Fatalf("%s: %v", verb, err)
		}
	}
	rows, err := a.clusters.Platform().Query(ctx, `SELECT actor_kind, action, target_id FROM platform.audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ kind, action, target string }
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.kind, &x.action, &x.target)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{operators.ActionTenantSuspended, operators.ActionTenantResumed, operators.ActionTenantDeleted}
	if len(got) != len(want) {
		t.Fatalf("platform trail: %+v", got)
	}
	for i, w := range want {
		if got[i].action != w || got[i].kind != "system" || got[i].target != ten.ID.String() {
			t.Errorf("row %d: %+v, want %s by the system on %s", i+1, got[i], w, ten.ID)
		}
	}
	var out bytes.Buffer
	if err := auditCommand(ctx, a, []string{"verify", "--platform"}, &out); err != nil || !strings.HasPrefix(out.String(), "ok: 3 rows") {
		t.Fatalf("verify: %v\n%s", err, &out)
	}
}
