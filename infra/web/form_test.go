package web_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

// multipartBody is a form with the given fields, in order, and a file part named "file" when file is not nil.
func multipartBody(t *testing.T, fields [][2]string, fileName string, file []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		w, err := mw.CreateFormFile("file", fileName)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.Bytes()
}

// An upload page (Shell.Upload) reads a form that carries a small file: its own body limit (beyond the default 1 MiB),
// the file and the fields read from one parsed form, the CSRF check, the edge's text rule on the form's fields
// and file names, and a compressed form refused before anything parses it. A page may declare a limit only on a
// shell that has the body limits.
func TestAnUploadPageReadsAFormWithAFileWithinItsOwnLimit(t *testing.T) {
	t.Parallel()
	pages, err := web.NewPages(fstest.MapFS{"pages/test_page.html": {Data: []byte(`{{define "content"}}x{{end}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	limits := web.NewBodyLimits()
	o := web.Options{Pages: pages, BodyLimits: limits}
	app := web.New(o)
	shell := web.NewShell(app, web.ShellOptions{Pages: pages, Sessions: &roleSessions{}, BodyLimits: limits})
	shell.Upload("/upload", web.Public, 3<<20, func(c *fiber.Ctx) error {
		size := -1
		if fh, err := c.FormFile("file"); err == nil {
			size = int(fh.Size)
		}
		return c.SendString(fmt.Sprintf("%s %d", c.FormValue("note"), size))
	})
	if err := shell.Err(); err != nil {
		t.Fatal(err)
	}
	base := serve(t, app, o)
	send := func(ctype string, body []byte, header map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/upload", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Cookie", "bd_csrf=tok123")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	file := bytes.Repeat([]byte("x"), 2<<20)
	ctype, body := multipartBody(t, [][2]string{{"csrf", "tok123"}, {"note", "hello"}}, "scan.pdf", file)
	if status, got := send(ctype, body, nil); status != http.StatusOK || got != fmt.Sprintf("hello %d", len(file)) {
		t.Errorf("a 2 MiB file under a 3 MiB limit: %d %.200s", status, got)
	}
	ctype, body = multipartBody(t, [][2]string{{"csrf", "wrong"}}, "scan.pdf", file)
	if status, _ := send(ctype, body, nil); status != http.StatusForbidden {
		t.Errorf("a wrong csrf token: %d", status)
	}
	if status, got := send("application/x-www-form-urlencoded", []byte(url.Values{"csrf": {"tok123"}, "note": {"plain"}}.Encode()), nil); status != http.StatusOK || got != "plain -1" {
		t.Errorf("a url-encoded form without the file: %d %.200s", status, got)
	}
	ctype, body = multipartBody(t, [][2]string{{"csrf", "tok123"}}, "scan.pdf", bytes.Repeat([]byte("x"), 3<<20))
	if status, got := send(ctype, body, nil); status != http.StatusRequestEntityTooLarge || !strings.Contains(got, "/problems/body-too-large") {
		t.Errorf("over the page's limit: %d %.200s", status, got)
	}
	for name, fields := range map[string][][2]string{
		"NUL in a field":          {{"csrf", "tok123"}, {"note", "a\x00b"}},
		"invalid UTF-8 in a name": {{"csrf", "tok123"}, {"no\xffte", "x"}},
	} {
		ctype, body = multipartBody(t, fields, "scan.pdf", []byte("x"))
		if status, got := send(ctype, body, nil); status != http.StatusBadRequest || !strings.Contains(got, "/problems/invalid-text") {
			t.Errorf("%s: %d %.200s", name, status, got)
		}
	}
	ctype, body = multipartBody(t, [][2]string{{"csrf", "tok123"}}, "scan\xff.pdf", []byte("x"))
	if status, got := send(ctype, body, nil); status != http.StatusBadRequest || !strings.Contains(got, "/problems/invalid-text") {
		t.Errorf("invalid UTF-8 in the file's name: %d %.200s", status, got)
	}
	if status, got := send(ctype[:strings.Index(ctype, "boundary=")]+"boundary=other", body, nil); status != http.StatusBadRequest || !strings.Contains(got, "/problems/malformed-form") {
		t.Errorf("a form whose boundary is not its parts': %d %.200s", status, got)
	}
	ctype, body = multipartBody(t, [][2]string{{"csrf", "tok123"}}, "scan.pdf", []byte("x"))
	for _, ct := range []string{ctype, "application/x-www-form-urlencoded"} {
		if status, got := send(ct, body, map[string]string{"Content-Encoding": "gzip"}); status != http.StatusUnsupportedMediaType || !strings.Contains(got, "/problems/unsupported-media-type") {
			t.Errorf("a compressed %s form: %d %.200s", ct, status, got)
		}
	}

	bare := web.NewShell(fiber.New(), web.ShellOptions{Pages: pages, Sessions: &roleSessions{}})
	bare.Upload("/upload", web.Public, 3<<20, func(c *fiber.Ctx) error { return nil })
	if err := bare.Err(); err == nil || !strings.Contains(err.Error(), "body limit") {
		t.Errorf("an upload page on a shell without body limits: Err() = %v", err)
	}
}
