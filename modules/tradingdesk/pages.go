package tradingdesk

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The desk's back-office pages (docs/trading/desk.md, "Pages"): server-rendered, every form a plain POST with its
// CSRF token, so all of them work without JavaScript. Credentials are write-only: a page says "set" for stored
// ones and never shows them; an empty credentials field keeps what is stored.
//
//	/backoffice/trading/servers                 servers with their status; links to add one per platform
//	/backoffice/trading/servers/new?platform=   the form of a new server
//	/backoffice/trading/servers/:slug           a server: its last check's answer, the check button, its form
//	/backoffice/trading/servers/:slug/check     POST: ask the worker for a check now
//	/backoffice/trading/account-types           the offer
//	/backoffice/trading/account-types/new, /:slug  an account type's form

// PageFiles are the desk's page templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

const (
	serversPath      = "/backoffice/trading/servers"
	accountTypesPath = "/backoffice/trading/account-types"
	requestsPath     = "/backoffice/trading/requests"
	transfersPath    = "/backoffice/trading/transfers"
	// portalTransferPath takes the portal page's transfer form.
	portalTransferPath = "/portal/trading/transfers"
	// PortalAccountsPath is the portal's trading accounts page (the credentials email links to it).
	PortalAccountsPath = "/portal/trading"
)

type pages struct {
	shell       *web.Shell
	s           *Service
	dealCursors *web.Cursors
}

func (s *Service) mountPages(shell *web.Shell) {
	p := &pages{shell: shell, s: s}
	shell.Nav(
		web.NavEntry{Group: web.GroupTrading, Label: "Trading servers", Href: serversPath, Permission: PermRead, Order: 10},
		web.NavEntry{Group: web.GroupTrading, Label: "Account types", Href: accountTypesPath, Permission: PermRead, Order: 20},
	)
	shell.Page(fiber.MethodGet, serversPath, PermRead, p.servers)
	shell.Page(fiber.MethodGet, serversPath+"/new", PermManage, p.newServer)
	shell.Post(serversPath, PermManage, p.saveServer)
	shell.Page(fiber.MethodGet, serversPath+"/:slug", PermRead, p.server)
	shell.Post(serversPath+"/:slug/check", PermManage, p.check)
	shell.Page(fiber.MethodGet, accountTypesPath, PermRead, p.accountTypes)
	shell.Page(fiber.MethodGet, accountTypesPath+"/new", PermManage, p.newAccountType)
	shell.Post(accountTypesPath, PermManage, p.saveAccountType)
	shell.Page(fiber.MethodGet, accountTypesPath+"/:slug", PermRead, p.accountType)
	p.mountAccountPages(shell)
	p.mountDealPages(shell)
	p.mountDriftPages(shell)
}

func (p *pages) may(c *fiber.Ctx, perm web.Permission) bool {
	v, ok, err := p.shell.Viewer(c)
	return err == nil && ok && v.Can(perm)
}

// when is a time as the back office writes it (UTC).
func when(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// statusWords are a status in words with its tone.
func statusWords(s Status) (string, web.Tone) {
	switch s {
	case StatusOK:
		return "Up", web.ToneGood
	case StatusDown:
		return "Down", web.ToneBad
	}
	return "Not checked yet", web.ToneInfo
}

// problemLines are a refusal's field errors as sentences, or its detail.
func problemLines(err error) ([]string, int, bool) {
	return problemLinesOf(apiError(err, "record"))
}

// problemLinesOf is problemLines of an error already mapped to its problem.
func problemLinesOf(mapped error) ([]string, int, bool) {
	pr, ok := web.ProblemOf(mapped)
	if !ok {
		return nil, 0, false
	}
	var out []string
	for _, fe := range pr.Errors {
		out = append(out, strings.ReplaceAll(fe.Field, "_", " ")+": "+fe.Message)
	}
	if len(out) == 0 {
		out = []string{pr.Detail}
	}
	return out, pr.Status, true
}

type serverRow struct {
	Name, Slug, Platform, Kind, Status, Since, Checked, Error, Href string
	Tone                                                            web.Tone
	Enabled, Credentials, NeedsCredentials                          bool
}

type addLink struct{ Label, Href string }

func (p *pages) servers(c *fiber.Ctx) error {
	list, err := p.s.Servers(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	d := struct {
		Rows      []serverRow
		Add       []addLink
		MayManage bool
		Notice    string
	}{MayManage: p.may(c, PermManage)}
	if slug := c.Query("saved"); slug != "" {
		d.Notice = "The trading server " + slug + " is saved. The worker checks its connection within a minute."
	}
	for _, v := range list {
		words, tone := statusWords(v.Check.Status)
		if !v.Enabled {
			words, tone = "Switched off", web.ToneNeutral
		}
		kind := "Demo"
		if v.Live {
			kind = "Live"
		}
		d.Rows = append(d.Rows, serverRow{Name: v.Name, Slug: v.Slug, Platform: PlatformLabel(v.Platform), Kind: kind, Status: words, Tone: tone,
			Since: when(v.Check.Since), Checked: when(v.Check.At), Error: v.Check.Error, Href: serversPath + "/" + v.Slug, Enabled: v.Enabled,
			Credentials: v.HasCredentials, NeedsCredentials: v.Platform != trading.PlatformSimulator})
	}
	for _, pl := range Platforms {
		d.Add = append(d.Add, addLink{Label: PlatformLabel(pl), Href: serversPath + "/new?platform=" + string(pl)})
	}
	return p.shell.Render(c, fiber.StatusOK, "tradingdesk_servers", "Trading servers", d)
}

// serverForm is the server page's data: the facts and last check, and the form.
type serverForm struct {
	CSRF             string
	New, MayManage   bool
	Error            string
	Problems         []string
	Notice           string
	Slug, Name       string
	Platform, Label  string
	Live, Enabled    bool
	Address, Login   string
	Domain, TimeZone string
	TimeZoneShift    string
	Extra            string // TradeLocker's catalogue or DXtrade's codes, as JSON
	Credentials      bool   // set
	// Which fields the platform takes.
	MT5, TradeLocker, DXtrade, Simulator bool
	// The last check.
	Status, Since, Checked, CheckError string
	Tone                               web.Tone
	Capabilities                       []fact
	Types                              []addLink
}

type fact struct{ Label, Value string }

// extraOf is the part of a config the form edits as JSON: what a platform takes beyond address, login, domain and
// time zone.
func extraOf(cfg Config) string {
	x := Config{Groups: cfg.Groups, BrokerCode: cfg.BrokerCode, ClearingCode: cfg.ClearingCode, FinancingStandard: cfg.FinancingStandard,
		FinancingSwapFree: cfg.FinancingSwapFree, LeverageCategories: cfg.LeverageCategories}
	b, _ := json.MarshalIndent(x, "", "  ")
	if string(b) == "{}" {
		return ""
	}
	return string(b)
}

// extraTemplate starts a new server's JSON settings.
func extraTemplate(pl trading.Platform) string {
	switch pl {
	case trading.PlatformTradeLocker:
		return extraOf(Config{Groups: []TradeLockerGroup{{ID: "1001", AccountType: "standard", Leverage: 100}, {ID: "1002", AccountType: "standard", Leverage: 100, SwapFree: true}}})
	case trading.PlatformDXtrade:
		return extraOf(Config{BrokerCode: "BROKER", ClearingCode: "CLEARING", FinancingStandard: "Standard", FinancingSwapFree: "Swap free",
			LeverageCategories: map[string]string{"100": "Margin 1:100"}})
	}
	return ""
}

func (p *pages) fillServerForm(c *fiber.Ctx, d *serverForm) {
	d.CSRF, d.MayManage, d.Label = p.shell.CSRF(c), p.may(c, PermManage), PlatformLabel(trading.Platform(d.Platform))
	pl := trading.Platform(d.Platform)
	d.MT5, d.TradeLocker, d.DXtrade, d.Simulator = pl == trading.PlatformMT5, pl == trading.PlatformTradeLocker, pl == trading.PlatformDXtrade,
		pl == trading.PlatformSimulator
}

func (p *pages) newServer(c *fiber.Ctx) error {
	pl := trading.Platform(c.Query("platform"))
	if pl == "" { // which platform: the servers page lists them under "Add a server"
		return p.servers(c)
	}
	if !slices.Contains(Platforms, pl) {
		return web.NotFound("No such trading platform.")
	}
	d := serverForm{New: true, Platform: string(pl), Enabled: true, Extra: extraTemplate(pl)}
	if pl == trading.PlatformMT5 {
		d.TimeZone = "UTC"
	}
	p.fillServerForm(c, &d)
	return p.shell.Render(c, fiber.StatusOK, "tradingdesk_server", "Add a trading server: "+d.Label, d)
}

func (p *pages) server(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	v, err := p.s.Server(ctx, t, c.Params("slug"))
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such trading server.")
	}
	if err != nil {
		return err
	}
	d := serverForm{Slug: v.Slug, Name: v.Name, Platform: string(v.Platform), Live: v.Live, Enabled: v.Enabled, Address: v.Config.Address,
		Login: v.Config.Login, Domain: v.Config.Domain, TimeZone: v.Config.TimeZone, TimeZoneShift: v.Config.TimeZoneShift, Extra: extraOf(v.Config), Credentials: v.HasCredentials}
	if c.Query("checking") == "1" {
		d.Notice = "The worker is checking the connection now. Reload this page in a few seconds for its answer."
	}
	d.Status, d.Tone = statusWords(v.Check.Status)
	d.Since, d.Checked, d.CheckError = when(v.Check.Since), when(v.Check.At), v.Check.Error
	if cp := v.Check.Capabilities; cp != nil {
		yes := map[bool]string{true: "yes", false: "no"}
		window := "no limit"
		if cp.MaxDealWindow > 0 {
			window = fmt.Sprintf("%d days", int(cp.MaxDealWindow/(24*time.Hour)))
		}
		d.Capabilities = []fact{{"Swap-free", "by " + string(cp.SwapFree)}, {"Leverage comes from the group", yes[cp.LeverageByGroup]},
			{"Currency fixed at opening", yes[cp.CurrencyFixed]}, {"Platform dedupes balance operations", yes[cp.NativeIdempotency]},
			{"Longest deal query", window}, {"Largest leverage", "1:" + strconv.Itoa(cp.MaxLeverage)}}
	}
	types, err := p.s.AccountTypes(ctx, t)
	if err != nil {
		return err
	}
	for _, a := range types {
		if a.ServerID == v.ID {
			d.Types = append(d.Types, addLink{Label: a.Name, Href: accountTypesPath + "/" + a.Slug})
		}
	}
	p.fillServerForm(c, &d)
	return p.shell.Render(c, fiber.StatusOK, "tradingdesk_server", "Trading server "+v.Name, d)
}

func (p *pages) saveServer(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := serverForm{New: c.FormValue("new") == "1", Slug: strings.TrimSpace(strings.ToLower(c.FormValue("slug"))), Name: strings.TrimSpace(c.FormValue("name")),
		Platform: c.FormValue("platform"), Live: c.FormValue("live") == "on", Enabled: c.FormValue("enabled") == "on",
		Address: strings.TrimSpace(c.FormValue("address")), Login: strings.TrimSpace(c.FormValue("login")), Domain: strings.TrimSpace(c.FormValue("domain")),
		TimeZone: strings.TrimSpace(c.FormValue("time_zone")), TimeZoneShift: strings.TrimSpace(c.FormValue("time_zone_shift")), Extra: c.FormValue("extra")}
	var f validation.Fields
	cfg := Config{}
	if strings.TrimSpace(d.Extra) != "" {
		dec := json.NewDecoder(strings.NewReader(d.Extra))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			f.Add("settings", "must be a JSON object of the platform's settings (see the example the form starts with)")
		}
	}
	cfg.Address, cfg.Login, cfg.Domain, cfg.TimeZone, cfg.TimeZoneShift = d.Address, d.Login, d.Domain, d.TimeZone, d.TimeZoneShift
	in := ServerInput{Slug: d.Slug, Name: d.Name, Platform: trading.Platform(d.Platform), Live: d.Live, Config: cfg, Enabled: d.Enabled}
	if !d.New {
		cur, err := p.s.Server(ctx, t, d.Slug)
		if errors.Is(err, ErrNotFound) {
			return web.NotFound("No such trading server.")
		}
		if err != nil {
			return err
		}
		in.Platform, in.Live, d.Platform, d.Live, d.Credentials = cur.Platform, cur.Live, string(cur.Platform), cur.Live, cur.HasCredentials
	}
	if pw, key := c.FormValue("password"), strings.TrimSpace(c.FormValue("api_key")); pw != "" || key != "" {
		in.Credentials = &Credentials{Password: pw, APIKey: key}
	}
	var err error
	switch {
	case f.Len() > 0:
		err = f.Err()
	case d.New:
		_, err = p.s.CreateServer(ctx, t, identity.Actor(c), in)
	default:
		_, err = p.s.UpdateServer(ctx, t, identity.Actor(c), in)
	}
	if err != nil {
		lines, status, ok := problemLines(err)
		if !ok {
			return err
		}
		d.Error, d.Problems = "The trading server was not saved:", lines
		p.fillServerForm(c, &d)
		title := "Add a trading server: " + d.Label
		if !d.New {
			title = "Trading server " + d.Name
		}
		return p.shell.Render(c, status, "tradingdesk_server", title, d)
	}
	return c.Redirect(serversPath+"?saved="+d.Slug, fiber.StatusSeeOther)
}

func (p *pages) check(c *fiber.Ctx) error {
	_, err := p.s.RequestCheck(c.UserContext(), tenants.Current(c), identity.Actor(c), c.Params("slug"))
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such trading server.")
	}
	if err != nil {
		return err
	}
	return c.Redirect(serversPath+"/"+c.Params("slug")+"?checking=1", fiber.StatusSeeOther)
}

type typeRow struct {
	Name, Slug, Server, ServerHref, Kind, Currencies, Leverages, Minimums, Who, Href string
	Enabled                                                                          bool
}

func leverageText(ls []int) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = "1:" + strconv.Itoa(l)
	}
	return strings.Join(parts, ", ")
}

func minimumsText(m map[string]int64, sep string) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(m)) {
		if c, ok := money.Lookup(code); ok {
			parts = append(parts, code+" "+money.Grouped(m[code], c)) // the form reads its commas back
		}
	}
	return strings.Join(parts, sep)
}

func whoText(a AccountType) string {
	tiers, countries := "any tier", "any country"
	if len(a.Tiers) > 0 {
		tiers = "tiers " + strings.Join(a.Tiers, ", ")
	}
	if len(a.Countries) > 0 {
		countries = strings.Join(a.Countries, ", ")
	}
	return tiers + "; " + countries
}

func (p *pages) accountTypes(c *fiber.Ctx) error {
	list, err := p.s.AccountTypes(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	d := struct {
		Rows      []typeRow
		MayManage bool
		Notice    string
	}{MayManage: p.may(c, PermManage)}
	if slug := c.Query("saved"); slug != "" {
		d.Notice = "The account type " + slug + " is saved."
	}
	for _, a := range list {
		kind := "Demo"
		if a.Live {
			kind = "Live"
		}
		mins := minimumsText(a.MinFirstDeposit, " · ")
		if mins == "" {
			mins = "none"
		}
		d.Rows = append(d.Rows, typeRow{Name: a.Name, Slug: a.Slug, Server: a.ServerName, ServerHref: serversPath + "/" + a.ServerSlug, Kind: kind,
			Currencies: strings.Join(a.Currencies(), ", "), Leverages: leverageText(a.Leverages), Minimums: mins, Who: whoText(a),
			Href: accountTypesPath + "/" + a.Slug, Enabled: a.Enabled})
	}
	return p.shell.Render(c, fiber.StatusOK, "tradingdesk_account_types", "Account types", d)
}

type option struct {
	Value, Label string
	Selected     bool
}

// typeForm is the account type form's data; the lists are text, one entry a line or separated by commas.
type typeForm struct {
	CSRF                       string
	New, MayManage             bool
	Error                      string
	Problems                   []string
	Slug, Name, Server         string
	Servers                    []option
	Groups, Leverages          string // "USD standard-usd standard-usd-swapfree" a line; "50, 100, 200"
	Minimums, Tiers, Countries string
	Enabled                    bool
	TierNames                  string
}

func (p *pages) renderType(c *fiber.Ctx, status int, d typeForm) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d.CSRF, d.MayManage = p.shell.CSRF(c), p.may(c, PermManage)
	servers, err := p.s.Servers(ctx, t)
	if err != nil {
		return err
	}
	for _, v := range servers {
		kind := "demo"
		if v.Live {
			kind = "live"
		}
		d.Servers = append(d.Servers, option{Value: v.Slug, Label: v.Name + " (" + PlatformLabel(v.Platform) + ", " + kind + ")", Selected: v.Slug == d.Server})
	}
	if st, err := p.s.o.Clients.Settings(ctx, t); err == nil {
		var names []string
		for _, tr := range st.Tiers {
			names = append(names, tr.Name)
		}
		d.TierNames = strings.Join(names, ", ")
	}
	title := "Add an account type"
	if !d.New {
		title = "Account type " + d.Name
	}
	return p.shell.Render(c, status, "tradingdesk_account_type", title, d)
}

func (p *pages) newAccountType(c *fiber.Ctx) error {
	return p.renderType(c, fiber.StatusOK, typeForm{New: true, Enabled: true, Server: c.Query("server")})
}

func (p *pages) accountType(c *fiber.Ctx) error {
	a, err := p.s.AccountType(c.UserContext(), tenants.Current(c), c.Params("slug"))
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such account type.")
	}
	if err != nil {
		return err
	}
	var groups []string
	for _, code := range a.Currencies() {
		g := a.Groups[code]
		groups = append(groups, strings.TrimSpace(code+" "+g.Group+" "+g.SwapFreeGroup))
	}
	lev := make([]string, len(a.Leverages))
	for i, l := range a.Leverages {
		lev[i] = strconv.Itoa(l)
	}
	return p.renderType(c, fiber.StatusOK, typeForm{Slug: a.Slug, Name: a.Name, Server: a.ServerSlug, Groups: strings.Join(groups, "\n"),
		Leverages: strings.Join(lev, ", "), Minimums: minimumsText(a.MinFirstDeposit, "\n"), Tiers: strings.Join(a.Tiers, ", "),
		Countries: strings.Join(a.Countries, ", "), Enabled: a.Enabled})
}

// words splits a list typed with commas, spaces or line breaks.
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// parseTypeForm reads the form's text lists, recording each line it cannot read.
func parseTypeForm(d typeForm, f *validation.Fields) AccountTypeInput {
	in := AccountTypeInput{Slug: d.Slug, Name: d.Name, Server: d.Server, Enabled: d.Enabled, Groups: map[string]GroupPair{},
		MinFirstDeposit: map[string]int64{}, Tiers: words(d.Tiers), Countries: words(d.Countries)}
	for i, line := range strings.Split(d.Groups, "\n") {
		fs := strings.Fields(line)
		switch len(fs) {
		case 0:
		case 2, 3:
			g := GroupPair{Group: fs[1]}
			if len(fs) == 3 {
				g.SwapFreeGroup = fs[2]
			}
			in.Groups[strings.ToUpper(fs[0])] = g
		default:
			f.Add("groups", fmt.Sprintf("line %d: a currency, its group and (optionally) the group's swap-free twin", i+1))
		}
	}
	for _, w := range words(d.Leverages) {
		n, err := strconv.Atoi(strings.TrimPrefix(w, "1:"))
		if err != nil {
			f.Add("leverages", fmt.Sprintf("%q is not a leverage (write 100 or 1:100)", w))
			continue
		}
		in.Leverages = append(in.Leverages, n)
	}
	for i, line := range strings.Split(d.Minimums, "\n") {
		fs := strings.Fields(strings.ReplaceAll(line, ",", ""))
		if len(fs) == 0 {
			continue
		}
		c, ok := money.Lookup(strings.ToUpper(fs[0]))
		if !ok || len(fs) != 2 {
			f.Add("min_first_deposit", fmt.Sprintf("line %d: a currency and an amount, like USD 100.00", i+1))
			continue
		}
		v, err := money.Parse(fs[1], c)
		if err != nil {
			f.Add("min_first_deposit", fmt.Sprintf("line %d: %q is not an amount in %s", i+1, fs[1], c.Code))
			continue
		}
		in.MinFirstDeposit[c.Code] = v
	}
	return in
}

func (p *pages) saveAccountType(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := typeForm{New: c.FormValue("new") == "1", Slug: strings.TrimSpace(strings.ToLower(c.FormValue("slug"))), Name: strings.TrimSpace(c.FormValue("name")),
		Server: c.FormValue("server"), Groups: c.FormValue("groups"), Leverages: c.FormValue("leverages"), Minimums: c.FormValue("min_first_deposit"),
		Tiers: c.FormValue("tiers"), Countries: c.FormValue("countries"), Enabled: c.FormValue("enabled") == "on"}
	if !d.New {
		cur, err := p.s.AccountType(ctx, t, d.Slug)
		if errors.Is(err, ErrNotFound) {
			return web.NotFound("No such account type.")
		}
		if err != nil {
			return err
		}
		d.Server = cur.ServerSlug
	}
	var f validation.Fields
	in := parseTypeForm(d, &f)
	var err error
	switch {
	case f.Len() > 0:
		err = f.Err()
	case d.New:
		_, err = p.s.CreateAccountType(ctx, t, identity.Actor(c), in)
	default:
		_, err = p.s.UpdateAccountType(ctx, t, identity.Actor(c), in)
	}
	if err != nil {
		lines, status, ok := problemLines(err)
		if !ok {
			return err
		}
		d.Error, d.Problems = "The account type was not saved:", lines
		return p.renderType(c, status, d)
	}
	return c.Redirect(accountTypesPath+"?saved="+d.Slug, fiber.StatusSeeOther)
}
