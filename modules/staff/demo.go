package staff

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// DemoStaff are the demo brokerage's staff, one per role, at <role>@<slug>.demo.
func DemoStaff(t tenants.Tenant) []Member {
	names := map[Role]string{
		RoleAdmin: "Ada Admin", RoleCompliance: "Colin Compliance", RoleSales: "Sara Sales", RoleRetention: "Rita Retention",
		RoleFinance: "Fred Finance", RoleSupport: "Sam Support", RoleIBManager: "Ivan IB-Manager", RoleReadonly: "Rory Readonly",
	}
	out := make([]Member, 0, len(Roles))
	for _, r := range Roles {
		out = append(out, Member{Email: strings.ReplaceAll(string(r), "_", "-") + "@" + t.Slug + ".demo", FullName: names[r], Roles: []Role{r}, Status: "active"})
	}
	return out
}

// DemoSeeder adds DemoStaff to a tenant. It implements tenants.Seeder (idempotent).
type DemoSeeder struct{}

// Seed inserts the demo staff that are missing.
func (DemoSeeder) Seed(ctx context.Context, tx pgx.Tx, t tenants.Tenant) error {
	for _, m := range DemoStaff(t) {
		if _, err := tx.Exec(ctx, `INSERT INTO staff_users (id, email, full_name, roles, status) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (email) DO NOTHING`, uuid.New(), m.Email, m.FullName, []string{string(m.Roles[0])}, m.Status); err != nil {
			return err
		}
	}
	return nil
}
