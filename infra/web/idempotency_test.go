package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

type nopStore struct{}

func (nopStore) Begin(context.Context, web.IdempotencyKey, []byte) (*web.StoredResponse, error) {
	return nil, nil
}
func (nopStore) Finish(context.Context, web.IdempotencyKey, web.StoredResponse) error { return nil }
func (nopStore) Release(context.Context, web.IdempotencyKey) error                    { return nil }

func TestIdempotentRouteIsDocumentedWithItsHeader(t *testing.T) {
	t.Parallel()
	api := web.NewAPI(fiber.New(), nil)
	api.SetIdempotency(nopStore{}, nil, nil)
	api.Handle(web.Route{Method: "POST", Path: "/api/v1/payouts/:id", Permission: web.Public, Summary: "x", Idempotent: true,
		Handler: func(c *fiber.Ctx) error { return nil }})
	api.Handle(web.Route{Method: "POST", Path: "/api/v1/notes", Permission: web.Public, Summary: "y",
		Handler: func(c *fiber.Ctx) error { return nil }})
	b, _ := json.Marshal(api.OpenAPI("t", "1"))
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name, In string
				Required bool
			}
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	header := func(path string) bool {
		for _, p := range doc.Paths[path]["post"].Parameters {
			if p.Name == "Idempotency-Key" && p.In == "header" && p.Required {
				return true
			}
		}
		return false
	}
	if !header("/api/v1/payouts/{id}") || len(doc.Paths["/api/v1/payouts/{id}"]["post"].Parameters) != 2 {
		t.Errorf("idempotent route lacks its header parameter: %s", b)
	}
	if header("/api/v1/notes") {
		t.Errorf("a plain route documents the header")
	}
	bare := web.NewAPI(fiber.New(), nil)
	bare.Handle(web.Route{Method: "POST", Path: "/api/v1/x", Permission: web.Public, Summary: "x", Idempotent: true,
		Handler: func(c *fiber.Ctx) error { return nil }})
	if bare.Err() == nil || len(bare.Routes()) != 0 {
		t.Fatal("an idempotent route without a store was accepted")
	}
}

type failingFinish struct{ nopStore }

func (failingFinish) Finish(context.Context, web.IdempotencyKey, web.StoredResponse) error {
	return errors.New("database went away")
}

// When the response cannot be stored the operation has still happened: the client gets the handler's answer, not
// a 500 that would invite it to repeat the operation.
func TestIdempotentResponseThatCannotBeStoredIsStillAnswered(t *testing.T) {
	t.Parallel()
	app := web.New(web.Options{})
	api := web.NewAPI(app, nil)
	api.SetIdempotency(failingFinish{}, nil, nil)
	api.Handle(web.Route{Method: "POST", Path: "/api/v1/payouts", Permission: web.Public, Summary: "x", Idempotent: true,
		Handler: func(c *fiber.Ctx) error { return c.Status(201).SendString(`{"id":1}`) }})
	req := httptest.NewRequest("POST", "/api/v1/payouts", strings.NewReader(`{}`))
	req.Header.Set(web.HeaderIdempotencyKey, "k1")
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 201 {
		t.Fatalf("status %d", res.StatusCode)
	}
}
