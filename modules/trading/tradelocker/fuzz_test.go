package tradelocker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

const detailsSeed = `{"accountName":"Ada Lovelace","accountId":"700123","userId":"3f1c","userGroupId":"1001","type":"LIVE",` +
	`"status":"ACTIVE","tradingDisabledReason":null,"currency":"USD","leverage":"100","balance":"1000.55",` +
	`"credit":"50.25","equity":"1050.80","pnl":"0.00","marginAvailable":"1050.80","marginUsed":"0.00",` +
	`"createdDateTime":"2025-01-01T00:00:00.000Z"}`

func FuzzParseDetails(f *testing.F) {
	for _, s := range []string{
		detailsSeed,
		`{"accountId":700123,"status":"RESTRICTED","currency":"eur","leverage":"1:30","balance":"0"}`,
		`{"accountId":"1","status":"ACTIVE","tradingDisabledReason":{"type":"RISK_RULE"},"balance":"1e3","credit":12.5}`,
		`{"accountId":"1","balance":"NaN"}`,
		`{"accountId":"1","balance":"1","leverage":"0"}`,
		`{}`, `null`, `[]`, `{"accountId":"1","balance":"99999999999999999999999999.123456789"}`,
		`{"accountId":"1","balance":"1e999999999"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseDetails(body)
		if err != nil {
			return
		}
		a := d.account
		if a.Login == "" {
			t.Fatalf("parsed an account with no login from %q", body)
		}
		if a.Leverage < 0 {
			t.Fatalf("negative leverage %d", a.Leverage)
		}
		if a.Access.TradingEnabled && !a.Access.LoginEnabled {
			t.Fatalf("access %+v: trading without login cannot be read from TradeLocker statuses", a.Access)
		}
		// Money is exact: its text form parses back to the same value.
		for name, m := range map[string]decimal.Decimal{"balance": a.Balance, "credit": a.Credit, "equity": a.Equity,
			"margin": a.Margin, "free": a.FreeMargin} {
			if back, err := decimal.NewFromString(m.String()); err != nil || !back.Equal(m) {
				t.Fatalf("%s %s does not round-trip", name, m)
			}
		}
	})
}

const reportSeed = `{"data":[{"accountId":"700123","instrument":"EURUSD","openMilliseconds":"1735689600000",` +
	`"orderType":"Market","positionSide":"Buy","closeAmount":"0.10","averageOpenPrice":"1.08210","closePrice":"1.08345",` +
	`"closeMilliseconds":"1735693200000","openAmount":"0.10","closeTradeId":"5000001","openTradeId":"4000001",` +
	`"closeOrderId":"6000001","positionId":"7000001","openOrderId":"6000000","strategyId":null,"slPrice":null,` +
	`"slOrderType":null,"slTrailingOffset":null,"tpPrice":null,"commission":"-0.70","swap":"-0.12","profit":"13.50",` +
	`"netProfit":"12.68"}],"links":{"next":null}}`

func FuzzParseReport(f *testing.F) {
	for _, s := range []string{
		reportSeed,
		`{"data":[{"closeTradeId":1,"positionSide":"SELL","closeAmount":1,"closePrice":"2","closeDateTime":"2025-01-01T10:00:00+02:00"}]}`,
		`{"data":[{"closeTradeId":"1","positionSide":"Buy","closeAmount":"1","closePrice":"2","closeMilliseconds":"-5"}]}`,
		`{"data":[],"links":{"next":{"url":"/x","params":{"cursor":"20"}}}}`,
		`{"data":[{"closeTradeId":"1","positionSide":"Flat"}]}`,
		`{"data":null}`, `{}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	from := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(maxWindow)
	f.Fuzz(func(t *testing.T, body []byte) {
		deals, _, err := parseReport(body, "700123")
		if err != nil {
			return
		}
		for _, d := range deals {
			if d.Ticket == "" || d.Login == "" {
				t.Fatalf("deal %+v has no ticket or login", d)
			}
			if d.Time.Location() != time.UTC {
				t.Fatalf("deal %s time %v is not UTC", d.Ticket, d.Time)
			}
			if d.Action != trading.ActionBuy && d.Action != trading.ActionSell || d.Entry != trading.EntryOut {
				t.Fatalf("deal %s is %s/%s, want a closing buy or sell", d.Ticket, d.Action, d.Entry)
			}
		}
		kept := inWindowOldestFirst(deals, from, to)
		for i, d := range kept {
			if d.Time.Before(from) || !d.Time.Before(to) || (i > 0 && d.Time.Before(kept[i-1].Time)) {
				t.Fatalf("normalised deals out of window or order at %d: %v", i, d.Time)
			}
		}
	})
}

func FuzzParseErrorReason(f *testing.F) {
	for _, s := range []string{
		`{"statusCode":400,"message":"Insufficient funds","error":"Bad Request"}`,
		`{"statusCode":400,"message":["amount must be a number string","note too long"],"error":"Bad Request"}`,
		`{"statusCode":401,"error":"Unauthorized"}`,
		`{"message":{"nested":true}}`,
		`<html><body>502 Bad Gateway</body></html>`,
		"\xff\xfe not utf-8 \x00 control",
		``, `null`, `"just a string"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := parseErrorReason(body)
		if !utf8.ValidString(r) {
			t.Fatalf("reason %q is not valid UTF-8", r)
		}
		if len(r) > maxReasonLen+len("…") {
			t.Fatalf("reason is %d bytes, more than the cap", len(r))
		}
		if strings.ContainsFunc(r, func(c rune) bool { return c < 0x20 && c != '\t' }) {
			t.Fatalf("reason %q has control characters that would break a log line", r)
		}
		// The money rules must not turn a non-money error into insufficient funds.
		if kindFor(400, r, false) != trading.ErrInvalidRequest {
			t.Fatalf("400 outside a money call became %v", kindFor(400, r, false))
		}
	})
}

func FuzzParsePositions(f *testing.F) {
	f.Add([]byte(`{"data":[{"positionId":"1","accountId":"700123","lots":"0.5","lotSize":"100000","units":"50000",` +
		`"openDateTime":"2025-01-02T03:04:05.678Z","pnl":"-1.25","swap":"0","slPrice":null,"tpPrice":null,` +
		`"openPrice":"1.1","side":"SHORT_SELL","instrument":"EURUSD"}]}`))
	f.Add([]byte(`{"data":[{"positionId":"1","lots":"x","side":"BUY"}]}`))
	f.Add([]byte(`{"data":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ps, err := parsePositions(body, "700123")
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Side != trading.Buy && p.Side != trading.Sell {
				t.Fatalf("position %s side %q", p.ID, p.Side)
			}
			if p.OpenTime.Location() != time.UTC {
				t.Fatalf("position %s open time %v not UTC", p.ID, p.OpenTime)
			}
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(dealCursor{q: 7, window: 2, offset: 40}.encode())
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		if c.window < 0 || c.offset < 0 {
			t.Fatalf("cursor %q decoded to negative position %+v", s, c)
		}
		if again, err := decodeCursor(c.encode()); err != nil || again != c {
			t.Fatalf("cursor %+v does not round-trip", c)
		}
	})
}

func FuzzParseLeverage(f *testing.F) {
	for _, s := range []string{"100", "1:500", "30.00", "0", "-5", "1:", "abc", "1e2", "2.5", "1e999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lev, ok := parseLeverage(s)
		if ok && (lev < 1 || lev > 1_000_000) {
			t.Fatalf("parseLeverage(%q) = %d, outside 1..1000000", s, lev)
		}
	})
}

// The fuzz seeds above must themselves parse: a seed that fails to parse would make the targets test nothing.
func TestFuzzSeedsAreRealAnswers(t *testing.T) {
	t.Parallel()
	d, err := parseDetails([]byte(detailsSeed))
	if err != nil {
		t.Fatal(err)
	}
	if d.account.Leverage != 100 || !d.account.Balance.Equal(dec("1000.55")) || !d.account.FreeMargin.Equal(dec("1050.8")) {
		t.Fatalf("details seed parsed to %+v", d.account)
	}
	deals, next, err := parseReport([]byte(reportSeed), "x")
	if err != nil || len(deals) != 1 || next != "" {
		t.Fatalf("report seed: %+v, %q, %v", deals, next, err)
	}
	want := trading.Deal{Ticket: "5000001", Login: "700123", Order: "6000001", PositionID: "7000001",
		Action: trading.ActionSell, Entry: trading.EntryOut, Symbol: "EURUSD", Volume: dec("0.1"), Price: dec("1.08345"),
		Profit: dec("13.5"), Commission: dec("-0.7"), Swap: dec("-0.12"), Time: time.UnixMilli(1735693200000).UTC(),
		Comment: "Market"}
	got := deals[0]
	if got.Ticket != want.Ticket || got.Login != want.Login || got.Order != want.Order || got.PositionID != want.PositionID ||
		got.Action != want.Action || got.Entry != want.Entry || got.Symbol != want.Symbol || !got.Volume.Equal(want.Volume) ||
		!got.Price.Equal(want.Price) || !got.Profit.Equal(want.Profit) || !got.Commission.Equal(want.Commission) ||
		!got.Swap.Equal(want.Swap) || !got.Time.Equal(want.Time) || got.Comment != want.Comment {
		t.Fatalf("report row parsed to\n%+v\nwant\n%+v", got, want)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(reportSeed), &raw); err != nil {
		t.Fatal(err)
	}
}

func TestParseLeverageAcceptsThePlatformsForms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"100": 100, "1:500": 500, "30.00": 30, " 50 ": 50, "0": 0, "-5": 0,
		"2.5": 0, "1e2": 0, "1:": 0, "": 0, "10000000": 0} {
		got, ok := parseLeverage(in)
		if got != want || ok != (want > 0) {
			t.Errorf("parseLeverage(%q) = %d, %t; want %d", in, got, ok, want)
		}
	}
}
