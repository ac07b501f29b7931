package partners

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The back office's partner pages for ib_managers (docs/partners.md, "Pages"): server-rendered, read-only for now.
//
//	/backoffice/partners        every partner: status, codes, plan, parent; ?status= filters
//	/backoffice/partners/:id    a partner in one line, its tree now, its commission rows with their explanations;
//	                            filters from, to, symbol, level, kind, reason

// PageFiles are the module's page templates, for web.NewPages.
//
//go:embed pages/*.html
var PageFiles embed.FS

const partnersPath = "/backoffice/partners"

// clientPagePath is the clients module's page of a client.
const clientPagePath = "/backoffice/clients/"

type pages struct {
	shell *web.Shell
	s     *Service
}

func (s *Service) mountPages(shell *web.Shell) {
	p := &pages{shell: shell, s: s}
	shell.Nav(web.NavEntry{Group: web.GroupPartners, Label: "Partners", Href: partnersPath, Permission: PermManage, Order: 10})
	shell.Page(fiber.MethodGet, partnersPath, PermManage, p.list)
	shell.Page(fiber.MethodGet, partnersPath+"/:id", PermManage, p.partner)
	s.mountPortalPages(p)
	s.mountPlanPages(p)
	s.mountActionPages(p)
	s.mountReportPages(p)
	s.mountLivePages(p)
	s.mountMoneyPages(p)
	p.mountSettingsPage()
	p.mountClientHub()
}

type option struct {
	Value, Label string
	Selected     bool
}

type partnerRow struct {
	Name, Href, Status, Codes, Plan, Parent, Since string
	Tone                                           web.Tone
}

type listPage struct {
	Status   string
	Statuses []option
	Rows     []partnerRow
}

var statusWords = map[Status]struct {
	words string
	tone  web.Tone
}{
	StatusApplied: {"Applied: waits for approval", web.ToneWarn}, StatusActive: {"Active", web.ToneGood},
	StatusRejected: {"Rejected", web.ToneBad}, StatusSuspended: {"Suspended", web.ToneBad},
}

func (p *pages) list(c *fiber.Ctx) error {
	st := Status(c.Query("status"))
	if _, ok := statusWords[st]; !ok {
		st = ""
	}
	list, err := p.s.Partners(c.UserContext(), tenants.Current(c), st)
	if err != nil {
		return err
	}
	names := map[uuid.UUID]string{}
	if st != "" { // parents may be of another status
		all, err := p.s.Partners(c.UserContext(), tenants.Current(c), "")
		if err != nil {
			return err
		}
		for _, x := range all {
			names[x.ID] = x.Name
		}
	} else {
		for _, x := range list {
			names[x.ID] = x.Name
		}
	}
	d := listPage{Status: string(st)}
	d.Statuses = append(d.Statuses, option{Value: "", Label: "Every status", Selected: st == ""})
	for _, s := range []Status{StatusApplied, StatusActive, StatusSuspended, StatusRejected} {
		d.Statuses = append(d.Statuses, option{Value: string(s), Label: statusWords[s].words, Selected: s == st})
	}
	for _, x := range list {
		var codes []string
		for _, code := range x.Codes {
			w := code.Code
			if code.Campaign != "" {
				w += " (" + code.Campaign + ")"
			}
			codes = append(codes, w)
		}
		r := partnerRow{Name: x.Name, Href: partnersPath + "/" + x.ID.String(), Status: statusWords[x.Status].words, Tone: statusWords[x.Status].tone,
			Codes: strings.Join(codes, ", "), Plan: x.PlanName, Since: x.CreatedAt.UTC().Format("2006-01-02")}
		if x.ParentID != nil {
			r.Parent = names[*x.ParentID]
		}
		d.Rows = append(d.Rows, r)
	}
	return p.shell.Render(c, fiber.StatusOK, "partners_list", "Partners", d)
}

type nodeRow struct {
	Name, Href, Status string
	Indent, Clients    int
	Tone               web.Tone
}

type commissionRow struct {
	ID, Time, Ticket, Login, Client, ClientHref, Symbol, Matched, Lots, Level, Plan, Amount, Kind, Why string
	Tone                                                                                               web.Tone
}

type partnerPage struct {
	Name, Status, Plan, Parent, ParentHref, Codes, Earned, Action string
	Tone                                                          web.Tone
	Tree                                                          []nodeRow
	From, To, Symbol, Level, Kind, Reason                         string
	Kinds, Reasons                                                []option
	Rows                                                          []commissionRow
	Error                                                         string
	Problems                                                      []string
	Actions                                                       actionsView
	// Payouts and Recalc are drawn by payouts_http.go.
	Payouts, Recalc template.HTML
}

var kindWords = map[string]string{KindPaid: "paid", KindNothing: "paid nothing", KindReversal: "reversed"}

func (p *pages) partner(c *fiber.Ctx) error { return p.partnerWith(c, fiber.StatusOK, recalcPart{}) }

// partnerWith draws the partner page with status (422 when an action's form was refused), the recalculation part as
// form says (after its form was sent).
func (p *pages) partnerWith(c *fiber.Ctx, status int, form recalcPart) error {
	id, err := web.ParseID(c, "id")
	if err != nil {
		return web.NotFound("No such partner.")
	}
	ctx, t := c.UserContext(), tenants.Current(c)
	x, err := p.s.Partner(ctx, t, id)
	if errors.Is(err, ErrNotFound) {
		return web.NotFound("No such partner.")
	} else if err != nil {
		return err
	}
	w := statusWords[x.Status]
	d := partnerPage{Name: x.Name, Status: w.words, Tone: w.tone, Plan: x.PlanName, Action: partnersPath + "/" + id.String(),
		From: c.Query("from"), To: c.Query("to"), Symbol: c.Query("symbol"), Level: c.Query("level"), Kind: c.Query("kind"), Reason: c.Query("reason")}
	var codes []string
	for _, code := range x.Codes {
		codes = append(codes, code.Code+" (/?ref="+code.Code+")")
	}
	d.Codes = strings.Join(codes, ", ")
	if d.Actions, err = p.actions(c, x); err != nil {
		return err
	} else if d.Actions.Failed != "" {
		status = fiber.StatusUnprocessableEntity
	}
	if x.ParentID != nil {
		if parent, err := p.s.Partner(ctx, t, *x.ParentID); err == nil {
			d.Parent, d.ParentHref = parent.Name, partnersPath+"/"+parent.ID.String()
		}
	}
	earned, wallet, err := p.s.money(ctx, t, id)
	if err != nil {
		return err
	}
	paid, err := p.s.PaidOut(ctx, t, id)
	if err != nil {
		return err
	}
	var sums []string
	for _, code := range slices.Sorted(maps.Keys(earned)) {
		v := earned[code]
		if cur, ok := money.Lookup(code); ok {
			line := money.Amount{Minor: v, Currency: cur}.String() + " earned, " + money.Amount{Minor: wallet[code], Currency: cur}.String() + " in the wallet"
			if paid[code] != 0 {
				line += " after " + money.Amount{Minor: paid[code], Currency: cur}.String() + " paid out"
			}
			if wallet[code] != v-paid[code] {
				line += " (the rest with the next batch)"
			}
			sums = append(sums, line)
		}
	}
	d.Earned = strings.Join(sums, "; ")
	if d.Payouts, err = p.payoutsSection(c, x, false, payoutsPart{}); err != nil {
		return err
	}
	if d.Recalc, err = p.recalcSection(c, x, form); err != nil {
		return err
	}
	nodes, err := p.s.Subtree(ctx, t, id, p.s.o.Now())
	if err != nil {
		return err
	}
	for _, n := range nodes {
		nw := statusWords[n.Status]
		d.Tree = append(d.Tree, nodeRow{Name: n.Name, Href: partnersPath + "/" + n.ID.String(), Status: nw.words, Tone: nw.tone, Indent: n.Depth * 2,
			Clients: n.Clients})
	}
	d.Kinds = []option{{Value: "", Label: "Every row", Selected: d.Kind == ""}}
	for _, k := range []string{KindPaid, KindNothing, KindReversal} {
		d.Kinds = append(d.Kinds, option{Value: k, Label: kindWords[k], Selected: d.Kind == k})
	}
	d.Reasons = []option{{Value: "", Label: "Any reason", Selected: d.Reason == ""}}
	for _, r := range []Reason{ReasonNotAttributed, ReasonPartnerInactive, ReasonNoPlan, ReasonSymbolUnmatched, ReasonHeldTooBriefly, ReasonHoldUnknown,
		ReasonTypeExcluded, ReasonLevelNotPaid, ReasonRoundsToZero, ReasonNotClosing, ReasonCancelled, ReasonCurrencyMismatch} {
		d.Reasons = append(d.Reasons, option{Value: string(r), Label: Explain[r], Selected: d.Reason == string(r)})
	}
	f, limit, ferr := commissionFilter(c)
	if ferr != nil {
		d.Error = "That filter is not valid:"
		if v, ok := validation.As(ferr); ok {
			for _, fe := range v.Fields {
				d.Problems = append(d.Problems, fe.Field+": "+fe.Message)
			}
		}
		return p.shell.Render(c, fiber.StatusUnprocessableEntity, "partners_partner", x.Name, d)
	}
	f.Partner = &id
	rows, err := p.s.Commissions(ctx, t, f, limit)
	if err != nil {
		return err
	}
	clientNames, err := p.s.clientNames(ctx, t, rows)
	if err != nil {
		return err
	}
	for _, r := range rows {
		cr := commissionRow{Time: r.DealTime.UTC().Format("2006-01-02 15:04:05"), Ticket: r.Ticket, Login: r.Login, Symbol: r.Symbol,
			Matched: r.Explanation.MatchedBy, Lots: r.Lots.String(), Level: strconv.Itoa(r.Level), Kind: kindWords[r.Kind]}
		if r.Source == SourceCPA {
			cr.Ticket, cr.Symbol = "first deposit", "CPA"
		}
		if r.ClientID != nil {
			cr.Client, cr.ClientHref = clientNames[*r.ClientID], clientPagePath+r.ClientID.String()
		}
		if r.PlanVersion > 0 {
			cr.Plan = "v" + strconv.Itoa(r.PlanVersion)
		}
		if cur, ok := money.Lookup(r.Currency); ok {
			cr.Amount = money.Amount{Minor: r.Amount, Currency: cur}.String()
		}
		switch r.Kind {
		case KindPaid:
			cr.Tone = web.ToneGood
			cr.Why = explainPaid(r.Explanation)
		case KindNothing:
			cr.Tone, cr.Why = web.ToneWarn, Explain[r.Reason]
		case KindReversal:
			cr.Tone, cr.Why = web.ToneBad, r.Explanation.Says
		}
		d.Rows = append(d.Rows, cr)
	}
	return p.shell.Render(c, status, "partners_partner", x.Name, d)
}

// explainPaid is how a paid row came about: "0.86 lots x 2 a lot (default line)".
func explainPaid(e Explanation) string {
	if e.Percent != "" {
		return e.Percent + " % of the level below's " + e.Below
	}
	if e.Deposit != "" {
		return "CPA on a first deposit of " + e.Deposit
	}
	s := e.Lots + " lots"
	if e.Modifier != "" {
		s += " x " + e.Modifier + " (" + e.AccountType + ")"
	}
	if e.Sides == 2 {
		s += " x 2 sides"
	}
	return s + " x " + e.PerLot + " a lot (" + e.MatchedBy + ")"
}

// clientNames names the rows' clients through the clients module.
func (s *Service) clientNames(ctx context.Context, t tenants.Tenant, rows []Commission) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		for _, r := range rows {
			if r.ClientID == nil {
				continue
			}
			if _, done := out[*r.ClientID]; done {
				continue
			}
			c, err := s.o.Clients.GetTx(ctx, tx, *r.ClientID)
			if err != nil {
				out[*r.ClientID] = r.ClientID.String()[:8]
				continue
			}
			out[*r.ClientID] = c.Name()
		}
		return nil
	})
	return out, err
}
