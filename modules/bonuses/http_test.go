package bonuses

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/infra/web/webtest"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/identity/identitytest"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// api serves the world's tenant's bonuses API (as the host middleware would have resolved it), with tokens of
// staff users signed in through the real identity service.
type api struct {
	w   *world
	ids identitytest.Fixture
	app *fiber.App
}

func (w *world) api(t testing.TB) *api {
	t.Helper()
	a := &api{w: w, ids: identitytest.New(t, w.p.Gate, w.trail)}
	a.app = web.New(web.Options{Log: slog.New(slog.DiscardHandler)})
	a.app.Use(func(c *fiber.Ctx) error {
		c.SetUserContext(tenants.WithTenant(c.UserContext(), w.ten))
		return c.Next()
	})
	r := web.NewAPI(a.app, a.ids.Authorize)
	Routes(r, w.svc)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return a
}

// staff adds an active staff user with role and answers its access token.
func (a *api) staff(t testing.TB, role string) string {
	t.Helper()
	ctx := context.Background()
	email := role + "." + uuid.NewString()[:8] + "@" + a.w.ten.Slug + ".example"
	hash, err := a.ids.Hasher.Hash(ctx, "Correct-Horse-Battery-9")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.w.p.Gate.Scope(ctx, a.w.ten, func(ctx context.Context, tx pgx.Tx) error {
		id := uuid.New()
		if _, err := tx.Exec(ctx, `INSERT INTO staff_users (id, email, full_name, roles, status) VALUES ($1, $2, $3, $4, 'active')`,
			id, email, "A "+role, []string{role}); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO staff_credentials (staff_user_id, password_hash) VALUES ($1, $2)`, id, hash)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tok, err := a.ids.Login(ctx, a.w.ten, identity.Staff, identity.Credentials{Email: email, Password: "Correct-Horse-Battery-9"})
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func (a *api) do(t testing.TB, method, path, token string, body any) webtest.Reply {
	t.Helper()
	return webtest.Send(t, a.app, webtest.JSON(method, path, body, "Authorization", webtest.Bearer(token)))
}

func fieldsOf(r webtest.Reply) map[string]bool {
	out := map[string]bool{}
	for _, fe := range r.Problem().Errors {
		out[fe.Field] = true
	}
	return out
}

func demoBody() TermsBody {
	return TermsBody{Active: true, DepositNumber: 2, Percent: "50", Cap: "500.00", LotsPerUnit: "0.5", MinHoldSeconds: 60, ValidDays: 60, MaxPerClient: 1}
}

// The rules' API: 422 naming each refused field (and nothing made), a rule made with amounts as decimal strings and
// its sentence, an edit that adds a version while a bonus granted under version 1 keeps it, ending the campaign
// (once), the bonuses' list and a client's evaluations, finance only, and nothing of the tenant reached from another.
func TestTheRulesAPIValidatesVersionsEndsAndKeepsToItsTenant(t *testing.T) {
	t.Parallel()
	w := setup(t)
	a := w.api(t)
	fin := a.staff(t, "finance")

	bad := demoBody()
	bad.Percent, bad.Cap, bad.LotsPerUnit, bad.ValidDays = "fifty", "500.001", "0", 0
	r := a.do(t, "POST", "/api/v1/bonus-rules", fin, RuleCreateBody{Name: "Bad", Currency: "USD", Terms: bad})
	if f := fieldsOf(r); r.Status != http.StatusUnprocessableEntity || !f["terms.percent"] {
		t.Fatalf("a percent that is no number: %d %s", r.Status, r.Body)
	}
	bad.Percent = "50"
	r = a.do(t, "POST", "/api/v1/bonus-rules", fin, RuleCreateBody{Name: "", Currency: "XXX", Terms: bad})
	if f := fieldsOf(r); r.Status != http.StatusUnprocessableEntity || !f["name"] || !f["currency"] {
		t.Fatalf("no name, no currency: %d %s", r.Status, r.Body)
	}
	r = a.do(t, "POST", "/api/v1/bonus-rules", fin, RuleCreateBody{Name: "Bad", Currency: "USD", Terms: bad})
	if f := fieldsOf(r); r.Status != http.StatusUnprocessableEntity || !f["terms.cap"] || !f["terms.lots_per_unit"] || !f["terms.valid_days"] {
		t.Fatalf("bad terms: %d %s", r.Status, r.Body)
	}
	var list RulesResponse
	a.do(t, "GET", "/api/v1/bonus-rules", fin, nil).Decode(t, &list)
	if len(list.Rules) != 0 {
		t.Fatalf("refused rules were made: %+v", list.Rules)
	}

	r = a.do(t, "POST", "/api/v1/bonus-rules", fin, RuleCreateBody{Name: "2nd deposit 50% up to $500", Currency: "usd", Terms: demoBody()})
	var made RuleResponse
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	r.Decode(t, &made)
	want := "50% of the 2nd deposit up to 500.00 USD, released after 0.5 lots per USD of bonus (positions held 1 min or more), expires after 60 days, once per client."
	if made.Version != 1 || made.Currency != "USD" || made.Terms.Cap != "500.00" || made.Terms.Percent != "50" || made.Description != want ||
		len(made.Versions) != 1 || made.GrantedAmount != "0.00" {
		t.Fatalf("made %+v\nsays %q", made, made.Description)
	}

	// A bonus granted under version 1 keeps it after the edit.
	w.advance(time.Second)
	ann := w.client(t, "Ann", "GB", "standard")
	w.deposit(t, ann, 2, 40000)
	edit := demoBody()
	edit.Percent, edit.Countries = "100", []string{"gb", "de"}
	w.advance(time.Second)
	r = a.do(t, "PUT", "/api/v1/bonus-rules/"+made.ID, fin, RuleEditBody{Terms: edit})
	var edited RuleResponse
	r.Decode(t, &edited)
	if r.Status != 200 || edited.Version != 2 || len(edited.Versions) != 2 || edited.Versions[1].Terms.Percent != "50" ||
		strings.Join(edited.Terms.Countries, ",") != "GB,DE" || edited.Granted != 1 || edited.GrantedAmount != "200.00" || edited.Open != 1 {
		t.Fatalf("edit: %d %+v", r.Status, edited)
	}
	var bs BonusesResponse
	a.do(t, "GET", "/api/v1/bonuses?rule_id="+made.ID+"&status=open", fin, nil).Decode(t, &bs)
	if len(bs.Bonuses) != 1 || bs.Bonuses[0].RuleVersion != 1 || bs.Bonuses[0].Amount != "200.00" {
		t.Fatalf("bonuses of the rule: %+v", bs)
	}
	if r := a.do(t, "GET", "/api/v1/bonuses?status=lost&client_id=x", fin, nil); !fieldsOf(r)["status"] || !fieldsOf(r)["client_id"] {
		t.Errorf("a bad filter: %d %s", r.Status, r.Body)
	}
	var ev EvaluationsResponse
	a.do(t, "GET", "/api/v1/clients/"+ann.String()+"/bonus-evaluations", fin, nil).Decode(t, &ev)
	if len(ev.Evaluations) != 1 || ev.Evaluations[0].Outcome != "granted" || !strings.HasPrefix(ev.Evaluations[0].Says, "Bonus of 200.00 USD") {
		t.Fatalf("evaluations: %+v", ev)
	}
	if r := a.do(t, "PUT", "/api/v1/bonus-rules/"+made.ID, fin, RuleEditBody{Terms: bad}); r.Status != http.StatusUnprocessableEntity || !fieldsOf(r)["terms.cap"] {
		t.Errorf("a bad edit: %d %s", r.Status, r.Body)
	}

	r = a.do(t, "POST", "/api/v1/bonus-rules/"+made.ID+"/end", fin, nil)
	var ended RuleResponse
	r.Decode(t, &ended)
	if r.Status != 200 || ended.Version != 3 || ended.Terms.Until == nil {
		t.Fatalf("end: %d %s", r.Status, r.Body)
	}
	if r := a.do(t, "POST", "/api/v1/bonus-rules/"+made.ID+"/end", fin, nil); r.Status != http.StatusConflict {
		t.Errorf("ending twice: %d %s", r.Status, r.Body)
	}
	if r := a.do(t, "GET", "/api/v1/bonus-rules", a.staff(t, "sales"), nil); r.Status != http.StatusForbidden {
		t.Errorf("sales reads the rules: %d", r.Status)
	}

	// Another tenant's finance reaches none of it: 404 before any body is read, and an empty list.
	other := setup(t)
	b := other.api(t)
	finB := b.staff(t, "finance")
	for _, c := range []struct {
		method, path string
		body         any
	}{{"GET", "/api/v1/bonus-rules/" + made.ID, nil}, {"PUT", "/api/v1/bonus-rules/" + made.ID, RuleEditBody{Terms: bad}},
		{"POST", "/api/v1/bonus-rules/" + made.ID + "/end", nil}, {"GET", "/api/v1/clients/" + ann.String() + "/bonus-evaluations", nil},
		{"POST", "/api/v1/bonuses/" + bs.Bonuses[0].ID + "/cancel", CancelBody{}}} {
		if r := b.do(t, c.method, c.path, finB, c.body); r.Status != http.StatusNotFound {
			t.Errorf("%s %s from another tenant: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	var theirs RulesResponse
	b.do(t, "GET", "/api/v1/bonus-rules", finB, nil).Decode(t, &theirs)
	var theirBonuses BonusesResponse
	b.do(t, "GET", "/api/v1/bonuses", finB, nil).Decode(t, &theirBonuses)
	if len(theirs.Rules) != 0 || len(theirBonuses.Bonuses) != 0 {
		t.Errorf("another tenant sees %d rules, %d bonuses", len(theirs.Rules), len(theirBonuses.Bonuses))
	}
}
