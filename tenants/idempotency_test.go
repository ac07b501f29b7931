package tenants_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/testkit"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// idemBundle is a tenant app with one Idempotent route, POST /api/v1/payouts, whose handler counts its runs and,
// while gate is set, waits for it to close.
type idemBundle struct {
	app   *fiber.App
	ten   tenants.Tenant
	gate  *tenanttest.Platform
	runs  atomic.Int64
	hold  atomic.Pointer[chan struct{}]
	fails atomic.Bool
}

func newIdemBundle(t *testing.T) *idemBundle {
	t.Helper()
	p := tenanttest.Shared(t)
	b := &idemBundle{ten: p.NewTenant(t, ""), gate: p}
	b.app = web.New(web.Options{})
	b.app.Use(func(c *fiber.Ctx) error {
		c.SetUserContext(tenants.WithTenant(c.UserContext(), b.ten))
		return c.Next()
	})
	api := web.NewAPI(b.app, nil)
	api.SetIdempotency(tenants.NewIdempotencyStore(p.Gate), nil, nil)
	api.Handle(web.Route{Method: "POST", Path: "/api/v1/payouts", Permission: web.Public, Summary: "test payout",
		Idempotent: true, Status: 201, Handler: func(c *fiber.Ctx) error {
			n := b.runs.Add(1)
			if h := b.hold.Load(); h != nil {
				<-*h
			}
			if b.fails.Load() {
				return web.NewProblem(503, "psp-down", "try again")
			}
			c.Location("/api/v1/payouts/" + string(rune('0'+n)))
			return c.Status(201).JSON(map[string]any{"run": n, "body": string(c.Body())})
		}})
	if err := api.Err(); err != nil {
		t.Fatal(err)
	}
	return b
}

type idemResult struct {
	status int
	header http.Header
	body   string
}

func (b *idemBundle) post(t *testing.T, key, body, auth string) idemResult {
	t.Helper()
	r, err := b.send(key, body, auth)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is post for goroutines other than the test's, which must not call t.Fatal.
func (b *idemBundle) send(key, body, auth string) (idemResult, error) {
	req := httptest.NewRequest("POST", "/api/v1/payouts", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(web.HeaderIdempotencyKey, key)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := b.app.Test(req, -1)
	if err != nil {
		return idemResult{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return idemResult{res.StatusCode, res.Header, string(raw)}, nil
}

func problemType(body string) string {
	var p web.Problem
	_ = json.Unmarshal([]byte(body), &p)
	return p.Type
}

func TestIdempotentRouteReplaysTheFirstResponseWithoutRunningAgain(t *testing.T) {
	t.Parallel()
	b := newIdemBundle(t)
	first := b.post(t, "key-1", `{"amount":100}`, "Bearer a")
	if first.status != 201 || b.runs.Load() != 1 || first.header.Get(web.HeaderIdempotentReplayed) != "" {
		t.Fatalf("first: %d runs %d %s", first.status, b.runs.Load(), first.body)
	}
	for i := range 2 {
		again := b.post(t, "key-1", `{"amount":100}`, "Bearer a")
		if again.status != first.status || again.body != first.body || again.header.Get("Location") != first.header.Get("Location") ||
			again.header.Get("Content-Type") != first.header.Get("Content-Type") || again.header.Get(web.HeaderIdempotentReplayed) != "true" {
			t.Fatalf("repeat %d: %d %v %s, want %d %v %s", i+1, again.status, again.header, again.body, first.status, first.header, first.body)
		}
	}
	if n := b.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times", n)
	}
	// The same key from another caller is that caller's own key.
	if other := b.post(t, "key-1", `{"amount":100}`, "Bearer b"); other.status != 201 || b.runs.Load() != 2 {
		t.Fatalf("another caller's key: %d runs %d", other.status, b.runs.Load())
	}
}

func TestIdempotencyKeyWithADifferentBodyIsRefused(t *testing.T) {
	t.Parallel()
	b := newIdemBundle(t)
	if r := b.post(t, "key-2", `{"amount":100}`, ""); r.status != 201 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r := b.post(t, "key-2", `{"amount":999}`, "")
	if r.status != 422 || problemType(r.body) != "/problems/idempotency-key-reused" || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("different body: %d %s", r.status, r.body)
	}
	if b.runs.Load() != 1 {
		t.Fatalf("the handler ran %d times", b.runs.Load())
	}
}

func TestIdempotentRouteNeedsAKey(t *testing.T) {
	t.Parallel()
	b := newIdemBundle(t)
	if r := b.post(t, "", `{}`, ""); r.status != 400 || problemType(r.body) != "/problems/idempotency-key-required" {
		t.Fatalf("no key: %d %s", r.status, r.body)
	}
	if r := b.post(t, strings.Repeat("k", 256), `{}`, ""); r.status != 400 || !strings.Contains(r.body, `"field":"Idempotency-Key"`) {
		t.Fatalf("long key: %d %s", r.status, r.body)
	}
	if b.runs.Load() != 0 {
		t.Fatal("the handler ran without a valid key")
	}
}

func TestConcurrentRequestsWithOneKeyRunTheHandlerOnce(t *testing.T) {
	t.Parallel()
	b := newIdemBundle(t)
	release := make(chan struct{})
	b.hold.Store(&release)
	done := make(chan idemResult, 1)
	go func() {
		r, err := b.send("key-3", `{"amount":5}`, "")
		if err != nil {
			r.body = err.Error()
		}
		done <- r
	}()
	testkit.Eventually(t, 10*time.Second, "the first request to reach the handler", func() bool { return b.runs.Load() > 0 })
	second := b.post(t, "key-3", `{"amount":5}`, "")
	if second.status != 409 || second.header.Get("Retry-After") == "" || problemType(second.body) != "/problems/idempotency-key-in-progress" {
		t.Fatalf("second while the first runs: %d %s", second.status, second.body)
	}
	close(release)
	first := <-done
	if first.status != 201 {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	third := b.post(t, "key-3", `{"amount":5}`, "")
	if third.status != 201 || third.body != first.body {
		t.Fatalf("after the first finished: %d %s", third.status, third.body)
	}
	if n := b.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times", n)
	}
}

func TestFailedIdempotentRequestFreesItsKeyForARetry(t *testing.T) {
	t.Parallel()
	b := newIdemBundle(t)
	b.fails.Store(true)
	if r := b.post(t, "key-4", `{"amount":5}`, ""); r.status != 503 {
		t.Fatalf("failing: %d %s", r.status, r.body)
	}
	b.fails.Store(false)
	if r := b.post(t, "key-4", `{"amount":5}`, ""); r.status != 201 || b.runs.Load() != 2 {
		t.Fatalf("retry: %d runs %d %s", r.status, b.runs.Load(), r.body)
	}
}

func TestIdempotencyKeysExpireAndArePruned(t *testing.T) {
	t.Parallel()
	b := newIdemBundle(t)
	if r := b.post(t, "key-5", `{"amount":5}`, ""); r.status != 201 {
		t.Fatalf("first: %d", r.status)
	}
	ctx := context.Background()
	// Age the row past its expiry as the test's own scope, the only way into the tenant's table.
	err := b.gate.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE idempotency_keys SET expires_at = now() - interval '1 second'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// An expired key is a new key: the request runs again (and the row is renewed).
	if r := b.post(t, "key-5", `{"amount":6}`, ""); r.status != 201 || b.runs.Load() != 2 {
		t.Fatalf("expired key: %d runs %d", r.status, b.runs.Load())
	}
	store := tenants.NewIdempotencyStore(b.gate.Gate)
	if n, err := store.Prune(ctx, b.ten); err != nil || n != 0 {
		t.Fatalf("prune of live rows: %d, %v", n, err)
	}
	err = b.gate.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE idempotency_keys SET expires_at = now() - interval '1 second'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := store.Prune(ctx, b.ten); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
}
