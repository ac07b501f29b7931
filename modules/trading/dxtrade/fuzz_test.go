package dxtrade

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/dxtrade/dxfake"
)

// Every parser of a server answer is fuzzed with the bodies the fake sends plus edge cases. Beyond "never panics",
// each target checks what callers rely on: exact bounded decimals, UTC times, and (for deals) the window and order.

func checkDecimal(t *testing.T, what string, d decimal.Decimal) {
	t.Helper()
	if e := d.Exponent(); e < -maxNumScale || e > maxNumScale {
		t.Fatalf("%s = %s has exponent %d: a hostile number got through", what, d.String(), e)
	}
}

func checkUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if !tm.IsZero() && tm.Location() != time.UTC {
		t.Fatalf("%s = %v is not UTC", what, tm)
	}
}

func FuzzParseLogin(f *testing.F) {
	for _, s := range []string{
		`{"sessionToken":"a1b2c3","timeout":1800000}`, `{"sessionToken":"a1b2c3","timeout":"60000"}`,
		`{"sessionToken":"a1b2c3"}`, `{"sessionToken":"a b"}`, `{"sessionToken":"","timeout":1}`,
		`{"sessionToken":"x","timeout":-5}`, `{"sessionToken":"x","timeout":1e99}`, `null`, ``, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		token, ttl, err := parseLogin(body)
		if err != nil {
			return
		}
		if token == "" || ttl <= 0 || ttl > 24*time.Hour {
			t.Fatalf("parseLogin(%q) = %q, %v", body, token, ttl)
		}
		for i := 0; i < len(token); i++ {
			if token[i] <= ' ' || token[i] >= 0x7f {
				t.Fatalf("token %q would corrupt the Authorization header", token)
			}
		}
	})
}

func FuzzParseError(f *testing.F) {
	for _, s := range []string{
		`{"errorCode":404,"errorMessage":"Account not found"}`, `{"errorCode":"NOT_FOUND","description":"gone"}`,
		`{"errorCode":"INSUFFICIENT_FUNDS","errorMessage":"No"}`, `<html>502</html>`, `{"errorCode":{}}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, msg := parseError(body)
		if len(code) > 64+3 || len(msg) > 512+3 {
			t.Fatalf("parseError kept %d and %d bytes; operator text must stay bounded", len(code), len(msg))
		}
	})
}

func FuzzParseAccount(f *testing.F) {
	for _, s := range []string{
		`{"clearingCode":"BDCLR","accountCode":"BD123","status":"FULL_TRADING","currency":"USD","balance":1000.55,` +
			`"credit":"20.5","categories":[{"category":"Margining","value":"Leverage 1:100"},` +
			`{"category":"Financing","value":"SwapFree"},{"category":"Trading","value":"Pro"}],"metadata":{"k":"v","n":5}}`,
		`{"accountCode":"X","balance":"1e400"}`, `{"accountCode":"X","balance":null,"credit":"abc"}`,
		`{"accountCode":""}`, `{"accountCode":"X","metadata":{"brokerdesk.operationId":7}}`,
	} {
		f.Add([]byte(s))
	}
	c := &Connector{cfg: Config{GroupDomain: "Trading", FinancingSwapFree: "SwapFree"},
		leverageOf: map[string]int{"Leverage 1:100": 100}}
	f.Fuzz(func(t *testing.T, body []byte) {
		wa, err := parseAccount(body)
		if err != nil {
			return
		}
		if wa.AccountCode == "" {
			t.Fatalf("account without a code accepted: %q", body)
		}
		_, _ = wa.metaString(metaCreatedBy)
		a := c.toAccount(wa, wireMetrics{})
		checkDecimal(t, "balance", wa.Balance.d)
		checkDecimal(t, "credit", wa.Credit.d)
		if a.Access.TradingEnabled && !a.Access.LoginEnabled {
			t.Fatalf("status %q reads as trading without login", wa.Status)
		}
	})
}

func FuzzParseMetrics(f *testing.F) {
	for _, s := range []string{
		`{"metrics":[{"account":"BDCLR:BD1","balance":100,"credit":0,"equity":"100.5","margin":0,"marginFree":100.5,` +
			`"availableFunds":100.5,"positions":[{"positionCode":"p1","fpl":-1.25}]}]}`,
		`{"metrics":[{"balance":1}]}`, `{"metrics":[]}`, `{"metrics":[{"account":"other","equity":1}]}`,
		`{"metrics":[{"account":"BDCLR:BD1","equity":"9999999999999999999999999999999999999999999999999999999999999999999"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseMetrics(body, "BDCLR:BD1")
		if err != nil {
			return
		}
		if m.Account != "BDCLR:BD1" && m.Account != "" {
			t.Fatalf("metrics for %q returned for BDCLR:BD1", m.Account)
		}
		for _, d := range []decimal.Decimal{m.Balance.d, m.Credit.d, m.Equity.d, m.Margin.d, m.MarginFree.or(m.AvailableFunds)} {
			checkDecimal(t, "metric", d)
		}
	})
}

func FuzzParsePositions(f *testing.F) {
	for _, s := range []string{
		`{"positions":[{"account":"BDCLR:BD1","positionCode":"p1","symbol":"EUR/USD","quantity":0.3,"side":"BUY",` +
			`"openPrice":1.08345,"lastUpdateTime":"2025-07-01T12:00:00.000Z"}]}`,
		`{"positions":[{"positionCode":"p2","side":"SELL","quantity":"-1","lastUpdateTime":1751371200000}]}`,
		`{"positions":[{"positionCode":"p3","side":"FLAT","lastUpdateTime":"2025-07-01T14:00:00+02:00"}]}`,
		`{"positions":[{"side":"BUY"}]}`, `{"positions":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		wps, err := parsePositions(body)
		if err != nil {
			return
		}
		for _, wp := range wps {
			p, err := toPosition(wp, "BD1", decimal.Zero)
			if err != nil {
				continue
			}
			if p.Side != trading.Buy && p.Side != trading.Sell || p.Volume.IsNegative() || p.ID == "" {
				t.Fatalf("position %+v", p)
			}
			checkUTC(t, "OpenTime", p.OpenTime)
			checkDecimal(t, "open price", p.OpenPrice)
		}
	})
}

func FuzzParseDeals(f *testing.F) {
	fake := dxfake.New(f)
	fake.AddAccount("BD1", "USD")
	from := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	fake.SeedDeals("BD1", 6, from, from.Add(6*time.Hour))
	f.Add(fake.HistoryBody("BD1"))
	for _, s := range []string{
		`{"orders":[{"orderId":"1","status":"COMPLETED","side":"BUY","transactionTime":"2025-03-03T01:00:00Z",` +
			`"legs":[{"quantity":"0.5","price":"1.1"}],"cashTransactions":[{"type":"COMMISSION","value":"-0.1"}]}]}`,
		`{"orders":[{"orderId":2,"side":"SELL","transactionTime":1741000000000,"legs":[{"filledQuantity":1}]}]}`,
		`{"orders":[{"orderCode":"c3","side":"SELL","transactionTime":"2025-03-03T02:00:00","legs":[{"filledQuantity":1}]}]}`,
		`{"orders":[{"orderId":4,"side":"BUY","legs":[{"filledQuantity":1}]}]}`,
		`{"orders":[{"side":"BUY","transactionTime":"2025-03-03T02:00:00Z","legs":[{"filledQuantity":1}]}]}`,
		`{"orders":[]}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		to := from.Add(6 * time.Hour)
		deals, raw, err := parseDeals(body, "BDCLR:BD1", "BD1", from, to)
		if err != nil {
			return
		}
		if raw < len(deals) {
			t.Fatalf("%d deals from %d orders", len(deals), raw)
		}
		for i, d := range deals {
			checkUTC(t, "deal time", d.Time)
			if d.Time.Before(from) || !d.Time.Before(to) {
				t.Fatalf("deal %s at %v outside [%v, %v)", d.Ticket, d.Time, from, to)
			}
			if i > 0 && d.Time.Before(deals[i-1].Time) {
				t.Fatalf("deals not oldest first at %d", i)
			}
			if d.Ticket == "" || d.Login != "BD1" || !d.Volume.IsPositive() ||
				(d.Action != trading.ActionBuy && d.Action != trading.ActionSell) {
				t.Fatalf("deal %+v", d)
			}
			for _, v := range []decimal.Decimal{d.Volume, d.Price, d.Profit, d.Commission, d.Swap} {
				checkDecimal(t, "deal amount", v)
			}
		}
	})
}
