package bonuses

import (
	"embed"
	"errors"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The module's pages (docs/bonuses.md, "Pages"): server-rendered, every form a plain POST with its CSRF token.
//
//	/backoffice/bonuses/rules            finance's rules: what each does in words, what it granted
//	/backoffice/bonuses/rules/new        the form of a new rule, with its sentence preview
//	/backoffice/bonuses/rules/:id        a rule's form (a save adds a version) and its versions; POST .../end ends it
//	/backoffice/bonuses                  the bonuses, filtered by status, rule and client; POST /:id/cancel with a reason
//	client page, tab Bonuses             the client's bonuses with their progress, and every rule's decision in words
//	/portal/bonuses                      the trader's bonuses with their progress

// PageFiles are the module's page templates.
//
//go:embed pages/*.html
var PageFiles embed.FS

const (
	listPath       = "/backoffice/bonuses"
	rulesPath      = "/backoffice/bonuses/rules"
	clientPagePath = "/backoffice/clients/"
)

type pages struct {
	shell *web.Shell
	s     *Service
}

func (s *Service) mountPages(shell *web.Shell) {
	p := &pages{shell: shell, s: s}
	shell.Nav(
		web.NavEntry{Group: web.GroupMoney, Label: "Bonuses", Href: listPath, Permission: PermManage, Order: 30},
		web.NavEntry{Group: web.GroupMoney, Label: "Bonus rules", Href: rulesPath, Permission: PermManage, Order: 31},
		web.NavEntry{Group: web.GroupPortal, Label: "Bonuses", Href: PortalPath, Permission: identity.PermPortalAccount, Order: 27},
	)
	shell.Tiles(web.Tile{Group: web.GroupMoney, Label: "Open bonuses", Href: listPath + "?status=open", Permission: PermManage, Order: 30,
		Count: func(c *fiber.Ctx) (web.TileCount, error) {
			n, err := s.CountsOf(c.UserContext(), tenants.Current(c))
			out := web.TileCount{Value: n.Open}
			if n.ReleasedToday > 0 {
				out.Detail, out.DetailHref = strconv.Itoa(n.ReleasedToday)+" released today", listPath+"?status=released"
			}
			return out, err
		}})
	shell.HubSection(clients.ClientHub, web.HubSection{ID: "bonuses", Label: "Bonuses", Order: 44, Permission: PermManage,
		Hint: "The client's bonuses, their turnover, and why each deposit did or did not earn one", Render: p.hubTab})
	shell.Page(fiber.MethodGet, listPath, PermManage, p.list)
	shell.Post(listPath+"/:id/cancel", PermManage, p.cancel)
	shell.Page(fiber.MethodGet, rulesPath, PermManage, p.rules)
	shell.Page(fiber.MethodGet, rulesPath+"/new", PermManage, func(c *fiber.Ctx) error {
		return p.renderRule(c, fiber.StatusOK, ruleForm{New: true, Currency: "USD", Active: true, LotsPerUnit: "0.5", ValidDays: "60"})
	})
	shell.Page(fiber.MethodGet, rulesPath+"/:id", PermManage, p.rule)
	shell.Post(rulesPath, PermManage, p.saveRule)
	shell.Post(rulesPath+"/:id/end", PermManage, p.endRule)
	shell.Page(fiber.MethodGet, PortalPath, identity.PermPortalAccount, p.portal)
}

type option struct {
	Value, Label string
	Selected     bool
}

// statusWords are a bonus's statuses as people read them.
var statusWords = map[string]struct {
	words string
	tone  web.Tone
}{
	"open": {"Open: turnover to go", web.ToneInfo}, "released": {"Released to the wallet", web.ToneGood}, "expired": {"Expired", web.ToneWarn},
	"cancelled": {"Cancelled", web.ToneBad}, "forfeited": {"Forfeited", web.ToneBad},
}

// bonusRow is a bonus on a page: its progress as a bar (lots done of lots required).
type bonusRow struct {
	ID, Client, ClientHref, Rule, Amount, Granted, Expires, Status, Closed, Why string
	Done, Required, Percent                                                     string
	Tone                                                                        web.Tone
	Open                                                                        bool
}

func day(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

func toRow(b Bonus) bonusRow {
	w := statusWords[b.Status]
	r := bonusRow{ID: b.ID.String(), Rule: b.RuleName + " v" + strconv.Itoa(b.RuleVersion), Amount: b.Amount.String(), Granted: b.GrantedAt.UTC().Format("2006-01-02 15:04"),
		Expires: day(b.ExpiresAt), Status: w.words, Tone: w.tone, Open: b.Status == "open", Done: b.LotsDone.StringFixed(2), Required: b.LotsRequired.StringFixed(2),
		Why: closeWords(b)}
	if b.ClosedAt != nil {
		r.Closed = day(*b.ClosedAt)
	}
	if b.Forfeited > 0 && b.Status == "open" {
		r.Why = money.Amount{Minor: b.Forfeited, Currency: b.Amount.Currency}.String() + " of it was forfeited by withdrawals; the rest stays open."
	}
	if b.CreditTo == "trading_account" && b.CreditLogin != "" {
		where := "As credit on trading account " + b.CreditLogin
		if b.CreditedAt == nil && b.Status == "open" {
			where += " (being booked)"
		}
		r.Why = strings.TrimSpace(where + ". " + r.Why)
	}
	r.Percent = "100"
	if b.LotsRequired.IsPositive() {
		pct := b.LotsDone.Div(b.LotsRequired).Shift(2).Floor()
		if pct.GreaterThan(decimalHundred) {
			pct = decimalHundred
		}
		r.Percent = pct.String()
	}
	return r
}

// closeWords says why a bonus is no longer open.
func closeWords(b Bonus) string {
	switch b.Status {
	case "released":
		return "The turnover was met: " + b.LotsDone.StringFixed(2) + " of " + b.LotsRequired.StringFixed(2) + " lots traded; the bonus is in the wallet."
	case "expired":
		return "It expired with " + b.LotsDone.StringFixed(2) + " of " + b.LotsRequired.StringFixed(2) + " lots traded; the bonus was removed."
	case "cancelled":
		return "Cancelled by staff: " + b.CloseReason
	case "forfeited":
		if b.CloseReason != "" {
			return "Forfeited: " + b.CloseReason
		}
		return "Forfeited."
	}
	return ""
}

type listPage struct {
	Rows                []bonusRow
	Statuses, Rules     []option
	Client, ClientName  string
	CSRF, Notice, Error string
	Problems            []string
	Open, ReleasedToday int
	Action              string
}

// list is the bonuses' list: newest first, filtered by status, rule and client, each open one with its cancel form.
func (p *pages) list(c *fiber.Ctx) error {
	return p.renderList(c, fiber.StatusOK, listPage{Notice: map[string]string{"cancelled": "The bonus is cancelled: the grant was reversed."}[c.Query("notice")]})
}

func (p *pages) renderList(c *fiber.Ctx, status int, d listPage) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	f := Filter{Status: c.Query("status")}
	if !slices.Contains(Statuses, f.Status) {
		f.Status = ""
	}
	rule, _ := uuid.Parse(c.Query("rule_id"))
	if rule != uuid.Nil {
		f.Rule = &rule
	}
	if client, err := uuid.Parse(c.Query("client_id")); err == nil {
		f.Client, d.Client = &client, client.String()
	}
	list, names, err := p.s.List(ctx, t, f)
	if err != nil {
		return err
	}
	for _, b := range list {
		r := toRow(b)
		r.Client, r.ClientHref = names[b.ClientID], clientPagePath+b.ClientID.String()+"?tab=bonuses"
		d.Rows = append(d.Rows, r)
	}
	if f.Client != nil && len(list) > 0 {
		d.ClientName = names[*f.Client]
	}
	d.Statuses = []option{{Value: "", Label: "Any status", Selected: f.Status == ""}}
	for _, st := range Statuses {
		d.Statuses = append(d.Statuses, option{Value: st, Label: statusWords[st].words, Selected: f.Status == st})
	}
	rules, err := p.s.Rules(ctx, t)
	if err != nil {
		return err
	}
	d.Rules = []option{{Value: "", Label: "Any rule", Selected: rule == uuid.Nil}}
	for _, r := range rules {
		d.Rules = append(d.Rules, option{Value: r.ID.String(), Label: r.Name, Selected: r.ID == rule})
	}
	n, err := p.s.CountsOf(ctx, t)
	if err != nil {
		return err
	}
	d.Open, d.ReleasedToday, d.CSRF, d.Action = n.Open, n.ReleasedToday, p.shell.CSRF(c), c.OriginalURL()
	return p.shell.Render(c, status, "bonuses_list", "Bonuses", d)
}

// cancel takes a bonus's cancel form: the reason is required.
func (p *pages) cancel(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return web.NotFound("No such bonus.")
	}
	err = p.s.Cancel(c.UserContext(), tenants.Current(c), identity.Actor(c), id, c.FormValue("reason"))
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such bonus.")
	}
	if err != nil {
		lines, status, ok := problemLines(apiError(err, "bonus"))
		if !ok {
			return err
		}
		return p.renderList(c, status, listPage{Error: "The bonus was not cancelled:", Problems: lines})
	}
	back := c.FormValue("back")
	if !strings.HasPrefix(back, listPath) || strings.HasPrefix(back, "//") {
		back = listPath
	}
	u, err := url.Parse(back)
	if err != nil {
		u = &url.URL{Path: listPath}
	}
	q := u.Query()
	q.Set("notice", "cancelled")
	u.RawQuery = q.Encode()
	return c.Redirect(u.Path+"?"+u.RawQuery, fiber.StatusSeeOther)
}

// problemLines are a mapped error's lines for a form ("reason: is required"); ok is false for an internal error.
func problemLines(mapped error) ([]string, int, bool) {
	pr, ok := web.ProblemOf(mapped)
	if !ok {
		return nil, 0, false
	}
	var out []string
	for _, fe := range pr.Errors {
		out = append(out, strings.ReplaceAll(strings.TrimPrefix(fe.Field, "terms."), "_", " ")+": "+fe.Message)
	}
	if len(out) == 0 {
		out = []string{pr.Detail}
	}
	return out, pr.Status, true
}

type ruleRow struct {
	Name, Href, Version, Trigger, Award, Turnover, Granted, Amount string
	Open                                                           int
	Active                                                         bool
}

// rules is finance's rules page: one dense row a rule.
func (p *pages) rules(c *fiber.Ctx) error {
	list, err := p.s.Rules(c.UserContext(), tenants.Current(c))
	if err != nil {
		return err
	}
	d := struct {
		Rows   []ruleRow
		Notice string
	}{}
	if name := c.Query("saved"); name != "" {
		d.Notice = "The rule " + name + " is saved."
	}
	for _, r := range list {
		d.Rows = append(d.Rows, ruleRow{Name: r.Name, Href: rulesPath + "/" + r.ID.String(), Version: "v" + strconv.Itoa(r.Version),
			Trigger: r.Terms.TriggerWords(r.Currency), Award: r.Terms.AwardWords(r.Currency), Turnover: r.Terms.TurnoverWords(r.Currency),
			Granted: strconv.Itoa(r.Granted), Amount: money.Amount{Minor: r.GrantedAmount, Currency: r.Currency}.String(), Open: r.Open,
			Active: r.Terms.Active && (r.Terms.Until == nil || r.Terms.Until.After(p.s.o.Now()))})
	}
	return p.shell.Render(c, fiber.StatusOK, "bonuses_rules", "Bonus rules", d)
}

// ruleForm is the rule form's data: every term as typed.
type ruleForm struct {
	ID, Name, Currency                                         string
	New, Active, Ended                                         bool
	DepositNumber, MinDeposit, MaxDeposit, GatewayKinds, Tiers string
	Countries, PromoCode, From, Until                          string
	Percent, Cap, Fixed, LotsPerUnit, MinHold, ValidDays       string
	MaxPerClient, MaxPerMonth                                  string
	Preview, Error, Notice, CSRF                               string
	Problems                                                   []string
	Errs                                                       map[string]string
	Versions                                                   []versionRow
	Groups                                                     []fieldGroup
	Granted                                                    string
}

type versionRow struct{ Version, At, Says string }

// fieldGroup is a fieldset of the rule form; each field shows its error next to it.
type fieldGroup struct {
	Legend string
	Fields []formField
}

type formField struct{ ID, Label, Value, Err, Mode string }

// groups lays out the form's terms.
func (d ruleForm) groups() []fieldGroup {
	f := func(id, label, value, mode string) formField {
		return formField{ID: id, Label: label, Value: value, Err: d.Errs[id], Mode: mode}
	}
	return []fieldGroup{
		{Legend: "Which deposits", Fields: []formField{
			f("deposit_number", "Which of the client's deposits (2: the second; empty: any)", d.DepositNumber, "numeric"),
			f("min_deposit", "Smallest deposit (empty: no bound)", d.MinDeposit, "decimal"),
			f("max_deposit", "Largest deposit (empty: no bound)", d.MaxDeposit, "decimal"),
			f("gateway_kinds", "Gateways' kinds: stripe, generic (empty: every gateway)", d.GatewayKinds, "text"),
			f("tiers", "Client tiers (empty: every tier)", d.Tiers, "text"),
			f("countries", "Client countries, ISO codes like DE, FR (empty: every country)", d.Countries, "text"),
			f("promo_code", "Promo code the client types at deposit (empty: none asked)", d.PromoCode, "text"),
			f("from", "Campaign from (UTC, like 2026-03-01T00:00; empty: open)", d.From, "text"),
			f("until", "Campaign until, excluded (UTC; empty: open)", d.Until, "text"),
		}},
		{Legend: "The award: a percent of the deposit, or a fixed amount", Fields: []formField{
			f("percent", "Percent of the deposit (50 is 50 %)", d.Percent, "decimal"),
			f("cap", "Up to (empty: no cap)", d.Cap, "decimal"),
			f("fixed", "Or a fixed amount", d.Fixed, "decimal"),
			f("max_per_client", "Bonuses of this rule per client, ever (empty: no bound)", d.MaxPerClient, "numeric"),
			f("max_per_month", "Most granted to one client in a calendar month (empty: no bound)", d.MaxPerMonth, "decimal"),
		}},
		{Legend: "Turnover and expiry", Fields: []formField{
			f("lots_per_unit", "Lots to trade per unit of bonus (0.5: a 100.00 bonus needs 50 lots)", d.LotsPerUnit, "decimal"),
			f("min_hold_seconds", "A deal counts only if its position was held this many seconds (empty: any)", d.MinHold, "numeric"),
			f("valid_days", "Expires after (days, 1 to 3650)", d.ValidDays, "numeric"),
		}},
	}
}

const formTime = "2006-01-02T15:04"

func formWhen(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(formTime)
}

func numText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// formOf is a rule's terms as the form shows them.
func formOf(r Rule) ruleForm {
	b := ToTermsBody(r.Terms, r.Currency)
	hold := ""
	if r.Terms.MinHoldSeconds > 0 {
		hold = strconv.FormatInt(r.Terms.MinHoldSeconds, 10)
	}
	return ruleForm{ID: r.ID.String(), Name: r.Name, Currency: r.Currency.Code, Active: r.Terms.Active, DepositNumber: numText(r.Terms.DepositNumber),
		MinDeposit: b.MinDeposit, MaxDeposit: b.MaxDeposit, GatewayKinds: strings.Join(r.Terms.GatewayKinds, ", "), Tiers: strings.Join(r.Terms.Tiers, ", "),
		Countries: strings.Join(r.Terms.Countries, ", "), PromoCode: r.Terms.PromoCode, From: formWhen(r.Terms.From), Until: formWhen(r.Terms.Until),
		Percent: b.Percent, Cap: b.Cap, Fixed: b.Fixed, LotsPerUnit: b.LotsPerUnit, MinHold: hold, ValidDays: numText(r.Terms.ValidDays),
		MaxPerClient: numText(r.Terms.MaxPerClient), MaxPerMonth: b.MaxPerMonth}
}

// rule is one rule's page: its form at the latest version and its versions.
func (p *pages) rule(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return web.NotFound("No such bonus rule.")
	}
	r, err := p.s.Rule(c.UserContext(), tenants.Current(c), id, 0)
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such bonus rule.")
	} else if err != nil {
		return err
	}
	d := formOf(r)
	d.Notice = map[string]string{"ended": "The rule's campaign is ended: deposits from now on get nothing under it."}[c.Query("notice")]
	return p.renderRule(c, fiber.StatusOK, d)
}

func (p *pages) renderRule(c *fiber.Ctx, status int, d ruleForm) error {
	d.CSRF, d.Groups = p.shell.CSRF(c), d.groups()
	title := "New bonus rule"
	if !d.New {
		id, err := uuid.Parse(d.ID)
		if err != nil {
			return web.NotFound("No such bonus rule.")
		}
		ctx, t := c.UserContext(), tenants.Current(c)
		vs, err := p.s.RuleVersions(ctx, t, id)
		if errors.Is(err, ErrNotFound) {
			return web.NotFound("No such bonus rule.")
		} else if err != nil {
			return err
		}
		for _, v := range vs {
			d.Versions = append(d.Versions, versionRow{Version: "v" + strconv.Itoa(v.Version), At: v.CreatedAt.UTC().Format("2006-01-02 15:04"),
				Says: v.Terms.Describe(v.Currency)})
		}
		latest := vs[0]
		d.Ended = latest.Terms.Until != nil && !latest.Terms.Until.After(p.s.o.Now())
		if sum, err := p.s.ruleSummary(ctx, t, id); err == nil {
			d.Granted = strconv.Itoa(sum.Granted) + " bonuses granted (" + money.Amount{Minor: sum.GrantedAmount, Currency: sum.Currency}.String() + "), " +
				strconv.Itoa(sum.Open) + " open"
		}
		title = "Bonus rule " + latest.Name
		if d.Preview == "" && d.Error == "" {
			d.Preview = latest.Terms.Describe(latest.Currency)
		}
	}
	return p.shell.Render(c, status, "bonuses_rule", title, d)
}

// termsOf reads the form's terms; a field it cannot read is recorded in f under the terms' field name.
func termsOf(d ruleForm, f *validation.Fields) Terms {
	atoi := func(field, s string) int {
		s = strings.TrimSpace(s)
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			f.Add(field, "must be a whole number")
		}
		return n
	}
	when := func(field, s string) *time.Time {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		for _, layout := range []string{formTime, "2006-01-02"} {
			if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				return &t
			}
		}
		f.Add(field, "must be a date and time (UTC), like 2026-03-01T00:00")
		return nil
	}
	list := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	}
	b := TermsBody{Active: d.Active, DepositNumber: atoi("deposit_number", d.DepositNumber), MinDeposit: d.MinDeposit, MaxDeposit: d.MaxDeposit,
		GatewayKinds: list(d.GatewayKinds), Tiers: list(d.Tiers), Countries: list(d.Countries), PromoCode: d.PromoCode, From: when("from", d.From),
		Until: when("until", d.Until), Percent: d.Percent, Cap: d.Cap, Fixed: d.Fixed, LotsPerUnit: d.LotsPerUnit,
		MinHoldSeconds: int64(atoi("min_hold_seconds", d.MinHold)), ValidDays: atoi("valid_days", d.ValidDays),
		MaxPerClient: atoi("max_per_client", d.MaxPerClient), MaxPerMonth: d.MaxPerMonth}
	terms, err := b.ToTerms()
	f.Merge(err)
	return terms
}

// saveRule takes the rule form: "preview" draws the sentence without saving; otherwise a new rule is made, or the
// rule gets a new version.
func (p *pages) saveRule(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := ruleForm{ID: c.FormValue("id"), New: c.FormValue("id") == "", Name: strings.TrimSpace(c.FormValue("name")),
		Currency: strings.ToUpper(strings.TrimSpace(c.FormValue("currency"))), Active: c.FormValue("active") == "on",
		DepositNumber: c.FormValue("deposit_number"), MinDeposit: c.FormValue("min_deposit"), MaxDeposit: c.FormValue("max_deposit"),
		GatewayKinds: c.FormValue("gateway_kinds"), Tiers: c.FormValue("tiers"), Countries: c.FormValue("countries"), PromoCode: c.FormValue("promo_code"),
		From: c.FormValue("from"), Until: c.FormValue("until"), Percent: c.FormValue("percent"), Cap: c.FormValue("cap"), Fixed: c.FormValue("fixed"),
		LotsPerUnit: c.FormValue("lots_per_unit"), MinHold: c.FormValue("min_hold_seconds"), ValidDays: c.FormValue("valid_days"),
		MaxPerClient: c.FormValue("max_per_client"), MaxPerMonth: c.FormValue("max_per_month")}
	var id uuid.UUID
	if !d.New {
		var err error
		if id, err = uuid.Parse(d.ID); err != nil {
			return web.NotFound("No such bonus rule.")
		}
		r, err := p.s.Rule(ctx, t, id, 0)
		if errors.Is(err, ErrNotFound) {
			return web.NotFound("No such bonus rule.")
		} else if err != nil {
			return err
		}
		d.Name, d.Currency = r.Name, r.Currency.Code
	}
	var f validation.Fields
	terms := termsOf(d, &f)
	cur, ok := money.Lookup(d.Currency)
	if !ok {
		f.Add("currency", "not a currency BrokerDesk knows")
	}
	var err error
	switch {
	case f.Len() > 0:
		err = f.Err()
	case c.FormValue("preview") != "":
		if err = terms.Validate(cur); err == nil {
			d.Preview = terms.Describe(cur)
			return p.renderRule(c, fiber.StatusOK, d)
		}
	case d.New:
		_, err = p.s.CreateRule(ctx, t, identity.Actor(c), d.Name, d.Currency, terms)
	default:
		_, err = p.s.EditRule(ctx, t, identity.Actor(c), id, terms)
	}
	if err != nil {
		v, ok := validation.As(err)
		if !ok {
			return apiError(err, "bonus rule")
		}
		d.Errs = map[string]string{}
		for _, fe := range v.Fields {
			name := strings.TrimPrefix(fe.Field, "terms.")
			if d.Errs[name] == "" {
				d.Errs[name] = fe.Message
			}
			d.Problems = append(d.Problems, strings.ReplaceAll(name, "_", " ")+": "+fe.Message)
		}
		d.Error = "The rule was not saved:"
		if c.FormValue("preview") != "" {
			d.Error = "The rule cannot do that:"
		}
		return p.renderRule(c, fiber.StatusUnprocessableEntity, d)
	}
	return c.Redirect(rulesPath+"?"+url.Values{"saved": {d.Name}}.Encode(), fiber.StatusSeeOther)
}

// endRule takes the rule's "End the campaign now" button.
func (p *pages) endRule(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return web.NotFound("No such bonus rule.")
	}
	if _, err := p.s.EndRule(c.UserContext(), tenants.Current(c), identity.Actor(c), id); err != nil && !errors.Is(err, ErrEnded) {
		return apiError(err, "bonus rule")
	}
	return c.Redirect(rulesPath+"/"+id.String()+"?notice=ended", fiber.StatusSeeOther)
}

type hubData struct {
	Rows     []bonusRow
	Why      []whyRow
	ListHref string
}

type whyRow struct {
	At, Rule, Deposit, Says string
	Granted                 bool
}

// hubTab is the client page's Bonuses tab: the client's bonuses with their progress, and every rule's decision on
// their deposits in sentences.
func (p *pages) hubTab(c *fiber.Ctx, client uuid.UUID) (template.HTML, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	list, err := p.s.ClientBonuses(ctx, t, client)
	if err != nil {
		return "", err
	}
	d := hubData{ListHref: listPath + "?client_id=" + client.String()}
	for _, b := range list {
		d.Rows = append(d.Rows, toRow(b))
	}
	evs, err := p.s.Evaluations(ctx, t, client)
	if err != nil {
		return "", err
	}
	for _, e := range evs {
		d.Why = append(d.Why, whyRow{At: e.At.UTC().Format("2006-01-02 15:04"), Rule: e.Explanation.Rule + " v" + strconv.Itoa(e.RuleVersion),
			Deposit: DepositWords(e.Explanation.Deposit), Says: WhyWords(e), Granted: e.Granted})
	}
	return p.shell.Fragment(c, "bonuses_hub", d)
}

// portal is the trader's bonuses: each with its progress, amount, expiry and status.
func (p *pages) portal(c *fiber.Ctx) error {
	client, err := p.s.portalClient(c)
	if err != nil {
		return err
	}
	list, err := p.s.ClientBonuses(c.UserContext(), tenants.Current(c), client)
	if err != nil {
		return err
	}
	var rows []bonusRow
	for _, b := range list {
		r := toRow(b)
		r.Rule = b.RuleName // the version is the back office's concern
		if b.Status == "cancelled" {
			r.Why = "Cancelled by the brokerage: " + b.CloseReason
		}
		rows = append(rows, r)
	}
	return p.shell.Render(c, fiber.StatusOK, "bonuses_portal", "Bonuses", rows)
}
