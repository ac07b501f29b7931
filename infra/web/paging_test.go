package web_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
)

type sortKey struct {
	At int64  `json:"at"`
	ID string `json:"id"`
}

var testCursorKey = []byte("0123456789abcdef0123456789abcdef")

func TestCursorRoundTripsAndRefusesForgeries(t *testing.T) {
	t.Parallel()
	cc := web.NewCursors(testCursorKey)
	s, err := cc.Encode(sortKey{At: 42, ID: "c_9"})
	if err != nil {
		t.Fatal(err)
	}
	var got sortKey
	if err := cc.Decode(s, &got); err != nil || got != (sortKey{42, "c_9"}) {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	if strings.Contains(s, "c_9") {
		t.Errorf("cursor %q shows its keys in clear", s)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(s)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	other, _ := web.NewCursors([]byte("another key, another deployment!")).Encode(sortKey{At: 42, ID: "c_9"})
	unsigned := base64.RawURLEncoding.EncodeToString(append([]byte{1}, `{"at":1,"id":"x"}`...))
	for name, bad := range map[string]string{
		"empty": "", "not base64": "!!!", "key byte flipped": flip(5), "version flipped": flip(0),
		"mac flipped": flip(len(raw) - 1), "other key": other, "unsigned": unsigned, "truncated": s[:len(s)-3],
		"huge": strings.Repeat("A", 5000),
	} {
		if err := cc.Decode(bad, &got); err != web.ErrBadCursor {
			t.Errorf("%s: Decode = %v, want ErrBadCursor", name, err)
		}
	}
}

// A signed cursor whose keys do not fit the endpoint's type (another endpoint's cursor) is refused too.
func TestCursorOfAnotherShapeIsRefused(t *testing.T) {
	t.Parallel()
	cc := web.NewCursors(testCursorKey)
	s, _ := cc.Encode(map[string]any{"seq": 7})
	var k sortKey
	if err := cc.Decode(s, &k); err != web.ErrBadCursor {
		t.Fatalf("Decode = %v", err)
	}
}

func FuzzCursorDecode(f *testing.F) {
	cc := web.NewCursors(testCursorKey)
	good, _ := cc.Encode(sortKey{At: 1, ID: "a"})
	for _, s := range []string{good, "", "AQ", "!!!", good + "A", strings.ToUpper(good)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var k sortKey
		err := cc.Decode(s, &k)
		if err != nil && err != web.ErrBadCursor {
			t.Fatalf("Decode(%q) = %v: every failure must be ErrBadCursor", s, err)
		}
		if err == nil {
			// Whatever decodes must be something Encode makes, byte for byte.
			again, _ := cc.Encode(k)
			var k2 sortKey
			if cc.Decode(again, &k2) != nil || k2 != k {
				t.Fatalf("Decode(%q) = %+v, which does not round-trip", s, k)
			}
		}
	})
}

func pagedApp(cc *web.Cursors, rows []sortKey) *fiber.App {
	app := web.New(web.Options{})
	app.Get("/items", func(c *fiber.Ctx) error {
		var after sortKey
		limit, first, err := cc.PageQuery(c, &after)
		if err != nil {
			return err
		}
		var out []sortKey
		for _, r := range rows {
			if (first || r.At > after.At) && len(out) < limit+1 {
				out = append(out, r)
			}
		}
		p, err := web.MakePaged(cc, out, limit, func(r sortKey) any { return sortKey{At: r.At} })
		if err != nil {
			return err
		}
		return c.JSON(p)
	})
	return app
}

func TestPageQueryBoundsLimitAndWalksEveryRowOnce(t *testing.T) {
	t.Parallel()
	cc := web.NewCursors(testCursorKey)
	var rows []sortKey
	for i := range 450 {
		rows = append(rows, sortKey{At: int64(i + 1)})
	}
	app := pagedApp(cc, rows)
	get := func(q string) (int, map[string]json.RawMessage) {
		res, err := app.Test(httptest.NewRequest("GET", "/items"+q, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]json.RawMessage
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}
	for _, tc := range []struct {
		q       string
		status  int
		items   int
		field   string
		hasNext bool
	}{
		{"", 200, 50, "", true},
		{"?limit=1", 200, 1, "", true},
		{"?limit=200", 200, 200, "", true},
		{"?limit=0", 422, 0, "limit", false},
		{"?limit=201", 422, 0, "limit", false},
		{"?limit=-5", 422, 0, "limit", false},
		{"?limit=ten", 422, 0, "limit", false},
		{"?cursor=bogus", 422, 0, "cursor", false},
		{"?limit=x&cursor=bogus", 422, 0, "limit,cursor", false},
	} {
		status, body := get(tc.q)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.q, status, tc.status, body)
			continue
		}
		if tc.status == 422 {
			var fe []web.FieldError
			_ = json.Unmarshal(body["errors"], &fe)
			var names []string
			for _, e := range fe {
				names = append(names, e.Field)
			}
			if strings.Join(names, ",") != tc.field {
				t.Errorf("%s: field errors %v, want %s", tc.q, fe, tc.field)
			}
			continue
		}
		var items []sortKey
		_ = json.Unmarshal(body["items"], &items)
		if len(items) != tc.items || (string(body["next_cursor"]) != "null") != tc.hasNext {
			t.Errorf("%s: %d items, next %s", tc.q, len(items), body["next_cursor"])
		}
	}
	// Paging with the cursors visits each row exactly once and ends with a null cursor.
	seen, q := 0, "?limit=200"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		status, body := get(q)
		if status != 200 {
			t.Fatalf("%s: %d", q, status)
		}
		var items []sortKey
		_ = json.Unmarshal(body["items"], &items)
		for _, it := range items {
			if it.At != int64(seen+1) {
				t.Fatalf("row %d after %d rows", it.At, seen)
			}
			seen++
		}
		var next *string
		_ = json.Unmarshal(body["next_cursor"], &next)
		if next == nil {
			break
		}
		q = "?limit=200&cursor=" + *next
	}
	if seen != len(rows) {
		t.Fatalf("saw %d rows of %d", seen, len(rows))
	}
}

func TestEmptyPageIsAnEmptyArray(t *testing.T) {
	t.Parallel()
	p, err := web.MakePaged[sortKey](web.NewCursors(testCursorKey), nil, 50, func(r sortKey) any { return r })
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	if string(b) != `{"items":[],"next_cursor":null}` {
		t.Fatalf("%s", b)
	}
}

func TestOpenAPINamesGenericEnvelopes(t *testing.T) {
	t.Parallel()
	api := web.NewAPI(fiber.New(), nil)
	api.Handle(web.Route{Method: "GET", Path: "/api/v1/things", Permission: web.Public, Summary: "things",
		Response: web.Paged[sortKey]{}, Handler: func(c *fiber.Ctx) error { return nil }})
	b, _ := json.Marshal(api.OpenAPI("t", "1"))
	if !strings.Contains(string(b), `"#/components/schemas/web.Paged_web_test.sortKey"`) {
		t.Fatalf("%s", b)
	}
}

// An embedded struct's fields are the outer object's fields in the JSON, so the schema lists them there too.
func TestOpenAPIFlattensEmbeddedStructsAsEncodingJSONDoes(t *testing.T) {
	t.Parallel()
	type inner struct {
		ID   string `json:"id"`
		Note string `json:"note,omitempty"`
	}
	type outer struct {
		inner
		Path string `json:"view_path"`
	}
	api := web.NewAPI(fiber.New(), nil)
	api.Handle(web.Route{Method: "GET", Path: "/api/v1/outer", Permission: web.Public, Summary: "outer",
		Response: outer{}, Handler: func(c *fiber.Ctx) error { return nil }})
	doc := api.OpenAPI("t", "1")
	b, _ := json.Marshal(doc["components"])
	var comps struct {
		Schemas map[string]struct {
			Properties map[string]any `json:"properties"`
			Required   []string       `json:"required"`
		} `json:"schemas"`
	}
	if err := json.Unmarshal(b, &comps); err != nil {
		t.Fatal(err)
	}
	s := comps.Schemas["web_test.outer"]
	_, id := s.Properties["id"]
	_, note := s.Properties["note"]
	_, path := s.Properties["view_path"]
	_, nested := s.Properties["inner"]
	if !id || !note || !path || nested || !slices.Equal(s.Required, []string{"id", "view_path"}) {
		t.Fatalf("schema %+v: want id, note and view_path flat, id and view_path required", s)
	}
}
