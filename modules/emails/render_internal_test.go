package emails

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

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

func TestDataAcceptsTheGoTypesCallersHold(t *testing.T) {
	t.Parallel()
	s := renderOnly(t)
	type docType string
	expires := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		e    Email
		key  string
		want any
	}{
		{"named string type", Email{Template: TemplateDocumentRejected, To: "a@example.com",
			Data: map[string]any{"FirstName": "Ada", "Document": docType("passport"), "Reason": "Blurred"}}, "Document", "passport"},
		{"list of a named string type", Email{Template: TemplateDocumentsReceived, To: "a@example.com",
			Data: map[string]any{"FirstName": "Ada", "Documents": []docType{"passport", "selfie"}}}, "Documents", []any{"passport", "selfie"}},
		{"list as JSON gives it back", Email{Template: TemplateDocumentsReceived, To: "a@example.com",
			Data: map[string]any{"FirstName": "Ada", "Documents": []any{"passport"}}}, "Documents", []any{"passport"}},
		{"date as *time.Time", Email{Template: TemplateDocumentExpiring, To: "a@example.com",
			Data: map[string]any{"FirstName": "Ada", "Document": "Passport", "ExpiresOn": &expires, "UploadURL": "/portal/documents"}}, "ExpiresOn", "2027-03-01"},
		{"date as RFC 3339", Email{Template: TemplateDocumentExpiring, To: "a@example.com",
			Data: map[string]any{"FirstName": "Ada", "Document": "Passport", "ExpiresOn": "2027-03-01T00:00:00Z", "UploadURL": "/portal/documents"}}, "ExpiresOn", "2027-03-01"},
	}
	for _, c := range cases {
		n, err := s.normalize(c.e)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(n.Data[c.key], c.want) {
			t.Errorf("%s: %s normalized to %#v, want %#v", c.name, c.key, n.Data[c.key], c.want)
		}
	}
	var nilTime *time.Time
	if _, err := s.normalize(Email{Template: TemplateDocumentExpiring, To: "a@example.com",
		Data: map[string]any{"FirstName": "Ada", "Document": "Passport", "ExpiresOn": nilTime, "UploadURL": "/portal/documents"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil *time.Time expiry: %v, want ErrInvalid", err)
	}
}
