package tradelocker

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// maxWindow is the longest range close-trades-history-report accepts in one request.
const maxWindow = 31 * 24 * time.Hour

const (
	defaultDealLimit = 500
	maxDealLimit     = 1000
	// maxReportPages stops a platform whose report cursor never ends from looping a worker forever.
	maxReportPages = 10_000
)

// isoMillis is how report windows are sent: UTC ISO-8601 with milliseconds, the precision of TradeLocker times.
const isoMillis = "2006-01-02T15:04:05.000Z"

// reportRow is one closed trade of v2/reports/close-trades-history-report.
type reportRow struct {
	AccountID         text   `json:"accountId"`
	Instrument        string `json:"instrument"`
	OrderType         string `json:"orderType"`
	PositionSide      string `json:"positionSide"`
	CloseAmount       text   `json:"closeAmount"`
	ClosePrice        text   `json:"closePrice"`
	CloseMilliseconds text   `json:"closeMilliseconds"`
	CloseDateTime     string `json:"closeDateTime"`
	CloseTradeID      text   `json:"closeTradeId"`
	CloseOrderID      text   `json:"closeOrderId"`
	PositionID        text   `json:"positionId"`
	Commission        text   `json:"commission"`
	Swap              text   `json:"swap"`
	Profit            text   `json:"profit"`
}

type reportAnswer struct {
	Data  []reportRow `json:"data"`
	Links struct {
		Next *struct {
			Params struct {
				Cursor text `json:"cursor"`
			} `json:"params"`
		} `json:"next"`
	} `json:"links"`
}

// parseReport reads one report answer into deals (in the platform's order) and the platform's own next-page
// cursor, empty when the window is complete.
func parseReport(body []byte, login string) ([]trading.Deal, string, error) {
	var a reportAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, "", err
	}
	deals := make([]trading.Deal, 0, len(a.Data))
	for i := range a.Data {
		d, err := a.Data[i].deal(login)
		if err != nil {
			return nil, "", fmt.Errorf("report row %d: %w", i, err)
		}
		deals = append(deals, d)
	}
	next := ""
	if a.Links.Next != nil {
		next = string(a.Links.Next.Params.Cursor)
	}
	return deals, next, nil
}

// deal normalises a closed trade into the closing deal, the way MT5 books it: a Buy position is closed by a sell
// deal with Entry out, so commission and volume reports treat every platform alike.
func (r *reportRow) deal(login string) (trading.Deal, error) {
	d := trading.Deal{
		Ticket:     string(r.CloseTradeID),
		Login:      login,
		Order:      string(r.CloseOrderID),
		PositionID: string(r.PositionID),
		Entry:      trading.EntryOut,
		Symbol:     r.Instrument,
		Comment:    r.OrderType,
	}
	if d.Ticket == "" {
		return d, errors.New("no closeTradeId")
	}
	if r.AccountID != "" {
		d.Login = string(r.AccountID)
	}
	switch strings.ToUpper(strings.TrimSpace(r.PositionSide)) {
	case "BUY", "LONG":
		d.Action = trading.ActionSell
	case "SELL", "SHORT":
		d.Action = trading.ActionBuy
	default:
		return d, fmt.Errorf("positionSide %q", r.PositionSide)
	}
	var err error
	if d.Volume, err = money("closeAmount", r.CloseAmount); err != nil {
		return d, err
	}
	if d.Price, err = money("closePrice", r.ClosePrice); err != nil {
		return d, err
	}
	if d.Profit, err = moneyOr("profit", r.Profit, decimal.Zero); err != nil {
		return d, err
	}
	if d.Commission, err = moneyOr("commission", r.Commission, decimal.Zero); err != nil {
		return d, err
	}
	if d.Swap, err = moneyOr("swap", r.Swap, decimal.Zero); err != nil {
		return d, err
	}
	switch {
	case r.CloseMilliseconds != "":
		d.Time, err = parseMillis(r.CloseMilliseconds)
	case r.CloseDateTime != "":
		var t time.Time
		t, err = time.Parse(time.RFC3339Nano, r.CloseDateTime)
		d.Time = t.UTC()
	default:
		err = errors.New("no close time")
	}
	return d, err
}

// inWindowOldestFirst keeps deals with from <= Time < to and sorts them oldest first (ties by ticket, so paging
// offsets stay stable between requests). It reuses deals' backing array.
func inWindowOldestFirst(deals []trading.Deal, from, to time.Time) []trading.Deal {
	kept := deals[:0]
	for _, d := range deals {
		if !d.Time.Before(from) && d.Time.Before(to) {
			kept = append(kept, d)
		}
	}
	slices.SortStableFunc(kept, func(a, b trading.Deal) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		// Tickets are numeric strings: shorter is smaller.
		return cmp.Or(cmp.Compare(len(a.Ticket), len(b.Ticket)), strings.Compare(a.Ticket, b.Ticket))
	})
	return kept
}

// dealCursor is where the next page starts: window index k of the query's 31-day windows and the offset inside
// that window's sorted deals. q binds the cursor to the query it came from.
type dealCursor struct {
	q      uint64
	window int
	offset int
}

func queryHash(q trading.DealQuery) uint64 {
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d", q.Login, q.From.UnixNano(), q.To.UnixNano()))
	return binary.BigEndian.Uint64(h[:8])
}

func (c dealCursor) encode() string {
	b := binary.BigEndian.AppendUint64([]byte{1}, c.q)
	b = binary.AppendUvarint(b, uint64(c.window))
	b = binary.AppendUvarint(b, uint64(c.offset))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (dealCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 9 || b[0] != 1 {
		return dealCursor{}, errors.New("not a cursor this connector made")
	}
	c := dealCursor{q: binary.BigEndian.Uint64(b[1:9])}
	rest := b[9:]
	w, n := binary.Uvarint(rest)
	if n <= 0 || w > 1<<20 {
		return dealCursor{}, errors.New("cursor window is corrupt")
	}
	rest = rest[n:]
	o, n := binary.Uvarint(rest)
	if n <= 0 || o > 1<<31 || len(rest) != n {
		return dealCursor{}, errors.New("cursor offset is corrupt")
	}
	c.window, c.offset = int(w), int(o)
	return c, nil
}

// ceilMilli rounds t up to a whole millisecond: TradeLocker times are whole milliseconds, so a deal is at or after
// t exactly when it is at or after ceilMilli(t).
func ceilMilli(t time.Time) time.Time {
	r := t.Truncate(time.Millisecond)
	if r.Before(t) {
		r = r.Add(time.Millisecond)
	}
	return r.UTC()
}

// windows splits [from, to) into consecutive ranges of at most maxWindow, aligned on from.
func windowCount(from, to time.Time) int {
	span := to.Sub(from)
	if span <= 0 {
		return 0
	}
	return int((span + maxWindow - 1) / maxWindow)
}

func windowAt(from, to time.Time, k int) (time.Time, time.Time) {
	ws := from.Add(time.Duration(k) * maxWindow)
	we := ws.Add(maxWindow)
	if we.After(to) {
		we = to
	}
	return ws, we
}

// ClosedDeals lists closed trades from v2/reports/close-trades-history-report. Ranges longer than 31 days are
// split into windows here; each page costs one report request per window it touches, because the report cannot
// start in the middle of a window and the connector keeps no state between pages.
func (c *Connector) ClosedDeals(ctx context.Context, q trading.DealQuery) (trading.DealPage, error) {
	const op = "closed_deals"
	if strings.TrimSpace(q.Login) == "" {
		return trading.DealPage{}, clientError(op, trading.ErrInvalidRequest, "login is empty")
	}
	if q.From.IsZero() || q.To.IsZero() || q.To.Before(q.From) {
		return trading.DealPage{}, clientError(op, trading.ErrInvalidRequest, "range [%s, %s) is not a time range",
			q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultDealLimit
	}
	limit = min(limit, maxDealLimit)
	from, to := ceilMilli(q.From), ceilMilli(q.To)
	n := windowCount(from, to)

	cur := dealCursor{q: queryHash(q)}
	if q.Cursor != "" {
		got, err := decodeCursor(q.Cursor)
		if err != nil || got.q != cur.q || got.window >= n {
			return trading.DealPage{}, clientError(op, trading.ErrInvalidRequest,
				"cursor does not belong to this query (login, From, To)")
		}
		cur = got
	}

	var page []trading.Deal
	for cur.window < n && len(page) < limit {
		ws, we := windowAt(from, to, cur.window)
		deals, err := c.reportWindow(ctx, op, q.Login, ws, we)
		if err != nil {
			return trading.DealPage{}, err
		}
		// Deals booked late (or removed) between pages shift offsets; clamping keeps paging finite.
		off := min(cur.offset, len(deals))
		take := min(limit-len(page), len(deals)-off)
		page = append(page, deals[off:off+take]...)
		cur.offset = off + take
		if cur.offset >= len(deals) {
			cur.window++
			cur.offset = 0
		}
	}
	out := trading.DealPage{Deals: page}
	if cur.window < n {
		out.Next = cur.encode()
	}
	return out, nil
}

// reportWindow fetches every closed trade of one window (following the platform's own cursor if it pages) and
// returns those in [ws, we), oldest first.
func (c *Connector) reportWindow(ctx context.Context, op, login string, ws, we time.Time) ([]trading.Deal, error) {
	body := map[string]any{
		"type":          c.cfg.Environment,
		"accountIds":    []string{login},
		"startDateTime": ws.Format(isoMillis),
		"endDateTime":   we.Format(isoMillis),
	}
	var all []trading.Deal
	seen := map[string]bool{}
	for range maxReportPages {
		a, err := c.call(ctx, request{op: op, method: http.MethodPost, path: "v2/reports/close-trades-history-report",
			body: body, resendable: true})
		if err != nil {
			return nil, err
		}
		deals, next, err := parseReport(a.body, login)
		if err != nil {
			return nil, unreadable(op, a, err)
		}
		all = append(all, deals...)
		if next == "" {
			return inWindowOldestFirst(all, ws, we), nil
		}
		if seen[next] {
			return nil, unreadable(op, a, fmt.Errorf("report cursor %q repeats", next))
		}
		seen[next] = true
		body["cursor"] = next
	}
	return nil, clientError(op, trading.ErrUnavailable, "report for %s..%s has more than %d pages",
		ws.Format(isoMillis), we.Format(isoMillis), maxReportPages)
}
