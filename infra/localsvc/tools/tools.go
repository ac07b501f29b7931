// Package tools finds, and installs when missing, the programs the local services run: the Postgres 15 server
// (found, never installed), redis-server (apt-get, when root), MinIO, Mailpit and stripe-mock (`go install` at pinned
// versions into a cache directory). Missing tools are installed at once, each saying what is happening in a progress
// line. It also holds the one rule for which services `brokerdesk dev` needs (Dev).
//
// It imports nothing but the standard library, so that cmd/brokerdesk-tools, which `make run` runs in the background
// while the product compiles, builds in seconds on a machine whose Go build cache is empty. Package localsvc, which
// starts the services, installs through it too.
package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Service names one kind of local service.
type Service string

const (
	Postgres   Service = "postgres"
	Redis      Service = "redis"
	MinIO      Service = "minio"
	Mailpit    Service = "mailpit"
	StripeMock Service = "stripe-mock"
)

// All is every service, in start order.
var All = []Service{Postgres, Redis, MinIO, Mailpit, StripeMock}

// Pinned versions of the services installed with `go install`. A change here is a deliberate upgrade.
const (
	MinIOModule       = "github.com/minio/minio"
	MinIOVersion      = "v0.0.0-20260212201848-7aac2a2c5b7c"
	MailpitModule     = "github.com/axllent/mailpit"
	MailpitVersion    = "v1.27.11"
	StripeMockModule  = "github.com/stripe/stripe-mock"
	StripeMockVersion = "v0.203.0"
)

// Dev is the one rule for which services `brokerdesk dev` (make run) starts, read from the environment its
// configuration comes from: Postgres, Redis and Mailpit always (database, job queue, email), and stripe-mock (the
// demo brokerage's card gateway is a Stripe gateway on it, so deposits can be tried without a Stripe account); MinIO
// only when the configuration asks for the S3 blob store without naming an endpoint (BD_BLOB_STORE=s3,
// BD_S3_ENDPOINT empty): the disk store, the default, needs none. A service listed here whose address the
// environment gives is still neither installed nor started (Given).
func Dev(getenv func(string) string) []Service {
	out := []Service{Postgres, Redis}
	if strings.TrimSpace(getenv("BD_BLOB_STORE")) == "s3" && strings.TrimSpace(getenv("BD_S3_ENDPOINT")) == "" {
		out = append(out, MinIO)
	}
	return append(out, Mailpit, StripeMock)
}

// EnvVars name, for each service, the variable that gives its address: when it is set, the service is neither
// installed nor started, and the caller uses that address.
var EnvVars = map[Service]string{
	Postgres:   "BD_DATABASE_URL",
	Redis:      "BD_REDIS_URL",
	MinIO:      "BD_S3_ENDPOINT",
	Mailpit:    "BD_SMTP_ADDR",
	StripeMock: "BD_STRIPE_API_URL",
}

// Given reports whether the environment gives the address of s.
func Given(s Service, getenv func(string) string) bool {
	v, ok := EnvVars[s]
	return ok && getenv(v) != ""
}

// Options says where tools go and who hears about it.
type Options struct {
	// CacheDir holds binaries installed with go install (default: CacheDir(Getenv)).
	CacheDir string
	// Log receives the progress lines. nil discards them.
	Log io.Writer
	// Getenv reads the environment (default os.Getenv): services it gives an address for are skipped.
	Getenv func(string) string
}

// CacheDir is where go-installed tools are kept unless told otherwise: $BD_TOOLS_CACHE, else the user cache
// directory + /brokerdesk (~/.cache/brokerdesk), shared by every checkout on the machine.
func CacheDir(getenv func(string) string) string {
	if v := getenv("BD_TOOLS_CACHE"); v != "" {
		return v
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = filepath.Join(os.TempDir(), "cache")
	}
	return filepath.Join(base, "brokerdesk")
}

// Install makes sure the programs of services are on this machine, installing every missing one at once (apt-get
// installs redis-server while `go install` compiles Mailpit, each in its own goroutine), and returns their paths
// (for Postgres: the server's). Services whose address the environment gives are skipped. Each tool says what is
// happening in one progress line ("mailpit: already installed (...)", or "mailpit: installing ..." and later
// "mailpit: installed in 1m12s"). The first failure stops the go installs still running (apt-get is left to finish:
// an interrupted dpkg leaves the machine needing repair); every failure is returned, joined, naming its service.
func Install(ctx context.Context, services []Service, o Options) (map[Service]string, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.CacheDir == "" {
		o.CacheDir = CacheDir(o.Getenv)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	o.Log = &syncWriter{w: o.Log}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var todo []Service
	for _, s := range services {
		if !Given(s, o.Getenv) {
			todo = append(todo, s)
		}
	}
	bins := make(map[Service]string, len(todo))
	errs := make([]error, len(todo))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, s := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bin, err := toolOf(ctx, o, s)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", s, err)
				if errors.Is(err, context.Canceled) {
					fmt.Fprintf(o.Log, "%s: install stopped\n", s)
				} else {
					fmt.Fprintf(o.Log, "%s: FAILED: %s\n", s, firstLine(err.Error()))
				}
				cancel()
				return
			}
			mu.Lock()
			bins[s] = bin
			mu.Unlock()
		}()
	}
	wg.Wait()
	// A go install that another tool's failure stopped is no news of its own.
	var failed, stopped []error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			stopped = append(stopped, err)
		default:
			failed = append(failed, err)
		}
	}
	if len(failed) == 0 {
		failed = stopped
	}
	return bins, errors.Join(failed...)
}

// toolOf finds or installs the program service s runs.
func toolOf(ctx context.Context, o Options, s Service) (string, error) {
	switch s {
	case Postgres:
		// Not installed here (the README asks for the Postgres 15 server binaries); checked with the others so that
		// a missing one is said at once, not after everything else compiled.
		bin, err := PostgresBinary("postgres")
		if err != nil {
			return "", err
		}
		if _, err := PostgresBinary("initdb"); err != nil {
			return "", err
		}
		fmt.Fprintf(o.Log, "postgres: already installed (%s)\n", bin)
		return bin, nil
	case Redis:
		return System(ctx, o.Log, "redis-server", "redis-server")
	case MinIO:
		return goTool(ctx, o, "minio", MinIOModule, MinIOVersion)
	case Mailpit:
		return goTool(ctx, o, "mailpit", MailpitModule, MailpitVersion)
	case StripeMock:
		return goTool(ctx, o, "stripe-mock", StripeMockModule, StripeMockVersion)
	default:
		return "", fmt.Errorf("unknown service %q", s)
	}
}

// pgBinDirs are where Debian and the PGDG packages put the Postgres 15 server binaries.
var pgBinDirs = []string{"/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin"}

// PostgresBinary finds one of the Postgres 15 programs (postgres, initdb, pgbench).
func PostgresBinary(name string) (string, error) {
	for _, d := range pgBinDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s (Postgres 15) not found in %v or on PATH; install postgresql-15", name, pgBinDirs)
}

// goTool returns the path of a binary built with `go install module@version` into the cache, installing it first
// if needed. A file lock serialises installs of one tool when several processes want it at once (test binaries,
// `make run`'s background installer and `brokerdesk dev`); the binary is built beside its final place and renamed
// there, so an interrupted install never leaves a half-written binary that a later run would take for installed.
func goTool(ctx context.Context, o Options, name, module, version string) (string, error) {
	dir := filepath.Join(o.CacheDir, "bin", name+"-"+sanitize(version))
	bin := filepath.Join(dir, name)
	if fileExists(bin) {
		fmt.Fprintf(o.Log, "%s: already installed (%s)\n", name, bin)
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(dir, ".install.lock"), func() {
		fmt.Fprintf(o.Log, "%s: another process is installing it; waiting for it ...\n", name)
	})
	if err != nil {
		return "", err
	}
	defer unlock()
	if fileExists(bin) {
		fmt.Fprintf(o.Log, "%s: installed by another process (%s)\n", name, bin)
		return bin, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%s is not installed and the go tool is not on PATH to install it: %w", name, err)
	}
	tmp, err := os.MkdirTemp(dir, ".gobin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(o.Log, "%s: installing %s@%s with go install (first time only; it compiles from source, which takes minutes) ...\n", name, module, version)
	start := time.Now()
	// No debug information (-s -w): a shorter link, and nobody debugs these here.
	cmd := exec.CommandContext(ctx, goBin, "install", "-ldflags=-s -w", module+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return "", fmt.Errorf("go install %s@%s: %w", module, version, context.Cause(ctx))
	}
	if err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", module, version, err, lastLines(string(out), 20))
	}
	if err := os.Rename(filepath.Join(tmp, name), bin); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w", module, version, err)
	}
	fmt.Fprintf(o.Log, "%s: installed in %s (%s)\n", name, since(start), bin)
	return bin, nil
}

// System finds a program on PATH, installing the Debian package pkg through apt-get when running as root, and says
// which it did on log (nil: nowhere).
func System(ctx context.Context, log io.Writer, bin, pkg string) (string, error) {
	if log == nil {
		log = io.Discard
	}
	if p, err := exec.LookPath(bin); err == nil {
		fmt.Fprintf(log, "%s: already installed (%s)\n", bin, p)
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%s is not installed; install the Debian package %s (sudo apt-get install %s) or set its URL in the environment", bin, pkg, pkg)
	}
	unlock, err := lockFile(filepath.Join(os.TempDir(), "brokerdesk-apt.lock"), func() {
		fmt.Fprintf(log, "%s: another process is installing Debian packages; waiting for it ...\n", bin)
	})
	if err != nil {
		return "", err
	}
	defer unlock()
	if p, err := exec.LookPath(bin); err == nil {
		fmt.Fprintf(log, "%s: installed by another process (%s)\n", bin, p)
		return p, nil
	}
	fmt.Fprintf(log, "%s: installing the Debian package %s with apt-get (first time only) ...\n", bin, pkg)
	start := time.Now()
	// Once started, apt-get runs to its end: killing it halfway through dpkg leaves the machine needing repair. A
	// Ctrl-C at the terminal still reaches it directly.
	ctx = context.WithoutCancel(ctx)
	install := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", "--no-install-recommends", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if _, err := install(); err != nil {
		// A fresh machine has no package lists yet.
		if out, err := exec.CommandContext(ctx, "apt-get", "update", "-q").CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get update: %w\n%s", err, lastLines(string(out), 10))
		}
		if out, err := install(); err != nil {
			return "", fmt.Errorf("apt-get install %s: %w\n%s", pkg, err, lastLines(string(out), 10))
		}
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s still not on PATH after installing %s: %w", bin, pkg, err)
	}
	fmt.Fprintf(log, "%s: installed in %s (%s)\n", bin, since(start), p)
	return p, nil
}

// lockFile takes an exclusive flock on path, blocking until it is free; waiting is called first when another
// process holds it, so the caller can say why nothing happens.
func lockFile(path string, waiting func()) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		if waiting != nil {
			waiting()
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// syncWriter lets the goroutines of Install write progress lines to one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func since(t time.Time) time.Duration {
	return time.Since(t).Round(time.Second)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '@' || r == ':' {
			return '_'
		}
		return r
	}, s)
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
