// Package branding is the room for how a brokerage looks on its hosts: its name, logo and colours (kept in the
// tenant's settings), the public branding API a white-labelled front end reads, and the brokerage's landing page.
package branding

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Pages are this module's page templates, for web.NewPages.
//
//go:embed pages/*.html
var Pages embed.FS

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

// Get returns the tenant's brand; anything unset or malformed falls back to the tenant's name and BrokerDesk's
// colours, so a bad setting can never break a page or inject CSS.
func (s *Service) Get(ctx context.Context, t tenants.Tenant) (web.Brand, error) {
	b := web.DefaultBrand
	b.Name = t.DisplayName
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = 'branding'`).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var st stored
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("branding setting: %w", err)
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
		return nil
	})
	return b, err
}

// Response is the public branding a white-labelled front end reads.
type Response struct {
	Name         string `json:"name"`
	LogoURL      string `json:"logo_url"`
	PrimaryColor string `json:"primary_color"`
	AccentColor  string `json:"accent_color"`
}

// Routes registers the branding API on a tenant host's route table and the landing page on its app (both after
// tenants.HostMiddleware).
func Routes(api *web.API, app fiber.Router, s *Service, pages *web.Pages) {
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/branding", Permission: web.Public, Tag: "branding",
		Summary: "The brokerage's name, logo and colours, for its white-labelled pages", Response: Response{},
		Handler: func(c *fiber.Ctx) error {
			b, err := s.Get(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(Response{Name: b.Name, LogoURL: b.LogoURL, PrimaryColor: b.PrimaryColor, AccentColor: b.AccentColor})
		}})
	app.Get("/", func(c *fiber.Ctx) error {
		b, err := s.Get(c.UserContext(), tenants.Current(c))
		if err != nil {
			return err
		}
		web.SetBrand(c, b)
		return pages.Render(c, fiber.StatusOK, "landing", web.Page{Title: "Welcome", Brand: b})
	})
}
