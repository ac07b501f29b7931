package staff_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/mail"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres, localsvc.Mailpit) }

func newService(t *testing.T, p *tenanttest.Platform) *staff.Service {
	t.Helper()
	sender, err := mail.NewSender(os.Getenv("BD_SMTP_ADDR"), "BrokerDesk <no-reply@brokerdesk.test>", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return staff.NewService(staff.Options{Gate: p.Gate, Audit: audit.NewService(p.Gate), Mailer: sender,
		TenantURL: func(t tenants.Tenant, path string) string { return "https://" + t.Slug + ".brokerdesk.test" + path }})
}

func TestProvisioningInvitesTheAdminOnceByEmail(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	svc := newService(t, p)
	ctx := context.Background()
	ten := p.NewTenant(t, "") // the shared platform has no inviter: invite here, twice, as a resumed run would
	for i := 0; i < 2; i++ {
		if err := svc.InviteAdmin(ctx, ten); err != nil {
			t.Fatalf("invite #%d: %v", i+1, err)
		}
	}
	msgs, err := localsvc.MailpitMessages(ctx, os.Getenv("BD_MAILPIT_URL"), ten.AdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d invitation emails to %s, want exactly 1", len(msgs), ten.AdminEmail)
	}
	prefix := "https://" + ten.Slug + ".brokerdesk.test/invitations/"
	i := strings.Index(msgs[0].Text, prefix)
	if i < 0 || !strings.Contains(msgs[0].Subject, ten.DisplayName) {
		t.Fatalf("invitation email: %q / %q", msgs[0].Subject, msgs[0].Text)
	}
	token := strings.Fields(msgs[0].Text[i+len(prefix):])[0]

	members, err := svc.List(ctx, ten)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].Email != ten.AdminEmail || members[0].Status != "invited" || members[0].Roles[0] != staff.RoleAdmin {
		t.Fatalf("staff after invitation: %+v", members)
	}
	// Only the token's SHA-256 is stored.
	err = p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		var hashed, plain int
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to($1, 'UTF8'))),
			count(*) FILTER (WHERE token_hash = convert_to($1, 'UTF8')) FROM staff_invitations`, token).Scan(&hashed, &plain); err != nil {
			return err
		}
		if hashed != 1 || plain != 0 {
			t.Errorf("invitations stored by SHA-256 of the emailed token: %d, in clear: %d; want 1 and 0", hashed, plain)
		}
		var sent int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM staff_invitations WHERE sent_at IS NOT NULL AND expires_at > now()`).Scan(&sent); err != nil {
			return err
		}
		if sent != 1 {
			t.Errorf("%d sent invitations recorded, want 1", sent)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// One invitation, one audit row: by the system, naming the new user, never the token.
	trail := audit.NewService(p.Gate)
	page, err := trail.List(ctx, ten, audit.Filter{ActionPrefix: "staff."}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 1 {
		t.Fatalf("%d staff audit rows after two invite calls, want 1", len(page.Rows))
	}
	r := page.Rows[0]
	if r.Action != staff.ActionInvited || r.Actor != audit.System("provisioning") ||
		r.Target != (audit.Target{Type: "staff_user", ID: members[0].ID.String()}) ||
		!strings.Contains(string(r.Diff), `"/email":{"after":"`+ten.AdminEmail+`"}`) || strings.Contains(string(r.Diff), token) {
		t.Fatalf("invitation audit row: %+v diff %s", r, r.Diff)
	}
	if rep, err := trail.Verify(ctx, ten); err != nil || !rep.OK() || rep.Rows != 1 {
		t.Fatalf("verify after invitation: %+v %v", rep, err)
	}
}

func TestDemoSeederGivesOneStaffMemberPerRoleAndIsIdempotent(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	svc := newService(t, p)
	ten := p.NewTenant(t, "")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error { return staff.DemoSeeder{}.Seed(ctx, tx, ten) }); err != nil {
			t.Fatal(err)
		}
	}
	members, err := svc.List(ctx, ten)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[staff.Role]int{}
	for _, m := range members {
		for _, r := range m.Roles {
			roles[r]++
		}
	}
	for _, r := range staff.Roles {
		if roles[r] != 1 {
			t.Errorf("role %s held by %d demo staff, want 1", r, roles[r])
		}
	}
}
