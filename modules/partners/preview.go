package partners

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The plan editor's preview (docs/partners.md, "The plan editor"): what a deal would pay each partner up the tree,
// computed by PayUp, the function the engine writes its rows with, over the tree and plans of the deal's time, with
// a draft of a plan in place of that plan's version. It reads and writes nothing else.

// PreviewInput is a deal as the preview takes it.
type PreviewInput struct {
	// Partner is the client's own partner (level 1); At is the deal's time (the tree and plan versions of then).
	Partner uuid.UUID
	At      time.Time
	Trade   Trade
	// Draft, when set, pays in place of the plan version in force for the partners on plan Draft.ID, or for every
	// active partner up the tree when Draft.ID is uuid.Nil (a plan not made yet).
	Draft *Plan
}

// PreviewLevel is one level of a preview: what the engine would write for it, the partner's name, and whether the
// draft paid it.
type PreviewLevel struct {
	LevelPay
	Name  string
	Draft bool
}

// Preview computes what a deal would pay up the tree (see PreviewInput); ErrNotFound when the partner is none of
// the tenant's.
func (s *Service) Preview(ctx context.Context, t tenants.Tenant, in PreviewInput) ([]PreviewLevel, error) {
	var out []PreviewLevel
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := partnerTx(ctx, tx, in.Partner); err != nil {
			return err
		}
		ids, err := chainTx(ctx, tx, in.Partner, in.At)
		if err != nil {
			return err
		}
		suffixes, err := suffixesTx(ctx, tx)
		if err != nil {
			return err
		}
		chain := make([]Payer, len(ids))
		names := make([]string, len(ids))
		drafted := make([]bool, len(ids))
		plans := map[uuid.UUID]Plan{}
		for i, id := range ids {
			p, err := partnerTx(ctx, tx, id)
			if err != nil {
				return err
			}
			chain[i], names[i] = Payer{ID: id, Status: p.Status}, p.Name
			if p.Status != StatusActive {
				continue
			}
			switch {
			case in.Draft != nil && (in.Draft.ID == uuid.Nil || (p.PlanID != nil && *p.PlanID == in.Draft.ID)):
				chain[i].Plan, drafted[i] = in.Draft, true
			case p.PlanID != nil:
				v, ok := plans[*p.PlanID]
				if !ok {
					if v, err = planAtTx(ctx, tx, *p.PlanID, in.At); err != nil {
						return err
					}
					plans[*p.PlanID] = v
				}
				chain[i].Plan = &v
			}
		}
		for i, lv := range PayUp(chain, in.Trade, suffixes) {
			out = append(out, PreviewLevel{LevelPay: lv, Name: names[i], Draft: drafted[i]})
		}
		return nil
	})
	return out, err
}

// PreviewSays is a preview in one sentence: "this deal would pay Atlas Partners 7.00 USD, Bravo Introducers 2.00 USD
// and Charlie Trading Club 1.00 USD", or "this deal would pay no one".
func PreviewSays(levels []PreviewLevel) string {
	var parts []string
	for _, l := range levels {
		if l.Outcome.Reason != "" || l.Plan == nil {
			continue
		}
		parts = append(parts, l.Name+" "+money.Format(l.Outcome.Amount, l.Plan.Currency)+" "+l.Plan.Currency.Code)
	}
	switch len(parts) {
	case 0:
		return "this deal would pay no one"
	case 1:
		return "this deal would pay " + parts[0]
	}
	return "this deal would pay " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// RecentDeal is a deal the engine computed, as the preview can take it again: its level-1 partner, time and trade
// (the account type and hold as the engine knew them, when its plans needed them).
type RecentDeal struct {
	Ticket, Login string
	Partner       uuid.UUID
	PartnerName   string
	At            time.Time
	Trade         Trade
}

// RecentDeals lists up to limit (at most 50) of the latest deals that had a partner at level 1, newest first;
// plan, when set, keeps those whose level-1 partner was paid under that plan. The account's type is asked of the
// trading desk when the rows did not need it.
func (s *Service) RecentDeals(ctx context.Context, t tenants.Tenant, plan *uuid.UUID, limit int) ([]RecentDeal, error) {
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	var out []RecentDeal
	accounts := map[int]uuid.UUID{}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.server_id, c.ticket, c.login, c.partner_id, p.name, c.deal_time, c.symbol, c.lots, c.explanation, c.account_id
			FROM partner_commissions c JOIN partners p ON p.id = c.partner_id
			WHERE c.source = 'deal' AND c.level = 1 AND c.kind <> 'reversal' AND ($1::uuid IS NULL OR c.plan_id = $1)
			ORDER BY c.deal_time DESC, c.id DESC LIMIT $2`, plan, limit*4)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		var server uuid.UUID
		var d RecentDeal
		var expl []byte
		var account *uuid.UUID
		_, err = pgx.ForEachRow(rows, []any{&server, &d.Ticket, &d.Login, &d.Partner, &d.PartnerName, &d.At, &d.Trade.Symbol, &d.Trade.Lots, &expl, &account}, func() error {
			key := server.String() + "/" + d.Ticket
			if seen[key] || len(out) >= limit {
				return nil
			}
			seen[key] = true
			var e Explanation
			if err := json.Unmarshal(expl, &e); err != nil {
				return err
			}
			r := d
			r.Trade.AccountType, r.Trade.HeldSeconds = e.AccountType, e.HeldSeconds
			if r.Trade.AccountType == "" && account != nil {
				accounts[len(out)] = *account
			}
			out = append(out, r)
			return nil
		})
		return err
	})
	if err != nil || s.o.Trades == nil {
		return out, err
	}
	for i, id := range accounts {
		if out[i].Trade.AccountType, err = s.o.Trades.AccountType(ctx, t, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PreviewBody is a deal to preview, and optionally a draft of a plan's rules to pay it with.
type PreviewBody struct {
	// PartnerID is the client's own partner (level 1).
	PartnerID string `json:"partner_id"`
	// At is the deal's time (default now): the tree and plan versions of then.
	At          *time.Time `json:"at,omitempty"`
	Symbol      string     `json:"symbol"`
	Lots        string     `json:"lots"`
	AccountType string     `json:"account_type,omitempty"`
	// HeldSeconds is how long the position was open (absent: not known, as when its opening deal is not found).
	HeldSeconds *int64 `json:"held_seconds,omitempty"`
	// PlanID and Rules: the draft pays in place of that plan's version for the partners on it; Rules without PlanID
	// is a plan not made yet (in Currency, default USD), paying every active partner up the tree.
	PlanID   *string    `json:"plan_id,omitempty"`
	Currency string     `json:"currency,omitempty"`
	Rules    *RulesBody `json:"rules,omitempty"`
}

// Example implements web.Exampler: a lot of gold.
func (PreviewBody) Example() any {
	held := int64(600)
	return PreviewBody{PartnerID: "0190a3b4-7d1c-7f00-8000-000000000003", Symbol: "XAUUSD.m", Lots: "1", AccountType: "standard", HeldSeconds: &held}
}

// PreviewLevelResponse is what one level would be paid: the row the engine would write.
type PreviewLevelResponse struct {
	Level       int         `json:"level"`
	PartnerID   string      `json:"partner_id"`
	Partner     string      `json:"partner"`
	PlanID      *string     `json:"plan_id,omitempty"`
	PlanVersion int         `json:"plan_version,omitempty"`
	Draft       bool        `json:"draft"`
	Kind        string      `json:"kind"`
	Amount      string      `json:"amount"`
	Currency    string      `json:"currency,omitempty"`
	Reason      string      `json:"reason,omitempty"`
	Says        string      `json:"says"`
	Explanation Explanation `json:"explanation"`
}

// PreviewResponse is a preview: the levels up the tree and the sentence that sums them up.
type PreviewResponse struct {
	Says   string                 `json:"says"`
	Levels []PreviewLevelResponse `json:"levels"`
}

// ToPreviewResponse is a preview in the API's shape.
func ToPreviewResponse(levels []PreviewLevel) PreviewResponse {
	out := PreviewResponse{Says: PreviewSays(levels), Levels: []PreviewLevelResponse{}}
	for _, l := range levels {
		r := PreviewLevelResponse{Level: l.Level, PartnerID: l.Partner.String(), Partner: l.Name, Draft: l.Draft, Kind: KindPaid,
			Amount: "0", Reason: string(l.Outcome.Reason), Explanation: l.Outcome.Explanation}
		if l.Plan != nil {
			r.Currency = l.Plan.Currency.Code
			r.Amount = money.Format(l.Outcome.Amount, l.Plan.Currency)
			if !l.Draft {
				r.PlanID, r.PlanVersion = idText(&l.Plan.ID), l.Plan.Version
			}
		}
		if l.Outcome.Reason != "" {
			r.Kind, r.Says = KindNothing, Explain[l.Outcome.Reason]
		} else {
			r.Says = explainPaid(l.Outcome.Explanation)
		}
		out.Levels = append(out.Levels, r)
	}
	return out
}

// PreviewInputOf reads a preview's body: every bad field at once (422), rules named as the plan routes name them
// (rules.lines.0.per_lot.1); a partner or plan of no one here is ErrNotFound (404).
func (s *Service) PreviewInputOf(ctx context.Context, t tenants.Tenant, b PreviewBody) (PreviewInput, error) {
	var f validation.Fields
	in := PreviewInput{At: s.o.Now().UTC()}
	if b.At != nil {
		in.At = b.At.UTC()
	}
	partner := optionalID(&f, "partner_id", &b.PartnerID)
	if partner == nil && !f.Has("partner_id") {
		f.Add("partner_id", "is required")
	}
	in.Trade.Symbol = strings.TrimSpace(b.Symbol)
	f.Required("symbol", in.Trade.Symbol)
	f.Name("symbol", in.Trade.Symbol, 32)
	if lots, err := decimal.NewFromString(strings.TrimSpace(b.Lots)); err != nil {
		f.Add("lots", "must be a decimal number, like 0.5")
	} else if !lots.IsPositive() || lots.GreaterThan(decimal.NewFromInt(1_000_000)) {
		f.Add("lots", "more than 0, at most 1000000")
	} else {
		in.Trade.Lots = lots
	}
	in.Trade.AccountType = strings.TrimSpace(b.AccountType)
	f.Name("account_type", in.Trade.AccountType, 64)
	if b.HeldSeconds != nil && *b.HeldSeconds < 0 {
		f.Add("held_seconds", "must be 0 or more")
	}
	in.Trade.HeldSeconds = b.HeldSeconds
	var draft Plan
	plan := optionalID(&f, "plan_id", b.PlanID)
	if plan != nil {
		p, err := s.Plan(ctx, t, *plan, 0)
		if errors.Is(err, ErrNotFound) {
			return in, errNoPlan
		} else if err != nil {
			return in, err
		}
		draft = p
		draft.Version = 0
	} else {
		code := strings.ToUpper(strings.TrimSpace(b.Currency))
		if code == "" {
			code = "USD"
		}
		c, ok := money.Lookup(code)
		if !ok {
			f.Add("currency", "not a currency BrokerDesk knows")
		}
		draft = Plan{Name: "draft", Currency: c}
	}
	if b.Rules != nil && !f.Has("plan_id") && !f.Has("currency") {
		r, err := b.Rules.ToRules()
		if !f.Merge(err) {
			f.Merge(prefixRules(r.Validate(draft.Currency)))
		}
		draft.Rules = r
		in.Draft = &draft
	}
	if err := f.Err(); err != nil {
		return in, err
	}
	if _, err := s.Partner(ctx, t, *partner); err != nil {
		return in, err // ErrNotFound: 404, as another tenant's id is everywhere
	}
	in.Partner = *partner
	return in, nil
}

// errNoPlan: the preview's plan_id names no plan of the tenant (404).
var errNoPlan = fmt.Errorf("%w: plan", ErrNotFound)

func previewRoutes(api *web.API, s *Service) {
	api.Handle(web.Route{Method: fiber.MethodPost, Path: "/api/v1/partner-plans/preview", Permission: PermManage, Tag: "partners", Request: PreviewBody{},
		Response: PreviewResponse{}, Summary: "What a deal would pay each partner up the tree, with the engine's own computation: optionally with a draft of a plan's rules",
		Handler: func(c *fiber.Ctx) error {
			var b PreviewBody
			if err := web.Bind(c, &b); err != nil {
				return err
			}
			ctx, t := c.UserContext(), tenants.Current(c)
			in, err := s.PreviewInputOf(ctx, t, b)
			if errors.Is(err, errNoPlan) {
				return web.NotFound("No such plan.")
			} else if err != nil {
				return apiError(err, "partner")
			}
			levels, err := s.Preview(ctx, t, in)
			if err != nil {
				return apiError(err, "partner")
			}
			return c.JSON(ToPreviewResponse(levels))
		}})
}
