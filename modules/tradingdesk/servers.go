package tradingdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Server is a configured trading server. Its credentials are never read back: HasCredentials only says they are set.
type Server struct {
	ID             uuid.UUID
	Slug           string
	Name           string
	Platform       trading.Platform
	Live           bool
	Config         Config
	HasCredentials bool
	Enabled        bool
	Check          Check
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// SwapFreeTwins maps each standard group of the account types on this server to its swap-free twin: filled for
	// the Dialer (MT5 makes an account swap-free by moving it to the twin).
	SwapFreeTwins map[string]string
}

// Status is what the last connection check found.
type Status string

const (
	StatusUnknown Status = "unknown" // never checked
	StatusOK      Status = "ok"
	StatusDown    Status = "down"
)

// Check is the last connection check's answer.
type Check struct {
	Status Status
	At     *time.Time // when it was checked; nil before the first check
	Since  *time.Time // since when the server has had Status
	Error  string     // why it is down ("" when ok)
	// Capabilities is what the connector said of the platform at the last successful check (nil before one).
	Capabilities *trading.Capabilities
}

// Config is how to reach a server, without its secrets. Which fields a platform takes is checkConfig's table; the
// Dialer maps them onto the platform's connector configuration.
type Config struct {
	// Address is the MT5 Web API access point (host:port) or the TradeLocker or DXtrade API's https URL; the
	// simulator has none.
	Address string `json:"address,omitempty"`
	// Login is the MT5 manager login (digits) or the DXtrade API user name.
	Login string `json:"login,omitempty"`
	// Domain is the DXtrade API user's domain.
	Domain string `json:"domain,omitempty"`
	// TimeZone is the MT5 trade server's time zone as an IANA name ("Europe/Nicosia"): MT5 reports deals in server
	// time, and the zone (not a fixed offset) is what covers daylight-saving changes.
	TimeZone string `json:"time_zone,omitempty"`
	// TimeZoneShift is added to TimeZone's offset at every instant, as a Go duration ("7h", "-30m"), for a server
	// whose clock keeps a zone's daylight-saving dates at another offset: the common "New York + 7" server is
	// TimeZone "America/New_York" with TimeZoneShift "7h". Empty: no shift.
	TimeZoneShift string `json:"time_zone_shift,omitempty"`
	// Groups is TradeLocker's group catalogue: leverage and swap-free are properties of its groups.
	Groups []TradeLockerGroup `json:"groups,omitempty"`
	// The DXtrade codes and categories: who owns new users, the clearing, the Financing categories for swaps and
	// swap-free, and the Margining category of each leverage ("100": "Margin 1:100").
	BrokerCode         string            `json:"broker_code,omitempty"`
	ClearingCode       string            `json:"clearing_code,omitempty"`
	FinancingStandard  string            `json:"financing_standard,omitempty"`
	FinancingSwapFree  string            `json:"financing_swap_free,omitempty"`
	LeverageCategories map[string]string `json:"leverage_categories,omitempty"`
}

// TradeLockerGroup is one group of a TradeLocker catalogue.
type TradeLockerGroup struct {
	ID          string `json:"id"`
	AccountType string `json:"account_type"`
	Leverage    int    `json:"leverage"`
	SwapFree    bool   `json:"swap_free"`
}

// Credentials are a server's manager secrets. They print, log and encode as "[redacted]": only sealing
// (sealCredentials) and the Dialer see them.
type Credentials struct {
	Password string // MT5 manager password, DXtrade API user's password
	APIKey   string // TradeLocker brand API key
}

func (Credentials) String() string               { return "[redacted]" }
func (Credentials) GoString() string             { return "[redacted]" }
func (Credentials) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (Credentials) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// IsZero reports whether no secret is set.
func (c Credentials) IsZero() bool { return c.Password == "" && c.APIKey == "" }

// sealedCredentials is the JSON that is sealed.
type sealedCredentials struct {
	Password string `json:"password,omitempty"`
	APIKey   string `json:"api_key,omitempty"`
}

// credentialsPurpose binds a sealed value to its row: a value copied into another server's row does not open there.
func credentialsPurpose(id uuid.UUID) string { return "trading_servers.credentials:" + id.String() }

func (s *Service) sealCredentials(id uuid.UUID, c Credentials) (string, error) {
	b, err := json.Marshal(sealedCredentials{Password: c.Password, APIKey: c.APIKey})
	if err != nil {
		return "", err
	}
	defer clear(b)
	return s.o.Sealer.Seal(credentialsPurpose(id), b)
}

func (s *Service) openCredentials(id uuid.UUID, sealed *string) (Credentials, error) {
	if sealed == nil {
		return Credentials{}, nil
	}
	b, err := s.o.Sealer.Open(credentialsPurpose(id), *sealed)
	if err != nil {
		return Credentials{}, fmt.Errorf("tradingdesk: open the credentials of server %s: %w", id, err)
	}
	defer clear(b)
	var sc sealedCredentials
	if err := json.Unmarshal(b, &sc); err != nil {
		return Credentials{}, fmt.Errorf("tradingdesk: the credentials of server %s are not JSON", id)
	}
	return Credentials{Password: sc.Password, APIKey: sc.APIKey}, nil
}

// ServerInput creates or changes a server. Platform and Live are fixed at creation (a change answers a field
// error): accounts and account types are opened against them. Credentials nil keeps the stored ones.
type ServerInput struct {
	Slug        string
	Name        string
	Platform    trading.Platform
	Live        bool
	Config      Config
	Credentials *Credentials
	Enabled     bool
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$`)

const slugRule = "3 to 40 lower-case letters, digits and -, not starting or ending with -"

// Platforms are the platforms a server may be, in the order forms list them.
var Platforms = []trading.Platform{trading.PlatformMT5, trading.PlatformTradeLocker, trading.PlatformDXtrade, trading.PlatformSimulator}

// PlatformLabel is a platform's name in the back office.
func PlatformLabel(p trading.Platform) string {
	switch p {
	case trading.PlatformMT5:
		return "MetaTrader 5"
	case trading.PlatformTradeLocker:
		return "TradeLocker"
	case trading.PlatformDXtrade:
		return "DXtrade"
	case trading.PlatformSimulator:
		return "Built-in simulator"
	}
	return string(p)
}

// checkServer records every problem of in (a change of an existing server when before is set).
func checkServer(in ServerInput, before *Server, storedCreds bool, f *validation.Fields) {
	f.Check(slugPattern.MatchString(in.Slug), "slug", slugRule)
	f.Required("name", in.Name)
	f.SingleLine("name", in.Name, 80)
	known := false
	for _, p := range Platforms {
		known = known || p == in.Platform
	}
	if !known {
		f.Add("platform", "one of mt5, tradelocker, dxtrade, simulator")
		return
	}
	if before != nil {
		f.Check(before.Platform == in.Platform, "platform", "a server's platform cannot change; add another server")
		f.Check(before.Live == in.Live, "live", "whether a server is live or demo cannot change; add another server")
	}
	checkConfig(in.Platform, in.Config, f)
	creds := Credentials{}
	if in.Credentials != nil {
		creds = *in.Credentials
	}
	given := in.Credentials != nil && !creds.IsZero()
	switch in.Platform {
	case trading.PlatformMT5, trading.PlatformDXtrade:
		f.Check(creds.APIKey == "", "credentials.api_key", "not used by "+PlatformLabel(in.Platform)+": the manager signs in with a password")
		f.Check(given && creds.Password != "" || !given && storedCreds, "credentials.password", "the manager's password is required")
	case trading.PlatformTradeLocker:
		f.Check(creds.Password == "", "credentials.password", "not used by TradeLocker: it takes a brand API key")
		f.Check(given && creds.APIKey != "" || !given && storedCreds, "credentials.api_key", "the brand API key is required")
	case trading.PlatformSimulator:
		f.Check(!given, "credentials", "the built-in simulator takes no credentials")
	}
	f.MaxLen("credentials.password", creds.Password, 256)
	f.MaxLen("credentials.api_key", creds.APIKey, 512)
}

// checkConfig records the problems of a platform's connection settings: each platform's fields are required, the
// others refused, so a setting that would be ignored is never stored.
func checkConfig(p trading.Platform, c Config, f *validation.Fields) {
	uses := map[string]bool{}
	need := func(field, v, rule string, ok bool) {
		uses[field] = true
		switch {
		case strings.TrimSpace(v) == "":
			f.Add("config."+field, "is required for "+PlatformLabel(p))
		case !ok:
			f.Add("config."+field, rule)
		default:
			f.SingleLine("config."+field, v, 200)
		}
	}
	switch p {
	case trading.PlatformMT5:
		need("address", c.Address, "the Web API access point as host:port, e.g. mt5.broker.example:443", hostPort(c.Address))
		_, err := strconv.ParseUint(c.Login, 10, 64)
		need("login", c.Login, "the manager's login: digits only", err == nil && c.Login != "0")
		need("time_zone", c.TimeZone, "an IANA time zone name such as Europe/Nicosia or UTC", validZone(c.TimeZone))
		uses["time_zone_shift"] = true
		if c.TimeZoneShift != "" {
			f.Check(validZoneShift(c.TimeZone, c.TimeZoneShift), "config.time_zone_shift",
				"a shift in whole minutes such as 7h or -30m that keeps the zone within 14 hours of UTC (New York + 7: America/New_York and 7h)")
		}
	case trading.PlatformTradeLocker:
		need("address", c.Address, "the Brand API's URL, e.g. https://api.tradelocker.com", httpURL(c.Address))
		uses["groups"] = true
		f.Check(len(c.Groups) > 0, "config.groups", "TradeLocker needs its group catalogue: leverage and swap-free come from groups")
		f.MaxItems("config.groups", len(c.Groups), 200)
		seen := map[string]bool{}
		for i, g := range c.Groups {
			at := fmt.Sprintf("config.groups[%d]", i)
			f.Check(strings.TrimSpace(g.ID) != "" && !seen[g.ID], at+".id", "each group needs an id of its own")
			f.Check(g.Leverage >= 1 && g.Leverage <= MaxLeverage, at+".leverage", fmt.Sprintf("from 1 to %d", MaxLeverage))
			f.SingleLine(at+".id", g.ID, 64)
			f.SingleLine(at+".account_type", g.AccountType, 64)
			seen[g.ID] = true
		}
	case trading.PlatformDXtrade:
		need("address", c.Address, "the server's URL, e.g. https://dxtrade.broker.example", httpURL(c.Address))
		need("login", c.Login, "", true)
		need("domain", c.Domain, "", true)
		need("broker_code", c.BrokerCode, "", true)
		need("clearing_code", c.ClearingCode, "", true)
		need("financing_standard", c.FinancingStandard, "", true)
		need("financing_swap_free", c.FinancingSwapFree, "must differ from financing_standard", c.FinancingSwapFree != c.FinancingStandard)
		uses["leverage_categories"] = true
		f.Check(len(c.LeverageCategories) > 0, "config.leverage_categories", "DXtrade needs the Margining category of each leverage it offers")
		f.MaxItems("config.leverage_categories", len(c.LeverageCategories), 100)
		for lev, cat := range c.LeverageCategories {
			n, err := strconv.Atoi(lev)
			f.Check(err == nil && n >= 1 && n <= MaxLeverage && strings.TrimSpace(cat) != "", "config.leverage_categories."+lev,
				"a leverage (1 to 5000) and the name of its Margining category")
		}
	}
	for field, set := range map[string]bool{"address": c.Address != "", "login": c.Login != "", "domain": c.Domain != "",
		"time_zone": c.TimeZone != "", "time_zone_shift": c.TimeZoneShift != "", "groups": len(c.Groups) > 0, "broker_code": c.BrokerCode != "", "clearing_code": c.ClearingCode != "",
		"financing_standard": c.FinancingStandard != "", "financing_swap_free": c.FinancingSwapFree != "",
		"leverage_categories": len(c.LeverageCategories) > 0} {
		if set && !uses[field] {
			f.Add("config."+field, "not used by "+PlatformLabel(p))
		}
	}
}

// MaxLeverage bounds every leverage the desk stores (1:N).
const MaxLeverage = 5000

func validZone(name string) bool {
	if name == "" || name == "Local" {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// maxZoneOffset is the farthest a server's clock may be from UTC (the MT5 connector's bound: no real zone is
// farther).
const maxZoneOffset = 14 * time.Hour

// ZoneShift parses a TimeZoneShift setting ("" is none).
func ZoneShift(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// validZoneShift reports whether shift, added to zone, is a clock a server may keep: whole minutes, and within
// 14 hours of UTC in winter and in summer, as the MT5 connector checks it when it is built (the desk validates it
// when it is stored, so a session never fails to dial on it).
func validZoneShift(zone, shift string) bool {
	d, err := ZoneShift(shift)
	if err != nil || d%time.Minute != 0 || !validZone(zone) {
		return false
	}
	loc, _ := time.LoadLocation(zone)
	year := time.Now().Year()
	for _, t := range []time.Time{time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(year, 7, 1, 0, 0, 0, 0, time.UTC)} {
		_, off := t.In(loc).Zone()
		if total := time.Duration(off)*time.Second + d; total < -maxZoneOffset || total > maxZoneOffset {
			return false
		}
	}
	return true
}

// hostPort reports whether s is host:port with a port number and a host that is a name or an address.
func hostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	return err == nil && perr == nil && n > 0 && n < 65536 && host != "" && !strings.ContainsAny(host, "/@?#")
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// CreateServer adds the server in.Slug (ErrExists if the slug is taken).
func (s *Service) CreateServer(ctx context.Context, t tenants.Tenant, actor audit.Actor, in ServerInput) (Server, error) {
	var out Server
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = s.saveServerTx(ctx, tx, actor, in, true)
		return err
	})
	return out, err
}

// UpdateServer changes the server in.Slug (ErrNotFound if there is none).
func (s *Service) UpdateServer(ctx context.Context, t tenants.Tenant, actor audit.Actor, in ServerInput) (Server, error) {
	var out Server
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = s.saveServerTx(ctx, tx, actor, in, false)
		return err
	})
	return out, err
}

// serverView is a server in the audit trail: never its credentials, only whether they were replaced.
type serverView struct {
	Name     string           `json:"name"`
	Platform trading.Platform `json:"platform"`
	Live     bool             `json:"live"`
	Config   Config           `json:"config"`
	Enabled  bool             `json:"enabled"`
	// The key says "manager login", not "credentials": the audit diff redacts values under keys that name secrets.
	CredentialsChanged bool `json:"manager_login_replaced"`
}

func (s *Service) saveServerTx(ctx context.Context, tx pgx.Tx, actor audit.Actor, in ServerInput, create bool) (Server, error) {
	in.Slug, in.Name = strings.TrimSpace(in.Slug), strings.TrimSpace(in.Name)
	before, sealed, err := serverTx(ctx, tx, `slug = $1 FOR UPDATE`, in.Slug)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, ErrNotFound):
		return Server{}, err
	case create && exists:
		return Server{}, ErrExists
	case !create && !exists:
		return Server{}, ErrNotFound
	}
	var f validation.Fields
	var prev *Server
	if exists {
		prev = &before
	}
	checkServer(in, prev, sealed != nil, &f)
	if err := f.Err(); err != nil {
		return Server{}, err
	}
	id := before.ID
	if !exists {
		id = uuid.New()
	}
	replaced := in.Credentials != nil && !in.Credentials.IsZero()
	if replaced {
		v, err := s.sealCredentials(id, *in.Credentials)
		if err != nil {
			return Server{}, err
		}
		sealed = &v
	}
	cfg, err := json.Marshal(in.Config)
	if err != nil {
		return Server{}, err
	}
	if exists {
		_, err = tx.Exec(ctx, `UPDATE trading_servers SET name = $2, config = $3, credentials = $4, enabled = $5, updated_at = now()
			WHERE id = $1`, id, in.Name, cfg, sealed, in.Enabled)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO trading_servers (id, slug, name, platform, live, config, credentials, enabled)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, in.Slug, in.Name, string(in.Platform), in.Live, cfg, sealed, in.Enabled)
	}
	if database.IsUniqueViolation(err) {
		return Server{}, ErrExists
	}
	if err != nil {
		return Server{}, fmt.Errorf("tradingdesk: save server %s: %w", in.Slug, err)
	}
	out, _, err := serverTx(ctx, tx, `id = $1`, id)
	if err != nil {
		return Server{}, err
	}
	var beforeView any
	if exists {
		beforeView = serverView{before.Name, before.Platform, before.Live, before.Config, before.Enabled, false}
	}
	return out, s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionServerSaved,
		Target: audit.Target{Type: serverTarget, ID: id.String()}, Before: beforeView,
		After: serverView{out.Name, out.Platform, out.Live, out.Config, out.Enabled, replaced}})
}

const serverColumns = `id, slug, name, platform, live, config, credentials, enabled, status, checked_at, status_since, check_error,
	capabilities, created_at, updated_at`

// serverTx reads one server and its sealed credentials (nil when none are set).
func serverTx(ctx context.Context, tx pgx.Tx, where string, args ...any) (Server, *string, error) {
	rows, err := tx.Query(ctx, `SELECT `+serverColumns+` FROM trading_servers WHERE `+where, args...)
	if err != nil {
		return Server{}, nil, fmt.Errorf("tradingdesk: read server: %w", err)
	}
	list, sealed, err := scanServers(rows)
	if err != nil {
		return Server{}, nil, err
	}
	if len(list) == 0 {
		return Server{}, nil, ErrNotFound
	}
	return list[0], sealed[0], nil
}

func scanServers(rows pgx.Rows) ([]Server, []*string, error) {
	var out []Server
	var sealed []*string
	for rows.Next() {
		var v Server
		var platform, status string
		var cfg, caps []byte
		var creds *string
		if err := rows.Scan(&v.ID, &v.Slug, &v.Name, &platform, &v.Live, &cfg, &creds, &v.Enabled, &status, &v.Check.At, &v.Check.Since,
			&v.Check.Error, &caps, &v.CreatedAt, &v.UpdatedAt); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("tradingdesk: read server: %w", err)
		}
		v.Platform, v.Check.Status, v.HasCredentials = trading.Platform(platform), Status(status), creds != nil
		if err := json.Unmarshal(cfg, &v.Config); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("tradingdesk: server %s config: %w", v.Slug, err)
		}
		if len(caps) > 2 {
			var c trading.Capabilities
			if err := json.Unmarshal(caps, &c); err == nil {
				v.Check.Capabilities = &c
			}
		}
		out = append(out, v)
		sealed = append(sealed, creds)
	}
	return out, sealed, rows.Err()
}

// Servers lists t's trading servers by name.
func (s *Service) Servers(ctx context.Context, t tenants.Tenant) ([]Server, error) {
	var out []Server
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+serverColumns+` FROM trading_servers ORDER BY name, slug`)
		if err != nil {
			return err
		}
		out, _, err = scanServers(rows)
		return err
	})
	return out, err
}

// Server reads one server by slug.
func (s *Service) Server(ctx context.Context, t tenants.Tenant, slug string) (Server, error) {
	var out Server
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, _, err = serverTx(ctx, tx, `slug = $1`, slug)
		return err
	})
	return out, err
}

// ResealCredentials seals every server's credentials of t under the first key of BD_DATA_KEYS, so that after a
// key rotation the old key can leave the ring (`brokerdesk data-keys reseal` runs it for every tenant).
func (s *Service) ResealCredentials(ctx context.Context, t tenants.Tenant) (database.ResealCounts, error) {
	var n database.ResealCounts
	ctx = tenants.WithTenant(ctx, t)
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		n, err = database.Reseal(ctx, tx, s.o.Sealer, database.SealedColumn{Table: "trading_servers", IDColumn: "id",
			Column: "credentials", Purpose: credentialsPurpose}, func(id uuid.UUID) {
			s.o.Log.WarnContext(ctx, "trading server credentials cannot be opened with BD_DATA_KEYS (enter them again)", "server", id)
		})
		return err
	})
	return n, err
}
