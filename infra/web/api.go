package web

import (
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"sort"
	"strconv"
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
	// BodyLimit is the largest request body the route reads, in bytes; 0 is the app's default (DefaultMaxBody,
	// 1 MiB). Declare more only where a route needs it (uploads are StreamRoutes and apply their own limit). The
	// body guard enforces it while reading, and the OpenAPI document states it (x-brokerdesk-body-limit).
	BodyLimit int
	Handler   fiber.Handler
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
	limits    *BodyLimits
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

// SetBodyLimits gives the table the body guard's record of routes' own limits (the app's Options.BodyLimits). Call
// it before registering a route that declares a BodyLimit: one registered without it is a defect reported by Err.
func (a *API) SetBodyLimits(l *BodyLimits) { a.limits = l }

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
	case r.BodyLimit < 0 || (r.BodyLimit > 0 && a.limits == nil):
		a.errs = append(a.errs, fmt.Errorf("route %s %s declares a body limit but the API has no body limits (SetBodyLimits)", r.Method, r.Path))
		return
	}
	if r.BodyLimit > 0 {
		a.limits.Declare(r.Method, r.Path, r.BodyLimit)
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
	schemas := &schemaSet{schemas: map[string]any{}, types: map[string]reflect.Type{}}
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
			body := map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaRef(reflect.TypeOf(r.Request), schemas)}}}
			if r.Method == fiber.MethodPut {
				body["description"] = "The whole document: a PUT replaces it, so every required field must be present (422 names each one missing)."
			}
			op["requestBody"] = body
			limit := r.BodyLimit
			if limit == 0 {
				limit = DefaultMaxBody
			}
			op["x-brokerdesk-body-limit"] = limit
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
			"schemas":         schemas.schemas,
			"securitySchemes": schemes,
		},
	}
}

var timeType = reflect.TypeOf(time.Time{})

// Exampler is a request or response type that shows an example of itself in the OpenAPI document ("examples" of
// its schema). A request type's example must be a body the route accepts as far as its shape and rules go (the
// OpenAPI test sends it), so integrators can start from it.
type Exampler interface {
	Example() any
}

// schemaSet is the document's components/schemas while it is built, with the Go type behind each name: two types
// never share a name (the second gets a suffix), so no schema silently stands for another.
type schemaSet struct {
	schemas map[string]any
	types   map[string]reflect.Type
}

// schemaRef returns the JSON Schema of t, putting named structs under components/schemas.
func schemaRef(t reflect.Type, set *schemaSet) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Struct && t.Name() != "":
		name := schemaName(t)
		for i := 2; set.types[name] != nil && set.types[name] != t; i++ {
			name = schemaName(t) + "_" + strconv.Itoa(i)
		}
		if _, done := set.schemas[name]; !done {
			set.types[name] = t
			set.schemas[name] = map[string]any{} // placeholder against recursion
			sch := structSchema(t, set)
			if ex, ok := reflect.New(t).Interface().(Exampler); ok {
				sch["examples"] = []any{ex.Example()}
			}
			set.schemas[name] = sch
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case t.Kind() == reflect.Struct:
		return structSchema(t, set)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return map[string]any{"type": "array", "items": schemaRef(t.Elem(), set)}
	case t.Kind() == reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaRef(t.Elem(), set)}
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

// schemaName makes a component name of a Go type: its package's name, a dot, its name ("clients.SettingsBody",
// "documents.SettingsBody": two modules' types of one name stay apart). A generic instance such as
// Paged[example.com/x/clients.Row] becomes web.Paged_clients.Row (component names allow only letters, digits, '.',
// '-' and '_').
func schemaName(t reflect.Type) string {
	pkg := t.PkgPath()
	pkg = pkg[strings.LastIndex(pkg, "/")+1:]
	base, args, generic := strings.Cut(t.Name(), "[")
	var b strings.Builder
	if pkg != "" {
		b.WriteString(pkg + ".")
	}
	b.WriteString(base)
	if generic {
		for _, a := range strings.Split(strings.TrimSuffix(args, "]"), ",") {
			a = a[strings.LastIndex(a, "/")+1:]
			b.WriteString("_" + strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' {
					return r
				}
				return -1
			}, a))
		}
	}
	return b.String()
}

// structSchema is the object schema of t. A field is required unless it is optional by Required's rule (omitempty,
// omitzero or a pointer): the same rule a PUT's whole-document check applies, so the document says what the server
// demands.
func structSchema(t reflect.Type, set *schemaSet) map[string]any {
	props := map[string]any{}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct)) {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			// An embedded struct's fields are the outer object's, as encoding/json writes them.
			inner := structSchema(f.Type, set)
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
		props[name] = schemaRef(f.Type, set)
		if Required(f) {
			required = append(required, name)
		}
	}
	sort.Strings(required)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
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
