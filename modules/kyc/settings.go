package kyc

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/documents"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// settingsKey is the row of the tenant's settings table holding the KYC settings.
const settingsKey = "kyc"

// Settings are a tenant's KYC review rules.
type Settings struct {
	// SLAHours is how long a case may wait before it is overdue (default 24).
	SLAHours int `json:"sla_hours"`
	// Checklists are the items an officer ticks per document type; a type without a list has nothing to tick.
	Checklists map[documents.Type][]ChecklistItem `json:"checklists"`
	// RequiredDocuments lists groups of document types: the client is approved when every group has an approved
	// document of one of its types. Default: [[passport, national_id, driving_licence], [proof_of_address]].
	RequiredDocuments [][]documents.Type `json:"required_documents"`
	// FourEyes switches the second approval on for clients from HighRiskCountries (ISO 3166-1 alpha-2).
	FourEyes          bool     `json:"four_eyes"`
	HighRiskCountries []string `json:"high_risk_countries"`
}

// ChecklistItem is one thing an officer checks on a document.
type ChecklistItem struct {
	Key      string `json:"key"` // stable identifier the ticks refer to: lower_snake_case
	Label    string `json:"label"`
	Required bool   `json:"required"` // approving needs it ticked
}

// SLA is the settings' SLA as a duration.
func (s Settings) SLA() time.Duration { return time.Duration(s.SLAHours) * time.Hour }

// Checklist returns the items for document type t.
func (s Settings) Checklist(t documents.Type) []ChecklistItem { return s.Checklists[t] }

var idDocumentChecklist = []ChecklistItem{
	{"name_matches", "Name matches the client's name", true},
	{"dob_matches", "Date of birth matches the client's", true},
	{"not_expired", "Not expired", true},
	{"complete_and_legible", "Complete and legible (all corners, no glare)", true},
	{"no_signs_of_tampering", "No signs of tampering", true},
}

// DefaultSettings are a tenant's KYC settings until an admin changes them.
func DefaultSettings() Settings {
	return Settings{
		SLAHours: 24,
		Checklists: map[documents.Type][]ChecklistItem{
			"passport":        slices.Clone(idDocumentChecklist),
			"national_id":     slices.Clone(idDocumentChecklist),
			"driving_licence": slices.Clone(idDocumentChecklist),
			"proof_of_address": {
				{"name_matches", "Name matches the client's name", true},
				{"address_dated_within_3_months", "Dated within the last 3 months", true},
				{"issuer_acceptable", "Issued by a utility, bank or public body", true},
				{"complete_and_legible", "Complete and legible", true},
			},
			"selfie": {
				{"photo_matches", "Face matches the identity document's photo", true},
				{"live_capture", "A live photo (not a photo of a screen or print)", false},
			},
			"company_registration": {{"company_name_matches", "Company name matches the client's company", true}, {"complete_and_legible", "Complete and legible", true}},
			"company_articles":     {{"company_name_matches", "Company name matches the client's company", true}, {"complete_and_legible", "Complete and legible", true}},
			"company_ownership":    {{"owners_identified", "Beneficial owners are identified", true}, {"complete_and_legible", "Complete and legible", true}},
		},
		RequiredDocuments: [][]documents.Type{{"passport", "national_id", "driving_licence"}, {"proof_of_address"}},
		FourEyes:          false,
		HighRiskCountries: []string{},
	}
}

var (
	itemKey     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,59}$`)
	countryCode = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Limits on settings, so the review page and every approval stay small.
const (
	maxSLAHours      = 720
	maxItemsPerType  = 30
	maxLabelLen      = 200
	maxRiskCountries = 250
	maxGroups        = 20
)

// Validate records every problem of s in f (field names as in the JSON). Every list has a bound (a 422 above it).
func (s Settings) Validate(f *validation.Fields) {
	f.Check(s.SLAHours >= 1 && s.SLAHours <= maxSLAHours, "sla_hours", fmt.Sprintf("must be a whole number of hours from 1 to %d", maxSLAHours))
	n := f.Len()
	f.MaxItems("checklists", len(s.Checklists), len(DocumentTypes))
	f.MaxItems("required_documents", len(s.RequiredDocuments), maxGroups)
	f.MaxItems("high_risk_countries", len(s.HighRiskCountries), maxRiskCountries)
	if f.Len() > n {
		return // nothing more is looked at in a list over its bound
	}
	for t, items := range s.Checklists {
		field := "checklists." + string(t)
		if !slices.Contains(DocumentTypes, t) {
			f.Add(field, "is not a document type")
			continue
		}
		if len(items) > maxItemsPerType {
			f.Add(field, fmt.Sprintf("may hold at most %d items", maxItemsPerType))
		}
		seen := map[string]bool{}
		for i, it := range items {
			at := fmt.Sprintf("%s[%d]", field, i)
			if !itemKey.MatchString(it.Key) {
				f.Add(at+".key", "must be lower_snake_case (a letter, then letters, digits or _; at most 60)")
			} else if seen[it.Key] {
				f.Add(at+".key", "appears twice in this checklist")
			}
			seen[it.Key] = true
			label := strings.TrimSpace(it.Label)
			if label == "" || utf8.RuneCountInString(label) > maxLabelLen {
				f.Add(at+".label", fmt.Sprintf("is required (at most %d characters)", maxLabelLen))
			} else {
				f.SingleLine(at+".label", label, 0)
			}
		}
	}
	if len(s.RequiredDocuments) == 0 {
		f.Add("required_documents", "needs at least one group of document types")
	}
	for i, group := range s.RequiredDocuments {
		at := fmt.Sprintf("required_documents[%d]", i)
		if len(group) == 0 {
			f.Add(at, "needs at least one document type")
		}
		if len(group) > len(DocumentTypes) {
			f.MaxItems(at, len(group), len(DocumentTypes))
			continue
		}
		for _, t := range group {
			if !slices.Contains(DocumentTypes, t) {
				f.Add(at, fmt.Sprintf("%q is not a document type", t))
			}
		}
	}
	for _, c := range s.HighRiskCountries {
		if !countryCode.MatchString(c) {
			f.Add("high_risk_countries", fmt.Sprintf("%q is not a two-letter country code (ISO 3166-1, upper case)", c))
		}
	}
}

// normalize trims labels, sorts and dedupes countries and groups' types, so what is stored reads the same way.
func (s Settings) normalize() Settings {
	out := s
	out.Checklists = map[documents.Type][]ChecklistItem{}
	for t, items := range s.Checklists {
		list := make([]ChecklistItem, len(items))
		for i, it := range items {
			list[i] = ChecklistItem{Key: it.Key, Label: strings.TrimSpace(it.Label), Required: it.Required}
		}
		out.Checklists[t] = list
	}
	out.RequiredDocuments = nil
	for _, g := range s.RequiredDocuments {
		var group []documents.Type
		for _, t := range g {
			if !slices.Contains(group, t) {
				group = append(group, t)
			}
		}
		out.RequiredDocuments = append(out.RequiredDocuments, group)
	}
	out.HighRiskCountries = slices.Clone(s.HighRiskCountries)
	slices.Sort(out.HighRiskCountries)
	out.HighRiskCountries = slices.Compact(out.HighRiskCountries)
	if out.HighRiskCountries == nil {
		out.HighRiskCountries = []string{}
	}
	return out
}

// Settings returns t's KYC settings (the defaults until an admin saves some).
func (s *Service) Settings(ctx context.Context, t tenants.Tenant) (Settings, error) {
	var st Settings
	found, err := s.gate.LoadSetting(ctx, t, settingsKey, &st)
	return settingsOrDefaults(st, found, err)
}

// settingsTx reads the settings inside tx.
func settingsTx(ctx context.Context, tx pgx.Tx) (Settings, error) {
	var st Settings
	found, err := tenants.LoadSetting(ctx, tx, settingsKey, &st)
	return settingsOrDefaults(st, found, err)
}

// settingsOrDefaults: saved settings replace the defaults whole (they are decoded into a zero value, so a checklist
// an admin removed does not come back from the defaults); never saved, the defaults.
func settingsOrDefaults(st Settings, found bool, err error) (Settings, error) {
	if err != nil {
		return Settings{}, err
	}
	if !found {
		return DefaultSettings(), nil
	}
	if st.Checklists == nil {
		st.Checklists = map[documents.Type][]ChecklistItem{}
	}
	return st, nil
}

// SaveSettings validates and stores t's KYC settings, audited as ActionSettings by actor, or as
// ActionSettingsWeakened with what was weakened (see weakenings). Invalid settings are a *validation.Error listing
// every field.
func (s *Service) SaveSettings(ctx context.Context, t tenants.Tenant, actor audit.Actor, st Settings) (Settings, error) {
	var f validation.Fields
	st.Validate(&f)
	if err := f.Err(); err != nil {
		return Settings{}, err
	}
	st = st.normalize()
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
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
		return s.audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettings, Target: target, Before: before, After: st})
	})
	if err != nil {
		return Settings{}, err
	}
	return st, nil
}

// ActionSettingsWeakened records a KYC settings change that weakens the review (see weakenings), with what it
// weakened under audit.WeakenedKey; other changes are ActionSettings.
const ActionSettingsWeakened = "kyc.settings_weakened"

// auditedSettings is the settings as the audit entry's After: with the weakenings, when there are any.
type auditedSettings struct {
	Settings
	Weakened []string `json:"weakened,omitempty"` // audit.WeakenedKey
}

// weakenings lists, in words, how after makes an approval easier than before did: four-eyes turned off, countries
// no longer high-risk, checklist items made optional or removed while required, required documents relaxed (a
// group of types no longer demanded as strictly).
func weakenings(before, after Settings) []string {
	var out []string
	if before.FourEyes && !after.FourEyes {
		out = append(out, "four-eyes approval turned off")
	}
	var gone []string
	for _, c := range before.HighRiskCountries {
		if !slices.Contains(after.HighRiskCountries, c) {
			gone = append(gone, c)
		}
	}
	if len(gone) > 0 {
		out = append(out, "countries no longer high-risk: "+strings.Join(gone, ", "))
	}
	for _, t := range DocumentTypes {
		for _, it := range before.Checklists[t] {
			if !it.Required {
				continue
			}
			i := slices.IndexFunc(after.Checklists[t], func(a ChecklistItem) bool { return a.Key == it.Key })
			switch {
			case i < 0:
				out = append(out, fmt.Sprintf("%s checklist: required item %q removed", t, it.Key))
			case !after.Checklists[t][i].Required:
				out = append(out, fmt.Sprintf("%s checklist: item %q made optional", t, it.Key))
			}
		}
	}
	for _, b := range before.RequiredDocuments {
		// As strict as before: some group of after accepts only types b accepted.
		strict := slices.ContainsFunc(after.RequiredDocuments, func(a []documents.Type) bool {
			return len(a) > 0 && !slices.ContainsFunc(a, func(t documents.Type) bool { return !slices.Contains(b, t) })
		})
		if !strict {
			names := make([]string, len(b))
			for i, t := range b {
				names[i] = string(t)
			}
			out = append(out, "required documents relaxed: one of "+strings.Join(names, ", ")+" is no longer required as before")
		}
	}
	return out
}

// LastSettingsWeakening is the newest weakening of the KYC settings (who, when, what), or nil.
func (s *Service) LastSettingsWeakening(ctx context.Context, t tenants.Tenant) (*audit.Weakening, error) {
	return s.audit.LastWeakening(ctx, t, ActionSettingsWeakened)
}

// Example is the KYC settings' body for the OpenAPI document: the defaults.
func (Settings) Example() any { return DefaultSettings() }
