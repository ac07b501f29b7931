package emails

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"net/url"
	"reflect"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The template kinds.
const (
	TemplateVerifyEmail       = "verify_email"
	TemplateDocumentsReceived = "documents_received"
	TemplateKYCApproved       = "kyc_approved"
	TemplateDocumentRejected  = "document_rejected"
	TemplateMoreInfoNeeded    = "more_info_needed"
	TemplateDocumentExpiring  = "document_expiring"
	TemplateDepositReceived   = "deposit_received"
	// TemplateTradingAccountOpened carries a new trading account's passwords: send it with Send, never Queue.
	TemplateTradingAccountOpened = "trading_account_opened"
	// TemplateWithdrawalUpdate tells a client where their withdrawal is (received, approved, paid, refused with the
	// reason, failed, expired): one template, the step in words.
	TemplateWithdrawalUpdate = "withdrawal_update"
	// TemplateTradingPasswordReset carries a trading account's new main or investor password: Send, never Queue.
	TemplateTradingPasswordReset = "trading_password_reset"
	// TemplateBonusGranted, TemplateBonusReleased, TemplateBonusForfeited, TemplateBonusExpired and
	// TemplateBonusCancelled tell a client of a bonus granted (the turnover it asks, its expiry), released to the
	// wallet, forfeited with the reason, expired before its turnover was met, or cancelled by the brokerage with the
	// reason (modules/bonuses).
	TemplateBonusGranted   = "bonus_granted"
	TemplateBonusReleased  = "bonus_released"
	TemplateBonusForfeited = "bonus_forfeited"
	TemplateBonusExpired   = "bonus_expired"
	TemplateBonusCancelled = "bonus_cancelled"
)

// fieldKind is what a data value must be.
type fieldKind int

const (
	textField fieldKind = iota // a non-empty string
	listField                  // a non-empty list of non-empty strings
	linkField                  // a path on the tenant's host ("/portal/...") or an absolute URL on it
	dateField                  // a date: time.Time, "2006-01-02" or RFC 3339; shown as "2 January 2006"
)

// kinds lists each template's data, every value required.
var kinds = map[string]map[string]fieldKind{
	TemplateVerifyEmail:       {"Link": linkField, "FirstName": textField},
	TemplateDocumentsReceived: {"FirstName": textField, "Documents": listField},
	TemplateKYCApproved:       {"FirstName": textField, "PortalURL": linkField},
	TemplateDocumentRejected:  {"FirstName": textField, "Document": textField, "Reason": textField},
	TemplateMoreInfoNeeded:    {"FirstName": textField, "Document": textField, "Message": textField, "UploadURL": linkField},
	TemplateDocumentExpiring:  {"FirstName": textField, "Document": textField, "ExpiresOn": dateField, "UploadURL": linkField},
	TemplateDepositReceived:   {"FirstName": textField, "Amount": textField, "Method": textField, "Reference": textField, "WalletURL": linkField},
	TemplateTradingAccountOpened: {"FirstName": textField, "Kind": textField, "AccountType": textField, "Login": textField, "Server": textField,
		"Details": textField, "Password": textField, "InvestorPassword": textField, "AccountsURL": linkField},
	TemplateWithdrawalUpdate: {"FirstName": textField, "Amount": textField, "Step": textField, "Message": textField, "WalletURL": linkField},
	TemplateTradingPasswordReset: {"FirstName": textField, "Login": textField, "Server": textField, "Which": textField, "Password": textField,
		"AccountsURL": linkField},
	TemplateBonusGranted: {"FirstName": textField, "Amount": textField, "Rule": textField, "Lots": textField, "ExpiresOn": dateField,
		"BonusesURL": linkField},
	TemplateBonusReleased:  {"FirstName": textField, "Amount": textField, "Rule": textField, "Lots": textField, "WalletURL": linkField},
	TemplateBonusForfeited: {"FirstName": textField, "Amount": textField, "Rule": textField, "Reason": textField, "BonusesURL": linkField},
	TemplateBonusExpired:   {"FirstName": textField, "Amount": textField, "Rule": textField, "Done": textField, "Lots": textField, "BonusesURL": linkField},
	TemplateBonusCancelled: {"FirstName": textField, "Amount": textField, "Rule": textField, "Reason": textField, "BonusesURL": linkField},
}

// Templates lists the template kinds, sorted.
func Templates() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Bounds on data, so a queued email stays a small row and a body stays readable.
const (
	maxText  = 4000
	maxItems = 50
)

//go:embed templates
var files embed.FS

// locales holds each locale's parsed templates; "en" is the fallback and has every kind.
type kindTemplates struct {
	text *texttemplate.Template // "subject" and "text"
	html *htmltemplate.Template // "layout" with this kind's "body"
}

var locales = mustParse()

func mustParse() map[string]map[string]kindTemplates {
	out := map[string]map[string]kindTemplates{}
	dirs, err := files.ReadDir("templates")
	if err != nil {
		panic(err)
	}
	for _, d := range dirs {
		loc := d.Name()
		out[loc] = map[string]kindTemplates{}
		for kind := range kinds {
			txt, err := texttemplate.New(kind).Option("missingkey=error").ParseFS(files, "templates/"+loc+"/"+kind+".txt")
			if err != nil {
				if loc == "en" {
					panic(err)
				}
				continue
			}
			html, err := htmltemplate.New(kind).Option("missingkey=error").Funcs(htmltemplate.FuncMap{"dict": dict}).ParseFS(files,
				"templates/"+loc+"/layout.html", "templates/"+loc+"/"+kind+".html")
			if err != nil {
				panic(err)
			}
			out[loc][kind] = kindTemplates{text: txt, html: html}
		}
	}
	return out
}

// dict builds a map from key, value pairs: how a template passes several values to a shared one ("button").
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// lookup returns kind's templates in locale ("fr-CA" tries "fr-ca", "fr", then "en").
func lookup(kind, locale string) (kindTemplates, bool) {
	locale = strings.ToLower(locale)
	for _, l := range []string{locale, strings.SplitN(locale, "-", 2)[0], "en"} {
		if kt, ok := locales[l][kind]; ok {
			return kt, true
		}
	}
	return kindTemplates{}, false
}

// normalize checks e against its template and returns it in the one form that is queued and rendered: strings,
// lists of strings, dates as "2006-01-02". A JSON round trip through the outbox gives back the same form.
func (s *Service) normalize(e Email) (Email, error) {
	fields, ok := kinds[e.Template]
	if !ok {
		return e, fmt.Errorf("%w %q", ErrUnknownTemplate, e.Template)
	}
	to, err := mail.ParseAddress(e.To)
	if err != nil || strings.ContainsAny(e.To, "\r\n") {
		return e, fmt.Errorf("%w: %s: recipient is not an email address", ErrInvalid, e.Template)
	}
	out := Email{Template: e.Template, To: to.Address, Locale: e.Locale, Data: map[string]any{}}
	for k := range e.Data {
		if _, ok := fields[k]; !ok {
			return e, fmt.Errorf("%w: %s has no data %q", ErrInvalid, e.Template, k)
		}
	}
	for name, kind := range fields {
		v, ok := e.Data[name]
		if !ok || v == nil {
			return e, fmt.Errorf("%w: %s needs %s", ErrInvalid, e.Template, name)
		}
		nv, err := normalizeValue(kind, v)
		if err != nil {
			return e, fmt.Errorf("%w: %s: %s %v", ErrInvalid, e.Template, name, err)
		}
		out.Data[name] = nv
	}
	return out, nil
}

func normalizeValue(kind fieldKind, v any) (any, error) {
	switch kind {
	case textField, linkField:
		s, ok := asString(v)
		if !ok {
			return nil, fmt.Errorf("must be a string")
		}
		return checkText(s)
	case listField:
		var items []string
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice {
			return nil, fmt.Errorf("must be a list of strings")
		}
		for i := range rv.Len() {
			s, ok := asString(rv.Index(i).Interface())
			if !ok {
				return nil, fmt.Errorf("must be a list of strings")
			}
			items = append(items, s)
		}
		if len(items) == 0 || len(items) > maxItems {
			return nil, fmt.Errorf("must hold 1 to %d items", maxItems)
		}
		out := make([]any, len(items)) // []any: the form JSON gives back
		for i, s := range items {
			c, err := checkText(s)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case dateField:
		if p, ok := v.(*time.Time); ok && p != nil {
			v = *p
		}
		switch d := v.(type) {
		case time.Time:
			if d.IsZero() {
				return nil, fmt.Errorf("is empty")
			}
			return d.Format(time.DateOnly), nil
		case string:
			if t, err := time.Parse(time.DateOnly, d); err == nil {
				return t.Format(time.DateOnly), nil
			}
			if t, err := time.Parse(time.RFC3339, d); err == nil {
				return t.Format(time.DateOnly), nil
			}
			return nil, fmt.Errorf("must be a date (2006-01-02)")
		default:
			return nil, fmt.Errorf("must be a date")
		}
	}
	return nil, fmt.Errorf("unknown field kind")
}

// asString accepts a string or a value of a named string type (a module's document type, say).
func asString(v any) (string, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.String {
		return "", false
	}
	return rv.String(), true
}

func checkText(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("is empty")
	case !utf8.ValidString(s):
		return "", fmt.Errorf("is not UTF-8")
	case len(s) > maxText:
		return "", fmt.Errorf("is longer than %d bytes", maxText)
	}
	return s, nil
}

// rendered is one email ready for SMTP.
type rendered struct {
	brandName, subject, text, html string
}

// view is what the templates see.
type view struct {
	Brand web.Brand
	Data  map[string]any
}

// render draws n (normalized) in brand. Links are made absolute on t's host; a link to any other host is refused.
func (s *Service) render(t tenants.Tenant, brand web.Brand, n Email) (rendered, error) {
	kt, ok := lookup(n.Template, n.Locale)
	if !ok {
		return rendered{}, fmt.Errorf("%w %q", ErrUnknownTemplate, n.Template)
	}
	brand = s.safeBrand(t, brand)
	data := make(map[string]any, len(n.Data))
	for name, kind := range kinds[n.Template] {
		v := n.Data[name]
		switch kind {
		case linkField:
			u, err := s.link(t, v.(string))
			if err != nil {
				return rendered{}, fmt.Errorf("%w: %s: %s %v", ErrInvalid, n.Template, name, err)
			}
			v = u
		case dateField:
			d, _ := time.Parse(time.DateOnly, v.(string))
			v = d.Format("2 January 2006")
		}
		data[name] = v
	}
	in := view{Brand: brand, Data: data}
	var subject, text, html bytes.Buffer
	if err := kt.text.ExecuteTemplate(&subject, "subject", in); err != nil {
		return rendered{}, fmt.Errorf("emails: %s subject: %w", n.Template, err)
	}
	if err := kt.text.ExecuteTemplate(&text, "text", in); err != nil {
		return rendered{}, fmt.Errorf("emails: %s text: %w", n.Template, err)
	}
	if err := kt.html.ExecuteTemplate(&html, "layout", in); err != nil {
		return rendered{}, fmt.Errorf("emails: %s html: %w", n.Template, err)
	}
	return rendered{brandName: brand.Name, subject: oneLine(subject.String()), text: strings.TrimSpace(text.String()) + "\n",
		html: html.String()}, nil
}

// safeBrand keeps only what may reach an email: #rrggbb colours (else BrokerDesk's) and a logo that is an
// absolute http(s) URL or a path on the tenant's host (else no logo).
func (s *Service) safeBrand(t tenants.Tenant, b web.Brand) web.Brand {
	b.Name = oneLine(b.Name)
	if b.Name == "" {
		b.Name = oneLine(t.DisplayName)
	}
	if !web.ValidColor(b.PrimaryColor) {
		b.PrimaryColor = web.DefaultBrand.PrimaryColor
	}
	if !web.ValidColor(b.AccentColor) {
		b.AccentColor = web.DefaultBrand.AccentColor
	}
	logo := strings.TrimSpace(b.LogoURL)
	b.LogoURL = ""
	if strings.HasPrefix(logo, "/") && !strings.HasPrefix(logo, "//") {
		b.LogoURL = s.o.TenantURL(t, logo)
	} else if u, err := url.Parse(logo); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		b.LogoURL = u.String()
	}
	return b
}

// link makes v absolute on t's host: a path is joined to the host; an absolute URL must already be on it.
func (s *Service) link(t tenants.Tenant, v string) (string, error) {
	if strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//") && !strings.ContainsAny(v, "\\\r\n ") {
		return s.o.TenantURL(t, v), nil
	}
	home, err := url.Parse(s.o.TenantURL(t, "/"))
	if err != nil {
		return "", err
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != home.Scheme || u.Host != home.Host || u.User != nil {
		return "", fmt.Errorf("must be a path or a URL on the tenant's host %s", home.Host)
	}
	return u.String(), nil
}
