package tradingdesk

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// TransferBody asks to move money between my wallet and one of my trading accounts. Amount is a decimal string in
// currency, the account's.
type TransferBody struct {
	Account   uuid.UUID `json:"account"`
	Direction string    `json:"direction"`
	Amount    string    `json:"amount"`
	Currency  string    `json:"currency"`
}

// TransferResponse is a transfer in the API: pending, done or failed, and, for staff, whether its outcome is
// unknown (finance's to resolve). Outcome says where it is in words for the client.
type TransferResponse struct {
	ID             uuid.UUID  `json:"id"`
	Client         uuid.UUID  `json:"client"`
	ClientName     string     `json:"client_name,omitempty"`
	Account        uuid.UUID  `json:"account"`
	Login          string     `json:"login"`
	Server         string     `json:"server"`
	Direction      string     `json:"direction"`
	Amount         string     `json:"amount"`
	Currency       string     `json:"currency"`
	Status         string     `json:"status"`
	OutcomeUnknown bool       `json:"outcome_unknown,omitempty"`
	Outcome        string     `json:"outcome"`
	Failure        string     `json:"failure,omitempty"`
	Ticket         string     `json:"ticket,omitempty"`
	LedgerTx       *uuid.UUID `json:"ledger_transaction,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
}

// TransfersResponse lists transfers.
type TransfersResponse struct {
	Transfers []TransferResponse `json:"transfers"`
}

// ToTransferResponse is a transfer as the API shows it; staff see the client, the platform's ticket and the
// ledger's transaction.
func ToTransferResponse(x Transfer, staff bool) TransferResponse {
	out := TransferResponse{ID: x.ID, Client: x.ClientID, Account: x.AccountID, Login: x.Login, Server: x.ServerName, Direction: string(x.Direction),
		Amount: x.Amount.Decimal(), Currency: x.Amount.Currency.Code, Status: string(x.Status), Outcome: x.Outcome(), CreatedAt: x.CreatedAt,
		FinishedAt: x.FinishedAt}
	if x.Status == RequestFailed {
		out.Failure = x.Failure
	}
	if staff {
		out.ClientName, out.OutcomeUnknown, out.Ticket, out.LedgerTx, out.Failure = x.ClientName, x.OutcomeUnknown, x.Ticket, x.LedgerTx, x.Failure
	}
	return out
}

func toTransfers(list []Transfer, staff bool) TransfersResponse {
	out := TransfersResponse{Transfers: []TransferResponse{}}
	for _, x := range list {
		out.Transfers = append(out.Transfers, ToTransferResponse(x, staff))
	}
	return out
}

// transferError maps the transfers' errors: an account not the client's is 404, the gate's refusal 403
// /problems/transfer-not-allowed.
func transferError(err error) error {
	if errors.Is(err, ErrNoSuchAccount) {
		return web.NotFound("No such trading account of yours.")
	}
	if errors.Is(err, ErrTooLateToRetry) {
		return web.NewProblem(fiber.StatusConflict, "transfer-too-old", "The trading server recognises a transfer's operation id for a week only: "+
			"compare its records with this transfer (its ticket, the account's balance deals) and correct by hand.")
	}
	if errors.Is(err, ErrNotAllowed) {
		return web.NewProblem(fiber.StatusForbidden, "transfer-not-allowed", strings.TrimPrefix(err.Error(), ErrNotAllowed.Error()+": "))
	}
	return apiError(err, "transfer")
}

// transferRoutes are the transfers' API: the portal's own, the client's Trading section and finance's list.
func transferRoutes(api *web.API, s *Service) {
	const tag = "trading"
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/trading/transfers", Permission: identity.PermPortalAccount, Tag: tag,
		Idempotent: true, Status: fiber.StatusAccepted, Request: TransferBody{}, Response: TransferResponse{},
		Summary: "Move money between my wallet and one of my trading accounts (202): to_account holds it on the wallet at once; the platform moves it next",
		Handler: func(c *fiber.Ctx) error {
			var b TransferBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			id, err := s.portalClient(c)
			if err != nil {
				return err
			}
			x, err := s.RequestTransfer(c.UserContext(), tenants.Current(c), id, TransferInput{Account: b.Account,
				Direction: TransferDirection(b.Direction), Amount: b.Amount, Currency: b.Currency})
			if err != nil {
				return transferError(err)
			}
			return c.Status(fiber.StatusAccepted).JSON(ToTransferResponse(x, false))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/trading/transfers/:id", Permission: identity.PermPortalAccount, Tag: tag,
		Response: TransferResponse{}, Summary: "One of my transfers: pending, done, or failed with the reason (no money moved)",
		Handler: func(c *fiber.Ctx) error {
			client, id, err := s.portalRecord(c, "transfer")
			if err != nil {
				return err
			}
			x, err := s.GetTransfer(c.UserContext(), tenants.Current(c), id, client)
			if err != nil {
				return transferError(err)
			}
			return c.JSON(ToTransferResponse(x, false))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients/:id/transfers", Permission: PermRead, Tag: tag, Response: TransfersResponse{},
		Summary: "A client's transfers between their wallet and trading accounts, newest first",
		Handler: func(c *fiber.Ctx) error {
			id, err := s.staffClient(c)
			if err != nil {
				return err
			}
			list, err := s.Transfers(c.UserContext(), tenants.Current(c), TransferFilter{Client: id})
			if err != nil {
				return err
			}
			return c.JSON(toTransfers(list, true))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/transfers", Permission: PermRead, Tag: tag, Response: TransfersResponse{},
		Summary: "Transfers, newest first: status=pending|done|failed|unknown (unknown: pending, the platform's answer never came)",
		Handler: func(c *fiber.Ctx) error {
			f, err := transferFilter(c)
			if err != nil {
				return err
			}
			list, err := s.visibleTransfers(c, f)
			if err != nil {
				return err
			}
			return c.JSON(toTransfers(list, true))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/transfers/:id/retry", Permission: identity.PermPaymentsApprove, Tag: tag,
		Status: fiber.StatusAccepted, Response: TransferResponse{},
		Summary: "Ask the platform again about a pending transfer (202): the same operation id, so money that moved is found, not moved twice; 409 after six days",
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such transfer.")
			}
			x, err := s.RetryTransfer(c.UserContext(), tenants.Current(c), identity.Actor(c), id)
			if err != nil {
				return transferError(err)
			}
			return c.Status(fiber.StatusAccepted).JSON(ToTransferResponse(x, true))
		}})
}

// transferFilter reads the transfers list's query (status).
func transferFilter(c *fiber.Ctx) (TransferFilter, error) {
	var f TransferFilter
	switch st := strings.TrimSpace(c.Query("status")); st {
	case "", string(RequestPending), string(RequestDone), string(RequestFailed):
		f.Status = RequestStatus(st)
	case "unknown":
		f.Status, f.Unknown = RequestPending, true
	default:
		return f, web.NewProblem(fiber.StatusBadRequest, "bad-filter", "status is one of pending, done, failed, unknown")
	}
	return f, nil
}

// visibleTransfers lists the transfers of f the staff user may see (see visibleRequests).
func (s *Service) visibleTransfers(c *fiber.Ctx, f TransferFilter) ([]Transfer, error) {
	list, err := s.Transfers(c.UserContext(), tenants.Current(c), f)
	if err != nil {
		return nil, err
	}
	return visibleTo(c, s, list, func(x Transfer) uuid.UUID { return x.ClientID })
}

// Examples for the OpenAPI document (web.Exampler).

func (TransferBody) Example() any {
	return TransferBody{Account: uuid.MustParse("0193a5c2-7d4e-7b1a-9c3f-2e8d6b4a1f05"), Direction: string(ToAccount), Amount: "250.00", Currency: "USD"}
}
