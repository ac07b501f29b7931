package audit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestThePlatformChainIsAppendOnlyAndVerifyNamesADeletedRow(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	ctx := context.Background()
	trail := audit.NewPlatform(p.Clusters.Platform())
	for i := range 4 {
		if err := trail.RecordAlone(ctx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorOperator, ID: "op-1"},
			Action: "tenant.suspended", Target: audit.Target{Type: "tenant", ID: fmt.Sprint(i)},
			After: map[string]any{"reason": "unpaid"}}); err != nil {
			t.Fatal(err)
		}
	}
	// A rolled-back transaction leaves no row and no gap.
	_ = pgx.BeginFunc(ctx, p.Clusters.Platform(), func(tx pgx.Tx) error {
		if err := trail.Record(ctx, tx, audit.Entry{Actor: audit.System("cli"), Action: "operator.created", Target: audit.Target{Type: "operator", ID: "x"}}); err != nil {
			t.Fatal(err)
		}
		return fmt.Errorf("roll back")
	})
	rep, err := trail.Verify(ctx)
	if err != nil || !rep.OK() || rep.Rows != 4 || rep.HeadSeq != 4 {
		t.Fatalf("intact chain: %+v %v", rep, err)
	}
	for _, sql := range []string{`UPDATE platform.audit_log SET target_id = 'y' WHERE seq = 2`, `DELETE FROM platform.audit_log WHERE seq = 2`,
		`TRUNCATE platform.audit_log`, `UPDATE platform.audit_chain SET last_seq = 9`} {
		if _, err := p.Clusters.Platform().Exec(ctx, sql); pgCode(err) != "42501" {
			t.Errorf("%s: %v, want insufficient_privilege", sql, err)
		}
	}
	conn, err := pgx.Connect(ctx, p.URLs["main"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `BEGIN; SET LOCAL session_replication_role = replica; DELETE FROM platform.audit_log WHERE seq = 2; COMMIT`); err != nil {
		t.Fatal(err)
	}
	rep, err = trail.Verify(ctx)
	if err != nil || rep.OK() || rep.Problem.Seq != 2 || rep.Problem.Kind != audit.ProblemMissing {
		t.Fatalf("deleted row 2: %+v %v", rep.Problem, err)
	}
}
