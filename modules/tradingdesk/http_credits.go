package tradingdesk

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// CreditResponse is a credit operation (credit_in or credit_out booked for the bonus engine) in the API and in a
// client's export: amounts as decimal strings of the account's currency; moved is what the platform booked.
type CreditResponse struct {
	ID             uuid.UUID  `json:"id"`
	Client         uuid.UUID  `json:"client"`
	ClientName     string     `json:"client_name"`
	Account        uuid.UUID  `json:"account"`
	Login          string     `json:"login"`
	Server         string     `json:"server"`
	Kind           string     `json:"kind"`
	Amount         string     `json:"amount"`
	Moved          *string    `json:"moved,omitempty"`
	Currency       string     `json:"currency"`
	What           string     `json:"what"`
	Status         string     `json:"status"`
	OutcomeUnknown bool       `json:"outcome_unknown,omitempty"`
	Failure        string     `json:"failure,omitempty"`
	Ticket         string     `json:"ticket,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
}

// CreditsResponse lists credit operations.
type CreditsResponse struct {
	Credits []CreditResponse `json:"credits"`
}

// ToCreditResponse is a credit operation as the API shows it.
func ToCreditResponse(x Credit) CreditResponse {
	r := CreditResponse{ID: x.ID, Client: x.ClientID, ClientName: x.ClientName, Account: x.AccountID, Login: x.Login, Server: x.ServerName,
		Kind: string(x.Kind), Amount: x.Amount.Decimal(), Currency: x.Amount.Currency.Code, What: x.Comment, Status: string(x.Status),
		OutcomeUnknown: x.OutcomeUnknown, Failure: x.Failure, Ticket: x.Ticket, CreatedAt: x.CreatedAt, FinishedAt: x.FinishedAt}
	if x.Moved != nil && x.Status == RequestDone {
		m := money.Amount{Minor: *x.Moved, Currency: x.Amount.Currency}.Decimal()
		r.Moved = &m
	}
	return r
}

// creditError maps the credit operations' errors.
func creditError(err error) error {
	if errors.Is(err, ErrTooLateToRetry) {
		return web.NewProblem(fiber.StatusConflict, "credit-too-old", "The trading server recognises an operation id for a week only: "+
			"compare the account's credit deals on the platform with this operation and correct by hand.")
	}
	return apiError(err, "credit operation")
}

// creditRoutes are finance's view of the credit operations: the list (those waiting for finance by default) and
// the retry of one whose outcome is unknown.
func creditRoutes(api *web.API, s *Service) {
	const tag = "trading"
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/trading/credits", Permission: PermRead, Tag: tag, Response: CreditsResponse{},
		Summary: "Credit operations booked for bonuses, newest first: status=unknown (pending, the platform's answer never came) or all",
		Handler: func(c *fiber.Ctx) error {
			var unknown bool
			switch st := strings.TrimSpace(c.Query("status")); st {
			case "unknown":
				unknown = true
			case "", "all":
			default:
				return web.NewProblem(fiber.StatusBadRequest, "bad-filter", "status is unknown or all")
			}
			list, err := s.Credits(c.UserContext(), tenants.Current(c), uuid.Nil, unknown)
			if err != nil {
				return err
			}
			if list, err = visibleTo(c, s, list, func(x Credit) uuid.UUID { return x.ClientID }); err != nil {
				return err
			}
			out := CreditsResponse{Credits: []CreditResponse{}}
			for _, x := range list {
				out.Credits = append(out.Credits, ToCreditResponse(x))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/trading/credits/:id/retry", Permission: identity.PermPaymentsApprove, Tag: tag,
		Status: fiber.StatusAccepted, Response: CreditResponse{},
		Summary: "Ask the platform again about a pending credit operation (202): the same operation id, so credit that was booked is found, not booked twice; 409 after six days",
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such credit operation.")
			}
			x, err := s.RetryCredit(c.UserContext(), tenants.Current(c), identity.Actor(c), id)
			if err != nil {
				return creditError(err)
			}
			return c.Status(fiber.StatusAccepted).JSON(ToCreditResponse(x))
		}})
}
