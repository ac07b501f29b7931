package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// schemaBody builds a request body from a JSON Schema of the OpenAPI document: the schema's own example when it
// has one, else a value of the declared type for every property (the optional ones too).
func schemaBody(s map[string]any, schemas map[string]any, depth int) any {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		target, _ := schemas[name].(map[string]any)
		return schemaBody(target, schemas, depth)
	}
	if ex, ok := s["examples"].([]any); ok && len(ex) > 0 {
		return ex[0]
	}
	if depth > 8 {
		return nil
	}
	switch s["type"] {
	case "object":
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for name, p := range props {
			out[name] = schemaBody(p.(map[string]any), schemas, depth+1)
		}
		return out
	case "array":
		items, _ := s["items"].(map[string]any)
		return []any{schemaBody(items, schemas, depth+1)}
	case "string":
		if s["format"] == "date-time" {
			return "2030-01-31T09:30:00Z"
		}
		return "example"
	case "integer", "number":
		return 1
	case "boolean":
		return true
	}
	return nil
}

// refusedForItsShape are the problems that say a body is not what the route takes: a body built from the document's
// own schema must never get one.
var refusedForItsShape = map[string]bool{"/problems/malformed-json": true, "/problems/validation": true,
	"/problems/unsupported-media-type": true, "/problems/invalid-text": true, "/problems/json-too-deep": true,
	"/problems/body-too-large": true}

// The OpenAPI document says what the server does: for every operation that takes a body, a body built from the
// document's own schema (the schema's example, or a value of each declared type) is accepted (2xx), or refused for
// a documented reason that is not its shape: 401/403 (credentials), 404 (a random id, an unknown link), 409 (state),
// 400 for an invalid link or signature. Never malformed-json, validation, unsupported-media-type (400/415/422 for
// the body itself), never a 5xx. Schema names are unique, so no operation shows another module's body.
func TestABodyBuiltFromTheOpenAPISchemaIsAccepted(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	host := hostOf(ten)
	// The payment examples name the demo brokerage's gateways (card on stripe-mock, bank wire): the tenant has them.
	for _, g := range []payments.GatewayInput{
		{Slug: "card", Name: "Card (Stripe)", Kind: "stripe", Currencies: []string{"USD", "EUR"}, Enabled: true,
			Config:  []byte(`{"api_base": "` + os.Getenv("BD_STRIPE_API_URL") + `"}`),
			Secrets: []byte(`{"secret_key": "sk_test_examples", "webhook_secrets": ["whsec_examples"]}`)},
		{Slug: "bank", Name: "Bank wire", Kind: payments.KindManual, Currencies: []string{"USD", "EUR"}, Enabled: true, Config: []byte(`{}`)},
	} {
		if _, err := a.payments.SaveGateway(context.Background(), ten, audit.System("test"), g); err != nil {
			t.Fatalf("gateway %s: %v", g.Slug, err)
		}
	}
	// The account type example names the server of the trading server example, which the tenant has.
	if _, err := a.tradingdesk.CreateServer(context.Background(), ten, audit.System("test"), tradingdesk.ServerInput{Slug: "mt5-live", Name: "MT5 Live",
		Platform: trading.PlatformMT5, Live: true, Enabled: false, Config: tradingdesk.Config{Address: "127.0.0.1:9", Login: "1001", TimeZone: "UTC"},
		Credentials: &tradingdesk.Credentials{Password: "examples"}}); err != nil {
		t.Fatal(err)
	}
	// The portal's account example opens a Standard account on it (the demo trader, not approved yet, is refused it).
	if _, err := a.tradingdesk.CreateAccountType(context.Background(), ten, audit.System("test"), tradingdesk.AccountTypeInput{Slug: "standard",
		Name: "Standard", Server: "mt5-live", Groups: map[string]tradingdesk.GroupPair{"USD": {Group: `real\standard-usd`}}, Leverages: []int{100},
		Enabled: true}); err != nil {
		t.Fatal(err)
	}
	adminTok := staffLogin(t, base, ten, "admin").AccessToken
	tr := request(t, base, host, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: identity.DemoTraderEmail(ten), Password: identity.DemoPassword})
	var trader identity.TokenResponse
	if err := json.Unmarshal([]byte(tr.body), &trader); err != nil || tr.status != 200 {
		t.Fatalf("trader login: %d %s", tr.status, tr.body)
	}
	r := get(t, base, host, "/api/v1/openapi.json", "")
	var doc struct {
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal(err)
	}
	// The two settings bodies issue 15 found sharing a name are two schemas now, each under its module.
	onboarding := doc.Paths["/api/v1/settings/onboarding"]["put"]["requestBody"]
	docs := doc.Paths["/api/v1/settings/documents"]["put"]["requestBody"]
	if fmt.Sprint(onboarding) == fmt.Sprint(docs) || !strings.Contains(fmt.Sprint(onboarding), "clients.SettingsBody") {
		t.Errorf("onboarding settings body %v, documents settings body %v", onboarding, docs)
	}
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	tried := 0
	for _, path := range paths {
		for method, op := range doc.Paths[path] {
			rb, ok := op["requestBody"].(map[string]any)
			if !ok {
				continue
			}
			schema := rb["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
			body := schemaBody(schema, doc.Components.Schemas, 0)
			target := path
			var headers []string
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p := p.(map[string]any)
				switch p["in"] {
				case "path":
					target = strings.ReplaceAll(target, "{"+p["name"].(string)+"}", uuid.NewString())
				case "header":
					if p["name"] == "Idempotency-Key" {
						headers = append(headers, "Idempotency-Key", uuid.NewString())
					}
				}
			}
			tok := ""
			switch perm, _ := op["x-brokerdesk-permission"].(string); {
			case perm == "public":
			case strings.HasPrefix(perm, "portal."):
				tok = trader.AccessToken
			default:
				tok = adminTok
			}
			c := request(t, base, host, strings.ToUpper(method), target, tok, body, headers...)
			tried++
			var p struct {
				Type   string `json:"type"`
				Errors []any  `json:"errors"`
			}
			_ = json.Unmarshal([]byte(c.body), &p)
			if c.status >= 500 || c.status == http.StatusUnsupportedMediaType || refusedForItsShape[p.Type] {
				b, _ := json.Marshal(body)
				t.Errorf("%s %s with a body from its own schema %s: %d %.400s", strings.ToUpper(method), path, b, c.status, c.body)
			}
		}
	}
	if tried < 20 {
		t.Fatalf("only %d operations take a body?", tried)
	}
}
