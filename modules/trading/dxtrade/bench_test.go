package dxtrade

import (
	"encoding/json"
	"testing"
	"time"
)

// historyBody is an order-history answer for login exactly as the fake serves it: completed orders with one leg,
// one execution and their cash transactions.
func historyBody(f *fakeServer, login string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	orders := []any{}
	for _, o := range f.orders[login] {
		orders = append(orders, f.orderJSON(f.accounts[login], o))
	}
	b, err := json.Marshal(map[string]any{"orders": orders})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// BenchmarkDXtradeParseDeals parses and normalises a 1000-order history page into deals; the figure that matters
// is deals/s (goal: at least 100,000).
func BenchmarkDXtradeParseDeals(b *testing.B) {
	const n = 1000
	f := newFakeServer(b)
	f.accounts["BD1"] = &fakeAccount{code: "BD1", currency: "USD"}
	from := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	to := from.Add(30 * 24 * time.Hour)
	f.seedDeals("BD1", n, from, to)
	body := historyBody(f, "BD1")
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
