package dxtrade

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// Page sizes for the order history. DXtrade documents no maximum; 1000 is the most the connector asks for.
const (
	defaultDealPage = 500
	maxDealPage     = 1000
)

// ClosedDeals reads one page of the account's completed orders from GET /accounts/{cc:ac}/orders/history
// (completed-from, completed-to, in-status=COMPLETED, page, page-size) and returns one deal per order with
// From <= Time < To, oldest first. The cursor is "page:size".
//
// The next page is asked for until DXtrade returns an empty one, rather than stopping at the first short page:
// a server that caps page-size below what was asked would otherwise cut the history short without a word. That
// costs one request per query. The window sent is widened to whole milliseconds and the deals are filtered to
// [From, To) here, because the server's bounds may be inclusive at both ends (inferred).
func (c *Connector) ClosedDeals(ctx context.Context, q trading.DealQuery) (trading.DealPage, error) {
	const op = "closed_deals"
	if err := checkLogin(op, q.Login); err != nil {
		return trading.DealPage{}, err
	}
	if q.From.IsZero() || q.To.IsZero() {
		return trading.DealPage{}, invalid(op, "From and To are required")
	}
	page, size, err := parseCursor(q.Cursor, q.Limit)
	if err != nil {
		return trading.DealPage{}, invalid(op, "%v", err)
	}
	if !q.From.Before(q.To) {
		return trading.DealPage{}, nil
	}
	to := q.To.Truncate(time.Millisecond)
	if to.Before(q.To) {
		to = to.Add(time.Millisecond)
	}
	var body []byte
	err = c.do(ctx, &call{api: tradingAPI, method: http.MethodGet, path: c.tradingPath(q.Login) + "/orders/history",
		op: op, resend: true, out: &body, query: url.Values{
			"completed-from": {formatTime(q.From.Truncate(time.Millisecond))},
			"completed-to":   {formatTime(to)},
			"in-status":      {"COMPLETED"},
			"page":           {strconv.Itoa(page)},
			"page-size":      {strconv.Itoa(size)},
		}})
	if err != nil {
		return trading.DealPage{}, err
	}
	deals, raw, err := parseDeals(body, c.tradingAccount(q.Login), q.Login, q.From, q.To)
	if err != nil {
		return trading.DealPage{}, badAnswer(op, err)
	}
	next := ""
	if raw > 0 {
		next = strconv.Itoa(page+1) + ":" + strconv.Itoa(size)
	}
	return trading.DealPage{Deals: deals, Next: next}, nil
}

// parseCursor returns the zero-based page and the page size a cursor continues with.
func parseCursor(cursor string, limit int) (page, size int, err error) {
	size = defaultDealPage
	if limit > 0 {
		size = min(limit, maxDealPage)
	}
	if cursor == "" {
		return 0, size, nil
	}
	p, s, ok := strings.Cut(cursor, ":")
	page, perr := strconv.Atoi(p)
	size, serr := strconv.Atoi(s)
	if !ok || perr != nil || serr != nil || page < 1 || page > 1_000_000 || size < 1 || size > maxDealPage {
		return 0, 0, fmt.Errorf("cursor %q was not made by this connector", clip(cursor, 40))
	}
	return page, size, nil
}

// parseDeals parses an order-history answer and normalises it: one deal per completed order of account, inside
// [from, to), oldest first (ties by ticket, so pages are stable). raw is how many orders the page held before
// filtering, which is what paging goes by.
func parseDeals(body []byte, account, login string, from, to time.Time) (deals []trading.Deal, raw int, err error) {
	orders, err := parseOrders(body)
	if err != nil {
		return nil, 0, err
	}
	deals = make([]trading.Deal, 0, len(orders))
	for i := range orders {
		o := &orders[i]
		if o.Account != "" && o.Account != account {
			continue // never book another account's trade on this login
		}
		d, ok, err := toDeal(o, login)
		if err != nil {
			return nil, 0, err
		}
		if ok && !d.Time.Before(from) && d.Time.Before(to) {
			deals = append(deals, d)
		}
	}
	slices.SortStableFunc(deals, func(a, b trading.Deal) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Ticket, b.Ticket))
	})
	return deals, len(orders), nil
}

// toDeal is the named converter from a completed DXtrade order to a deal:
//
//	Ticket orderId (orderCode when absent)   Order orderCode      PositionID legs[0].positionCode
//	Action side BUY/SELL -> buy/sell         Entry positionEffect OPEN -> in, CLOSE -> out
//	Volume legs[0].filledQuantity (lots)     Price legs[0].averagePrice (price when absent)
//	Profit sum of SETTLEMENT cash            Commission sum of COMMISSION cash    Swap sum of FINANCING cash
//	Time   transactionTime (UTC)
//
// Orders that are not completed, filled nothing, or are not a buy or a sell are no deal (ok false). An order
// without a time cannot be placed in any window, so it is an unreadable answer (err).
func toDeal(o *wireOrder, login string) (d trading.Deal, ok bool, err error) {
	if o.Status != "" && o.Status != "COMPLETED" {
		return trading.Deal{}, false, nil
	}
	ticket := string(o.OrderID)
	if ticket == "" {
		ticket = o.OrderCode
	}
	if ticket == "" {
		return trading.Deal{}, false, fmt.Errorf("completed order without orderId or orderCode")
	}
	t := time.Time(o.TransactionTime)
	if t.IsZero() {
		return trading.Deal{}, false, fmt.Errorf("order %s has no transactionTime", clip(ticket, 40))
	}
	d = trading.Deal{Ticket: ticket, Login: login, Order: o.OrderCode, Symbol: o.Instrument, Time: t}
	side := o.Side
	if len(o.Legs) > 0 {
		leg := &o.Legs[0]
		d.PositionID = leg.PositionCode
		d.Volume = leg.FilledQuantity.or(leg.Quantity)
		d.Price = leg.AveragePrice.or(leg.Price)
		if d.Symbol == "" {
			d.Symbol = leg.Instrument
		}
		if side == "" {
			side = leg.Side
		}
		switch leg.PositionEffect {
		case "OPEN":
			d.Entry = trading.EntryIn
		case "CLOSE":
			d.Entry = trading.EntryOut
		}
	}
	switch side {
	case "BUY":
		d.Action = trading.ActionBuy
	case "SELL":
		d.Action = trading.ActionSell
	default:
		return trading.Deal{}, false, nil
	}
	if !d.Volume.IsPositive() {
		return trading.Deal{}, false, nil
	}
	for _, ct := range o.CashTransactions {
		switch ct.Type {
		case "SETTLEMENT":
			d.Profit = d.Profit.Add(ct.Value.d)
		case "COMMISSION":
			d.Commission = d.Commission.Add(ct.Value.d)
		case "FINANCING":
			d.Swap = d.Swap.Add(ct.Value.d)
		}
	}
	return d, true, nil
}

// OpenPositions reads GET /accounts/{cc:ac}/positions and, when there are any, joins each position's floating
// P/L (fpl) from the metrics with include-positions. DXtrade's position record has no open time: OpenTime is its
// lastUpdateTime, which is the open time until the position is partly closed. Accrued swap is not reported per
// position, so Swap is zero.
func (c *Connector) OpenPositions(ctx context.Context, login string) ([]trading.Position, error) {
	const op = "open_positions"
	if err := checkLogin(op, login); err != nil {
		return nil, err
	}
	var body []byte
	if err := c.do(ctx, &call{api: tradingAPI, method: http.MethodGet, path: c.tradingPath(login) + "/positions",
		op: op, resend: true, out: &body}); err != nil {
		return nil, err
	}
	wps, err := parsePositions(body)
	if err != nil {
		return nil, badAnswer(op, err)
	}
	if len(wps) == 0 {
		return []trading.Position{}, nil
	}
	m, err := c.metrics(ctx, op, login, true)
	if err != nil {
		return nil, err
	}
	fpl := make(map[string]decimal.Decimal, len(m.Positions))
	for _, p := range m.Positions {
		fpl[p.PositionCode] = p.FPL.d
	}
	out := make([]trading.Position, 0, len(wps))
	for _, p := range wps {
		pos, err := toPosition(p, login, fpl[p.PositionCode])
		if err != nil {
			return nil, badAnswer(op, err)
		}
		out = append(out, pos)
	}
	return out, nil
}

// toPosition is the named converter from a DXtrade position to an open position.
func toPosition(p wirePosition, login string, profit decimal.Decimal) (trading.Position, error) {
	var side trading.Side
	switch p.Side {
	case "BUY":
		side = trading.Buy
	case "SELL":
		side = trading.Sell
	default:
		return trading.Position{}, fmt.Errorf("position %s has side %q", clip(p.PositionCode, 40), clip(p.Side, 20))
	}
	return trading.Position{
		ID: p.PositionCode, Login: login, Symbol: p.Symbol, Side: side, Volume: p.Quantity.d.Abs(),
		OpenPrice: p.OpenPrice.d, Profit: profit, OpenTime: time.Time(p.LastUpdateTime),
	}, nil
}
