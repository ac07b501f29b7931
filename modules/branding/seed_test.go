package branding_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestANewTenantsBrandIsItsNameInBrokerDesksColoursAndAChosenOneIsKept(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{Seeders: []tenants.Seeder{branding.Seeder{}}})
	svc := branding.NewService(p.Gate)
	ctx := context.Background()
	ten := p.NewTenant(t, "")
	var stored map[string]string
	if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = 'branding'`).Scan(&stored)
	}); err != nil {
		t.Fatalf("the seeded brand: %v", err)
	}
	if stored["name"] != ten.DisplayName || stored["primary_color"] != web.DefaultBrand.PrimaryColor {
		t.Errorf("seeded %v", stored)
	}
	// A brand chosen since survives a resumed provisioning running the seeder again.
	if err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE settings SET value = jsonb_set(value, '{name}', '"Renamed FX"') WHERE key = 'branding'`); err != nil {
			return err
		}
		return branding.Seeder{}.Seed(ctx, tx, ten)
	}); err != nil {
		t.Fatal(err)
	}
	if b, err := svc.Get(ctx, ten); err != nil || b.Name != "Renamed FX" {
		t.Errorf("after the seeder ran again: %+v %v", b, err)
	}
	// A tenant without a recorded brand still has one: its name in BrokerDesk's colours.
	bare := tenanttest.Shared(t).NewTenant(t, "")
	if b, err := branding.NewService(tenanttest.Shared(t).Gate).Get(ctx, bare); err != nil || b.Name != bare.DisplayName ||
		b.PrimaryColor != web.DefaultBrand.PrimaryColor || b.AccentColor != web.DefaultBrand.AccentColor {
		t.Errorf("an unseeded tenant's brand: %+v %v", b, err)
	}
}
