package main

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkAuthenticatedStaffGetOverTCP is issue 3's figure on the whole server as deployed: GET /api/v1/staff/:id
// with an admin's Bearer token over keep-alive TCP connections, through every middleware of the tenant hosts (rate
// limiting off, as in the figure; the access log written to a file), N connections at once. pgbench's select-only load with N clients runs on the
// same cluster right after, so both figures share the machine's state. It reports req/s, p99 and the ratio.
func BenchmarkAuthenticatedStaffGetOverTCP(b *testing.B) {
	// The API's deployed collector setting (terraform/ecs.tf: GOGC=400); GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	// Logs go to a file at the default level, one access-log line per request, as in production.
	a, base, p := startServerWith(b, map[string]string{"BD_RATE_LIMIT_IP": "off", "BD_RATE_LIMIT_TOKEN": "off",
		"log_file": filepath.Join(b.TempDir(), "brokerdesk.log")})
	ten, admin := demoTenant(b, a)
	tok := staffLogin(b, base, ten, "admin")
	u, _ := url.Parse(base)
	for _, conns := range []int{2, 4, 8} {
		var yardstick struct { // pgbench once per connection count, beside the first round long enough to count
			once sync.Once
			tps  float64
			err  error
		}
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			client := &fasthttp.HostClient{Addr: u.Host, MaxConns: conns}
			path := "/api/v1/staff/" + admin.ID.String()
			var mu sync.Mutex
			var lat []time.Duration
			var wg sync.WaitGroup
			next := make(chan struct{}, 1024)
			go func() {
				for i := 0; i < b.N; i++ {
					next <- struct{}{}
				}
				close(next)
			}()
			b.ResetTimer()
			start := time.Now()
			for range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					defer fasthttp.ReleaseRequest(req)
					defer fasthttp.ReleaseResponse(res)
					req.SetRequestURI("http://" + hostOf(ten) + path) // HostClient dials Addr; the URI names the tenant host
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					mine := make([]time.Duration, 0, b.N/conns+1)
					for range next {
						t0 := time.Now()
						if err := client.Do(req, res); err != nil || res.StatusCode() != 200 {
							b.Errorf("GET: %v %d %s", err, res.StatusCode(), res.Body())
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if len(lat) == 0 {
				return
			}
			slices.Sort(lat)
			rps := float64(len(lat)) / elapsed.Seconds()
			b.ReportMetric(rps, "req/s")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			if b.N < 1000 { // a calibration round
				return
			}
			yardstick.once.Do(func() { yardstick.tps, yardstick.err = pgbenchS(p.URLs["main"], conns) })
			tps, err := yardstick.tps, yardstick.err
			if err != nil {
				b.Logf("pgbench skipped: %v", err)
				return
			}
			b.ReportMetric(tps, "pgbench-S-tps")
			b.ReportMetric(100*rps/tps, "%-of-pgbench")
		})
	}
}

var pgbenchTPSLine = regexp.MustCompile(`tps = ([0-9.]+)`)

var pgbenchInit sync.Once

// pgbenchS runs pgbench's select-only load with clients clients for 5 s on url (its tables initialised once).
func pgbenchS(url string, clients int) (float64, error) {
	if _, err := exec.LookPath("pgbench"); err != nil {
		return 0, err
	}
	var initErr error
	pgbenchInit.Do(func() {
		if out, err := exec.Command("pgbench", "-i", "-q", "-s", "1", url).CombinedOutput(); err != nil {
			initErr = fmt.Errorf("pgbench -i: %v: %s", err, out)
		}
	})
	if initErr != nil {
		return 0, initErr
	}
	n := strconv.Itoa(clients)
	out, err := exec.Command("pgbench", "-S", "-n", "-c", n, "-j", "2", "-T", "5", url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench -S: %v: %s", err, out)
	}
	m := pgbenchTPSLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps in %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
