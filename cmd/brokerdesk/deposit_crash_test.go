package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/brokerdesk/brokerdesk/infra/config"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/emails"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// Issue 11's crash test: kill -9 of the server and the worker in the middle of 5,000 deposits, restart, redelivery:
// every acknowledged callback credited exactly once, ledger verify clean.

const (
	crashRoleEnv = "BD_TEST_DEPOSIT_CRASH_ROLE" // "serve" or "worker": this process is a child of the crash test
	// crashRealLeasesEnv=1 lets asynq find the killed worker's tasks on its own clock (lease, recoverer, backoff:
	// about two minutes) instead of the test's fast-forward; see expireLeases.
	crashRealLeasesEnv = "BD_TEST_DEPOSIT_CRASH_REAL_LEASES"
)

// TestDepositCrashChildProcess is a child of TestDepositCrashKill9OfServerAndWorkerLosesNoCallbackAndCreditsNoneTwice:
// `brokerdesk serve` or `brokerdesk worker` exactly as main runs them (runServe, runWorker), configured by the
// environment the parent gives, until the parent kills it.
func TestDepositCrashChildProcess(t *testing.T) {
	role := os.Getenv(crashRoleEnv)
	if role == "" {
		t.Skip("only runs as a child of TestDepositCrashKill9OfServerAndWorkerLosesNoCallbackAndCreditsNoneTwice")
	}
	// The parent holds our stdin open: when it is gone (killed, timed out), so are we, and no server outlives it.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	var err error
	switch role {
	case "serve":
		err = runServe(context.Background())
	case "worker":
		err = runWorker(context.Background())
	default:
		t.Fatalf("unknown role %q", role)
	}
	t.Fatalf("%s returned (%v) but should run until it is killed", role, err)
}

// TestDepositCrashKill9OfServerAndWorkerLosesNoCallbackAndCreditsNoneTwice runs the server and the worker as child
// processes, sends 5,000 signed Stripe callbacks (one per pending deposit, 32 at a time), SIGKILLs both once about
// 2,000 were acknowledged, starts them again and redelivers every callback, acknowledged or not, as Stripe may,
// until each is acknowledged. Then: every callback acknowledged before the kill was already committed; every
// deposit is credited exactly once and every wallet holds the sum of its deposits; one callback row per event; one
// receipt delivery in the outbox per deposit, each delivered once after the worker drained; the ledger verifies.
func TestDepositCrashKill9OfServerAndWorkerLosesNoCallbackAndCreditsNoneTwice(t *testing.T) {
	t.Parallel()
	const (
		depositsN   = 5000
		clientsN    = 250
		concurrency = 32
		killAfter   = 2000 // acknowledgements
	)
	ctx := context.Background()
	started := time.Now()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	sink := startSMTPSink(t)
	port, err := localsvc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	redisURL := localsvc.RedisDB(t) // the worker's queues meet no other test's worker
	env := crashEnv(t, p, port, redisURL, sink.addr())

	// The parent's own app, never serving: it provisions the tenant and the deposits and checks the outcome.
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(ctx, cfg, logging.New(io.Discard, "error"), wiring{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	w := newDepositWorld(t, a, clientsN)
	deps := w.addPending(t, depositsN)
	bodies := make([][]byte, depositsN)
	for i, d := range deps {
		bodies[i] = depositCallback(d)
	}
	logs := t.TempDir()
	children := &crashChildren{t: t, env: env, dir: logs}
	t.Cleanup(children.stopAll)
	server, worker := children.start("serve"), children.start("worker")
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	awaitReady(t, base, w.host(), server)
	setupTook := time.Since(started)

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, DisableCompression: true}}
	defer client.CloseIdleConnections()
	deliver := func(i int) int {
		status, _ := w.deliver(client, base, bodies[i]) // no answer (0): the server is gone, the processor tries again
		return status
	}

	// 1. The load, and the kill in its middle.
	all := make([]int, depositsN)
	for i := range all {
		all[i] = i
	}
	ackedFirst := make([]bool, depositsN)
	var acks atomic.Int64
	var kill sync.Once
	var killedAt time.Time
	busy := false
	firstStatuses := inParallel(all, concurrency, func(i int) int {
		status := deliver(i)
		if status == http.StatusOK {
			ackedFirst[i] = true
			if acks.Add(1) == killAfter {
				kill.Do(func() {
					// The worker is killed in the middle of a task if it gets one within a few seconds (the load
					// goes on meanwhile), the server at once after it.
					busy = awaitWorkerBusy(t, redisURL, 3*time.Second)
					worker.kill(t)
					server.kill(t)
					killedAt = time.Now()
				})
			}
		}
		return status
	})
	if killedAt.IsZero() {
		t.Fatalf("only %d of %d callbacks were acknowledged, the kill never came: %v\n%s", acks.Load(), depositsN, firstStatuses, children.tails())
	}
	loadTook := killedAt.Sub(started) - setupTook
	var acked []int
	for i, ok := range ackedFirst {
		if ok {
			acked = append(acked, i)
		}
	}

	// Acknowledged means committed: every deposit whose callback got its 200 is credited already.
	completed := map[string]bool{}
	for _, id := range w.completedIDs(t) {
		completed[id] = true
	}
	lost := 0
	for _, i := range acked {
		if !completed[deps[i].ID.String()] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d callbacks were acknowledged before the kill but their deposits are not credited", lost)
	}
	recorded := w.count(t, `SELECT count(*) FROM payment_callbacks`)
	delivered := w.count(t, `SELECT count(*) FROM event_deliveries WHERE subscriber = 'payments.receipt_email'`)
	t.Logf("killed both after %v of load (the worker in the middle of a task: %v): %d callbacks acknowledged, %d committed (%d of them never "+
		"acknowledged), %d receipts delivered; first pass answers %v", loadTook.Round(time.Millisecond), busy, len(acked), recorded,
		recorded-int64(len(acked)), delivered, firstStatuses)

	// 2. Restart. The killed worker's tasks are still "active" in Redis under its leases.
	fast := os.Getenv(crashRealLeasesEnv) != "1"
	if fast {
		t.Logf("tasks of the killed worker whose leases the test let expire: %d", expireLeases(t, redisURL))
	}
	restarted := time.Now()
	server, worker = children.start("serve"), children.start("worker")
	awaitReady(t, base, w.host(), server)
	restartTook := time.Since(restarted)

	// 3. Redelivery: every callback, again and again, until each is acknowledged.
	redelivered := time.Now()
	pending, passes := all, 0
	var lastStatuses map[int]int
	for len(pending) > 0 {
		if passes++; passes > 20 {
			t.Fatalf("%d callbacks still unacknowledged after %d passes: %v\n%s", len(pending), passes-1, lastStatuses, children.tails())
		}
		var next []int
		var mu sync.Mutex
		lastStatuses = inParallel(pending, concurrency, func(i int) int {
			status := deliver(i)
			if status != http.StatusOK {
				mu.Lock()
				next = append(next, i)
				mu.Unlock()
			}
			return status
		})
		pending = next
		if len(pending) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	redeliveryTook := time.Since(redelivered)

	// 4. Money: each deposit credited once, every wallet its deposits' sum, the ledger clean.
	w.checkCreditedOnce(t, deps)

	// 5. Receipts: one deposit.completed per deposit in the outbox, each delivered once to the receipt's subscriber
	// when the worker has drained.
	receiptTask := events.PublishType(payments.EventDepositCompleted)
	if n, distinct := w.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1`, receiptTask),
		w.count(t, `SELECT count(DISTINCT idem_key) FROM outbox WHERE task_type = $1`, receiptTask); n != depositsN || distinct != depositsN {
		t.Errorf("%d deposit.completed rows in the outbox (%d distinct events), want %d", n, distinct, depositsN)
	}
	drained := time.Now()
	awaitReceipts(t, w, redisURL, depositsN, fast, children)
	drainTook := time.Since(drained)
	if n := w.count(t, `SELECT count(*) FROM outbox o JOIN event_deliveries d ON d.subscriber = 'payments.receipt_email'
			AND d.event_id::text = o.idem_key WHERE o.task_type = $1`, receiptTask); n != depositsN {
		t.Errorf("%d of the outbox's receipt deliveries were delivered, want all %d", n, depositsN)
	}
	if n := w.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1 AND idem_key LIKE 'deposit-receipt:%'`, emails.TaskSend); n != depositsN {
		t.Errorf("%d receipt emails queued, want one per deposit (%d)", n, depositsN)
	}
	refs := make([]string, depositsN)
	for i, d := range deps {
		refs[i] = d.ID.String()
	}
	messages, reached, twice := sink.receipts(refs)
	children.checkNoRace()

	t.Logf("setup %v (5,000 pending deposits, two children), load until the kill %v, restart %v, redelivery of all %d callbacks %v in %d passes, "+
		"worker drained %v after that; whole test %v", setupTook.Round(time.Millisecond), loadTook.Round(time.Millisecond),
		restartTook.Round(time.Millisecond), depositsN, redeliveryTook.Round(time.Millisecond), passes, drainTook.Round(time.Millisecond),
		time.Since(started).Round(time.Millisecond))
	t.Logf("receipt emails at SMTP so far (not waited for): %d messages, %d deposits reached, %d of them twice (a send killed between "+
		"SMTP's acceptance and its mark may repeat: modules/emails/dedupe.go)", messages, reached, twice)
}

// crashEnv is the configuration both children and the parent read: the test's platform databases, its own Redis
// database, the SMTP sink, a fixed loopback port for the server (the processor keeps calling one URL across the
// restart), rate limits off.
func crashEnv(t testing.TB, p *tenanttest.Platform, port int, redisURL, smtpAddr string) map[string]string {
	var extra []string
	for name, u := range p.URLs {
		if name != "main" {
			extra = append(extra, name+"="+u)
		}
	}
	slices.Sort(extra)
	return map[string]string{
		"BD_DATABASE_URL": p.URLs["main"], "BD_DATABASE_CLUSTERS": strings.Join(extra, ";"), "BD_REDIS_URL": redisURL,
		"BD_SMTP_ADDR": smtpAddr, "BD_BASE_DOMAIN": "brokerdesk.test",
		"BD_JWT_KEYS":  "t1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"BD_DATA_KEYS": "d1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"BD_HTTP_ADDR": "127.0.0.1:" + strconv.Itoa(port), "BD_INTERNAL_ADDR": "127.0.0.1:0",
		"BD_RATE_LIMIT_IP": "off", "BD_RATE_LIMIT_TOKEN": "off", "BD_RATE_LIMIT_WEBHOOKS": "off", "BD_BLOB_DIR": t.TempDir(), "BD_LOG_LEVEL": "warn",
	}
}

// crashChildren starts and tracks the test's child processes; stopAll (a cleanup) kills whatever still runs.
type crashChildren struct {
	t   testing.TB
	env map[string]string
	dir string

	mu    sync.Mutex
	all   []*crashChild
	count map[string]int
}

type crashChild struct {
	role  string
	log   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the process has been reaped
	err   error
}

func (cs *crashChildren) start(role string) *crashChild {
	t := cs.t
	t.Helper()
	cs.mu.Lock()
	if cs.count == nil {
		cs.count = map[string]int{}
	}
	cs.count[role]++
	c := &crashChild{role: role, log: filepath.Join(cs.dir, fmt.Sprintf("%s-%d.log", role, cs.count[role])), done: make(chan struct{})}
	cs.all = append(cs.all, c)
	cs.mu.Unlock()
	out, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestDepositCrashChildProcess$", "-test.count=1")
	c.cmd.Env = os.Environ()
	for _, k := range slices.Sorted(maps.Keys(cs.env)) {
		c.cmd.Env = append(c.cmd.Env, k+"="+cs.env[k]) // the last of a duplicated name wins
	}
	// A killed child never removes the temporary directory its TestMain made: let it make it in ours.
	c.cmd.Env = append(c.cmd.Env, crashRoleEnv+"="+role, "TMPDIR="+cs.dir)
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		out.Close()
		close(c.done)
	}()
	return c
}

// kill sends SIGKILL and waits until the process is gone.
func (c *crashChild) kill(t testing.TB) {
	select {
	case <-c.done:
		t.Errorf("%s exited before the kill: %v", c.role, c.err)
		return
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill %s: %v", c.role, err)
	}
	<-c.done
	var exit *exec.ExitError
	if !errors.As(c.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("%s was not killed by SIGKILL: %v", c.role, c.err)
	}
}

func (cs *crashChildren) stopAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range cs.all {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Signal(syscall.SIGKILL)
			<-c.done
		}
		c.stdin.Close()
	}
	if cs.t.Failed() {
		cs.t.Log(cs.tailsLocked())
	}
}

// tails are the last lines of every child's log.
func (cs *crashChildren) tails() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.tailsLocked()
}

func (cs *crashChildren) tailsLocked() string {
	var b strings.Builder
	for _, c := range cs.all {
		b.WriteString(c.tail())
	}
	return b.String()
}

// tail is the last lines of the child's log.
func (c *crashChild) tail() string {
	raw, _ := os.ReadFile(c.log)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return fmt.Sprintf("--- %s (last lines of %s)\n%s\n", c.role, filepath.Base(c.log), strings.Join(lines[max(0, len(lines)-20):], "\n"))
}

// checkNoRace fails the test on a data race a child reported: under -race a child's report goes to its log only.
func (cs *crashChildren) checkNoRace() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range cs.all {
		f, err := os.Open(c.log)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "WARNING: DATA RACE") {
				cs.t.Errorf("%s reported a data race (%s)", c.role, c.log)
				break
			}
		}
		f.Close()
	}
}

// awaitReady polls the server's readiness on the tenant's host until it answers 200.
func awaitReady(t testing.TB, base, host string, c *crashChild) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/readyz", nil)
		req.Host = host
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-c.done:
			t.Fatalf("%s exited while starting: %v\n%s", c.role, c.err, c.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within a minute\n%s", c.role, c.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inParallel runs fn on every index, n at a time, and returns how often each answer came (0: no answer).
func inParallel(idx []int, n int, fn func(i int) int) map[int]int {
	work := make(chan int)
	var mu sync.Mutex
	answers := map[int]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				a := fn(i)
				mu.Lock()
				answers[a]++
				mu.Unlock()
			}
		}()
	}
	for _, i := range idx {
		work <- i
	}
	close(work)
	wg.Wait()
	return answers
}

// expireLeases stands in for the time asynq waits before it believes a worker dead. A task the killed worker held
// stays "active" under a 30 s lease, which asynq's recoverer, running when a worker starts and then every minute,
// takes back only 30 s after it expired, and then retries after a backoff of 15 to 45 s: about two minutes in all.
// The test moves those leases into the past (asynq v0.26 keeps them in the sorted set asynq:{queue}:lease, scored
// by expiry), so the restarted worker's recoverer finds them at once and the test runs in about a minute; the
// recovery itself is asynq's. It returns how many tasks it touched.
func expireLeases(t testing.TB, redisURL string) int {
	t.Helper()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	past := float64(time.Now().Add(-2 * time.Minute).Unix())
	n := 0
	for q := range jobs.QueueWeights {
		key := "asynq:{" + q + "}:lease"
		ids, err := rdb.ZRange(ctx, key, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := rdb.ZAddXX(ctx, key, redis.Z{Score: past, Member: id}).Err(); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	return n
}

// awaitWorkerBusy waits until the worker runs a task (asynq counts it active), at most timeout, and reports whether it
// does.
func awaitWorkerBusy(t testing.TB, redisURL string, timeout time.Duration) bool {
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Error(err)
		return false
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for q := range jobs.QueueWeights {
			if info, err := insp.GetQueueInfo(q); err == nil && info.Active > 0 {
				return true
			}
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// awaitReceipts waits until every deposit's receipt was delivered to its subscriber. With fast set, tasks the
// recoverer put back for a retry are run at once rather than after their backoff (asynq's Inspector).
func awaitReceipts(t testing.TB, w *depositWorld, redisURL string, n int, fast bool, cs *crashChildren) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	timeout := 2 * time.Minute
	if !fast {
		timeout = 5 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	for {
		got := w.count(t, `SELECT count(*) FROM event_deliveries WHERE subscriber = 'payments.receipt_email'`)
		if got == int64(n) {
			return
		}
		if got > int64(n) || time.Now().After(deadline) {
			t.Fatalf("%d receipt deliveries recorded, want %d\n%s", got, n, cs.tails())
		}
		if fast {
			for q := range jobs.QueueWeights {
				_, _ = insp.RunAllRetryTasks(q) // a queue nothing was ever put in is not an error worth stopping for
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}
