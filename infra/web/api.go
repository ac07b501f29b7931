package web

import (
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Permission names what a caller must hold to use a route, e.g. "clients.read". Public marks a route anyone may
// call; it must be said explicitly, like every other permission.
type Permission string

// Public is the permission of routes open to anyone who reaches the host.
const Public Permission = "public"

// Route is one API endpoint, declared with everything the platform needs to know about it: who may call it,
// what it takes and returns (for the OpenAPI document), and its handler.
type Route struct {
	Method     string
	Path       string // Fiber syntax: /api/v1/clients/:id
	Permission Permission
	Summary    string
	Tag        string
	Request    any // a zero value of the JSON body type, or nil
	Response   any // a zero value of the 2xx JSON body type, or nil
	Status     int // success status (default 200)
	// Idempotent routes (POSTs that move money or reach outside: payments, platform operations, emails) require
	// an Idempotency-Key header and replay the first response to a retry (see idempotent and docs/api.md).
	Idempotent bool
	Handler    fiber.Handler
}

// API registers routes on an app while keeping their table: the authorisation middleware comes from the table,
// not from whoever wrote the handler, and the OpenAPI document is generated from the same table.
type API struct {
	router    fiber.Router
	authorize func(Permission) fiber.Handler
	idem      IdempotencyStore
	principal func(*fiber.Ctx) string
	idemLog   *slog.Logger
	routes    []Route
	errs      []error
	schemes   []securityScheme // besides "bearer", which every non-public route accepts
}

// securityScheme is an extra way to authenticate, for the OpenAPI document.
type securityScheme struct {
	name    string
	scheme  map[string]any
	accepts func(Permission) bool
}

// SecurityScheme declares, for the OpenAPI document, another credential than the Bearer access token (e.g. an API
// key header): its OpenAPI scheme object, and which routes accept it, by the permission they declare. The guard
// (authorize) is what enforces it; this only keeps the document true.
func (a *API) SecurityScheme(name string, scheme map[string]any, accepts func(Permission) bool) {
	a.schemes = append(a.schemes, securityScheme{name: name, scheme: scheme, accepts: accepts})
}

// NewAPI returns a route table over router. authorize returns the middleware enforcing one permission (it is not
// called for Public routes).
func NewAPI(router fiber.Router, authorize func(Permission) fiber.Handler) *API {
	return &API{router: router, authorize: authorize}
}

// SetIdempotency gives the table the store of Idempotent routes' responses, the principal keys are filed
// under (nil: CredentialPrincipal) and where to log a response that could not be stored (nil: nowhere). Call it
// before registering an Idempotent route: one registered without a store is a defect reported by Err.
func (a *API) SetIdempotency(store IdempotencyStore, principal func(*fiber.Ctx) string, log *slog.Logger) {
	if principal == nil {
		principal = CredentialPrincipal
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a.idem, a.principal, a.idemLog = store, principal, log
}

// Handle registers one route. A route without a permission, summary or handler is a defect: it is recorded and
// Err reports it, so the server refuses to start.
func (a *API) Handle(r Route) {
	switch {
	case r.Permission == "":
		a.errs = append(a.errs, fmt.Errorf("route %s %s declares no permission", r.Method, r.Path))
		return
	case r.Summary == "" || r.Handler == nil:
		a.errs = append(a.errs, fmt.Errorf("route %s %s needs a summary and a handler", r.Method, r.Path))
		return
	case r.Idempotent && a.idem == nil:
		a.errs = append(a.errs, fmt.Errorf("route %s %s is idempotent but the API has no idempotency store", r.Method, r.Path))
		return
	}
	if r.Status == 0 {
		r.Status = fiber.StatusOK
	}
	handlers := []fiber.Handler{r.Handler}
	if r.Idempotent {
		// After authorisation: a caller without the permission learns nothing about keys.
		handlers = append([]fiber.Handler{idempotent(a.idem, a.principal, a.idemLog)}, handlers...)
	}
	if r.Permission != Public {
		handlers = append([]fiber.Handler{a.authorize(r.Permission)}, handlers...)
	}
	a.router.Add(r.Method, r.Path, handlers...)
	a.routes = append(a.routes, r)
}

// Err reports every malformed route declaration.
func (a *API) Err() error {
	if len(a.errs) == 0 {
		return nil
	}
	msgs := make([]string, len(a.errs))
	for i, e := range a.errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("api routes: %s", strings.Join(msgs, "; "))
}

// Routes returns the declared routes.
func (a *API) Routes() []Route { return append([]Route(nil), a.routes...) }

var pathParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// OpenAPI returns the OpenAPI 3.1 document of the declared routes.
func (a *API) OpenAPI(title, version string) map[string]any {
	paths := map[string]any{}
	schemas := map[string]any{}
	for _, r := range a.routes {
		p := pathParam.ReplaceAllString(r.Path, "{$1}")
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		op := map[string]any{
			"summary":                 r.Summary,
			"operationId":             strings.ToLower(r.Method) + strings.NewReplacer("/", "_", ":", "", "{", "", "}", "").Replace(r.Path),
			"x-brokerdesk-permission": string(r.Permission),
		}
		if r.Tag != "" {
			op["tags"] = []string{r.Tag}
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(r.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if r.Idempotent {
			params = append(params, idempotencyParam())
		}
		if params != nil {
			op["parameters"] = params
		}
		if r.Request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaRef(reflect.TypeOf(r.Request), schemas)}}}
		}
		ok := map[string]any{"description": "Success"}
		if r.Response != nil {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaRef(reflect.TypeOf(r.Response), schemas)}}
		}
		responses := map[string]any{fmt.Sprint(r.Status): ok, "default": map[string]any{
			"description": "Problem (RFC 9457)",
			"content":     map[string]any{"application/problem+json": map[string]any{"schema": schemaRef(reflect.TypeOf(Problem{}), schemas)}},
		}}
		op["responses"] = responses
		if r.Permission != Public {
			// Alternatives: any one of the listed requirements admits the request.
			sec := []any{map[string]any{"bearer": []string{}}}
			for _, sc := range a.schemes {
				if sc.accepts(r.Permission) {
					sec = append(sec, map[string]any{sc.name: []string{}})
				}
			}
			op["security"] = sec
		}
		item[strings.ToLower(r.Method)] = op
	}
	schemes := map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
	for _, sc := range a.schemes {
		schemes[sc.name] = sc.scheme
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": title, "version": version},
		"paths":   paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": schemes,
		},
	}
}

var timeType = reflect.TypeOf(time.Time{})

// schemaRef returns the JSON Schema of t, putting named structs under components/schemas.
func schemaRef(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Struct && t.Name() != "":
		name := schemaName(t.Name())
		if _, done := schemas[name]; !done {
			schemas[name] = map[string]any{} // placeholder against recursion
			schemas[name] = structSchema(t, schemas)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case t.Kind() == reflect.Struct:
		return structSchema(t, schemas)
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return map[string]any{"type": "array", "items": schemaRef(t.Elem(), schemas)}
	case t.Kind() == reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaRef(t.Elem(), schemas)}
	case t.Kind() == reflect.String:
		return map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// schemaName makes a component name of a Go type name: a generic instance such as Paged[example.com/x.Row]
// becomes PagedOfRow (component names allow only letters, digits, '.', '-' and '_').
func schemaName(goName string) string {
	base, args, ok := strings.Cut(goName, "[")
	if !ok {
		return goName
	}
	var b strings.Builder
	b.WriteString(base)
	for _, a := range strings.Split(strings.TrimSuffix(args, "]"), ",") {
		a = a[strings.LastIndexAny(a, "./")+1:]
		b.WriteString("Of" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
				return r
			}
			return -1
		}, a))
	}
	return b.String()
}

func structSchema(t reflect.Type, schemas map[string]any) map[string]any {
	props := map[string]any{}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct)) {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			// An embedded struct's fields are the outer object's, as encoding/json writes them.
			inner := structSchema(f.Type, schemas)
			for k, v := range inner["properties"].(map[string]any) {
				props[k] = v
			}
			if req, ok := inner["required"].([]string); ok {
				required = append(required, req...)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaRef(f.Type, schemas)
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	sort.Strings(required)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// ServeOpenAPI registers GET /api/v1/openapi.json serving the document of api (itself a Public route).
func ServeOpenAPI(api *API, title, version string) {
	api.Handle(Route{Method: fiber.MethodGet, Path: "/api/v1/openapi.json", Permission: Public, Tag: "meta",
		Summary: "This document: the OpenAPI 3.1 description of the API",
		Handler: func(c *fiber.Ctx) error { return c.JSON(api.OpenAPI(title, version)) }})
}
