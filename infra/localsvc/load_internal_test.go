package localsvc

import (
	"strings"
	"testing"
	"time"
)

const wrkSample = `Running 2s test @ http://127.0.0.1:8080/api/v1/staff/fb06f2ff-1fa8-4054-a1f6-4e3c8ca1f420
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   545.36us  369.71us   7.49ms   83.55%
    Req/Sec    15.19k     1.60k   17.87k    71.43%
  Latency Distribution
     50%  466.00us
     75%  677.00us
     90%    0.94ms
     99%    1.88ms
  31695 requests in 2.10s, 9.07MB read
Requests/sec:  15095.32
Transfer/sec:      4.32MB
`

func TestParseWrkReadsTheSummaryAndRefusesFailedRequests(t *testing.T) {
	r, err := parseWrk(wrkSample)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 31695 || r.PerSecond != 15095.32 || r.P50 != 466*time.Microsecond || r.P99 != 1880*time.Microsecond {
		t.Fatalf("parsed %+v", r)
	}
	for name, out := range map[string]string{
		"non-2xx":       strings.Replace(wrkSample, "Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec", 1),
		"socket errors": strings.Replace(wrkSample, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec", 1),
		"no summary":    "unable to connect to 127.0.0.1:1 Connection refused\n",
		"no latency":    strings.Replace(wrkSample, "     99%    1.88ms\n", "", 1),
	} {
		if _, err := parseWrk(out); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParsePgbenchTPS(t *testing.T) {
	out := "number of transactions actually processed: 179911\nlatency average = 0.222 ms\ninitial connection time = 9.416 ms\ntps = 35982.571303 (without initial connection time)\n"
	if tps, err := parsePgbenchTPS(out); err != nil || tps != 35982.571303 {
		t.Fatalf("got %v, %v", tps, err)
	}
	if _, err := parsePgbenchTPS("pgbench: error: connection refused\n"); err == nil {
		t.Fatal("accepted output without tps")
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkSample)
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parseWrk(out)
		if err == nil && (r.Requests <= 0 || r.P99 <= 0 || r.PerSecond < 0) {
			t.Fatalf("accepted %q as %+v", out, r)
		}
	})
}
