package partners

import (
	"context"
	"errors"
	"slices"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The tenant's partner settings (docs/partners.md, "Settings"): the symbol suffixes plans ignore, and how partners
// see the clients they referred. One row per tenant (partner_settings).

// ClientDisplay is the tenant's rule for how a partner sees a client they referred, in the IB portal, its API and
// its CSV. A brokerage picks what its IB agreements allow; the default shows the email masked.
type ClientDisplay string

const (
	DisplayMaskedEmail ClientDisplay = "masked_email" // "s***@example.com"
	DisplayMaskedName  ClientDisplay = "masked_name"  // "Sofia R."
	DisplayName        ClientDisplay = "name"         // "Sofia Romano"
	DisplayEmail       ClientDisplay = "email"        // "sofia@example.com"
	DisplayReference   ClientDisplay = "reference"    // "Client 9E0A3B7F": nothing personal
)

// ClientDisplays are the rules a tenant may choose, in the order the settings page offers them.
var ClientDisplays = []ClientDisplay{DisplayMaskedEmail, DisplayMaskedName, DisplayName, DisplayEmail, DisplayReference}

// Describe says what partners see under the rule, as the settings page and the audit trail put it.
func (d ClientDisplay) Describe() string {
	switch d {
	case DisplayMaskedEmail:
		return "the email masked (s***@example.com)"
	case DisplayMaskedName:
		return "the first name and the last name's initial (Sofia R.)"
	case DisplayName:
		return "the full name (Sofia Romano)"
	case DisplayEmail:
		return "the whole email address"
	case DisplayReference:
		return "a client reference only (Client 9E0A3B7F)"
	}
	return string(d)
}

func (d ClientDisplay) valid() bool {
	for _, x := range ClientDisplays {
		if d == x {
			return true
		}
	}
	return false
}

// Show is client id, whose contact is c, as a partner sees them under the rule. A client whose contact is missing
// (known false) or whose rule's part is empty shows as "***".
func (d ClientDisplay) Show(id uuid.UUID, c clients.Contact, known bool) string {
	if d == DisplayReference {
		return Reference(id)
	}
	if !known {
		return "***"
	}
	first, last := strings.TrimSpace(c.FirstName), strings.TrimSpace(c.LastName)
	var out string
	switch d {
	case DisplayMaskedName:
		out = first
		if r := []rune(last); len(r) > 0 {
			out = strings.TrimSpace(out + " " + string(unicode.ToUpper(r[0])) + ".")
		}
	case DisplayName:
		out = strings.TrimSpace(first + " " + last)
	case DisplayEmail:
		out = c.Email
	default:
		return MaskEmail(c.Email)
	}
	if out == "" {
		return "***"
	}
	return out
}

// Reference is the client's reference as a partner may see it: "Client " and the last eight hex digits of its id
// (the random part, whatever the id's version), the same on every page and in the CSV.
func Reference(id uuid.UUID) string {
	h := strings.ToUpper(strings.ReplaceAll(id.String(), "-", ""))
	return "Client " + h[len(h)-8:]
}

// MaskEmail is the masked_email rule: the first character of the local part, three stars, the domain
// ("a***@example.com"). An email without @ shows as "***".
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 1 {
		return "***"
	}
	first := []rune(email[:at])[0]
	return string(first) + "***" + email[at:]
}

// Settings are the tenant's partner settings.
type Settings struct {
	// SymbolSuffixes are what the tenant's platforms add to symbols that plans name without them ("m", "pro").
	SymbolSuffixes []string
	// ClientDisplay is how partners see the clients they referred.
	ClientDisplay ClientDisplay
}

// Settings reads the tenant's partner settings.
func (s *Service) Settings(ctx context.Context, t tenants.Tenant) (Settings, error) {
	var out Settings
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = settingsTx(ctx, tx)
		return err
	})
	return out, err
}

func settingsTx(ctx context.Context, tx pgx.Tx) (Settings, error) {
	out := Settings{SymbolSuffixes: []string{}, ClientDisplay: DisplayMaskedEmail}
	err := tx.QueryRow(ctx, `SELECT symbol_suffixes, referred_client_display FROM partner_settings`).Scan(&out.SymbolSuffixes, &out.ClientDisplay)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, nil
	}
	return out, err
}

func suffixesTx(ctx context.Context, tx pgx.Tx) ([]string, error) {
	st, err := settingsTx(ctx, tx)
	return st.SymbolSuffixes, err
}

// SaveSettings changes what change names: SymbolSuffixes when it is not nil (an empty list clears them; a '.' or '#'
// and what follows are always cut, so they are never suffixes), ClientDisplay when it is not empty. Each setting
// that changes is audited on its own; nothing changes when a field is refused.
func (s *Service) SaveSettings(ctx context.Context, t tenants.Tenant, actor audit.Actor, change Settings) error {
	var f validation.Fields
	var clean []string
	if change.SymbolSuffixes != nil {
		clean = []string{}
		for _, x := range change.SymbolSuffixes {
			x = strings.TrimSpace(x)
			if x == "" {
				continue
			}
			if len(x) > 16 || strings.ContainsAny(x, " .#") || validation.Name(x) != "" {
				f.Add("symbol_suffixes", "a suffix is 1 to 16 characters without spaces, '.' or '#'")
			}
			clean = append(clean, x)
		}
	}
	if change.ClientDisplay != "" && !change.ClientDisplay.valid() {
		f.Add("referred_client_display", "one of masked_email, masked_name, name, email, reference")
	}
	if err := f.Err(); err != nil {
		return err
	}
	return s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		was, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		now := was
		if clean != nil {
			now.SymbolSuffixes = clean
		}
		if change.ClientDisplay != "" {
			now.ClientDisplay = change.ClientDisplay
		}
		if _, err := tx.Exec(ctx, `INSERT INTO partner_settings (id, symbol_suffixes, referred_client_display) VALUES (true, $1, $2)
			ON CONFLICT (id) DO UPDATE SET symbol_suffixes = excluded.symbol_suffixes, referred_client_display = excluded.referred_client_display`,
			now.SymbolSuffixes, now.ClientDisplay); err != nil {
			return err
		}
		if !slices.Equal(was.SymbolSuffixes, now.SymbolSuffixes) {
			if err := s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsChanged, Target: audit.Target{Type: "partner_settings", ID: "symbol_suffixes"},
				Before: map[string]any{"symbol_suffixes": was.SymbolSuffixes}, After: map[string]any{"symbol_suffixes": now.SymbolSuffixes}}); err != nil {
				return err
			}
		}
		if was.ClientDisplay != now.ClientDisplay {
			return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionSettingsChanged, Target: audit.Target{Type: "partner_settings", ID: "referred_client_display"},
				Before: map[string]any{"referred_client_display": was.ClientDisplay}, After: map[string]any{"referred_client_display": now.ClientDisplay}})
		}
		return nil
	})
}
