// Package localsvc starts the real services BrokerDesk needs on a developer's machine or in a test run, as child
// processes with their data under one directory and on free loopback ports: a Postgres 15 cluster (or several),
// redis-server, MinIO, Mailpit and stripe-mock. What is missing it installs first, all at once, through package tools
// (redis-server through apt-get when root; MinIO, Mailpit and stripe-mock through `go install` at pinned versions
// into a cache directory), and it says what it is doing. A service whose address is already given in the environment
// is not started: the caller uses that one. Which services `brokerdesk dev` needs follows from its configuration:
// tools.Dev.
//
// `brokerdesk dev`, `brokerdesk services exec` (which `make test` uses) and the test fixtures all start services
// through Start, so there is one way services come up.
package localsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/localsvc/tools"
)

// Service names one kind of local service (declared in package tools, which installs them; the pinned versions of
// the go-installed ones are there too).
type Service = tools.Service

const (
	Postgres   = tools.Postgres
	Redis      = tools.Redis
	MinIO      = tools.MinIO
	Mailpit    = tools.Mailpit
	StripeMock = tools.StripeMock
)

// AllServices is every service, in start order.
var AllServices = tools.All

// Options says what to start and where.
type Options struct {
	// Dir holds every service's data, one sub-directory each. It is created if missing and reused if present.
	Dir string
	// CacheDir holds binaries installed with go install (default: $BD_TOOLS_CACHE, else ~/.cache/brokerdesk; see
	// tools.CacheDir).
	CacheDir string
	// Services to start; nil means all of them.
	Services []Service
	// PostgresClusters is how many Postgres clusters to start (default 1). Tests of multi-cluster placement use 2.
	PostgresClusters int
	// Ephemeral trades durability for speed (Postgres fsync off): for test runs only, never for `make run`.
	Ephemeral bool
	// Log receives progress lines ("installing redis-server ...", "postgres ready on ..."). nil discards them.
	Log io.Writer
	// Getenv reads the environment (default os.Getenv); a service whose variable is set is not started.
	Getenv func(string) string
}

// Endpoints are the addresses of the running (or externally given) services, in the environment variables the
// rest of BrokerDesk reads. Env renders them for a child process.
type Endpoints struct {
	DatabaseURL   string   // BD_DATABASE_URL: the platform cluster
	ExtraClusters []string // BD_DATABASE_CLUSTERS: "name=url" for every further cluster
	RedisURL      string   // BD_REDIS_URL
	S3Endpoint    string   // BD_S3_ENDPOINT
	S3AccessKey   string   // BD_S3_ACCESS_KEY
	S3SecretKey   string   // BD_S3_SECRET_KEY
	S3KMSKeyID    string   // BD_S3_KMS_KEY_ID: the local MinIO's static KMS key (SSE-KMS with it works)
	SMTPAddr      string   // BD_SMTP_ADDR
	MailpitURL    string   // BD_MAILPIT_URL (web UI and API)
	StripeURL     string   // BD_STRIPE_API_URL (stripe-mock)
}

// Env returns the endpoints as KEY=value lines for os/exec, skipping empty ones.
func (e Endpoints) Env() []string {
	var out []string
	add := func(k, v string) {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	add("BD_DATABASE_URL", e.DatabaseURL)
	add("BD_DATABASE_CLUSTERS", strings.Join(e.ExtraClusters, ";"))
	add("BD_REDIS_URL", e.RedisURL)
	add("BD_S3_ENDPOINT", e.S3Endpoint)
	add("BD_S3_ACCESS_KEY", e.S3AccessKey)
	add("BD_S3_SECRET_KEY", e.S3SecretKey)
	add("BD_S3_KMS_KEY_ID", e.S3KMSKeyID)
	add("BD_SMTP_ADDR", e.SMTPAddr)
	add("BD_MAILPIT_URL", e.MailpitURL)
	add("BD_STRIPE_API_URL", e.StripeURL)
	return out
}

// Running is a set of started services. Stop ends them all.
type Running struct {
	Endpoints Endpoints
	procs     []*proc
	log       io.Writer
	bins      map[Service]string // each started service's program, from tools.Install
	stopOnce  sync.Once
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start brings up the requested services and waits until each answers: first it installs every missing tool at
// once (tools.Install), then it starts the services one after another. On failure it stops what it started.
func Start(ctx context.Context, opts Options) (*Running, error) {
	if opts.Dir == "" {
		return nil, errors.New("localsvc: Options.Dir is required")
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.PostgresClusters <= 0 {
		opts.PostgresClusters = 1
	}
	if opts.CacheDir == "" {
		opts.CacheDir = tools.CacheDir(opts.Getenv)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("localsvc: %w", err)
	}
	opts.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("localsvc: create %s: %w", dir, err)
	}
	want := opts.Services
	if want == nil {
		want = AllServices
	}
	bins, err := tools.Install(ctx, want, tools.Options{CacheDir: opts.CacheDir, Log: opts.Log, Getenv: opts.Getenv})
	if err != nil {
		return nil, fmt.Errorf("localsvc: %w", err)
	}
	r := &Running{log: opts.Log, bins: bins}
	for _, s := range want {
		if err := r.start(ctx, s, opts); err != nil {
			r.Stop()
			return nil, fmt.Errorf("localsvc: %s: %w", s, err)
		}
	}
	return r, nil
}

func (r *Running) start(ctx context.Context, s Service, o Options) error {
	switch s {
	case Postgres:
		if v := o.Getenv("BD_DATABASE_URL"); v != "" {
			r.Endpoints.DatabaseURL = v
			if c := o.Getenv("BD_DATABASE_CLUSTERS"); c != "" {
				r.Endpoints.ExtraClusters = strings.Split(c, ";")
			}
			fmt.Fprintln(r.log, "postgres: using BD_DATABASE_URL from the environment")
			return nil
		}
		for i := 0; i < o.PostgresClusters; i++ {
			name := "postgres"
			if i > 0 {
				name = fmt.Sprintf("postgres%d", i+1)
			}
			url, err := r.startPostgres(ctx, name, filepath.Join(o.Dir, name), o.Ephemeral)
			if err != nil {
				return err
			}
			if i == 0 {
				r.Endpoints.DatabaseURL = url
			} else {
				r.Endpoints.ExtraClusters = append(r.Endpoints.ExtraClusters, fmt.Sprintf("cluster%d=%s", i+1, url))
			}
		}
	case Redis:
		if v := o.Getenv("BD_REDIS_URL"); v != "" {
			r.Endpoints.RedisURL = v
			fmt.Fprintln(r.log, "redis: using BD_REDIS_URL from the environment")
			return nil
		}
		return r.startRedis(ctx, r.bins[Redis], filepath.Join(o.Dir, "redis"))
	case MinIO:
		if v := o.Getenv("BD_S3_ENDPOINT"); v != "" {
			r.Endpoints.S3Endpoint = v
			r.Endpoints.S3AccessKey = o.Getenv("BD_S3_ACCESS_KEY")
			r.Endpoints.S3SecretKey = o.Getenv("BD_S3_SECRET_KEY")
			r.Endpoints.S3KMSKeyID = o.Getenv("BD_S3_KMS_KEY_ID")
			fmt.Fprintln(r.log, "minio: using BD_S3_ENDPOINT from the environment")
			return nil
		}
		return r.startMinIO(ctx, r.bins[MinIO], o)
	case Mailpit:
		if v := o.Getenv("BD_SMTP_ADDR"); v != "" {
			r.Endpoints.SMTPAddr = v
			r.Endpoints.MailpitURL = o.Getenv("BD_MAILPIT_URL")
			fmt.Fprintln(r.log, "mailpit: using BD_SMTP_ADDR from the environment")
			return nil
		}
		return r.startMailpit(ctx, r.bins[Mailpit], o)
	case StripeMock:
		if v := o.Getenv("BD_STRIPE_API_URL"); v != "" {
			r.Endpoints.StripeURL = v
			fmt.Fprintln(r.log, "stripe-mock: using BD_STRIPE_API_URL from the environment")
			return nil
		}
		return r.startStripeMock(ctx, r.bins[StripeMock], o)
	default:
		return fmt.Errorf("unknown service %q", s)
	}
	return nil
}

// Stop ends every service this Running started (SIGINT, then SIGKILL after a grace period) and waits for them.
func (r *Running) Stop() {
	r.stopOnce.Do(func() {
		for i := len(r.procs) - 1; i >= 0; i-- {
			p := r.procs[i]
			select {
			case <-p.done:
				continue
			default:
			}
			_ = p.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-p.done:
			case <-time.After(15 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			fmt.Fprintf(r.log, "%s: stopped\n", p.name)
		}
	})
}

// Exited reports the first service that ended on its own, if any: a caller can watch it and stop the rest.
func (r *Running) Exited() <-chan string {
	ch := make(chan string, len(r.procs))
	for _, p := range r.procs {
		go func(p *proc) {
			<-p.done
			ch <- p.name
		}(p)
	}
	return ch
}

// spawn starts a child process whose output goes to logFile, in its own process group so that a Ctrl-C at the
// terminal reaches the parent first and the parent stops the children in order.
func (r *Running) spawn(name string, logFile string, cmd *exec.Cmd) (*proc, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	r.procs = append(r.procs, p)
	return p, nil
}

// waitReady polls check until it succeeds, the process exits, or the deadline passes.
func waitReady(ctx context.Context, p *proc, logFile string, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); see %s:\n%s", p.name, p.err, logFile, tail(logFile, 15))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v; see %s", p.name, timeout, last, logFile)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tcpReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
