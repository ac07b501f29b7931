package partners

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PermManage is the permission of every partners route: ib_managers and admins (identity's role table).
const PermManage web.Permission = identity.PermIBManage // "ib.manage"

// CodeResponse is a referral code.
type CodeResponse struct {
	Code     string `json:"code"`
	Campaign string `json:"campaign"`
	// Link is the path a referral link takes on the brokerage's host: /?ref=CODE.
	Link      string    `json:"link"`
	CreatedAt time.Time `json:"created_at"`
}

// PartnerResponse is a partner.
type PartnerResponse struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	ClientID  *string        `json:"client_id,omitempty"`
	Status    string         `json:"status"`
	PlanID    *string        `json:"plan_id,omitempty"`
	Plan      string         `json:"plan,omitempty"`
	ParentID  *string        `json:"parent_id,omitempty"`
	Note      string         `json:"note,omitempty"`
	Codes     []CodeResponse `json:"codes"`
	CreatedAt time.Time      `json:"created_at"`
	// Earned is what the partner's rows add up to, and Wallet its wallet's posted balance in the ledger, by
	// currency as exact decimal strings (one partner's routes only). They differ by the rows the next batch posts.
	Earned map[string]string `json:"earned,omitempty"`
	Wallet map[string]string `json:"wallet,omitempty"`
}

// PartnersResponse lists partners.
type PartnersResponse struct {
	Partners []PartnerResponse `json:"partners"`
}

func idText(id *uuid.UUID) *string {
	if id == nil {
		return nil
	}
	s := id.String()
	return &s
}

// ToPartnerResponse is a partner in the API's shape.
func ToPartnerResponse(p Partner) PartnerResponse {
	out := PartnerResponse{ID: p.ID.String(), Name: p.Name, ClientID: idText(p.ClientID), Status: string(p.Status), PlanID: idText(p.PlanID),
		Plan: p.PlanName, ParentID: idText(p.ParentID), Note: p.Note, Codes: []CodeResponse{}, CreatedAt: p.CreatedAt}
	for _, c := range p.Codes {
		out.Codes = append(out.Codes, CodeResponse{Code: c.Code, Campaign: c.Campaign, Link: "/?ref=" + c.Code, CreatedAt: c.CreatedAt})
	}
	return out
}

// PartnerCreateBody makes an active partner.
type PartnerCreateBody struct {
	Name     string  `json:"name"`
	ClientID *string `json:"client_id,omitempty"`
	PlanID   *string `json:"plan_id,omitempty"`
	ParentID *string `json:"parent_id,omitempty"`
	Code     string  `json:"code,omitempty"`
	Campaign string  `json:"campaign,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// ApproveBody approves an application, optionally putting the partner on a plan.
type ApproveBody struct {
	PlanID *string `json:"plan_id,omitempty"`
}

// RejectBody refuses an application with a reason.
type RejectBody struct {
	Reason string `json:"reason"`
}

// CodeBody adds a referral code.
type CodeBody struct {
	Code     string `json:"code"`
	Campaign string `json:"campaign,omitempty"`
}

// MoveBody moves a partner under another parent (none: the top of the tree) from a date on.
type MoveBody struct {
	ParentID      *string    `json:"parent_id,omitempty"`
	EffectiveFrom *time.Time `json:"effective_from,omitempty"` // default now
	Reason        string     `json:"reason"`
}

// PlanBody puts a partner on a plan.
type PlanBody struct {
	PlanID string `json:"plan_id"`
}

// AttributionBody attributes a client to a partner (none: to no one) from a date on.
type AttributionBody struct {
	ClientID      string     `json:"client_id"`
	PartnerID     *string    `json:"partner_id,omitempty"`
	EffectiveFrom *time.Time `json:"effective_from,omitempty"` // default now
	Reason        string     `json:"reason"`
}

// AttributionResponse is a client's partner now.
type AttributionResponse struct {
	ClientID  string  `json:"client_id"`
	PartnerID *string `json:"partner_id,omitempty"`
}

// NodeResponse is a partner in a tree.
type NodeResponse struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Status   string  `json:"status"`
	ParentID *string `json:"parent_id,omitempty"`
	Depth    int     `json:"depth"`
	Clients  int     `json:"clients"`
}

// TreeResponse is a partner's subtree at a time.
type TreeResponse struct {
	At    time.Time      `json:"at"`
	Nodes []NodeResponse `json:"nodes"`
}

// CommissionResponse is a commission row with its explanation.
type CommissionResponse struct {
	ID          int64       `json:"id"`
	Source      string      `json:"source"`
	ServerID    string      `json:"server_id"`
	Ticket      string      `json:"ticket"`
	Generation  int         `json:"generation"`
	Login       string      `json:"login,omitempty"`
	AccountID   *string     `json:"account_id,omitempty"`
	ClientID    *string     `json:"client_id,omitempty"`
	Level       int         `json:"level"`
	PartnerID   *string     `json:"partner_id,omitempty"`
	PlanID      *string     `json:"plan_id,omitempty"`
	PlanVersion int         `json:"plan_version"`
	Kind        string      `json:"kind"`
	Amount      string      `json:"amount"`
	Currency    string      `json:"currency,omitempty"`
	Symbol      string      `json:"symbol,omitempty"`
	Lots        string      `json:"lots"`
	DealTime    time.Time   `json:"deal_time"`
	Reason      string      `json:"reason,omitempty"`
	Explanation Explanation `json:"explanation"`
	Reverses    *int64      `json:"reverses,omitempty"`
	PostedAt    *time.Time  `json:"posted_at,omitempty"`
}

// CommissionsResponse lists rows, newest deal first.
type CommissionsResponse struct {
	Commissions []CommissionResponse `json:"commissions"`
}

// ToCommissionResponse is a row in the API's shape: the amount as an exact decimal string of its currency.
func ToCommissionResponse(c Commission) CommissionResponse {
	amount := strconv.FormatInt(c.Amount, 10)
	if cur, ok := money.Lookup(c.Currency); ok {
		amount = money.Format(c.Amount, cur)
	}
	return CommissionResponse{ID: c.ID, Source: c.Source, ServerID: c.ServerID.String(), Ticket: c.Ticket, Generation: c.Generation, Login: c.Login,
		AccountID: idText(c.AccountID), ClientID: idText(c.ClientID), Level: c.Level, PartnerID: idText(c.PartnerID), PlanID: idText(c.PlanID),
		PlanVersion: c.PlanVersion, Kind: c.Kind, Amount: amount, Currency: c.Currency, Symbol: c.Symbol, Lots: c.Lots.String(),
		DealTime: c.DealTime, Reason: string(c.Reason), Explanation: c.Explanation, Reverses: c.Reverses, PostedAt: c.Posted}
}

// LineBody is a plan's line: amounts as exact decimal strings, level 1 first.
type LineBody struct {
	Symbol string   `json:"symbol,omitempty"`
	Group  string   `json:"group,omitempty"`
	PerLot []string `json:"per_lot"`
}

// LevelPercentBody pays a level as a percent of the level below.
type LevelPercentBody struct {
	Level   int    `json:"level"`
	Percent string `json:"percent"`
}

// CPABody is a plan's CPA.
type CPABody struct {
	Amount     string `json:"amount"`
	MinDeposit string `json:"min_deposit"`
}

// RulesBody is a plan version's rules (docs/partners.md), amounts as exact decimal strings.
type RulesBody struct {
	Lines                []LineBody          `json:"lines"`
	Groups               map[string][]string `json:"groups,omitempty"`
	PercentOfBelow       []LevelPercentBody  `json:"percent_of_below,omitempty"`
	PayOn                string              `json:"pay_on,omitempty"`
	MinHoldSeconds       int                 `json:"min_hold_seconds,omitempty"`
	LotModifiers         map[string]string   `json:"lot_modifiers,omitempty"`
	ExcludedAccountTypes []string            `json:"excluded_account_types,omitempty"`
	CPA                  *CPABody            `json:"cpa,omitempty"`
}

// PlanCreateBody makes a plan.
type PlanCreateBody struct {
	Name     string    `json:"name"`
	Currency string    `json:"currency"`
	Rules    RulesBody `json:"rules"`
}

// PlanEditBody adds a version of a plan.
type PlanEditBody struct {
	Rules RulesBody `json:"rules"`
}

// PlanResponse is a plan version.
type PlanResponse struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Currency  string    `json:"currency"`
	Version   int       `json:"version"`
	Rules     RulesBody `json:"rules"`
	CreatedAt time.Time `json:"created_at"`
}

// PlansResponse lists plans at their latest versions.
type PlansResponse struct {
	Plans []PlanResponse `json:"plans"`
}

// SettingsBody is the tenant's partner settings. In a PUT, a field left out stays as it is (symbol_suffixes: []
// clears them).
type SettingsBody struct {
	SymbolSuffixes []string `json:"symbol_suffixes"`
	// ReferredClientDisplay is how partners see the clients they referred: masked_email (a***@example.com, the
	// default), masked_name (Sofia R.), name, email, or reference (Client 9E0A3B7F).
	ReferredClientDisplay string `json:"referred_client_display,omitempty"`
}

func settingsBody(st Settings) SettingsBody {
	return SettingsBody{SymbolSuffixes: st.SymbolSuffixes, ReferredClientDisplay: string(st.ClientDisplay)}
}

// ToRules reads a body's rules; an amount that is no exact decimal is a field error.
func (b RulesBody) ToRules() (Rules, error) {
	var f validation.Fields
	dec := func(field, s string) decimal.Decimal {
		d, err := decimal.NewFromString(strings.TrimSpace(s))
		if err != nil {
			f.Add(field, "must be a decimal number, like 7.50")
		}
		return d
	}
	r := Rules{Groups: b.Groups, PayOn: PayOn(b.PayOn), MinHoldSeconds: b.MinHoldSeconds, ExcludedAccountTypes: b.ExcludedAccountTypes}
	for i, l := range b.Lines {
		line := Line{Symbol: l.Symbol, Group: l.Group}
		for j, a := range l.PerLot {
			line.PerLot = append(line.PerLot, dec("rules.lines."+strconv.Itoa(i)+".per_lot."+strconv.Itoa(j), a))
		}
		r.Lines = append(r.Lines, line)
	}
	for i, p := range b.PercentOfBelow {
		r.PercentOfBelow = append(r.PercentOfBelow, LevelPercent{Level: p.Level, Percent: dec("rules.percent_of_below."+strconv.Itoa(i)+".percent", p.Percent)})
	}
	if len(b.LotModifiers) > 0 {
		r.LotModifiers = map[string]decimal.Decimal{}
		for slug, m := range b.LotModifiers {
			r.LotModifiers[slug] = dec("rules.lot_modifiers."+slug, m)
		}
	}
	if b.CPA != nil {
		r.CPA = &CPA{Amount: dec("rules.cpa.amount", b.CPA.Amount), MinDeposit: dec("rules.cpa.min_deposit", b.CPA.MinDeposit)}
	}
	return r, f.Err()
}

// ToRulesBody is rules in the API's shape.
func ToRulesBody(r Rules) RulesBody {
	b := RulesBody{Lines: []LineBody{}, Groups: r.Groups, PayOn: string(r.PayOn), MinHoldSeconds: r.MinHoldSeconds, ExcludedAccountTypes: r.ExcludedAccountTypes}
	for _, l := range r.Lines {
		lb := LineBody{Symbol: l.Symbol, Group: l.Group, PerLot: []string{}}
		for _, a := range l.PerLot {
			lb.PerLot = append(lb.PerLot, a.String())
		}
		b.Lines = append(b.Lines, lb)
	}
	for _, p := range r.PercentOfBelow {
		b.PercentOfBelow = append(b.PercentOfBelow, LevelPercentBody{Level: p.Level, Percent: p.Percent.String()})
	}
	if len(r.LotModifiers) > 0 {
		b.LotModifiers = map[string]string{}
		for slug, m := range r.LotModifiers {
			b.LotModifiers[slug] = m.String()
		}
	}
	if r.CPA != nil {
		b.CPA = &CPABody{Amount: r.CPA.Amount.String(), MinDeposit: r.CPA.MinDeposit.String()}
	}
	return b
}

// ToPlanResponse is a plan version in the API's shape.
func ToPlanResponse(p Plan) PlanResponse {
	return PlanResponse{ID: p.ID.String(), Name: p.Name, Currency: p.Currency.Code, Version: p.Version, Rules: ToRulesBody(p.Rules), CreatedAt: p.CreatedAt}
}

// optionalID reads an optional id of a body: a malformed one is a field error.
func optionalID(f *validation.Fields, field string, s *string) *uuid.UUID {
	if s == nil || *s == "" {
		return nil
	}
	id, err := web.ParseUUID(*s)
	if err != nil {
		f.Add(field, "must be an id")
		return nil
	}
	return &id
}

func apiError(err error, what string) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return web.NotFound("No such " + what + ".")
	case errors.Is(err, ErrState):
		return web.NewProblem(fiber.StatusConflict, "partner-state", strings.TrimPrefix(err.Error(), "partners: ")+".")
	}
	return err
}

// Routes registers the partners API on the tenant hosts' route table (ib.manage).
func Routes(api *web.API, s *Service) {
	portalRoutes(api, s)
	moneyRoutes(api, s)
	previewRoutes(api, s)
	reportRoutes(api, s)
	const tag = "partners"
	// partnerOf reads the path's partner: 404 for a malformed id or one of no partner of this tenant, before the
	// body is read, so another tenant's id is never told apart by a validation error.
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
	respond := func(c *fiber.Ctx, id uuid.UUID, status int) error {
		ctx, t := c.UserContext(), tenants.Current(c)
		p, err := s.Partner(ctx, t, id)
		if err != nil {
			return apiError(err, "partner")
		}
		out := ToPartnerResponse(p)
		earned, wallet, err := s.money(ctx, t, id)
		if err != nil {
			return err
		}
		out.Earned, out.Wallet = formatSums(earned), formatSums(wallet)
		return c.Status(status).JSON(out)
	}
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/partners", Permission: PermManage, Tag: tag, Response: PartnersResponse{},
		Summary: "The brokerage's partners (introducing brokers and affiliates) by name; ?status=applied lists the applications waiting",
		Handler: func(c *fiber.Ctx) error {
			st := Status(c.Query("status"))
			switch st {
			case "", StatusApplied, StatusActive, StatusRejected, StatusSuspended:
			default:
				return web.Invalid("The request has invalid fields.", web.FieldError{Field: "status", Message: "must be applied, active, rejected or suspended"})
			}
			list, err := s.Partners(c.UserContext(), tenants.Current(c), st)
			if err != nil {
				return err
			}
			out := PartnersResponse{Partners: []PartnerResponse{}}
			for _, p := range list {
				out.Partners = append(out.Partners, ToPartnerResponse(p))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/partners", Permission: PermManage, Tag: tag, Request: PartnerCreateBody{},
		Response: PartnerResponse{}, Status: fiber.StatusCreated,
		Summary: "Make an active partner, with its plan, parent and first referral code",
		Handler: func(c *fiber.Ctx) error {
			var b PartnerCreateBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			var f validation.Fields
			in := PartnerInput{Name: b.Name, ClientID: optionalID(&f, "client_id", b.ClientID), PlanID: optionalID(&f, "plan_id", b.PlanID),
				ParentID: optionalID(&f, "parent_id", b.ParentID), Code: b.Code, Campaign: b.Campaign, Note: b.Note}
			if err := f.Err(); err != nil {
				return err
			}
			p, err := s.CreatePartner(c.UserContext(), tenants.Current(c), identity.Actor(c), in)
			if err != nil {
				return apiError(err, "partner")
			}
			return c.Status(fiber.StatusCreated).JSON(ToPartnerResponse(p))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/partners/:id", Permission: PermManage, Tag: tag, Response: PartnerResponse{},
		Summary: "One partner with its codes, plan and parent now",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			return respond(c, id, fiber.StatusOK)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/partners/:id/approve", Permission: PermManage, Tag: tag, Request: ApproveBody{},
		Response: PartnerResponse{}, Summary: "Approve a partner application (or make a suspended partner active again), optionally on a plan",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			var b ApproveBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			var f validation.Fields
			plan := optionalID(&f, "plan_id", b.PlanID)
			if err := f.Err(); err != nil {
				return err
			}
			if _, err := s.Approve(c.UserContext(), tenants.Current(c), identity.Actor(c), id, plan); err != nil {
				return apiError(err, "partner")
			}
			return respond(c, id, fiber.StatusOK)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/partners/:id/reject", Permission: PermManage, Tag: tag, Request: RejectBody{},
		Response: PartnerResponse{}, Summary: "Refuse a partner application, with a reason",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			var b RejectBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			if _, err := s.Reject(c.UserContext(), tenants.Current(c), identity.Actor(c), id, b.Reason); err != nil {
				return apiError(err, "partner")
			}
			return respond(c, id, fiber.StatusOK)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/partners/:id/codes", Permission: PermManage, Tag: tag, Request: CodeBody{},
		Response: PartnerResponse{}, Status: fiber.StatusCreated, Summary: "Give a partner another referral code, tagged with a campaign",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			var b CodeBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			if err := s.AddCode(c.UserContext(), tenants.Current(c), identity.Actor(c), id, b.Code, b.Campaign); err != nil {
				return apiError(err, "partner")
			}
			return respond(c, id, fiber.StatusCreated)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/partners/:id/moves", Permission: PermManage, Tag: tag, Request: MoveBody{},
		Response: PartnerResponse{}, Summary: "Move a partner under another parent from a date on (deals before it stay where they were earned)",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			var b MoveBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			var f validation.Fields
			parent := optionalID(&f, "parent_id", b.ParentID)
			if err := f.Err(); err != nil {
				return err
			}
			var at time.Time
			if b.EffectiveFrom != nil {
				at = *b.EffectiveFrom
			}
			if err := s.Move(c.UserContext(), tenants.Current(c), identity.Actor(c), id, parent, at, b.Reason); err != nil {
				return apiError(err, "partner")
			}
			return respond(c, id, fiber.StatusOK)
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/partners/:id/plan", Permission: PermManage, Tag: tag, Request: PlanBody{},
		Response: PartnerResponse{}, Summary: "Put a partner on a commission plan",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			var b PlanBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			var f validation.Fields
			plan := optionalID(&f, "plan_id", &b.PlanID)
			if plan == nil {
				f.Add("plan_id", "is required")
			}
			if err := f.Err(); err != nil {
				return err
			}
			if err := s.SetPlan(c.UserContext(), tenants.Current(c), identity.Actor(c), id, *plan); err != nil {
				return apiError(err, "partner")
			}
			return respond(c, id, fiber.StatusOK)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/partners/:id/tree", Permission: PermManage, Tag: tag, Response: TreeResponse{},
		Summary: "A partner and every partner below it, with their clients, now or ?at= (RFC 3339)",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			at := time.Now().UTC()
			if v := c.Query("at"); v != "" {
				if at, err = time.Parse(time.RFC3339, v); err != nil {
					return web.Invalid("The request has invalid fields.", web.FieldError{Field: "at", Message: "must be a date and time (RFC 3339)"})
				}
			}
			nodes, err := s.Subtree(c.UserContext(), tenants.Current(c), id, at)
			if err != nil {
				return apiError(err, "partner")
			}
			out := TreeResponse{At: at, Nodes: []NodeResponse{}}
			for _, n := range nodes {
				out.Nodes = append(out.Nodes, NodeResponse{ID: n.ID.String(), Name: n.Name, Status: string(n.Status), ParentID: idText(n.ParentID),
					Depth: n.Depth, Clients: n.Clients})
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/partners/:id/commissions", Permission: PermManage, Tag: tag, Response: CommissionsResponse{},
		Summary: "A partner's commission rows with their explanations, newest deal first; filters from, to (dates), symbol, level, kind, reason, ticket, limit (at most 1000)",
		Handler: func(c *fiber.Ctx) error {
			id, err := partnerOf(c)
			if err != nil {
				return err
			}
			f, limit, err := commissionFilter(c)
			if err != nil {
				return err
			}
			f.Partner = &id
			list, err := s.Commissions(c.UserContext(), tenants.Current(c), f, limit)
			if err != nil {
				return err
			}
			out := CommissionsResponse{Commissions: []CommissionResponse{}}
			for _, r := range list {
				out.Commissions = append(out.Commissions, ToCommissionResponse(r))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/partner-attributions", Permission: PermManage, Tag: tag, Request: AttributionBody{},
		Response: AttributionResponse{}, Summary: "Attribute a client to a partner (or to none) from a date on, with a reason; deals before it stay with the partner of their time",
		Handler: func(c *fiber.Ctx) error {
			var b AttributionBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			var f validation.Fields
			client := optionalID(&f, "client_id", &b.ClientID)
			if client == nil {
				f.Add("client_id", "is required")
			}
			partner := optionalID(&f, "partner_id", b.PartnerID)
			if err := f.Err(); err != nil {
				return err
			}
			var at time.Time
			if b.EffectiveFrom != nil {
				at = *b.EffectiveFrom
			}
			t := tenants.Current(c)
			if err := s.Attribute(c.UserContext(), t, identity.Actor(c), *client, partner, at, b.Reason); err != nil {
				return apiError(err, "client")
			}
			now, err := s.AttributedTo(c.UserContext(), t, *client, time.Now())
			if err != nil {
				return err
			}
			return c.JSON(AttributionResponse{ClientID: client.String(), PartnerID: idText(now)})
		}})
	planOf := func(c *fiber.Ctx) (uuid.UUID, error) {
		id, err := web.ParseID(c, "id")
		if err != nil {
			return id, web.NotFound("No such plan.")
		}
		if _, err := s.Plan(c.UserContext(), tenants.Current(c), id, 0); err != nil {
			return id, apiError(err, "plan")
		}
		return id, nil
	}
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/partner-plans", Permission: PermManage, Tag: tag, Response: PlansResponse{},
		Summary: "The commission plans at their latest versions",
		Handler: func(c *fiber.Ctx) error {
			list, err := s.Plans(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			out := PlansResponse{Plans: []PlanResponse{}}
			for _, p := range list {
				out.Plans = append(out.Plans, ToPlanResponse(p))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/partner-plans", Permission: PermManage, Tag: tag, Request: PlanCreateBody{},
		Response: PlanResponse{}, Status: fiber.StatusCreated, Summary: "Make a commission plan (its version 1)",
		Handler: func(c *fiber.Ctx) error {
			var b PlanCreateBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			r, err := b.Rules.ToRules()
			if err != nil {
				return err
			}
			p, err := s.CreatePlan(c.UserContext(), tenants.Current(c), identity.Actor(c), b.Name, b.Currency, r)
			if err != nil {
				return prefixRules(err)
			}
			return c.Status(fiber.StatusCreated).JSON(ToPlanResponse(p))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/partner-plans/:id", Permission: PermManage, Tag: tag, Response: PlanResponse{},
		Summary: "A commission plan at its latest version, or ?version=N",
		Handler: func(c *fiber.Ctx) error {
			id, err := planOf(c)
			if err != nil {
				return err
			}
			v := 0
			if q := c.Query("version"); q != "" {
				if v, err = strconv.Atoi(q); err != nil || v < 1 {
					return web.Invalid("The request has invalid fields.", web.FieldError{Field: "version", Message: "must be a version number, 1 or more"})
				}
			}
			p, err := s.Plan(c.UserContext(), tenants.Current(c), id, v)
			if err != nil {
				return apiError(err, "plan")
			}
			return c.JSON(ToPlanResponse(p))
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/partner-plans/:id", Permission: PermManage, Tag: tag, Request: PlanEditBody{},
		Response: PlanResponse{}, Summary: "Change a commission plan: a new version; rows already computed keep theirs",
		Handler: func(c *fiber.Ctx) error {
			id, err := planOf(c)
			if err != nil {
				return err
			}
			var b PlanEditBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			r, err := b.Rules.ToRules()
			if err != nil {
				return err
			}
			p, err := s.EditPlan(c.UserContext(), tenants.Current(c), identity.Actor(c), id, r)
			if err != nil {
				return apiError(prefixRules(err), "plan")
			}
			return c.JSON(ToPlanResponse(p))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/partner-settings", Permission: PermManage, Tag: tag, Response: SettingsBody{},
		Summary: "The symbol suffixes commission plans ignore (XAUUSD.m pays as XAUUSD without any) and how partners see referred clients",
		Handler: func(c *fiber.Ctx) error {
			st, err := s.Settings(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			return c.JSON(settingsBody(st))
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/partner-settings", Permission: PermManage, Tag: tag, Request: SettingsBody{},
		Response: SettingsBody{}, Summary: "Set the symbol suffixes plans ignore (EURUSDpro pays as EURUSD with \"pro\") or how partners see referred clients",
		Handler: func(c *fiber.Ctx) error {
			var b SettingsBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			t := tenants.Current(c)
			if err := s.SaveSettings(c.UserContext(), t, identity.Actor(c), Settings{SymbolSuffixes: b.SymbolSuffixes, ClientDisplay: ClientDisplay(b.ReferredClientDisplay)}); err != nil {
				return err
			}
			st, err := s.Settings(c.UserContext(), t)
			if err != nil {
				return err
			}
			return c.JSON(settingsBody(st))
		}})
}

// money is what a partner's rows add up to and what its wallets hold, by currency.
func (s *Service) money(ctx context.Context, t tenants.Tenant, id uuid.UUID) (earned, wallet map[string]int64, err error) {
	if earned, err = s.Earned(ctx, t, id); err != nil {
		return nil, nil, err
	}
	codes := make([]string, 0, len(earned))
	for code := range earned {
		codes = append(codes, code)
	}
	wallet, err = s.Wallets(ctx, t, id, codes)
	return earned, wallet, err
}

// formatSums writes minor units as exact decimal strings of their currency.
func formatSums(m map[string]int64) map[string]string {
	out := map[string]string{}
	for code, v := range m {
		if c, ok := money.Lookup(code); ok {
			out[code] = money.Format(v, c)
		}
	}
	return out
}

// ApplicationBody is a trader's application to become a partner.
type ApplicationBody struct {
	// Note says who the trader is and how they would bring clients (a website, a community, a seminar).
	Note string `json:"note"`
}

// Example implements web.Exampler.
func (ApplicationBody) Example() any {
	return ApplicationBody{Note: "I run a trading community of 2,000 members and teach weekly webinars"}
}

// ApplicationResponse is where a trader's application stands.
type ApplicationResponse struct {
	Status    string    `json:"status"`
	Codes     []string  `json:"codes"`
	CreatedAt time.Time `json:"created_at"`
}

func toApplication(p Partner) ApplicationResponse {
	out := ApplicationResponse{Status: string(p.Status), Codes: []string{}, CreatedAt: p.CreatedAt}
	for _, c := range p.Codes {
		out.Codes = append(out.Codes, c.Code)
	}
	return out
}

// portalRoutes are the trader's: apply to become a partner, and see where the application stands.
func portalRoutes(api *web.API, s *Service) {
	const tag = "partners"
	portalPartnerRoutes(api, s)
	client := func(c *fiber.Ctx) (uuid.UUID, error) {
		if s.o.Portal == nil {
			return uuid.Nil, web.NotFound("This login has no client record.")
		}
		p, _ := identity.PrincipalOf(c)
		id, err := s.o.Portal.PortalClientID(c.UserContext(), tenants.Current(c), p.UserID)
		if errors.Is(err, identity.ErrNoClient) {
			return uuid.Nil, web.NotFound("This login has no client record.")
		}
		return id, err
	}
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/portal/partner-application", Permission: identity.PermPortalAccount, Tag: tag,
		Request: ApplicationBody{}, Response: ApplicationResponse{}, Status: fiber.StatusCreated,
		Summary: "Apply to become a partner (introducing broker); an ib_manager approves or refuses the application",
		Handler: func(c *fiber.Ctx) error {
			id, err := client(c)
			if err != nil {
				return err
			}
			var b ApplicationBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			p, err := s.Apply(c.UserContext(), tenants.Current(c), id, b.Note)
			if err != nil {
				if v, ok := validation.As(err); ok && v.Message("client_id") != "" {
					return web.NewProblem(fiber.StatusConflict, "already-applied", "You are already a partner, or your application is waiting.")
				}
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(toApplication(p))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/partner-application", Permission: identity.PermPortalAccount, Tag: tag,
		Response: ApplicationResponse{}, Summary: "Where the trader's application to become a partner stands (404 when there is none)",
		Handler: func(c *fiber.Ctx) error {
			id, err := client(c)
			if err != nil {
				return err
			}
			p, err := s.PartnerOfClient(c.UserContext(), tenants.Current(c), id)
			if err != nil {
				return apiError(err, "application")
			}
			return c.JSON(toApplication(p))
		}})
}

// prefixRules names a plan's rule fields as the body does (rules.lines.0 ...).
func prefixRules(err error) error {
	v, ok := validation.As(err)
	if !ok {
		return err
	}
	out := &validation.Error{}
	for _, fe := range v.Fields {
		switch fe.Field {
		case "name", "currency", "rules":
		default:
			if !strings.HasPrefix(fe.Field, "rules.") {
				fe.Field = "rules." + fe.Field
			}
		}
		out.Fields = append(out.Fields, fe)
	}
	return out
}

// commissionFilter reads the commissions' query: from and to (dates, to included), symbol, level, kind, reason,
// ticket, limit. Bad values answer 422 naming the field.
func commissionFilter(c *fiber.Ctx) (CommissionFilter, int, error) {
	var f CommissionFilter
	var fields validation.Fields
	day := func(name string) *time.Time {
		v := strings.TrimSpace(c.Query(name))
		if v == "" {
			return nil
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			fields.Add(name, "must be a date, YYYY-MM-DD")
			return nil
		}
		return &d
	}
	f.From, f.To = day("from"), day("to")
	if f.To != nil {
		end := f.To.AddDate(0, 0, 1)
		f.To = &end
	}
	f.Symbol, f.Ticket = strings.TrimSpace(c.Query("symbol")), strings.TrimSpace(c.Query("ticket"))
	fields.MaxLen("symbol", f.Symbol, 64)
	fields.MaxLen("ticket", f.Ticket, 64)
	if v := c.Query("level"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			fields.Add("level", "must be a level, 0 to 1000")
		}
		f.Level = n
	}
	switch k := c.Query("kind"); k {
	case "", KindPaid, KindNothing, KindReversal:
		f.Kind = k
	default:
		fields.Add("kind", "must be paid, nothing or reversal")
	}
	if r := Reason(c.Query("reason")); r != "" {
		if _, ok := Explain[r]; !ok {
			fields.Add("reason", "not a reason the engine gives")
		}
		f.Reason = r
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fields.Add("limit", "must be 1 to 1000")
		}
		limit = n
	}
	return f, limit, fields.Err()
}

// Example implements web.Exampler: a partner staff make, with its first code.
func (PartnerCreateBody) Example() any {
	return PartnerCreateBody{Name: "Atlas Partners Ltd", Code: "IB-ATLAS-2", Campaign: "spring-webinar", Note: "met at the Limassol expo"}
}

// Example implements web.Exampler: 7/2/1 a lot up three levels, metals 10/3/1, XAUUSD.m paying as XAUUSD.
func (PlanCreateBody) Example() any {
	return PlanCreateBody{Name: "Example IB plan", Currency: "USD", Rules: RulesBody{
		Groups: map[string][]string{"Metals": {"XAUUSD", "XAGUSD"}},
		Lines:  []LineBody{{Group: "Metals", PerLot: []string{"10", "3", "1"}}, {PerLot: []string{"7", "2", "1"}}},
		PayOn:  string(PayOnClose), MinHoldSeconds: 180,
		CPA: &CPABody{Amount: "200", MinDeposit: "100"}}}
}

// Example implements web.Exampler.
func (PlanEditBody) Example() any {
	return PlanEditBody{Rules: PlanCreateBody{}.Example().(PlanCreateBody).Rules}
}

// Example implements web.Exampler: a client moved to no partner from now on.
func (AttributionBody) Example() any {
	return AttributionBody{ClientID: "0190a3b4-7d1c-7f00-8000-000000000001", Reason: "the client asked to leave their introducing broker"}
}

// Example implements web.Exampler.
func (MoveBody) Example() any {
	return MoveBody{ParentID: ptr("0190a3b4-7d1c-7f00-8000-000000000002"), Reason: "moved under Atlas's network"}
}

func ptr[T any](v T) *T { return &v }

// Example shows a valid body in the OpenAPI document (web.Exampler).
func (SettingsBody) Example() any {
	return SettingsBody{SymbolSuffixes: []string{"m", "pro"}, ReferredClientDisplay: string(DisplayMaskedName)}
}
