package web_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

type newClient struct {
	Email   string   `json:"email"`
	Name    string   `json:"name"`
	Age     int      `json:"age,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Address *struct {
		Country string `json:"country"`
	} `json:"address,omitempty"`
}

func (n *newClient) Validate(f *web.Fields) {
	f.Required("email", n.Email)
	f.Check(n.Email == "" || strings.Contains(n.Email, "@"), "email", "must be an email address")
	f.Required("name", n.Name)
	f.MaxLen("name", n.Name, 10)
	f.Check(n.Age >= 0, "age", "must not be negative")
}

func TestDecodeJSONRefusesBadInputAsClientErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		status     int
		fields     string
	}{
		{"valid", `{"email":"a@b.c","name":"Ann"}`, 0, ""},
		{"valid with whitespace after", "{\"email\":\"a@b.c\",\"name\":\"Ann\"}\n  ", 0, ""},
		{"unknown field", `{"email":"a@b.c","name":"Ann","admin":true}`, 422, "admin"},
		{"unknown nested field", `{"email":"a@b.c","name":"Ann","address":{"country":"CY","vat":1}}`, 422, "address.vat"},
		{"wrong type", `{"email":"a@b.c","name":"Ann","age":"old"}`, 422, "age"},
		{"wrong nested type", `{"email":"a@b.c","name":"Ann","tags":[1]}`, 422, "tags[0]"},
		{"number too big", `{"email":"a@b.c","name":"Ann","age":1e40}`, 422, "age"},
		{"rules", `{"email":"nope","name":"","age":-1}`, 422, "email,name,age"},
		{"too long", `{"email":"a@b.c","name":"Ann Annabel Annson"}`, 422, "name"},
		{"empty", ``, 400, ""},
		{"not json", `email=a@b.c`, 400, ""},
		{"truncated", `{"email":"a@b.c"`, 400, ""},
		{"two values", `{"email":"a@b.c","name":"Ann"}{}`, 400, ""},
		{"array instead of object", `[1,2]`, 400, ""},
		{"null", `null`, 400, ""},
		{"too large", `{"name":"` + strings.Repeat("x", 2000) + `"}`, 413, ""},
	} {
		var dst newClient
		err := web.DecodeJSON([]byte(tc.body), &dst, 1024)
		if tc.status == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var p *web.Problem
		if !errors.As(err, &p) || p.Status != tc.status {
			t.Errorf("%s: got %v, want a %d problem", tc.name, err, tc.status)
			continue
		}
		var names []string
		for _, fe := range p.Errors {
			names = append(names, fe.Field)
		}
		if strings.Join(names, ",") != tc.fields {
			t.Errorf("%s: fields %v, want %s", tc.name, p.Errors, tc.fields)
		}
	}
}

func TestBindAnswersProblemsThroughTheErrorHandler(t *testing.T) {
	t.Parallel()
	app := web.New(web.Options{})
	app.Post("/api/v1/clients", func(c *fiber.Ctx) error {
		var in newClient
		if err := web.Bind(c, &in); err != nil {
			return err
		}
		return c.Status(201).JSON(in)
	})
	for _, tc := range []struct {
		ctype, body string
		status      int
	}{
		{"application/json", `{"email":"a@b.c","name":"Ann"}`, 201},
		{"application/json; charset=utf-8", `{"email":"a@b.c","name":"Ann"}`, 201},
		{"text/plain", `{"email":"a@b.c","name":"Ann"}`, 415},
		{"application/json", `{"email":"x"}`, 422},
		{"application/json", `{`, 400},
	} {
		req := httptest.NewRequest("POST", "/api/v1/clients", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		var p web.Problem
		_ = json.NewDecoder(res.Body).Decode(&p)
		if res.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.ctype, tc.body, res.StatusCode, tc.status)
		}
		if tc.status >= 400 && (res.Header.Get("Content-Type") != "application/problem+json" || p.Status != tc.status) {
			t.Errorf("%s %s: not a problem: %s %+v", tc.ctype, tc.body, res.Header.Get("Content-Type"), p)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"email":"a@b.c","name":"Ann"}`, `{"tags":[1]}`, `{`, `null`, `{"address":{"country":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var dst newClient
		err := web.DecodeJSON(body, &dst, 4096)
		var p *web.Problem
		if err != nil && (!errors.As(err, &p) || p.Status < 400 || p.Status >= 500) {
			t.Fatalf("DecodeJSON(%q) = %v: bad input must be a 4xx problem", body, err)
		}
	})
}
