package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc/tools"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// BenchmarkDepositPipeline is issue 11's throughput figure: a processor's signed callback over HTTP (wrk, loopback
// TCP) to a committed ledger transaction and outbox row, sustained, on the whole server as `serve` builds it (every
// middleware of the tenant hosts, rate limiting off, the access log written to a file, the live feed listening),
// with the API task's Go settings (GOGC=400, GOMAXPROCS=1; the environment wins), as
// BenchmarkAuthenticatedStaffGetOverTCP runs.
//
// One tenant with a Stripe gateway and 1,000 approved clients. Each round first runs pgbench's TPC-B-like script
// (its default: three UPDATEs, a SELECT and an INSERT per transaction) with 8 clients on a database of its own in
// the same Postgres cluster, scale 10; then records, in one statement, enough pending deposits for the round (1.5
// times what pgbench did, at least twice the best rate seen), signs one checkout.session.completed callback per
// deposit (each its own event id, signed just before the round, well within Stripe's 300 s tolerance), and has wrk
// (one thread, N connections) send each of them once, in order (deposit_callbacks.lua). Every answer must be 200.
// Each callback is one transaction: the callback recorded, the deposit matched and locked, the policy gate, one
// ledger transaction (wallet and a clearing shard), the deposit completed and numbered, deposit.completed into the
// outbox, the audit row, a NOTIFY.
//
// It reports the medians of the rounds (req/s, p99, pgbench's tps, the ratio of each round's req/s to its own
// pgbench figure) and the lowest ratio; -v prints every round. After the last round it checks that exactly the
// deposits whose callbacks were sent are credited, each once, every wallet holds its deposits' sum, and the ledger
// verifies.
//
// An op is one round, so the count of rounds is -benchtime Nx (make bench: 3x, so four rounds per connection count:
// Go's first run of one, whose round warms up, then the three whose medians are reported; -v numbers them 1 to 4);
// with a duration instead it skips, which keeps it out of make bench's first line
// (-bench . -benchtime 2s) without a pattern that would also catch BenchmarkAuthenticatedStaffGetOverTCP's line.
//
//	go test -run '^$' -bench DepositPipeline -benchtime 3x -v ./cmd/brokerdesk/   (under brokerdesk services exec)
func BenchmarkDepositPipeline(b *testing.B) {
	if bt := flag.Lookup("test.benchtime"); bt == nil || !strings.HasSuffix(bt.Value.String(), "x") {
		b.Skip("rounds are counted: run with -benchtime Nx, e.g. -benchtime 3x")
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	if os.Getenv("GOMAXPROCS") == "" {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	const (
		roundTime = 4 * time.Second
		pgClients = 8
		clientsN  = 1000
	)
	ctx := context.Background()
	logFile := filepath.Join(b.TempDir(), "brokerdesk.log")
	b.Cleanup(func() { // after the server's cleanup has flushed its log
		if b.Failed() {
			b.Log(logProblems(logFile, 20))
		}
	})
	a, base, p := startServerWith(b, map[string]string{"BD_RATE_LIMIT_IP": "off", "BD_RATE_LIMIT_TOKEN": "off", "BD_RATE_LIMIT_WEBHOOKS": "off", "log_file": logFile})
	lctx, stop := context.WithCancel(ctx)
	b.Cleanup(stop)
	go a.payments.Listen(lctx, clusterPools(a.clusters)) // as serve runs it: the live dashboards hear every credit
	w := newDepositWorld(b, a, clientsN)
	tpcb := pgbenchDatabase(b, 10)
	wrkBin, err := tools.System(ctx, os.Stderr, "wrk", "wrk")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	script := filepath.Join(dir, "deposit_callbacks.lua")
	if err := os.WriteFile(script, []byte(depositCallbacksLua), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("server: GOMAXPROCS=%d; %d clients; rounds of %v: pgbench TPC-B-like -c %d (scale 10), then wrk -t 1", runtime.GOMAXPROCS(0),
		clientsN, roundTime, pgClients)
	var paid []pendingDeposit
	best := 0.0
	// Group commit makes bigger groups the more callbacks are in flight (docs/benchmarks.md).
	connCounts := []int{8, 16, 32, 64}
	if v := os.Getenv("BD_BENCH_DEPOSIT_CONNS"); v != "" { // e.g. "8,16,32"
		connCounts = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("BD_BENCH_DEPOSIT_CONNS=%q: a comma-separated list of connection counts", v)
			}
			connCounts = append(connCounts, n)
		}
	}
	for _, conns := range connCounts {
		round := 0 // across Go's runs of the sub-benchmark
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			var rps, p99, tps, ratio []float64
			for range b.N {
				round++
				pg, err := pgbenchTPCB(ctx, tpcb, pgClients, roundTime)
				if err != nil {
					b.Fatal(err)
				}
				batch := w.addPending(b, int(max(1.5*pg, 2*best, 500)*roundTime.Seconds()))
				file := filepath.Join(dir, "callbacks.txt")
				writeSignedCallbacks(b, file, batch, time.Now())
				waits, cpu := sampleWaits(b, p.URLs["main"]), processCPU(b)
				r, err := runDepositWrk(ctx, wrkBin, script, file, base, payments.WebhookPath(depositGateway), w.host(), conns, roundTime)
				cpu = processCPU(b) - cpu
				waited := waits.stop()
				if err != nil {
					b.Fatal(err)
				}
				paid = append(paid, batch[:r.sent]...)
				switch {
				case r.exhausted:
					b.Fatalf("round %d sent all %d prepared callbacks before its end: the pipeline ran faster than 1.5x pgbench "+
						"(%.0f tps); raise the budget in BenchmarkDepositPipeline", round, len(batch), pg)
				case r.non200 > 0 || r.errors != "":
					b.Fatalf("round %d: %d answers other than 200, socket errors %q, of %d requests", round, r.non200, r.errors, r.requests)
				}
				// Callbacks in flight when wrk stopped were never answered: the processor sends those again.
				again := w.redeliverUnfinished(b, base, batch[:r.sent])
				best = max(best, r.perSecond)
				rps, p99 = append(rps, r.perSecond), append(p99, float64(r.p99.Microseconds())/1000)
				tps, ratio = append(tps, pg), append(ratio, 100*r.perSecond/pg)
				b.Logf("round %d: %.0f req/s (p50 %v, p99 %v), %d callbacks sent, %d answered 200 (%d not credited when "+
					"wrk stopped: sent again); pgbench TPC-B -c %d: %.0f tps; %.1f%%", round, r.perSecond, r.p50, r.p99, r.sent, r.requests, again,
					pgClients, pg, ratio[len(ratio)-1])
				b.Logf("round %d: the server's CPU %.0f%% of one core, %v per answered callback; the tenant database's busy "+
					"backends, sampled every 50 ms: %s", round, 100*cpu.Seconds()/roundTime.Seconds(),
					(cpu / time.Duration(max(r.requests, 1))).Round(time.Microsecond), waited)
			}
			b.ReportMetric(median(rps), "req/s")
			b.ReportMetric(median(p99), "p99-ms")
			b.ReportMetric(median(tps), "pgbench-tpcb-tps")
			b.ReportMetric(median(ratio), "%-of-pgbench")
			b.ReportMetric(slices.Min(ratio), "min-%")
		})
	}
	if b.Failed() {
		return
	}
	// Every callback sent (and sent again) is credited, once.
	w.awaitCompleted(b, paid, 30*time.Second)
	w.checkCreditedOnce(b, paid)
}

// depositCallbacksLua is the wrk script: every line of the file in args[1] ("<Stripe-Signature>\t<body>") is a
// callback sent once, in order, as POST args[2] to host args[3]. Non-200 answers are counted. When the file runs
// out, the thread stops (the round is then void: wrk still divides by the whole duration). The counters are
// globals so that done() can read them from the thread.
const depositCallbacksLua = `
reqs, sent, non200, exhausted = {}, 0, 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file, path, host = args[1], args[2], args[3]
  for line in io.lines(file) do
    local tab = string.find(line, "\t", 1, true)
    reqs[#reqs + 1] = wrk.format("POST", path, {["Host"] = host, ["Content-Type"] = "application/json",
      ["Stripe-Signature"] = string.sub(line, 1, tab - 1)}, string.sub(line, tab + 1))
  end
  spare = wrk.format("GET", "/healthz", {["Host"] = host})
end

function request()
  if sent < #reqs then
    sent = sent + 1
    return reqs[sent]
  end
  exhausted = 1
  wrk.thread:stop()
  return spare
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local s, n, e = 0, 0, 0
  for _, t in ipairs(threads) do
    s, n, e = s + t:get("sent"), n + t:get("non200"), e + t:get("exhausted")
  end
  io.write(string.format("deposit callbacks: sent=%d non200=%d exhausted=%d\n", s, n, e))
end
`

// writeSignedCallbacks writes one line per deposit for depositCallbacksLua: its callback signed at `at`.
func writeSignedCallbacks(t testing.TB, path string, deps []pendingDeposit, at time.Time) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	for _, d := range deps {
		body := depositCallback(d)
		bw.WriteString(signCallback(body, at))
		bw.WriteByte('\t')
		bw.Write(body)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// depositWrkResult is what one wrk round measured.
type depositWrkResult struct {
	requests  int64 // answered
	perSecond float64
	p50, p99  time.Duration
	sent      int // callbacks handed to wrk's connections, answered or not
	non200    int
	exhausted bool
	errors    string // wrk's socket errors line, if any
}

var (
	wrkRequestsLine = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkRateLine     = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	wrkLatencyLine  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkSocketErrors = regexp.MustCompile(`(?m)^\s*Socket errors: (.*)$`)
	wrkCallbacks    = regexp.MustCompile(`(?m)^deposit callbacks: sent=(\d+) non200=(\d+) exhausted=(\d+)$`)
)

// runDepositWrk runs wrk with depositCallbacksLua over the callbacks in file, against base (http://host:port).
func runDepositWrk(ctx context.Context, bin, script, file, base, path, host string, conns int, d time.Duration) (depositWrkResult, error) {
	out, err := exec.CommandContext(ctx, bin, "--latency", "-t", "1", "-c", strconv.Itoa(conns), "-d", strconv.Itoa(int(d.Seconds()))+"s",
		"--timeout", "10s", "-s", script, base+path, "--", file, path, host).CombinedOutput()
	if err != nil {
		return depositWrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	s := string(out)
	var r depositWrkResult
	m, rate, cb := wrkRequestsLine.FindStringSubmatch(s), wrkRateLine.FindStringSubmatch(s), wrkCallbacks.FindStringSubmatch(s)
	if m == nil || rate == nil || cb == nil {
		return r, fmt.Errorf("wrk: no summary in %q", s)
	}
	r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.perSecond, _ = strconv.ParseFloat(rate[1], 64)
	r.sent, _ = strconv.Atoi(cb[1])
	r.non200, _ = strconv.Atoi(cb[2])
	r.exhausted = cb[3] != "0"
	if e := wrkSocketErrors.FindStringSubmatch(s); e != nil {
		r.errors = e[1]
	}
	units := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}
	for _, l := range wrkLatencyLine.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		d := time.Duration(v * float64(units[l[3]])).Round(10 * time.Microsecond) // wrk prints two decimals
		if l[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if r.p99 == 0 {
		return r, fmt.Errorf("wrk: no latency distribution in %q", s)
	}
	return r, nil
}

// pgbenchDatabase creates a database of its own for pgbench in the platform's Postgres cluster (BD_DATABASE_URL),
// initialised at the given scale (scale 10: a million accounts, ten branches), and drops it at cleanup.
func pgbenchDatabase(t testing.TB, scale int) string {
	t.Helper()
	ctx := context.Background()
	admin := os.Getenv("BD_DATABASE_URL")
	name := "pgbench_" + tenanttest.RandomLabel(8)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	bin, err := tools.PostgresBinary("pgbench")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if out, err := exec.CommandContext(ctx, bin, "-i", "-q", "-s", strconv.Itoa(scale), u.String()).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v: %s", err, out)
	}
	t.Logf("pgbench: database %s initialised at scale %d in %v", name, scale, time.Since(start).Round(time.Millisecond))
	return u.String()
}

var pgbenchTPSLine = regexp.MustCompile(`(?m)^tps = ([0-9.]+) `)

// pgbenchTPCB runs pgbench's default TPC-B-like script with clients clients (one thread, pgbench's default) for d
// and returns its transactions per second. As by default, pgbench first vacuums its tables and empties its history.
func pgbenchTPCB(ctx context.Context, dbURL string, clients int, d time.Duration) (float64, error) {
	bin, err := tools.PostgresBinary("pgbench")
	if err != nil {
		return 0, err
	}
	out, err := exec.CommandContext(ctx, bin, "-c", strconv.Itoa(clients), "-T", strconv.Itoa(int(d.Seconds())), dbURL).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	m := pgbenchTPSLine.FindStringSubmatch(string(out))
	if m == nil {
		return 0, fmt.Errorf("pgbench: no tps in %q", out)
	}
	return strconv.ParseFloat(m[1], 64)
}

// logProblems returns the first n warnings and errors of a JSON log file.
func logProblems(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && len(out) < n {
		if l := sc.Text(); strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, `"level":"WARN"`) {
			out = append(out, l)
		}
	}
	return fmt.Sprintf("the server's first warnings and errors (%s):\n%s", path, strings.Join(out, "\n"))
}

// waitSampler samples what the busy backends of one database are doing (pg_stat_activity) while a round runs, so
// the round's figure comes with where its time went: CPU, or a wait, and on which statement.
type waitSampler struct {
	conn    *pgx.Conn
	quit    chan struct{}
	done    chan struct{}
	counts  map[string]int
	samples int
	err     error
}

func sampleWaits(t testing.TB, dbURL string) *waitSampler {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	s := &waitSampler{conn: conn, quit: make(chan struct{}), done: make(chan struct{}), counts: map[string]int{}}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-tick.C:
			}
			rows, err := conn.Query(context.Background(), `SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU')
					ELSE 'waiting for the server (' || state || ') after' END,
					left(regexp_replace(query, '\s+', ' ', 'g'), 48)
				FROM pg_stat_activity WHERE datname = current_database() AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()`)
			if err != nil {
				s.err = err
				return
			}
			for rows.Next() {
				var wait, query string
				if err := rows.Scan(&wait, &query); err == nil {
					s.counts[wait+" in "+query]++
					s.samples++
				}
			}
			rows.Close()
		}
	}()
	return s
}

// stop ends the sampling and returns the eight most frequent states with their share of the samples.
func (s *waitSampler) stop() string {
	close(s.quit)
	<-s.done
	s.conn.Close(context.Background())
	if s.err != nil {
		return s.err.Error()
	}
	keys := make([]string, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return s.counts[keys[i]] > s.counts[keys[j]] })
	var out []string
	for _, k := range keys[:min(8, len(keys))] {
		out = append(out, fmt.Sprintf("%.0f%% %s", 100*float64(s.counts[k])/float64(s.samples), k))
	}
	return strings.Join(out, "; ")
}

// processCPU is the CPU time this process (the server, with the benchmark's own small share) has used so far.
func processCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
