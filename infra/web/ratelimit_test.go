package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

// testRedis connects to a Redis database of this package's own (11) so no other package's keys meet ours.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	u := os.Getenv("BD_REDIS_URL")
	if u == "" {
		t.Fatal("BD_REDIS_URL is not set")
	}
	opt, err := redis.ParseURL(u[:strings.LastIndex(u, "/")] + "/11")
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

func randomPrefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "bdtest:" + t.Name() + ":" + hex.EncodeToString(b) + ":"
}

// fakeClock is a clock the test moves by hand, so window arithmetic is exact and no test waits.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// limitedApp serves GET /x and the health checks behind the limiter. The app trusts the test connection's peer
// (0.0.0.0) as a proxy so each request can name its client address in X-Forwarded-For.
func limitedApp(t *testing.T, o web.RateLimitOptions) *fiber.App {
	t.Helper()
	o.Redis = testRedis(t)
	o.Prefix = randomPrefix(t)
	proxies, _ := web.ParseTrustedProxies("0.0.0.0/32")
	app := web.New(web.Options{TrustedProxies: proxies})
	web.Health(app)
	app.Use(web.RateLimit(o))
	app.Get("/x", func(c *fiber.Ctx) error { return c.SendString(c.IP()) })
	app.Get("/hooks/:n", func(c *fiber.Ctx) error { return c.SendString(c.IP()) })
	return app
}

type hit struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, app *fiber.App, path, ip, token string) hit {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("X-Forwarded-For", ip)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(res))
	return hit{res.StatusCode, res.Header, b.String()}
}

func readAll(res *http.Response) string {
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

func TestRateLimitAllowsExactlyTheLimitThenRefusesWithProblemAndHeaders(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	app := limitedApp(t, web.RateLimitOptions{PerIP: web.Rate{Limit: 5, Period: time.Minute}, Now: clock.Now})
	for i := range 5 {
		h := send(t, app, "/x", "203.0.113.9", "")
		if h.status != 200 {
			t.Fatalf("request %d: %d %s", i+1, h.status, h.body)
		}
		if got, want := h.header.Get("RateLimit-Remaining"), fmt.Sprint(4-i); got != want {
			t.Errorf("request %d: RateLimit-Remaining %q, want %q", i+1, got, want)
		}
		if h.header.Get("RateLimit-Limit") != "5" {
			t.Errorf("request %d: RateLimit-Limit %q", i+1, h.header.Get("RateLimit-Limit"))
		}
	}
	h := send(t, app, "/x", "203.0.113.9", "")
	if h.status != 429 || h.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(h.body, `"/problems/rate-limited"`) {
		t.Fatalf("request 6: %d %s %s", h.status, h.header.Get("Content-Type"), h.body)
	}
	// One request's worth refills every 12 s; the whole budget in 60 s.
	if h.header.Get("Retry-After") != "12" || h.header.Get("RateLimit-Remaining") != "0" || h.header.Get("RateLimit-Reset") != "60" {
		t.Fatalf("headers: Retry-After %q Remaining %q Reset %q", h.header.Get("Retry-After"), h.header.Get("RateLimit-Remaining"), h.header.Get("RateLimit-Reset"))
	}
	if p := h.header.Get("RateLimit-Policy"); !strings.Contains(p, "5;w=60") {
		t.Errorf("RateLimit-Policy %q", p)
	}
	// A refused request spends nothing: just before the refill it is still refused, at the refill it passes.
	clock.Add(12*time.Second - time.Millisecond)
	if h := send(t, app, "/x", "203.0.113.9", ""); h.status != 429 || h.header.Get("Retry-After") != "1" {
		t.Fatalf("before refill: %d Retry-After %q", h.status, h.header.Get("Retry-After"))
	}
	clock.Add(time.Millisecond)
	if h := send(t, app, "/x", "203.0.113.9", ""); h.status != 200 {
		t.Fatalf("after refill: %d", h.status)
	}
	if h := send(t, app, "/x", "203.0.113.9", ""); h.status != 429 {
		t.Fatalf("one refill bought two requests: %d", h.status)
	}
	// Another address has its own budget.
	if h := send(t, app, "/x", "198.51.100.1", ""); h.status != 200 {
		t.Fatalf("other address: %d", h.status)
	}
}

func TestRateLimitBudgetIsWholeAgainAfterThePeriod(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	app := limitedApp(t, web.RateLimitOptions{PerIP: web.Rate{Limit: 3, Period: time.Second}, Now: clock.Now})
	spend := func(round string) {
		for i := range 3 {
			if h := send(t, app, "/x", "203.0.113.5", ""); h.status != 200 {
				t.Fatalf("%s request %d: %d", round, i+1, h.status)
			}
		}
		if h := send(t, app, "/x", "203.0.113.5", ""); h.status != 429 {
			t.Fatalf("%s request 4: %d", round, h.status)
		}
	}
	spend("first")
	clock.Add(time.Second)
	spend("second")
}

// The limiter's default clock is Redis' own: a budget of 2/s refills in real time.
func TestRateLimitOnTheRedisClockRefills(t *testing.T) {
	t.Parallel()
	app := limitedApp(t, web.RateLimitOptions{PerIP: web.Rate{Limit: 2, Period: time.Second}})
	for send(t, app, "/x", "203.0.113.7", "").status == 200 {
	}
	deadline := time.Now().Add(5 * time.Second)
	for send(t, app, "/x", "203.0.113.7", "").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("budget did not refill within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRateLimitPerTokenIsIndependentOfTheAddress(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	app := limitedApp(t, web.RateLimitOptions{PerIP: web.Rate{Limit: 3, Period: time.Minute},
		PerToken: web.Rate{Limit: 4, Period: time.Minute}, Now: clock.Now})
	// One token from four addresses: the token's budget runs out though no address's does.
	for i, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
		if h := send(t, app, "/x", ip, "token-a"); h.status != 200 {
			t.Fatalf("token-a request %d: %d", i+1, h.status)
		}
	}
	h := send(t, app, "/x", "192.0.2.5", "token-a")
	if h.status != 429 || h.header.Get("RateLimit-Limit") != "4" {
		t.Fatalf("token-a request 5: %d limit %q", h.status, h.header.Get("RateLimit-Limit"))
	}
	// The same fresh address with another token, or with none, is served: the refusal was the token's.
	if h := send(t, app, "/x", "192.0.2.5", "token-b"); h.status != 200 {
		t.Fatalf("token-b: %d", h.status)
	}
	if h := send(t, app, "/x", "192.0.2.5", ""); h.status != 200 {
		t.Fatalf("no token: %d", h.status)
	}
	// An address's budget binds whatever tokens it cycles through.
	for i := range 3 {
		if h := send(t, app, "/x", "192.0.2.9", fmt.Sprint("fresh-", i)); h.status != 200 {
			t.Fatalf("address request %d: %d", i+1, h.status)
		}
	}
	h = send(t, app, "/x", "192.0.2.9", "fresh-3")
	if h.status != 429 || h.header.Get("RateLimit-Limit") != "3" {
		t.Fatalf("address request 4: %d limit %q", h.status, h.header.Get("RateLimit-Limit"))
	}
}

func TestRateLimitExemptsHealthChecks(t *testing.T) {
	t.Parallel()
	app := limitedApp(t, web.RateLimitOptions{PerIP: web.Rate{Limit: 1, Period: time.Hour}})
	for i := range 3 {
		if h := send(t, app, "/healthz", "203.0.113.1", ""); h.status != 200 || h.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("healthz %d: %d %v", i+1, h.status, h.header)
		}
	}
	send(t, app, "/x", "203.0.113.1", "")
	if h := send(t, app, "/x", "203.0.113.1", ""); h.status != 429 {
		t.Fatalf("the limit is not in force: %d", h.status)
	}
	if h := send(t, app, "/readyz", "203.0.113.1", ""); h.status != 200 {
		t.Fatalf("readyz while limited: %d", h.status)
	}
}

// A processor's callbacks have a budget of their own per address: a burst of them neither spends nor is refused by
// the address's budget for everything else, and past their own budget they are refused like any request.
func TestRateLimitGivesPathsUnderAPrefixTheirOwnBudget(t *testing.T) {
	t.Parallel()
	app := limitedApp(t, web.RateLimitOptions{PerIP: web.Rate{Limit: 2, Period: time.Hour},
		Own: []web.PrefixRate{{Prefix: "/hooks/", Rate: web.Rate{Limit: 5, Period: time.Hour}, Name: "webhooks"}}})
	const processor = "198.51.100.7"
	for i := range 5 {
		if h := send(t, app, fmt.Sprintf("/hooks/%d", i), processor, "tok"); h.status != 200 || h.header.Get("RateLimit-Limit") != "5" ||
			h.header.Get("RateLimit-Policy") != `5;w=3600;comment="webhooks"` {
			t.Fatalf("callback %d: %d %v", i+1, h.status, h.header)
		}
	}
	if h := send(t, app, "/hooks/6", processor, ""); h.status != 429 || h.header.Get("Retry-After") == "" {
		t.Fatalf("the sixth callback: %d %v", h.status, h.header)
	}
	for i := range 2 { // the address's own budget is untouched
		if h := send(t, app, "/x", processor, ""); h.status != 200 || h.header.Get("RateLimit-Limit") != "2" {
			t.Fatalf("request %d outside the prefix: %d %v", i+1, h.status, h.header)
		}
	}
	if h := send(t, app, "/x", processor, ""); h.status != 429 {
		t.Fatalf("the third request outside the prefix: %d", h.status)
	}
}

func TestRateLimitLetsRequestsThroughWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer down.Close()
	app := web.New(web.Options{})
	app.Use(web.RateLimit(web.RateLimitOptions{Redis: down, PerIP: web.Rate{Limit: 1, Period: time.Hour}}))
	app.Get("/x", func(c *fiber.Ctx) error { return c.SendString("ok") })
	for i := range 2 {
		if h := send(t, app, "/x", "", ""); h.status != 200 {
			t.Fatalf("request %d: %d", i+1, h.status)
		}
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"300/m": "300/1m0s", "10/s": "10/1s", "5/h": "5/1h0m0s", "1/d": "1/24h0m0s",
		"7/30s": "7/30s", "off": "off", "0": "off"} {
		r, err := web.ParseRate(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, in := range []string{"", "m", "300", "-1/m", "x/m", "5/fortnight", "5/0s", "5/500ms", "5/48h"} {
		if _, err := web.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestClientIPFromForwardedTakesTheRightmostUntrustedAddress(t *testing.T) {
	t.Parallel()
	proxies, err := web.ParseTrustedProxies("10.0.0.0/8, 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, peer, xff, want string }{
		{"one load balancer", "10.0.0.5", "203.0.113.9", "203.0.113.9"},
		{"client forges a leftmost entry", "10.0.0.5", "1.2.3.4, 203.0.113.9", "203.0.113.9"},
		{"two trusted hops", "10.0.0.5", "203.0.113.9, 10.1.2.3", "203.0.113.9"},
		{"every hop trusted", "10.0.0.5", "10.9.9.9, 10.1.2.3", "10.9.9.9"},
		{"no header", "10.0.0.5", "", "10.0.0.5"},
		{"garbage stops the walk", "10.0.0.5", "203.0.113.9, garbage", "10.0.0.5"},
		{"garbage left of the client is ignored", "10.0.0.5", "garbage, 203.0.113.9", "203.0.113.9"},
		{"ipv6 proxy and client", "2001:db8::1", "2001:db8:ffff::2, 2a00:1450::5", "2a00:1450::5"},
		{"v4-mapped peer", "::ffff:10.0.0.5", "203.0.113.9", "203.0.113.9"},
		{"untrusted peer is the client", "198.51.100.3", "203.0.113.9", "198.51.100.3"},
	} {
		got := web.ClientIPFromForwarded(proxies, netip.MustParseAddr(tc.peer), tc.xff)
		if got.String() != tc.want {
			t.Errorf("%s: peer %s xff %q: got %s, want %s", tc.name, tc.peer, tc.xff, got, tc.want)
		}
	}
	if _, err := web.ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}

// Over a real connection: X-Forwarded-For counts only when the peer is a trusted proxy, and then c.IP() is the
// rightmost untrusted entry, not the client-written leftmost one.
func TestClientIPBelievesForwardedForOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, trusted, xff, want string }{
		{"no trusted proxies", "", "1.2.3.4, 203.0.113.9", "127.0.0.1"},
		{"peer not trusted", "10.0.0.0/8", "203.0.113.9", "127.0.0.1"},
		{"peer trusted", "127.0.0.1/32", "1.2.3.4, 203.0.113.9", "203.0.113.9"},
		{"peer trusted, no header", "127.0.0.1", "", "127.0.0.1"},
	} {
		proxies, err := web.ParseTrustedProxies(tc.trusted)
		if err != nil {
			t.Fatal(err)
		}
		app := web.New(web.Options{TrustedProxies: proxies})
		app.Get("/ip", func(c *fiber.Ctx) error { return c.SendString(c.IP()) })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go app.Listener(ln) //nolint:errcheck // ends with Shutdown
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/ip", nil)
		if tc.xff != "" {
			req.Header.Set("X-Forwarded-For", tc.xff)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(res)
		res.Body.Close()
		_ = app.Shutdown()
		if got != tc.want {
			t.Errorf("%s: c.IP() = %q, want %q", tc.name, got, tc.want)
		}
	}
}
