package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/identity"
)

// Every route Fiber serves under /api/ must be in the OpenAPI document, and everything the document names must be
// served: a route added without its declaration, or a stale document, fails here.
func TestOpenAPIDocumentsExactlyTheServedAPIRoutes(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	s, err := a.buildHTTP()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range s.tenant.GetRoutes(true) {
		if strings.HasPrefix(r.Path, "/api/") && r.Method != fiber.MethodHead && r.Method != fiber.MethodOptions {
			served[r.Method+" "+openAPIPath(r.Path)] = true
		}
	}
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			SecuritySchemes map[string]map[string]any `json:"securitySchemes"`
		} `json:"components"`
	}
	// Read the document as a client does, through a tenant host.
	ten := provisionForTest(t, a)
	r := get(t, base, ten.Slug+".brokerdesk.test", "/api/v1/openapi.json", "")
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || r.status != 200 || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json: %d %v %.200s", r.status, err, r.body)
	}
	documented := map[string]bool{}
	keyRoutes := 0
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			// Security: none on public routes; bearer on every other; X-API-Key exactly where a key is admitted.
			var op struct {
				Permission string                `json:"x-brokerdesk-permission"`
				Security   []map[string][]string `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			var schemes []string
			for _, req := range op.Security {
				for name := range req {
					schemes = append(schemes, name)
				}
			}
			want := []string{"bearer"}
			switch perm := web.Permission(op.Permission); {
			case perm == web.Public:
				want = nil
			case identity.AcceptsAPIKey(perm):
				want = append(want, "apiKey")
				keyRoutes++
			}
			if !slices.Equal(schemes, want) {
				t.Errorf("%s %s (%s): security %v, want %v", method, path, op.Permission, schemes, want)
			}
		}
	}
	if k := doc.Components.SecuritySchemes["apiKey"]; k["type"] != "apiKey" || k["in"] != "header" || k["name"] != "X-API-Key" {
		t.Errorf("securitySchemes.apiKey = %v", k)
	}
	if b := doc.Components.SecuritySchemes["bearer"]; b["type"] != "http" || b["scheme"] != "bearer" {
		t.Errorf("securitySchemes.bearer = %v", b)
	}
	if keyRoutes == 0 {
		t.Error("no route lists the API key scheme")
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("served but not documented: %s", k)
		}
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("documented but not served: %s", k)
		}
	}
	if len(served) == 0 {
		t.Fatal("no API routes found at all")
	}
}

func TestARouteWithoutAPermissionStopsTheServerFromStarting(t *testing.T) {
	t.Parallel()
	deny := func(web.Permission) fiber.Handler { return func(*fiber.Ctx) error { return fiber.ErrUnauthorized } }
	api := web.NewAPI(fiber.New(), deny)
	api.Handle(web.Route{Method: "GET", Path: "/api/v1/forgotten", Summary: "no permission", Handler: func(c *fiber.Ctx) error { return nil }})
	if err := api.Err(); err == nil || !strings.Contains(err.Error(), "/api/v1/forgotten") {
		t.Fatalf("Err() = %v, want it to name the undeclared route", err)
	}
	if len(api.Routes()) != 0 {
		t.Fatal("the undeclared route was registered anyway")
	}
}

func openAPIPath(fiberPath string) string {
	parts := strings.Split(fiberPath, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = "{" + strings.TrimPrefix(p, ":") + "}"
		}
	}
	return strings.Join(parts, "/")
}
