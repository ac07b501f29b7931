package tradelocker

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/tradelocker/tlfake"
)

func allDeals(t *testing.T, c *Connector, q trading.DealQuery) ([]trading.Deal, int) {
	t.Helper()
	var deals []trading.Deal
	for pages := 1; ; pages++ {
		if pages > 500 {
			t.Fatalf("still paging after 500 pages")
		}
		p, err := c.ClosedDeals(ctxFor(t), q)
		if err != nil {
			t.Fatalf("ClosedDeals page %d: %v", pages, err)
		}
		if q.Limit > 0 && len(p.Deals) > q.Limit {
			t.Fatalf("page %d has %d deals, Limit %d", pages, len(p.Deals), q.Limit)
		}
		deals = append(deals, p.Deals...)
		if p.Next == "" {
			return deals, pages
		}
		q.Cursor = p.Next
	}
}

func requireOnceOldestFirst(t *testing.T, deals []trading.Deal, from, to time.Time) {
	t.Helper()
	seen := map[string]bool{}
	for i, d := range deals {
		if seen[d.Ticket] {
			t.Fatalf("deal %s returned twice", d.Ticket)
		}
		seen[d.Ticket] = true
		if d.Time.Before(from) || !d.Time.Before(to) || d.Time.Location() != time.UTC {
			t.Fatalf("deal %s at %v is outside [%v, %v) or not UTC", d.Ticket, d.Time, from, to)
		}
		if i > 0 && d.Time.Before(deals[i-1].Time) {
			t.Fatalf("deal %s at %v after %s at %v: not oldest first", d.Ticket, d.Time, deals[i-1].Ticket, deals[i-1].Time)
		}
	}
}

func TestClosedDealsSplitsLongRangesIntoWindowsOfAtMost31Days(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(70 * 24 * time.Hour)
	// One trade exactly on each internal window boundary, one at From, one just before To, one at To.
	for _, at := range []time.Time{from, from.Add(maxWindow), from.Add(2 * maxWindow), to.Add(-time.Millisecond), to} {
		f.SeedDeals(a.Login, 1, at, at.Add(time.Hour))
	}
	f.SeedDeals(a.Login, 140, from, to) // two a day

	deals, _ := allDeals(t, c, trading.DealQuery{Login: a.Login, From: from, To: to})
	if len(deals) != 144 {
		t.Fatalf("got %d deals, want 144 (every seeded one in [From, To) once)", len(deals))
	}
	requireOnceOldestFirst(t, deals, from, to)

	ws := f.ReportWindows()
	if len(ws) != 3 {
		t.Fatalf("report windows = %+v, want 3 for 70 days", ws)
	}
	for i, w := range ws {
		if w.End.Sub(w.Start) > maxWindow {
			t.Fatalf("window %d spans %v, more than 31 days", i, w.End.Sub(w.Start))
		}
		if i > 0 && !w.Start.Equal(ws[i-1].End) {
			t.Fatalf("window %d starts at %v, previous ended at %v: a gap or an overlap", i, w.Start, ws[i-1].End)
		}
	}
	if !ws[0].Start.Equal(from) || !ws[2].End.Equal(to) {
		t.Fatalf("windows cover [%v, %v], want [%v, %v]", ws[0].Start, ws[2].End, from, to)
	}
}

func TestClosedDealsPagesAcrossWindowBoundaries(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	// Sub-millisecond bounds: the platform only knows milliseconds, the connector must still honour [From, To).
	from := time.Date(2025, 2, 1, 0, 0, 0, 500, time.UTC)
	to := from.Add(100 * 24 * time.Hour)
	msBefore := from.Truncate(time.Millisecond) // 500ns before From: out
	f.SeedDeals(a.Login, 1, msBefore, msBefore.Add(time.Hour))
	f.SeedDeals(a.Login, 1, msBefore.Add(time.Millisecond), to) // first whole ms after From: in
	lastIn := to.Truncate(time.Millisecond)                     // 500ns before To: in
	f.SeedDeals(a.Login, 1, lastIn, to.Add(time.Hour))
	f.SeedDeals(a.Login, 1, lastIn.Add(time.Millisecond), to.Add(time.Hour)) // after To: out
	f.SeedDeals(a.Login, 53, from.Add(time.Hour), to)

	deals, pages := allDeals(t, c, trading.DealQuery{Login: a.Login, From: from, To: to, Limit: 7})
	requireOnceOldestFirst(t, deals, from, to)
	if len(deals) != 55 {
		t.Fatalf("got %d deals, want 55", len(deals))
	}
	if pages < 8 {
		t.Fatalf("55 deals with Limit 7 came in %d pages", pages)
	}
}

func TestClosedDealsFollowsThePlatformsOwnPagesInsideAWindow(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	f.SetReportPageSize(3)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(10 * 24 * time.Hour)
	f.SeedDeals(a.Login, 20, from, to)
	deals, _ := allDeals(t, c, trading.DealQuery{Login: a.Login, From: from, To: to})
	if len(deals) != 20 {
		t.Fatalf("got %d deals, want 20 over the platform's pages of 3", len(deals))
	}
	requireOnceOldestFirst(t, deals, from, to)
}

func TestClosedDealsRefusesACursorFromAnotherQuery(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	f.SeedDeals(a.Login, 10, from, from.Add(time.Hour))
	p, err := c.ClosedDeals(ctxFor(t), trading.DealQuery{Login: a.Login, From: from, To: from.Add(time.Hour), Limit: 3})
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %+v, %v", p, err)
	}
	for _, q := range []trading.DealQuery{
		{Login: a.Login, From: from, To: from.Add(2 * time.Hour), Cursor: p.Next},
		{Login: "700999", From: from, To: from.Add(time.Hour), Cursor: p.Next},
		{Login: a.Login, From: from, To: from.Add(time.Hour), Cursor: "garbage!"},
	} {
		_, err := c.ClosedDeals(ctxFor(t), q)
		requireKind(t, err, trading.ErrInvalidRequest)
	}
}

func TestClosedDealsRefusesAnInvertedRange(t *testing.T) {
	t.Parallel()
	c, calls := rawPlatform(t, 200, `{"data":[]}`)
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	_, err := c.ClosedDeals(ctxFor(t), trading.DealQuery{Login: "1", From: from, To: from.Add(-time.Second)})
	requireKind(t, err, trading.ErrInvalidRequest)
	if calls.Load() != 0 {
		t.Fatalf("an inverted range reached the platform")
	}
}

// The fake's 31-day rule is what makes the splitting tests meaningful: check it bites.
func TestFakeRefusesReportWindowsLongerThan31Days(t *testing.T) {
	t.Parallel()
	f := tlfake.New(t)
	c := newTestConnector(t, f, nil)
	a := openAccount(t, c, "1001", 100)
	for _, tc := range []struct {
		end    string
		status int
	}{
		{"2025-02-01T00:00:00.000Z", 200}, // exactly 31 days
		{"2025-02-01T00:00:00.001Z", 400},
	} {
		body := `{"type":"DEMO","accountIds":["` + a.Login + `"],"startDateTime":"2025-01-01T00:00:00.000Z","endDateTime":"` + tc.end + `"}`
		req, _ := http.NewRequestWithContext(ctxFor(t), http.MethodPost,
			f.URL()+"/brand-api/v2/reports/close-trades-history-report", bytes.NewBufferString(body))
		req.Header.Set("brand-api-key", tlfake.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("window to %s: status %d, want %d", tc.end, resp.StatusCode, tc.status)
		}
	}
}

func TestDealCursorRoundTrips(t *testing.T) {
	t.Parallel()
	for _, c := range []dealCursor{{q: 0, window: 0, offset: 0}, {q: ^uint64(0), window: 1 << 20, offset: 1 << 31}, {q: 42, window: 3, offset: 999}} {
		got, err := decodeCursor(c.encode())
		if err != nil || got != c {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", c, got, err)
		}
	}
}
