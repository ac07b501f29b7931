package bonuses

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PermManage is finance's: a client's bonuses and their cancellation. It is payments.approve rather than
// payments.read, because payments.read is also held by account managers limited to their own clients.
const PermManage web.Permission = identity.PermPaymentsApprove

// BonusResponse is a granted bonus with its progress.
type BonusResponse struct {
	ID           string     `json:"id"`
	RuleID       string     `json:"rule_id"`
	Rule         string     `json:"rule"`
	RuleVersion  int        `json:"rule_version"`
	DepositID    string     `json:"deposit_id"`
	Amount       string     `json:"amount"` // a decimal in the currency
	Currency     string     `json:"currency"`
	LotsRequired string     `json:"lots_required"`
	LotsDone     string     `json:"lots_done"`
	Status       string     `json:"status"` // open, released, expired, cancelled, forfeited
	GrantedAt    time.Time  `json:"granted_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	CloseReason  string     `json:"close_reason,omitempty"`
}

// BonusesResponse lists a client's bonuses, newest first.
type BonusesResponse struct {
	Bonuses []BonusResponse `json:"bonuses"`
}

// CancelBody cancels an open bonus.
type CancelBody struct {
	Reason string `json:"reason"`
}

// ToBonusResponse is a bonus as the API answers it.
func ToBonusResponse(b Bonus) BonusResponse {
	return BonusResponse{ID: b.ID.String(), RuleID: b.RuleID.String(), Rule: b.RuleName, RuleVersion: b.RuleVersion, DepositID: b.DepositID.String(),
		Amount: b.Amount.Decimal(), Currency: b.Amount.Currency.Code, LotsRequired: b.LotsRequired.StringFixed(2), LotsDone: b.LotsDone.StringFixed(2),
		Status: b.Status, GrantedAt: b.GrantedAt, ExpiresAt: b.ExpiresAt, ClosedAt: b.ClosedAt, CloseReason: b.CloseReason}
}

// clientExists is ErrNotFound for an id of no client of the tenant.
func (s *Service) clientExists(ctx context.Context, t tenants.Tenant, id uuid.UUID) error {
	return s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.o.Clients.GetTx(ctx, tx, id)
		if errors.Is(err, clients.ErrNotFound) {
			return ErrNotFound
		}
		return err
	})
}

// Bonus reads one bonus of the tenant.
func (s *Service) Bonus(ctx context.Context, t tenants.Tenant, id uuid.UUID) (Bonus, error) {
	var out Bonus
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, selectBonus+` WHERE b.id = $1`, id)
		if err != nil {
			return err
		}
		bs, err := scanBonuses(rows)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			return ErrNotFound
		}
		out = bs[0]
		return nil
	})
	return out, err
}

func apiError(err error, what string) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such " + what + ".")
	case errors.Is(err, ErrState):
		return web.NewProblem(fiber.StatusConflict, "bonus-state", "The bonus is no longer open.")
	}
	return err
}

// Routes registers the bonuses API on the tenant hosts' route table (finance). The rules' API is not yet
// (docs/bonuses.md#not-yet).
func Routes(api *web.API, s *Service) {
	const tag = "bonuses"
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients/:id/bonuses", Permission: PermManage, Tag: tag, Response: BonusesResponse{},
		Summary: "A client's bonuses, newest first, each with its rule version and turnover progress",
		Handler: func(c *fiber.Ctx) error {
			ctx, t := c.UserContext(), tenants.Current(c)
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such client.")
			}
			if err := s.clientExists(ctx, t, id); err != nil {
				return apiError(err, "client")
			}
			list, err := s.ClientBonuses(ctx, t, id)
			if err != nil {
				return err
			}
			out := BonusesResponse{Bonuses: []BonusResponse{}}
			for _, b := range list {
				out.Bonuses = append(out.Bonuses, ToBonusResponse(b))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/bonuses/:id/cancel", Permission: PermManage, Tag: tag, Request: CancelBody{},
		Response: BonusResponse{}, Summary: "Cancel an open bonus with a reason: the grant is reversed in the ledger",
		Handler: func(c *fiber.Ctx) error {
			ctx, t := c.UserContext(), tenants.Current(c)
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such bonus.")
			}
			// The bonus is read before the body, so another tenant's id is never told apart by a validation error.
			if _, err := s.Bonus(ctx, t, id); err != nil {
				return apiError(err, "bonus")
			}
			var b CancelBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			if err := s.Cancel(ctx, t, identity.Actor(c), id, b.Reason); err != nil {
				return apiError(err, "bonus")
			}
			out, err := s.Bonus(ctx, t, id)
			if err != nil {
				return err
			}
			return c.JSON(ToBonusResponse(out))
		}})
}
