package partners

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The plan editor (docs/partners.md, "Pages"): ib_managers make a plan and change it (each save is a new version;
// rows keep theirs) through one form, whose fields are named as the API's (rules.lines.0.per_lot), so the API's
// validation answers both and each refusal is said beside its field. The same form previews a deal with the rules
// as typed, through Preview (the engine's computation), without saving.
//
//	/backoffice/partner-plans             the plans at their latest versions
//	/backoffice/partner-plans/new         a new plan (GET the form, POST to preview or make it)
//	/backoffice/partner-plans/:id         a plan at its latest version (?version=N an older one), its versions;
//	                                      POST to preview or save a new version

const plansPath = "/backoffice/partner-plans"

// blankLines is how many empty lines the form offers beyond a plan's own.
const blankLines = 3

func (s *Service) mountPlanPages(p *pages) {
	p.shell.Nav(web.NavEntry{Group: web.GroupPartners, Label: "Commission plans", Href: plansPath, Permission: PermManage, Order: 20})
	p.shell.Page(fiber.MethodGet, plansPath, PermManage, p.plans)
	p.shell.Page(fiber.MethodGet, plansPath+"/new", PermManage, p.planForm)
	p.shell.Post(plansPath+"/new", PermManage, p.savePlan)
	p.shell.Page(fiber.MethodGet, plansPath+"/:id", PermManage, p.planForm)
	p.shell.Post(plansPath+"/:id", PermManage, p.savePlan)
}

// PlanVersions lists a plan's versions, newest first (ErrNotFound: no such plan).
func (s *Service) PlanVersions(ctx context.Context, t tenants.Tenant, id uuid.UUID) ([]Plan, error) {
	var out []Plan
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT p.id, p.name, p.currency, v.version, v.rules, v.created_at FROM partner_plans p
			JOIN partner_plan_versions v ON v.plan_id = p.id WHERE p.id = $1 ORDER BY v.version DESC`, id)
		if err != nil {
			return err
		}
		if out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Plan, error) { return scanPlan(r) }); err != nil {
			return err
		}
		if len(out) == 0 {
			return ErrNotFound
		}
		return nil
	})
	return out, err
}

type planRow struct{ Name, Href, Currency, Version, Since, Lines, Partners string }

func (p *pages) plans(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	list, err := p.s.Plans(ctx, t)
	if err != nil {
		return err
	}
	partners, err := p.s.Partners(ctx, t, "")
	if err != nil {
		return err
	}
	on := map[uuid.UUID]int{}
	for _, x := range partners {
		if x.PlanID != nil {
			on[*x.PlanID]++
		}
	}
	var rows []planRow
	for _, pl := range list {
		var lines []string
		for _, l := range pl.Rules.Lines {
			lines = append(lines, lineLabel(l)+" "+joinDecimals(l.PerLot))
		}
		rows = append(rows, planRow{Name: pl.Name, Href: plansPath + "/" + pl.ID.String(), Currency: pl.Currency.Code, Version: "v" + strconv.Itoa(pl.Version),
			Since: pl.CreatedAt.UTC().Format("2006-01-02 15:04"), Lines: strings.Join(lines, "; "), Partners: strconv.Itoa(on[pl.ID])})
	}
	return p.shell.Render(c, fiber.StatusOK, "partners_plans", "Commission plans", struct{ Rows []planRow }{rows})
}

func lineLabel(l Line) string {
	switch {
	case l.Symbol != "":
		return l.Symbol
	case l.Group != "":
		return "group " + l.Group
	}
	return "default"
}

type lineField struct {
	Index                        int
	Symbol, Group, PerLot, Error string
}

type versionRow struct {
	Version, Href, When string
	Shown               bool
}

type previewRow struct {
	Level                       int
	Partner, Plan, Amount, Kind string
	Why                         string
	Tone                        web.Tone
}

type planFormPage struct {
	New                                                 bool
	Action, CSRF, Name, Currency, Notice, Problem       string
	Currencies, PayOns, Partners, Deals                 []option
	Lines                                               []lineField
	Groups, Percent, Modifiers, Excluded, MinHold       string
	CPAAmount, CPAMin                                   string
	Errors                                              map[string]string
	Latest, Shown, Next                                 int
	Versions                                            []versionRow
	DealPartner, DealAt, DealSymbol, DealLots, DealType string
	DealHeld                                            string
	Says                                                string
	Preview                                             []previewRow
	PreviewAll                                          bool
}

func joinDecimals[D interface{ String() string }](ds []D) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, ", ")
}

// fill writes rules into the form's fields.
func (d *planFormPage) fill(r Rules) {
	b := ToRulesBody(r)
	d.Lines = nil
	for i, l := range b.Lines {
		d.Lines = append(d.Lines, lineField{Index: i, Symbol: l.Symbol, Group: l.Group, PerLot: strings.Join(l.PerLot, ", ")})
	}
	var groups, pct, mods []string
	for _, name := range sortedNames(b.Groups) {
		groups = append(groups, name+": "+strings.Join(b.Groups[name], ", "))
	}
	for _, x := range b.PercentOfBelow {
		pct = append(pct, strconv.Itoa(x.Level)+": "+x.Percent)
	}
	for _, slug := range sortedNames(b.LotModifiers) {
		mods = append(mods, slug+": "+b.LotModifiers[slug])
	}
	d.Groups, d.Percent, d.Modifiers = strings.Join(groups, "\n"), strings.Join(pct, "\n"), strings.Join(mods, "\n")
	d.Excluded = strings.Join(b.ExcludedAccountTypes, ", ")
	d.MinHold = ""
	if b.MinHoldSeconds > 0 {
		d.MinHold = strconv.Itoa(b.MinHoldSeconds)
	}
	d.PayOns = payOnOptions(b.PayOn)
	if b.CPA != nil {
		d.CPAAmount, d.CPAMin = b.CPA.Amount, b.CPA.MinDeposit
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func payOnOptions(v string) []option {
	if v == "" {
		v = string(PayOnClose)
	}
	out := []option{}
	for _, x := range []struct{ v, l string }{{"close", "the closing side"}, {"open", "the opening side"}, {"both", "both sides (twice the lots)"}} {
		out = append(out, option{Value: x.v, Label: x.l, Selected: x.v == v})
	}
	return out
}

// pairs reads "Metals: XAUUSD, XAGUSD" lines; a line without a colon is a field error.
func pairs(f *validation.Fields, field, text string) [][2]string {
	var out [][2]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			f.Add(field, "one per line, a name, a colon, then the value ("+strconv.Quote(line)+" has no colon)")
			continue
		}
		out = append(out, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// rulesOfForm reads the form's rules as the API's body; what the form itself cannot read is a field error.
func rulesOfForm(c *fiber.Ctx, d *planFormPage) (RulesBody, error) {
	form := func(k string) string { return utils.CopyString(c.FormValue(k)) }
	var f validation.Fields
	var b RulesBody
	d.Lines = nil
	for i := 0; i < 200; i++ {
		sym, grp, per := strings.TrimSpace(form("rules.lines."+strconv.Itoa(i)+".symbol")), strings.TrimSpace(form("rules.lines."+strconv.Itoa(i)+".group")),
			strings.TrimSpace(form("rules.lines."+strconv.Itoa(i)+".per_lot"))
		if !c.Request().PostArgs().Has("rules.lines." + strconv.Itoa(i) + ".per_lot") {
			break
		}
		if sym == "" && grp == "" && per == "" {
			continue // a blank line of the form
		}
		n := len(b.Lines)
		b.Lines = append(b.Lines, LineBody{Symbol: sym, Group: grp, PerLot: splitList(per)})
		d.Lines = append(d.Lines, lineField{Index: n, Symbol: sym, Group: grp, PerLot: per})
	}
	d.Groups, d.Percent, d.Modifiers, d.Excluded = form("rules.groups"), form("rules.percent_of_below"), form("rules.lot_modifiers"), form("rules.excluded_account_types")
	d.MinHold, d.CPAAmount, d.CPAMin = strings.TrimSpace(form("rules.min_hold_seconds")), strings.TrimSpace(form("rules.cpa.amount")), strings.TrimSpace(form("rules.cpa.min_deposit"))
	d.PayOns = payOnOptions(form("rules.pay_on"))
	b.PayOn = form("rules.pay_on")
	for _, kv := range pairs(&f, "rules.groups", d.Groups) {
		if b.Groups == nil {
			b.Groups = map[string][]string{}
		}
		b.Groups[kv[0]] = splitList(kv[1])
	}
	for _, kv := range pairs(&f, "rules.percent_of_below", d.Percent) {
		level, err := strconv.Atoi(kv[0])
		if err != nil {
			f.Add("rules.percent_of_below", "a level number, a colon, then the percent (2: 25)")
			continue
		}
		b.PercentOfBelow = append(b.PercentOfBelow, LevelPercentBody{Level: level, Percent: kv[1]})
	}
	for _, kv := range pairs(&f, "rules.lot_modifiers", d.Modifiers) {
		if b.LotModifiers == nil {
			b.LotModifiers = map[string]string{}
		}
		b.LotModifiers[kv[0]] = kv[1]
	}
	b.ExcludedAccountTypes = splitList(d.Excluded)
	if d.MinHold != "" {
		n, err := strconv.Atoi(d.MinHold)
		if err != nil {
			f.Add("rules.min_hold_seconds", "a number of seconds")
		}
		b.MinHoldSeconds = n
	}
	if d.CPAAmount != "" || d.CPAMin != "" {
		b.CPA = &CPABody{Amount: d.CPAAmount, MinDeposit: d.CPAMin}
		if b.CPA.MinDeposit == "" {
			b.CPA.MinDeposit = "0"
		}
	}
	return b, f.Err()
}

// section is where a field's refusal shows on the form: beside its line, or its box.
func section(field string) string {
	if rest, ok := strings.CutPrefix(field, "rules.lines."); ok {
		n, _, _ := strings.Cut(rest, ".")
		return "rules.lines." + n
	}
	for _, s := range []string{"rules.groups", "rules.percent_of_below", "rules.lot_modifiers", "rules.cpa"} {
		if strings.HasPrefix(field, s) {
			return s
		}
	}
	return field
}

// sayErrors puts each refusal beside its field (the line's own errors on the line).
func (d *planFormPage) sayErrors(err error) bool {
	v, ok := validation.As(err)
	if !ok {
		return false
	}
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	for _, fe := range v.Fields {
		sec := section(fe.Field)
		msg := fe.Message
		if fe.Field != sec {
			msg = strings.TrimPrefix(strings.TrimPrefix(fe.Field, sec), ".") + ": " + msg
		}
		if prev := d.Errors[sec]; prev != "" {
			msg = prev + "; " + msg
		}
		d.Errors[sec] = msg
	}
	for i := range d.Lines {
		d.Lines[i].Error = d.Errors["rules.lines."+strconv.Itoa(d.Lines[i].Index)]
	}
	d.Problem = "Nothing was saved: see the fields marked below."
	return true
}

// base is the form's page without its rules: the plan (nil: a new one), its versions, the preview's choices.
func (p *pages) base(c *fiber.Ctx, plan *uuid.UUID) (planFormPage, error) {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := planFormPage{New: plan == nil, PreviewAll: plan == nil, Action: plansPath + "/new", CSRF: p.shell.CSRF(c), Currency: "USD", PayOns: payOnOptions("")}
	if plan != nil {
		versions, err := p.s.PlanVersions(ctx, t, *plan)
		if err != nil {
			return d, err
		}
		d.Action, d.Name, d.Currency, d.Latest = plansPath+"/"+plan.String(), versions[0].Name, versions[0].Currency.Code, versions[0].Version
		d.Next = d.Latest + 1
		for _, v := range versions {
			d.Versions = append(d.Versions, versionRow{Version: "v" + strconv.Itoa(v.Version), Href: d.Action + "?version=" + strconv.Itoa(v.Version),
				When: v.CreatedAt.UTC().Format("2006-01-02 15:04 UTC")})
		}
	}
	partners, err := p.s.Partners(ctx, t, StatusActive)
	if err != nil {
		return d, err
	}
	for _, x := range partners {
		d.Partners = append(d.Partners, option{Value: x.ID.String(), Label: x.Name})
	}
	deals, err := p.s.RecentDeals(ctx, t, plan, 20)
	if err != nil {
		return d, err
	}
	d.Deals = []option{{Value: "", Label: "the deal typed below"}}
	for _, x := range deals {
		q := url.Values{"partner": {x.Partner.String()}, "at": {x.At.UTC().Format(time.RFC3339Nano)}, "symbol": {x.Trade.Symbol},
			"lots": {x.Trade.Lots.String()}, "type": {x.Trade.AccountType}}
		if x.Trade.HeldSeconds != nil {
			q.Set("held", strconv.FormatInt(*x.Trade.HeldSeconds, 10))
		}
		d.Deals = append(d.Deals, option{Value: q.Encode(), Label: x.At.UTC().Format("2006-01-02 15:04") + " · " + x.Ticket + " on " + x.Login + " · " +
			x.Trade.Symbol + " " + x.Trade.Lots.String() + " lots · " + x.PartnerName + "'s client"})
	}
	for _, code := range money.Codes() {
		d.Currencies = append(d.Currencies, option{Value: code, Label: code, Selected: code == d.Currency})
	}
	return d, nil
}

// routePlan is the plan the route names (nil on /new) with the form's base: 404 for an id that is no plan of the
// tenant.
func (p *pages) routePlan(c *fiber.Ctx) (*uuid.UUID, planFormPage, error) {
	var id *uuid.UUID
	if c.Params("id") != "" {
		x, err := web.ParseID(c, "id")
		if err != nil {
			return nil, planFormPage{}, web.NotFound("No such plan.")
		}
		id = &x
	}
	d, err := p.base(c, id)
	if errors.Is(err, ErrNotFound) {
		return nil, d, web.NotFound("No such plan.")
	}
	return id, d, err
}

func (p *pages) planForm(c *fiber.Ctx) error {
	id, d, err := p.routePlan(c)
	if err != nil {
		return err
	}
	title := "New commission plan"
	if id != nil {
		title = d.Name
		v, _ := strconv.Atoi(c.Query("version"))
		pl, err := p.s.Plan(c.UserContext(), tenants.Current(c), *id, v)
		if errors.Is(err, ErrNotFound) {
			return web.NotFound("No such version of the plan.")
		} else if err != nil {
			return err
		}
		d.Shown = pl.Version
		d.fill(pl.Rules)
		if c.Query("notice") == "saved" {
			d.Notice = "Saved as version " + strconv.Itoa(d.Latest) + ". Deals from now on are paid with it; rows already written keep their version."
		}
	}
	for i := range d.Versions {
		d.Versions[i].Shown = d.Versions[i].Version == "v"+strconv.Itoa(d.Shown)
	}
	d.padLines()
	return p.shell.Render(c, fiber.StatusOK, "partners_plan", title, d)
}

func (d *planFormPage) padLines() {
	for range blankLines {
		d.Lines = append(d.Lines, lineField{Index: len(d.Lines)})
	}
}

// savePlan previews the typed rules (do=preview) or saves them: a new plan, or a new version of this one.
func (p *pages) savePlan(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	id, d, err := p.routePlan(c)
	if err != nil {
		return err
	}
	d.Shown = d.Latest
	title := d.Name
	if id == nil {
		title = "New commission plan"
		d.Name, d.Currency = strings.TrimSpace(utils.CopyString(c.FormValue("name"))), strings.TrimSpace(utils.CopyString(c.FormValue("currency")))
		for i := range d.Currencies {
			d.Currencies[i].Selected = d.Currencies[i].Value == d.Currency
		}
	}
	body, ferr := rulesOfForm(c, &d)
	render := func(status int) error {
		d.padLines()
		return p.shell.Render(c, status, "partners_plan", title, d)
	}
	if c.FormValue("do") == "preview" {
		status, err := p.preview(c, &d, id, body, ferr)
		if err != nil {
			return err
		}
		return render(status)
	}
	if d.sayErrors(ferr) {
		return render(fiber.StatusUnprocessableEntity)
	}
	r, err := body.ToRules()
	if d.sayErrors(err) {
		return render(fiber.StatusUnprocessableEntity)
	}
	var saved Plan
	if id == nil {
		saved, err = p.s.CreatePlan(ctx, t, identity.Actor(c), d.Name, d.Currency, r)
	} else {
		saved, err = p.s.EditPlan(ctx, t, identity.Actor(c), *id, r)
	}
	if d.sayErrors(prefixRules(err)) {
		return render(fiber.StatusUnprocessableEntity)
	} else if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such plan.")
	} else if err != nil {
		return err
	}
	return c.Redirect(plansPath+"/"+saved.ID.String()+"?notice=saved", fiber.StatusSeeOther)
}

// preview fills the form's preview: the deal picked (or typed) paid with the typed rules; the status to answer.
func (p *pages) preview(c *fiber.Ctx, d *planFormPage, plan *uuid.UUID, rules RulesBody, ferr error) (int, error) {
	form := func(k string) string { return strings.TrimSpace(utils.CopyString(c.FormValue(k))) }
	d.DealPartner, d.DealAt, d.DealSymbol, d.DealLots, d.DealType, d.DealHeld = form("deal.partner"), form("deal.at"), form("deal.symbol"),
		form("deal.lots"), form("deal.type"), form("deal.held")
	if picked := form("deal"); picked != "" {
		if q, err := url.ParseQuery(picked); err == nil {
			d.DealPartner, d.DealAt, d.DealSymbol, d.DealLots, d.DealType, d.DealHeld = q.Get("partner"), q.Get("at"), q.Get("symbol"), q.Get("lots"),
				q.Get("type"), q.Get("held")
		}
	}
	for i := range d.Partners {
		d.Partners[i].Selected = d.Partners[i].Value == d.DealPartner
	}
	if d.sayErrors(ferr) {
		d.Problem = "The rules as typed cannot be previewed: see the fields marked below."
		return fiber.StatusUnprocessableEntity, nil
	}
	b := PreviewBody{PartnerID: d.DealPartner, Symbol: d.DealSymbol, Lots: d.DealLots, AccountType: d.DealType, Rules: &rules, Currency: d.Currency}
	var f validation.Fields
	if plan != nil {
		s := plan.String()
		b.PlanID = &s
	}
	if d.DealAt != "" {
		at, err := time.Parse(time.RFC3339Nano, d.DealAt)
		if err != nil {
			if at, err = time.Parse("2006-01-02T15:04", d.DealAt); err != nil {
				f.Add("deal.at", "a date and time, like 2026-12-07T14:30")
			}
		}
		b.At = &at
	}
	if d.DealHeld != "" {
		n, err := strconv.ParseInt(d.DealHeld, 10, 64)
		if err != nil {
			f.Add("deal.held_seconds", "a number of seconds")
		}
		b.HeldSeconds = &n
	}
	in, err := p.s.PreviewInputOf(c.UserContext(), tenants.Current(c), b)
	if v, ok := validation.As(err); ok {
		for _, fe := range v.Fields {
			if !strings.HasPrefix(fe.Field, "rules.") && fe.Field != "currency" && fe.Field != "plan_id" {
				fe.Field = "deal." + fe.Field
			}
			f.Add(fe.Field, fe.Message)
		}
	} else if errors.Is(err, errNoPlan) {
		return 0, web.NotFound("No such plan.")
	} else if errors.Is(err, ErrNotFound) {
		f.Add("deal.partner_id", "choose a partner")
	} else if err != nil {
		return 0, err
	}
	if d.sayErrors(f.Err()) {
		d.Problem = "This cannot be previewed: see the fields marked below."
		return fiber.StatusUnprocessableEntity, nil
	}
	levels, err := p.s.Preview(c.UserContext(), tenants.Current(c), in)
	if err != nil {
		return 0, err
	}
	d.Says = PreviewSays(levels)
	for _, r := range ToPreviewResponse(levels).Levels {
		row := previewRow{Level: r.Level, Partner: r.Partner, Amount: r.Amount + " " + r.Currency, Kind: kindWords[r.Kind], Why: r.Says, Tone: web.ToneGood}
		switch {
		case r.Draft:
			row.Plan = "this draft"
		case r.PlanVersion > 0:
			row.Plan = "its plan, v" + strconv.Itoa(r.PlanVersion)
		}
		if r.Kind == KindNothing {
			row.Tone, row.Amount = web.ToneWarn, "—"
		}
		d.Preview = append(d.Preview, row)
	}
	return fiber.StatusOK, nil
}
