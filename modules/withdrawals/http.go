package withdrawals

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// QueuePath is the finance queue's page; a withdrawal's page is QueuePath/<id>.
const QueuePath = "/backoffice/withdrawals"

// RequestBody asks to withdraw from my wallet. Amount is a decimal string in currency. Method is where what is not
// refunded to my cards goes (bank, or a method the brokerage lists), Destination my account there (an IBAN, a
// wallet address). Code is a current authenticator code, required when two-factor sign-in is on. ForfeitBonuses
// confirms giving up what the withdrawal forfeits of my open bonuses (the preview shows it): without it a
// withdrawal that would forfeit is refused (422 naming forfeit_bonuses, listing the bonuses and amounts).
type RequestBody struct {
	Amount         string `json:"amount"`
	Currency       string `json:"currency"`
	Method         string `json:"method,omitempty"`
	Destination    string `json:"destination,omitempty"`
	Code           string `json:"code,omitempty"`
	ForfeitBonuses bool   `json:"forfeit_bonuses,omitempty"`
}

// ForfeitResponse is what a withdrawal would forfeit of one open bonus.
type ForfeitResponse struct {
	Bonus       uuid.UUID `json:"bonus"`
	Description string    `json:"description"`
	Open        string    `json:"open"`
	Forfeit     string    `json:"forfeit"`
	Full        bool      `json:"full"`
	Rule        string    `json:"rule"`
	Why         string    `json:"why"`
}

// PreviewResponse is what a withdrawal of amount would forfeit of my open bonuses now. Confirm is true when it
// would forfeit anything: the request then needs forfeit_bonuses true; Notice is what the confirmation means.
type PreviewResponse struct {
	Amount       string            `json:"amount"`
	Currency     string            `json:"currency"`
	Withdrawable string            `json:"withdrawable,omitempty"`
	Forfeits     []ForfeitResponse `json:"forfeits"`
	Confirm      bool              `json:"confirm"`
	Notice       string            `json:"notice,omitempty"`
}

// toPreview is a preview in the API.
func toPreview(amt money.Amount, list []Forfeit) PreviewResponse {
	out := PreviewResponse{Amount: amt.Decimal(), Currency: amt.Currency.Code, Forfeits: []ForfeitResponse{}, Confirm: len(list) > 0}
	for _, f := range list {
		out.Forfeits = append(out.Forfeits, ForfeitResponse{Bonus: f.Bonus.ID, Description: f.Bonus.Description, Open: f.Bonus.Amount.Decimal(),
			Forfeit: f.Amount.Decimal(), Full: f.Full, Rule: f.Rule, Why: f.Why})
		out.Withdrawable = f.Balance.Decimal()
	}
	if out.Confirm {
		out.Notice = ForfeitNotice
	}
	return out
}

// CheckResponse is one check's answer.
type CheckResponse struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Outcome string `json:"outcome"`
	Answer  string `json:"answer"`
}

// LegResponse is one part of the payout.
type LegResponse struct {
	Kind    string     `json:"kind"`
	Amount  string     `json:"amount"`
	Deposit *uuid.UUID `json:"deposit,omitempty"`
	Gateway string     `json:"gateway,omitempty"`
	Status  string     `json:"status"`
}

// WithdrawalResponse is a withdrawal in the API. Outcome says where it is in words for the client; staff also see
// the checks' answers, the ledger's hold and the flags.
type WithdrawalResponse struct {
	ID          uuid.UUID          `json:"id"`
	Client      uuid.UUID          `json:"client"`
	ClientName  string             `json:"client_name,omitempty"`
	Amount      string             `json:"amount"`
	Currency    string             `json:"currency"`
	Status      string             `json:"status"`
	Outcome     string             `json:"outcome"`
	Method      string             `json:"method"`
	Destination string             `json:"destination,omitempty"`
	Legs        []LegResponse      `json:"legs"`
	Checks      []CheckResponse    `json:"checks,omitempty"`
	Flagged     bool               `json:"flagged,omitempty"`
	Blocked     bool               `json:"blocked,omitempty"`
	NeedsSecond bool               `json:"needs_second_approver,omitempty"`
	HoldTx      *uuid.UUID         `json:"hold_transaction,omitempty"`
	WaitingFor  string             `json:"waiting_for,omitempty"`
	Decisions   []DecisionResponse `json:"decisions,omitempty"`
	Paid        string             `json:"paid"`
	Reason      string             `json:"reason,omitempty"`
	Failure     string             `json:"failure,omitempty"`
	ExpiresAt   time.Time          `json:"expires_at"`
	CreatedAt   time.Time          `json:"created_at"`
	FinishedAt  *time.Time         `json:"finished_at,omitempty"`
}

// DecisionResponse is one staff decision.
type DecisionResponse struct {
	Kind   string    `json:"kind"`
	Staff  uuid.UUID `json:"staff"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// WithdrawalsResponse lists withdrawals.
type WithdrawalsResponse struct {
	Withdrawals []WithdrawalResponse `json:"withdrawals"`
}

// ToResponse is a withdrawal as the API shows it.
func ToResponse(w Withdrawal, staff bool) WithdrawalResponse {
	out := WithdrawalResponse{ID: w.ID, Client: w.ClientID, Amount: w.Amount.Decimal(), Currency: w.Amount.Currency.Code, Status: string(w.Status),
		Outcome: w.Outcome(), Method: w.Method, Destination: w.Destination, Legs: []LegResponse{}, Reason: w.Reason, Failure: w.Failure,
		Paid: money.Format(w.PaidAmount, w.Amount.Currency), WaitingFor: w.WaitingFor(),
		ExpiresAt: w.ExpiresAt, CreatedAt: w.CreatedAt, FinishedAt: w.FinishedAt}
	for _, l := range w.Legs {
		r := LegResponse{Kind: string(l.Kind), Amount: l.Amount.Decimal(), Gateway: l.GatewaySlug, Status: l.Status}
		if l.DepositID != uuid.Nil {
			id := l.DepositID
			r.Deposit = &id
		}
		out.Legs = append(out.Legs, r)
	}
	if staff {
		hold := w.HoldTx
		out.ClientName, out.Flagged, out.Blocked, out.NeedsSecond, out.HoldTx = w.ClientName, w.Flagged, w.Blocked, w.NeedsSecond, &hold
		for _, d := range w.Decisions {
			out.Decisions = append(out.Decisions, DecisionResponse{Kind: string(d.Kind), Staff: d.StaffID, Reason: d.Reason, At: d.At})
		}
		for _, c := range w.Checks {
			out.Checks = append(out.Checks, CheckResponse{Name: c.Name, Label: CheckLabel(c.Name), Outcome: string(c.Outcome), Answer: c.Answer})
		}
	}
	return out
}

func toList(list []Withdrawal, staff bool) WithdrawalsResponse {
	out := WithdrawalsResponse{Withdrawals: []WithdrawalResponse{}}
	for _, w := range list {
		out.Withdrawals = append(out.Withdrawals, ToResponse(w, staff))
	}
	return out
}

// apiError maps the module's errors to problems.
func apiError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such withdrawal.")
	case errors.Is(err, ErrNotAllowed):
		return web.NewProblem(fiber.StatusForbidden, "withdrawal-not-allowed", strings.TrimPrefix(err.Error(), ErrNotAllowed.Error()+": "))
	case errors.Is(err, ErrNotCancellable):
		return web.NewProblem(fiber.StatusConflict, "withdrawal-not-cancellable", "Only a withdrawal waiting for approval can be cancelled.")
	case errors.Is(err, ErrPersonRequired):
		return web.NewProblem(fiber.StatusForbidden, "person-required", "A staff user must decide in person, signed in: an API key cannot approve, refuse or pay a withdrawal.")
	case errors.Is(err, ErrSameApprover):
		return web.NewProblem(fiber.StatusConflict, "same-approver", "This withdrawal needs a second approval from a different person: you approved it already.")
	case errors.Is(err, ErrComplianceFirst):
		return web.NewProblem(fiber.StatusConflict, "compliance-first", "A check sent this withdrawal to compliance: it can be approved once compliance clears it.")
	case errors.Is(err, ErrBlocked):
		return web.NewProblem(fiber.StatusConflict, "withdrawal-blocked", "A check blocks this withdrawal (see its checks): refuse it with the reason.")
	case errors.Is(err, ErrNotPending):
		return web.NewProblem(fiber.StatusConflict, "withdrawal-decided", "The withdrawal is no longer waiting for this decision.")
	case errors.Is(err, ErrNotFlagged):
		return web.NewProblem(fiber.StatusConflict, "not-flagged", "The withdrawal is not waiting for compliance.")
	}
	return err
}

// portalClient is the client of the portal login.
func (s *Service) portalClient(c *fiber.Ctx) (uuid.UUID, uuid.UUID, error) {
	p, _ := identity.PrincipalOf(c)
	id, err := s.o.Portal.PortalClientID(c.UserContext(), tenants.Current(c), p.UserID)
	if errors.Is(err, identity.ErrNoClient) {
		return uuid.Nil, uuid.Nil, web.NotFound("This login has no client record.")
	}
	return id, p.UserID, err
}

// Routes registers the module's API.
func Routes(api *web.API, s *Service) {
	const tag = "withdrawals"
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/withdrawals", Permission: identity.PermPortalAccount, Tag: tag,
		Idempotent: true, Status: fiber.StatusCreated, Request: RequestBody{}, Response: WithdrawalResponse{},
		Summary: "Withdraw from my wallet (201): the amount is held at once (422 naming amount when the wallet does not cover it); card deposits are refunded first",
		Handler: func(c *fiber.Ctx) error {
			var b RequestBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			client, user, err := s.portalClient(c)
			if err != nil {
				return err
			}
			w, err := s.Request(c.UserContext(), tenants.Current(c), client, user, Input(b))
			if err != nil {
				return apiError(err)
			}
			return c.Status(fiber.StatusCreated).JSON(ToResponse(w, false))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/withdrawals", Permission: identity.PermPortalAccount, Tag: tag,
		Response: WithdrawalsResponse{}, Summary: "My withdrawals: open ones first, oldest first, then the others newest first",
		Handler: func(c *fiber.Ctx) error {
			client, _, err := s.portalClient(c)
			if err != nil {
				return err
			}
			list, err := s.List(c.UserContext(), tenants.Current(c), Filter{Client: client})
			if err != nil {
				return err
			}
			return c.JSON(toList(list, false))
		}})
	// Before /:id, which would take "preview" for an id.
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/withdrawals/preview", Permission: identity.PermPortalAccount, Tag: tag,
		Response: PreviewResponse{},
		Summary:  "What withdrawing amount (query amount, currency) would forfeit of my open bonuses now, each by its rule (in full or pro rata); confirm=true: the request needs forfeit_bonuses",
		Handler: func(c *fiber.Ctx) error {
			client, _, err := s.portalClient(c)
			if err != nil {
				return err
			}
			amt, list, err := s.Preview(c.UserContext(), tenants.Current(c), client, c.Query("amount"), c.Query("currency"))
			if err != nil {
				return apiError(err)
			}
			return c.JSON(toPreview(amt, list))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/withdrawals/:id", Permission: identity.PermPortalAccount, Tag: tag,
		Response: WithdrawalResponse{}, Summary: "One of my withdrawals, where it is in words",
		Handler: func(c *fiber.Ctx) error {
			client, _, err := s.portalClient(c)
			if err != nil {
				return err
			}
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such withdrawal.")
			}
			w, err := s.Get(c.UserContext(), tenants.Current(c), id, client)
			if err != nil {
				return apiError(err)
			}
			return c.JSON(ToResponse(w, false))
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/withdrawals/:id/cancel", Permission: identity.PermPortalAccount, Tag: tag,
		Response: WithdrawalResponse{}, Summary: "Cancel my withdrawal while it waits for approval: the held money is available again at once (409 after approval)",
		Handler: func(c *fiber.Ctx) error {
			client, _, err := s.portalClient(c)
			if err != nil {
				return err
			}
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such withdrawal.")
			}
			w, err := s.Cancel(c.UserContext(), tenants.Current(c), client, id)
			if err != nil {
				return apiError(err)
			}
			return c.JSON(ToResponse(w, false))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/withdrawals", Permission: identity.PermPaymentsApprove, Tag: tag,
		Response: WithdrawalsResponse{},
		Summary:  "The withdrawal queue: open ones oldest first; status, method, currency with min and max amount, client, flagged=true, overdue=true",
		Handler: func(c *fiber.Ctx) error {
			f, err := s.filterOf(c)
			if err != nil {
				return err
			}
			list, err := s.List(c.UserContext(), tenants.Current(c), f)
			if err != nil {
				return err
			}
			return c.JSON(toList(list, true))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/withdrawals/:id", Permission: identity.PermPaymentsApprove, Tag: tag,
		Response: WithdrawalResponse{}, Summary: "One withdrawal with every check's answer and the payout's legs",
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such withdrawal.")
			}
			w, err := s.Get(c.UserContext(), tenants.Current(c), id, uuid.Nil)
			if err != nil {
				return apiError(err)
			}
			return c.JSON(ToResponse(w, true))
		}})
	decisionRoutes(api, s)
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/settings/withdrawals", Permission: identity.PermSettingsManage, Tag: tag,
		Response: Settings{}, Summary: "The rules for money out: limits and velocity per tier (minor units), the four-eyes thresholds, expiry, SLA, the trading check, methods",
		Handler: func(c *fiber.Ctx) error {
			st, err := s.Settings(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(st)
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/settings/withdrawals", Permission: identity.PermSettingsManage, Tag: tag,
		Request: Settings{}, Response: Settings{}, Summary: "Replace the rules for money out (every field required)",
		Handler: func(c *fiber.Ctx) error {
			var st Settings
			if err := web.Bind(c, &st); err != nil {
				return err
			}
			if err := s.SaveSettings(c.UserContext(), tenants.Current(c), identity.Actor(c), st); err != nil {
				return apiError(err)
			}
			return c.JSON(st)
		}})
}

// filterOf reads the queue's query.
func (s *Service) filterOf(c *fiber.Ctx) (Filter, error) {
	var f Filter
	bad := func(detail string) error { return web.NewProblem(fiber.StatusBadRequest, "bad-filter", detail) }
	if st := strings.TrimSpace(c.Query("status")); st != "" {
		if !slices.Contains(Statuses, Status(st)) {
			return f, bad("status is one of pending, approved, paid, cancelled, rejected, failed, expired")
		}
		f.Status = Status(st)
	}
	f.Method = strings.TrimSpace(c.Query("method"))
	f.Currency = strings.ToUpper(strings.TrimSpace(c.Query("currency")))
	for name, dst := range map[string]*int64{"min": &f.MinAmount, "max": &f.MaxAmount} {
		if v := strings.TrimSpace(c.Query(name)); v != "" {
			n, ok := amountOf(v, f.Currency)
			if !ok {
				return f, bad(name + " is an amount in the currency given by currency")
			}
			*dst = n
		}
	}
	if v := strings.TrimSpace(c.Query("client")); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return f, bad("client is a client's id")
		}
		f.Client = id
	}
	f.Flagged = c.Query("flagged") == "true"
	if c.Query("overdue") == "true" {
		st, err := s.Settings(c.UserContext(), tenants.Current(c))
		if err != nil {
			return f, err
		}
		f.Overdue = time.Duration(st.SLAHours) * time.Hour
	}
	return f, nil
}

// ReasonBody is a staff decision's reason (shown to the client when the withdrawal is refused).
type ReasonBody struct {
	Reason string `json:"reason"`
}

// ReviewBody is compliance's decision on a flagged withdrawal.
type ReviewBody struct {
	Clear  bool   `json:"clear"`
	Reason string `json:"reason"`
}

// PaidBody records a bank payout made by hand.
type PaidBody struct {
	Reference string `json:"reference"`
}

// staffID is the signed-in staff user's id (uuid.Nil for an API key).
func staffID(c *fiber.Ctx) uuid.UUID {
	p, ok := identity.PrincipalOf(c)
	if !ok || p.Kind != identity.Staff {
		return uuid.Nil
	}
	return p.UserID
}

// decisionRoutes are finance's and compliance's decisions.
func decisionRoutes(api *web.API, s *Service) {
	const tag = "withdrawals"
	decide := func(path, summary string, perm web.Permission, body any, fn func(c *fiber.Ctx, id uuid.UUID) (Withdrawal, error)) {
		api.Handle(web.Route{Method: fiber.MethodPost, Path: path, Permission: perm, Tag: tag, Request: body, Response: WithdrawalResponse{},
			Idempotent: true, Summary: summary,
			Handler: func(c *fiber.Ctx) error {
				id, err := web.ParseID(c, "id")
				if err != nil {
					return web.NotFound("No such withdrawal.")
				}
				w, err := fn(c, id)
				if err != nil {
					return apiError(err)
				}
				return c.JSON(ToResponse(w, true))
			}})
	}
	reason := func(c *fiber.Ctx) (string, error) {
		var b ReasonBody
		err := web.Bind(c, &b)
		return strings.TrimSpace(b.Reason), err
	}
	decide("/api/v1/withdrawals/:id/approve", "Approve a withdrawal with a reason; at or above the tenant's threshold a second, different approver (409 same-approver); a flagged one after compliance (409 compliance-first); the last approval starts the payout",
		identity.PermPaymentsApprove, ReasonBody{}, func(c *fiber.Ctx, id uuid.UUID) (Withdrawal, error) {
			r, err := reason(c)
			if err != nil {
				return Withdrawal{}, err
			}
			return s.Approve(c.UserContext(), tenants.Current(c), identity.Actor(c), staffID(c), id, r)
		})
	decide("/api/v1/withdrawals/:id/reject", "Refuse a withdrawal waiting for a decision, with the reason the client is told: the hold is released",
		identity.PermPaymentsApprove, ReasonBody{}, func(c *fiber.Ctx, id uuid.UUID) (Withdrawal, error) {
			r, err := reason(c)
			if err != nil {
				return Withdrawal{}, err
			}
			return s.Reject(c.UserContext(), tenants.Current(c), identity.Actor(c), staffID(c), id, r)
		})
	decide("/api/v1/withdrawals/:id/paid", "Record the bank payout of an approved withdrawal with the bank's reference: once every part is paid the hold is posted",
		identity.PermPaymentsApprove, PaidBody{}, func(c *fiber.Ctx, id uuid.UUID) (Withdrawal, error) {
			var b PaidBody
			if err := web.Bind(c, &b); err != nil {
				return Withdrawal{}, err
			}
			return s.MarkPaid(c.UserContext(), tenants.Current(c), identity.Actor(c), staffID(c), id, b.Reference)
		})
	decide("/api/v1/withdrawals/:id/failed", "Record that an approved withdrawal's payout failed (the bank returned it), with the reason: what was paid is posted, the rest released",
		identity.PermPaymentsApprove, ReasonBody{}, func(c *fiber.Ctx, id uuid.UUID) (Withdrawal, error) {
			r, err := reason(c)
			if err != nil {
				return Withdrawal{}, err
			}
			return s.MarkFailed(c.UserContext(), tenants.Current(c), identity.Actor(c), staffID(c), id, r)
		})
	decide("/api/v1/compliance/withdrawals/:id/review", "Compliance's decision on a flagged withdrawal: clear=true lets finance approve it, false refuses it (the hold released), with a reason",
		identity.PermWithdrawalsReview, ReviewBody{}, func(c *fiber.Ctx, id uuid.UUID) (Withdrawal, error) {
			var b ReviewBody
			if err := web.Bind(c, &b); err != nil {
				return Withdrawal{}, err
			}
			return s.Review(c.UserContext(), tenants.Current(c), identity.Actor(c), staffID(c), id, b.Clear, strings.TrimSpace(b.Reason))
		})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/compliance/withdrawals", Permission: identity.PermWithdrawalsReview, Tag: tag,
		Response: WithdrawalsResponse{}, Summary: "Flagged withdrawals (a check said review), open ones oldest first",
		Handler: func(c *fiber.Ctx) error {
			list, err := s.List(c.UserContext(), tenants.Current(c), Filter{Flagged: true})
			if err != nil {
				return err
			}
			return c.JSON(toList(list, true))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/compliance/withdrawals/:id", Permission: identity.PermWithdrawalsReview, Tag: tag,
		Response: WithdrawalResponse{}, Summary: "A flagged withdrawal with every check's answer",
		Handler: func(c *fiber.Ctx) error {
			id, err := web.ParseID(c, "id")
			if err != nil {
				return web.NotFound("No such withdrawal.")
			}
			w, err := s.Get(c.UserContext(), tenants.Current(c), id, uuid.Nil)
			if err == nil && !w.Flagged {
				err = ErrNotFound
			}
			if err != nil {
				return apiError(err)
			}
			return c.JSON(ToResponse(w, true))
		}})
}

// Examples for the OpenAPI document (web.Exampler).

func (ReasonBody) Example() any {
	return ReasonBody{Reason: "Checked the bank account: in the client's name."}
}

func (ReviewBody) Example() any {
	return ReviewBody{Clear: true, Reason: "The client trades on another account; source of funds documented."}
}

func (PaidBody) Example() any { return PaidBody{Reference: "BARC-2026-12-07-000481"} }

func (Settings) Example() any { return DefaultSettings() }

func (RequestBody) Example() any {
	return RequestBody{Amount: "250.00", Currency: "USD", Method: "bank", Destination: "GB33BUKB20201555555555", Code: "123456", ForfeitBonuses: true}
}

func (PreviewResponse) Example() any {
	return PreviewResponse{Amount: "300.00", Currency: "USD", Withdrawable: "1500.00", Confirm: true, Notice: ForfeitNotice,
		Forfeits: []ForfeitResponse{{Bonus: uuid.MustParse("0193a5c2-7d1e-7b3a-9c41-2f6e8d0b1a55"),
			Description: "2nd deposit 50% up to $500, 200.00 USD (12.00 of 100.00 lots traded, expires 9 Feb 2027)", Open: "200.00", Forfeit: "40.00",
			Rule: "pro_rata", Why: "pro rata: 300.00 USD of the 1,500.00 USD withdrawable, rounded up to 0.01 USD"}}}
}
