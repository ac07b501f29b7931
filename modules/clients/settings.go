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

	"github.com/brokerdesk/brokerdesk/infra/validation"
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

var (
	tierName    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	domainShape = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// Bounds of the lists in the onboarding settings: far above what a brokerage configures, low enough that a page,
// a registration check and an audit entry stay small. Above them, a 422 names the list.
const (
	maxCountryList = 250 // every country there is
	maxDomains     = 1000
	maxTiers       = 50
	maxRules       = 200
)

// checkBounds refuses lists over their bounds before any work is done on them.
func (st *Settings) checkBounds(f *validation.Fields) {
	f.MaxItems("blocked_countries", len(st.BlockedCountries), maxCountryList)
	f.MaxItems("extra_disposable_domains", len(st.ExtraDisposableDomains), maxDomains)
	f.MaxItems("tiers", len(st.Tiers), maxTiers)
	f.MaxItems("tier_rules", len(st.TierRules), maxRules)
	f.MaxItems("manager_rules", len(st.ManagerRules), maxRules)
	for i, r := range st.TierRules {
		f.MaxItems(fmt.Sprintf("tier_rules[%d].countries", i), len(r.Countries), maxCountryList)
		f.MaxItems(fmt.Sprintf("tier_rules[%d].experience", i), len(r.Experience), len(Experiences))
	}
	for i, r := range st.ManagerRules {
		f.MaxItems(fmt.Sprintf("manager_rules[%d].countries", i), len(r.Countries), maxCountryList)
	}
}

// normalize cleans what an admin typed (upper-case countries, lower-case domains, sorted, no duplicates) and
// checks it; managers are checked against the staff table by SaveSettings.
func (st *Settings) normalize() error {
	var f validation.Fields
	if st.checkBounds(&f); f.Len() > 0 {
		return f.Err()
	}
	if st.MinimumAge < 16 || st.MinimumAge > 100 {
		f.Add("minimum_age", "must be a whole number from 16 to 100")
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
				f.Add(field, fmt.Sprintf("%q %s", v, msg))
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
		f.Add("tiers", "must name at least one tier")
	}
	names := map[string]bool{}
	for i := range st.Tiers {
		t := &st.Tiers[i]
		t.Name, t.Label = strings.ToLower(strings.TrimSpace(t.Name)), strings.TrimSpace(t.Label)
		switch {
		case !tierName.MatchString(t.Name):
			f.Add("tiers", fmt.Sprintf("%q: a tier name is 1 to 32 lower-case letters, digits, '_' or '-'", t.Name))
		case names[t.Name]:
			f.Add("tiers", fmt.Sprintf("%q is listed twice", t.Name))
		case len(t.Label) > 60:
			f.Add("tiers", fmt.Sprintf("%q: the label must be at most 60 characters", t.Name))
		case validation.Name(t.Label) != "":
			f.Add("tiers", fmt.Sprintf("%q: the label %s", t.Name, validation.Name(t.Label)))
		}
		if t.Label == "" {
			t.Label = t.Name
		}
		names[t.Name] = true
	}
	st.DefaultTier = strings.ToLower(strings.TrimSpace(st.DefaultTier))
	if !names[st.DefaultTier] {
		f.Add("default_tier", "must be one of the tiers")
	}
	if st.TierRules == nil {
		st.TierRules = []TierRule{}
	}
	for i := range st.TierRules {
		r := &st.TierRules[i]
		r.Tier = strings.ToLower(strings.TrimSpace(r.Tier))
		if !names[r.Tier] {
			f.Add("tier_rules", fmt.Sprintf("rule %d: %q is not one of the tiers", i+1, r.Tier))
		}
		r.Countries = clean("tier_rules", r.Countries, true, ValidCountry, "is not an ISO 3166 alpha-2 country code")
		r.Experience = clean("tier_rules", r.Experience, false, func(v string) bool { return slices.Contains(Experiences, v) },
			"is not an experience level (none, some, experienced)")
		if len(r.Countries) == 0 && len(r.Experience) == 0 {
			f.Add("tier_rules", fmt.Sprintf("rule %d matches everyone: name countries or experience (the default tier covers everyone else)", i+1))
		}
	}
	switch st.ManagerAssignment {
	case AssignRoundRobin, AssignRulesOnly, AssignNone:
	default:
		f.Add("manager_assignment", "must be round_robin, rules_only or none")
	}
	if st.ManagerRules == nil {
		st.ManagerRules = []ManagerRule{}
	}
	for i := range st.ManagerRules {
		r := &st.ManagerRules[i]
		r.Countries = clean("manager_rules", r.Countries, true, ValidCountry, "is not an ISO 3166 alpha-2 country code")
		if len(r.Countries) == 0 {
			f.Add("manager_rules", fmt.Sprintf("rule %d names no country", i+1))
		}
		if r.ManagerID == uuid.Nil {
			f.Add("manager_rules", fmt.Sprintf("rule %d names no manager", i+1))
		}
	}
	return f.Err()
}

// SaveSettings checks and stores the tenant's onboarding settings, audited with the change.
func (s *Service) SaveSettings(ctx context.Context, t tenants.Tenant, actor audit.Actor, st Settings) (Settings, error) {
	if err := st.normalize(); err != nil {
		return st, err
	}
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var f validation.Fields
		for i, r := range st.ManagerRules {
			ok, err := staff.IsActive(ctx, tx, r.ManagerID)
			if err != nil {
				return err
			}
			if !ok {
				f.Add("manager_rules", fmt.Sprintf("rule %d: the manager is not an active staff user", i+1))
			}
		}
		if err := f.Err(); err != nil {
			return err
		}
		before, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		if err := tenants.SaveSetting(ctx, tx, settingsKey, st); err != nil {
			return err
		}
		target := audit.Target{Type: "settings", ID: settingsKey}
		if weakened := weakenings(before, st); len(weakened) > 0 {
			return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsWeakened, Target: target,
				Before: before, After: auditedSettings{st, weakened}})
		}
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsChanged, Target: target, Before: before, After: st})
	})
	return st, err
}

// ActionSettingsWeakened records an onboarding settings change that weakens a rule (see weakenings), with what it
// weakened under audit.WeakenedKey; other changes are ActionSettingsChanged.
const ActionSettingsWeakened = "client.onboarding_settings_weakened"

// auditedSettings is the settings as the audit entry's After: with the weakenings, when there are any.
type auditedSettings struct {
	Settings
	Weakened []string `json:"weakened,omitempty"` // audit.WeakenedKey
}

// weakenings lists, in words, how after relaxes a rule of before that protects the brokerage: a lower minimum age,
// countries no longer blocked, disposable domains no longer refused, deposits (for everyone or a tier) or demo
// accounts allowed earlier, managers no longer limited to their own clients.
func weakenings(before, after Settings) []string {
	var out []string
	if after.MinimumAge < before.MinimumAge {
		out = append(out, fmt.Sprintf("minimum age lowered from %d to %d", before.MinimumAge, after.MinimumAge))
	}
	if gone := missingFrom(before.BlockedCountries, after.BlockedCountries); len(gone) > 0 {
		out = append(out, "countries no longer blocked: "+strings.Join(gone, ", "))
	}
	if gone := missingFrom(before.ExtraDisposableDomains, after.ExtraDisposableDomains); len(gone) > 0 {
		out = append(out, fmt.Sprintf("%d disposable email domains no longer refused", len(gone)))
	}
	if after.AllowDepositsBeforeKYC && !before.AllowDepositsBeforeKYC {
		out = append(out, "deposits allowed before KYC approval")
	}
	for _, t := range after.Tiers {
		was := slices.IndexFunc(before.Tiers, func(b Tier) bool { return b.Name == t.Name })
		if t.DepositsBeforeKYC && (was < 0 || !before.Tiers[was].DepositsBeforeKYC) && !before.AllowDepositsBeforeKYC {
			out = append(out, "tier "+t.Name+" may deposit before KYC approval")
		}
	}
	if after.DemoFromEmailVerified && !before.DemoFromEmailVerified {
		out = append(out, "demo accounts from email verification, before KYC approval")
	}
	if before.ManagersSeeOwnClientsOnly && !after.ManagersSeeOwnClientsOnly {
		out = append(out, "account managers see every client again")
	}
	return out
}

// missingFrom lists the values of before that after lacks.
func missingFrom(before, after []string) []string {
	var out []string
	for _, v := range before {
		if !slices.Contains(after, v) {
			out = append(out, v)
		}
	}
	return out
}

// LastSettingsWeakening is the newest weakening of the onboarding settings (who, when, what), or nil.
func (s *Service) LastSettingsWeakening(ctx context.Context, t tenants.Tenant) (*audit.Weakening, error) {
	return s.audit.LastWeakening(ctx, t, ActionSettingsWeakened)
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
