package operators_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/operators"
)

// The jobs UI's writes are held to the console's own origin, compared with the host the request was sent to: a
// forwarded host (which the client writes) never vouches for a foreign origin.
func TestSameOriginWritesComparesWithTheRealHostNotAForwardedOne(t *testing.T) {
	t.Parallel()
	for _, trusted := range []bool{false, true} {
		o := web.Options{}
		if trusted { // even behind a proxy the app trusts
			o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		}
		app := web.New(o)
		app.Post("/jobs/x", operators.SameOriginWrites(), func(c *fiber.Ctx) error { return c.SendString("done") })
		for _, tc := range []struct {
			name    string
			headers map[string]string
			want    int
		}{
			{"same origin", map[string]string{"Origin": "https://console.example.com"}, 200},
			{"foreign origin", map[string]string{"Origin": "https://evil.example"}, 403},
			{"foreign origin forwarding itself as the host", map[string]string{"Origin": "https://evil.example", "X-Forwarded-Host": "evil.example"}, 403},
			{"foreign origin in Forwarded", map[string]string{"Origin": "https://evil.example", "Forwarded": "host=evil.example"}, 403},
			{"no origin at all", map[string]string{"X-Forwarded-Host": "evil.example"}, 403},
		} {
			req := httptest.NewRequest("POST", "http://console.example.com/jobs/x", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			res, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.want {
				t.Errorf("trusted proxy %v, %s: %d, want %d", trusted, tc.name, res.StatusCode, tc.want)
			}
		}
	}
}
