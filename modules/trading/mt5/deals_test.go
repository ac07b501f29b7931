package mt5

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

func TestServerTimeGivesTheZoneOffset(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		answer string
		want   time.Duration
	}{
		{`"1572518788 2019.10.31 10:46:28"`, 0},
		{`"1572518788 2019.10.31 12:46:28"`, 2 * time.Hour},
		{`"1572518788 2019.10.31 13:46:28"`, 3 * time.Hour},
		{`"1572518788 2019.10.31 05:46:28"`, -5 * time.Hour},
		{`"1572518788 2019.10.31 16:16:28"`, 5*time.Hour + 30*time.Minute},
		{`"1572518788 2019.11.01 00:46:28"`, 14 * time.Hour},
		{`"1572518788 2019.10.31 13:46:29"`, 3 * time.Hour}, // the server read its clock a second later
		{`{"time":"1572518788 2019.10.31 12:46:28"}`, 2 * time.Hour},
	} {
		clk, err := parseServerTime([]byte(c.answer))
		if err != nil || clk.offset != c.want {
			t.Errorf("parseServerTime(%s) = %v, %v; want %v", c.answer, clk.offset, err, c.want)
		}
	}
	for _, bad := range []string{`""`, `"1572518788"`, `"x 2019.10.31 10:46:28"`, `"1572518788 2019-10-31 10:46:28"`,
		`"1572518788 2019.11.02 10:46:28"`, `12`, `{"Time":"1572518788 2019.10.31 10:46:28"}`} {
		if _, err := parseServerTime([]byte(bad)); err == nil {
			t.Errorf("parseServerTime(%s) accepted", bad)
		}
	}
}

func TestDealTimesAreUTCWhateverTheServerZone(t *testing.T) {
	t.Parallel()
	for _, offset := range []time.Duration{0, 2 * time.Hour, 3 * time.Hour, -5 * time.Hour, 5*time.Hour + 30*time.Minute, 13 * time.Hour} {
		t.Run(offset.String(), func(t *testing.T) {
			t.Parallel()
			f := newFake(t, fakeOptions{Offset: offset})
			c := newTestConnector(t, f, nil)
			login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
			// A window around midnight UTC, so a wrong offset moves deals across the date and out of the window.
			from := time.Date(2025, 3, 30, 23, 0, 0, 0, time.UTC)
			to := from.Add(2 * time.Hour)
			f.SeedDeals(login, 4, from, to) // 23:00, 23:30, 00:00, 00:30
			f.SeedDeals(login, 1, to, to.Add(time.Minute))
			f.SeedDeals(login, 1, from.Add(-time.Millisecond), from)
			page, err := c.ClosedDeals(testCtx(t), trading.DealQuery{Login: login, From: from, To: to})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Deals) != 4 || page.Next != "" {
				t.Fatalf("%d deals, next %q; want 4 and no next page", len(page.Deals), page.Next)
			}
			for i, d := range page.Deals {
				want := from.Add(time.Duration(i) * 30 * time.Minute)
				if !d.Time.Equal(want) || d.Time.Location() != time.UTC {
					t.Errorf("deal %d at %v, want %v UTC", i, d.Time, want)
				}
			}
		})
	}
}

func TestDealsConvertUnitsAndActions(t *testing.T) {
	t.Parallel()
	clk := serverClock{offset: 2 * time.Hour}
	deal := func(fields string) trading.Deal {
		t.Helper()
		d, err := parseDeal([]byte(`{"Deal":"9",` + fields + `}`))
		if err != nil {
			t.Fatalf("parseDeal(%s): %v", fields, err)
		}
		return d.toDeal(clk)
	}
	for _, c := range []struct {
		fields string
		lots   string
	}{
		{`"Volume":"10000"`, "1"},
		{`"Volume":"1000"`, "0.1"},
		{`"Volume":"1"`, "0.0001"},
		{`"Volume":"1000","VolumeExt":"10000000"`, "0.1"},
		{`"Volume":"0","VolumeExt":"1"`, "0.00000001"}, // below what Volume can say: VolumeExt wins
		{`"Volume":"12345","VolumeExt":"123456789"`, "1.23456789"},
		{`"Volume":1000,"VolumeExt":null`, "0.1"},
		{`"VolumeExt":250000000000`, "2500"},
	} {
		if got := deal(c.fields).Volume; !got.Equal(dec(c.lots)) {
			t.Errorf("%s: %s lots, want %s", c.fields, got, c.lots)
		}
	}
	d := deal(`"Login":"5","Action":"1","Entry":"1","Time":"1700007200","TimeMsc":"1700007200250","Symbol":"EURUSD","Price":"1.08345","Profit":"-12.30","Commission":"-0.70","Storage":"0.05","Comment":"close \\\\ tp","PositionID":"77","Order":"0"`)
	want := trading.Deal{Ticket: "9", Login: "5", PositionID: "77", Action: trading.ActionSell, Entry: trading.EntryOut,
		Symbol: "EURUSD", Time: time.UnixMilli(1700000000250).UTC(), Comment: `close \\ tp`}
	if d.Ticket != want.Ticket || d.Login != want.Login || d.PositionID != want.PositionID || d.Order != "" ||
		d.Action != want.Action || d.Entry != want.Entry || d.Symbol != want.Symbol || !d.Time.Equal(want.Time) ||
		d.Comment != want.Comment || !d.Price.Equal(dec("1.08345")) || !d.Profit.Equal(dec("-12.3")) ||
		!d.Commission.Equal(dec("-0.7")) || !d.Swap.Equal(dec("0.05")) {
		t.Errorf("got %+v", d)
	}
	for action, want := range map[string]trading.DealAction{"0": trading.ActionBuy, "2": trading.ActionBalance,
		"3": trading.ActionCredit, "4": trading.ActionCharge, "5": trading.ActionCorrection, "6": trading.ActionBonus,
		"7": trading.ActionCommission, "18": trading.ActionAgent, "15": trading.ActionOther} {
		d := deal(`"Action":"` + action + `","Entry":"0"`)
		if d.Action != want {
			t.Errorf("action %s = %s, want %s", action, d.Action, want)
		}
		if (want == trading.ActionBuy) != (d.Entry == trading.EntryIn) {
			t.Errorf("action %s has entry %q; only trades have one", action, d.Entry)
		}
	}
}

func TestDealTotalReadsTheDocumentedSpellingAndTheLowerCaseOne(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{`{"Total":"42"}`: 42, `{"total":"7"}`: 7, `{"Total":3}`: 3, `12`: 12, `"5"`: 5,
		`{"total":"1","Total":"2"}`: 2, `{"Total":"2","total":"1"}`: 2} {
		if n, err := parseTotal([]byte(in)); err != nil || n != want {
			t.Errorf("parseTotal(%s) = %d, %v; want %d", in, n, err, want)
		}
	}
	// An answer without the count is not "no deals": reading it as 0 is what left every page empty.
	for _, bad := range []string{`{}`, `{"TOTAL":"4"}`, `{"Total":"-1"}`, `{"Total":"x"}`} {
		if n, err := parseTotal([]byte(bad)); err == nil {
			t.Errorf("parseTotal(%s) = %d, accepted", bad, n)
		}
	}
}

func TestPagingCoversEveryDealOnceAtEveryBoundary(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ deals, limit int }{
		{0, 0}, {1, 0}, {99, 0}, {100, 0}, {101, 0}, {200, 0}, {201, 0}, {10, 3}, {9, 3}, {5, 500},
	} {
		t.Run(fmt.Sprintf("%d-by-%d", c.deals, c.limit), func(t *testing.T) {
			t.Parallel()
			f := newFake(t, fakeOptions{Offset: 2 * time.Hour})
			cn := newTestConnector(t, f, nil)
			login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
			from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			to := from.Add(30 * 24 * time.Hour)
			if c.deals > 0 {
				f.SeedDeals(login, c.deals, from, to)
			}
			pageSize := c.limit
			if pageSize <= 0 || pageSize > maxPage {
				pageSize = maxPage
			}
			wantPages := max(1, (c.deals+pageSize-1)/pageSize)
			q := trading.DealQuery{Login: login, From: from, To: to, Limit: c.limit}
			seen := map[string]bool{}
			var last time.Time
			pages := 0
			for {
				pages++
				if pages > wantPages {
					t.Fatalf("more than %d pages", wantPages)
				}
				page, err := cn.ClosedDeals(testCtx(t), q)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Deals) > pageSize {
					t.Fatalf("page of %d deals, limit %d", len(page.Deals), pageSize)
				}
				for _, d := range page.Deals {
					if seen[d.Ticket] || d.Time.Before(last) {
						t.Fatalf("deal %s repeated or out of order", d.Ticket)
					}
					seen[d.Ticket], last = true, d.Time
				}
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
			}
			if len(seen) != c.deals || pages != wantPages {
				t.Fatalf("%d deals in %d pages, want %d in %d", len(seen), pages, c.deals, wantPages)
			}
			if n := f.Requests("/api/deal/get_total"); n != 1 {
				t.Errorf("get_total asked %d times, want once per listing", n)
			}
		})
	}
}

func TestCursorIsStableAndBoundToItsQuery(t *testing.T) {
	t.Parallel()
	f := newFake(t, fakeOptions{Offset: 2 * time.Hour})
	c := newTestConnector(t, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	other := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	f.SeedDeals(login, 10, from, to)
	first, err := c.ClosedDeals(testCtx(t), trading.DealQuery{Login: login, From: from, To: to, Limit: 4})
	if err != nil || first.Next == "" {
		t.Fatalf("%+v %v", first, err)
	}
	// The same cursor read twice gives the same page, even after a deal lands in the window in between (it is
	// after the counted total, so the listing does not shift).
	a, err := c.ClosedDeals(testCtx(t), trading.DealQuery{Login: login, Cursor: first.Next, Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	f.SeedDeals(login, 1, to.Add(-time.Second), to)
	b, err := c.ClosedDeals(testCtx(t), trading.DealQuery{Login: login, Cursor: first.Next, Limit: 4})
	if err != nil || len(a.Deals) != 4 || len(b.Deals) != 4 || a.Deals[0].Ticket != b.Deals[0].Ticket || a.Next != b.Next {
		t.Fatalf("cursor not stable: %v %v %v", a, b, err)
	}
	for name, q := range map[string]trading.DealQuery{
		"other login":  {Login: other, Cursor: first.Next},
		"other window": {Login: login, From: from.Add(time.Minute), To: to, Cursor: first.Next},
		"garbage":      {Login: login, Cursor: "not-a-cursor"},
		"forged":       {Login: login, Cursor: cursor{V: 1, Login: 1, From: 1, To: 2, Total: 1, Offset: 2}.encode()},
	} {
		_, err := c.ClosedDeals(testCtx(t), q)
		requireKind(t, err, trading.ErrInvalidRequest)
		_ = name
	}
}

func TestUnknownLoginReadsAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFake(t, fakeOptions{})
	c := newTestConnector(t, f, nil)
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, login := range []string{"424242", "abc", "0", strconv.Itoa(-1)} {
		_, err := c.Account(testCtx(t), login)
		requireKind(t, err, trading.ErrNotFound)
		_, err = c.ClosedDeals(testCtx(t), trading.DealQuery{Login: login, From: from, To: from.Add(time.Hour)})
		requireKind(t, err, trading.ErrNotFound)
		_, err = c.OpenPositions(testCtx(t), login)
		requireKind(t, err, trading.ErrNotFound)
	}
}
