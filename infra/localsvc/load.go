package localsvc

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/localsvc/tools"
)

// The load generators of the throughput benchmarks: wrk for HTTP and pgbench for the database yardstick. Both are
// small C programs driving their server from their own process, so a figure and its yardstick are measured the
// same way.

// WrkOptions is one wrk run against one URL.
type WrkOptions struct {
	URL         string            // the address wrk connects to, e.g. http://127.0.0.1:8080/api/v1/staff/<id>
	Headers     map[string]string // sent with every request (Host, Authorization)
	Connections int               // keep-alive connections, all driven by one wrk thread
	Duration    time.Duration
}

// WrkResult is what a wrk run measured.
type WrkResult struct {
	Requests  int64
	PerSecond float64
	P50, P99  time.Duration
}

// Wrk runs wrk, installing Debian's wrk package first when it is missing (as root). Any response other than 2xx or
// 3xx, and any socket error, makes the run an error: a load figure counts only answered requests.
func Wrk(ctx context.Context, o WrkOptions, log io.Writer) (WrkResult, error) {
	if log == nil {
		log = io.Discard
	}
	bin, err := tools.System(ctx, log, "wrk", "wrk")
	if err != nil {
		return WrkResult{}, err
	}
	secs := int(o.Duration.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	args := []string{"--latency", "-t", "1", "-c", strconv.Itoa(o.Connections), "-d", strconv.Itoa(secs) + "s"}
	for k, v := range o.Headers {
		args = append(args, "-H", k+": "+v)
	}
	out, err := exec.CommandContext(ctx, bin, append(args, o.URL)...).CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk: %w: %s", err, lastLines(string(out), 5))
	}
	return parseWrk(string(out))
}

var (
	wrkRequests   = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkPerSecond  = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	wrkPercentile = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkFailures   = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$`)
)

// parseWrk reads the summary wrk prints with --latency.
func parseWrk(out string) (WrkResult, error) {
	if m := wrkFailures.FindStringSubmatch(out); m != nil { // wrk prints either line only when it counted some
		return WrkResult{}, fmt.Errorf("wrk: %s", m[1])
	}
	var r WrkResult
	m := wrkRequests.FindStringSubmatch(out)
	p := wrkPerSecond.FindStringSubmatch(out)
	if m == nil || p == nil {
		return WrkResult{}, fmt.Errorf("wrk: no summary in %q", lastLines(out, 5))
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.PerSecond, _ = strconv.ParseFloat(p[1], 64)
	for _, pm := range wrkPercentile.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseFloat(pm[2], 64)
		if err != nil {
			continue
		}
		d := time.Duration(v * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[pm[3]]))
		if pm[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.Requests <= 0 || r.P99 == 0 {
		return WrkResult{}, fmt.Errorf("wrk: no requests or latency distribution in %q", lastLines(out, 8))
	}
	return r, nil
}

// PgbenchSelectOnly runs pgbench's built-in select-only script (-S: one SELECT by primary key per transaction, the
// simple query protocol, pgbench's defaults otherwise) with clients clients on threads threads (pgbench's -j; its
// default is 1) for d, against the database at url, and returns its transactions per second. Initialise the tables
// once with PgbenchInit.
func PgbenchSelectOnly(ctx context.Context, url string, clients, threads int, d time.Duration) (float64, error) {
	bin, err := pgBinary("pgbench")
	if err != nil {
		return 0, err
	}
	secs := int(d.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	out, err := exec.CommandContext(ctx, bin, "-S", "-n", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads), "-T", strconv.Itoa(secs), url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench -S: %w: %s", err, lastLines(string(out), 5))
	}
	return parsePgbenchTPS(string(out))
}

// PgbenchInit creates pgbench's tables at scale 1 (100,000 accounts) in the database at url.
func PgbenchInit(ctx context.Context, url string) error {
	bin, err := pgBinary("pgbench")
	if err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, bin, "-i", "-q", "-s", "1", url).CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %w: %s", err, lastLines(string(out), 5))
	}
	return nil
}

var pgbenchTPS = regexp.MustCompile(`(?m)^tps = ([0-9.]+) `)

func parsePgbenchTPS(out string) (float64, error) {
	m := pgbenchTPS.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench: no tps in %q", lastLines(out, 5))
	}
	return strconv.ParseFloat(m[1], 64)
}
