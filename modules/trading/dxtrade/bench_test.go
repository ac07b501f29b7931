package dxtrade

import (
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading/dxtrade/dxfake"
)

// BenchmarkDXtradeParseDeals parses and normalises a 1000-order history page into deals; the figure that matters
// is deals/s (goal: at least 100,000).
func BenchmarkDXtradeParseDeals(b *testing.B) {
	const n = 1000
	f := dxfake.New(b)
	f.AddAccount("BD1", "USD")
	from := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	to := from.Add(30 * 24 * time.Hour)
	f.SeedDeals("BD1", n, from, to)
	body := f.HistoryBody("BD1")
	deals, _, err := parseDeals(body, "BDCLR:BD1", "BD1", from, to)
	if err != nil || len(deals) != n {
		b.Fatalf("parsed %d deals (%v), want %d", len(deals), err, n)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parseDeals(body, "BDCLR:BD1", "BD1", from, to); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deals/s")
}
