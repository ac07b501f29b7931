package web_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

// serve runs app behind web.NewServer (the production server, with streamed bodies) on a local port.
func serve(t *testing.T, app *fiber.App, o web.Options) string {
	t.Helper()
	s := web.NewServer([]*fiber.App{app}, func(string) *fiber.App { return app }, o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l) //nolint:errcheck
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	return "http://" + l.Addr().String()
}

func post(t *testing.T, url, ctype string, body io.Reader) (int, string) {
	t.Helper()
	res, err := http.Post(url, ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// onlyReader hides bytes.Reader's Len, so net/http sends the body chunked (no Content-Length).
type onlyReader struct{ io.Reader }

func bodyApp(limit int) (*fiber.App, web.Options) {
	o := web.Options{BodyLimit: limit, StreamRoutes: []web.StreamRoute{{Method: "POST", Path: "/upload"}}}
	app := web.New(o)
	app.Post("/json", func(c *fiber.Ctx) error {
		var v map[string]any
		if err := json.Unmarshal(c.Body(), &v); err != nil {
			return web.Invalid("not json")
		}
		return c.JSON(v)
	})
	app.Post("/form", func(c *fiber.Ctx) error { return c.SendString(c.FormValue("name")) })
	app.Post("/upload", func(c *fiber.Ctx) error {
		h := sha256.New()
		n, err := io.Copy(h, web.RequestBody(c))
		if err != nil {
			return err
		}
		return c.SendString(fmt.Sprintf("%d %s", n, hex.EncodeToString(h.Sum(nil))))
	})
	app.Post("/peek", func(c *fiber.Ctx) error { // reads 4 bytes of a body that is not a stream route's
		b := make([]byte, 4)
		_, _ = io.ReadFull(web.RequestBody(c), b)
		return c.Send(b)
	})
	return app, o
}

// Buffered routes keep their usual contract under the streaming server: c.Body() and c.FormValue() see the whole
// body, sent with a length or chunked, and a body over the limit is refused with 413 before the handler runs.
func TestBufferedRoutesReadWholeBodiesAndRefuseOversizedOnes(t *testing.T) {
	t.Parallel()
	app, o := bodyApp(64 << 10)
	base := serve(t, app, o)
	big := `{"k":"` + strings.Repeat("x", 20<<10) + `"}` // beyond the 8 KiB fasthttp reads before the handler
	for name, body := range map[string]io.Reader{"with length": strings.NewReader(big), "chunked": onlyReader{strings.NewReader(big)}} {
		if status, got := post(t, base+"/json", "application/json", body); status != 200 || got != big {
			t.Errorf("%s: %d, body of %d bytes back", name, status, len(got))
		}
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("name", "Ada")
	_ = mw.Close()
	if status, got := post(t, base+"/form", mw.FormDataContentType(), &form); status != 200 || got != "Ada" {
		t.Errorf("multipart form value: %d %q", status, got)
	}
	if status, got := post(t, base+"/form", "application/x-www-form-urlencoded", strings.NewReader("name=Bob")); status != 200 || got != "Bob" {
		t.Errorf("urlencoded form value: %d %q", status, got)
	}
	tooBig := strings.Repeat("y", 64<<10+1)
	for name, body := range map[string]io.Reader{"with length": strings.NewReader(tooBig), "chunked": onlyReader{strings.NewReader(tooBig)}} {
		status, got := post(t, base+"/json", "application/json", body)
		if status != 413 || !strings.Contains(got, "body-too-large") || !strings.Contains(got, "64 KiB") {
			t.Errorf("%s over the limit: %d %.200s", name, status, got)
		}
	}
	// A route that is not a stream route reads its buffered body through RequestBody too.
	if status, got := post(t, base+"/peek", "text/plain", strings.NewReader("abcdefgh")); status != 200 || got != "abcd" {
		t.Errorf("RequestBody on a buffered route: %d %q", status, got)
	}
}

// A body refused before it is read (413 by its Content-Length, or once a chunked one passes the limit) is answered
// on a connection that lingers: the client, still sending megabytes, reads the 413 every time instead of a
// connection reset (which a closed socket with unread input would send).
func TestARefusedBodysSenderReadsTheAnswerInsteadOfAReset(t *testing.T) {
	t.Parallel()
	app, o := bodyApp(64 << 10)
	base := serve(t, app, o)
	huge := bytes.Repeat([]byte("z"), 4<<20)
	for i := range 40 {
		var body io.Reader = bytes.NewReader(huge)
		if i%2 == 1 {
			body = onlyReader{body} // chunked: refused after 64 KiB + 1 byte, the rest unread
		}
		res, err := http.Post(base+"/json", "application/json", body)
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 413 || !strings.Contains(string(got), "body-too-large") {
			t.Fatalf("attempt %d: %d %.200s", i, res.StatusCode, got)
		}
	}
}

// A stream route's handler reads the body as it arrives, beyond the buffered routes' limit, with a length or
// chunked; and keep-alive connections survive handlers that stop reading early.
func TestStreamRoutesReadBodiesBeyondTheLimitAndConnectionsStayUsable(t *testing.T) {
	t.Parallel()
	app, o := bodyApp(64 << 10)
	base := serve(t, app, o)
	payload := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16) // 3 MiB, 48 times the buffered limit
	sum := sha256.Sum256(payload)
	want := fmt.Sprintf("%d %s", len(payload), hex.EncodeToString(sum[:]))
	for name, body := range map[string]io.Reader{"with length": bytes.NewReader(payload), "chunked": onlyReader{bytes.NewReader(payload)}} {
		if status, got := post(t, base+"/upload", "application/octet-stream", body); status != 200 || got != want {
			t.Errorf("%s: %d %q, want %q", name, status, got, want)
		}
	}
	// curl asks "Expect: 100-continue" before a large body: the server says continue, then streams it.
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	req, _ := http.NewRequest("POST", base+"/upload", bytes.NewReader(payload))
	req.Header.Set("Expect", "100-continue")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(got) != want {
		t.Errorf("with Expect: 100-continue: %d %q", res.StatusCode, got)
	}
}

// A stream route whose handler leaves most of the body unread: the next request on the same client (and, when
// the connection was kept, the same connection) is answered correctly, never parsed from the old body's bytes.
func TestUnreadStreamBodiesNeverLeakIntoTheNextRequest(t *testing.T) {
	t.Parallel()
	o := web.Options{StreamRoutes: []web.StreamRoute{{Method: "POST", Path: "/ignore"}}}
	app := web.New(o)
	app.Post("/ignore", func(c *fiber.Ctx) error { return c.Status(415).SendString("refused") })
	app.Post("/echo", func(c *fiber.Ctx) error { return c.Send(c.Body()) })
	base := serve(t, app, o)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	// A body that looks like a request: if it were parsed as the next request, /echo would not answer "hello".
	sneaky := []byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nEVIL!")
	for _, size := range []int{len(sneaky), 1 << 20} {
		body := append(bytes.Repeat([]byte{' '}, size-len(sneaky)), sneaky...)
		for _, chunked := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(body)
			if chunked {
				r = onlyReader{r}
			}
			res, err := client.Post(base+"/ignore", "application/octet-stream", r)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 415 {
				t.Fatalf("size %d chunked %v: %d", size, chunked, res.StatusCode)
			}
			res, err = client.Post(base+"/echo", "text/plain", strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(got) != "hello" {
				t.Errorf("size %d chunked %v: next request got %d %q", size, chunked, res.StatusCode, got)
			}
		}
	}
}

// A compressed body would be inflated without bound when the handler reads it (fasthttp's c.Body()): a kilobyte
// of gzip that inflates to 64 MiB is refused, 415, before anything is read, on JSON and form routes alike; the
// same body uncompressed and declared "identity" is taken.
func TestCompressedBodiesAreRefusedBeforeTheyAreRead(t *testing.T) {
	t.Parallel()
	app, o := bodyApp(64 << 10)
	base := serve(t, app, o)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(bytes.Repeat([]byte(" "), 64<<20))
	_ = zw.Close()
	for _, tc := range []struct{ path, ctype, encoding string }{
		{"/json", "application/json", "gzip"},
		{"/json", "application/json", "deflate"},
		{"/json", "application/json", "br"},
		{"/form", "application/x-www-form-urlencoded", "gzip"},
	} {
		req, _ := http.NewRequest(http.MethodPost, base+tc.path, bytes.NewReader(gz.Bytes()))
		req.Header.Set("Content-Type", tc.ctype)
		req.Header.Set("Content-Encoding", tc.encoding)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(b), "/problems/unsupported-media-type") {
			t.Errorf("%s %s sent %s: %d %.200s", tc.path, tc.ctype, tc.encoding, res.StatusCode, b)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/json", strings.NewReader(`{"k":"v"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "identity")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("a body declared identity: %d, want 200", res.StatusCode)
	}
}

// Bodies that may be larger than the server's limit (a route's own larger limit) are read by readers of their
// own, so anonymous posts to such a route can hold at most LargeBodyReaders of them: one more waits and gets 503
// busy, while the other routes' bodies are still read.
func TestLargeBodiesHaveReadersOfTheirOwnSoTheyCannotCrowdOutTheRest(t *testing.T) {
	t.Parallel()
	limits := web.NewBodyLimits()
	limits.Declare("POST", "/big", 4<<20)
	o := web.Options{BodyLimit: 64 << 10, BodyLimits: limits, BodyWait: 300 * time.Millisecond}
	app := web.New(o)
	app.Post("/big", func(c *fiber.Ctx) error { return c.SendString(fmt.Sprint(len(c.Body()))) })
	app.Post("/json", func(c *fiber.Ctx) error { return c.Send(c.Body()) })
	base := serve(t, app, o)
	addr := strings.TrimPrefix(base, "http://")
	// Hold every large reader with a body that stops arriving after its first chunk.
	for range web.LargeBodyReaders() {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n%s", strings.Repeat("z", 32<<10))
	}
	time.Sleep(200 * time.Millisecond) // the server has taken them
	if status, got := post(t, base+"/big", "application/octet-stream", onlyReader{strings.NewReader(strings.Repeat("y", 100<<10))}); status != http.StatusServiceUnavailable || !strings.Contains(got, "/problems/busy") {
		t.Errorf("a large body while every large reader is held: %d %.200s, want 503 busy", status, got)
	}
	if status, got := post(t, base+"/json", "application/json", onlyReader{strings.NewReader(`{"k":"` + strings.Repeat("x", 20<<10) + `"}`)}); status != http.StatusOK {
		t.Errorf("an ordinary body while every large reader is held: %d %.200s, want 200", status, got)
	}
}
