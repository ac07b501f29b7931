package tradingdesk

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// DriftItemResponse is a drift item in the API. Difference (balance items) is the platform's balance operations
// minus the CRM's, a decimal string of the account's currency.
type DriftItemResponse struct {
	ID            uuid.UUID  `json:"id"`
	Account       uuid.UUID  `json:"account"`
	Login         string     `json:"login"`
	Client        uuid.UUID  `json:"client"`
	ClientName    string     `json:"client_name"`
	Server        string     `json:"server"`
	ServerName    string     `json:"server_name"`
	Kind          string     `json:"kind"`
	CRMValue      string     `json:"crm_value"`
	PlatformValue string     `json:"platform_value"`
	Difference    string     `json:"difference,omitempty"`
	Currency      string     `json:"currency,omitempty"`
	Owner         string     `json:"owner"`
	Status        string     `json:"status"`
	Healing       string     `json:"healing,omitempty"`
	FirstSeenAt   time.Time  `json:"first_seen_at"`
	LastSeenAt    time.Time  `json:"last_seen_at"`
	ClosedAt      *time.Time `json:"closed_at,omitempty"`
	Note          string     `json:"note,omitempty"`
}

// DriftOutcomeResponse counts a check's drift of one kind that ended one way.
type DriftOutcomeResponse struct {
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	Count   int    `json:"count"`
}

// DriftCheckResponse is a server's last drift check with its one-line summary.
type DriftCheckResponse struct {
	Server     string                 `json:"server"`
	ServerName string                 `json:"server_name"`
	Summary    string                 `json:"summary"`
	Running    bool                   `json:"running"`
	StartedAt  *time.Time             `json:"started_at,omitempty"`
	FinishedAt *time.Time             `json:"finished_at,omitempty"`
	Checked    int                    `json:"checked"`
	Skipped    int                    `json:"skipped"`
	Unread     int                    `json:"unread"`
	Outcomes   []DriftOutcomeResponse `json:"outcomes"`
}

// DriftResponse is the drift report: each server's last check and the items of the filter.
type DriftResponse struct {
	Checks []DriftCheckResponse `json:"checks"`
	Items  []DriftItemResponse  `json:"items"`
}

// ResolveDriftBody resolves a balance item: what explains the difference.
type ResolveDriftBody struct {
	Note string `json:"note"`
}

// DriftCheckRequestedResponse answers a check request.
type DriftCheckRequestedResponse struct {
	Message string `json:"message"`
}

// ToDriftItemResponse is a drift item as the API shows it.
func ToDriftItemResponse(d DriftItem) DriftItemResponse {
	out := DriftItemResponse{ID: d.ID, Account: d.AccountID, Login: d.Login, Client: d.ClientID, ClientName: d.ClientName, Server: d.ServerSlug,
		ServerName: d.ServerName, Kind: string(d.Kind), CRMValue: d.CRMValue, PlatformValue: d.PlatformValue, Owner: d.Owner, Status: string(d.Status),
		Healing: d.Healing, FirstSeenAt: d.FirstSeen, LastSeenAt: d.LastSeen, ClosedAt: d.ClosedAt, Note: d.Note}
	if d.Difference != nil {
		out.Difference, out.Currency = d.Difference.Decimal(), d.Difference.Currency.Code
	}
	return out
}

// ToDriftCheckResponse is a server's last check as the API shows it.
func ToDriftCheckResponse(c DriftCheck) DriftCheckResponse {
	out := DriftCheckResponse{Server: c.ServerSlug, ServerName: c.ServerName, Summary: c.Summary(), Running: c.Running, StartedAt: c.StartedAt,
		FinishedAt: c.FinishedAt, Checked: c.Checked, Skipped: c.Skipped, Unread: c.Unread, Outcomes: []DriftOutcomeResponse{}}
	for _, o := range c.Outcomes {
		out.Outcomes = append(out.Outcomes, DriftOutcomeResponse{Kind: string(o.Kind), Outcome: o.Outcome, Count: o.Count})
	}
	return out
}

// driftError maps drift's errors to problems.
func driftError(err error) error {
	switch {
	case errors.Is(err, ErrNotMoney):
		return web.NewProblem(fiber.StatusConflict, "drift-not-money", "Only balance drift is resolved by hand: settings drift is healed, "+
			"or goes by itself once the platform agrees with the CRM again.")
	case errors.Is(err, ErrNotOpen):
		return web.NewProblem(fiber.StatusConflict, "drift-not-open", "This drift item is no longer open.")
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such drift item.")
	}
	return err
}

// driftFilter reads the drift list's query: server (slug), kind, status, limit.
func driftFilter(c *fiber.Ctx) (DriftFilter, error) {
	f := DriftFilter{Server: strings.TrimSpace(c.Query("server"))}
	switch k := DriftKind(strings.TrimSpace(c.Query("kind"))); k {
	case "", DriftGroup, DriftLeverage, DriftAccess, DriftSwapFree, DriftBalance, DriftCredit:
		f.Kind = k
	default:
		return f, web.NewProblem(fiber.StatusBadRequest, "bad-filter", "kind is one of group, leverage, access, swap_free, balance, credit")
	}
	switch st := DriftStatus(strings.TrimSpace(c.Query("status"))); st {
	case "", DriftOpen, DriftHealed, DriftResolved, DriftGone:
		f.Status = st
	default:
		return f, web.NewProblem(fiber.StatusBadRequest, "bad-filter", "status is one of open, healed, resolved, gone")
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return f, web.NewProblem(fiber.StatusBadRequest, "bad-filter", "limit is 1 to 500")
		}
		f.Limit = n
	}
	return f, nil
}

// visibleDrift lists the drift items of f the staff user may see (see visibleRequests).
func (s *Service) visibleDrift(c *fiber.Ctx, f DriftFilter) ([]DriftItem, error) {
	list, err := s.DriftItems(c.UserContext(), tenants.Current(c), f)
	if err != nil {
		return nil, err
	}
	return visibleTo(c, s, list, func(d DriftItem) uuid.UUID { return d.ClientID })
}

// driftItemFor reads the route's drift item if the staff user may see its client (404 otherwise).
func (s *Service) driftItemFor(c *fiber.Ctx) (DriftItem, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return DriftItem{}, web.NotFound("No such drift item.")
	}
	ctx, t := c.UserContext(), tenants.Current(c)
	d, err := s.DriftItem(ctx, t, id)
	if err != nil {
		return d, driftError(err)
	}
	if v := clientViewer(c); len(v.Roles) > 0 {
		if _, err := s.o.Clients.GetFor(ctx, t, v, d.ClientID); errors.Is(err, clients.ErrNotFound) {
			return d, web.NotFound("No such drift item.")
		} else if err != nil {
			return d, err
		}
	}
	return d, nil
}

// driftRoutes are drift's API: the report, one item, finance's resolution, a check on demand, the desk's settings.
func driftRoutes(api *web.API, s *Service) {
	const tag = "trading"
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/drift", Permission: PermRead, Tag: tag, Response: DriftResponse{},
		Summary: "The drift report: each server's last check in one line, and the drift items, open first (server, kind, status, limit)",
		Handler: func(c *fiber.Ctx) error {
			f, err := driftFilter(c)
			if err != nil {
				return err
			}
			checks, err := s.DriftChecks(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			list, err := s.visibleDrift(c, f)
			if err != nil {
				return err
			}
			out := DriftResponse{Checks: []DriftCheckResponse{}, Items: []DriftItemResponse{}}
			for _, ch := range checks {
				out.Checks = append(out.Checks, ToDriftCheckResponse(ch))
			}
			for _, d := range list {
				out.Items = append(out.Items, ToDriftItemResponse(d))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/drift/:id", Permission: PermRead, Tag: tag, Response: DriftItemResponse{},
		Summary: "One drift item",
		Handler: func(c *fiber.Ctx) error {
			d, err := s.driftItemFor(c)
			if err != nil {
				return err
			}
			return c.JSON(ToDriftItemResponse(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/drift/:id/resolve", Permission: identity.PermPaymentsApprove, Tag: tag,
		Request: ResolveDriftBody{}, Response: DriftItemResponse{},
		Summary: "Resolve an open balance item with what explains the difference (finance): later checks count it as acknowledged; 409 for settings drift",
		Handler: func(c *fiber.Ctx) error {
			d, err := s.driftItemFor(c)
			if err != nil {
				return err
			}
			var b ResolveDriftBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			d, err = s.ResolveDrift(c.UserContext(), tenants.Current(c), identity.Actor(c), d.ID, b.Note)
			if err != nil {
				return driftError(err)
			}
			return c.JSON(ToDriftItemResponse(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/servers/:slug/drift-check", Permission: PermManage, Tag: tag,
		Status: fiber.StatusAccepted, Response: DriftCheckRequestedResponse{},
		Summary: "Ask the worker for a drift check of the server now (202); read the drift report for its summary",
		Handler: func(c *fiber.Ctx) error {
			if err := s.RequestDriftCheck(c.UserContext(), tenants.Current(c), identity.Actor(c), c.Params("slug")); err != nil {
				return apiError(err, "trading server")
			}
			return c.Status(fiber.StatusAccepted).JSON(DriftCheckRequestedResponse{
				Message: "The worker is checking the server's accounts; read the drift report for its summary."})
		}})
}

// Examples for the OpenAPI document (web.Exampler).

func (ResolveDriftBody) Example() any {
	return ResolveDriftBody{Note: "The dealer's compensation for a requote on 3 March, approved by the head of dealing."}
}
