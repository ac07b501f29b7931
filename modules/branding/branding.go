// Package branding is the room for how a brokerage looks on its hosts: its name, logo and colours (kept in the
// tenant's settings), the public branding API a white-labelled front end reads, and the brokerage's landing page.
package branding

import (
	"context"
	"embed"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PageFiles are this module's page templates (the landing page), for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

// Service reads a tenant's branding.
type Service struct {
	gate *tenants.Gate
}

// NewService returns the branding service.
func NewService(gate *tenants.Gate) *Service { return &Service{gate: gate} }

type stored struct {
	Name         string `json:"name"`
	LogoURL      string `json:"logo_url"`
	PrimaryColor string `json:"primary_color"`
	AccentColor  string `json:"accent_color"`
}

// settingsKey is where the brand lives in the tenant's settings.
const settingsKey = "branding"

// defaults is the brand of a tenant that never chose one: its name and BrokerDesk's colours.
func defaults(t tenants.Tenant) func() stored {
	return func() stored {
		return stored{Name: t.DisplayName, PrimaryColor: web.DefaultBrand.PrimaryColor, AccentColor: web.DefaultBrand.AccentColor}
	}
}

// Get returns the tenant's brand; anything unset or malformed falls back to the tenant's name and BrokerDesk's
// colours, so a bad setting can never break a page or inject CSS.
func (s *Service) Get(ctx context.Context, t tenants.Tenant) (web.Brand, error) {
	b := web.DefaultBrand
	b.Name = t.DisplayName
	st, err := tenants.ReadSettingOr(ctx, s.gate, t, settingsKey, defaults(t))
	if err != nil {
		return b, err
	}
	if st.Name != "" {
		b.Name = st.Name
	}
	if web.ValidColor(st.PrimaryColor) {
		b.PrimaryColor = st.PrimaryColor
	}
	if web.ValidColor(st.AccentColor) {
		b.AccentColor = st.AccentColor
	}
	b.LogoURL = st.LogoURL
	return b, nil
}

// Seeder records a new tenant's brand (its display name and BrokerDesk's colours) when it is provisioned, so
// the brand a tenant admin later edits starts from what the brokerage signed up as.
type Seeder struct{}

// Seed implements tenants.Seeder; a brand already recorded is kept.
func (Seeder) Seed(ctx context.Context, tx pgx.Tx, t tenants.Tenant) error {
	if _, saved, err := loadBrand(ctx, tx, t); err != nil || saved {
		return err
	}
	return tenants.SaveSetting(ctx, tx, settingsKey, defaults(t)())
}

func loadBrand(ctx context.Context, tx pgx.Tx, t tenants.Tenant) (stored, bool, error) {
	st := defaults(t)()
	saved, err := tenants.LoadSetting(ctx, tx, settingsKey, &st)
	return st, saved, err
}

// Response is the public branding a white-labelled front end reads.
type Response struct {
	Name         string `json:"name"`
	LogoURL      string `json:"logo_url"`
	PrimaryColor string `json:"primary_color"`
	AccentColor  string `json:"accent_color"`
}

// Door is the module's front door: the branding API, the landing page, and every new tenant's brand.
func (s *Service) Door() frontdoor.Door {
	return frontdoor.Door{Name: "branding", Routes: func(api *web.API) { Routes(api, s) }, PageFiles: PageFiles,
		Pages: func(shell *web.Shell) { MountPages(shell, s) }, Seeders: []tenants.Seeder{Seeder{}}}
}

// Routes registers the branding API on a tenant host's route table.
func Routes(api *web.API, s *Service) {
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/branding", Permission: web.Public, Tag: "branding",
		Summary: "The brokerage's name, logo and colours, for its white-labelled pages", Response: Response{},
		Handler: func(c *fiber.Ctx) error {
			b, err := s.Get(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(Response{Name: b.Name, LogoURL: b.LogoURL, PrimaryColor: b.PrimaryColor, AccentColor: b.AccentColor})
		}})
}

// MountPages registers the brokerage's landing page (public) on the page shell, which shows it in the brand.
func MountPages(shell *web.Shell, s *Service) {
	shell.Page(fiber.MethodGet, "/", web.Public, func(c *fiber.Ctx) error {
		return shell.RenderPublic(c, fiber.StatusOK, "landing", "Welcome", nil)
	})
}
