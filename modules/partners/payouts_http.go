package partners

import (
	"errors"
	"html/template"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The API and page parts of payouts and recalculations:
//
//	POST /api/v1/portal/partner/payouts      the partner moves earnings to its wallet (Idempotency-Key)
//	GET  /api/v1/portal/partner/payouts      its payouts, newest first
//	GET  /api/v1/partners/:id/payouts        a partner's payouts (ib.manage)
//	POST /api/v1/partners/:id/recalc         a recalculation's preview, or with post its rows written (ib.manage)
//	POST /portal/partner/payouts             the portal page's form (a hidden key makes a double submit one payout)
//	POST /backoffice/partners/:id/recalc     the partner page's form: preview, then post with a reason

// PayoutBody is a payout request: an exact decimal amount, its currency (default the plan's), and where it goes.
type PayoutBody struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency,omitempty"`
	// Destination: wallet (default) or withdrawal (moved to the wallet, then withdraw it from the withdrawal page).
	Destination string `json:"destination,omitempty"`
}

// Example implements web.Exampler.
func (PayoutBody) Example() any {
	return PayoutBody{Amount: "120.00", Currency: "USD", Destination: PayoutToWallet}
}

// PayoutResponse is a payout.
type PayoutResponse struct {
	ID          string    `json:"id"`
	Amount      string    `json:"amount"`
	Currency    string    `json:"currency"`
	Destination string    `json:"destination"`
	LedgerTx    string    `json:"ledger_transaction"`
	CreatedAt   time.Time `json:"created_at"`
	// WithdrawURL, for the withdrawal destination, is the portal page that withdraws from the wallet.
	WithdrawURL string `json:"withdraw_url,omitempty"`
}

// PayoutsResponse lists payouts, newest first.
type PayoutsResponse struct {
	Payouts []PayoutResponse `json:"payouts"`
}

// ToPayoutResponse is a payout in the API's shape.
func ToPayoutResponse(p Payout) PayoutResponse {
	out := PayoutResponse{ID: p.ID.String(), Amount: p.Amount.Decimal(), Currency: p.Amount.Currency.Code, Destination: p.Destination,
		LedgerTx: p.LedgerTx.String(), CreatedAt: p.CreatedAt}
	if p.Destination == PayoutToWithdrawal {
		out.WithdrawURL = withdrawURL(p)
	}
	return out
}

func withdrawURL(p Payout) string {
	return withdrawals.PortalPath + "?" + url.Values{"amount": {p.Amount.Decimal()}, "currency": {p.Amount.Currency.Code}}.Encode()
}

// RecalcBody asks for a recalculation of a period (dates, to included): a preview, or with post the differences
// written as rows of a new generation, with a reason.
type RecalcBody struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Post   bool   `json:"post,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Example implements web.Exampler.
func (RecalcBody) Example() any {
	return RecalcBody{From: "2026-11-01", To: "2026-11-30"}
}

// RecalcLineResponse is one level of one deal that differs.
type RecalcLineResponse struct {
	ServerID    string    `json:"server_id"`
	Ticket      string    `json:"ticket"`
	Login       string    `json:"login,omitempty"`
	Symbol      string    `json:"symbol,omitempty"`
	Lots        string    `json:"lots"`
	DealTime    time.Time `json:"deal_time"`
	Level       int       `json:"level"`
	Currency    string    `json:"currency"`
	Before      string    `json:"before"`
	After       string    `json:"after"`
	Difference  string    `json:"difference"`
	PlanVersion int       `json:"plan_version,omitempty"`
	Why         string    `json:"why"`
}

// RecalcResponse is a recalculation: what differs, the net difference per currency, and what was written.
type RecalcResponse struct {
	ID         *string              `json:"id,omitempty"`
	From       string               `json:"from"`
	To         string               `json:"to"`
	Deals      int                  `json:"deals"`
	Changed    int                  `json:"changed"`
	Lines      []RecalcLineResponse `json:"lines"`
	Difference map[string]string    `json:"difference"`
	Posted     bool                 `json:"posted"`
	Rows       int                  `json:"rows_written"`
}

func formatMinor(v int64, code string) string {
	if c, ok := money.Lookup(code); ok {
		return money.Format(v, c)
	}
	return ""
}

// ToRecalcResponse is a recalculation in the API's shape.
func ToRecalcResponse(r Recalc) RecalcResponse {
	out := RecalcResponse{ID: idText(r.ID), From: r.From.Format(time.DateOnly), To: r.To.Format(time.DateOnly), Deals: r.Deals, Changed: r.Changed,
		Lines: []RecalcLineResponse{}, Difference: formatSums(r.Difference), Posted: r.Posted, Rows: r.Rows}
	for _, l := range r.Lines {
		out.Lines = append(out.Lines, RecalcLineResponse{ServerID: l.ServerID.String(), Ticket: l.Ticket, Login: l.Login, Symbol: l.Symbol,
			Lots: l.Lots.String(), DealTime: l.DealTime, Level: l.Level, Currency: l.Currency, Before: formatMinor(l.Before, l.Currency),
			After: formatMinor(l.After, l.Currency), Difference: formatMinor(l.After-l.Before, l.Currency), PlanVersion: l.PlanVersion, Why: l.Why})
	}
	return out
}

func payoutError(err error) error {
	switch {
	case errors.Is(err, ErrPayoutKeyReused):
		return web.NewProblem(fiber.StatusConflict, "payout-key-reused", "This request key was used for another payout.")
	case errors.Is(err, ErrNotPartner):
		return web.NewProblem(fiber.StatusForbidden, "not-a-partner", "The partner area is for approved partners.")
	}
	return apiError(err, "partner")
}

// moneyRoutes registers the payouts' and recalculations' API.
func moneyRoutes(api *web.API, s *Service) {
	const tag = "partners"
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/partner/payouts", Permission: identity.PermPortalAccount, Tag: tag,
		Idempotent: true, Request: PayoutBody{}, Response: PayoutResponse{}, Status: fiber.StatusCreated,
		Summary: "Move partner earnings to the partner's own wallet (destination wallet), or to the wallet on the way to a withdrawal (destination withdrawal: withdraw_url is the withdrawal page); 422 naming amount when it is more than the partner wallet holds",
		Handler: func(c *fiber.Ctx) error {
			var b PayoutBody // the body first: a malformed one is told so whoever sends it
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			p, err := s.portalPartnerOf(c)
			if err != nil {
				return err
			}
			out, err := s.RequestPayout(c.UserContext(), tenants.Current(c), identity.Actor(c), p, PayoutInput{Amount: b.Amount, Currency: b.Currency,
				Destination: b.Destination, Key: c.Get(web.HeaderIdempotencyKey)})
			if err != nil {
				return payoutError(err)
			}
			return c.Status(fiber.StatusCreated).JSON(ToPayoutResponse(out))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/partner/payouts", Permission: identity.PermPortalAccount, Tag: tag,
		Response: PayoutsResponse{}, Summary: "The partner's payouts, newest first",
		Handler: func(c *fiber.Ctx) error {
			p, err := s.portalPartnerOf(c)
			if err != nil {
				return err
			}
			return payoutsJSON(c, s, p.ID)
		}})
	partnerOf := func(c *fiber.Ctx) (uuid.UUID, error) {
		id, err := web.ParseID(c, "id")
		if err != nil {
			return id, web.NotFound("No such partner.")
		}
		if _, err := s.Partner(c.UserContext(), tenants.Current(c), id); err != nil {
			return id, apiError(err, "partner")
		}
		return id, nil
	}
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/partners/:id/payouts", Permission: PermManage, Tag: tag, Response: PayoutsResponse{},
		Summary: "A partner's payouts of its earnings to its wallet, newest first",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			return payoutsJSON(c, s, id)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/partners/:id/recalc", Permission: PermManage, Tag: tag, Request: RecalcBody{},
		Response: RecalcResponse{},
		Summary:  "Recalculate a partner's deals of a period with today's tree and plans: the differences per deal and level (a preview), or with post and a reason, written as rows of a new generation for the batch poster; a second run writes nothing",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			var b RecalcBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			r, err := s.Recalculate(c.UserContext(), tenants.Current(c), identity.Actor(c), id, RecalcInput(b))
			if err != nil {
				return apiError(err, "partner")
			}
			return c.JSON(ToRecalcResponse(r))
		}})
}

func payoutsJSON(c *fiber.Ctx, s *Service, partner uuid.UUID) error {
	list, err := s.Payouts(c.UserContext(), tenants.Current(c), partner, 100)
	if err != nil {
		return err
	}
	out := PayoutsResponse{Payouts: []PayoutResponse{}}
	for _, p := range list {
		out.Payouts = append(out.Payouts, ToPayoutResponse(p))
	}
	return c.JSON(out)
}

// The pages' parts. Each is its page file's "content" drawn alone (web.Shell.Fragment) into the page that holds it.

type payoutRow struct{ When, Amount, Destination string }

type payoutsPart struct {
	Portal      bool
	CSRF, Key   string
	Available   []string
	Amount      string
	Currency    string
	Destination string
	Notice      string
	WithdrawURL string
	Error       string
	Problems    []string
	Rows        []payoutRow

	// earned and wallet, when the caller read them already (the partner area's summary), are not read again.
	earned, wallet map[string]int64
}

var destinationWords = map[string]string{PayoutToWallet: "to the wallet", PayoutToWithdrawal: "to the wallet, to withdraw"}

// payoutsSection draws a partner's payouts: on the portal with the request form (form: what was sent, with its
// problems), in the back office the history only.
func (p *pages) payoutsSection(c *fiber.Ctx, x Partner, portal bool, form payoutsPart) (template.HTML, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := form
	d.Portal = portal
	list, err := p.s.Payouts(ctx, t, x.ID, 50)
	if err != nil {
		return "", err
	}
	for _, po := range list {
		d.Rows = append(d.Rows, payoutRow{When: po.CreatedAt.UTC().Format("2006-01-02 15:04"), Amount: po.Amount.String(),
			Destination: destinationWords[po.Destination]})
	}
	if portal {
		earned, wallet := d.earned, d.wallet
		if earned == nil {
			var err error
			if earned, wallet, err = p.s.money(ctx, t, x.ID); err != nil {
				return "", err
			}
		}
		for code := range earned {
			if cur, ok := money.Lookup(code); ok {
				d.Available = append(d.Available, money.Amount{Minor: max(wallet[code], 0), Currency: cur}.String())
			}
		}
		if d.Currency == "" {
			d.Currency = "USD"
			if x.PlanID != nil {
				if plan, err := p.s.Plan(ctx, t, *x.PlanID, 0); err == nil {
					d.Currency = plan.Currency.Code
				}
			}
		}
		d.CSRF, d.Key = p.shell.CSRF(c), uuid.NewString()
		if id, err := uuid.Parse(c.Query("payout")); err == nil && d.Notice == "" {
			for _, po := range list {
				if po.ID == id {
					d.Notice = "Moved " + po.Amount.String() + " to your wallet."
				}
			}
		}
	}
	return p.shell.Fragment(c, "partners_payouts", d)
}

// payout takes the portal's payout form.
func (p *pages) payout(c *fiber.Ctx) error {
	x, err := p.s.portalPartnerOf(c)
	if err != nil {
		return err
	}
	in := PayoutInput{Amount: c.FormValue("amount"), Currency: c.FormValue("currency"), Destination: c.FormValue("destination"), Key: c.FormValue("key")}
	out, err := p.s.RequestPayout(c.UserContext(), tenants.Current(c), identity.Actor(c), x, in)
	if err != nil {
		pr, ok := web.ProblemOf(payoutError(err))
		if !ok {
			return err
		}
		form := payoutsPart{Amount: in.Amount, Currency: in.Currency, Destination: in.Destination, Error: "The payout was not made:"}
		for _, fe := range pr.Errors {
			form.Problems = append(form.Problems, fe.Field+": "+fe.Message)
		}
		if len(form.Problems) == 0 {
			form.Problems = []string{pr.Detail}
		}
		return p.portalWith(c, pr.Status, form)
	}
	if out.Destination == PayoutToWithdrawal {
		return c.Redirect(withdrawURL(out), fiber.StatusSeeOther)
	}
	return c.Redirect(portalPartnerPath+"?"+url.Values{"payout": {out.ID.String()}}.Encode()+"#payouts", fiber.StatusSeeOther)
}

type recalcPart struct {
	Action, CSRF     string
	Net              string
	From, To, Reason string
	Done             bool
	Result           *RecalcResponse
	Error            string
	Problems         []string
}

// recalcSection draws the partner page's recalculation form and, after one, its outcome.
func (p *pages) recalcSection(c *fiber.Ctx, x Partner, d recalcPart) (template.HTML, error) {
	d.Action, d.CSRF = partnersPath+"/"+x.ID.String()+"/recalc", p.shell.CSRF(c)
	return p.shell.Fragment(c, "partners_recalc", d)
}

// recalc takes the partner page's recalculation form: preview, or post with a reason.
func (p *pages) recalc(c *fiber.Ctx) error {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return web.NotFound("No such partner.")
	}
	ctx, t := c.UserContext(), tenants.Current(c)
	if _, err := p.s.Partner(ctx, t, id); err != nil {
		return apiError(err, "partner")
	}
	in := RecalcInput{From: c.FormValue("from"), To: c.FormValue("to"), Post: c.FormValue("post") == "true", Reason: c.FormValue("reason")}
	d := recalcPart{From: in.From, To: in.To, Reason: in.Reason}
	status := fiber.StatusOK
	r, err := p.s.Recalculate(ctx, t, identity.Actor(c), id, in)
	if err != nil {
		pr, ok := web.ProblemOf(apiError(err, "partner"))
		if !ok {
			return err
		}
		status, d.Error = pr.Status, "The recalculation did not run:"
		for _, fe := range pr.Errors {
			d.Problems = append(d.Problems, fe.Field+": "+fe.Message)
		}
	} else {
		res := ToRecalcResponse(r)
		d.Result, d.Done, d.Net = &res, true, joinDifference(res.Difference)
	}
	return p.partnerWith(c, status, d)
}

func (s *Service) mountMoneyPages(p *pages) {
	p.shell.Post(portalPartnerPath+"/payouts", identity.PermPortalAccount, p.payout)
	p.shell.Post(partnersPath+"/:id/recalc", PermManage, p.recalc)
}

// joinDifference is a response's net difference in words.
func joinDifference(m map[string]string) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(m)) {
		v := m[code]
		if !strings.HasPrefix(v, "-") {
			v = "+" + v
		}
		parts = append(parts, v+" "+code)
	}
	return strings.Join(parts, ", ")
}
