package web_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/infra/web"
)

func call(t *testing.T, app *fiber.App, path, accept string) (int, string, map[string]any, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	var p map[string]any
	_ = json.Unmarshal(b, &p)
	return res.StatusCode, res.Header.Get("Content-Type"), p, string(b)
}

func TestErrorsBecomeProblemsWithoutLeakingInternalText(t *testing.T) {
	t.Parallel()
	pages, err := web.NewPages()
	if err != nil {
		t.Fatal(err)
	}
	app := web.New(web.Options{Pages: pages})
	app.Get("/db", func(c *fiber.Ctx) error { return errors.New(`pq: relation "tenant_x.secret" does not exist`) })
	app.Get("/panic", func(c *fiber.Ctx) error { panic("nil map write in handler") })
	app.Get("/invalid", func(c *fiber.Ctx) error {
		return web.Invalid("The request has invalid fields.", web.FieldError{Field: "email", Message: "must be an email address"})
	})

	for _, path := range []string{"/db", "/panic"} {
		status, ctype, p, body := call(t, app, path, "")
		if status != 500 || ctype != "application/problem+json" || p["type"] != "/problems/internal" || p["request_id"] == "" {
			t.Errorf("%s: %d %s %s", path, status, ctype, body)
		}
		if strings.Contains(body, "tenant_x") || strings.Contains(body, "nil map") {
			t.Errorf("%s: internal text reached the client: %s", path, body)
		}
	}
	status, _, p, body := call(t, app, "/invalid", "")
	errs, _ := p["errors"].([]any)
	if status != 422 || len(errs) != 1 || errs[0].(map[string]any)["field"] != "email" {
		t.Errorf("validation problem: %d %s", status, body)
	}
	status, _, p, _ = call(t, app, "/nothing-here", "")
	if status != 404 || p["type"] != "/problems/not-found" {
		t.Errorf("unknown route: %d %v", status, p)
	}
	status, ctype, _, body := call(t, app, "/nothing-here", "text/html")
	if status != 404 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(body, "Not Found") {
		t.Errorf("unknown route for a browser: %d %s", status, ctype)
	}
}

func TestRequestIDIsEchoedWhenWellFormedAndReplacedOtherwise(t *testing.T) {
	t.Parallel()
	app := web.New(web.Options{})
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("ok") })
	for _, c := range []struct {
		in   string
		keep bool
	}{{"lb-7f3a9c21d0e4", true}, {"short", false}, {"has spaces in it!!", false}} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(web.HeaderRequestID, c.in)
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		got := res.Header.Get(web.HeaderRequestID)
		if (got == c.in) != c.keep || got == "" {
			t.Errorf("incoming %q -> %q, keep=%v", c.in, got, c.keep)
		}
	}
}

func TestAccessLogWritesOneLinePerRequestWithItsOutcome(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	app := web.New(web.Options{Log: logging.New(&out, "info")})
	app.Get("/made", func(c *fiber.Ctx) error { return c.Status(201).SendString("ok") })
	app.Get("/refused", func(c *fiber.Ctx) error { return web.Invalid("The request has invalid fields.") })
	for _, path := range []string{"/made", "/refused"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set(web.HeaderRequestID, "lb-7f3a9c21d0e4")
		req.Header.Set("Authorization", "Bearer not-for-the-log")
		if _, err := app.Test(req, -1); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(out.String(), "not-for-the-log") {
		t.Fatalf("a credential reached the log: %s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := map[string]float64{"/made": 201, "/refused": 422}
	seen := 0
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if e["msg"] != "http request" {
			continue
		}
		seen++
		path, _ := e["path"].(string)
		if e["status"] != want[path] || e["method"] != "GET" || e["level"] != "INFO" || e["request_id"] != "lb-7f3a9c21d0e4" ||
			e["time"] == nil || e["duration_ms"] == nil || e["ip"] == nil || e["host"] == nil || e["source"] != nil {
			t.Errorf("access line for %s: %s", path, l)
		}
	}
	if seen != 2 {
		t.Fatalf("%d access lines for 2 requests:\n%s", seen, out.String())
	}
}
