package simulator

import (
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/modules/trading"
)

// BenchmarkSimulatorClosedDeals pages through one account's 100,000 deals, 100 a page as the contract does, and
// reports deals read per second: the figure that bounds how fast a deal sync can drain the simulator.
func BenchmarkSimulatorClosedDeals(b *testing.B) {
	const total, perSeed = 100_000, 10_000
	s, _ := openTest(b, Options{PasswordIterations: 1, SnapshotEvery: -1})
	a, err := s.CreateAccount(b.Context(), trading.NewAccount{Group: "standard-usd", Leverage: 100, Password: "Tr4de!Desk"})
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range total / perSeed {
		day := from.Add(time.Duration(i) * 24 * time.Hour)
		if err := s.SeedDeals(a.Login, perSeed, day, day.Add(24*time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	to := from.Add(365 * 24 * time.Hour)
	read := 0
	b.ResetTimer()
	for b.Loop() {
		q := trading.DealQuery{Login: a.Login, From: from, To: to, Limit: 100}
		for {
			page, err := s.ClosedDeals(b.Context(), q)
			if err != nil {
				b.Fatal(err)
			}
			read += len(page.Deals)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	if read%total != 0 {
		b.Fatalf("read %d deals, not a multiple of %d", read, total)
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "deals/s")
}
