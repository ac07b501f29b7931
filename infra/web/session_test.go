package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

func TestPageTableRefusesAPageWithoutPermissionAndGuardsTheOthers(t *testing.T) {
	t.Parallel()
	app := fiber.New()
	var guarded []web.Permission
	pt := web.NewPageTable(app, func(p web.Permission) fiber.Handler {
		guarded = append(guarded, p)
		return func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusForbidden) }
	})
	ok := func(c *fiber.Ctx) error { return c.SendString("page") }
	pt.Handle(web.PageRoute{Method: fiber.MethodGet, Path: "/open", Permission: web.Public, Handlers: []fiber.Handler{ok}})
	pt.Handle(web.PageRoute{Method: fiber.MethodGet, Path: "/closed", Permission: "x.read", Handlers: []fiber.Handler{ok}})
	if err := pt.Err(); err != nil {
		t.Fatal(err)
	}
	pt.Handle(web.PageRoute{Method: fiber.MethodGet, Path: "/undeclared", Handlers: []fiber.Handler{ok}})
	if err := pt.Err(); err == nil || !strings.Contains(err.Error(), "/undeclared") {
		t.Fatalf("Err = %v, want the undeclared page named", err)
	}
	if len(guarded) != 1 || guarded[0] != "x.read" {
		t.Errorf("guards built for %v", guarded)
	}
	for path, want := range map[string]int{"/open": 200, "/closed": 403, "/undeclared": 404} {
		res, err := app.Test(httptest.NewRequest(http.MethodGet, path, nil))
		if err != nil || res.StatusCode != want {
			t.Errorf("GET %s: %v %v, want %d", path, res.StatusCode, err, want)
		}
	}
}

func TestCheckCSRFNeedsTheFormFieldToEqualTheCookie(t *testing.T) {
	t.Parallel()
	ck := web.Cookies{Secure: true, CSRF: "t_csrf"}
	app := web.New(web.Options{}) // its error handler turns the problem into its status
	app.Post("/form", ck.CheckCSRF, func(c *fiber.Ctx) error { return c.SendString("done") })
	tok := web.RandomToken()
	for _, tc := range []struct {
		name, cookie, field string
		want                int
	}{
		{"match", tok, tok, 200},
		{"no field", tok, "", 403},
		{"no cookie", "", tok, 403},
		{"both empty", "", "", 403},
		{"different", tok, web.RandomToken(), 403},
	} {
		req := httptest.NewRequest(http.MethodPost, "/form", strings.NewReader(url.Values{"csrf": {tc.field}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.cookie != "" {
			req.AddCookie(&http.Cookie{Name: "__Host-t_csrf", Value: tc.cookie})
		}
		res, err := app.Test(req)
		if err != nil || res.StatusCode != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, res.StatusCode, err, tc.want)
		}
	}
}
