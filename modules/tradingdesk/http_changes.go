package tradingdesk

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PermApprove approves or rejects changes waiting for the back office (identity's role table grants it).
const PermApprove web.Permission = identity.PermTradingApprove // "trading.approve"

// LeverageBody asks for a leverage (1:N).
type LeverageBody struct {
	Leverage int `json:"leverage"`
}

// SwapFreeBody asks for swap-free on (true) or off.
type SwapFreeBody struct {
	SwapFree bool `json:"swap_free"`
}

// PasswordBody asks for a new main or investor password.
type PasswordBody struct {
	Kind string `json:"kind"`
}

// CurrencyBody asks for another currency (always refused: the platform fixes it).
type CurrencyBody struct {
	Currency string `json:"currency"`
}

// AccessBody disables (enabled false) or enables an account by hand; a reason is required to disable.
type AccessBody struct {
	Enabled bool   `json:"enabled"`
	Reason  string `json:"reason"`
}

// RejectBody rejects a request: the reason is the client's to read.
type RejectBody struct {
	Reason string `json:"reason"`
}

// DeskSettingsBody are the desk's rules for changes.
type DeskSettingsBody struct {
	// LeverageApprovalAbove: a leverage change above 1:N waits for approval; 0: none waits.
	LeverageApprovalAbove int `json:"leverage_approval_above"`
	// TierMaxLeverage caps a client tier's leverage ({"standard": 200}).
	TierMaxLeverage map[string]int `json:"tier_max_leverage"`
	// SwapFreeApproval: swap-free on or off waits for approval.
	SwapFreeApproval bool `json:"swap_free_approval"`
	// HealSettings: settings drift is healed automatically (the CRM's value pushed back to the platform); money
	// drift never is. Absent in a PUT: unchanged.
	HealSettings *bool      `json:"heal_settings,omitempty"`
	UpdatedAt    *time.Time `json:"updated_at,omitempty"`
}

func toDeskSettingsBody(d DeskSettings) DeskSettingsBody {
	return DeskSettingsBody{LeverageApprovalAbove: d.LeverageApprovalAbove, TierMaxLeverage: d.TierMaxLeverage,
		SwapFreeApproval: d.SwapFreeApproval, HealSettings: &d.HealSettings, UpdatedAt: d.UpdatedAt}
}

// changeError maps the changes' errors to problems.
func changeError(err error) error {
	var cf *CurrencyFixedError
	switch {
	case errors.As(err, &cf):
		return web.NewProblem(fiber.StatusConflict, "currency-fixed", cf.Error())
	case errors.Is(err, ErrInProgress):
		return web.NewProblem(fiber.StatusConflict, "change-in-progress",
			"A change of this kind is already waiting or in progress for this account: wait for its answer.")
	case errors.Is(err, ErrNotAwaiting):
		return web.NewProblem(fiber.StatusConflict, "not-awaiting-approval", "This request is not waiting for approval (it was decided already).")
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such trading account or request.")
	}
	return apiError(err, "request")
}

// portalChange is a portal route that changes one of the trader's accounts (:id).
func (s *Service) portalChange(c *fiber.Ctx, fn func(client, account uuid.UUID) (Request, error)) error {
	client, id, err := s.portalRecord(c, "trading account")
	if err != nil {
		return err
	}
	r, err := fn(client, id)
	if err != nil {
		return changeError(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(ToRequestResponse(r, false))
}

// staffRequest is the request of the route's :id when the staff user may see its client (404 otherwise).
func (s *Service) staffRequest(c *fiber.Ctx) (Request, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return Request{}, web.NotFound("No such request.")
	}
	r, err := s.Request(c.UserContext(), tenants.Current(c), id, uuid.Nil)
	if err != nil {
		return r, changeError(err)
	}
	list, err := visibleTo(c, s, []Request{r}, func(r Request) uuid.UUID { return r.ClientID })
	if err != nil {
		return r, err
	}
	if len(list) == 0 {
		return r, web.NotFound("No such request.")
	}
	return r, nil
}

// changeRoutes are the changes' API: the portal's own, and the back office's approvals, access and rules.
func changeRoutes(api *web.API, s *Service) {
	const tag = "trading"
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/trading/accounts/:id/leverage", Permission: identity.PermPortalAccount, Tag: tag,
		Idempotent: true, Status: fiber.StatusAccepted, Request: LeverageBody{}, Response: RequestResponse{},
		Summary: "Change my account's leverage (202): one of its type's leverages; above the brokerage's level it waits for approval",
		Handler: func(c *fiber.Ctx) error {
			var b LeverageBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			return s.portalChange(c, func(client, account uuid.UUID) (Request, error) {
				return s.ChangeLeverage(c.UserContext(), tenants.Current(c), client, account, b.Leverage)
			})
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/trading/accounts/:id/swap-free", Permission: identity.PermPortalAccount, Tag: tag,
		Idempotent: true, Status: fiber.StatusAccepted, Request: SwapFreeBody{}, Response: RequestResponse{},
		Summary: "Ask for swap-free on or off (202): it waits for the back office's approval unless the brokerage says otherwise",
		Handler: func(c *fiber.Ctx) error {
			var b SwapFreeBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			return s.portalChange(c, func(client, account uuid.UUID) (Request, error) {
				return s.ChangeSwapFree(c.UserContext(), tenants.Current(c), client, account, b.SwapFree)
			})
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/trading/accounts/:id/password", Permission: identity.PermPortalAccount, Tag: tag,
		Idempotent: true, Status: fiber.StatusAccepted, Request: PasswordBody{}, Response: RequestResponse{},
		Summary: "Ask for a new main or investor password (202): it is set on the platform and emailed, never kept",
		Handler: func(c *fiber.Ctx) error {
			var b PasswordBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			return s.portalChange(c, func(client, account uuid.UUID) (Request, error) {
				return s.ResetPassword(c.UserContext(), tenants.Current(c), client, account, trading.PasswordKind(strings.TrimSpace(b.Kind)))
			})
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/trading/accounts/:id/currency", Permission: identity.PermPortalAccount, Tag: tag,
		Request: CurrencyBody{}, Response: RequestResponse{},
		Summary: "Change my account's currency: always refused (409 /problems/currency-fixed), with the reason and the account type to open in that currency instead",
		Handler: func(c *fiber.Ctx) error {
			var b CurrencyBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			return s.portalChange(c, func(client, account uuid.UUID) (Request, error) {
				return Request{}, s.ChangeCurrency(c.UserContext(), tenants.Current(c), client, account, b.Currency)
			})
		}})

	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/accounts/:id/access", Permission: PermManage, Tag: tag,
		Idempotent: true, Status: fiber.StatusAccepted, Request: AccessBody{}, Response: RequestResponse{},
		Summary: "Disable an account's login and trading by hand (a reason required), or enable it again to what its client's status allows (202)",
		Handler: func(c *fiber.Ctx) error {
			a, _, err := s.staffAccount(c)
			if err != nil {
				return err
			}
			var b AccessBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			r, err := s.SetAccountAccess(c.UserContext(), tenants.Current(c), identity.Actor(c), a.ID, b.Enabled, b.Reason)
			if err != nil {
				return changeError(err)
			}
			return c.Status(fiber.StatusAccepted).JSON(ToRequestResponse(r, true))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/requests/:id/approve", Permission: PermApprove, Tag: tag,
		Response: RequestResponse{}, Summary: "Approve a request waiting for approval: it is queued for the platform",
		Handler: func(c *fiber.Ctx) error {
			r, err := s.staffRequest(c)
			if err != nil {
				return err
			}
			if r, err = s.Decide(c.UserContext(), tenants.Current(c), identity.Actor(c), r.ID, true, ""); err != nil {
				return changeError(err)
			}
			return c.JSON(ToRequestResponse(r, true))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/requests/:id/reject", Permission: PermApprove, Tag: tag,
		Request: RejectBody{}, Response: RequestResponse{}, Summary: "Reject a request waiting for approval, with a reason the client reads",
		Handler: func(c *fiber.Ctx) error {
			r, err := s.staffRequest(c)
			if err != nil {
				return err
			}
			var b RejectBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			if r, err = s.Decide(c.UserContext(), tenants.Current(c), identity.Actor(c), r.ID, false, b.Reason); err != nil {
				return changeError(err)
			}
			return c.JSON(ToRequestResponse(r, true))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/settings", Permission: PermRead, Tag: tag, Response: DeskSettingsBody{},
		Summary: "The desk's rules: leverage above which a change waits for approval, tiers' leverage caps, swap-free approval, automatic healing of settings drift",
		Handler: func(c *fiber.Ctx) error {
			d, err := s.DeskSettings(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(toDeskSettingsBody(d))
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/trading/settings", Permission: PermManage, Tag: tag,
		Request: DeskSettingsBody{}, Response: DeskSettingsBody{}, Summary: "Replace the desk's rules for changes",
		Handler: func(c *fiber.Ctx) error {
			var b DeskSettingsBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			in := DeskSettings{LeverageApprovalAbove: b.LeverageApprovalAbove, TierMaxLeverage: b.TierMaxLeverage, SwapFreeApproval: b.SwapFreeApproval}
			if b.HealSettings != nil {
				in.HealSettings = *b.HealSettings
			} else {
				was, err := s.DeskSettings(c.UserContext(), tenants.Current(c))
				if err != nil {
					return err
				}
				in.HealSettings = was.HealSettings
			}
			d, err := s.SaveDeskSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), in)
			if err != nil {
				return err
			}
			return c.JSON(toDeskSettingsBody(d))
		}})
}

// Examples for the OpenAPI document (web.Exampler).

func (LeverageBody) Example() any { return LeverageBody{Leverage: 200} }
func (SwapFreeBody) Example() any { return SwapFreeBody{SwapFree: true} }
func (PasswordBody) Example() any { return PasswordBody{Kind: "investor"} }
func (CurrencyBody) Example() any { return CurrencyBody{Currency: "EUR"} }
func (AccessBody) Example() any {
	return AccessBody{Enabled: false, Reason: "chargeback under investigation"}
}
func (RejectBody) Example() any {
	return RejectBody{Reason: "Swap-free status needs a signed declaration: send it to support."}
}
func (DeskSettingsBody) Example() any {
	heal := true
	return DeskSettingsBody{LeverageApprovalAbove: 200, TierMaxLeverage: map[string]int{"standard": 500}, SwapFreeApproval: true, HealSettings: &heal}
}
