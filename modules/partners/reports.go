package partners

import (
	"context"
	"encoding/csv"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Commission reports (docs/partners.md, "Reports"): the rows summed by partner, symbol and level (and by day or
// month when asked), over a period of deal times, with totals per partner and for the whole report. The net of a
// group is what its rows add up to (paid less reversed), the same sum as Earned, the IB portal's total and the
// partner's ledger wallet once posted.
//
//	GET /api/v1/partner-reports/commissions     the report as JSON
//	/backoffice/partner-reports                 the report as a dense table with its filters
//	/backoffice/partner-reports/commissions.csv the same report as CSV

const reportsPath = "/backoffice/partner-reports"

// MaxReportGroups bounds a report's groups; a report with more says it is cut (narrow the filter).
const MaxReportGroups = 5000

// ReportFilter narrows a report; zero fields do not filter. Per groups by "day" or "month" of the deal (UTC) too.
type ReportFilter struct {
	Partner  *uuid.UUID
	From, To *time.Time // the deal's time, From included, To excluded
	Symbol   string
	Level    int
	Per      string
}

// ReportRow is one group: a partner's rows of one symbol (CPA for first-deposit rows) at one level, in a currency.
type ReportRow struct {
	Period    string // "" without Per; "2026-12" or "2026-12-07"
	PartnerID uuid.UUID
	Partner   string
	Symbol    string
	Level     int
	Currency  string
	Deals     int             // rows that paid
	Nothing   int             // rows that paid nothing
	Lots      decimal.Decimal // lots of the rows that paid, less those reversed
	Paid      int64           // minor units
	Reversed  int64           // minor units, 0 or negative
	Net       int64           // Paid + Reversed
}

// Report is the groups, by partner name, period, symbol and level, and whether it was cut at MaxReportGroups.
type Report struct {
	Rows []ReportRow
	Cut  bool
}

// Totals sums the rows per partner and currency ("" partner: the whole report's per currency).
func (r Report) Totals() map[uuid.UUID]map[string]ReportRow {
	out := map[uuid.UUID]map[string]ReportRow{}
	add := func(id uuid.UUID, x ReportRow) {
		if out[id] == nil {
			out[id] = map[string]ReportRow{}
		}
		t := out[id][x.Currency]
		t.PartnerID, t.Partner, t.Currency = id, x.Partner, x.Currency
		t.Deals, t.Nothing, t.Lots = t.Deals+x.Deals, t.Nothing+x.Nothing, t.Lots.Add(x.Lots)
		t.Paid, t.Reversed, t.Net = t.Paid+x.Paid, t.Reversed+x.Reversed, t.Net+x.Net
		out[id][x.Currency] = t
	}
	for _, x := range r.Rows {
		add(x.PartnerID, x)
		add(uuid.Nil, x)
	}
	return out
}

// CommissionReport sums the rows of f.
func (s *Service) CommissionReport(ctx context.Context, t tenants.Tenant, f ReportFilter) (Report, error) {
	period := `''`
	switch f.Per {
	case "day":
		period = `to_char(c.deal_time AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	case "month":
		period = `to_char(c.deal_time AT TIME ZONE 'UTC', 'YYYY-MM')`
	}
	q := `SELECT ` + period + `, c.partner_id, p.name, CASE WHEN c.source = 'cpa' THEN 'CPA' ELSE upper(c.symbol) END, c.level, c.currency,
			count(*) FILTER (WHERE c.kind = 'paid'), count(*) FILTER (WHERE c.kind = 'nothing'),
			coalesce(sum(CASE c.kind WHEN 'paid' THEN c.lots WHEN 'reversal' THEN -c.lots END) FILTER (WHERE c.source = 'deal'), 0),
			coalesce(sum(c.amount) FILTER (WHERE c.kind = 'paid'), 0)::bigint, coalesce(sum(c.amount) FILTER (WHERE c.kind = 'reversal'), 0)::bigint
		FROM partner_commissions c JOIN partners p ON p.id = c.partner_id WHERE c.currency <> ''`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Partner != nil {
		q += ` AND c.partner_id = ` + arg(*f.Partner)
	}
	q += dealConditions(arg, f.From, f.To, f.Symbol, f.Level)
	q += ` GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 3, 2, 1, 4, 5, 6 LIMIT ` + arg(MaxReportGroups+1)
	var out Report
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		var r ReportRow
		var level int16
		_, err = pgx.ForEachRow(rows, []any{&r.Period, &r.PartnerID, &r.Partner, &r.Symbol, &level, &r.Currency, &r.Deals, &r.Nothing, &r.Lots,
			&r.Paid, &r.Reversed}, func() error {
			r.Level, r.Net = int(level), r.Paid+r.Reversed
			out.Rows = append(out.Rows, r)
			return nil
		})
		return err
	})
	if len(out.Rows) > MaxReportGroups {
		out.Rows, out.Cut = out.Rows[:MaxReportGroups], true
	}
	return out, err
}

// reportFilter reads a report's query: from and to (dates, to included), partner, symbol, level, per. Bad values
// are field errors.
func reportFilter(c *fiber.Ctx) (ReportFilter, error) {
	cf, _, err := commissionFilter(c)
	var f validation.Fields
	if v, ok := validation.As(err); ok {
		for _, fe := range v.Fields {
			if fe.Field != "kind" && fe.Field != "reason" && fe.Field != "ticket" && fe.Field != "limit" {
				f.Add(fe.Field, fe.Message)
			}
		}
	}
	rf := ReportFilter{From: cf.From, To: cf.To, Symbol: cf.Symbol, Level: cf.Level, Per: c.Query("per")}
	if v := strings.TrimSpace(c.Query("partner")); v != "" {
		rf.Partner = optionalID(&f, "partner", &v)
	}
	if rf.Per != "" && rf.Per != "day" && rf.Per != "month" {
		f.Add("per", "must be day or month (or nothing: the whole period)")
	}
	return rf, f.Err()
}

// ReportRowResponse is a group of a report: amounts as exact decimal strings of its currency.
type ReportRowResponse struct {
	Period    string `json:"period,omitempty"`
	PartnerID string `json:"partner_id"`
	Partner   string `json:"partner"`
	Symbol    string `json:"symbol,omitempty"`
	Level     int    `json:"level,omitempty"`
	Currency  string `json:"currency"`
	Deals     int    `json:"deals"`
	Nothing   int    `json:"nothing"`
	Lots      string `json:"lots"`
	Paid      string `json:"paid"`
	Reversed  string `json:"reversed"`
	Net       string `json:"net"`
}

// ReportResponse is a commission report: its groups, totals per partner and currency, and the whole report's.
type ReportResponse struct {
	Rows    []ReportRowResponse `json:"rows"`
	Partner []ReportRowResponse `json:"partner_totals"`
	Totals  []ReportRowResponse `json:"totals"`
	// Cut: the report has more than MaxReportGroups groups and shows the first; narrow the filter.
	Cut bool `json:"cut"`
}

func toReportRow(r ReportRow) ReportRowResponse {
	out := ReportRowResponse{Period: r.Period, Partner: r.Partner, Symbol: r.Symbol, Level: r.Level, Currency: r.Currency, Deals: r.Deals,
		Nothing: r.Nothing, Lots: r.Lots.String()}
	if r.PartnerID != uuid.Nil {
		out.PartnerID = r.PartnerID.String()
	}
	if c, ok := money.Lookup(r.Currency); ok {
		out.Paid, out.Reversed, out.Net = money.Format(r.Paid, c), money.Format(r.Reversed, c), money.Format(r.Net, c)
	}
	return out
}

// ToReportResponse is a report in the API's shape.
func ToReportResponse(r Report) ReportResponse {
	out := ReportResponse{Rows: []ReportRowResponse{}, Partner: []ReportRowResponse{}, Totals: []ReportRowResponse{}, Cut: r.Cut}
	totals := r.Totals()
	seen := map[uuid.UUID]bool{}
	for _, x := range r.Rows {
		out.Rows = append(out.Rows, toReportRow(x))
		if !seen[x.PartnerID] {
			seen[x.PartnerID] = true
			for _, code := range slices.Sorted(maps.Keys(totals[x.PartnerID])) {
				out.Partner = append(out.Partner, toReportRow(totals[x.PartnerID][code]))
			}
		}
	}
	for _, code := range slices.Sorted(maps.Keys(totals[uuid.Nil])) {
		t := totals[uuid.Nil][code]
		t.Partner = ""
		out.Totals = append(out.Totals, toReportRow(t))
	}
	return out
}

func reportRoutes(api *web.API, s *Service) {
	api.Handle(web.Route{Method: fiber.MethodGet, Path: "/api/v1/partner-reports/commissions", Permission: PermManage, Tag: "partners", Response: ReportResponse{},
		Summary: "Commissions summed by partner, symbol and level (per=day or month adds the period), with totals; filters from, to (dates), partner, symbol, level",
		Handler: func(c *fiber.Ctx) error {
			f, err := reportFilter(c)
			if err != nil {
				return err
			}
			r, err := s.CommissionReport(c.UserContext(), tenants.Current(c), f)
			if err != nil {
				return err
			}
			return c.JSON(ToReportResponse(r))
		}})
}

func (s *Service) mountReportPages(p *pages) {
	p.shell.Nav(web.NavEntry{Group: web.GroupPartners, Label: "Commission reports", Href: reportsPath, Permission: PermManage, Order: 30})
	p.shell.Page(fiber.MethodGet, reportsPath, PermManage, p.report)
	p.shell.Page(fiber.MethodGet, reportsPath+"/commissions.csv", PermManage, p.reportCSV)
}

type reportLine struct {
	ReportRowResponse
	Total bool
}

type reportPage struct {
	From, To, Symbol, Level, CSV string
	Partners, Pers               []option
	PerShown                     bool
	Rows                         []reportLine
	Totals                       []ReportRowResponse
	Cut                          bool
	Error                        string
	Problems                     []string
}

func (p *pages) report(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	d := reportPage{From: c.Query("from"), To: c.Query("to"), Symbol: c.Query("symbol"), Level: c.Query("level"),
		CSV: reportsPath + "/commissions.csv?" + string(c.Request().URI().QueryString()), PerShown: c.Query("per") != ""}
	all, err := p.s.Partners(ctx, t, "")
	if err != nil {
		return err
	}
	d.Partners = []option{{Value: "", Label: "Every partner", Selected: c.Query("partner") == ""}}
	for _, x := range all {
		d.Partners = append(d.Partners, option{Value: x.ID.String(), Label: x.Name, Selected: c.Query("partner") == x.ID.String()})
	}
	for _, o := range []option{{Value: "", Label: "the whole period"}, {Value: "month", Label: "month"}, {Value: "day", Label: "day"}} {
		o.Selected = c.Query("per") == o.Value
		d.Pers = append(d.Pers, o)
	}
	f, ferr := reportFilter(c)
	if v, ok := validation.As(ferr); ok {
		d.Error = "That filter is not valid:"
		for _, fe := range v.Fields {
			d.Problems = append(d.Problems, fe.Field+": "+fe.Message)
		}
		return p.shell.Render(c, fiber.StatusUnprocessableEntity, "partners_report", "Commission reports", d)
	} else if ferr != nil {
		return ferr
	}
	r, err := p.s.CommissionReport(ctx, t, f)
	if err != nil {
		return err
	}
	out := ToReportResponse(r)
	d.Cut, d.Totals = out.Cut, out.Totals
	// Each partner's groups, then its total line.
	at := 0
	for i, row := range out.Rows {
		d.Rows = append(d.Rows, reportLine{ReportRowResponse: row})
		if i+1 == len(out.Rows) || out.Rows[i+1].PartnerID != row.PartnerID {
			for ; at < len(out.Partner) && out.Partner[at].PartnerID == row.PartnerID; at++ {
				d.Rows = append(d.Rows, reportLine{ReportRowResponse: out.Partner[at], Total: true})
			}
		}
	}
	return p.shell.Render(c, fiber.StatusOK, "partners_report", "Commission reports", d)
}

func (p *pages) reportCSV(c *fiber.Ctx) error {
	f, err := reportFilter(c)
	if err != nil {
		return err
	}
	r, err := p.s.CommissionReport(c.UserContext(), tenants.Current(c), f)
	if err != nil {
		return err
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"period", "partner_id", "partner", "symbol", "level", "currency", "paying_rows", "rows_paying_nothing", "lots", "paid", "reversed", "net"})
	line := func(x ReportRowResponse) {
		level := ""
		if x.Level > 0 {
			level = strconv.Itoa(x.Level)
		}
		_ = w.Write([]string{x.Period, x.PartnerID, spreadsheetSafe(x.Partner), spreadsheetSafe(x.Symbol), level, x.Currency, strconv.Itoa(x.Deals), strconv.Itoa(x.Nothing), x.Lots,
			x.Paid, x.Reversed, x.Net})
	}
	out := ToReportResponse(r)
	for _, x := range out.Rows {
		line(x)
	}
	for _, x := range out.Totals {
		x.Partner = "TOTAL"
		line(x)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return errors.New("partners: report CSV: " + err.Error())
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="commission-report.csv"`)
	return c.SendString(b.String())
}

// spreadsheetSafe keeps a name a spreadsheet would read as a formula (=, +, -, @ first) as text.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
