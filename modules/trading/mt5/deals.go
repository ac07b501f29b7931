package mt5

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// maxPage is the Web API's largest deal page.
const maxPage = 100

// cursor carries everything a later page needs so the listing stays stable: the window already converted to
// server-local seconds and the clock used to convert it (a newly learned offset mid-listing would otherwise
// shift the window), the UTC bounds for exact filtering, the total counted at the start, and how far we are.
type cursor struct {
	V      int    `json:"v"`
	Login  uint64 `json:"l"`
	From   int64  `json:"f"`            // UTC nanoseconds, inclusive
	To     int64  `json:"t"`            // UTC nanoseconds, exclusive
	LFrom  int64  `json:"lf"`           // server-local seconds, inclusive
	LTo    int64  `json:"lt"`           // server-local seconds, inclusive
	Zone   int64  `json:"z"`            // server offset from UTC in seconds, when no time zone is configured
	TZ     string `json:"tz,omitempty"` // the configured time zone's name, which then converts instead
	Total  int    `json:"n"`
	Offset int    `json:"o"`
}

const cursorVersion = 1

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // plain ints only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if len(s) > 512 {
		return c, errors.New("cursor too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("cursor is not ours: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("cursor is not ours: %w", err)
	}
	switch {
	case c.V != cursorVersion:
		return c, fmt.Errorf("cursor version %d", c.V)
	case c.Login == 0:
		return c, errors.New("cursor without login")
	case c.From >= c.To || c.LFrom > c.LTo:
		return c, errors.New("cursor with an empty window")
	case c.Zone < -int64(maxZoneOffset/time.Second) || c.Zone > int64(maxZoneOffset/time.Second) || len(c.TZ) > 64:
		return c, errors.New("cursor with an impossible zone")
	case c.Total < 0 || c.Offset < 0 || c.Offset > c.Total:
		return c, errors.New("cursor with an impossible position")
	}
	return c, nil
}

// ClosedDeals lists one page of the account's deals with From <= Time < To, oldest first. The first call counts
// the window with /api/deal/get_total; each page is read with /api/deal/get_page.
func (c *Connector) ClosedDeals(ctx context.Context, q trading.DealQuery) (trading.DealPage, error) {
	const op = "closed_deals"
	page, err := c.closedDeals(ctx, op, q)
	return page, toPlatformError(op, err)
}

func (c *Connector) closedDeals(ctx context.Context, op string, q trading.DealQuery) (trading.DealPage, error) {
	login, err := parseLogin(op, q.Login)
	if err != nil {
		return trading.DealPage{}, err
	}
	limit := q.Limit
	if limit <= 0 || limit > maxPage {
		limit = maxPage
	}
	var cur cursor
	if q.Cursor == "" {
		if !q.From.Before(q.To) {
			if q.From.IsZero() && q.To.IsZero() {
				return trading.DealPage{}, localError(op, trading.ErrInvalidRequest, "a time window is required")
			}
			return trading.DealPage{}, nil
		}
		clk, err := c.serverClock(ctx, op)
		if err != nil {
			return trading.DealPage{}, err
		}
		cur = cursor{
			V: cursorVersion, Login: login,
			From: q.From.UnixNano(), To: q.To.UnixNano(),
			TZ: c.zoneName(),
		}
		if clk.zone == nil {
			cur.Zone = int64(clk.offset / time.Second)
		}
		cur.LFrom, cur.LTo = clk.window(q.From, q.To)
		total, err := c.dealTotal(ctx, op, cur)
		if err != nil {
			return trading.DealPage{}, err
		}
		cur.Total = total
	} else {
		cur, err = decodeCursor(q.Cursor)
		if err != nil {
			return trading.DealPage{}, localError(op, trading.ErrInvalidRequest, "bad cursor: %v", err)
		}
		if cur.Login != login ||
			(!q.From.IsZero() && q.From.UnixNano() != cur.From) || (!q.To.IsZero() && q.To.UnixNano() != cur.To) {
			return trading.DealPage{}, localError(op, trading.ErrInvalidRequest, "the cursor belongs to another query")
		}
	}
	if cur.Offset >= cur.Total {
		return trading.DealPage{}, nil
	}
	n := min(limit, cur.Total-cur.Offset)
	qs := windowQuery(cur)
	qs.Set("offset", strconv.Itoa(cur.Offset))
	qs.Set("total", strconv.Itoa(n))
	ans, err := c.call(ctx, request{op: op, method: http.MethodGet, path: "/api/deal/get_page", query: qs})
	if errors.Is(err, trading.ErrNotFound) {
		// Deals vanished since the count (an administrator deleted them) or the account did.
		return trading.DealPage{}, c.userExists(ctx, op, login)
	}
	if err != nil {
		return trading.DealPage{}, err
	}
	recs, err := parseDeals(ans)
	if err != nil {
		return trading.DealPage{}, &transportError{cause: fmt.Errorf("/api/deal/get_page: %w", err), sent: true}
	}
	clk, err := c.cursorClock(op, cur)
	if err != nil {
		return trading.DealPage{}, err
	}
	from, to := time.Unix(0, cur.From), time.Unix(0, cur.To)
	page := trading.DealPage{Deals: make([]trading.Deal, 0, len(recs))}
	for _, r := range recs {
		// The server's window is whole local seconds; the caller's bounds may fall inside a second.
		if at := r.at(clk); at.Before(from) || !at.Before(to) {
			continue
		}
		page.Deals = append(page.Deals, r.toDeal(clk))
	}
	slices.SortStableFunc(page.Deals, func(a, b trading.Deal) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := len(a.Ticket) - len(b.Ticket); c != 0 { // tickets are decimal: shorter is smaller
			return c
		}
		return strings.Compare(a.Ticket, b.Ticket)
	})
	cur.Offset += len(recs)
	if len(recs) > 0 && cur.Offset < cur.Total {
		page.Next = cur.encode()
	}
	return page, nil
}

// cursorClock is the clock a listing was started with: the configured time zone, or the offset it recorded. A
// cursor from before a change of the TimeZone setting is refused rather than read by other rules.
func (c *Connector) cursorClock(op string, cur cursor) (serverClock, error) {
	if cur.TZ != c.zoneName() {
		return serverClock{}, localError(op, trading.ErrInvalidRequest,
			"the cursor was made under another time zone setting (%q, now %q): start the listing again", cur.TZ, c.zoneName())
	}
	if c.zone != nil {
		return c.zoneClock(), nil
	}
	return serverClock{offset: time.Duration(cur.Zone) * time.Second}, nil
}

func windowQuery(cur cursor) url.Values {
	q := loginQuery(cur.Login)
	q.Set("from", strconv.FormatInt(cur.LFrom, 10))
	q.Set("to", strconv.FormatInt(cur.LTo, 10))
	return q
}

func (c *Connector) dealTotal(ctx context.Context, op string, cur cursor) (int, error) {
	ans, err := c.call(ctx, request{op: op, method: http.MethodGet, path: "/api/deal/get_total", query: windowQuery(cur)})
	if errors.Is(err, trading.ErrNotFound) {
		return 0, c.userExists(ctx, op, cur.Login)
	}
	if err != nil {
		return 0, err
	}
	total, err := parseTotal(ans)
	if err != nil {
		return 0, &transportError{cause: fmt.Errorf("/api/deal/get_total: %w", err), sent: true}
	}
	return total, nil
}
