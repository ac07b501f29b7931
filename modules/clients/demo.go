package clients

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/tenants"
)

// demoClients are the demo brokerage's traders: at least one in every status, from several countries.
var demoClients = []struct {
	first, last, country string
	status               Status
}{
	{"Liam", "Walsh", "IE", StatusRegistered},
	{"Sofia", "Rossi", "IT", StatusEmailVerified},
	{"Kenji", "Tanaka", "JP", StatusKYCSubmitted},
	{"Amara", "Okafor", "NG", StatusKYCSubmitted},
	{"Lucas", "Martin", "FR", StatusKYCMoreInfo},
	{"Olga", "Ivanova", "CY", StatusKYCRejected},
	{"Hannah", "Schmidt", "DE", StatusKYCApproved},
	{"Diego", "Fernandez", "ES", StatusKYCApproved},
	{"Priya", "Sharma", "AE", StatusKYCApproved},
	{"Tom", "Baker", "GB", StatusRestricted},
	{"Eva", "Novak", "CZ", StatusSuspended},
	{"Mark", "Jensen", "DK", StatusClosed},
}

// DemoSeeder adds the demo traders to a tenant. It implements tenants.Seeder (idempotent).
type DemoSeeder struct{}

// Seed inserts the demo clients that are missing.
func (DemoSeeder) Seed(ctx context.Context, tx pgx.Tx, t tenants.Tenant) error {
	for _, c := range demoClients {
		email := fmt.Sprintf("%s.%s@traders.demo", strings.ToLower(c.first), strings.ToLower(c.last))
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, status)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING`,
			uuid.New(), email, c.first, c.last, c.country, string(c.status)); err != nil {
			return err
		}
	}
	return nil
}
