// Package webtest drives a Fiber app in-process from a test as a client would: a JSON request with its headers,
// sent through app.Test, and the reply read whole.
package webtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

// Reply is a response read whole.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v, failing the test if it is not that JSON.
func (r Reply) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem is the body read as RFC 9457 problem details (zero if it is not one).
func (r Reply) Problem() web.Problem {
	var p web.Problem
	_ = json.Unmarshal(r.Body, &p)
	return p
}

// JSON builds a request whose body is body as JSON (nil: no body), with headers as name, value pairs; an empty
// value leaves its header out.
func JSON(method, path string, body any, headers ...string) *http.Request {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			panic(err) // a test's own request body: a bug in the test
		}
		rd = bytes.NewReader(buf)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return req
}

// Bearer is the Authorization header value for token ("" for no token).
func Bearer(token string) string {
	if token == "" {
		return ""
	}
	return "Bearer " + token
}

// Send sends req to app without a time limit and reads the whole reply.
func Send(tb testing.TB, app *fiber.App, req *http.Request) Reply {
	tb.Helper()
	res, err := app.Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return Reply{Status: res.StatusCode, Header: res.Header, Body: out}
}
