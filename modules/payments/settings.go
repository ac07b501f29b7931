package payments

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Settings are a tenant's rules for money in (settings key "payments").
type Settings struct {
	// ExceptionSLAHours is how long a case may wait before it is overdue (1 to 720; default 24).
	ExceptionSLAHours int `json:"exception_sla_hours"`
	// ManualApproval is the four-eyes threshold of manual deposits per currency, in minor units: a manual deposit
	// of at least this amount waits for a second, different finance user. A currency without an entry needs no
	// second approver.
	ManualApproval map[string]int64 `json:"manual_approval"`
	// ReceiptEmails: clients are emailed a receipt for every credited deposit (default on).
	ReceiptEmails bool `json:"receipt_emails"`
}

// DefaultSettings are the rules of a tenant that has saved none.
func DefaultSettings() Settings {
	return Settings{ExceptionSLAHours: 24, ManualApproval: map[string]int64{"USD": 1000000, "EUR": 1000000, "GBP": 1000000},
		ReceiptEmails: true}
}

const settingsKey = "payments"

func settingsTx(ctx context.Context, tx pgx.Tx) (Settings, error) {
	return decodeSettings(func(dst any) (bool, error) { return tenants.LoadSetting(ctx, tx, settingsKey, dst) })
}

// Settings returns t's rules.
func (s *Service) Settings(ctx context.Context, t tenants.Tenant) (Settings, error) {
	return decodeSettings(func(dst any) (bool, error) { return s.o.Gate.LoadSetting(ctx, t, settingsKey, dst) })
}

// decodeSettings reads the stored rules over the defaults, except the thresholds: a stored map replaces the
// default one whole (decoding into it would merge, and a default currency's threshold could never be removed).
func decodeSettings(load func(dst any) (bool, error)) (Settings, error) {
	st := DefaultSettings()
	st.ManualApproval = nil
	found, err := load(&st)
	if err != nil || !found {
		return DefaultSettings(), err
	}
	if st.ManualApproval == nil { // stored before the field existed
		st.ManualApproval = DefaultSettings().ManualApproval
	}
	return st, nil
}

// Validate names every bad field of st.
func (st Settings) Validate() error {
	var f validation.Fields
	f.Check(st.ExceptionSLAHours >= 1 && st.ExceptionSLAHours <= 720, "exception_sla_hours", "from 1 to 720 hours")
	f.Check(len(st.ManualApproval) <= 64, "manual_approval", "at most 64 currencies")
	for code, v := range st.ManualApproval {
		if _, ok := money.Lookup(code); !ok {
			f.Add("manual_approval", fmt.Sprintf("%q is not a currency BrokerDesk handles", code))
		}
		if v <= 0 {
			f.Add("manual_approval", code+": a threshold is a positive amount")
		}
	}
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
