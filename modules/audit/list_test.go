package audit_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
)

func TestListFiltersAndPagesNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	specs := []struct {
		kind                              audit.ActorKind
		actor, action, targetType, target string
	}{
		{audit.ActorSystem, "provisioning", "staff.invited", "staff_user", "u1"},
		{audit.ActorStaff, "ana", "client.updated", "client", "c1"},
		{audit.ActorStaff, "ana", "staff.roles_changed", "staff_user", "u1"},
		{audit.ActorStaff, "bob", "client.updated", "client", "c2"},
		{audit.ActorClient, "c1", "client.password_changed", "client", "c1"},
		{audit.ActorStaff, "bob", "staffing.changed", "team", "t1"},
		{audit.ActorOperator, "op-1", "tenant.suspended", "tenant", "acme"},
		{audit.ActorAPIKey, "key-9", "deposit.credited", "deposit", "d1"},
		{audit.ActorStaff, "ana", "client.updated", "client", "c1"},
		{audit.ActorStaff, "ana", "staff.disabled", "staff_user", "u2"},
		{audit.ActorSystem, "sweeper", "withdrawal.expired", "withdrawal", "w1"},
		{audit.ActorStaff, "bob", "client.updated", "client", "c1"},
	}
	for _, s := range specs {
		b.record(t, audit.Entry{Actor: audit.Actor{Kind: s.kind, ID: s.actor}, Action: s.action, Target: audit.Target{Type: s.targetType, ID: s.target}})
	}
	all := listAll(t, b, audit.Filter{}, 100)
	if len(all) != len(specs) {
		t.Fatalf("%d rows listed, want %d", len(all), len(specs))
	}
	for i, r := range all {
		if r.Seq != int64(len(specs)-i) {
			t.Fatalf("row #%d has seq %d: not newest first", i, r.Seq)
		}
	}
	from, to := all[len(all)-4].At, all[len(all)-9].At // rows 4 to 8
	cases := []struct {
		name string
		f    audit.Filter
		keep func(audit.Row) bool
	}{
		{"actor kind", audit.Filter{ActorKind: audit.ActorSystem}, func(r audit.Row) bool { return r.Actor.Kind == audit.ActorSystem }},
		{"actor", audit.Filter{ActorKind: audit.ActorStaff, ActorID: "ana"}, func(r audit.Row) bool { return r.Actor == audit.Actor{Kind: audit.ActorStaff, ID: "ana"} }},
		{"action area", audit.Filter{ActionPrefix: "staff."}, func(r audit.Row) bool { return strings.HasPrefix(r.Action, "staff.") }},
		{"bare word prefix", audit.Filter{ActionPrefix: "staff"}, func(r audit.Row) bool { return strings.HasPrefix(r.Action, "staff") }},
		{"one action", audit.Filter{ActionPrefix: "client.updated"}, func(r audit.Row) bool { return r.Action == "client.updated" }},
		{"target type", audit.Filter{TargetType: "client"}, func(r audit.Row) bool { return r.Target.Type == "client" }},
		{"target", audit.Filter{TargetType: "client", TargetID: "c1"}, func(r audit.Row) bool { return r.Target == audit.Target{Type: "client", ID: "c1"} }},
		{"time range", audit.Filter{From: from, To: to}, func(r audit.Row) bool { return !r.At.Before(from) && r.At.Before(to) }},
		{"combined", audit.Filter{ActorKind: audit.ActorStaff, ActorID: "bob", ActionPrefix: "client.", TargetType: "client", TargetID: "c1"},
			func(r audit.Row) bool {
				return r.Actor.ID == "bob" && r.Target.ID == "c1" && r.Action == "client.updated"
			}},
		{"nothing matches", audit.Filter{ActionPrefix: "zzz"}, func(audit.Row) bool { return false }},
	}
	for _, c := range cases {
		var want []int64
		for _, r := range all {
			if c.keep(r) {
				want = append(want, r.Seq)
			}
		}
		for _, limit := range []int{1, 2, 100} {
			var got []int64
			for _, r := range listAll(t, b, c.f, limit) {
				got = append(got, r.Seq)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, %d per page: seqs %v, want %v", c.name, limit, got, want)
			}
		}
	}
	// Rows appended while a reader pages do not shift what it sees.
	first, err := b.svc.List(ctx, b.ten, audit.Filter{}, "", 5)
	if err != nil {
		t.Fatal(err)
	}
	b.record(t, staffEntry(99))
	second, err := b.svc.List(ctx, b.ten, audit.Filter{}, first.Next, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Rows) != 5 || second.Rows[0].Seq != first.Rows[4].Seq-1 {
		t.Fatalf("page 2 after an append starts at %d, want %d", second.Rows[0].Seq, first.Rows[4].Seq-1)
	}

	if _, err := b.svc.List(ctx, b.ten, audit.Filter{}, "not-a-cursor", 5); !errors.Is(err, audit.ErrBadCursor) {
		t.Fatalf("foreign cursor: %v", err)
	}
}

// listAll pages through List and checks every page's size and cursor.
func listAll(t *testing.T, b bundle, f audit.Filter, limit int) []audit.Row {
	t.Helper()
	var out []audit.Row
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("List does not stop paging")
		}
		page, err := b.svc.List(context.Background(), b.ten, f, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Rows) > limit || (page.Next != "" && len(page.Rows) != limit) {
			t.Fatalf("page of %d rows (limit %d) with next %q", len(page.Rows), limit, page.Next)
		}
		out = append(out, page.Rows...)
		if page.Next == "" {
			return out
		}
		cursor = page.Next
	}
}

func TestOriginMiddlewareGivesRecordsTheRequestsOrigin(t *testing.T) {
	t.Parallel()
	app := web.New(web.Options{})
	app.Use(audit.OriginMiddleware())
	var got audit.Origin
	app.Get("/", func(c *fiber.Ctx) error {
		got = audit.OriginFrom(c.UserContext())
		return c.SendStatus(fiber.StatusNoContent)
	})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("User-Agent", "TraderApp/3.1")
	req.Header.Set(web.HeaderRequestID, "req-abcdef12")
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != fiber.StatusNoContent {
		t.Fatalf("status %d", res.StatusCode)
	}
	if got.UserAgent != "TraderApp/3.1" || got.RequestID != "req-abcdef12" || !got.IP.IsValid() {
		t.Fatalf("origin seen by the handler: %+v", got)
	}
}
