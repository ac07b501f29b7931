package payments

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The money on the role dashboard, and the "Money today" page behind it.
//
// Finance (payments.approve) sees the day's credited deposits with their sums per currency and gateway, the open
// exceptions with the overdue ones as the alert, and the manual deposits waiting for a second approval. Account
// managers (clients.manage: sales and retention) see their own clients' deposits of the day. Each tile is one query
// and links to the list it counts, with the same filter. "Today" is the UTC day, as every date filter of the back
// office; a deposit counts on the day it was started.

func todayQuery(since time.Time, more url.Values) string {
	v := url.Values{"status": {string(StatusCompleted)}, "since": {since.Format(time.DateOnly)}}
	for k, vals := range more {
		v[k] = vals
	}
	return depositsPath + "?" + v.Encode()
}

// summaryDetail is a day's sums per currency, and per gateway, as one line.
func summaryDetail(d DaySummary) string {
	if d.Count == 0 {
		return ""
	}
	parts := []string{amounts(d.Totals, "")}
	var gw []string
	for _, g := range d.ByGateway {
		gw = append(gw, g.Name+" "+strconv.Itoa(g.Count))
	}
	if len(gw) > 0 {
		parts = append(parts, "by method: "+strings.Join(gw, ", "))
	}
	return strings.Join(parts, "; ")
}

func (p *pages) tiles() []web.Tile {
	return []web.Tile{
		{Group: web.GroupMoney, Label: "Deposits today", Href: depositsPath, Permission: PermApprove, Order: 10,
			Count: func(c *fiber.Ctx) (web.TileCount, error) {
				d, err := p.s.depositsToday(c.UserContext(), tenants.Current(c), nil)
				if err != nil {
					return web.TileCount{}, err
				}
				n := web.TileCount{Value: d.Count, Detail: summaryDetail(d), Href: todayQuery(d.Since, nil)}
				if d.Count > 0 {
					n.DetailHref = overviewPath
				}
				return n, nil
			}},
		{Group: web.GroupMoney, Label: "Exceptions open", Href: exceptionsPath, Permission: PermApprove, Order: 20,
			Count: func(c *fiber.Ctx) (web.TileCount, error) {
				open, overdue, err := p.s.openCases(c.UserContext(), tenants.Current(c))
				if err != nil {
					return web.TileCount{}, err
				}
				n := web.TileCount{Value: open}
				if overdue > 0 {
					n.Detail, n.Alert, n.DetailHref = strconv.Itoa(overdue)+" overdue", true, exceptionsPath+"?overdue=true"
				}
				return n, nil
			}},
		{Group: web.GroupMoney, Label: "Waiting for a second approval", Href: depositsPath + "?status=" + string(StatusAwaitingApproval),
			Permission: PermApprove, Order: 30, Count: func(c *fiber.Ctx) (web.TileCount, error) {
				n, err := p.s.awaitingApproval(c.UserContext(), tenants.Current(c))
				return web.TileCount{Value: n, Alert: n > 0}, err
			}},
		{Group: web.GroupMoney, Label: "Your clients' deposits today", Href: depositsPath + "?manager=me", Permission: identity.PermClientsManage,
			Order: 40, Count: func(c *fiber.Ctx) (web.TileCount, error) {
				ctx, t := c.UserContext(), tenants.Current(c)
				mine, err := p.s.managedBy(ctx, t, staffID(c))
				if err != nil {
					return web.TileCount{}, err
				}
				d, err := p.s.depositsToday(ctx, t, mine)
				if err != nil {
					return web.TileCount{}, err
				}
				n := web.TileCount{Value: d.Count, Detail: amounts(d.Totals, ""), Href: todayQuery(d.Since, url.Values{"manager": {"me"}})}
				if d.Count > 0 {
					n.DetailHref = overviewPath + "?scope=mine"
				}
				return n, nil
			}},
	}
}

// The "Money today" page: the day's deposits per currency and gateway, the queue's state, and the 30-day chart of
// one currency, all of the clients the viewer may see (or, with scope=mine, of the clients they manage). Its live
// region is fetched again by the live pages' script (infra/live) whenever a deposit of the tenant is credited.

type currencyTotal struct {
	Currency, Amount, Href string
	Count                  int
}

type gatewayTotalRow struct {
	Name, Totals string
	Count        int
}

type chartDay struct {
	Day, Amount string
	Count       int
}

type overviewPage struct {
	Scope, ScopeLabel            string
	Scopes                       []option
	Today                        string
	Count                        int
	TodayHref                    string
	Totals                       []currencyTotal
	Gateways                     []gatewayTotalRow
	ShowQueue                    bool
	OpenCases, Overdue, Awaiting int
	Currency                     string
	Currencies                   []option
	Chart                        template.HTML
	Days                         []chartDay
	ChartTotal                   string
	Limited                      bool
}

func (p *pages) overview(c *fiber.Ctx) error {
	ctx, t := c.UserContext(), tenants.Current(c)
	r, err := p.reachOf(c)
	if err != nil {
		return err
	}
	d := overviewPage{Scope: c.Query("scope"), Limited: r.limited}
	var ids []uuid.UUID // nil: every client
	if d.Scope == "mine" {
		if ids, err = p.s.managedBy(ctx, t, staffID(c)); err != nil {
			return err
		}
		d.ScopeLabel = "your clients"
	} else {
		d.Scope, d.ScopeLabel = "", "all clients"
		if r.limited {
			d.ScopeLabel = "your clients"
		}
	}
	ids = r.narrow(ids)
	if !r.limited {
		d.Scopes = options(d.Scope, "", "All clients", "mine", "Your clients")
	}
	today, err := p.s.depositsToday(ctx, t, ids)
	if err != nil {
		return err
	}
	more := url.Values{}
	if d.Scope == "mine" {
		more.Set("manager", "me")
	}
	d.Today, d.Count, d.TodayHref = today.Since.Format("Monday 2 January 2006"), today.Count, todayQuery(today.Since, more)
	for _, a := range today.Totals {
		cm := url.Values{"currency": {a.Currency.Code}}
		for k, v := range more {
			cm[k] = v
		}
		d.Totals = append(d.Totals, currencyTotal{Currency: a.Currency.Code, Amount: a.String(), Count: today.Counts[a.Currency.Code],
			Href: todayQuery(today.Since, cm)})
	}
	for _, g := range today.ByGateway {
		d.Gateways = append(d.Gateways, gatewayTotalRow{Name: g.Name, Count: g.Count, Totals: amounts(g.Totals, "")})
	}
	if d.ShowQueue = p.may(c, PermApprove); d.ShowQueue {
		if d.OpenCases, d.Overdue, err = p.s.openCases(ctx, t); err != nil {
			return err
		}
		if d.Awaiting, err = p.s.awaitingApproval(ctx, t); err != nil {
			return err
		}
	}
	codes, err := p.s.chartCurrencies(ctx, t)
	if err != nil {
		return err
	}
	d.Currency = strings.ToUpper(c.Query("currency"))
	if !contains(codes, d.Currency) {
		d.Currency = ""
		if contains(codes, "USD") {
			d.Currency = "USD"
		} else if len(codes) > 0 {
			d.Currency = codes[0]
		}
	}
	for _, code := range codes {
		v := url.Values{"currency": {code}}
		if d.Scope != "" {
			v.Set("scope", d.Scope)
		}
		d.Currencies = append(d.Currencies, option{Value: overviewPath + "?" + v.Encode(), Label: code, Selected: code == d.Currency})
	}
	if cur, ok := money.Lookup(d.Currency); ok {
		days, err := p.s.dailyCompleted(ctx, t, cur, ids)
		if err != nil {
			return err
		}
		d.Chart = depositsChart(days, cur)
		var total int64
		for i := len(days) - 1; i >= 0; i-- {
			day := days[i]
			total += day.Minor
			d.Days = append(d.Days, chartDay{Day: day.Day.Format("Mon 2 Jan"), Amount: money.Grouped(day.Minor, cur), Count: day.Count})
		}
		d.ChartTotal = money.Amount{Minor: total, Currency: cur}.String()
	}
	return p.shell.Render(c, fiber.StatusOK, "payments_overview", "Money today", d)
}

// live is the back office's live stream: Server-Sent Events that say "a deposit of this tenant was credited" (the
// pages' script then fetches their live parts again), as infra/live serves them (406 to a request that does not ask
// for a stream, 503 beyond live.MaxStreams). Guarded like a page (payments.read); keyed by the session's tenant.
func (p *pages) live(c *fiber.Ctx) error {
	return p.s.live.Serve(c, tenants.Current(c).ID)
}
