package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/config"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) {
	tenanttest.Main(m, localsvc.Postgres, localsvc.Redis, localsvc.Mailpit, localsvc.StripeMock)
}

// startServer wires the real app on a test platform database and serves it on a loopback port.
func startServer(t *testing.T) (*app, string, *tenanttest.Platform) {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with extra settings (e.g. BD_PUBLIC_SCHEME=http for a browser, which refuses
// Secure cookies from a plain-http page).
func startServerWith(t testing.TB, extraEnv map[string]string) (*app, string, *tenanttest.Platform) {
	t.Helper()
	return startServerWiring(t, extraEnv, wiring{})
}

// startServerWiring is startServerWith with the wiring options dev uses (the payment sandbox's client, say).
func startServerWiring(t testing.TB, extraEnv map[string]string, w wiring) (*app, string, *tenanttest.Platform) {
	t.Helper()
	if _, test := t.(*testing.T); test && w.passwordParams == nil {
		// Tests hash as cheaply as their demo passwords are hashed (demoTenant), so a login neither pays for 64 MiB
		// nor upgrades the hash to it; benchmarks keep the production parameters their figures are about.
		w.passwordParams = &identitytest.CheapParams
	}
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	var extra []string
	for name, u := range p.URLs {
		if name != "main" {
			extra = append(extra, name+"="+u)
		}
	}
	env := map[string]string{
		"BD_DATABASE_URL": p.URLs["main"], "BD_DATABASE_CLUSTERS": strings.Join(extra, ";"), "BD_REDIS_URL": os.Getenv("BD_REDIS_URL"), "BD_SMTP_ADDR": os.Getenv("BD_SMTP_ADDR"),
		"BD_BASE_DOMAIN": "brokerdesk.test", "BD_JWT_KEYS": "t1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)), "BD_DATA_KEYS": "d1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)), "BD_HTTP_ADDR": "127.0.0.1:0", "BD_INTERNAL_ADDR": "127.0.0.1:0",
		// Every test's requests come from 127.0.0.1 through one Redis: a budget no test run can spend.
		"BD_RATE_LIMIT_IP": "1000000/m", "BD_RATE_LIMIT_TOKEN": "1000000/m", "BD_RATE_LIMIT_WEBHOOKS": "1000000/m",
		"BD_BLOB_DIR": t.TempDir(), // documents of the test's tenants, gone with the test
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logTo io.Writer = io.Discard
	level := "error"
	if path := extraEnv["log_file"]; path != "" { // a benchmark pays for its logs as production does
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		buffered := logging.NewBuffered(f, 0, 0) // as serve writes its logs
		t.Cleanup(func() { buffered.Close(); f.Close() })
		logTo, level = buffered, cfg.LogLevel
	}
	a, err := openApp(ctx, cfg, logging.New(logTo, level), w)
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.buildHTTP()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.public.Serve(l) //nolint:errcheck
	go a.resolver.Listen(ctx)
	t.Cleanup(func() {
		cancel()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = s.public.Shutdown(sctx)
		a.close()
	})
	return a, "http://" + l.Addr().String(), p
}

type response struct {
	status int
	ctype  string
	body   string
	reqID  string
}

func get(t *testing.T, base, host, path, accept string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Host = host
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header.Get("Content-Type"), string(b), res.Header.Get("X-Request-ID")}
}

func TestServeRoutesHostsToTenantsConsoleAndErrors(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ctx := context.Background()
	ten := provisionForTest(t, a)
	host := ten.Slug + ".brokerdesk.test:8080"

	r := get(t, base, host, "/", "text/html")
	if r.status != 200 || !strings.Contains(r.body, "Welcome to Harbour FX") || !strings.Contains(r.body, "--brand-primary: #1f4e79") {
		t.Fatalf("tenant landing page: %d %q", r.status, r.body)
	}
	if r.reqID == "" {
		t.Error("no X-Request-ID on the response")
	}
	r = get(t, base, host, "/api/v1/branding", "")
	var brand map[string]string
	if err := json.Unmarshal([]byte(r.body), &brand); err != nil || r.status != 200 || brand["name"] != "Harbour FX" {
		t.Fatalf("branding API: %d %q", r.status, r.body)
	}
	for _, h := range []string{host, "console.brokerdesk.test:8080", "nobody.brokerdesk.test"} {
		if r := get(t, base, h, "/readyz", ""); r.status != 200 || !strings.Contains(r.body, `"database":"ok"`) || !strings.Contains(r.body, `"redis":"ok"`) {
			t.Errorf("readyz on %s: %d %s", h, r.status, r.body)
		}
	}

	// Unknown hosts: problem+json for API clients, a page for browsers; never a 500.
	r = get(t, base, "nobody.brokerdesk.test", "/api/v1/branding", "application/json")
	var prob map[string]any
	if err := json.Unmarshal([]byte(r.body), &prob); err != nil || r.status != 404 || r.ctype != "application/problem+json" ||
		prob["type"] != "/problems/unknown-host" || prob["request_id"] != r.reqID {
		t.Fatalf("unknown host, API: %d %s %q", r.status, r.ctype, r.body)
	}
	r = get(t, base, "nobody.brokerdesk.test", "/", "text/html,application/xhtml+xml")
	if r.status != 404 || !strings.HasPrefix(r.ctype, "text/html") || !strings.Contains(r.body, "No brokerage is served at this address.") {
		t.Fatalf("unknown host, browser: %d %s %q", r.status, r.ctype, r.body)
	}
	// The console host serves nothing of tenants.
	if r := get(t, base, "console.brokerdesk.test:8080", "/api/v1/branding", ""); r.status != 404 {
		t.Fatalf("console served a tenant route: %d %q", r.status, r.body)
	}

	// A suspended tenant answers 403 everywhere except health, soon after the change (the cache hears NOTIFY).
	if _, err := a.provisioner.Suspend(ctx, ten.ID, "billing", tenants.System("operator:test")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = get(t, base, host, "/api/v1/branding", "")
		if r.status == 403 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("suspended tenant still answers %d", r.status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(r.body, "/problems/tenant-suspended") {
		t.Fatalf("suspended tenant's problem: %q", r.body)
	}
}

func provisionForTest(t *testing.T, a *app) tenants.Tenant {
	t.Helper()
	ten, err := a.provisioner.Create(context.Background(), tenants.Request{Slug: "h" + tenanttest.RandomLabel(10), DisplayName: "Harbour FX", AdminEmail: "admin@harbour.example"})
	if err != nil {
		t.Fatal(err)
	}
	return ten
}
