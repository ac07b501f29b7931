package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// floodBodySize is the size of every flood body: the largest upload a client may send by default (BD_UPLOAD_MAX_MB).
const floodBodySize = 15 << 20

// BenchmarkFloodRSS is issue 15's memory figure: a real `brokerdesk serve` process (built from this package, run as
// production runs it, on a test platform database with one provisioned brokerage) is flooded, all at once, with 64
// concurrent 15 MiB bodies to every public route of the tenant API (half announced by Content-Length, half chunked,
// so the body guard must stop reading them itself) and 200 concurrent sign-ins with wrong passwords (argon2id,
// 64 MiB each). The server's RSS is sampled from /proc every 20 ms; the benchmark reports it before, at its peak and
// after, and what the flood was answered (every answer must be a 4xx or a 503, never a 5xx otherwise or a dropped
// connection without one). Goal: peak under 300 MiB.
//
//	go test -run '^$' -bench FloodRSS -benchtime 1x -v ./cmd/brokerdesk/   (under brokerdesk services exec, or alone)
//
// FLOOD_ONLY=bodies or FLOOD_ONLY=logins sends one half of the flood; FLOOD_TRACE=FILE writes the server's
// GODEBUG=gctrace=1 lines to FILE (the Go heap beside the RSS).
func BenchmarkFloodRSS(b *testing.B) {
	ctx := context.Background()
	a, _, p := startServerWith(b, nil) // the platform database, migrated, and an app to provision with
	ten, err := a.provisioner.Create(ctx, tenants.Request{Slug: "f" + tenanttest.RandomLabel(10), DisplayName: "Flood FX", AdminEmail: "admin@flood.example"})
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "brokerdesk")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(b)
	var extra []string
	for name, u := range p.URLs {
		if name != "main" {
			extra = append(extra, name+"="+u)
		}
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "BD_DATABASE_URL="+p.URLs["main"], "BD_DATABASE_CLUSTERS="+strings.Join(extra, ";"),
		"BD_BASE_DOMAIN=brokerdesk.test", "BD_JWT_KEYS=t1:"+base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"BD_DATA_KEYS=d1:"+base64.StdEncoding.EncodeToString(make([]byte, 32)), "BD_HTTP_ADDR="+addr,
		"BD_INTERNAL_ADDR="+freeAddr(b), "BD_RATE_LIMIT_IP=off", "BD_RATE_LIMIT_TOKEN=off", "BD_BLOB_DIR="+b.TempDir(), "BD_LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if path := os.Getenv("FLOOD_TRACE"); path != "" { // GODEBUG=gctrace=1 of the server, for looking into a figure
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd.Env, cmd.Stderr = append(cmd.Env, "GODEBUG=gctrace=1"), f
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	host := hostOf(ten)
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("serve did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s, err := a.buildHTTP()
	if err != nil {
		b.Fatal(err)
	}
	var public []web.Route
	for _, r := range s.api.Routes() {
		if r.Permission == web.Public {
			public = append(public, r)
		}
	}
	b.Logf("server: pid %d, %d public routes", cmd.Process.Pid, len(public))
	for range b.N {
		time.Sleep(2 * time.Second) // let the server settle (and, between rounds, give back what it can)
		baseline := rssMiB(b, cmd.Process.Pid)
		var peak float64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					peak = max(peak, rssMiB(b, cmd.Process.Pid))
				}
			}
		}()
		var mu sync.Mutex
		statuses := map[string]int{}
		note := func(k string) { mu.Lock(); statuses[k]++; mu.Unlock() }
		var wg sync.WaitGroup
		start := time.Now()
		for _, r := range public {
			if os.Getenv("FLOOD_ONLY") == "logins" {
				break
			}
			path := strings.NewReplacer(":gateway", "nosuch", ":id", "00000000-0000-0000-0000-000000000000").Replace(r.Path)
			for i := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					note(floodOne(addr, host, r.Method, path, i%2 == 1))
				}()
			}
		}
		for i := range 200 {
			if os.Getenv("FLOOD_ONLY") == "bodies" {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"email":"nobody%d@flood.example","password":"wrong password %d!"}`, i, i)
				note(loginOne(addr, host, body))
			}()
		}
		wg.Wait()
		took := time.Since(start)
		close(stop)
		sampler.Wait()
		time.Sleep(5 * time.Second)
		after := rssMiB(b, cmd.Process.Pid)
		keys := make([]string, 0, len(statuses))
		for k := range statuses {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var summary []string
		for _, k := range keys {
			summary = append(summary, fmt.Sprintf("%s x%d", k, statuses[k]))
			for _, f := range strings.Fields(k) {
				if st, err := strconv.Atoi(f); err == nil && (st >= 500 && st != 503 || st < 400) {
					b.Errorf("%d answers %s", statuses[k], k)
				}
			}
		}
		bodies, logins := 64*len(public), 200
		switch os.Getenv("FLOOD_ONLY") {
		case "bodies":
			logins = 0
		case "logins":
			bodies = 0
		}
		b.Logf("flood of %d bodies of 15 MiB and %d wrong-password logins in %v: RSS %.0f MiB before, %.0f MiB peak, %.0f MiB 5 s after; answers: %s",
			bodies, logins, took.Round(time.Millisecond), baseline, peak, after, strings.Join(summary, ", "))
		b.ReportMetric(baseline, "MiB-before")
		b.ReportMetric(peak, "MiB-peak")
		b.ReportMetric(after, "MiB-after")
	}
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// rssMiB is the resident set of process pid, from /proc.
func rssMiB(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

var zeros = make([]byte, 64<<10) // every flood body is written from this one buffer: the load costs no memory

// floodOne sends one 15 MiB body (by Content-Length, or chunked) and returns "<status> <problem type>", or what
// went wrong before an answer came.
func floodOne(addr, host, method, path string, chunked bool) string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial error"
	}
	defer conn.Close()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nConnection: close\r\n", method, path, host)
	if chunked {
		head += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		head += fmt.Sprintf("Content-Length: %d\r\n\r\n", floodBodySize)
	}
	go func() {
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		for sent := 0; sent < floodBodySize; sent += len(zeros) {
			if chunked {
				if _, err := fmt.Fprintf(conn, "%x\r\n", len(zeros)); err != nil {
					return
				}
			}
			if _, err := conn.Write(zeros); err != nil {
				return
			}
			if chunked {
				if _, err := io.WriteString(conn, "\r\n"); err != nil {
					return
				}
			}
		}
		if chunked {
			_, _ = io.WriteString(conn, "0\r\n\r\n")
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "no answer"
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return fmt.Sprintf("%d %s", res.StatusCode, problemType(string(body)))
}

// loginOne signs in with a wrong password and returns "<status> <problem type>".
func loginOne(addr, host, body string) string {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/auth/staff/login", strings.NewReader(body))
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return "login: no answer"
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return fmt.Sprintf("login %d %s", res.StatusCode, problemType(string(b)))
}

func problemType(body string) string {
	_, rest, ok := strings.Cut(body, `"type":"`)
	if !ok {
		return ""
	}
	t, _, _ := strings.Cut(rest, `"`)
	return t
}
