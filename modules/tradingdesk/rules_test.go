package tradingdesk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// fieldsOf are the fields an error names, sorted ("" for none).
func fieldsOf(err error) []string {
	v, ok := validation.As(err)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range v.Fields {
		out = append(out, f.Field)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestServerRulesNameEveryBadField(t *testing.T) {
	t.Parallel()
	mt5 := Config{Address: "mt5.broker.example:443", Login: "1001", TimeZone: "Europe/Nicosia"}
	pw := &Credentials{Password: "secret"}
	cases := []struct {
		name   string
		in     ServerInput
		stored bool
		before *Server
		want   []string
	}{
		{"a good MT5 server", ServerInput{Slug: "mt5-live", Name: "MT5 Live", Platform: trading.PlatformMT5, Config: mt5, Credentials: pw}, false, nil, nil},
		{"a good simulator", ServerInput{Slug: "sim", Name: "Sim", Platform: trading.PlatformSimulator}, false, nil, nil},
		{"bad slug and no name", ServerInput{Slug: "-X", Platform: trading.PlatformSimulator}, false, nil, []string{"name", "slug"}},
		{"unknown platform", ServerInput{Slug: "abc", Name: "A", Platform: "mt4"}, false, nil, []string{"platform"}},
		{"MT5 without anything", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformMT5}, false, nil,
			[]string{"config.address", "config.login", "config.time_zone", "credentials.password"}},
		{"MT5 with a URL, a name as login and a made-up zone", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformMT5,
			Config: Config{Address: "https://mt5.example", Login: "manager", TimeZone: "Europe/Atlantis"}, Credentials: pw}, false, nil,
			[]string{"config.address", "config.login", "config.time_zone"}},
		{"a New York + 7 MT5 server", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformMT5,
			Config: Config{Address: mt5.Address, Login: "1", TimeZone: "America/New_York", TimeZoneShift: "7h"}, Credentials: pw}, false, nil, nil},
		{"MT5 shifts that no clock keeps", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformMT5,
			Config: Config{Address: mt5.Address, Login: "1", TimeZone: "Asia/Tokyo", TimeZoneShift: "6h"}, Credentials: pw}, false, nil,
			[]string{"config.time_zone_shift"}},
		{"MT5 shift of seconds", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformMT5,
			Config: Config{Address: mt5.Address, Login: "1", TimeZone: "UTC", TimeZoneShift: "7h30s"}, Credentials: pw}, false, nil,
			[]string{"config.time_zone_shift"}},
		{"MT5 shift that is not a duration", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformMT5,
			Config: Config{Address: mt5.Address, Login: "1", TimeZone: "UTC", TimeZoneShift: "+7"}, Credentials: pw}, false, nil,
			[]string{"config.time_zone_shift"}},
		{"MT5 keeps stored credentials", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformMT5, Config: mt5}, true, nil, nil},
		{"MT5 takes no API key nor groups", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformMT5,
			Config:      Config{Address: mt5.Address, Login: "1", TimeZone: "UTC", Groups: []TradeLockerGroup{{ID: "1", Leverage: 100}}},
			Credentials: &Credentials{Password: "x", APIKey: "k"}}, false, nil, []string{"config.groups", "credentials.api_key"}},
		{"TradeLocker needs its catalogue and key", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformTradeLocker,
			Config: Config{Address: "https://api.tradelocker.com"}}, false, nil, []string{"config.groups", "credentials.api_key"}},
		{"TradeLocker groups with a duplicate and a bad leverage", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformTradeLocker,
			Config:      Config{Address: "https://api.tradelocker.com", Groups: []TradeLockerGroup{{ID: "1", Leverage: 100}, {ID: "1", Leverage: 0}}},
			Credentials: &Credentials{APIKey: "k"}}, false, nil, []string{"config.groups[1].id", "config.groups[1].leverage"}},
		{"DXtrade same financing twice", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformDXtrade,
			Config: Config{Address: "https://dx.example", Login: "api", Domain: "default", BrokerCode: "B", ClearingCode: "C",
				FinancingStandard: "Std", FinancingSwapFree: "Std", LeverageCategories: map[string]string{"100": "M100", "x": "bad"}},
			Credentials: pw}, false, nil, []string{"config.financing_swap_free", "config.leverage_categories.x"}},
		{"the simulator takes no address nor credentials", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformSimulator,
			Config: Config{Address: "x:1"}, Credentials: pw}, false, nil, []string{"config.address", "credentials"}},
		{"platform and live or demo are fixed", ServerInput{Slug: "abc", Name: "A", Platform: trading.PlatformSimulator, Live: true}, false,
			&Server{Platform: trading.PlatformMT5, Live: false}, []string{"live", "platform"}},
	}
	for _, c := range cases {
		var f validation.Fields
		checkServer(c.in, c.before, c.stored, &f)
		if got := fieldsOf(f.Err()); !slices.Equal(got, c.want) {
			t.Errorf("%s: fields %v, want %v (%v)", c.name, got, c.want, f.Err())
		}
	}
}

func TestAccountTypeRulesForGroupsLeveragesAndMinimums(t *testing.T) {
	t.Parallel()
	tiers := []clients.Tier{{Name: "standard"}, {Name: "pro"}}
	good := func() AccountTypeInput {
		return AccountTypeInput{Slug: "standard", Name: "Standard", Server: "sim", Leverages: []int{100, 50},
			Groups:          map[string]GroupPair{"USD": {"standard-usd", "standard-usd-swapfree"}, "EUR": {"standard-eur", "standard-eur-swapfree"}},
			MinFirstDeposit: map[string]int64{"USD": 10000}, Tiers: []string{"pro"}, Countries: []string{"de"}}
	}
	with := func(f func(*AccountTypeInput)) AccountTypeInput { in := good(); f(&in); return in }
	cases := []struct {
		name string
		in   AccountTypeInput
		max  int
		want []string
	}{
		{"good", good(), MaxLeverage, nil},
		{"no groups", with(func(in *AccountTypeInput) { in.Groups = nil; in.MinFirstDeposit = nil }), MaxLeverage, []string{"groups"}},
		{"an unknown currency", with(func(in *AccountTypeInput) { in.Groups["XXX"] = GroupPair{Group: "g"} }), MaxLeverage, []string{"groups.XXX"}},
		{"a currency without its group", with(func(in *AccountTypeInput) { in.Groups["EUR"] = GroupPair{} }), MaxLeverage, []string{"groups.EUR.group"}},
		{"a twin that is the group itself", with(func(in *AccountTypeInput) { in.Groups["USD"] = GroupPair{"g", "g"} }), MaxLeverage,
			[]string{"groups.USD.swap_free_group"}},
		{"one group for two currencies", with(func(in *AccountTypeInput) { in.Groups["EUR"] = GroupPair{Group: "standard-usd"} }), MaxLeverage,
			[]string{"groups.USD"}},
		{"no leverage", with(func(in *AccountTypeInput) { in.Leverages = nil }), MaxLeverage, []string{"leverages"}},
		{"leverage zero", with(func(in *AccountTypeInput) { in.Leverages = []int{0, 100} }), MaxLeverage, []string{"leverages"}},
		{"leverage above the platform's", with(func(in *AccountTypeInput) { in.Leverages = []int{1000} }), 500, []string{"leverages"}},
		{"too many leverages", with(func(in *AccountTypeInput) {
			in.Leverages = nil
			for i := range 21 {
				in.Leverages = append(in.Leverages, i+1)
			}
		}), MaxLeverage, []string{"leverages"}},
		{"a minimum in a currency the type lacks", with(func(in *AccountTypeInput) { in.MinFirstDeposit["GBP"] = 100 }), MaxLeverage,
			[]string{"min_first_deposit.GBP"}},
		{"a negative minimum", with(func(in *AccountTypeInput) { in.MinFirstDeposit["USD"] = -1 }), MaxLeverage, []string{"min_first_deposit.USD"}},
		{"an unknown tier and country", with(func(in *AccountTypeInput) { in.Tiers = []string{"gold"}; in.Countries = []string{"XX"} }),
			MaxLeverage, []string{"countries", "tiers"}},
	}
	for _, c := range cases {
		in := c.in
		var f validation.Fields
		normalizeAccountType(&in, tiers, c.max, &f)
		if got := fieldsOf(f.Err()); !slices.Equal(got, c.want) {
			t.Errorf("%s: fields %v, want %v (%v)", c.name, got, c.want, f.Err())
		}
	}
	in := good()
	var f validation.Fields
	normalizeAccountType(&in, tiers, MaxLeverage, &f)
	if !slices.Equal(in.Leverages, []int{50, 100}) || !slices.Equal(in.Countries, []string{"DE"}) {
		t.Errorf("normalised: %+v", in)
	}
}

func TestTwinsAgreeAcrossTheServersAccountTypes(t *testing.T) {
	t.Parallel()
	others := map[string]string{"standard-usd": "standard-usd-swapfree"} // another type on the server
	cases := []struct {
		name   string
		groups map[string]GroupPair
		want   []string
	}{
		{"the same twin", map[string]GroupPair{"USD": {"standard-usd", "standard-usd-swapfree"}}, nil},
		{"opened straight in the twin, no variant", map[string]GroupPair{"USD": {Group: "standard-usd-swapfree"}}, nil},
		{"another twin for the same group", map[string]GroupPair{"USD": {"standard-usd", "islamic-usd"}}, []string{"groups.USD.swap_free_group"}},
		{"the twin given a twin back", map[string]GroupPair{"USD": {"standard-usd-swapfree", "standard-usd"}},
			[]string{"groups.USD.group", "groups.USD.swap_free_group"}},
		{"a new pair", map[string]GroupPair{"USD": {"pro-usd", "pro-usd-swapfree"}}, nil},
	}
	for _, c := range cases {
		var f validation.Fields
		checkTwins(c.groups, others, &f)
		if got := fieldsOf(f.Err()); !slices.Equal(got, c.want) {
			t.Errorf("%s: fields %v, want %v (%v)", c.name, got, c.want, f.Err())
		}
	}
}

func TestMinimumsAreDecimalStringsOfTheirCurrency(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   map[string]string
		want map[string]int64
		bad  []string
	}{
		{map[string]string{"USD": "100.00", "JPY": "5000", "EUR": "0.5"}, map[string]int64{"USD": 10000, "JPY": 5000, "EUR": 50}, nil},
		{map[string]string{"USD": "100.001"}, nil, []string{"min_first_deposit.USD"}},
		{map[string]string{"JPY": "1.5"}, nil, []string{"min_first_deposit.JPY"}},
		{map[string]string{"USD": "1e3"}, nil, []string{"min_first_deposit.USD"}},
		{map[string]string{"ZZZ": "1"}, nil, []string{"min_first_deposit.ZZZ"}},
	}
	for _, c := range cases {
		got, err := ParseMinimums(c.in)
		if fields := fieldsOf(err); !slices.Equal(fields, c.bad) {
			t.Errorf("%v: fields %v, want %v", c.in, fields, c.bad)
			continue
		}
		for code, v := range c.want {
			if got[code] != v {
				t.Errorf("%v: %s = %d, want %d", c.in, code, got[code], v)
			}
		}
		if back := FormatMinimums(c.want); c.bad == nil && back["USD"] != "" && back["USD"] != "100.00" {
			t.Errorf("formatted back: %v", back)
		}
	}
}

// fakeConn is a connector whose Ping answers what the test says.
type fakeConn struct {
	trading.Connector
	ping   error
	closed *int
}

func (f *fakeConn) Capabilities() trading.Capabilities {
	return trading.Capabilities{Platform: trading.PlatformSimulator}
}
func (f *fakeConn) Ping(context.Context) error { return f.ping }
func (f *fakeConn) Close() error               { *f.closed++; return nil }

// A session that fails is dropped and not dialled again before its backoff, which doubles; a request now skips it;
// a refused request keeps the session; a change of settings dials afresh.
func TestSessionsBackOffAndRedialOnChange(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	dials, closed := 0, 0
	var ping error
	p := NewSessions(DialFunc(func(context.Context, Server, Credentials) (trading.Connector, error) {
		dials++
		return &fakeConn{ping: ping, closed: &closed}, nil
	}), SessionOptions{MinBackoff: time.Second, MaxBackoff: 4 * time.Second, Now: func() time.Time { return now }})
	tg := Target{Tenant: uuid.New(), Server: Server{ID: uuid.New(), Name: "S"}, Version: "v1", Credentials: func() (Credentials, error) { return Credentials{}, nil }}
	use := func(force bool) error {
		return p.Use(context.Background(), tg, force, func(c trading.Connector) error { return c.Ping(context.Background()) })
	}
	down := &trading.PlatformError{Kind: trading.ErrUnavailable, Platform: trading.PlatformSimulator, Op: "ping"}
	ping = down
	if err := use(false); !errors.Is(err, trading.ErrUnavailable) || dials != 1 || closed != 1 {
		t.Fatalf("first failure: %v, %d dials, %d closed", err, dials, closed)
	}
	if err := use(false); !errors.Is(err, ErrBackingOff) || !errors.Is(err, trading.ErrUnavailable) || dials != 1 {
		t.Fatalf("within the backoff: %v, %d dials", err, dials)
	}
	now = now.Add(time.Second)
	if err := use(false); !errors.Is(err, trading.ErrUnavailable) || dials != 2 {
		t.Fatalf("after the backoff: %v, %d dials", err, dials)
	}
	now = now.Add(time.Second) // the second failure doubled the wait to 2 s
	if err := use(false); !errors.Is(err, ErrBackingOff) || dials != 2 {
		t.Fatalf("the doubled backoff: %v, %d dials", err, dials)
	}
	ping = nil
	if err := use(true); err != nil || dials != 3 {
		t.Fatalf("a request now: %v, %d dials", err, dials)
	}
	if err := use(false); err != nil || dials != 3 {
		t.Fatalf("the session is shared: %v, %d dials", err, dials)
	}
	refused := &trading.PlatformError{Kind: trading.ErrInvalidRequest, Platform: trading.PlatformSimulator, Op: "x"}
	if err := p.Use(context.Background(), tg, false, func(trading.Connector) error { return refused }); !errors.Is(err, trading.ErrInvalidRequest) {
		t.Fatal(err)
	}
	if err := use(false); err != nil || dials != 3 {
		t.Fatalf("a refused request dropped the session: %v, %d dials", err, dials)
	}
	// A caller that gives up mid-call (a sync job cancelled) leaves the session and no backoff behind.
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Use(ctx, tg, false, func(trading.Connector) error { cancel(); return fmt.Errorf("read: %w", ctx.Err()) }); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := use(false); err != nil || dials != 3 {
		t.Fatalf("a cancelled call dropped the session: %v, %d dials", err, dials)
	}
	tg.Version = "v2"
	if err := use(false); err != nil || dials != 4 || closed != 3 {
		t.Fatalf("new settings: %v, %d dials, %d closed", err, dials, closed)
	}
	p.Keep(tg.Tenant, nil)
	if closed != 4 {
		t.Fatalf("Keep closed %d sessions in all", closed)
	}
}

func TestTheDesksActionsReadAsSentences(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	adam, hannah := audit.Ref{Name: "Adam Admin"}, audit.Ref{Name: "Hannah Schmidt"}
	server := audit.Ref{Name: "MT5 Live", Href: "/backoffice/trading/servers/mt5-live"}
	standard := audit.Ref{Name: "Standard", Href: "/backoffice/trading/account-types/standard"}
	cases := []struct {
		action        string
		actor, target audit.Ref
		before, after any
		want          string
	}{
		{ActionServerSaved, adam, server, nil, m{"name": "MT5 Live", "platform": "mt5", "enabled": true, "manager_login_replaced": true},
			"Adam Admin added the trading server MT5 Live and set its manager credentials"},
		{ActionServerSaved, adam, server, m{"name": "MT5 Live", "platform": "mt5", "enabled": true}, m{"name": "MT5 Live", "platform": "mt5", "enabled": false},
			"Adam Admin changed the trading server MT5 Live; it is switched off"},
		{ActionServerCheckRequested, adam, server, nil, m{"status": "down"},
			"Adam Admin asked for a connection check of the trading server MT5 Live"},
		{ActionServerStatusChanged, audit.Ref{Name: "BrokerDesk"}, server, m{"status": "ok"}, m{"status": "down", "error": "mt5 ping: trading platform unavailable."},
			"The trading server MT5 Live is down: mt5 ping: trading platform unavailable"},
		{ActionServerStatusChanged, audit.Ref{Name: "BrokerDesk"}, server, m{"status": "down"}, m{"status": "ok"},
			"The trading server MT5 Live is reachable again"},
		{ActionServerStatusChanged, audit.Ref{Name: "BrokerDesk"}, server, m{"status": "unknown"}, m{"status": "ok"},
			"The trading server MT5 Live answered its first connection check"},
		{ActionAccountTypeSaved, adam, standard, nil, m{"name": "Standard", "server": "mt5-live", "enabled": true},
			"Adam Admin added the account type Standard"},
		{ActionAccountTypeSaved, adam, standard, m{"server": "mt5-live", "enabled": true}, m{"server": "mt5-live", "enabled": false},
			"Adam Admin changed the account type Standard; clients can no longer open it"},
		{ActionAccountRequested, hannah, audit.Ref{Name: "request"}, nil, m{"type": "Standard", "currency": "USD", "leverage": 100, "live": true},
			"Hannah Schmidt asked to open a live account (Standard, USD, 1:100)"},
		{ActionAccountOpened, hannah, audit.Ref{Name: "500123"}, nil, m{"login": "500123", "type": "Standard", "currency": "USD", "leverage": 100, "live": true},
			"Hannah Schmidt opened live account 500123 (Standard, USD, 1:100)"},
		{ActionAccountRequestFailed, audit.Ref{Name: "BrokerDesk"}, audit.Ref{Name: "request"}, m{"status": "pending"},
			m{"status": "failed", "client": "Hannah Schmidt", "type": "Demo", "currency": "EUR", "leverage": 50, "live": false,
				"reason": "group demo-eur does not exist (invalid request to the trading platform, platform code bad_group)."},
			"The demo account request of Hannah Schmidt (Demo, EUR, 1:50) failed: group demo-eur does not exist (invalid request to the trading platform, platform code bad_group)"},
		{ActionTransferRequested, hannah, audit.Ref{Name: "transfer"}, nil, m{"direction": "to_account", "amount": "250.00", "currency": "USD", "login": "700000"},
			"Hannah Schmidt asked to move 250.00 USD from their wallet to account 700000"},
		{ActionTransferDone, hannah, audit.Ref{Name: "transfer"}, m{"status": "pending"}, m{"direction": "to_wallet", "amount": "80.00", "currency": "USD", "login": "700000"},
			"Hannah Schmidt moved 80.00 USD from account 700000 to their wallet"},
		{ActionTransferFailed, audit.Ref{Name: "BrokerDesk"}, audit.Ref{Name: "transfer"}, m{"status": "pending"},
			m{"direction": "to_wallet", "amount": "80.00", "currency": "USD", "login": "700000", "client": "Hannah Schmidt",
				"reason": "account 700000 has 12.50 USD of free margin"},
			"The transfer of 80.00 USD from account 700000 to Hannah Schmidt's wallet failed: account 700000 has 12.50 USD of free margin; no money moved"},
		{ActionTransferUnknown, audit.Ref{Name: "BrokerDesk"}, audit.Ref{Name: "transfer"}, nil,
			m{"direction": "to_account", "amount": "250.00", "currency": "USD", "login": "700000", "client": "Hannah Schmidt", "reason": "connection reset."},
			"The trading server never answered about the transfer of 250.00 USD from Hannah Schmidt's wallet to account 700000 (connection reset): it waits for finance to ask again"},
		{ActionTransferRetried, adam, audit.Ref{Name: "transfer"}, nil,
			m{"direction": "to_account", "amount": "250.00", "currency": "USD", "login": "700000", "client": "Hannah Schmidt"},
			"Adam Admin asked the trading server again about the transfer of 250.00 USD from Hannah Schmidt's wallet to account 700000"},
	}
	svc := audit.NewService(nil)
	svc.Phrases(Phrases()...)
	if err := svc.PhrasesErr(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		diff, err := audit.Diff(c.before, c.after)
		if err != nil {
			t.Fatal(err)
		}
		told := svc.TellOne(audit.NewEvent(audit.Row{Action: c.action, Diff: diff, Actor: audit.Actor{Kind: audit.ActorStaff, ID: "s1"}}, c.actor, c.target))
		if got := told.Sentence.String(); got != c.want || !told.Known {
			t.Errorf("%s:\n got %q\nwant %q", c.action, got, c.want)
		}
	}
}

// The account type form reads back what it writes: groups a line, leverages with or without "1:", grouped amounts.
func TestTheAccountTypeFormReadsWhatItWrites(t *testing.T) {
	t.Parallel()
	mins := map[string]int64{"USD": 1_000_000, "JPY": 50_000}
	d := typeForm{Slug: "raw", Name: "Raw", Server: "sim", Groups: "USD pro-usd pro-usd-swapfree\nJPY pro-jpy\n", Leverages: "1:50, 100 200",
		Minimums: minimumsText(mins, "\n"), Tiers: "pro, vip", Countries: "de fr"}
	if d.Minimums != "JPY 50,000\nUSD 10,000.00" {
		t.Fatalf("minimums written as %q", d.Minimums)
	}
	var f validation.Fields
	in := parseTypeForm(d, &f)
	if f.Err() != nil || in.MinFirstDeposit["USD"] != 1_000_000 || in.MinFirstDeposit["JPY"] != 50_000 || !slices.Equal(in.Leverages, []int{50, 100, 200}) ||
		in.Groups["USD"].SwapFreeGroup != "pro-usd-swapfree" || in.Groups["JPY"].Group != "pro-jpy" || len(in.Tiers) != 2 || len(in.Countries) != 2 {
		t.Fatalf("read back: %+v %v", in, f.Err())
	}
	parseTypeForm(typeForm{Groups: "USD", Leverages: "x", Minimums: "USD 1.001"}, &f)
	if got := fieldsOf(f.Err()); !slices.Equal(got, []string{"groups", "leverages", "min_first_deposit"}) {
		t.Fatalf("bad lines: %v", got)
	}
}
