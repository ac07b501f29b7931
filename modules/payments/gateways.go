package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// KindManual is the gateway of deposits finance records by hand (a bank wire received): no adapter, no callback.
const KindManual = "manual"

// Gateway is a configured gateway. Its secrets are never read back: HasSecrets only says they are set.
type Gateway struct {
	ID         uuid.UUID
	Slug       string
	Name       string
	Kind       string
	Config     json.RawMessage
	HasSecrets bool
	Currencies []string
	// Limits bound one deposit, per currency, in minor units.
	Limits    map[string]Limit
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Limit bounds one deposit in a currency, in minor units (0: no bound).
type Limit struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// Takes reports whether the gateway takes deposits in currency code.
func (g Gateway) Takes(code string) bool { return g.Enabled && slices.Contains(g.Currencies, code) }

// GatewayInput creates or changes a gateway (by slug). Secrets are JSON; empty keeps the stored ones.
type GatewayInput struct {
	Slug       string
	Name       string
	Kind       string
	Config     json.RawMessage
	Secrets    json.RawMessage
	Currencies []string
	Limits     map[string]Limit
	Enabled    bool
}

var gatewaySlug = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$`)

const sealPurpose = "payments/gateway-secrets"

// MaxCurrencies bounds a gateway's currency list.
const MaxCurrencies = 32

// ErrGatewayExists: CreateGateway of a slug the tenant already uses.
var ErrGatewayExists = errors.New("payments: a gateway with this slug exists")

// CreateGateway creates the gateway in.Slug (ErrGatewayExists if there is one).
func (s *Service) CreateGateway(ctx context.Context, t tenants.Tenant, actor audit.Actor, in GatewayInput) (Gateway, error) {
	return s.saveGateway(ctx, t, actor, in, saveCreate)
}

// UpdateGateway changes the gateway in.Slug (ErrNotFound if there is none).
func (s *Service) UpdateGateway(ctx context.Context, t tenants.Tenant, actor audit.Actor, in GatewayInput) (Gateway, error) {
	return s.saveGateway(ctx, t, actor, in, saveUpdate)
}

// SaveGateway creates the gateway in.Slug or changes it.
func (s *Service) SaveGateway(ctx context.Context, t tenants.Tenant, actor audit.Actor, in GatewayInput) (Gateway, error) {
	return s.saveGateway(ctx, t, actor, in, saveEither)
}

type saveMode int

const (
	saveEither saveMode = iota
	saveCreate
	saveUpdate
)

// saveGateway creates or changes a gateway, audited (without its secrets). The configuration and secrets are
// checked by the gateway kind's own rules.
func (s *Service) saveGateway(ctx context.Context, t tenants.Tenant, actor audit.Actor, in GatewayInput, mode saveMode) (Gateway, error) {
	if mode == saveUpdate { // the object first: a change to a gateway that is not the tenant's is not found, whatever it says
		if _, err := s.Gateway(ctx, t, in.Slug); err != nil {
			return Gateway{}, err
		}
	}
	var f validation.Fields
	f.Check(gatewaySlug.MatchString(in.Slug), "slug", "3 to 40 lower-case letters, digits and -, not starting or ending with -")
	f.Required("name", in.Name)
	f.MaxLen("name", in.Name, 80)
	kind, known := s.kinds[in.Kind]
	f.Check(known || in.Kind == KindManual, "kind", "one of "+s.kindList())
	f.Check(len(in.Currencies) > 0 && len(in.Currencies) <= MaxCurrencies, "currencies", fmt.Sprintf("1 to %d currencies", MaxCurrencies))
	for _, c := range in.Currencies {
		if _, ok := money.Lookup(c); !ok {
			f.Add("currencies", fmt.Sprintf("%q is not a currency BrokerDesk handles", c))
		}
	}
	for c, l := range in.Limits {
		switch {
		case !slices.Contains(in.Currencies, c):
			f.Add("limits", fmt.Sprintf("%s: not one of the gateway's currencies", c))
		case l.Min < 0 || l.Max < 0 || (l.Max > 0 && l.Min > l.Max):
			f.Add("limits", fmt.Sprintf("%s: minimum and maximum are positive amounts, the minimum not above the maximum", c))
		}
	}
	if len(in.Config) == 0 {
		in.Config = json.RawMessage(`{}`)
	}
	if !json.Valid(in.Config) {
		f.Add("config", "must be a JSON object")
	}
	if in.Limits == nil {
		in.Limits = map[string]Limit{}
	}
	if f.Len() > 0 {
		return Gateway{}, f.Err()
	}
	var out Gateway
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		before, sealed, err := s.gatewayTx(ctx, tx, `slug = $1 FOR UPDATE`, in.Slug, true)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		switch {
		case mode == saveCreate && exists:
			return ErrGatewayExists
		case mode == saveUpdate && !exists:
			return ErrNotFound
		}
		secrets := []byte(in.Secrets)
		if len(secrets) == 0 && exists && sealed != "" {
			if secrets, err = s.o.Sealer.Open(sealPurpose, sealed); err != nil {
				return fmt.Errorf("payments: open the secrets of %s: %w", in.Slug, err)
			}
		}
		if len(secrets) == 0 {
			secrets = []byte(`{}`)
		}
		if known {
			if err := kind.Validate(in.Config, secrets); err != nil {
				return err
			}
		}
		if exists && before.Kind != in.Kind {
			return validation.New("kind", "a gateway's kind cannot change; create another gateway")
		}
		newSealed := sealed
		if len(in.Secrets) > 0 {
			if newSealed, err = s.o.Sealer.Seal(sealPurpose, in.Secrets); err != nil {
				return err
			}
		}
		limits, _ := json.Marshal(in.Limits)
		id := before.ID
		if !exists {
			id = uuid.New()
		}
		_, err = tx.Exec(ctx, `INSERT INTO payment_gateways (id, slug, name, kind, config, secrets, currencies, limits, enabled)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, config = EXCLUDED.config, secrets = EXCLUDED.secrets,
			currencies = EXCLUDED.currencies, limits = EXCLUDED.limits, enabled = EXCLUDED.enabled, updated_at = now()`,
			id, in.Slug, in.Name, in.Kind, []byte(in.Config), newSealed, in.Currencies, limits, in.Enabled)
		if database.IsUniqueViolation(err) {
			return validation.New("slug", "another gateway uses this slug")
		}
		if err != nil {
			return fmt.Errorf("payments: save gateway %s: %w", in.Slug, err)
		}
		if out, _, err = s.gatewayTx(ctx, tx, `id = $1`, id, false); err != nil {
			return err
		}
		type view struct {
			Name           string           `json:"name"`
			Kind           string           `json:"kind"`
			Config         json.RawMessage  `json:"config"`
			Currencies     []string         `json:"currencies"`
			Limits         map[string]Limit `json:"limits"`
			Enabled        bool             `json:"enabled"`
			SecretsChanged bool             `json:"keys_rotated"`
		}
		var beforeView any
		if exists {
			beforeView = view{before.Name, before.Kind, before.Config, before.Currencies, before.Limits, before.Enabled, false}
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionGatewaySaved,
			Target: audit.Target{Type: "payment_gateway", ID: id.String()}, Before: beforeView,
			After: view{out.Name, out.Kind, out.Config, out.Currencies, out.Limits, out.Enabled, len(in.Secrets) > 0}})
	})
	return out, err
}

func (s *Service) kindList() string {
	names := []string{KindManual}
	for n := range s.kinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return fmt.Sprint(names)
}

const gatewayColumns = `id, slug, name, kind, config, secrets <> '', currencies, limits, enabled, created_at, updated_at`

// gatewayTx reads one gateway (and, with withSecrets, its sealed secrets).
func (s *Service) gatewayTx(ctx context.Context, tx pgx.Tx, where string, arg any, withSecrets bool) (Gateway, string, error) {
	q, dest, done := gatewayQuery(where, withSecrets)
	return done(tx.QueryRow(ctx, q, arg).Scan(dest...))
}

// readGateway reads a gateway by slug with its sealed secrets, in one round trip and no transaction of its own
// (tenants.Gate.ReadRow): what every callback reads first.
func (s *Service) readGateway(ctx context.Context, t tenants.Tenant, slug string) (Gateway, string, error) {
	q, dest, done := gatewayQuery(`slug = $1`, true)
	return done(s.o.Gate.ReadRow(ctx, t, q, []any{slug}, dest...))
}

// gatewayQuery is the query of one gateway, where its row scans to, and done, which turns the scan's error into
// the gateway (ErrNotFound for no row).
func gatewayQuery(where string, withSecrets bool) (q string, dest []any, done func(error) (Gateway, string, error)) {
	var g Gateway
	var limits []byte
	var sealed string
	cols := gatewayColumns
	dest = []any{&g.ID, &g.Slug, &g.Name, &g.Kind, &g.Config, &g.HasSecrets, &g.Currencies, &limits, &g.Enabled, &g.CreatedAt, &g.UpdatedAt}
	if withSecrets {
		cols += `, secrets`
		dest = append(dest, &sealed)
	}
	return `SELECT ` + cols + ` FROM payment_gateways WHERE ` + where, dest, func(err error) (Gateway, string, error) {
		if errors.Is(err, pgx.ErrNoRows) {
			return g, "", ErrNotFound
		}
		if err != nil {
			return g, "", fmt.Errorf("payments: read gateway: %w", err)
		}
		if err := json.Unmarshal(limits, &g.Limits); err != nil {
			return g, "", fmt.Errorf("payments: gateway %s limits: %w", g.Slug, err)
		}
		return g, sealed, nil
	}
}

// Gateways lists t's gateways by name.
func (s *Service) Gateways(ctx context.Context, t tenants.Tenant) ([]Gateway, error) {
	var out []Gateway
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM payment_gateways ORDER BY name, slug`)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		for _, id := range ids {
			g, _, err := s.gatewayTx(ctx, tx, `id = $1`, id, false)
			if err != nil {
				return err
			}
			out = append(out, g)
		}
		return nil
	})
	return out, err
}

// Gateway reads one gateway by slug.
func (s *Service) Gateway(ctx context.Context, t tenants.Tenant, slug string) (Gateway, error) {
	var g Gateway
	err := s.o.Gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		g, _, err = s.gatewayTx(ctx, tx, `slug = $1`, slug, false)
		return err
	})
	return g, err
}

// adapterKey names a gateway's adapter as configured at one moment: a saved change builds a new one.
type adapterKey struct {
	tenant, gateway uuid.UUID
	updated         time.Time
}

// adapterCache keeps built adapters (secrets opened once, not per callback). Bounded: it is dropped whole when full.
type adapterCache struct {
	mu sync.Mutex
	m  map[adapterKey]Adapter
}

// adapterTx returns the adapter of gateway g (read with its sealed secrets) of tenant t.
func (s *Service) adapterFor(t tenants.Tenant, g Gateway, sealed string) (Adapter, error) {
	kind, ok := s.kinds[g.Kind]
	if !ok {
		return nil, fmt.Errorf("payments: gateway %s is of kind %q, which this deployment does not speak", g.Slug, g.Kind)
	}
	key := adapterKey{t.ID, g.ID, g.UpdatedAt}
	s.adapters.mu.Lock()
	a, ok := s.adapters.m[key]
	s.adapters.mu.Unlock()
	if ok {
		return a, nil
	}
	secrets := []byte(`{}`)
	if sealed != "" {
		var err error
		if secrets, err = s.o.Sealer.Open(sealPurpose, sealed); err != nil {
			return nil, fmt.Errorf("payments: open the secrets of %s: %w", g.Slug, err)
		}
	}
	a, err := kind.New(g.Config, secrets, s.o.HTTP)
	clear(secrets)
	if err != nil {
		return nil, fmt.Errorf("payments: gateway %s: %w", g.Slug, err)
	}
	s.adapters.mu.Lock()
	if len(s.adapters.m) >= 1000 {
		s.adapters.m = map[adapterKey]Adapter{}
	}
	s.adapters.m[key] = a
	s.adapters.mu.Unlock()
	return a, nil
}

// ResealSecrets seals every gateway's secrets of t under the first key of BD_DATA_KEYS, so that after a key
// rotation the old key can leave the ring (`brokerdesk data-keys reseal` runs it for every tenant). A gateway
// whose secrets no key opens is logged by slug; an admin enters them again on its settings page.
func (s *Service) ResealSecrets(ctx context.Context, t tenants.Tenant) (database.ResealCounts, error) {
	var n database.ResealCounts
	ctx = tenants.WithTenant(ctx, t)
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		n, err = database.Reseal(ctx, tx, s.o.Sealer, database.SealedColumn{Table: "payment_gateways", IDColumn: "id",
			Column: "secrets", Purpose: func(uuid.UUID) string { return sealPurpose }}, func(id uuid.UUID) {
			s.o.Log.WarnContext(ctx, "payment gateway secrets cannot be opened with BD_DATA_KEYS (enter them again)", "gateway", id)
		})
		return err
	})
	return n, err
}
