package web_test

import (
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

func TestOpenAPIListsAnExtraSecuritySchemeOnlyOnTheRoutesThatAcceptIt(t *testing.T) {
	t.Parallel()
	allow := func(web.Permission) fiber.Handler { return func(c *fiber.Ctx) error { return c.Next() } }
	api := web.NewAPI(fiber.New(), allow)
	api.SecurityScheme("apiKey", map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
		func(p web.Permission) bool { return p == "clients.read" })
	h := func(c *fiber.Ctx) error { return nil }
	api.Handle(web.Route{Method: "GET", Path: "/api/v1/clients", Permission: "clients.read", Summary: "list", Handler: h})
	api.Handle(web.Route{Method: "GET", Path: "/api/v1/me", Permission: "account.read", Summary: "me", Handler: h})
	api.Handle(web.Route{Method: "GET", Path: "/api/v1/health", Permission: web.Public, Summary: "health", Handler: h})
	if err := api.Err(); err != nil {
		t.Fatal(err)
	}
	doc := api.OpenAPI("t", "v")
	paths := doc["paths"].(map[string]any)
	security := func(path string) []any {
		op := paths[path].(map[string]any)["get"].(map[string]any)
		s, _ := op["security"].([]any)
		return s
	}
	if s := security("/api/v1/clients"); len(s) != 2 || s[1].(map[string]any)["apiKey"] == nil {
		t.Errorf("clients: %v", s)
	}
	if s := security("/api/v1/me"); len(s) != 1 || s[0].(map[string]any)["bearer"] == nil {
		t.Errorf("me: %v", s)
	}
	if s := security("/api/v1/health"); s != nil {
		t.Errorf("public route: %v", s)
	}
	schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	if schemes["apiKey"] == nil || schemes["bearer"] == nil {
		t.Errorf("securitySchemes: %v", schemes)
	}
}
