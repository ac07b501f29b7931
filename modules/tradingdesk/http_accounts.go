package tradingdesk

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// OpenAccountBody asks for an account from the portal.
type OpenAccountBody struct {
	Type     string `json:"type"`
	Currency string `json:"currency"`
	Leverage int    `json:"leverage"`
}

// AccountResponse is a trading account in the API. Balance and equity are decimal strings of its currency, as the
// platform last reported them (absent: never read).
type AccountResponse struct {
	ID        uuid.UUID  `json:"id"`
	Login     string     `json:"login"`
	Server    string     `json:"server"`
	Live      bool       `json:"live"`
	Type      string     `json:"type"`
	Currency  string     `json:"currency"`
	Leverage  int        `json:"leverage"`
	Group     string     `json:"group"`
	SwapFree  bool       `json:"swap_free"`
	Status    string     `json:"status"`
	Balance   string     `json:"balance,omitempty"`
	Equity    string     `json:"equity,omitempty"`
	StateAt   *time.Time `json:"state_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	// Platform is what the platform reported of the account's settings at the last drift check (absent: never
	// read); OpenDrift the kinds of its open drift items (staff only).
	Platform  *PlatformStateResponse `json:"platform,omitempty"`
	OpenDrift []string               `json:"open_drift,omitempty"`
}

// PlatformStateResponse is an account's settings as its platform last reported them.
type PlatformStateResponse struct {
	Group          string `json:"group"`
	Leverage       int    `json:"leverage"`
	SwapFree       bool   `json:"swap_free"`
	LoginEnabled   bool   `json:"login_enabled"`
	TradingEnabled bool   `json:"trading_enabled"`
}

// RequestResponse is a request to the platform: pending ("opening" in the portal), done, or failed with the
// platform's reason.
type RequestResponse struct {
	ID         uuid.UUID  `json:"id"`
	Kind       string     `json:"kind"`
	Client     uuid.UUID  `json:"client"`
	ClientName string     `json:"client_name,omitempty"`
	Server     string     `json:"server"`
	Live       bool       `json:"live"`
	Type       string     `json:"type"`
	Currency   string     `json:"currency"`
	Leverage   int        `json:"leverage"`
	Login      string     `json:"login,omitempty"`
	Status     string     `json:"status"`
	Failure    string     `json:"failure,omitempty"`
	Emailed    bool       `json:"credentials_emailed"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Changes of an account (kind set_leverage, set_swap_free, set_access, reset_password): the account's id, what
	// is asked in words ("leverage 1:200", "swap-free on"), swap_free wanted, the access applied (once done), which
	// password, why the CRM asked (a client's status, a staff user's hand), and a rejection's reason.
	Account      *uuid.UUID `json:"account,omitempty"`
	Summary      string     `json:"summary"`
	SwapFree     bool       `json:"swap_free"`
	Access       *Access    `json:"access,omitempty"`
	PasswordKind string     `json:"password_kind,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Rejection    string     `json:"rejection,omitempty"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
}

// Access is an account's login and trading rights.
type Access struct {
	Login   bool `json:"login"`
	Trading bool `json:"trading"`
}

// TradingResponse is a client's accounts and requests.
type TradingResponse struct {
	Accounts []AccountResponse `json:"accounts"`
	Requests []RequestResponse `json:"requests"`
}

// RequestsResponse lists requests.
type RequestsResponse struct {
	Requests []RequestResponse `json:"requests"`
}

// ToAccountResponse is an account as the API shows it.
func ToAccountResponse(a Account) AccountResponse {
	out := AccountResponse{ID: a.ID, Login: a.Login, Server: a.ServerName, Live: a.Live, Type: a.TypeName, Currency: a.Currency.Code, Leverage: a.Leverage,
		Group: a.Group, SwapFree: a.SwapFree, Status: a.Status, StateAt: a.StateAt, CreatedAt: a.CreatedAt}
	if a.Balance != nil {
		out.Balance = a.Balance.Decimal()
	}
	if a.Equity != nil {
		out.Equity = a.Equity.Decimal()
	}
	if p := a.Platform; p != nil {
		out.Platform = &PlatformStateResponse{Group: p.Group, Leverage: p.Leverage, SwapFree: p.SwapFree, LoginEnabled: p.Access.LoginEnabled,
			TradingEnabled: p.Access.TradingEnabled}
	}
	for _, k := range a.OpenDrift {
		out.OpenDrift = append(out.OpenDrift, string(k))
	}
	return out
}

// ToRequestResponse is a request as the API shows it; the client's own view leaves the platform's reason to
// support (the client reads that it failed and support will contact them) and the reserved login out until the
// account exists.
func ToRequestResponse(r Request, staff bool) RequestResponse {
	out := RequestResponse{ID: r.ID, Kind: string(r.Kind), Client: r.ClientID, Server: r.ServerName, Live: r.Live, Type: r.TypeName,
		Currency: r.Currency, Leverage: r.Leverage, Status: string(r.Status), Emailed: r.EmailedAt != nil, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt}
	if staff || r.AccountOpen {
		out.Login = r.Login
	}
	out.Summary, out.SwapFree, out.PasswordKind, out.Rejection, out.DecidedAt = r.Summary(), r.SwapFree, string(r.PasswordKind), r.Rejection, r.DecidedAt
	if r.Kind != KindOpenAccount {
		out.Account, out.Login = r.AccountID, r.Login
		if r.Kind == KindSetAccess && r.Status == RequestDone {
			out.Access = &Access{Login: r.Access.LoginEnabled, Trading: r.Access.TradingEnabled}
		}
	}
	switch {
	case staff:
		out.ClientName, out.Failure, out.Reason = r.ClientName, r.Failure, r.Reason
	case r.Status == RequestFailed && r.Kind == KindOpenAccount:
		out.Failure = "The account could not be opened; our support team has been told and will contact you."
	case r.Status == RequestFailed:
		out.Failure = "The trading server did not make this change; our support team has been told and will contact you."
	}
	return out
}

// clientTrading answers a client's accounts and requests, as staff or the client see them.
func clientTrading(c *fiber.Ctx, s *Service, client uuid.UUID, staff bool) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	accounts, err := s.ClientAccounts(ctx, t, client)
	if err != nil {
		return err
	}
	requests, err := s.ClientRequests(ctx, t, client)
	if err != nil {
		return err
	}
	return c.JSON(toTrading(accounts, requests, staff))
}

func toTrading(accounts []Account, requests []Request, staff bool) TradingResponse {
	out := TradingResponse{Accounts: []AccountResponse{}, Requests: []RequestResponse{}}
	for _, a := range accounts {
		v := ToAccountResponse(a)
		if !staff {
			v.OpenDrift = nil // the back office's to follow, not the client's
		}
		out.Accounts = append(out.Accounts, v)
	}
	for _, r := range requests {
		out.Requests = append(out.Requests, ToRequestResponse(r, staff))
	}
	return out
}

// accountRoutes are the accounts' API: the portal's own, and the back office's.
func accountRoutes(api *web.API, s *Service) {
	const tag = "trading"
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/trading/accounts", Permission: identity.PermPortalAccount, Tag: tag,
		Response: TradingResponse{}, Summary: "My trading accounts (balance and equity as last read) and my account requests",
		Handler: func(c *fiber.Ctx) error {
			id, err := s.portalClient(c)
			if err != nil {
				return err
			}
			return clientTrading(c, s, id, false)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/trading/accounts", Permission: identity.PermPortalAccount, Tag: tag,
		Idempotent: true, Status: fiber.StatusAccepted, Request: OpenAccountBody{}, Response: RequestResponse{},
		Summary: "Open a trading account of a type I may open (202): the request is recorded and the platform opens it; the credentials are emailed",
		Handler: func(c *fiber.Ctx) error {
			var b OpenAccountBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			id, err := s.portalClient(c)
			if err != nil {
				return err
			}
			r, err := s.OpenAccount(c.UserContext(), tenants.Current(c), id, OpenAccountInput{Type: b.Type, Currency: b.Currency, Leverage: b.Leverage})
			if err != nil {
				return apiError(err, "account request")
			}
			return c.Status(fiber.StatusAccepted).JSON(ToRequestResponse(r, false))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/trading/requests/:id", Permission: identity.PermPortalAccount, Tag: tag,
		Response: RequestResponse{}, Summary: "One of my account requests: pending (opening), done with the login, or failed",
		Handler: func(c *fiber.Ctx) error {
			client, id, err := s.portalRecord(c, "request")
			if err != nil {
				return err
			}
			r, err := s.Request(c.UserContext(), tenants.Current(c), id, client)
			if err != nil {
				return apiError(err, "request")
			}
			return c.JSON(ToRequestResponse(r, false))
		}})

	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients/:id/trading", Permission: PermRead, Tag: tag, Response: TradingResponse{},
		Summary: "A client's trading accounts and account requests (failed ones with the platform's reason)",
		Handler: func(c *fiber.Ctx) error {
			id, err := s.staffClient(c)
			if err != nil {
				return err
			}
			return clientTrading(c, s, id, true)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/requests", Permission: PermRead, Tag: tag, Response: RequestsResponse{},
		Summary: "Requests to the platforms, waiting for approval first, then newest first: status=awaiting_approval|pending|done|failed|rejected, client=<id>; failed ones carry the platform's reason",
		Handler: func(c *fiber.Ctx) error {
			f, err := requestFilter(c)
			if err != nil {
				return err
			}
			list, err := s.visibleRequests(c, f)
			if err != nil {
				return err
			}
			out := RequestsResponse{Requests: []RequestResponse{}}
			for _, r := range list {
				out.Requests = append(out.Requests, ToRequestResponse(r, true))
			}
			return c.JSON(out)
		}})
}

// requestFilter reads the requests list's query (status, client).
func requestFilter(c *fiber.Ctx) (RequestFilter, error) {
	var f RequestFilter
	switch st := RequestStatus(strings.TrimSpace(c.Query("status"))); st {
	case "", RequestAwaitingApproval, RequestPending, RequestDone, RequestFailed, RequestRejected:
		f.Status = st
	default:
		return f, web.NewProblem(fiber.StatusBadRequest, "bad-filter", "status is one of awaiting_approval, pending, done, failed, rejected")
	}
	if v := strings.TrimSpace(c.Query("client")); v != "" {
		id, err := web.ParseUUID(v)
		if err != nil {
			return f, web.NewProblem(fiber.StatusBadRequest, "bad-filter", "client is a client's id")
		}
		f.Client = id
	}
	return f, nil
}

// visibleRequests lists the requests of f the request's staff user may see: under managers_see_own_clients_only a
// sales or retention user sees their own clients' only (the clients module decides, per client).
func (s *Service) visibleRequests(c *fiber.Ctx, f RequestFilter) ([]Request, error) {
	list, err := s.Requests(c.UserContext(), tenants.Current(c), f)
	if err != nil {
		return nil, err
	}
	return visibleTo(c, s, list, func(r Request) uuid.UUID { return r.ClientID })
}

// visibleTo keeps the records of list whose client (clientOf) the request's staff user may see; a user the
// object-level rule does not limit sees all. The clients module is asked once per client.
func visibleTo[T any](c *fiber.Ctx, s *Service, list []T, clientOf func(T) uuid.UUID) ([]T, error) {
	v := clientViewer(c)
	if len(v.Roles) == 0 {
		return list, nil
	}
	ctx, t := c.UserContext(), tenants.Current(c)
	sees := map[uuid.UUID]bool{}
	out := list[:0]
	for _, x := range list {
		id := clientOf(x)
		ok, known := sees[id]
		if !known {
			_, err := s.o.Clients.GetFor(ctx, t, v, id)
			if err != nil && !errors.Is(err, clients.ErrNotFound) {
				return nil, err
			}
			ok = err == nil
			sees[id] = ok
		}
		if ok {
			out = append(out, x)
		}
	}
	return out, nil
}

// staffClient is the client of the route's :id, when the staff user may see them (404 otherwise, as for no client).
func (s *Service) staffClient(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return uuid.Nil, web.NotFound("No such client.")
	}
	if _, err := s.o.Clients.GetFor(c.UserContext(), tenants.Current(c), clientViewer(c), id); err != nil {
		if errors.Is(err, clients.ErrNotFound) {
			return uuid.Nil, web.NotFound("No such client.")
		}
		return uuid.Nil, err
	}
	return id, nil
}

// clientViewer is the request's staff user for the clients module's object-level rule.
func clientViewer(c *fiber.Ctx) clients.Viewer {
	pr, ok := identity.PrincipalOf(c)
	if !ok || pr.Kind != identity.Staff {
		return clients.Viewer{}
	}
	return clients.Viewer{StaffID: pr.UserID, Roles: pr.Claims.Roles}
}

// portalRecord is the signed-in trader's client id and the route's :id of one of their records (what names it in
// the 404).
func (s *Service) portalRecord(c *fiber.Ctx, what string) (client, id uuid.UUID, err error) {
	if client, err = s.portalClient(c); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if id, err = web.ParseID(c, "id"); err != nil {
		return uuid.Nil, uuid.Nil, web.NotFound("No such " + what + ".")
	}
	return client, id, nil
}

// portalClient is the signed-in trader's client id.
func (s *Service) portalClient(c *fiber.Ctx) (uuid.UUID, error) {
	p, _ := identity.PrincipalOf(c)
	id, err := s.o.Portal.PortalClientID(c.UserContext(), tenants.Current(c), p.UserID)
	if errors.Is(err, identity.ErrNoClient) {
		return uuid.Nil, web.NotFound("This login has no client record.")
	}
	return id, err
}

// Examples for the OpenAPI document (web.Exampler).

func (OpenAccountBody) Example() any {
	return OpenAccountBody{Type: "standard", Currency: "USD", Leverage: 100}
}
