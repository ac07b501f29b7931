package mt5

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones these tests name, whatever the machine has installed

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/mt5/mt5fake"
)

func TestServerTimeReadsTheDocumentedTimeField(t *testing.T) {
	t.Parallel()
	want := time.Date(2019, 10, 31, 10, 46, 28, 0, time.UTC)
	for _, answer := range []string{
		`{"Time":"1572518788 2019.10.31 10:46:28"}`, // as documented
		`{"time":"1572518788 2019.10.31 10:46:28"}`,
		`{"time":"1","Time":"1572518788 2019.10.31 10:46:28"}`,
		`{"Time":"1572518788 2019.10.31 10:46:28","time":"1"}`,
		`"1572518788 2019.10.31 10:46:28"`,
		`{"Time":"1572529588 2019.10.31 10:46:28"}`, // a build that sends UTC seconds beside the wall clock
	} {
		wall, err := parseServerTime([]byte(answer))
		if err != nil || !wall.Equal(want) {
			t.Errorf("parseServerTime(%s) = %v, %v; want the wall clock %v", answer, wall, err, want)
		}
	}
	for _, bad := range []string{`""`, `"1572518788"`, `"x 2019.10.31 10:46:28"`, `"1572518788 2019-10-31 10:46:28"`,
		`12`, `{}`, `{"TIME":"1572518788 2019.10.31 10:46:28"}`, `{"Time":"-1 2019.10.31 10:46:28"}`} {
		if _, err := parseServerTime([]byte(bad)); err == nil {
			t.Errorf("parseServerTime(%s) accepted", bad)
		}
	}
}

func TestTimeConfigGivesTheOffsetInMinutesAndTheDaylightHour(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		answer string
		want   time.Duration
	}{
		{`{"Daylight":"0","DaylightState":"0","TimeZone":"0","TimeServer":"","Days":[["1","1"],["0"]]}`, 0},
		{`{"TimeZone":"120"}`, 2 * time.Hour},
		{`{"Daylight":"1","DaylightState":"1","TimeZone":"120"}`, 3 * time.Hour},
		{`{"Daylight":"1","DaylightState":"0","TimeZone":"120"}`, 2 * time.Hour},
		{`{"TimeZone":-300,"DaylightState":1}`, -4 * time.Hour},
		{`{"TimeZone":"330"}`, 5*time.Hour + 30*time.Minute},
		{`{"TimeZone":"840"}`, 14 * time.Hour},
	} {
		off, err := parseTimeConfig([]byte(c.answer))
		if err != nil || off != c.want {
			t.Errorf("parseTimeConfig(%s) = %v, %v; want %v", c.answer, off, err, c.want)
		}
	}
	for _, bad := range []string{`{}`, `{"timezone":"120"}`, `{"TimeZone":"7200"}`, `{"TimeZone":"-841"}`,
		`{"TimeZone":"840","DaylightState":"1"}`, `{"TimeZone":"2h"}`, `{"TimeZone":"120","DaylightState":"yes"}`} {
		if off, err := parseTimeConfig([]byte(bad)); err == nil {
			t.Errorf("parseTimeConfig(%s) = %v, accepted", bad, off)
		}
	}
}

func TestDealTimesAreUTCWhateverTheServerZone(t *testing.T) {
	t.Parallel()
	for _, offset := range []time.Duration{0, 2 * time.Hour, 3 * time.Hour, -5 * time.Hour, 5*time.Hour + 30*time.Minute, 13 * time.Hour} {
		t.Run(offset.String(), func(t *testing.T) {
			t.Parallel()
			f := mt5fake.New(t, mt5fake.Options{Offset: offset})
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
			f := mt5fake.New(t, mt5fake.Options{Offset: 2 * time.Hour})
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
	f := mt5fake.New(t, mt5fake.Options{Offset: 2 * time.Hour})
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
	f := mt5fake.New(t, mt5fake.Options{})
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

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	z, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// listAll reads every page of the account's deals in [from, to).
func listAll(t *testing.T, c *Connector, login string, from, to time.Time) []trading.Deal {
	t.Helper()
	q := trading.DealQuery{Login: login, From: from, To: to, Limit: 7}
	var all []trading.Deal
	for {
		page, err := c.ClosedDeals(testCtx(t), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Deals...)
		if page.Next == "" {
			return all
		}
		q.Cursor = page.Next
	}
}

// Cyprus follows the EU rule: EET (UTC+2) in winter, EEST (UTC+3) from 01:00 UTC on the last Sunday of March to
// 01:00 UTC on the last Sunday of October.
var (
	springForward = time.Date(2025, 3, 30, 1, 0, 0, 0, time.UTC)
	fallBack      = time.Date(2025, 10, 26, 1, 0, 0, 0, time.UTC)
)

func TestDealsOnBothSidesOfADaylightSavingChangeAreUTCWithTheServersTimeZone(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		zone   string
		shift  time.Duration
		change time.Time
		back   bool // the clock goes back an hour
	}{
		{"EU spring", "Europe/Nicosia", 0, springForward, false},
		{"EU autumn", "Europe/Nicosia", 0, fallBack, true},
		// New York plus 7 hours: GMT+2/GMT+3 changing on New York's dates, weeks before and after the EU's.
		{"New York+7 spring", "America/New_York", 7 * time.Hour, time.Date(2025, 3, 9, 7, 0, 0, 0, time.UTC), false},
		{"New York+7 autumn", "America/New_York", 7 * time.Hour, time.Date(2025, 11, 2, 6, 0, 0, 0, time.UTC), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := mt5fake.New(t, mt5fake.Options{Zone: mustZone(t, c.zone), Offset: c.shift})
			cn := newTestConnector(t, f, func(cfg *Config) { cfg.TimeZone, cfg.TimeZoneShift = c.zone, c.shift })
			login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
			from, to := c.change.Add(-3*time.Hour), c.change.Add(3*time.Hour)
			// A deal every 20 minutes on both sides of the change, and one just outside each end of the window.
			// When the clock goes back, the hour after the change repeats the wall clock of the hour before it,
			// and a reading from that hour cannot say which it was: it is left out here (see the next test).
			var want []time.Time
			for at := from; at.Before(to); at = at.Add(20 * time.Minute) {
				if c.back && !at.Before(c.change) && at.Before(c.change.Add(time.Hour)) {
					continue
				}
				f.SeedDeals(login, 1, at, at.Add(time.Second))
				want = append(want, at)
			}
			f.SeedDeals(login, 1, from.Add(-time.Second), from)
			f.SeedDeals(login, 1, to, to.Add(time.Second))
			got := listAll(t, cn, login, from, to)
			if len(got) != len(want) {
				t.Fatalf("%d deals, want %d", len(got), len(want))
			}
			for i, d := range got {
				if !d.Time.Equal(want[i]) || d.Time.Location() != time.UTC {
					t.Errorf("deal %d at %v, want %v", i, d.Time, want[i])
				}
			}
		})
	}
}

func TestServerClockAroundDaylightSavingChanges(t *testing.T) {
	t.Parallel()
	clk := serverClock{zone: mustZone(t, "Europe/Nicosia")}
	wall := func(s string) time.Time {
		w, err := time.Parse(wallLayout, s)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for _, c := range []struct {
		wall string
		want time.Time
	}{
		{"2025.03.30 02:59:59", springForward.Add(-time.Second)},
		{"2025.03.30 04:00:00", springForward},
		{"2025.03.30 03:30:00", springForward.Add(30 * time.Minute)}, // skipped: read with the winter offset
		{"2025.10.26 03:59:59", fallBack.Add(-time.Second)},
		{"2025.10.26 03:30:00", fallBack.Add(-30 * time.Minute)}, // read twice that night: the earlier is taken
		{"2025.10.26 04:00:00", fallBack.Add(time.Hour)},
		{"2025.07.01 12:00:00", time.Date(2025, 7, 1, 9, 0, 0, 0, time.UTC)},
		{"2025.01.01 12:00:00", time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)},
	} {
		if got := clk.instant(wall(c.wall)); !got.Equal(c.want) {
			t.Errorf("wall clock %s read as %v, want %v", c.wall, got, c.want)
		}
	}
	// A window across a change asks the server for exactly the wall-clock seconds its instants were read at: in
	// autumn 03:30 to 04:00 summer time, then 03:00 to 03:30 winter time; in spring 02:30 to 03:00, then 04:00 to 04:30.
	for _, c := range []struct {
		change      time.Time
		first, last string
	}{
		{fallBack, "2025.10.26 03:00:00", "2025.10.26 03:59:59"},
		{springForward, "2025.03.30 02:30:00", "2025.03.30 04:29:59"},
	} {
		first, last := clk.window(c.change.Add(-30*time.Minute), c.change.Add(30*time.Minute))
		if f, l := time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC(); !f.Equal(wall(c.first)) || !l.Equal(wall(c.last)) {
			t.Errorf("window %v to %v, want %s to %s", f, l, c.first, c.last)
		}
	}
	// Every instant of any window near a change falls inside the seconds asked for, and the first second asked
	// for is one an instant was read at.
	for _, change := range []time.Time{springForward, fallBack} {
		for from := change.Add(-3 * time.Hour); from.Before(change.Add(3 * time.Hour)); from = from.Add(10 * time.Minute) {
			for span := 10 * time.Minute; span <= 4*time.Hour; span += 50 * time.Minute {
				first, last := clk.window(from, from.Add(span))
				lowest := int64(math.MaxInt64)
				for at := from; at.Before(from.Add(span)); at = at.Add(5 * time.Minute) {
					local := clk.toLocal(at)
					if local < first || local > last {
						t.Fatalf("window [%v, %v): %v read at %d, outside %d..%d", from, from.Add(span), at, local, first, last)
					}
					lowest = min(lowest, local)
				}
				if lowest != first {
					t.Fatalf("window [%v, %v) starts at %d, its earliest reading is %d", from, from.Add(span), first, lowest)
				}
			}
		}
	}
	fixed := serverClock{offset: 2 * time.Hour}
	if first, last := fixed.window(springForward, springForward.Add(time.Hour+time.Millisecond)); first != springForward.Add(2*time.Hour).Unix() ||
		last != springForward.Add(3*time.Hour).Unix() {
		t.Errorf("fixed window %d to %d", first, last)
	}
}

func TestWithoutATimeZoneTheOffsetComesFromTimeGet(t *testing.T) {
	t.Parallel()
	zone := mustZone(t, "Europe/Nicosia")
	f := mt5fake.New(t, mt5fake.Options{Zone: zone})
	c := newTestConnector(t, f, nil)
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	// Deals from this season read right; deals from the other side of a change are an hour off, which is what the
	// TimeZone setting is for.
	same, other := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC), time.Date(2025, 7, 15, 12, 0, 0, 0, time.UTC)
	if time.Now().In(zone).IsDST() {
		same, other = other, same
	}
	for _, at := range []time.Time{same, other} {
		f.SeedDeals(login, 1, at, at.Add(time.Second))
	}
	got := listAll(t, c, login, same.Add(-time.Hour), same.Add(time.Hour))
	if len(got) != 1 || !got[0].Time.Equal(same) {
		t.Fatalf("deals %v, want one at %v", got, same)
	}
	got = listAll(t, c, login, other.Add(-2*time.Hour), other.Add(2*time.Hour))
	if len(got) != 1 || got[0].Time.Sub(other).Abs() != time.Hour {
		t.Fatalf("deals %v: want the deal at %v read an hour off", got, other)
	}
	if f.Requests("/api/time/get") != 1 {
		t.Errorf("time/get asked %d times, want once within ClockTTL", f.Requests("/api/time/get"))
	}
}

func TestATimeZoneThatDisagreesWithTheServersClockIsLogged(t *testing.T) {
	t.Parallel()
	for zone, wantError := range map[string]bool{"Europe/Nicosia": false, "Asia/Tokyo": true} {
		t.Run(zone, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			var mu sync.Mutex
			f := mt5fake.New(t, mt5fake.Options{Zone: mustZone(t, "Europe/Nicosia")})
			c := newTestConnector(t, f, func(cfg *Config) {
				cfg.TimeZone = zone
				cfg.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
			})
			login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
			now := time.Now()
			if _, err := c.ClosedDeals(testCtx(t), trading.DealQuery{Login: login, From: now.Add(-time.Hour), To: now}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := strings.Contains(logs.String(), "disagrees"); got != wantError {
				t.Errorf("TimeZone %s on a Nicosia server: error logged %v, want %v: %s", zone, got, wantError, logs.String())
			}
			if f.Requests("/api/time/get") != 0 {
				t.Errorf("time/get asked although the zone is configured")
			}
		})
	}
}

func TestCursorFromAnotherTimeZoneSettingIsRefused(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{Zone: mustZone(t, "Europe/Nicosia")})
	fixed := newTestConnector(t, f, nil)
	zoned := newTestConnector(t, f, func(cfg *Config) { cfg.TimeZone = "Europe/Nicosia" })
	login := fmt.Sprint(f.AddUser(`real\standard`, "0"))
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.SeedDeals(login, 4, from, from.Add(time.Hour))
	for _, pair := range [][2]*Connector{{fixed, zoned}, {zoned, fixed}} {
		page, err := pair[0].ClosedDeals(testCtx(t), trading.DealQuery{Login: login, From: from, To: from.Add(time.Hour), Limit: 2})
		if err != nil || page.Next == "" {
			t.Fatalf("%+v %v", page, err)
		}
		_, err = pair[1].ClosedDeals(testCtx(t), trading.DealQuery{Login: login, Cursor: page.Next})
		requireKind(t, err, trading.ErrInvalidRequest)
	}
}
