package identity_test

import (
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// BenchmarkLogin is one staff login through the HTTP API with the production argon2id parameters: the password
// hash dominates, by design (docs/security.md).
func BenchmarkLogin(b *testing.B) {
	w := setupWith(b, auth.DefaultParams(), nil)
	w.addStaff(b, "ada@harbour.example", goodPassword, "admin")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, r := w.login(b, "ada@harbour.example", goodPassword); r.Status != 200 {
			b.Fatalf("login: %d %s", r.Status, r.Body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/login")
}

// BenchmarkAuthenticatedStaffGet is GET /api/v1/staff/:id with an admin's access token: token verification,
// permission check and one tenant-scoped read (Gate.ReadRow: one round trip), through
// fiber's app.Test (no TCP). It reports requests/s and the p99 latency. Issue 3's figure, over TCP through the
// whole server and next to pgbench, is BenchmarkAuthenticatedStaffGetOverTCP (cmd/brokerdesk).
func BenchmarkAuthenticatedStaffGet(b *testing.B) {
	w := setup(b)
	id := w.addStaff(b, "ada@harbour.example", goodPassword, "admin")
	tr, r := w.login(b, "ada@harbour.example", goodPassword)
	if r.Status != 200 {
		b.Fatalf("login: %d %s", r.Status, r.Body)
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
	if len(lat) == 0 {
		return
	}
	rps := float64(len(lat)) / b.Elapsed().Seconds()
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkResetRequest is POST /api/v1/auth/staff/password-reset, alternating an address with a login and one
// without: both add one outbox row and nothing else (the lookup and the mail are the worker's), so their mean
// costs, reported side by side, should match within the noise. Alternating keeps drift (a growing outbox, other
// load on the machine) from favouring either.
func BenchmarkResetRequest(b *testing.B) {
	w := setup(b)
	w.addStaff(b, "ada@harbour.example", goodPassword, "admin")
	emails := [2]string{"ada@harbour.example", "nobody@harbour.example"}
	var spent [2]time.Duration
	var n [2]int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % 2
		start := time.Now()
		if r := do(b, w.app, "POST", "/api/v1/auth/staff/password-reset", "", identity.ResetRequest{Email: emails[k]}); r.Status != 202 {
			b.Fatalf("reset request: %d %s", r.Status, r.Body)
		}
		spent[k] += time.Since(start)
		n[k]++
	}
	for k, name := range []string{"µs/known", "µs/unknown"} {
		if n[k] > 0 {
			b.ReportMetric(float64(spent[k].Microseconds())/float64(n[k]), name)
		}
	}
}
