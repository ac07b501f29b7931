package localsvc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// goTool returns the path of a binary built with `go install module@version` into the cache, installing it first
// if needed. A file lock serialises installs when several test binaries start at once.
func goTool(ctx context.Context, o Options, name, module, version string) (string, error) {
	dir := filepath.Join(o.CacheDir, "bin", name+"-"+sanitize(version))
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(dir, ".install.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process installed it while we waited
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%s is not installed and the go tool is not on PATH to install it: %w", name, err)
	}
	fmt.Fprintf(o.Log, "%s: installing %s@%s with go install into %s (first time only; this can take minutes)\n", name, module, version, dir)
	cmd := exec.CommandContext(ctx, goBin, "install", module+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", module, version, err, lastLines(string(out), 20))
	}
	fmt.Fprintf(o.Log, "%s: installed\n", name)
	return bin, nil
}

// systemTool finds a binary on PATH, installing the Debian package through apt-get when running as root.
func systemTool(ctx context.Context, o Options, bin, pkg string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%s is not installed; install the Debian package %s (sudo apt-get install %s) or set its URL in the environment", bin, pkg, pkg)
	}
	unlock, err := lockFile(filepath.Join(os.TempDir(), "brokerdesk-apt.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	fmt.Fprintf(o.Log, "%s: installing Debian package %s with apt-get\n", bin, pkg)
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
	fmt.Fprintf(o.Log, "%s: installed\n", bin)
	return p, nil
}

// lockFile takes an exclusive flock on path, blocking until it is free.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// ErrLocked is returned by TryLock when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// TryLock takes an exclusive flock on path without waiting; the lock lives until release is called or the process
// ends. `brokerdesk dev` uses it so that a second `make run` on the same data says so instead of corrupting it.
func TryLock(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	_ = f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '@' || r == ':' {
			return '_'
		}
		return r
	}, s)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
