package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

type checklistItem struct {
	Key      string `json:"key"`
	Required bool   `json:"required"`
}

type settingsDoc struct {
	SLAHours   int                        `json:"sla_hours"`
	FourEyes   bool                       `json:"four_eyes"`
	Countries  []string                   `json:"countries"`
	Checklists map[string][]checklistItem `json:"checklists"`
	Note       string                     `json:"note,omitempty"`
	Until      *time.Time                 `json:"until"`
}

type typed struct {
	Name   string    `json:"name"`
	Count  int8      `json:"count"`
	Ratio  float64   `json:"ratio"`
	On     bool      `json:"on"`
	At     time.Time `json:"at"`
	ID     uuid.UUID `json:"id"`
	Tags   []string  `json:"tags"`
	Nested struct {
		A string `json:"a"`
	} `json:"nested"`
	Any  any             `json:"any"`
	Raw  json.RawMessage `json:"raw"`
	Blob []byte          `json:"blob"`
}

func problemOf(t *testing.T, err error) *web.Problem {
	t.Helper()
	var p *web.Problem
	if err != nil && !errors.As(err, &p) {
		t.Fatalf("%v is not a problem", err)
	}
	return p
}

func fieldNames(p *web.Problem) []string {
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	return out
}

// The body contract of docs/api.md, case by case: what is malformed is 400 saying so; what does not fit the request
// is 422 naming every field (not only the first), NUL and invalid UTF-8 included; nothing is a 5xx.
func TestTheBodyContract(t *testing.T) {
	t.Parallel()
	valid := `{"name":"a","count":1,"ratio":0.5,"on":true,"at":"2026-01-31T09:30:00Z","id":"0190a3b4-7d1c-7f00-8000-000000000001",` +
		`"tags":["x"],"nested":{"a":"b"},"any":{"k":[1,"\u0041"]},"raw":[1],"blob":"AAEC"}`
	for _, tc := range []struct {
		name   string
		body   string
		status int
		typ    string
		fields []string // for 422: exactly these, in order
		detail string   // for 400: a word of the detail
	}{
		{"valid", valid, 0, "", nil, ""},
		{"empty", "", 400, "/problems/malformed-json", nil, "empty"},
		{"blank", " \n\t ", 400, "/problems/malformed-json", nil, "empty"},
		{"truncated", `{"name":"a"`, 400, "/problems/malformed-json", nil, "truncated"},
		{"BOM", "\xef\xbb\xbf" + valid, 400, "/problems/malformed-json", nil, "byte order mark"},
		{"UTF-16 LE with BOM", "\xff\xfe{\x00}\x00", 400, "/problems/malformed-json", nil, "UTF-16"},
		{"UTF-16 BE", "\x00{\x00}", 400, "/problems/malformed-json", nil, "UTF-16"},
		{"trailing data", valid + ` {}`, 400, "/problems/malformed-json", nil, "follows"},
		{"trailing garbage", valid + `x`, 400, "/problems/malformed-json", nil, ""},
		{"syntax error", `{"name":}`, 400, "/problems/malformed-json", nil, "byte"},
		{"an array, not an object", `[]`, 400, "/problems/malformed-json", nil, "object"},
		{"a string, not an object", `"x"`, 400, "/problems/malformed-json", nil, "object"},
		{"every field of the wrong type", `{"name":1,"count":"1","ratio":"x","on":"true","at":5,"id":7,"tags":"x","nested":[],"blob":1}`, 422,
			"/problems/validation", []string{"name", "count", "ratio", "on", "at", "id", "tags", "nested", "blob"}, ""},
		{"nested wrong types", `{"tags":[1,"ok",true],"nested":{"a":null}}`, 422, "/problems/validation", []string{"tags[0]", "tags[2]", "nested.a"}, ""},
		{"out of range", `{"count":300}`, 422, "/problems/validation", []string{"count"}, ""},
		{"a fraction for an integer", `{"count":1.5}`, 422, "/problems/validation", []string{"count"}, ""},
		{"not a time", `{"at":"yesterday"}`, 422, "/problems/validation", []string{"at"}, ""},
		{"not an id", `{"id":"nope"}`, 422, "/problems/validation", []string{"id"}, ""},
		{"unknown fields", `{"name":"a","admin":true,"nested":{"a":"b","b":1}}`, 422, "/problems/validation", []string{"admin", "nested.b"}, ""},
		{"case matters", `{"Name":"a"}`, 422, "/problems/validation", []string{"Name"}, ""},
		{"duplicate keys", `{"name":"a","name":"b","nested":{"a":"x","a":"y"}}`, 422, "/problems/validation", []string{"name", "nested.a"}, ""},
		{"duplicate keys anywhere", `{"any":{"k":1,"k":2}}`, 422, "/problems/validation", []string{"any.k"}, ""},
		{"escaped NUL", `{"name":"a\u0000b"}`, 422, "/problems/validation", []string{"name"}, ""},
		{"escaped NUL in free JSON", `{"any":["\u0000"],"raw":{"x":"\u0000"}}`, 422, "/problems/validation", []string{"any", "raw.x"}, ""},
		{"NUL in a key", `{"na\u0000me":"a"}`, 422, "/problems/validation", []string{"(key)"}, ""},
		{"invalid UTF-8", "{\"name\":\"a\xff\xfeb\"}", 422, "/problems/validation", []string{"name"}, ""},
		{"lone surrogate", `{"name":"\ud800"}`, 422, "/problems/validation", []string{"name"}, ""},
		{"surrogate pair is fine", `{"name":"\ud83d\ude00"}`, 0, "", nil, ""},
		{"deep nesting", `{"any":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, 400, "/problems/json-too-deep", nil, ""},
		{"very deep nesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), 400, "/problems/malformed-json", nil, ""},
		{"huge array", `{"tags":[` + strings.Repeat(`"x",`, web.MaxJSONArray) + `"x"]}`, 422, "/problems/validation", []string{"tags"}, ""},
		{"huge array of wrong values", `{"tags":[` + strings.Repeat(`1,`, 5000) + `1]}`, 422, "/problems/validation", nil, ""},
	} {
		var dst typed
		err := web.DecodeJSON([]byte(tc.body), &dst, 1<<20)
		p := problemOf(t, err)
		if tc.status == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if p == nil || p.Status != tc.status || p.Type != tc.typ {
			t.Errorf("%s: got %+v, want %d %s", tc.name, p, tc.status, tc.typ)
			continue
		}
		if tc.fields != nil && !slices.Equal(fieldNames(p), tc.fields) {
			t.Errorf("%s: fields %v, want %v", tc.name, p.Errors, tc.fields)
		}
		if tc.status == 422 && len(p.Errors) == 0 || len(p.Errors) > 50 {
			t.Errorf("%s: %d fields listed", tc.name, len(p.Errors))
		}
		if !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s: detail %q, want it to say %q", tc.name, p.Detail, tc.detail)
		}
	}
	var dst typed
	_ = web.DecodeJSON([]byte(`{"name":1}`), &dst, 1<<20)
	if p := problemOf(t, web.DecodeJSON([]byte(`{"name":1}`), &dst, 1<<20)); p.Errors[0].Message != "must be a string, not a number" {
		t.Errorf("wrong type message: %q", p.Errors[0].Message)
	}
}

// A PUT replaces a whole document: every required field (not omitempty, not a pointer) of every object must be
// there, so leaving one out can never empty it; each missing one is named.
func TestADocumentMustNameEveryRequiredField(t *testing.T) {
	t.Parallel()
	full := `{"sla_hours":24,"four_eyes":true,"countries":["IR"],"checklists":{"passport":[{"key":"name","required":true}]}}`
	var dst settingsDoc
	if err := web.DecodeDocument([]byte(full), &dst, 1<<20); err != nil {
		t.Fatalf("full document: %v", err)
	}
	for _, tc := range []struct {
		body    string
		missing []string
	}{
		{`{}`, []string{"checklists", "countries", "four_eyes", "sla_hours"}},
		{`{"sla_hours":24,"countries":["IR"],"checklists":{}}`, []string{"four_eyes"}},
		{`{"sla_hours":24,"four_eyes":true,"countries":[],"checklists":{"passport":[{"key":"name"}]}}`, []string{"checklists.passport[0].required"}},
	} {
		var dst settingsDoc
		p := problemOf(t, web.DecodeDocument([]byte(tc.body), &dst, 1<<20))
		if p == nil || p.Status != 422 || !slices.Equal(fieldNames(p), tc.missing) {
			t.Errorf("%s: %+v, want %v missing", tc.body, p, tc.missing)
		}
	}
	// The same body is fine where fields may be left out (a POST).
	if err := web.DecodeJSON([]byte(`{}`), &dst, 1<<20); err != nil {
		t.Fatalf("DecodeJSON {}: %v", err)
	}
}

// Bind answers 415 for anything but application/json in UTF-8, and applies the whole-document rule to a PUT.
func TestBindChecksTheMediaTypeAndThePutRule(t *testing.T) {
	t.Parallel()
	app := web.New(web.Options{})
	handler := func(c *fiber.Ctx) error {
		var in settingsDoc
		if err := web.Bind(c, &in); err != nil {
			return err
		}
		return c.JSON(in)
	}
	app.Post("/doc", handler)
	app.Put("/doc", handler)
	for _, tc := range []struct {
		method, ctype, body string
		status              int
	}{
		{"POST", "application/json", `{}`, 200},
		{"POST", "application/json; charset=UTF-8", `{}`, 200},
		{"POST", "application/json; charset=latin1", `{}`, 415},
		{"POST", "application/jsonx", `{}`, 415},
		{"POST", "text/json", `{}`, 415},
		{"POST", "", `{}`, 415},
		{"POST", "application/x-www-form-urlencoded", `a=b`, 415},
		{"PUT", "application/json", `{}`, 422},
		{"PUT", "application/json", `{"sla_hours":1,"four_eyes":false,"countries":[],"checklists":{}}`, 200},
	} {
		req := httptest.NewRequest(tc.method, "/doc", strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != tc.status || (tc.status >= 400 && res.Header.Get("Content-Type") != "application/problem+json") {
			t.Errorf("%s %q %s: %d %s, want %d", tc.method, tc.ctype, tc.body, res.StatusCode, res.Header.Get("Content-Type"), tc.status)
		}
	}
}

// The body contract never panics and never answers anything but nil or a 4xx problem, and a body it accepts never
// carries NUL or invalid UTF-8 into a string.
func FuzzBodyContract(f *testing.F) {
	for _, s := range []string{`{"name":"a","tags":["x"],"nested":{"a":"b"},"any":{"k":[1]}}`, `{"name":"\u0000"}`, "{\"name\":\"\xff\"}",
		`{"name":"a","name":"b"}`, `[[[[]]]]`, `{"at":"2026-01-31T09:30:00Z","id":"0190a3b4-7d1c-7f00-8000-000000000001"}`,
		`{"any":"\ud800\udc00"}`, `{"raw":{"a":[{"b":null}]},"blob":"AA=="}`, "\xef\xbb\xbf{}", `{"count":1e2}`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, whole bool) {
		var dst typed
		var err error
		if whole {
			err = web.DecodeDocument(body, &dst, 1<<16)
		} else {
			err = web.DecodeJSON(body, &dst, 1<<16)
		}
		var p *web.Problem
		if err != nil {
			if !errors.As(err, &p) || p.Status < 400 || p.Status >= 500 {
				t.Fatalf("DecodeJSON(%q) = %v: bad input must be a 4xx problem", body, err)
			}
			return
		}
		strs := []string{dst.Name, dst.Nested.A}
		strs = append(strs, dst.Tags...)
		if dst.Any != nil {
			b, _ := json.Marshal(dst.Any)
			if bytes.Contains(b, []byte(`\u0000`)) {
				t.Fatalf("accepted NUL in %q", body)
			}
		}
		if bytes.Contains(dst.Raw, []byte(`\u0000`)) {
			t.Fatalf("accepted NUL in raw JSON of %q", body)
		}
		for _, s := range strs {
			if strings.ContainsRune(s, 0) || strings.ContainsRune(s, '\uFFFD') && !bytes.Contains(body, []byte("\uFFFD")) && !bytes.Contains(body, []byte(`\ufffd`)) && !bytes.Contains(body, []byte(`\uFFFD`)) {
				t.Fatalf("accepted %q from %q", s, body)
			}
		}
	})
}
