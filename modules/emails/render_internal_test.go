package emails

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

func renderOnly(t testing.TB) *Service {
	t.Helper()
	s, err := NewService(Options{
		Brands:    brandsFunc(func(context.Context, tenants.Tenant) (web.Brand, error) { return web.DefaultBrand, nil }),
		MailerFor: func(string) (Mailer, error) { return nil, errors.New("render-only service sends nothing") },
		TenantURL: func(t tenants.Tenant, path string) string { return "https://" + t.Slug + ".brokerdesk.test" + path },
		From:      "BrokerDesk <no-reply@brokerdesk.test>",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type brandsFunc func(context.Context, tenants.Tenant) (web.Brand, error)

func (f brandsFunc) Get(ctx context.Context, t tenants.Tenant) (web.Brand, error) { return f(ctx, t) }

// FuzzDataNeverAddsMarkupOrHeaders renders the kind with the most free text with arbitrary values: whatever the
// data, the HTML holds exactly as many tags as with plain values, and the subject stays one line.
func FuzzDataNeverAddsMarkupOrHeaders(f *testing.F) {
	for _, seed := range []string{"Ada", "<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "a\r\nBcc: x@y.z",
		"{{.Brand.Name}}", "</td></tr></table><a href='javascript:x'>", "&lt;", "\x00\x7f", "é ü 漢字"} {
		f.Add(seed)
	}
	s := renderOnly(f)
	ten := tenants.Tenant{Slug: "acme", DisplayName: "Acme FX"}
	email := func(v string) Email {
		return Email{Template: TemplateMoreInfoNeeded, To: "ada@example.com", Data: map[string]any{
			"FirstName": v, "Document": v, "Message": v, "UploadURL": "/portal/documents?q=" + v}}
	}
	base, err := s.render(ten, web.DefaultBrand, mustNormalize(f, s, email("plain")))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, err := s.normalize(email(v))
		if err != nil {
			return // refused values (empty, not UTF-8, too long) never render
		}
		r, err := s.render(ten, web.DefaultBrand, n)
		if errors.Is(err, ErrInvalid) {
			return // a link the value made unparseable is refused, not rendered
		}
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Count(r.html, "<"), strings.Count(base.html, "<"); got != want {
			t.Fatalf("value %q changed the HTML's tags: %d '<', want %d", v, got, want)
		}
		if strings.ContainsAny(r.subject, "\r\n") {
			t.Fatalf("value %q broke the subject onto two lines: %q", v, r.subject)
		}
	})
}

func mustNormalize(t testing.TB, s *Service, e Email) Email {
	t.Helper()
	n, err := s.normalize(e)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLinksAreMadeAbsoluteOnTheTenantsHostOrRefused(t *testing.T) {
	t.Parallel()
	s := renderOnly(t)
	ten := tenants.Tenant{Slug: "acme"}
	cases := []struct {
		in, want string // want "" for refused
	}{
		{"/portal/documents", "https://acme.brokerdesk.test/portal/documents"},
		{"https://acme.brokerdesk.test/portal", "https://acme.brokerdesk.test/portal"},
		{"http://acme.brokerdesk.test/portal", ""},
		{"https://evil.brokerdesk.test/portal", ""},
		{"https://acme.brokerdesk.test.evil.example/", ""},
		{"https://user@acme.brokerdesk.test/", ""},
		{"//evil.example/portal", ""},
		{"/\\evil.example", ""},
		{"javascript:alert(1)", ""},
		{"portal/documents", ""},
	}
	for _, c := range cases {
		got, err := s.link(ten, c.in)
		if c.want == "" && err == nil {
			t.Errorf("%q: accepted as %q, want refused", c.in, got)
		}
		if c.want != "" && (err != nil || got != c.want) {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
