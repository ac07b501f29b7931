package withdrawals

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Settings are a tenant's rules for money out (settings key "withdrawals").
type Settings struct {
	// Tiers are the limits by client tier; "*" is every tier without its own entry.
	Tiers map[string]Limits `json:"tiers"`
	// SecondApproval is the four-eyes threshold per currency, in minor units: a withdrawal of at least this amount
	// needs a second, different approver. A currency without an entry needs one approver.
	SecondApproval map[string]int64 `json:"second_approval"`
	// ExpiryHours: a withdrawal nobody decides within this many hours expires and its hold is voided (1 to 2160).
	ExpiryHours int `json:"expiry_hours"`
	// SLAHours: a withdrawal waiting longer is overdue on the finance queue (1 to 720).
	SLAHours int `json:"sla_hours"`
	// TradingFlag: a withdrawal within FlagDays of the client's last deposit, with fewer than FlagMinLots closed
	// since that deposit, goes to compliance first. FlagDays 0 switches the check off.
	FlagDays int `json:"flag_days"`
	// FlagMinLots is a decimal string of lots ("1", "0.5").
	FlagMinLots string `json:"flag_min_lots"`
	// Methods are where the money goes once card payments are refunded: "bank" (a manual bank payout) and the
	// slugs of generic gateways that pay out.
	Methods []string `json:"methods"`
}

// Limits are one tier's bounds.
type Limits struct {
	// DailyCount: more withdrawals than this in 24 hours go to compliance (0: no bound).
	DailyCount int `json:"daily_count"`
	// Amounts are per currency, in minor units.
	Amounts map[string]AmountLimits `json:"amounts"`
}

// AmountLimits bound one currency's withdrawals: Min and Max per withdrawal (refused outside them; 0: no bound),
// Daily the sum in 24 hours above which they go to compliance (0: no bound).
type AmountLimits struct {
	Min   int64 `json:"min"`
	Max   int64 `json:"max"`
	Daily int64 `json:"daily"`
}

// MethodBank is the manual bank payout, always possible when the tenant lists it.
const MethodBank = "bank"

// DefaultSettings are the rules of a tenant that has saved none.
func DefaultSettings() Settings {
	amounts := map[string]AmountLimits{}
	for _, c := range []string{"USD", "EUR", "GBP"} {
		amounts[c] = AmountLimits{Min: 1000, Max: 5_000_000, Daily: 10_000_000}
	}
	return Settings{Tiers: map[string]Limits{"*": {DailyCount: 3, Amounts: amounts}},
		SecondApproval: map[string]int64{"USD": 500_000, "EUR": 500_000, "GBP": 500_000},
		ExpiryHours:    72, SLAHours: 24, FlagDays: 30, FlagMinLots: "1", Methods: []string{MethodBank}}
}

// MinLots is FlagMinLots as a number (1 when it does not read as one).
func (st Settings) MinLots() decimal.Decimal {
	d, err := decimal.NewFromString(st.FlagMinLots)
	if err != nil {
		return decimal.NewFromInt(1)
	}
	return d
}

// LimitsOf are the limits of tier (the "*" entry when the tier has none).
func (st Settings) LimitsOf(tier string) Limits {
	if l, ok := st.Tiers[tier]; ok {
		return l
	}
	return st.Tiers["*"]
}

const settingsKey = "withdrawals"

// decodeSettings reads stored rules over the defaults; a stored map replaces the default one whole.
func decodeSettings(load func(dst any) (bool, error)) (Settings, error) {
	var st Settings
	found, err := load(&st)
	if err != nil || !found {
		return DefaultSettings(), err
	}
	d := DefaultSettings()
	if st.Tiers == nil {
		st.Tiers = d.Tiers
	}
	if st.SecondApproval == nil {
		st.SecondApproval = d.SecondApproval
	}
	if st.ExpiryHours == 0 {
		st.ExpiryHours = d.ExpiryHours
	}
	if st.SLAHours == 0 {
		st.SLAHours = d.SLAHours
	}
	if st.Methods == nil {
		st.Methods = d.Methods
	}
	if st.FlagMinLots == "" {
		st.FlagMinLots = d.FlagMinLots
	}
	return st, nil
}

func settingsTx(ctx context.Context, tx pgx.Tx) (Settings, error) {
	return decodeSettings(func(dst any) (bool, error) { return tenants.LoadSetting(ctx, tx, settingsKey, dst) })
}

// Settings returns t's rules.
func (s *Service) Settings(ctx context.Context, t tenants.Tenant) (Settings, error) {
	return decodeSettings(func(dst any) (bool, error) { return s.o.Gate.LoadSetting(ctx, t, settingsKey, dst) })
}

// Validate names every bad field of st.
func (st Settings) Validate() error {
	var f validation.Fields
	_, ok := st.Tiers["*"]
	f.Check(ok, "tiers", `needs the "*" entry: the limits of every tier without its own`)
	for tier, l := range st.Tiers {
		f.Check(l.DailyCount >= 0, "tiers", tier+": daily_count is zero (no bound) or more")
		for code, a := range l.Amounts {
			if _, ok := money.Lookup(code); !ok {
				f.Add("tiers", fmt.Sprintf("%s: %q is not a currency BrokerDesk handles", tier, code))
			}
			f.Check(a.Min >= 0 && a.Max >= 0 && a.Daily >= 0, "tiers", tier+" "+code+": limits are zero (no bound) or positive")
			f.Check(a.Max == 0 || a.Min <= a.Max, "tiers", tier+" "+code+": min is at most max")
		}
	}
	for code, v := range st.SecondApproval {
		if _, ok := money.Lookup(code); !ok {
			f.Add("second_approval", fmt.Sprintf("%q is not a currency BrokerDesk handles", code))
		}
		f.Check(v > 0, "second_approval", code+": a threshold is a positive amount")
	}
	f.Check(st.ExpiryHours >= 1 && st.ExpiryHours <= 2160, "expiry_hours", "from 1 to 2160 hours")
	f.Check(st.SLAHours >= 1 && st.SLAHours <= 720, "sla_hours", "from 1 to 720 hours")
	f.Check(st.FlagDays >= 0 && st.FlagDays <= 365, "flag_days", "from 0 (off) to 365 days")
	lots, err := decimal.NewFromString(st.FlagMinLots)
	f.Check(err == nil && !lots.IsNegative() && lots.LessThan(decimal.NewFromInt(1_000_000)), "flag_min_lots", `a decimal number of lots, zero or more ("1", "0.5")`)
	f.Check(len(st.Methods) > 0 && len(st.Methods) <= 16, "methods", "one to 16 methods")
	f.Check(!slices.Contains(st.Methods, ""), "methods", "a method is bank or a gateway's slug")
	return f.Err()
}

// SaveSettings checks and stores t's rules, audited.
func (s *Service) SaveSettings(ctx context.Context, t tenants.Tenant, actor audit.Actor, st Settings) error {
	if err := st.Validate(); err != nil {
		return err
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := tenants.SaveSetting(ctx, tx, settingsKey, st); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsChanged,
			Target: audit.Target{Type: "settings", ID: settingsKey}, Before: before, After: st})
	})
}
