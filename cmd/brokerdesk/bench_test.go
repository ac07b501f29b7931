package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
)

// BenchmarkAuthenticatedStaffGetOverTCP is issue 3's figure on the whole server as deployed: GET /api/v1/staff/:id
// with an admin's Bearer token over keep-alive TCP connections, through every middleware of the tenant hosts (rate
// limiting off, as in the figure; the access log written to a file), with the API task's Go settings
// (terraform/ecs.tf: GOGC=400, GOMAXPROCS=1 for the default task of half a vCPU; the environment wins).
//
// The yardstick is pgbench's select-only load (pgbench -S) with as many clients, on the same cluster. Both loads
// come from small C programs in their own processes, and they take turns: each of b.N rounds runs wrk (one thread),
// then pgbench with one thread (its default, as wrk), then pgbench with two, for roundTime each, so all three see
// the machine in the same state. It reports the medians of the rounds: req/s, p99, pgbench's tps, the ratio of
// each round's req/s to its own pgbench figures, and the lowest ratio of any round. An op is one round, so ns/op
// is just its length.
//
//	go test -run '^$' -bench OverTCP -benchtime 3x -v ./cmd/brokerdesk/   (under brokerdesk services exec)
func BenchmarkAuthenticatedStaffGetOverTCP(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	if os.Getenv("GOMAXPROCS") == "" {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	const roundTime = 4 * time.Second
	ctx := context.Background()
	// Logs go to a file at the default level, one access-log line per request, as in production.
	a, base, p := startServerWith(b, map[string]string{"BD_RATE_LIMIT_IP": "off", "BD_RATE_LIMIT_TOKEN": "off",
		"log_file": filepath.Join(b.TempDir(), "brokerdesk.log")})
	ten, admin := demoTenant(b, a)
	tok := staffLogin(b, base, ten, "admin")
	if err := localsvc.PgbenchInit(ctx, p.URLs["main"]); err != nil {
		b.Fatal(err)
	}
	b.Logf("server: GOMAXPROCS=%d", runtime.GOMAXPROCS(0))
	for _, conns := range []int{2, 4, 8, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			var rps, p99 []float64
			var tps, ratio [2][]float64 // by pgbench's threads: 1, 2
			for range b.N {
				w, err := localsvc.Wrk(ctx, localsvc.WrkOptions{
					URL:         base + "/api/v1/staff/" + admin.ID.String(),
					Headers:     map[string]string{"Host": hostOf(ten), "Authorization": "Bearer " + tok.AccessToken},
					Connections: conns, Duration: roundTime,
				}, os.Stderr)
				if err != nil {
					b.Fatal(err)
				}
				rps, p99 = append(rps, w.PerSecond), append(p99, float64(w.P99.Microseconds())/1000)
				line := fmt.Sprintf("round %d: %.0f req/s (p99 %v)", len(rps), w.PerSecond, w.P99)
				for j := range 2 {
					pg, err := localsvc.PgbenchSelectOnly(ctx, p.URLs["main"], conns, j+1, roundTime)
					if err != nil {
						b.Fatal(err)
					}
					tps[j], ratio[j] = append(tps[j], pg), append(ratio[j], 100*w.PerSecond/pg)
					line += fmt.Sprintf("; pgbench -S -j %d: %.0f tps, %.1f%%", j+1, pg, ratio[j][len(ratio[j])-1])
				}
				b.Log(line)
			}
			b.ReportMetric(median(rps), "req/s")
			b.ReportMetric(median(p99), "p99-ms")
			for j, name := range []string{"j1", "j2"} {
				b.ReportMetric(median(tps[j]), "pgbench-"+name+"-tps")
				b.ReportMetric(median(ratio[j]), "%-of-pgbench-"+name)
				b.ReportMetric(slices.Min(ratio[j]), "min-%-"+name)
			}
		})
	}
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
