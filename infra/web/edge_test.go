package web_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

type edgeProblem struct {
	Type   string           `json:"type"`
	Status int              `json:"status"`
	Errors []web.FieldError `json:"errors"`
}

func edgeSend(t *testing.T, method, url, ctype, body string) (int, string, edgeProblem) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var p edgeProblem
	_ = json.Unmarshal(b, &p)
	return res.StatusCode, res.Header.Get("Content-Type"), p
}

// One text rule at the edge for the path, the query and url-encoded forms: NUL, invalid UTF-8 and (in a path or a
// query) control characters are a 400 naming the input, before any handler runs; a query of too many parameters
// is 431. Multi-line form fields keep their line breaks.
func TestTheEdgeRefusesBadTextBeforeAnyHandler(t *testing.T) {
	t.Parallel()
	o := web.Options{}
	app := web.New(o)
	ran := 0
	var mu sync.Mutex
	h := func(c *fiber.Ctx) error {
		mu.Lock()
		ran++
		mu.Unlock()
		return c.SendString(c.Query("q") + c.FormValue("note"))
	}
	app.Get("/things/:id", h)
	app.Post("/form", h)
	base := serve(t, app, o)
	for _, tc := range []struct {
		method, path, ctype, body string
		status                    int
		field                     string
	}{
		{"GET", "/things/1?q=hello%20world", "", "", 200, ""},
		{"GET", "/things/1?q=a%00b", "", "", 400, "q"},
		{"GET", "/things/1?q=%FF%FE", "", "", 400, "q"},
		{"GET", "/things/1?q=line%0Abreak", "", "", 400, "q"},
		{"GET", "/things/1?q=esc%1B", "", "", 400, "q"},
		{"GET", "/things/1?na%00me=x", "", "", 400, "query parameter 1"},
		{"GET", "/things/%00", "", "", 400, "path"},
		{"GET", "/things/%C0%AF", "", "", 400, "path"},
		{"GET", "/things/1?" + strings.Repeat("p=1&", web.MaxQueryParams) + "p=1", "", "", 431, ""},
		{"POST", "/form", "application/x-www-form-urlencoded", "note=two%0D%0Alines%09ok", 200, ""},
		{"POST", "/form", "application/x-www-form-urlencoded", "note=a%00b", 400, "note"},
		{"POST", "/form", "application/x-www-form-urlencoded", "note=%FF", 400, "note"},
		{"POST", "/form", "application/x-www-form-urlencoded; charset=utf-8", "x=1&note=%E2%82", 400, "note"},
	} {
		status, ctype, p := edgeSend(t, tc.method, base+tc.path, tc.ctype, tc.body)
		if status != tc.status {
			t.Errorf("%s %s %q: %d, want %d", tc.method, tc.path, tc.body, status, tc.status)
			continue
		}
		if status >= 400 && (ctype != "application/problem+json" || (tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field))) {
			t.Errorf("%s %s %q: %s %+v, want a problem naming %q", tc.method, tc.path, tc.body, ctype, p, tc.field)
		}
	}
	if ran != 2 {
		t.Errorf("handlers ran %d times, want 2 (the accepted requests only)", ran)
	}
}

// A request head over the read buffer (a huge cursor, a huge header) is 431 problem+json from the server itself,
// not fasthttp's plain text.
func TestAnOversizedHeadIsAProblem(t *testing.T) {
	t.Parallel()
	o := web.Options{}
	app := web.New(o)
	app.Get("/x", func(c *fiber.Ctx) error { return c.SendString("ok") })
	base := serve(t, app, o)
	for name, head := range map[string]string{
		"1 MB cursor":            "GET /x?cursor=" + strings.Repeat("A", 1<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"100 kB Idempotency-Key": "GET /x HTTP/1.1\r\nHost: x\r\nIdempotency-Key: " + strings.Repeat("k", 100<<10) + "\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = io.WriteString(conn, head) }() // the server answers (and closes) before reading it all
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(res.Body)
		conn.Close()
		var p edgeProblem
		if res.StatusCode != 431 || res.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil || p.Type != "/problems/head-too-large" {
			t.Errorf("%s: %d %s %s", name, res.StatusCode, res.Header.Get("Content-Type"), b)
		}
	}
}

// Every route has a body limit, 1 MiB unless it declares another, enforced while the body is read: a larger body
// is refused with 413 after at most the limit (plus what fasthttp reads ahead) has been read.
func TestEveryRouteHasItsOwnBodyLimit(t *testing.T) {
	t.Parallel()
	limits := web.NewBodyLimits()
	o := web.Options{BodyLimits: limits}
	app := web.New(o)
	api := web.NewAPI(app, nil)
	api.SetBodyLimits(limits)
	echo := func(c *fiber.Ctx) error { return c.SendString(fmt.Sprint(len(c.Body()))) }
	api.Handle(web.Route{Method: "POST", Path: "/api/v1/small", Permission: web.Public, Summary: "default limit", Handler: echo})
	api.Handle(web.Route{Method: "POST", Path: "/api/v1/big/:id", Permission: web.Public, Summary: "3 MiB", BodyLimit: 3 << 20, Handler: echo})
	api.Handle(web.Route{Method: "POST", Path: "/api/v1/tiny", Permission: web.Public, Summary: "1 KiB", BodyLimit: 1 << 10, Handler: echo})
	if err := api.Err(); err != nil {
		t.Fatal(err)
	}
	base := serve(t, app, o)
	for _, tc := range []struct {
		path   string
		size   int
		status int
	}{
		{"/api/v1/small", 1 << 20, 200},
		{"/api/v1/small", 1<<20 + 1, 413},
		{"/api/v1/big/7", 3 << 20, 200},
		{"/api/v1/BIG/7/", 3 << 20, 200}, // Fiber's routing is case- and trailing-slash-insensitive: so is the limit
		{"/api/v1/big/7", 3<<20 + 1, 413},
		{"/api/v1/tiny", 1 << 10, 200},
		{"/api/v1/tiny", 1<<10 + 1, 413},
	} {
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(strings.Repeat("x", tc.size))
			if chunked {
				body = onlyReader{body}
			}
			res, err := http.Post(base+tc.path, "application/octet-stream", body)
			if err != nil && tc.status == 413 && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
				// The server answered 413 and closed without reading the rest, as it should; the kernel then resets
				// the connection under a client still writing, which may lose the answer before the client reads it.
				continue
			}
			if err != nil {
				t.Fatalf("%s %d: %v", tc.path, tc.size, err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status || (tc.status == 200 && string(b) != fmt.Sprint(tc.size)) ||
				(tc.status == 413 && res.Header.Get("Content-Type") != "application/problem+json") {
				t.Errorf("%s, %d bytes, chunked %v: %d %.100s", tc.path, tc.size, chunked, res.StatusCode, b)
			}
		}
	}
}

// A route declaring a body limit on a table without SetBodyLimits is a defect the server refuses to start with.
func TestABodyLimitNeedsTheTable(t *testing.T) {
	t.Parallel()
	api := web.NewAPI(fiber.New(), nil)
	api.Handle(web.Route{Method: "POST", Path: "/api/v1/x", Permission: web.Public, Summary: "x", BodyLimit: 5 << 20,
		Handler: func(c *fiber.Ctx) error { return nil }})
	if err := api.Err(); err == nil || !strings.Contains(err.Error(), "body limit") {
		t.Fatalf("Err() = %v", err)
	}
}

// The bodies read at once are bounded: with every reader busy (slow clients), another body waits briefly and then
// gets 503 problem+json with Retry-After, and the readers come back when the slow bodies end.
func TestBodiesReadAtOnceAreBounded(t *testing.T) {
	t.Parallel()
	o := web.Options{BodyReaders: 2, BodyWait: 200 * time.Millisecond}
	app := web.New(o)
	app.Post("/echo", func(c *fiber.Ctx) error { return c.SendString(fmt.Sprint(len(c.Body()))) })
	base := serve(t, app, o)
	addr := strings.TrimPrefix(base, "http://")
	// Two slow bodies hold both readers: a head announcing 100 kB, and 20 kB sent (past fasthttp's read-ahead).
	var slow []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", 100<<10, strings.Repeat("x", 20<<10))
		slow = append(slow, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := http.Post(base+"/echo", "text/plain", strings.NewReader(strings.Repeat("y", 50<<10)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 503 {
			if res.Header.Get("Retry-After") == "" || res.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(b), "/problems/busy") {
				t.Fatalf("503 without Retry-After or problem: %v %s", res.Header, b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a third body was read while two slow ones held the readers: %d %s", res.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond) // the slow heads may not have arrived yet
	}
	// A small body (already read ahead by the server) needs no reader.
	if res, err := http.Post(base+"/echo", "text/plain", strings.NewReader("small")); err != nil || res.StatusCode != 200 {
		t.Fatalf("small body while readers are busy: %v %v", res, err)
	}
	for _, c := range slow {
		_, _ = io.WriteString(c, strings.Repeat("x", 80<<10))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("slow body: %v %v", res, err)
		}
		c.Close()
	}
	if res, err := http.Post(base+"/echo", "text/plain", strings.NewReader(strings.Repeat("y", 50<<10))); err != nil || res.StatusCode != 200 {
		t.Fatalf("after the slow bodies ended: %v %v", res, err)
	}
}

// A cursor longer than any the API gives out is 400 naming it, before it is decoded.
func TestAnOverlongCursorIsRefusedByName(t *testing.T) {
	t.Parallel()
	o := web.Options{}
	app := web.New(o)
	cc := web.NewCursors(testCursorKey)
	app.Get("/list", func(c *fiber.Ctx) error {
		var after sortKey
		if _, _, err := cc.PageQuery(c, &after); err != nil {
			return err
		}
		return c.SendString("ok")
	})
	base := serve(t, app, o)
	status, _, p := edgeSend(t, "GET", base+"/list?cursor="+strings.Repeat("A", 2000), "", "")
	if status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "cursor" {
		t.Fatalf("long cursor: %d %+v", status, p)
	}
	status, _, p = edgeSend(t, "GET", base+"/list?cursor=AAAA", "", "")
	if status != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "cursor" {
		t.Fatalf("bad cursor: %d %+v", status, p)
	}
}

// The OpenAPI document names schemas by module, says what is required by the server's own rule, and states each
// body's limit.
func TestOpenAPISchemasAreNamedByPackageAndRequiredMeansRequired(t *testing.T) {
	t.Parallel()
	type body struct {
		Name    string     `json:"name"`
		Opt     string     `json:"opt,omitempty"`
		Zero    time.Time  `json:"zero,omitzero"`
		Pointer *time.Time `json:"pointer"`
	}
	api := web.NewAPI(fiber.New(), nil)
	api.Handle(web.Route{Method: "PUT", Path: "/api/v1/doc", Permission: web.Public, Summary: "doc", Request: body{},
		Handler: func(c *fiber.Ctx) error { return nil }})
	b, _ := json.Marshal(api.OpenAPI("t", "1"))
	var doc struct {
		Paths map[string]map[string]struct {
			Limit int `json:"x-brokerdesk-body-limit"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Required []string `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	s, ok := doc.Components.Schemas["web_test.body"]
	if !ok || len(s.Required) != 1 || s.Required[0] != "name" {
		t.Fatalf("schema %+v in %s", s, b)
	}
	if l := doc.Paths["/api/v1/doc"]["put"].Limit; l != web.DefaultMaxBody {
		t.Fatalf("body limit %d", l)
	}
}
