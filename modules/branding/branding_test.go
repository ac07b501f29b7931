package branding_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/branding"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres) }

func TestBrandKeepsValidColoursAndFallsBackOnAnythingElse(t *testing.T) {
	t.Parallel()
	p := tenanttest.Shared(t)
	svc := branding.NewService(p.Gate)
	ctx := context.Background()
	cases := []struct {
		name, primary, accent   string
		wantPrimary, wantAccent string
	}{
		{"valid colours are kept", "#0A7D4F", "#123456", "#0A7D4F", "#123456"},
		{"css injection falls back", "red; } body { display:none", "#12345", web.DefaultBrand.PrimaryColor, web.DefaultBrand.AccentColor},
		{"named colours fall back", "red", "url(x)", web.DefaultBrand.PrimaryColor, web.DefaultBrand.AccentColor},
	}
	for _, c := range cases {
		ten := p.NewTenant(t, "")
		err := p.Gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO settings (key, value)
				VALUES ('branding', jsonb_build_object('name', 'Acme FX', 'primary_color', $1::text, 'accent_color', $2::text))
				ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, c.primary, c.accent)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := svc.Get(ctx, ten)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if b.Name != "Acme FX" || b.PrimaryColor != c.wantPrimary || b.AccentColor != c.wantAccent {
			t.Errorf("%s: got %+v", c.name, b)
		}
	}
}
