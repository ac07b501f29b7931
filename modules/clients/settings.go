package clients

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Tier is an account tier a tenant offers (e.g. standard, pro, vip).
type Tier struct {
	Name  string `json:"name"` // lower-case letters, digits, '_' and '-'
	Label string `json:"label"`
	// DepositsBeforeKYC lets this tier's clients deposit while KYC is pending (see Rules).
	DepositsBeforeKYC bool `json:"deposits_before_kyc"`
}

// TierRule gives Tier to a client whose country is one of Countries (any country when empty) and whose declared
// experience is one of Experience (any when empty). Rules are tried in order at email verification; the first
// that matches wins, else the default tier.
type TierRule struct {
	Tier       string   `json:"tier"`
	Countries  []string `json:"countries"`
	Experience []string `json:"experience"`
}

// ManagerRule gives clients of Countries to one manager, before the round-robin.
type ManagerRule struct {
	Countries []string  `json:"countries"`
	ManagerID uuid.UUID `json:"manager_id"`
}

// Manager assignment modes.
const (
	AssignRoundRobin = "round_robin" // country rules first, then the next active sales staff in turn
	AssignRulesOnly  = "rules_only"  // country rules only; other clients stay unassigned
	AssignNone       = "none"        // nobody is assigned at verification
)

// Experience levels a client may declare at registration.
var Experiences = []string{"none", "some", "experienced"}

// Settings are a tenant's onboarding rules (settings key "onboarding").
type Settings struct {
	MinimumAge             int           `json:"minimum_age"`
	BlockedCountries       []string      `json:"blocked_countries"`
	ExtraDisposableDomains []string      `json:"extra_disposable_domains"`
	Tiers                  []Tier        `json:"tiers"`
	TierRules              []TierRule    `json:"tier_rules"`
	DefaultTier            string        `json:"default_tier"`
	ManagerAssignment      string        `json:"manager_assignment"`
	ManagerRules           []ManagerRule `json:"manager_rules"`
	// ManagersSeeOwnClientsOnly limits staff whose roles are only sales and/or retention to the clients they
	// manage (list, page and API; others answer 404).
	ManagersSeeOwnClientsOnly bool `json:"managers_see_own_clients_only"`
	AllowDepositsBeforeKYC    bool `json:"allow_deposits_before_kyc"`
	DemoFromEmailVerified     bool `json:"demo_from_email_verified"`
}

// DefaultSettings are what a tenant has until an admin changes them.
func DefaultSettings() Settings {
	return Settings{MinimumAge: 18, BlockedCountries: []string{}, ExtraDisposableDomains: []string{},
		Tiers: []Tier{{Name: "standard", Label: "Standard"}}, TierRules: []TierRule{}, DefaultTier: "standard",
		ManagerAssignment: AssignRoundRobin, ManagerRules: []ManagerRule{}, DemoFromEmailVerified: true}
}

func (st Settings) rules() Rules {
	r := Rules{AllowDepositsBeforeKYC: st.AllowDepositsBeforeKYC, DemoFromEmailVerified: st.DemoFromEmailVerified}
	for _, t := range st.Tiers {
		if t.DepositsBeforeKYC {
			r.DepositsBeforeKYCTiers = append(r.DepositsBeforeKYCTiers, t.Name)
		}
	}
	return r
}

// TierLabel is a tier's label, or its name when the tenant has no such tier (any more).
func (st Settings) TierLabel(name string) string {
	for _, t := range st.Tiers {
		if t.Name == name && t.Label != "" {
			return t.Label
		}
	}
	return name
}

// tierFor picks a tier by the rules, else the default.
func (st Settings) tierFor(country, experience string) string {
	for _, r := range st.TierRules {
		if (len(r.Countries) == 0 || slices.Contains(r.Countries, country)) &&
			(len(r.Experience) == 0 || slices.Contains(r.Experience, experience)) {
			return r.Tier
		}
	}
	return st.DefaultTier
}

const settingsKey = "onboarding"

func settingsTx(ctx context.Context, tx pgx.Tx) (Settings, error) {
	return tenants.SettingOr(ctx, tx, settingsKey, DefaultSettings)
}

// Settings returns the tenant's onboarding settings.
func (s *Service) Settings(ctx context.Context, t tenants.Tenant) (Settings, error) {
	return tenants.ReadSettingOr(ctx, s.gate, t, settingsKey, DefaultSettings)
}

// FieldError is one refused field of a request.
type FieldError struct{ Field, Message string }

// ValidationError lists every refused field; the HTTP layer shows them per field.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + " " + f.Message
	}
	return "clients: invalid: " + strings.Join(parts, "; ")
}

// fields collects FieldErrors.
type fields []FieldError

func (f *fields) add(field, msg string) { *f = append(*f, FieldError{Field: field, Message: msg}) }

func (f fields) err() error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

var (
	tierName    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	domainShape = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// normalize cleans what an admin typed (upper-case countries, lower-case domains, sorted, no duplicates) and
// checks it; managers are checked against the staff table by SaveSettings.
func (st *Settings) normalize() error {
	var f fields
	if st.MinimumAge < 16 || st.MinimumAge > 100 {
		f.add("minimum_age", "must be a whole number from 16 to 100")
	}
	clean := func(field string, in []string, upper bool, ok func(string) bool, msg string) []string {
		out := []string{}
		for _, v := range in {
			v = strings.TrimSpace(v)
			if upper {
				v = strings.ToUpper(v)
			} else {
				v = strings.ToLower(v)
			}
			if v == "" {
				continue
			}
			if !ok(v) {
				f.add(field, fmt.Sprintf("%q %s", v, msg))
				continue
			}
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		sort.Strings(out)
		return out
	}
	st.BlockedCountries = clean("blocked_countries", st.BlockedCountries, true, ValidCountry, "is not an ISO 3166 alpha-2 country code")
	st.ExtraDisposableDomains = clean("extra_disposable_domains", st.ExtraDisposableDomains, false, domainShape.MatchString, "is not a domain name")
	if len(st.Tiers) == 0 {
		f.add("tiers", "must name at least one tier")
	}
	names := map[string]bool{}
	for i := range st.Tiers {
		t := &st.Tiers[i]
		t.Name, t.Label = strings.ToLower(strings.TrimSpace(t.Name)), strings.TrimSpace(t.Label)
		switch {
		case !tierName.MatchString(t.Name):
			f.add("tiers", fmt.Sprintf("%q: a tier name is 1 to 32 lower-case letters, digits, '_' or '-'", t.Name))
		case names[t.Name]:
			f.add("tiers", fmt.Sprintf("%q is listed twice", t.Name))
		case len(t.Label) > 60:
			f.add("tiers", fmt.Sprintf("%q: the label must be at most 60 characters", t.Name))
		}
		if t.Label == "" {
			t.Label = t.Name
		}
		names[t.Name] = true
	}
	st.DefaultTier = strings.ToLower(strings.TrimSpace(st.DefaultTier))
	if !names[st.DefaultTier] {
		f.add("default_tier", "must be one of the tiers")
	}
	if st.TierRules == nil {
		st.TierRules = []TierRule{}
	}
	for i := range st.TierRules {
		r := &st.TierRules[i]
		r.Tier = strings.ToLower(strings.TrimSpace(r.Tier))
		if !names[r.Tier] {
			f.add("tier_rules", fmt.Sprintf("rule %d: %q is not one of the tiers", i+1, r.Tier))
		}
		r.Countries = clean("tier_rules", r.Countries, true, ValidCountry, "is not an ISO 3166 alpha-2 country code")
		r.Experience = clean("tier_rules", r.Experience, false, func(v string) bool { return slices.Contains(Experiences, v) },
			"is not an experience level (none, some, experienced)")
		if len(r.Countries) == 0 && len(r.Experience) == 0 {
			f.add("tier_rules", fmt.Sprintf("rule %d matches everyone: name countries or experience (the default tier covers everyone else)", i+1))
		}
	}
	switch st.ManagerAssignment {
	case AssignRoundRobin, AssignRulesOnly, AssignNone:
	default:
		f.add("manager_assignment", "must be round_robin, rules_only or none")
	}
	if st.ManagerRules == nil {
		st.ManagerRules = []ManagerRule{}
	}
	for i := range st.ManagerRules {
		r := &st.ManagerRules[i]
		r.Countries = clean("manager_rules", r.Countries, true, ValidCountry, "is not an ISO 3166 alpha-2 country code")
		if len(r.Countries) == 0 {
			f.add("manager_rules", fmt.Sprintf("rule %d names no country", i+1))
		}
		if r.ManagerID == uuid.Nil {
			f.add("manager_rules", fmt.Sprintf("rule %d names no manager", i+1))
		}
	}
	return f.err()
}

// SaveSettings checks and stores the tenant's onboarding settings, audited with the change.
func (s *Service) SaveSettings(ctx context.Context, t tenants.Tenant, actor audit.Actor, st Settings) (Settings, error) {
	if err := st.normalize(); err != nil {
		return st, err
	}
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var f fields
		for i, r := range st.ManagerRules {
			ok, err := staff.IsActive(ctx, tx, r.ManagerID)
			if err != nil {
				return err
			}
			if !ok {
				f.add("manager_rules", fmt.Sprintf("rule %d: the manager is not an active staff user", i+1))
			}
		}
		if err := f.err(); err != nil {
			return err
		}
		before, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := tenants.SaveSetting(ctx, tx, settingsKey, st); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsChanged,
			Target: audit.Target{Type: "settings", ID: settingsKey}, Before: before, After: st})
	})
	return st, err
}

// ValidCountry reports whether code is an ISO 3166-1 alpha-2 country code (upper case).
func ValidCountry(code string) bool { _, ok := countryNames[code]; return ok }

// CountryName is the English short name of a country code ("" for an unknown code).
func CountryName(code string) string { return countryNames[code] }

// Country is one entry of Countries.
type Country struct{ Code, Name string }

// Countries lists every country, by name.
func Countries() []Country {
	out := make([]Country, 0, len(countryNames))
	for c, n := range countryNames {
		out = append(out, Country{c, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
