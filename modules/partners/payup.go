package partners

import (
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
)

// Payer is a partner up the tree as a deal's computation sees it: its status, and the version of its plan in force
// at the deal's time (nil: no plan; read only for an active partner).
type Payer struct {
	ID     uuid.UUID
	Status Status
	Plan   *Plan
}

// LevelPay is what one level of a deal pays: the partner there, the plan version it was paid under (nil when the
// partner was not active or had no plan) and the outcome, an amount or a reason with its explanation.
type LevelPay struct {
	Level   int
	Partner uuid.UUID
	Plan    *Plan
	Outcome Outcome
}

// NeedsOf says what a chain's plans need to know of a trade beyond its symbol and lots: the account's type (lot
// modifiers, exclusions) and how long the position was held (a minimum hold). The engine reads only what is needed.
func NeedsOf(chain []Payer) (accountType, hold bool) {
	for _, p := range chain {
		if p.Status != StatusActive || p.Plan == nil {
			continue
		}
		r := p.Plan.Rules
		accountType = accountType || len(r.LotModifiers) > 0 || len(r.ExcludedAccountTypes) > 0
		hold = hold || r.MinHoldSeconds > 0
	}
	return accountType, hold
}

// PayUp is what a closing deal pays each partner up the tree (chain[0] is level 1, the client's own partner): each
// partner under its own plan at the level it stands, a percent of the level below taken from what that level earned
// in the same currency. It is pure: the engine writes its rows from it, and the plan editor's preview shows it, so
// the preview is what the engine would write.
func PayUp(chain []Payer, tr Trade, suffixes []string) []LevelPay {
	out := make([]LevelPay, 0, len(chain))
	var below *int64
	var belowCur money.Currency
	for i, p := range chain {
		lv := LevelPay{Level: i + 1, Partner: p.ID}
		switch {
		case p.Status != StatusActive:
			lv.Outcome = nothing(Explanation{Symbol: tr.Symbol}, ReasonPartnerInactive)
		case p.Plan == nil:
			lv.Outcome = nothing(Explanation{Symbol: tr.Symbol}, ReasonNoPlan)
		default:
			lv.Plan = p.Plan
			var b *int64
			if below != nil && belowCur == p.Plan.Currency {
				b = below
			}
			lv.Outcome = p.Plan.Rules.Pay(p.Plan.Currency, lv.Level, tr, b, suffixes)
			amt := lv.Outcome.Amount
			below, belowCur = &amt, p.Plan.Currency
		}
		if p.Status != StatusActive || p.Plan == nil {
			zero := int64(0)
			below = &zero
		}
		out = append(out, lv)
	}
	return out
}
