package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/kyc"
	"github.com/brokerdesk/brokerdesk/modules/privacy"
)

// omission is one document with one field left out, and the name the API gives that field.
type omission struct {
	field string
	doc   any
}

// omissions lists every way to leave one required field out of doc (the JSON of a value of type t): each required
// field (web.Required) of every object, at any depth, following the first element of lists and every entry of maps.
// A map's keys are its data, not fields: leaving an entry out is a different document, not an omission.
func omissions(t reflect.Type, v any, path string) []omission {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []omission
	at := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := map[string]reflect.StructField{}
			var collect func(t reflect.Type)
			collect = func(t reflect.Type) {
				for i := 0; i < t.NumField(); i++ {
					f := t.Field(i)
					name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
					if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
						collect(f.Type)
						continue
					}
					if name == "" {
						name = f.Name
					}
					if f.IsExported() && name != "-" {
						fields[name] = f
					}
				}
			}
			collect(t)
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				f, ok := fields[k]
				if !ok {
					continue
				}
				if web.Required(f) {
					without := maps.Clone(x)
					delete(without, k)
					out = append(out, omission{at(k), without})
				}
				for _, inner := range omissions(f.Type, x[k], at(k)) {
					with := maps.Clone(x)
					with[k] = inner.doc
					out = append(out, omission{inner.field, with})
				}
			}
		case reflect.Map:
			for k, e := range x {
				for _, inner := range omissions(t.Elem(), e, at(k)) {
					with := maps.Clone(x)
					with[k] = inner.doc
					out = append(out, omission{inner.field, with})
				}
			}
		}
	case []any:
		if len(x) > 0 && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			for _, inner := range omissions(t.Elem(), x[0], fmt.Sprintf("%s[0]", path)) {
				out = append(out, omission{inner.field, append([]any{inner.doc}, x[1:]...)})
			}
		}
	}
	return out
}

// A PUT that leaves a field out must not empty it. Every settings document of the route table (a PUT under
// /api/v1/settings/ with a GET at the same path) is a whole document: PUT of what GET gives back is accepted; the
// same document with any one field left out, at any depth (a checklist item's "required", a tier's label), is a 422
// naming that field, and the settings are unchanged afterwards. A document where a field may really be left out
// would declare it optional (omitempty or a pointer), which the OpenAPI document then says too.
func TestAPutThatLeavesAFieldOutChangesNothing(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	s, err := a.buildHTTP()
	if err != nil {
		t.Fatal(err)
	}
	ten, _ := demoTenant(t, a)
	host := hostOf(ten)
	tok := staffLogin(t, base, ten, "admin").AccessToken
	gets := map[string]bool{}
	for _, r := range s.api.Routes() {
		if r.Method == http.MethodGet {
			gets[r.Path] = true
		}
	}
	docs := 0
	for _, r := range s.api.Routes() {
		if r.Method != http.MethodPut || !strings.HasPrefix(r.Path, "/api/v1/settings/") {
			continue
		}
		var current any
		if gets[r.Path] {
			g := request(t, base, host, "GET", r.Path, tok, nil)
			if g.status != 200 || json.Unmarshal([]byte(g.body), &current) != nil {
				t.Errorf("GET %s: %d %.200s", r.Path, g.status, g.body)
				continue
			}
		} else {
			// A setting without a GET of its own (require-staff-2fa): the document its PUT answers with.
			p := request(t, base, host, "PUT", r.Path, tok, exampleOf(t, r.Request))
			if p.status != 200 || json.Unmarshal([]byte(p.body), &current) != nil {
				t.Errorf("PUT %s with its example: %d %.200s", r.Path, p.status, p.body)
				continue
			}
		}
		docs++
		c := request(t, base, host, "PUT", r.Path, tok, current)
		if c.status != 200 {
			t.Errorf("PUT %s of what it holds: %d %.300s", r.Path, c.status, c.body)
			continue
		}
		var saved any // as stored (normalised)
		_ = json.Unmarshal([]byte(c.body), &saved)
		if gets[r.Path] {
			_ = json.Unmarshal([]byte(request(t, base, host, "GET", r.Path, tok, nil).body), &saved)
		}
		before, _ := json.Marshal(saved)
		oms := omissions(reflect.TypeOf(r.Request), current, "")
		if len(oms) == 0 {
			t.Errorf("PUT %s: a document without fields?", r.Path)
		}
		for _, om := range oms {
			c := request(t, base, host, "PUT", r.Path, tok, om.doc)
			var p struct {
				Errors []struct{ Field, Message string } `json:"errors"`
			}
			_ = json.Unmarshal([]byte(c.body), &p)
			named := false
			for _, f := range p.Errors {
				named = named || (f.Field == om.field && strings.Contains(f.Message, "required"))
			}
			if c.status != 422 || !named {
				t.Errorf("PUT %s without %s: %d %.300s", r.Path, om.field, c.status, c.body)
			}
		}
		if gets[r.Path] {
			g := request(t, base, host, "GET", r.Path, tok, nil)
			var after any
			_ = json.Unmarshal([]byte(g.body), &after)
			if b, _ := json.Marshal(after); !bytes.Equal(b, before) {
				t.Errorf("PUT %s: the omissions changed the settings:\n%s\n%s", r.Path, before, b)
			}
		}
	}
	if docs < 5 { // kyc, onboarding, documents, privacy, require-staff-2fa at least
		t.Fatalf("only %d settings documents found", docs)
	}
}

// A change that weakens a security or compliance setting (four-eyes off, a checklist item made optional, 2FA no
// longer required, high-risk or blocked countries removed, AML retention shortened) is audited as a weakening, with
// before and after and what it weakened, and the settings pages show the last one: who, when, what.
func TestWeakeningsAreAuditedAsSuchAndShownOnTheSettingsPages(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	host := hostOf(ten)
	tok := staffLogin(t, base, ten, "admin").AccessToken
	put := func(path string, body any) {
		t.Helper()
		if c := request(t, base, host, "PUT", path, tok, body); c.status != 200 {
			t.Fatalf("PUT %s: %d %s", path, c.status, c.body)
		}
	}
	// KYC: four-eyes on with two high-risk countries (a strengthening), then off, IR dropped, an item optional.
	st := kyc.DefaultSettings()
	st.FourEyes, st.HighRiskCountries = true, []string{"IR", "KP"}
	put("/api/v1/settings/kyc", st)
	st.FourEyes, st.HighRiskCountries = false, []string{"KP"}
	st.Checklists["passport"][0].Required = false
	put("/api/v1/settings/kyc", st)
	// Onboarding: a blocked country, then unblocked.
	var ob clients.SettingsBody
	g := request(t, base, host, "GET", "/api/v1/settings/onboarding", tok, nil)
	if err := json.Unmarshal([]byte(g.body), &ob); err != nil {
		t.Fatal(err)
	}
	blocked := ob.BlockedCountries
	ob.BlockedCountries = append(slices.Clone(blocked), "CU")
	put("/api/v1/settings/onboarding", ob)
	ob.BlockedCountries = blocked
	put("/api/v1/settings/onboarding", ob)
	// 2FA required, then not; retention 7 years, then 3.
	put("/api/v1/settings/require-staff-2fa", identity.TwoFactorRequirement{Required: true})
	put("/api/v1/settings/require-staff-2fa", identity.TwoFactorRequirement{Required: false})
	put("/api/v1/settings/privacy", privacy.SettingsRequest{RetentionYears: 7})
	put("/api/v1/settings/privacy", privacy.SettingsRequest{RetentionYears: 3})

	for action, want := range map[string][]string{
		kyc.ActionSettingsWeakened:      {"four-eyes approval turned off", "countries no longer high-risk: IR", `passport checklist: item "name_matches" made optional`},
		clients.ActionSettingsWeakened:  {"countries no longer blocked: CU"},
		identity.ActionSettingsWeakened: {"two-factor sign-in no longer required of staff"},
		privacy.ActionSettingsWeakened:  {"AML retention shortened from 7 to 3 years"},
	} {
		page, err := a.audit.List(context.Background(), ten, audit.Filter{ActionPrefix: action}, "", 10)
		if err != nil || len(page.Rows) != 1 {
			t.Errorf("%s: %d rows, %v", action, len(page.Rows), err)
			continue
		}
		w := audit.WeakeningOf(page.Rows[0])
		if w == nil || w.Actor.ID != admin.ID.String() || strings.Join(w.What, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %+v, want %v", action, w, want)
		}
		if !strings.Contains(string(page.Rows[0].Diff), `"before"`) {
			t.Errorf("%s: no before in %s", action, page.Rows[0].Diff)
		}
	}
	// The strengthenings were audited as plain changes.
	for action, n := range map[string]int{kyc.ActionSettings: 1, clients.ActionSettingsChanged: 1, identity.ActionSettingsChanged: 1, privacy.ActionSettingsChanged: 1} {
		if page, err := a.audit.List(context.Background(), ten, audit.Filter{ActionPrefix: action}, "", 10); err != nil || len(page.Rows) != n {
			t.Errorf("%s: %d rows, want %d (%v)", action, len(page.Rows), n, err)
		}
	}
	// The settings pages show the last weakening.
	c := newPageClient(t, base, ten)
	c.login("/backoffice", demoEmail(ten, "admin"), identity.DemoPassword)
	for path, want := range map[string]string{"/backoffice/settings/kyc": "four-eyes approval turned off",
		"/backoffice/settings/onboarding": "countries no longer blocked: CU"} {
		r := c.get(path)
		if r.status != 200 || !strings.Contains(r.body, "Last weakened") || !strings.Contains(r.body, want) || !strings.Contains(r.body, admin.ID.String()) {
			t.Errorf("%s: %d, does not show the last weakening (%q)", path, r.status, want)
		}
	}
}
