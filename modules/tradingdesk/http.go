package tradingdesk

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Permissions of the desk's routes and pages (identity's role table grants them).
const (
	PermRead   web.Permission = identity.PermTradingRead   // "trading.read"
	PermManage web.Permission = identity.PermTradingManage // "trading.manage"
)

// CredentialsBody sets a server's manager credentials: write-only, sealed, never shown again.
type CredentialsBody struct {
	Password string `json:"password,omitempty"`
	APIKey   string `json:"api_key,omitempty"`
}

// ServerBody changes a trading server (its platform and live or demo stay); credentials, when given, replace the
// stored ones.
type ServerBody struct {
	Name        string           `json:"name"`
	Config      Config           `json:"config"`
	Credentials *CredentialsBody `json:"credentials,omitempty"`
	Enabled     bool             `json:"enabled"`
}

// ServerCreateBody adds a trading server: ServerBody with its slug, platform and whether it is live, which stay.
type ServerCreateBody struct {
	Slug     string `json:"slug"`
	Platform string `json:"platform"`
	Live     bool   `json:"live"`
	ServerBody
}

// CapabilitiesResponse is what the platform's connector said of it.
type CapabilitiesResponse struct {
	SwapFree          string `json:"swap_free"`
	LeverageByGroup   bool   `json:"leverage_by_group"`
	CurrencyFixed     bool   `json:"currency_fixed"`
	NativeIdempotency bool   `json:"native_idempotency"`
	MaxDealWindowDays int    `json:"max_deal_window_days"`
	MaxLeverage       int    `json:"max_leverage"`
}

// CheckResponse is a server's last connection check.
type CheckResponse struct {
	Status       Status                `json:"status"`
	CheckedAt    *time.Time            `json:"checked_at,omitempty"`
	Since        *time.Time            `json:"since,omitempty"`
	Error        string                `json:"error,omitempty"`
	Capabilities *CapabilitiesResponse `json:"capabilities,omitempty"`
}

// ServerResponse is a trading server (never its credentials: "set" or "not set").
type ServerResponse struct {
	Slug        string        `json:"slug"`
	Name        string        `json:"name"`
	Platform    string        `json:"platform"`
	Live        bool          `json:"live"`
	Config      Config        `json:"config"`
	Credentials string        `json:"credentials"`
	Enabled     bool          `json:"enabled"`
	Check       CheckResponse `json:"check"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

// ServersResponse lists servers.
type ServersResponse struct {
	Servers []ServerResponse `json:"servers"`
}

// CheckRequestedResponse answers a check request: the worker checks the server now; its answer replaces Check.
type CheckRequestedResponse struct {
	Server  ServerResponse `json:"server"`
	Message string         `json:"message"`
}

func toCheck(c Check) CheckResponse {
	out := CheckResponse{Status: c.Status, CheckedAt: c.At, Since: c.Since, Error: c.Error}
	if p := c.Capabilities; p != nil {
		out.Capabilities = &CapabilitiesResponse{SwapFree: string(p.SwapFree), LeverageByGroup: p.LeverageByGroup, CurrencyFixed: p.CurrencyFixed,
			NativeIdempotency: p.NativeIdempotency, MaxDealWindowDays: int(p.MaxDealWindow / (24 * time.Hour)), MaxLeverage: p.MaxLeverage}
	}
	return out
}

// ToServerResponse is a server as the API shows it.
func ToServerResponse(s Server) ServerResponse {
	creds := "not set"
	if s.HasCredentials {
		creds = "set"
	}
	return ServerResponse{Slug: s.Slug, Name: s.Name, Platform: string(s.Platform), Live: s.Live, Config: s.Config, Credentials: creds,
		Enabled: s.Enabled, Check: toCheck(s.Check), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

func (b *CredentialsBody) credentials() *Credentials {
	if b == nil {
		return nil
	}
	return &Credentials{Password: b.Password, APIKey: b.APIKey}
}

// AccountTypeBody changes an account type (its server stays). Minimum first deposits are decimal strings of their
// currency ("100.00").
type AccountTypeBody struct {
	Name            string               `json:"name"`
	Server          string               `json:"server"`
	Groups          map[string]GroupPair `json:"groups"`
	Leverages       []int                `json:"leverages"`
	MinFirstDeposit map[string]string    `json:"min_first_deposit"`
	Tiers           []string             `json:"tiers"`
	Countries       []string             `json:"countries"`
	Enabled         bool                 `json:"enabled"`
}

// AccountTypeCreateBody adds an account type: AccountTypeBody with its slug.
type AccountTypeCreateBody struct {
	Slug string `json:"slug"`
	AccountTypeBody
}

// input reads the body, naming each minimum that is not an amount of its currency (min_first_deposit.USD).
func (b AccountTypeBody) input(slug string) (AccountTypeInput, error) {
	var f validation.Fields
	mins, err := ParseMinimums(b.MinFirstDeposit)
	f.Merge(err)
	return AccountTypeInput{Slug: slug, Name: b.Name, Server: b.Server, Groups: b.Groups, Leverages: b.Leverages, MinFirstDeposit: mins,
		Tiers: b.Tiers, Countries: b.Countries, Enabled: b.Enabled}, f.Err()
}

// ParseMinimums reads minimums given as decimal strings of their currency into minor units.
func ParseMinimums(in map[string]string) (map[string]int64, error) {
	var f validation.Fields
	out := map[string]int64{}
	for code, v := range in {
		c, ok := money.Lookup(code)
		if !ok {
			f.Add("min_first_deposit."+code, "not a currency BrokerDesk handles")
			continue
		}
		minor, err := money.Parse(v, c)
		if err != nil {
			f.Add("min_first_deposit."+code, err.Error())
			continue
		}
		out[code] = minor
	}
	return out, f.Err()
}

// AccountTypeResponse is an account type in the API.
type AccountTypeResponse struct {
	Slug            string               `json:"slug"`
	Name            string               `json:"name"`
	Server          string               `json:"server"`
	Live            bool                 `json:"live"`
	Groups          map[string]GroupPair `json:"groups"`
	Leverages       []int                `json:"leverages"`
	MinFirstDeposit map[string]string    `json:"min_first_deposit"`
	Tiers           []string             `json:"tiers"`
	Countries       []string             `json:"countries"`
	Enabled         bool                 `json:"enabled"`
	CreatedAt       time.Time            `json:"created_at"`
	UpdatedAt       time.Time            `json:"updated_at"`
}

// AccountTypesResponse lists account types.
type AccountTypesResponse struct {
	AccountTypes []AccountTypeResponse `json:"account_types"`
}

// ToAccountTypeResponse is an account type as the API shows it.
func ToAccountTypeResponse(a AccountType) AccountTypeResponse {
	return AccountTypeResponse{Slug: a.Slug, Name: a.Name, Server: a.ServerSlug, Live: a.Live, Groups: a.Groups, Leverages: a.Leverages,
		MinFirstDeposit: FormatMinimums(a.MinFirstDeposit), Tiers: a.Tiers, Countries: a.Countries, Enabled: a.Enabled,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// apiError maps the desk's errors to problems.
func apiError(err error, what string) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such " + what + ".")
	case errors.Is(err, ErrExists):
		return web.NewProblem(fiber.StatusConflict, "slug-taken", "Another "+what+" has this slug; change that one, or choose another slug.")
	case errors.Is(err, ErrNotAllowed):
		return web.NewProblem(fiber.StatusForbidden, "account-not-allowed", strings.TrimPrefix(err.Error(), ErrNotAllowed.Error()+": "))
	}
	return err
}

// Routes registers the desk's API on the tenant hosts' route table.
func Routes(api *web.API, s *Service) {
	const tag = "trading"
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/servers", Permission: PermRead, Tag: tag, Response: ServersResponse{},
		Summary: "The brokerage's trading servers with their last connection check (never their credentials)",
		Handler: func(c *fiber.Ctx) error {
			list, err := s.Servers(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			out := ServersResponse{Servers: []ServerResponse{}}
			for _, v := range list {
				out.Servers = append(out.Servers, ToServerResponse(v))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/servers", Permission: PermManage, Tag: tag,
		Request: ServerCreateBody{}, Response: ServerResponse{}, Status: fiber.StatusCreated,
		Summary: "Add a trading server; its manager credentials are sealed and never shown again",
		Handler: func(c *fiber.Ctx) error {
			var b ServerCreateBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			v, err := s.CreateServer(c.UserContext(), tenants.Current(c), identity.Actor(c), ServerInput{Slug: b.Slug, Name: b.Name,
				Platform: trading.Platform(b.Platform), Live: b.Live, Config: b.Config, Credentials: b.Credentials.credentials(), Enabled: b.Enabled})
			if err != nil {
				return apiError(err, "trading server")
			}
			return c.Status(fiber.StatusCreated).JSON(ToServerResponse(v))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/servers/:slug", Permission: PermRead, Tag: tag, Response: ServerResponse{},
		Summary: "One trading server with its last connection check",
		Handler: func(c *fiber.Ctx) error {
			v, err := s.Server(c.UserContext(), tenants.Current(c), c.Params("slug"))
			if err != nil {
				return apiError(err, "trading server")
			}
			return c.JSON(ToServerResponse(v))
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/trading/servers/:slug", Permission: PermManage, Tag: tag,
		Request: ServerBody{}, Response: ServerResponse{},
		Summary: "Change a trading server; credentials, when given, replace the stored ones (sealed, never shown again)",
		Handler: func(c *fiber.Ctx) error {
			ctx, t := c.UserContext(), tenants.Current(c)
			// The object before the body: another tenant's slug is not found, whatever the body says.
			cur, err := s.Server(ctx, t, c.Params("slug"))
			if err != nil {
				return apiError(err, "trading server")
			}
			var b ServerBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			v, err := s.UpdateServer(ctx, t, identity.Actor(c), ServerInput{Slug: cur.Slug, Name: b.Name, Platform: cur.Platform, Live: cur.Live,
				Config: b.Config, Credentials: b.Credentials.credentials(), Enabled: b.Enabled})
			if err != nil {
				return apiError(err, "trading server")
			}
			return c.JSON(ToServerResponse(v))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/servers/:slug/check", Permission: PermManage, Tag: tag,
		Response: CheckRequestedResponse{}, Status: fiber.StatusAccepted,
		Summary: "Ask the worker to check the connection now (202); the answer replaces the server's check",
		Handler: func(c *fiber.Ctx) error {
			v, err := s.RequestCheck(c.UserContext(), tenants.Current(c), identity.Actor(c), c.Params("slug"))
			if err != nil {
				return apiError(err, "trading server")
			}
			return c.Status(fiber.StatusAccepted).JSON(CheckRequestedResponse{Server: ToServerResponse(v),
				Message: "The worker is checking the connection; read the server again for its answer."})
		}})

	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/account-types", Permission: PermRead, Tag: tag, Response: AccountTypesResponse{},
		Summary: "The brokerage's account types: server, group per currency with its swap-free twin, leverages, minimums, who may open them",
		Handler: func(c *fiber.Ctx) error {
			list, err := s.AccountTypes(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			out := AccountTypesResponse{AccountTypes: []AccountTypeResponse{}}
			for _, a := range list {
				out.AccountTypes = append(out.AccountTypes, ToAccountTypeResponse(a))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/account-types", Permission: PermManage, Tag: tag,
		Request: AccountTypeCreateBody{}, Response: AccountTypeResponse{}, Status: fiber.StatusCreated,
		Summary: "Add an account type",
		Handler: func(c *fiber.Ctx) error {
			var b AccountTypeCreateBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			in, err := b.input(b.Slug)
			if err != nil {
				return err
			}
			a, err := s.CreateAccountType(c.UserContext(), tenants.Current(c), identity.Actor(c), in)
			if err != nil {
				return apiError(err, "account type")
			}
			return c.Status(fiber.StatusCreated).JSON(ToAccountTypeResponse(a))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/account-types/:slug", Permission: PermRead, Tag: tag, Response: AccountTypeResponse{},
		Summary: "One account type",
		Handler: func(c *fiber.Ctx) error {
			a, err := s.AccountType(c.UserContext(), tenants.Current(c), c.Params("slug"))
			if err != nil {
				return apiError(err, "account type")
			}
			return c.JSON(ToAccountTypeResponse(a))
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/trading/account-types/:slug", Permission: PermManage, Tag: tag,
		Request: AccountTypeBody{}, Response: AccountTypeResponse{},
		Summary: "Change an account type (it stays on its server)",
		Handler: func(c *fiber.Ctx) error {
			ctx, t := c.UserContext(), tenants.Current(c)
			cur, err := s.AccountType(ctx, t, c.Params("slug"))
			if err != nil {
				return apiError(err, "account type")
			}
			var b AccountTypeBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			in, err := b.input(cur.Slug)
			if err != nil {
				return err
			}
			a, err := s.UpdateAccountType(ctx, t, identity.Actor(c), in)
			if err != nil {
				return apiError(err, "account type")
			}
			return c.JSON(ToAccountTypeResponse(a))
		}})
	accountRoutes(api, s)
	changeRoutes(api, s)
	transferRoutes(api, s)
	creditRoutes(api, s)
	dealRoutes(api, s)
	driftRoutes(api, s)
}

// Examples for the OpenAPI document (web.Exampler).

func (ServerCreateBody) Example() any {
	b := ServerBody{}.Example().(ServerBody)
	b.Credentials = &CredentialsBody{Password: "manager-password"}
	return ServerCreateBody{Slug: "mt5-live", Platform: string(trading.PlatformMT5), Live: true, ServerBody: b}
}

func (ServerBody) Example() any {
	return ServerBody{Name: "MT5 Live", Config: Config{Address: "mt5.broker.example:443", Login: "1001", TimeZone: "Europe/Nicosia"}, Enabled: true}
}

func (AccountTypeBody) Example() any {
	return AccountTypeBody{Name: "Standard", Server: "mt5-live", Groups: map[string]GroupPair{
		"USD": {Group: `real\standard-usd`, SwapFreeGroup: `real\standard-usd-sf`}}, Leverages: []int{50, 100, 200, 500},
		MinFirstDeposit: map[string]string{"USD": "100.00"}, Tiers: []string{}, Countries: []string{}, Enabled: true}
}

func (AccountTypeCreateBody) Example() any {
	return AccountTypeCreateBody{Slug: "standard", AccountTypeBody: AccountTypeBody{}.Example().(AccountTypeBody)}
}
