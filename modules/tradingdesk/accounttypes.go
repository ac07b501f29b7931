package tradingdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// AccountType is one of the brokerage's offers: accounts of this type open on Server, in the group of their
// currency, with one of Leverages. It is live or demo as its server is.
type AccountType struct {
	ID         uuid.UUID
	Slug       string
	Name       string
	ServerID   uuid.UUID
	ServerSlug string
	ServerName string
	Live       bool
	// Groups maps each currency accounts may be opened in to its platform group and swap-free twin.
	Groups    map[string]GroupPair
	Leverages []int // ascending
	// MinFirstDeposit is the smallest first deposit per currency, in minor units (a currency not listed: none).
	MinFirstDeposit map[string]int64
	// Tiers and Countries say which clients may open it (empty: any tier, any country).
	Tiers     []string
	Countries []string
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// GroupPair is the platform group of one currency and its swap-free twin ("" when the type offers no swap-free
// variant in that currency).
type GroupPair struct {
	Group         string `json:"group"`
	SwapFreeGroup string `json:"swap_free_group,omitempty"`
}

// Currencies are the type's currencies, sorted.
func (a AccountType) Currencies() []string {
	out := make([]string, 0, len(a.Groups))
	for c := range a.Groups {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// AccountTypeInput creates or changes an account type. Server is the server's slug.
type AccountTypeInput struct {
	Slug            string
	Name            string
	Server          string
	Groups          map[string]GroupPair
	Leverages       []int
	MinFirstDeposit map[string]int64
	Tiers           []string
	Countries       []string
	Enabled         bool
}

// Bounds of an account type's lists.
const (
	MaxCurrencies = 16
	MaxLeverages  = 20
	maxListItems  = 250
)

// normalizeAccountType cleans what an admin typed (upper-case currencies and countries, sorted leverages and
// lists, no duplicates) and records every problem; tiers are the tenant's (clients' settings).
func normalizeAccountType(in *AccountTypeInput, tiers []clients.Tier, maxLeverage int, f *validation.Fields) {
	in.Slug, in.Name, in.Server = strings.TrimSpace(in.Slug), strings.TrimSpace(in.Name), strings.TrimSpace(in.Server)
	f.Check(slugPattern.MatchString(in.Slug), "slug", slugRule)
	f.Required("name", in.Name)
	f.SingleLine("name", in.Name, 80)
	f.Required("server", in.Server)

	f.Check(len(in.Groups) > 0, "groups", "at least one currency and its group")
	f.MaxItems("groups", len(in.Groups), MaxCurrencies)
	groups := map[string]GroupPair{}
	usedBy := map[string]string{}
	for _, code := range slices.Sorted(maps.Keys(in.Groups)) { // sorted: a group used twice is named at its second currency
		g := in.Groups[code]
		at := "groups." + code
		c, ok := money.Lookup(strings.ToUpper(strings.TrimSpace(code)))
		if !ok {
			f.Add(at, "not a currency BrokerDesk handles")
			continue
		}
		g.Group, g.SwapFreeGroup = strings.TrimSpace(g.Group), strings.TrimSpace(g.SwapFreeGroup)
		f.Check(g.Group != "", at+".group", "the platform group accounts in "+c.Code+" open in")
		f.SingleLine(at+".group", g.Group, 64)
		f.SingleLine(at+".swap_free_group", g.SwapFreeGroup, 64)
		f.Check(g.SwapFreeGroup == "" || g.SwapFreeGroup != g.Group, at+".swap_free_group", "the swap-free twin must be another group")
		for _, name := range []string{g.Group, g.SwapFreeGroup} {
			if other, dup := usedBy[name]; name != "" && dup && other != c.Code {
				f.Add(at, fmt.Sprintf("group %q is also %s's: a group has one currency", name, other))
			}
			usedBy[name] = c.Code
		}
		groups[c.Code] = g
	}
	in.Groups = groups

	f.Check(len(in.Leverages) > 0, "leverages", "at least one leverage")
	f.MaxItems("leverages", len(in.Leverages), MaxLeverages)
	for _, l := range in.Leverages {
		if l < 1 || l > maxLeverage {
			f.Add("leverages", fmt.Sprintf("1:%d is not a leverage from 1:1 to 1:%d", l, maxLeverage))
		}
	}
	in.Leverages = slices.Compact(slices.Sorted(slices.Values(in.Leverages)))

	mins := map[string]int64{}
	for code, v := range in.MinFirstDeposit {
		code = strings.ToUpper(strings.TrimSpace(code))
		at := "min_first_deposit." + code
		switch _, ok := in.Groups[code]; {
		case !ok:
			f.Add(at, "not one of the type's currencies")
		case v < 0:
			f.Add(at, "a minimum is not negative")
		default:
			mins[code] = v
		}
	}
	in.MinFirstDeposit = mins

	f.MaxItems("tiers", len(in.Tiers), maxListItems)
	var tierList []string
	for _, name := range in.Tiers {
		name = strings.TrimSpace(name)
		if !slices.ContainsFunc(tiers, func(t clients.Tier) bool { return t.Name == name }) {
			f.Add("tiers", fmt.Sprintf("%q is not one of the brokerage's tiers (onboarding settings)", name))
			continue
		}
		tierList = append(tierList, name)
	}
	in.Tiers = slices.Compact(slices.Sorted(slices.Values(tierList)))
	if in.Tiers == nil {
		in.Tiers = []string{}
	}

	f.MaxItems("countries", len(in.Countries), maxListItems)
	var countries []string
	for _, c := range in.Countries {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !clients.ValidCountry(c) {
			f.Add("countries", fmt.Sprintf("%q is not an ISO 3166 alpha-2 country code", c))
			continue
		}
		countries = append(countries, c)
	}
	in.Countries = slices.Compact(slices.Sorted(slices.Values(countries)))
	if in.Countries == nil {
		in.Countries = []string{}
	}
}

// CreateAccountType adds the account type in.Slug (ErrExists if the slug is taken).
func (s *Service) CreateAccountType(ctx context.Context, t tenants.Tenant, actor audit.Actor, in AccountTypeInput) (AccountType, error) {
	return s.saveAccountType(ctx, t, actor, in, true)
}

// UpdateAccountType changes the account type in.Slug (ErrNotFound if there is none).
func (s *Service) UpdateAccountType(ctx context.Context, t tenants.Tenant, actor audit.Actor, in AccountTypeInput) (AccountType, error) {
	return s.saveAccountType(ctx, t, actor, in, false)
}

func (s *Service) saveAccountType(ctx context.Context, t tenants.Tenant, actor audit.Actor, in AccountTypeInput, create bool) (AccountType, error) {
	st, err := s.o.Clients.Settings(ctx, t)
	if err != nil {
		return AccountType{}, err
	}
	var out AccountType
	err = s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = saveAccountTypeTx(ctx, tx, s.o.Audit, actor, in, st.Tiers, create)
		return err
	})
	return out, err
}

// viewOf is an account type in the audit trail: as the API takes it.
func viewOf(a AccountType) AccountTypeBody {
	return AccountTypeBody{a.Name, a.ServerSlug, a.Groups, a.Leverages, FormatMinimums(a.MinFirstDeposit), a.Tiers, a.Countries, a.Enabled}
}

// FormatMinimums writes minimums as decimal strings of their currency ("100.00").
func FormatMinimums(m map[string]int64) map[string]string {
	out := map[string]string{}
	for code, v := range m {
		if c, ok := money.Lookup(code); ok {
			out[code] = money.Format(v, c)
		}
	}
	return out
}

func saveAccountTypeTx(ctx context.Context, tx pgx.Tx, trail *audit.Service, actor audit.Actor, in AccountTypeInput, tiers []clients.Tier, create bool) (AccountType, error) {
	before, err := accountTypeTx(ctx, tx, `a.slug = $1 FOR UPDATE OF a`, strings.TrimSpace(in.Slug))
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, ErrNotFound):
		return AccountType{}, err
	case create && exists:
		return AccountType{}, ErrExists
	case !create && !exists:
		return AccountType{}, ErrNotFound
	}
	var f validation.Fields
	server, _, serr := serverTx(ctx, tx, `slug = $1`, strings.TrimSpace(in.Server))
	if serr != nil && !errors.Is(serr, ErrNotFound) {
		return AccountType{}, serr
	}
	maxLev := MaxLeverage
	if serr == nil && server.Check.Capabilities != nil && server.Check.Capabilities.MaxLeverage > 0 {
		maxLev = server.Check.Capabilities.MaxLeverage // what the platform said it accepts
	}
	normalizeAccountType(&in, tiers, maxLev, &f)
	if errors.Is(serr, ErrNotFound) && in.Server != "" {
		f.Add("server", "no trading server has this slug")
	}
	if exists && serr == nil && before.ServerID != server.ID {
		f.Add("server", "an account type stays on its server; add another type for another server")
	}
	if serr == nil {
		others, err := swapFreeTwinsTx(ctx, tx, server.ID, before.ID)
		if err != nil {
			return AccountType{}, err
		}
		checkTwins(in.Groups, others, &f)
	}
	if err := f.Err(); err != nil {
		return AccountType{}, err
	}
	id := before.ID
	if !exists {
		id = uuid.New()
	}
	groups, _ := json.Marshal(in.Groups)
	mins, _ := json.Marshal(in.MinFirstDeposit)
	if exists {
		_, err = tx.Exec(ctx, `UPDATE account_types SET name = $2, groups = $3, leverages = $4, min_first_deposit = $5, tiers = $6,
			countries = $7, enabled = $8, updated_at = now() WHERE id = $1`, id, in.Name, groups, in.Leverages, mins, in.Tiers, in.Countries, in.Enabled)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO account_types (id, slug, name, server_id, groups, leverages, min_first_deposit, tiers, countries, enabled)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, id, in.Slug, in.Name, server.ID, groups, in.Leverages, mins, in.Tiers, in.Countries, in.Enabled)
	}
	if database.IsUniqueViolation(err) {
		return AccountType{}, ErrExists
	}
	if err != nil {
		return AccountType{}, fmt.Errorf("tradingdesk: save account type %s: %w", in.Slug, err)
	}
	out, err := accountTypeTx(ctx, tx, `a.id = $1`, id)
	if err != nil {
		return AccountType{}, err
	}
	var beforeView any
	if exists {
		beforeView = viewOf(before)
	}
	return out, trail.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionAccountTypeSaved,
		Target: audit.Target{Type: accountTypeTarget, ID: id.String()}, Before: beforeView, After: viewOf(out)})
}

const accountTypeSelect = `SELECT a.id, a.slug, a.name, a.server_id, s.slug, s.name, s.live, a.groups, a.leverages, a.min_first_deposit,
	a.tiers, a.countries, a.enabled, a.created_at, a.updated_at FROM account_types a JOIN trading_servers s ON s.id = a.server_id`

func scanAccountTypes(rows pgx.Rows) ([]AccountType, error) {
	var out []AccountType
	for rows.Next() {
		var a AccountType
		var groups, mins []byte
		if err := rows.Scan(&a.ID, &a.Slug, &a.Name, &a.ServerID, &a.ServerSlug, &a.ServerName, &a.Live, &groups, &a.Leverages, &mins,
			&a.Tiers, &a.Countries, &a.Enabled, &a.CreatedAt, &a.UpdatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("tradingdesk: read account type: %w", err)
		}
		if err := json.Unmarshal(groups, &a.Groups); err != nil {
			rows.Close()
			return nil, fmt.Errorf("tradingdesk: account type %s groups: %w", a.Slug, err)
		}
		if err := json.Unmarshal(mins, &a.MinFirstDeposit); err != nil {
			rows.Close()
			return nil, fmt.Errorf("tradingdesk: account type %s minimums: %w", a.Slug, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func accountTypeTx(ctx context.Context, tx pgx.Tx, where string, args ...any) (AccountType, error) {
	rows, err := tx.Query(ctx, accountTypeSelect+` WHERE `+where, args...)
	if err != nil {
		return AccountType{}, fmt.Errorf("tradingdesk: read account type: %w", err)
	}
	list, err := scanAccountTypes(rows)
	if err != nil {
		return AccountType{}, err
	}
	if len(list) == 0 {
		return AccountType{}, ErrNotFound
	}
	return list[0], nil
}

// AccountTypes lists t's account types by name.
func (s *Service) AccountTypes(ctx context.Context, t tenants.Tenant) ([]AccountType, error) {
	var out []AccountType
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, accountTypeSelect+` ORDER BY a.name, a.slug`)
		if err != nil {
			return err
		}
		out, err = scanAccountTypes(rows)
		return err
	})
	return out, err
}

// AccountType reads one account type by slug.
func (s *Service) AccountType(ctx context.Context, t tenants.Tenant, slug string) (AccountType, error) {
	var out AccountType
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = accountTypeTx(ctx, tx, `a.slug = $1`, slug)
		return err
	})
	return out, err
}

// checkTwins records the twins of groups that disagree with the other account types on the server (others, standard
// group -> twin): on platforms that make an account swap-free by group (MT5) a group has one twin, and a twin is no
// standard group of its own, or the platform could not tell which way to move an account.
func checkTwins(groups map[string]GroupPair, others map[string]string, f *validation.Fields) {
	twinOf := map[string]string{} // twin -> its standard group
	for std, sf := range others {
		twinOf[sf] = std
	}
	for _, code := range slices.Sorted(maps.Keys(groups)) {
		g, at := groups[code], "groups."+code
		if g.SwapFreeGroup == "" {
			continue // opened straight in a group (a swap-free one, say), with no variant to move to
		}
		if sf, ok := others[g.Group]; ok && sf != g.SwapFreeGroup {
			f.Add(at+".swap_free_group", fmt.Sprintf("another account type on this server gives %q the twin %q: a group has one twin", g.Group, sf))
		}
		if std, ok := twinOf[g.Group]; ok {
			f.Add(at+".group", fmt.Sprintf("%q is the swap-free twin of %q in another account type: a twin has no twin of its own", g.Group, std))
		}
		if _, ok := others[g.SwapFreeGroup]; ok {
			f.Add(at+".swap_free_group", fmt.Sprintf("%q has a twin of its own in another account type: it cannot be a twin", g.SwapFreeGroup))
		}
	}
}

// swapFreeTwinsTx maps each standard group of the account types on a server (but except) to its swap-free twin:
// what a platform that makes accounts swap-free by group (MT5) needs to know.
func swapFreeTwinsTx(ctx context.Context, tx pgx.Tx, serverID, except uuid.UUID) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT g.value->>'group', g.value->>'swap_free_group' FROM account_types a, jsonb_each(a.groups) g
		WHERE a.server_id = $1 AND a.id <> $2 AND coalesce(g.value->>'swap_free_group', '') <> '' ORDER BY 1`, serverID, except)
	if err != nil {
		return nil, fmt.Errorf("tradingdesk: swap-free twins: %w", err)
	}
	out := map[string]string{}
	var std, sf string
	_, err = pgx.ForEachRow(rows, []any{&std, &sf}, func() error { out[std] = sf; return nil })
	return out, err
}
