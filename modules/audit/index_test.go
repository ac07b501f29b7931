package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// TestEveryListFilterHasAnIndex plans List's queries, run the way List runs them (see listExecMode), over a log
// spread like a real one, and checks each filter is served by its own index.
func TestEveryListFilterHasAnIndex(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	svc := NewService(p.Gate)
	ten := p.NewTenant(t, "")
	ctx := context.Background()
	const n = 3000
	areas := []string{"client", "deposit", "withdrawal", "kyc", "staff", "ticket", "bonus", "ib", "settings"}
	var from, to time.Time
	err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		for i := range n {
			area := areas[i%len(areas)]
			if i%100 == 0 {
				area = "gateway" // a rare area, so its prefix is selective
			}
			e := Entry{
				Actor:  Actor{ActorStaff, fmt.Sprintf("staff-%d", i%150)},
				Action: area + ".changed",
				Target: Target{area, fmt.Sprintf("%s-%d", area, i%400)},
			}
			if err := svc.Record(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The rows joined the chain at commit: read two of their times for the range filter.
	err = p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT created_at FROM audit_log WHERE seq = 1001`).Scan(&from); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT created_at FROM audit_log WHERE seq = 1031`).Scan(&to); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `ANALYZE audit_log`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		f     Filter
		index string
	}{
		{"actor", Filter{ActorKind: ActorStaff, ActorID: "staff-7"}, "audit_log_actor"},
		{"target", Filter{TargetType: "kyc", TargetID: "kyc-3"}, "audit_log_target"},
		{"action prefix", Filter{ActionPrefix: "gateway."}, "audit_log_action"},
		{"time range", Filter{From: from, To: to}, "audit_log_created_at"},
		{"no filter", Filter{}, "audit_log_pkey"},
	}
	for _, c := range cases {
		sql, args, _, err := listQuery(c.f, "", DefaultLimit)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		err = p.Gate.ScopeWith(ctx, ten, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, "EXPLAIN "+sql, append([]any{listExecMode}, args...)...)
			if err != nil {
				return err
			}
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, " "+c.index+" ") || strings.Contains(text, "Seq Scan") {
			t.Errorf("%s: plan does not use %s:\n%s", c.name, c.index, text)
		}
	}
}
