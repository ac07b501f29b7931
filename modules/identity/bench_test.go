package identity_test

import (
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
)

// BenchmarkLogin is one staff login through the HTTP API with the production argon2id parameters: the password
// hash dominates, by design (docs/security.md).
func BenchmarkLogin(b *testing.B) {
	w := setupWith(b, auth.DefaultParams())
	w.addStaff(b, "ada@harbour.example", goodPassword, "admin")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, r := w.login(b, "ada@harbour.example", goodPassword); r.status != 200 {
			b.Fatalf("login: %d %s", r.status, r.body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/login")
}

// BenchmarkAuthenticatedStaffGet is GET /api/v1/staff/:id with an admin's access token: token verification,
// permission check and one tenant-scoped transaction (SET LOCAL role and search_path, one SELECT), through
// fiber's app.Test (no TCP). It reports requests/s and the p99 latency.
func BenchmarkAuthenticatedStaffGet(b *testing.B) {
	w := setup(b)
	id := w.addStaff(b, "ada@harbour.example", goodPassword, "admin")
	tr, r := w.login(b, "ada@harbour.example", goodPassword)
	if r.status != 200 {
		b.Fatalf("login: %d %s", r.status, r.body)
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			req := httptest.NewRequest("GET", "/api/v1/staff/"+id.String(), nil)
			req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
			start := time.Now()
			res, err := w.app.Test(req, -1)
			if err != nil || res.StatusCode != 200 {
				b.Errorf("GET: %v %v", err, res)
				return
			}
			res.Body.Close()
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "req/s")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
