package partners

import (
	"encoding/csv"
	"errors"
	"html/template"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The partner area's pages on the portal host (portal.account):
//
//	/portal/partner                   an approved partner's area: links with QR codes, totals, referred clients,
//	                                  sub-IBs, the earnings chart, the rows with their explanations (filters from,
//	                                  to, symbol, kind); anyone else gets a page saying how to apply
//	/portal/partner/commissions.csv   the same rows (same filters, up to 1000) as CSV
//
// The page updates itself without a reload (live.go): its script hears the partner's own live stream and swaps in
// the parts marked data-live.

const portalPartnerPath = "/portal/partner"

func (s *Service) mountPortalPages(p *pages) {
	shell := p.shell
	shell.Nav(web.NavEntry{Group: web.GroupPortal, Label: "Partner", Href: portalPartnerPath, Permission: identity.PermPortalAccount, Order: 60})
	shell.Page(fiber.MethodGet, portalPartnerPath, identity.PermPortalAccount, p.portal)
	shell.Page(fiber.MethodGet, portalPartnerPath+"/commissions.csv", identity.PermPortalAccount, p.portalCSV)
}

type portalLink struct {
	Code, Campaign, URL string
	QR                  template.HTML
}

type portalClientRow struct{ Client, Since, Lots, Earned, Deposits string }

type portalSubRow struct {
	Name, Status, Earned string
	Indent, Clients      int
}

type portalPage struct {
	Partner    bool
	Applied    string // where an application stands, for one who is no partner
	Name, Plan string
	Earned     []string
	Links      []portalLink
	Clients    []portalClientRow
	// The page of clients: how many in all, how many shown, whether this is a later page, the links to the next
	// and the first page, and a bad page link's reason.
	ClientsTotal, ClientsShown int
	ClientsLater               bool
	ClientsNext, ClientsFirst  string
	ClientsError               string
	Subs                       []portalSubRow
	Chart                      template.HTML
	Payouts                    template.HTML
	Rows                       []commissionRow
	From, To                   string
	Symbol, Kind               string
	Kinds                      []option
	CSV                        string
	Error                      string
	Problems                   []string
}

func joinSums(m map[string]string) string {
	var out []string
	for _, code := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[code]+" "+code)
	}
	if len(out) == 0 {
		return "0"
	}
	return strings.Join(out, ", ")
}

func (p *pages) portal(c *fiber.Ctx) error { return p.portalWith(c, fiber.StatusOK, payoutsPart{}) }

// portalWith draws the partner area with status, the payout form as form says (after it was sent).
func (p *pages) portalWith(c *fiber.Ctx, status int, form payoutsPart) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	x, err := p.s.portalPartner(c)
	if errors.Is(err, ErrNotPartner) {
		d := portalPage{Applied: "You have not applied yet."}
		if x.ID != uuid.Nil {
			d.Applied = "Your application is " + strings.ToLower(statusWords[x.Status].words) + "."
		}
		return p.shell.Render(c, fiber.StatusOK, "partners_portal", "Partner", d)
	} else if err != nil {
		return err
	}
	d := portalPage{Partner: true, Name: x.Name, Plan: x.PlanName, From: c.Query("from"), To: c.Query("to"),
		Symbol: c.Query("symbol"), Kind: c.Query("kind")}
	after, aerr := p.s.clientsAfter(c)
	if aerr != nil { // the first page of clients, and the reason
		d.ClientsError, status = "That page of clients is not one this page gave out: here are the newest.", fiber.StatusUnprocessableEntity
	}
	sum, err := p.s.PortalSummary(ctx, t, x, after)
	if err != nil {
		return err
	}
	for _, code := range slices.Sorted(maps.Keys(sum.Earned)) {
		d.Earned = append(d.Earned, sum.Earned[code]+" "+code+" earned, "+sum.Wallet[code]+" "+code+" in your wallet")
	}
	for _, l := range sum.Links {
		url := c.BaseURL() + l.Link
		qr, err := web.QRSVG(url)
		if err != nil {
			return err
		}
		d.Links = append(d.Links, portalLink{Code: l.Code, Campaign: l.Campaign, URL: url, QR: qr})
	}
	for _, r := range sum.Clients {
		d.Clients = append(d.Clients, portalClientRow{Client: r.Client, Since: r.Since.UTC().Format("2006-01-02"), Lots: r.Lots, Earned: joinSums(r.Earned),
			Deposits: joinSums(r.Deposits)})
	}
	d.ClientsTotal, d.ClientsShown, d.ClientsLater = sum.ClientsTotal, len(sum.Clients), after != nil
	if sum.ClientsNext != nil {
		d.ClientsNext = clientsPage(c, *sum.ClientsNext)
	}
	if after != nil {
		d.ClientsFirst = clientsPage(c, "")
	}
	for _, n := range sum.SubIBs {
		d.Subs = append(d.Subs, portalSubRow{Name: n.Name, Status: statusWords[Status(n.Status)].words, Earned: joinSums(n.Earned), Indent: (n.Depth - 1) * 2,
			Clients: n.Clients})
	}
	if cur, ok := money.Lookup(sum.Currency); ok {
		d.Chart = EarningsChart(sum.days, cur)
	}
	d.Kinds = []option{{Value: "", Label: "Every row", Selected: d.Kind == ""}}
	for _, k := range []string{KindPaid, KindNothing, KindReversal} {
		d.Kinds = append(d.Kinds, option{Value: k, Label: kindWords[k], Selected: d.Kind == k})
	}
	form.earned, form.wallet = sum.earned, sum.wallet // read once for the page
	if d.Payouts, err = p.payoutsSection(c, x, true, form); err != nil {
		return err
	}
	d.CSV = portalPartnerPath + "/commissions.csv?" + string(c.Request().URI().QueryString())
	f, limit, ferr := commissionFilter(c)
	if ferr != nil {
		d.Error = "That filter is not valid:"
		if v, ok := validation.As(ferr); ok {
			for _, fe := range v.Fields {
				d.Problems = append(d.Problems, fe.Field+": "+fe.Message)
			}
		}
		return p.shell.Render(c, fiber.StatusUnprocessableEntity, "partners_portal", "Partner", d)
	}
	f.Partner = &x.ID
	rows, err := p.s.Commissions(ctx, t, f, limit)
	if err != nil {
		return err
	}
	for _, r := range rows {
		cr := portalRow(r)
		d.Rows = append(d.Rows, cr)
	}
	return p.shell.Render(c, status, "partners_portal", "Partner", d)
}

// clientsPage is the page's own address with the page of clients at cursor (the first page for ""), its other
// filters kept.
func clientsPage(c *fiber.Ctx, cursor string) string {
	q := url.Values{}
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		if string(k) != "clients_cursor" {
			q.Add(string(k), string(v))
		}
	})
	if cursor != "" {
		q.Set("clients_cursor", cursor)
	}
	if len(q) == 0 {
		return portalPartnerPath + "#clients-live"
	}
	return portalPartnerPath + "?" + q.Encode() + "#clients-live"
}

// portalRow is a row as the partner reads it: no client names or links (the referred clients' list shows clients,
// by the tenant's rule).
func portalRow(r Commission) commissionRow {
	cr := commissionRow{ID: strconv.FormatInt(r.ID, 10), Time: r.DealTime.UTC().Format("2006-01-02 15:04:05"), Ticket: r.Ticket, Login: r.Login, Symbol: r.Symbol,
		Matched: r.Explanation.MatchedBy, Lots: r.Lots.String(), Level: strconv.Itoa(r.Level), Kind: kindWords[r.Kind]}
	if r.Source == SourceCPA {
		cr.Ticket, cr.Symbol = "first deposit", "CPA"
	}
	if r.PlanVersion > 0 {
		cr.Plan = "v" + strconv.Itoa(r.PlanVersion)
	}
	if cur, ok := money.Lookup(r.Currency); ok {
		cr.Amount = money.Amount{Minor: r.Amount, Currency: cur}.String()
	}
	switch r.Kind {
	case KindPaid:
		cr.Tone, cr.Why = web.ToneGood, explainPaid(r.Explanation)
	case KindNothing:
		cr.Tone, cr.Why = web.ToneWarn, Explain[r.Reason]
	case KindReversal:
		cr.Tone, cr.Why = web.ToneBad, r.Explanation.Says
	}
	return cr
}

// portalCSV is the partner's rows as CSV: amounts as exact decimals of their currency, the explanation in words.
func (p *pages) portalCSV(c *fiber.Ctx) error {
	x, err := p.s.portalPartnerOf(c)
	if err != nil {
		return err
	}
	f, limit, err := commissionFilter(c)
	if err != nil {
		return err
	}
	if c.Query("limit") == "" {
		limit = 1000
	}
	f.Partner = &x.ID
	rows, err := p.s.Commissions(c.UserContext(), tenants.Current(c), f, limit)
	if err != nil {
		return err
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"deal_time_utc", "ticket", "login", "symbol", "matched", "lots", "level", "plan_version", "kind", "amount", "currency", "explanation"})
	for _, r := range rows {
		cr := portalRow(r)
		amount := strconv.FormatInt(r.Amount, 10)
		if cur, ok := money.Lookup(r.Currency); ok {
			amount = money.Format(r.Amount, cur)
		}
		_ = w.Write([]string{cr.Time, cr.Ticket, cr.Login, cr.Symbol, cr.Matched, cr.Lots, cr.Level, strconv.Itoa(r.PlanVersion), r.Kind, amount, r.Currency, cr.Why})
	}
	w.Flush()
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="commissions.csv"`)
	return c.SendString(b.String())
}
