package bonuses

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// PermManage is finance's: the rules, a client's bonuses and their cancellation. It is payments.approve (finance
// and admin) rather than payments.read, because payments.read is also held by account managers limited to their
// own clients; the rules are finance's too, as they decide money the brokerage gives away.
const PermManage web.Permission = identity.PermPaymentsApprove

// BonusResponse is a granted bonus with its progress.
type BonusResponse struct {
	ID          string `json:"id"`
	RuleID      string `json:"rule_id"`
	Rule        string `json:"rule"`
	RuleVersion int    `json:"rule_version"`
	DepositID   string `json:"deposit_id"`
	Amount      string `json:"amount"` // a decimal in the currency: what is left of the bonus
	// Forfeited is what withdrawals took off it in part ("0.00" when none): amount + forfeited is what was granted.
	Forfeited    string     `json:"forfeited"`
	Currency     string     `json:"currency"`
	LotsRequired string     `json:"lots_required"`
	LotsDone     string     `json:"lots_done"`
	Status       string     `json:"status"` // open, released, expired, cancelled, forfeited
	GrantedAt    time.Time  `json:"granted_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	CloseReason  string     `json:"close_reason,omitempty"`
	// CreditTo is bonus_balance (the client's bonus balance in the ledger) or trading_account (credit on the account
	// credit_login, booked on the platform at credited_at; absent while the credit is on its way).
	CreditTo    string     `json:"credit_to"`
	CreditLogin string     `json:"credit_login,omitempty"`
	CreditedAt  *time.Time `json:"credited_at,omitempty"`
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
		Status: b.Status, GrantedAt: b.GrantedAt, ExpiresAt: b.ExpiresAt, ClosedAt: b.ClosedAt, CloseReason: b.CloseReason,
		Forfeited: money.Amount{Minor: b.Forfeited, Currency: b.Amount.Currency}.Decimal(), CreditTo: b.CreditTo, CreditLogin: b.CreditLogin, CreditedAt: b.CreditedAt}
}

// portalClient is the client of the request's portal login; 404 for a login without one.
func (s *Service) portalClient(c *fiber.Ctx) (uuid.UUID, error) {
	if s.o.Portal == nil {
		return uuid.Nil, web.NotFound("No bonuses here.")
	}
	pr, _ := identity.PrincipalOf(c)
	client, err := s.o.Portal.PortalClientID(c.UserContext(), tenants.Current(c), pr.UserID)
	if errors.Is(err, identity.ErrNoClient) {
		return uuid.Nil, web.NotFound("This login has no client record.")
	}
	return client, err
}

// toBonusesResponse is a list of bonuses as the API answers it ([] for none).
func toBonusesResponse(list []Bonus) BonusesResponse {
	out := BonusesResponse{Bonuses: []BonusResponse{}}
	for _, b := range list {
		out.Bonuses = append(out.Bonuses, ToBonusResponse(b))
	}
	return out
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

// routeClient is the client a /api/v1/clients/:id/... route names: 404 when the id is none of the tenant's clients.
func (s *Service) routeClient(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return uuid.Nil, web.NotFound("No such client.")
	}
	if err := s.clientExists(c.UserContext(), tenants.Current(c), id); err != nil {
		return uuid.Nil, apiError(err, "client")
	}
	return id, nil
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
	case errors.Is(err, ErrEnded):
		return web.NewProblem(fiber.StatusConflict, "bonus-rule-ended", "The rule's campaign has already ended.")
	}
	return err
}

// TermsBody is a rule version's terms (docs/bonuses.md's table), amounts as exact decimal strings in the rule's
// currency ("" or "0": none), percent and lots as decimal strings.
type TermsBody struct {
	Active         bool       `json:"active"`
	DepositNumber  int        `json:"deposit_number"`
	MinDeposit     string     `json:"min_deposit,omitempty"`
	MaxDeposit     string     `json:"max_deposit,omitempty"`
	GatewayKinds   []string   `json:"gateway_kinds,omitempty"`
	Tiers          []string   `json:"tiers,omitempty"`
	Countries      []string   `json:"countries,omitempty"`
	PromoCode      string     `json:"promo_code,omitempty"`
	From           *time.Time `json:"from,omitempty"`
	Until          *time.Time `json:"until,omitempty"`
	Percent        string     `json:"percent,omitempty"`
	Cap            string     `json:"cap,omitempty"`
	Fixed          string     `json:"fixed,omitempty"`
	LotsPerUnit    string     `json:"lots_per_unit"`
	MinHoldSeconds int64      `json:"min_hold_seconds"`
	ValidDays      int        `json:"valid_days"`
	MaxPerClient   int        `json:"max_per_client"`
	MaxPerMonth    string     `json:"max_per_month,omitempty"`
}

// ToTerms reads a body's terms; a number that is no exact decimal is a field error ("terms.cap").
func (b TermsBody) ToTerms() (Terms, error) {
	var f validation.Fields
	dec := func(field, s string) decimal.Decimal {
		s = strings.TrimSpace(s)
		if s == "" {
			return decimal.Zero
		}
		d, err := decimal.NewFromString(s)
		if err != nil {
			f.Add("terms."+field, "must be a decimal number, like 50 or 500.00")
		}
		return d
	}
	r := Terms{Active: b.Active, DepositNumber: b.DepositNumber, MinDeposit: dec("min_deposit", b.MinDeposit), MaxDeposit: dec("max_deposit", b.MaxDeposit),
		GatewayKinds: b.GatewayKinds, Tiers: b.Tiers, Countries: b.Countries, PromoCode: b.PromoCode, From: b.From, Until: b.Until,
		Percent: dec("percent", b.Percent), Cap: dec("cap", b.Cap), Fixed: dec("fixed", b.Fixed), LotsPerUnit: dec("lots_per_unit", b.LotsPerUnit),
		MinHoldSeconds: b.MinHoldSeconds, ValidDays: b.ValidDays, MaxPerClient: b.MaxPerClient, MaxPerMonth: dec("max_per_month", b.MaxPerMonth)}
	return r, f.Err()
}

// ToTermsBody is terms in the API's shape, amounts with the currency's decimals.
func ToTermsBody(r Terms, c money.Currency) TermsBody {
	amt := func(d decimal.Decimal) string {
		if d.IsZero() {
			return ""
		}
		return d.StringFixed(int32(c.Exponent))
	}
	num := func(d decimal.Decimal) string {
		if d.IsZero() {
			return ""
		}
		return d.String()
	}
	return TermsBody{Active: r.Active, DepositNumber: r.DepositNumber, MinDeposit: amt(r.MinDeposit), MaxDeposit: amt(r.MaxDeposit),
		GatewayKinds: r.GatewayKinds, Tiers: r.Tiers, Countries: r.Countries, PromoCode: r.PromoCode, From: r.From, Until: r.Until,
		Percent: num(r.Percent), Cap: amt(r.Cap), Fixed: amt(r.Fixed), LotsPerUnit: r.LotsPerUnit.String(), MinHoldSeconds: r.MinHoldSeconds,
		ValidDays: r.ValidDays, MaxPerClient: r.MaxPerClient, MaxPerMonth: amt(r.MaxPerMonth)}
}

// prefixTerms names the terms' fields of a validation error as the body does ("terms.percent").
func prefixTerms(err error) error {
	v, ok := validation.As(err)
	if !ok {
		return err
	}
	out := &validation.Error{}
	for _, fe := range v.Fields {
		if fe.Field != "name" && fe.Field != "currency" && !strings.HasPrefix(fe.Field, "terms.") {
			fe.Field = "terms." + fe.Field
		}
		out.Fields = append(out.Fields, fe)
	}
	return out
}

// RuleCreateBody makes a rule (its version 1).
type RuleCreateBody struct {
	Name     string    `json:"name"`
	Currency string    `json:"currency"`
	Terms    TermsBody `json:"terms"`
}

// RuleEditBody adds a version of a rule.
type RuleEditBody struct {
	Terms TermsBody `json:"terms"`
}

// RuleVersionResponse is one version of a rule.
type RuleVersionResponse struct {
	Version     int       `json:"version"`
	Terms       TermsBody `json:"terms"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// RuleResponse is a rule at its latest version, with what it granted (every version's bonuses) and, for one
// rule, every version, the latest first.
type RuleResponse struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Currency    string    `json:"currency"`
	Version     int       `json:"version"`
	Terms       TermsBody `json:"terms"`
	Description string    `json:"description"` // the terms in one sentence
	CreatedAt   time.Time `json:"created_at"`  // of this version
	// Granted counts the bonuses granted under any version, GrantedAmount adds them up (a decimal string), Open
	// counts those not yet released, expired, cancelled or forfeited.
	Granted       int                   `json:"granted"`
	GrantedAmount string                `json:"granted_amount"`
	Open          int                   `json:"open"`
	Versions      []RuleVersionResponse `json:"versions,omitempty"`
}

// RulesResponse lists the rules by name.
type RulesResponse struct {
	Rules []RuleResponse `json:"rules"`
}

// ToRuleResponse is a rule in the API's shape.
func ToRuleResponse(r RuleSummary) RuleResponse {
	return RuleResponse{ID: r.ID.String(), Name: r.Name, Currency: r.Currency.Code, Version: r.Version, Terms: ToTermsBody(r.Terms, r.Currency),
		Description: r.Terms.Describe(r.Currency), CreatedAt: r.CreatedAt, Granted: r.Granted, Open: r.Open,
		GrantedAmount: money.Format(r.GrantedAmount, r.Currency)}
}

// EvaluationResponse is one rule's decision on one of the client's deposits: granted or not, why, and what the rule
// saw.
type EvaluationResponse struct {
	RuleID      string      `json:"rule_id"`
	Rule        string      `json:"rule"`
	RuleVersion int         `json:"rule_version"`
	DepositID   string      `json:"deposit_id"`
	Outcome     string      `json:"outcome"` // granted, not_granted
	Reason      string      `json:"reason,omitempty"`
	Says        string      `json:"says"` // the decision in a sentence
	Explanation Explanation `json:"explanation"`
	EvaluatedAt time.Time   `json:"evaluated_at"`
}

// EvaluationsResponse lists a client's evaluations, newest first.
type EvaluationsResponse struct {
	Evaluations []EvaluationResponse `json:"evaluations"`
}

// ruleSummary reads one rule at its latest version with its counts; ErrNotFound for no rule of the tenant.
func (s *Service) ruleSummary(ctx context.Context, t tenants.Tenant, id uuid.UUID) (RuleSummary, error) {
	list, err := s.Rules(ctx, t)
	if err != nil {
		return RuleSummary{}, err
	}
	for _, r := range list {
		if r.ID == id {
			return r, nil
		}
	}
	return RuleSummary{}, ErrNotFound
}

// ruleRoutes registers the rules' API.
func ruleRoutes(api *web.API, s *Service, tag string) {
	// ruleOf reads the path's rule: 404 for a malformed id or one of no rule of this tenant, before the body is
	// read, so another tenant's id is never told apart by a validation error.
	ruleOf := func(c *fiber.Ctx) (uuid.UUID, error) {
		id, err := web.ParseID(c, "id")
		if err != nil {
			return id, web.NotFound("No such bonus rule.")
		}
		if _, err := s.Rule(c.UserContext(), tenants.Current(c), id, 0); err != nil {
			return id, apiError(err, "bonus rule")
		}
		return id, nil
	}
	one := func(c *fiber.Ctx, id uuid.UUID, status int) error {
		ctx, t := c.UserContext(), tenants.Current(c)
		r, err := s.ruleSummary(ctx, t, id)
		if err != nil {
			return apiError(err, "bonus rule")
		}
		vs, err := s.RuleVersions(ctx, t, id)
		if err != nil {
			return apiError(err, "bonus rule")
		}
		out := ToRuleResponse(r)
		for _, v := range vs {
			out.Versions = append(out.Versions, RuleVersionResponse{Version: v.Version, Terms: ToTermsBody(v.Terms, v.Currency),
				Description: v.Terms.Describe(v.Currency), CreatedAt: v.CreatedAt})
		}
		return c.Status(status).JSON(out)
	}
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/bonus-rules", Permission: PermManage, Tag: tag, Response: RulesResponse{},
		Summary: "The bonus rules by name, each at its latest version with the bonuses granted under it",
		Handler: func(c *fiber.Ctx) error {
			list, err := s.Rules(c.UserContext(), tenants.Current(c))
			if err != nil {
				return err
			}
			out := RulesResponse{Rules: []RuleResponse{}}
			for _, r := range list {
				out.Rules = append(out.Rules, ToRuleResponse(r))
			}
			return c.JSON(out)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/bonus-rules", Permission: PermManage, Tag: tag, Request: RuleCreateBody{},
		Response: RuleResponse{}, Status: fiber.StatusCreated, Summary: "Make a bonus rule (its version 1); 422 naming each refused field",
		Handler: func(c *fiber.Ctx) error {
			var b RuleCreateBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			terms, err := b.Terms.ToTerms()
			if err != nil {
				return err
			}
			r, err := s.CreateRule(c.UserContext(), tenants.Current(c), identity.Actor(c), b.Name, b.Currency, terms)
			if err != nil {
				return prefixTerms(err)
			}
			return one(c, r.ID, fiber.StatusCreated)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/bonus-rules/:id", Permission: PermManage, Tag: tag, Response: RuleResponse{},
		Summary: "A bonus rule at its latest version, with every version (the latest first) and what it granted",
		Handler: func(c *fiber.Ctx) error {
			id, err := ruleOf(c)
			if err != nil {
				return err
			}
			return one(c, id, fiber.StatusOK)
		}})
	api.Handle(web.Route{Method: fiber.MethodPut, Path: "/api/v1/bonus-rules/:id", Permission: PermManage, Tag: tag, Request: RuleEditBody{},
		Response: RuleResponse{}, Summary: "Change a bonus rule's terms: a new version; bonuses already granted keep theirs",
		Handler: func(c *fiber.Ctx) error {
			id, err := ruleOf(c)
			if err != nil {
				return err
			}
			var b RuleEditBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			terms, err := b.Terms.ToTerms()
			if err != nil {
				return err
			}
			if _, err := s.EditRule(c.UserContext(), tenants.Current(c), identity.Actor(c), id, terms); err != nil {
				return apiError(prefixTerms(err), "bonus rule")
			}
			return one(c, id, fiber.StatusOK)
		}})
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/bonus-rules/:id/end", Permission: PermManage, Tag: tag, Response: RuleResponse{},
		Summary: "End a bonus rule's campaign now (a new version whose until is now); bonuses granted run their course; 409 when already ended",
		Handler: func(c *fiber.Ctx) error {
			id, err := ruleOf(c)
			if err != nil {
				return err
			}
			if _, err := s.EndRule(c.UserContext(), tenants.Current(c), identity.Actor(c), id); err != nil {
				return apiError(err, "bonus rule")
			}
			return one(c, id, fiber.StatusOK)
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/portal/bonuses", Permission: identity.PermPortalAccount, Tag: tag,
		Response: BonusesResponse{}, Summary: "My bonuses, newest first, each with its turnover (lots done of required), expiry and status",
		Handler: func(c *fiber.Ctx) error {
			client, err := s.portalClient(c)
			if err != nil {
				return err
			}
			list, err := s.ClientBonuses(c.UserContext(), tenants.Current(c), client)
			if err != nil {
				return err
			}
			return c.JSON(toBonusesResponse(list))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/bonuses", Permission: PermManage, Tag: tag, Response: BonusesResponse{},
		Summary: "The brokerage's bonuses, newest first (at most 200): ?status=open|released|expired|cancelled|forfeited, ?rule_id=, ?client_id=",
		Handler: func(c *fiber.Ctx) error {
			f, err := filterOf(c)
			if err != nil {
				return err
			}
			list, _, err := s.List(c.UserContext(), tenants.Current(c), f)
			if err != nil {
				return err
			}
			return c.JSON(toBonusesResponse(list))
		}})
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients/:id/bonus-evaluations", Permission: PermManage, Tag: tag,
		Response: EvaluationsResponse{}, Summary: "Why a client got (or did not get) each bonus: every rule's decision on the client's deposits, newest first",
		Handler: func(c *fiber.Ctx) error {
			ctx, t := c.UserContext(), tenants.Current(c)
			id, err := s.routeClient(c)
			if err != nil {
				return err
			}
			list, err := s.Evaluations(ctx, t, id)
			if err != nil {
				return err
			}
			out := EvaluationsResponse{Evaluations: []EvaluationResponse{}}
			for _, e := range list {
				outcome := "not_granted"
				if e.Granted {
					outcome = "granted"
				}
				out.Evaluations = append(out.Evaluations, EvaluationResponse{RuleID: e.RuleID.String(), Rule: e.Explanation.Rule, RuleVersion: e.RuleVersion,
					DepositID: e.DepositID.String(), Outcome: outcome, Reason: string(e.Reason), Says: e.Explanation.Decision.Says,
					Explanation: e.Explanation, EvaluatedAt: e.At})
			}
			return c.JSON(out)
		}})
}

// filterOf reads the bonuses' list query; a bad value is 422 naming it.
func filterOf(c *fiber.Ctx) (Filter, error) {
	var f validation.Fields
	out := Filter{Status: strings.TrimSpace(c.Query("status"))}
	if out.Status != "" && !slices.Contains(Statuses, out.Status) {
		f.Add("status", "must be open, released, expired, cancelled or forfeited")
	}
	for name, dst := range map[string]**uuid.UUID{"rule_id": &out.Rule, "client_id": &out.Client} {
		if v := strings.TrimSpace(c.Query(name)); v != "" {
			id, err := web.ParseUUID(v)
			if err != nil {
				f.Add(name, "must be an id")
				continue
			}
			*dst = &id
		}
	}
	return out, f.Err()
}

// Routes registers the bonuses API on the tenant hosts' route table (finance): the rules, the bonuses, a client's
// bonuses and evaluations, cancelling a bonus.
func Routes(api *web.API, s *Service) {
	const tag = "bonuses"
	ruleRoutes(api, s, tag)
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/clients/:id/bonuses", Permission: PermManage, Tag: tag, Response: BonusesResponse{},
		Summary: "A client's bonuses, newest first, each with its rule version and turnover progress",
		Handler: func(c *fiber.Ctx) error {
			ctx, t := c.UserContext(), tenants.Current(c)
			id, err := s.routeClient(c)
			if err != nil {
				return err
			}
			list, err := s.ClientBonuses(ctx, t, id)
			if err != nil {
				return err
			}
			return c.JSON(toBonusesResponse(list))
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

// Example is the demo's rule: 50 % of the second deposit up to 500.00 USD, 0.5 lots per dollar, 60 days.
func (RuleCreateBody) Example() any {
	return RuleCreateBody{Name: "2nd deposit 50% up to $500 (example)", Currency: "USD", Terms: ToTermsBody(DemoTerms(), money.MustLookup("USD"))}
}

// Example raises the demo rule to 100 % up to 300.00 USD, for clients in Germany and France.
func (RuleEditBody) Example() any {
	t := DemoTerms()
	t.Percent, t.Cap, t.Countries = decimal.NewFromInt(100), decimal.NewFromInt(300), []string{"DE", "FR"}
	return RuleEditBody{Terms: ToTermsBody(t, money.MustLookup("USD"))}
}

// Example asks to cancel a bonus for abuse.
func (CancelBody) Example() any {
	return CancelBody{Reason: "Opposite positions on two accounts to farm the turnover (ticket 4411)."}
}
