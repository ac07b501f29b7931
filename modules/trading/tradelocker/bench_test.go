package tradelocker

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// reportBody builds a report answer of n closed trades with every field the platform sends, newest first as the
// platform orders it.
func reportBody(n int, start time.Time) []byte {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := n - 1; i >= 0; i-- {
		closeMs := start.Add(time.Duration(i) * 17 * time.Second).UnixMilli()
		side := "Buy"
		if i%3 == 0 {
			side = "Sell"
		}
		fmt.Fprintf(&b, `{"accountId":"700123","instrument":"EURUSD","openMilliseconds":"%d","orderType":"Market",`+
			`"positionSide":"%s","closeAmount":"0.%02d","averageOpenPrice":"1.08210","closePrice":"1.08%03d",`+
			`"closeMilliseconds":"%d","openAmount":"0.%02d","closeTradeId":"%d","openTradeId":"%d",`+
			`"closeOrderId":"%d","positionId":"%d","openOrderId":"%d","strategyId":null,"slPrice":"1.07500",`+
			`"slOrderType":"STOP","slTrailingOffset":null,"tpPrice":null,"commission":"-0.70","swap":"-0.%02d",`+
			`"profit":"%d.%02d","netProfit":"12.68"}`,
			closeMs-3600000, side, 1+i%99, i%1000, closeMs, 1+i%99, 5000000+i, 4000000+i, 6000000+i, 7000000+i,
			6500000+i, i%100, i%500, i%100)
		if i > 0 {
			b.WriteByte(',')
		}
	}
	b.WriteString(`],"links":{"next":null}}`)
	return []byte(b.String())
}

// BenchmarkTradeLockerParseDeals measures parsing and normalising (window filter, oldest-first sort) one report
// answer of 1,000 closed trades, the work ClosedDeals does per window. Goal: >= 100,000 deals/s.
func BenchmarkTradeLockerParseDeals(b *testing.B) {
	const n = 1000
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	body := reportBody(n, start)
	from, to := start, start.Add(maxWindow)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	deals := 0
	for b.Loop() {
		ds, _, err := parseReport(body, "700123")
		if err != nil {
			b.Fatal(err)
		}
		deals += len(inWindowOldestFirst(ds, from, to))
	}
	if deals == 0 {
		b.Fatal("no deals parsed")
	}
	b.ReportMetric(float64(deals)/b.Elapsed().Seconds(), "deals/s")
}

func TestBenchmarkReportIsParsedCompletely(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ds, _, err := parseReport(reportBody(50, start), "700123")
	if err != nil {
		t.Fatal(err)
	}
	kept := inWindowOldestFirst(ds, start, start.Add(maxWindow))
	if len(kept) != 50 || !kept[0].Time.Equal(start) || kept[0].Ticket != "5000000" {
		t.Fatalf("benchmark report parsed to %d deals, first %+v", len(kept), kept[0])
	}
}
