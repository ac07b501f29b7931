package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/partners"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// partnersForMatrix gives ten a plan and a partner on it (the route matrix's objects).
func partnersForMatrix(t testing.TB, a *app, ten tenants.Tenant) {
	t.Helper()
	ctx := context.Background()
	r, err := partners.RulesBody{Lines: []partners.LineBody{{PerLot: []string{"7", "2", "1"}}}}.ToRules()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := a.partners.CreatePlan(ctx, ten, audit.System("test"), "Matrix plan", "USD", r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.partners.CreatePartner(ctx, ten, audit.System("test"), partners.PartnerInput{Name: "Matrix IB", PlanID: &plan.ID,
		Code: "MATRIX-IB"}); err != nil {
		t.Fatal(err)
	}
}

func decode[T any](t *testing.T, c call, want int) T {
	t.Helper()
	var v T
	if c.status != want {
		t.Fatalf("status %d, want %d: %.400s", c.status, want, c.body)
	}
	if err := json.Unmarshal([]byte(c.body), &v); err != nil {
		t.Fatalf("%v: %.400s", err, c.body)
	}
	return v
}

// An ib_manager builds a three-level tree through the API, moves a partner with an effective date, re-attributes a
// client with a reason, reads the tree and a partner's commissions; bad bodies get 422 naming the field, and a
// sales user is refused.
func TestPartnersThroughTheAPIAsAnIBManager(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	host := hostOf(ten)
	tok := staffLogin(t, base, ten, "ib_manager").AccessToken
	sales := staffLogin(t, base, ten, "sales").AccessToken
	if c := request(t, base, host, "GET", "/api/v1/partners", sales, nil); c.status != 403 {
		t.Errorf("sales lists partners: %d", c.status)
	}
	bad := request(t, base, host, "POST", "/api/v1/partner-plans", tok, map[string]any{"name": "Standard IB", "currency": "USD",
		"rules": map[string]any{"lines": []any{map[string]any{"per_lot": []string{"seven"}}}}})
	if bad.status != 422 || !strings.Contains(bad.body, `"rules.lines.0.per_lot.0"`) {
		t.Errorf("a plan with a word for an amount: %d %.300s", bad.status, bad.body)
	}
	bad = request(t, base, host, "POST", "/api/v1/partner-plans", tok, map[string]any{"name": "Standard IB", "currency": "USD",
		"rules": map[string]any{"lines": []any{map[string]any{"group": "Metals", "per_lot": []string{"10"}}}}})
	if bad.status != 422 || !strings.Contains(bad.body, `"rules.lines.0.group"`) {
		t.Errorf("a plan with an unknown group: %d %.300s", bad.status, bad.body)
	}
	plan := decode[partners.PlanResponse](t, request(t, base, host, "POST", "/api/v1/partner-plans", tok, partners.PlanCreateBody{
		Name: "Standard IB", Currency: "USD", Rules: partners.RulesBody{Groups: map[string][]string{"Metals": {"XAUUSD"}},
			Lines: []partners.LineBody{{Group: "Metals", PerLot: []string{"10", "3", "1"}}, {PerLot: []string{"7", "2", "1"}}}}}), 201)
	edited := decode[partners.PlanResponse](t, request(t, base, host, "PUT", "/api/v1/partner-plans/"+plan.ID, tok, partners.PlanEditBody{
		Rules: partners.RulesBody{Lines: []partners.LineBody{{PerLot: []string{"8", "2", "1"}}}, MinHoldSeconds: 60}}), 200)
	if edited.Version != 2 || edited.Rules.MinHoldSeconds != 60 {
		t.Errorf("the edit: %+v", edited)
	}
	if v1 := decode[partners.PlanResponse](t, request(t, base, host, "GET", "/api/v1/partner-plans/"+plan.ID+"?version=1", tok, nil), 200); len(v1.Rules.Lines) != 2 {
		t.Errorf("version 1 as it was: %+v", v1)
	}
	mk := func(name, code string, parent *string) partners.PartnerResponse {
		return decode[partners.PartnerResponse](t, request(t, base, host, "POST", "/api/v1/partners", tok, partners.PartnerCreateBody{
			Name: name, Code: code, Campaign: "launch", PlanID: &plan.ID, ParentID: parent}), 201)
	}
	atlas := mk("Atlas Partners", "IB-ATLAS-API", nil)
	bravo := mk("Bravo Introducers", "IB-BRAVO-API", &atlas.ID)
	charlie := mk("Charlie Club", "IB-CHARLIE-API", &bravo.ID)
	if len(charlie.Codes) != 1 || charlie.Codes[0].Link != "/?ref=IB-CHARLIE-API" || charlie.ParentID == nil || *charlie.ParentID != bravo.ID {
		t.Errorf("CHARLIE: %+v", charlie)
	}
	if c := request(t, base, host, "POST", "/api/v1/partners", tok, partners.PartnerCreateBody{Name: "Copy", Code: "ib-atlas-api"}); c.status != 422 ||
		!strings.Contains(c.body, `"code"`) {
		t.Errorf("a code another partner holds (in other case): %d %.300s", c.status, c.body)
	}
	if c := request(t, base, host, "POST", "/api/v1/partners/"+atlas.ID+"/moves", tok, partners.MoveBody{ParentID: &charlie.ID, Reason: "loop"}); c.status != 422 ||
		!strings.Contains(c.body, `"parent_id"`) {
		t.Errorf("a move that makes a cycle: %d %.300s", c.status, c.body)
	}
	from := time.Now().Add(-time.Hour).UTC()
	decode[partners.PartnerResponse](t, request(t, base, host, "POST", "/api/v1/partners/"+charlie.ID+"/moves", tok,
		partners.MoveBody{ParentID: &atlas.ID, EffectiveFrom: &from, Reason: "Charlie reports to Atlas directly"}), 200)
	tree := decode[partners.TreeResponse](t, request(t, base, host, "GET", "/api/v1/partners/"+atlas.ID+"/tree", tok, nil), 200)
	if len(tree.Nodes) != 3 || tree.Nodes[1].Depth != 1 || tree.Nodes[2].Depth != 1 {
		t.Errorf("ATLAS's tree now: %+v", tree.Nodes)
	}
	past := from.Add(-time.Minute).Format(time.RFC3339)
	if old := decode[partners.TreeResponse](t, request(t, base, host, "GET", "/api/v1/partners/"+atlas.ID+"/tree?at="+past, tok, nil), 200); len(old.Nodes) != 3 ||
		old.Nodes[2].Depth != 2 {
		t.Errorf("ATLAS's tree before the move: %+v", old.Nodes)
	}
	var client uuid.UUID
	if err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM clients ORDER BY created_at LIMIT 1`).Scan(&client)
	}); err != nil {
		t.Fatal(err)
	}
	if c := request(t, base, host, "POST", "/api/v1/partner-attributions", tok, partners.AttributionBody{ClientID: client.String(), PartnerID: &bravo.ID}); c.status != 422 ||
		!strings.Contains(c.body, `"reason"`) {
		t.Errorf("a re-attribution without a reason: %d %.300s", c.status, c.body)
	}
	att := decode[partners.AttributionResponse](t, request(t, base, host, "POST", "/api/v1/partner-attributions", tok,
		partners.AttributionBody{ClientID: client.String(), PartnerID: &bravo.ID, Reason: "the client's IB changed"}), 200)
	if att.PartnerID == nil || *att.PartnerID != bravo.ID {
		t.Errorf("the attribution: %+v", att)
	}
	if c := request(t, base, host, "POST", "/api/v1/partner-attributions", tok, partners.AttributionBody{ClientID: uuid.NewString(), Reason: "x"}); c.status != 404 {
		t.Errorf("an unknown client: %d", c.status)
	}
	list := decode[partners.CommissionsResponse](t, request(t, base, host, "GET", "/api/v1/partners/"+bravo.ID+"/commissions?kind=paid&from=2026-01-01", tok, nil), 200)
	if list.Commissions == nil {
		t.Error("commissions is not a list")
	}
	if c := request(t, base, host, "GET", "/api/v1/partners/"+bravo.ID+"/commissions?reason=because", tok, nil); c.status != 422 || !strings.Contains(c.body, `"reason"`) {
		t.Errorf("an unknown reason filter: %d %.300s", c.status, c.body)
	}
	settings := decode[partners.SettingsBody](t, request(t, base, host, "PUT", "/api/v1/partner-settings", tok, partners.SettingsBody{SymbolSuffixes: []string{"pro", "m"}}), 200)
	if len(settings.SymbolSuffixes) != 2 || settings.ReferredClientDisplay != "masked_email" {
		t.Errorf("settings: %+v", settings)
	}
	if c := request(t, base, host, "PUT", "/api/v1/partner-settings", tok, partners.SettingsBody{ReferredClientDisplay: "everything"}); c.status != 422 ||
		!strings.Contains(c.body, `"referred_client_display"`) {
		t.Errorf("an unknown display rule: %d %.300s", c.status, c.body)
	}
	settings = decode[partners.SettingsBody](t, request(t, base, host, "PUT", "/api/v1/partner-settings", tok, partners.SettingsBody{ReferredClientDisplay: "masked_name"}), 200)
	if len(settings.SymbolSuffixes) != 2 || settings.ReferredClientDisplay != "masked_name" {
		t.Errorf("the display rule changed alone: %+v", settings)
	}
	// Every change is in the audit trail as a sentence.
	page, err := a.audit.List(context.Background(), ten, audit.Filter{ActionPrefix: "partner."}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, r := range page.Rows {
		actions[r.Action] = true
	}
	for _, want := range []string{partners.ActionPlanSaved, partners.ActionCreated, partners.ActionMoved, partners.ActionClientAttributed, partners.ActionSettingsChanged} {
		if !actions[want] {
			t.Errorf("%s is not in the audit trail (%v)", want, actions)
		}
	}
}

// A trader applies from the portal; the ib_manager finds the application among those waiting and approves it.
func TestATraderAppliesToBecomeAPartnerAndAnIBManagerApproves(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	host := hostOf(ten)
	tr := request(t, base, host, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: identity.DemoTraderEmail(ten), Password: identity.DemoPassword})
	var trader identity.TokenResponse
	if err := json.Unmarshal([]byte(tr.body), &trader); err != nil || tr.status != 200 {
		t.Fatalf("trader login: %d %s", tr.status, tr.body)
	}
	if c := request(t, base, host, "GET", "/api/v1/portal/partner-application", trader.AccessToken, nil); c.status != 404 {
		t.Errorf("no application yet: %d", c.status)
	}
	app := decode[partners.ApplicationResponse](t, request(t, base, host, "POST", "/api/v1/portal/partner-application", trader.AccessToken,
		partners.ApplicationBody{Note: "I teach a trading class"}), 201)
	if app.Status != "applied" {
		t.Errorf("the application: %+v", app)
	}
	if c := request(t, base, host, "POST", "/api/v1/portal/partner-application", trader.AccessToken, partners.ApplicationBody{}); c.status != 409 {
		t.Errorf("a second application: %d %.200s", c.status, c.body)
	}
	tok := staffLogin(t, base, ten, "ib_manager").AccessToken
	waiting := decode[partners.PartnersResponse](t, request(t, base, host, "GET", "/api/v1/partners?status=applied", tok, nil), 200)
	if len(waiting.Partners) != 1 || waiting.Partners[0].Note != "I teach a trading class" {
		t.Fatalf("applications waiting: %+v", waiting)
	}
	id := waiting.Partners[0].ID
	if c := request(t, base, host, "POST", "/api/v1/partners/"+id+"/reject", tok, partners.RejectBody{}); c.status != 422 || !strings.Contains(c.body, `"reason"`) {
		t.Errorf("a rejection without a reason: %d %.200s", c.status, c.body)
	}
	decode[partners.PartnerResponse](t, request(t, base, host, "POST", "/api/v1/partners/"+id+"/codes", tok, partners.CodeBody{Code: "CLASS-1", Campaign: "class"}), 201)
	if p := decode[partners.PartnerResponse](t, request(t, base, host, "POST", "/api/v1/partners/"+id+"/approve", tok, partners.ApproveBody{}), 200); p.Status != "active" {
		t.Errorf("approved: %+v", p)
	}
	if c := request(t, base, host, "POST", "/api/v1/partners/"+id+"/approve", tok, partners.ApproveBody{}); c.status != 409 {
		t.Errorf("approving twice: %d %.200s", c.status, c.body)
	}
	if got := decode[partners.ApplicationResponse](t, request(t, base, host, "GET", "/api/v1/portal/partner-application", trader.AccessToken, nil), 200); got.Status != "active" ||
		len(got.Codes) != 1 {
		t.Errorf("the trader sees %+v", got)
	}
}

// The ib_manager's pages: the partners list with codes, plans and parents, a partner's page with its tree and its
// commission rows' filters; a bad filter is said on the page (422); the plan editor with its preview (and the API's
// preview), a move, an approval and a re-attribution from the partner page, the commission report and its CSV;
// sales is refused.
func TestPartnerPagesAsAnIBManager(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	ctx := context.Background()
	partnersForMatrix(t, a, ten)
	list, err := a.partners.Partners(ctx, ten, "")
	if err != nil || len(list) != 1 {
		t.Fatalf("partners: %v %v", list, err)
	}
	top := list[0]
	sub, err := a.partners.CreatePartner(ctx, ten, audit.System("test"), partners.PartnerInput{Name: "Sub Introducer", ParentID: &top.ID, PlanID: top.PlanID,
		Code: "SUB-1", Campaign: "autumn"})
	if err != nil {
		t.Fatal(err)
	}
	c := newPageClient(t, base, ten)
	c.login("/backoffice", demoEmail(ten, "ib_manager"), identity.DemoPassword)
	home := c.get("/backoffice")
	if !strings.Contains(home.body, `href="/backoffice/partners"`) {
		t.Error("no Partners entry in the ib_manager's menu")
	}
	page := c.get("/backoffice/partners")
	if page.status != 200 || !strings.Contains(page.body, "Sub Introducer") || !strings.Contains(page.body, "SUB-1 (autumn)") ||
		!strings.Contains(page.body, "Matrix IB") {
		t.Errorf("the partners list: %d %.2000s", page.status, page.body)
	}
	one := c.get("/backoffice/partners/" + top.ID.String())
	if one.status != 200 || !strings.Contains(one.body, "Its tree now") || !strings.Contains(one.body, `href="/backoffice/partners/`+sub.ID.String()+`"`) ||
		!strings.Contains(one.body, "No commission row here.") {
		t.Errorf("the partner's page: %d %.3000s", one.status, one.body)
	}
	if bad := c.get("/backoffice/partners/" + top.ID.String() + "?level=x"); bad.status != 422 || !strings.Contains(bad.body, "level: must be a level") {
		t.Errorf("a bad filter: %d", bad.status)
	}
	if r := c.get("/backoffice/partners/" + uuid.NewString()); r.status != 404 {
		t.Errorf("an unknown partner: %d", r.status)
	}

	// The plan editor: a refusal beside its field (the API's 422 fields), a preview of the typed rules, a save, an
	// edit as version 2.
	if r := c.get("/backoffice/partner-plans"); r.status != 200 || !strings.Contains(r.body, "Matrix plan") {
		t.Errorf("the plans: %d %.300s", r.status, pageText(r.body))
	}
	blank := c.get("/backoffice/partner-plans/new")
	planForm := func(perLot, do string) url.Values {
		return url.Values{"csrf": {csrfOf(t, blank.body)}, "name": {"Gold plan"}, "currency": {"USD"}, "rules.lines.0.symbol": {""},
			"rules.lines.0.group": {""}, "rules.lines.0.per_lot": {perLot}, "rules.lines.1.symbol": {""}, "rules.lines.1.group": {""},
			"rules.lines.1.per_lot": {""}, "rules.pay_on": {"close"}, "deal.partner": {sub.ID.String()}, "deal.symbol": {"EURUSD"},
			"deal.lots": {"1"}, "do": {do}}
	}
	if r := c.do("POST", "/backoffice/partner-plans/new", planForm("7, x", "save")); r.status != 422 ||
		!strings.Contains(r.body, "per_lot.1: must be a decimal number") {
		t.Errorf("a bad amount: %d %.500s", r.status, pageText(r.body))
	}
	if r := c.do("POST", "/backoffice/partner-plans/new", planForm("7, 2, 1", "preview")); r.status != 200 ||
		!strings.Contains(r.body, "this deal would pay Sub Introducer 7.00 USD and Matrix IB 2.00 USD") {
		t.Errorf("the preview: %d %.1500s", r.status, pageText(r.body))
	}
	saved := c.do("POST", "/backoffice/partner-plans/new", planForm("7, 2, 1", "save"))
	if saved.status != 303 || !strings.HasPrefix(saved.header.Get("Location"), "/backoffice/partner-plans/") {
		t.Fatalf("the save: %d %q %.300s", saved.status, saved.header.Get("Location"), pageText(saved.body))
	}
	planPage := c.get(saved.header.Get("Location"))
	if planPage.status != 200 || !strings.Contains(planPage.body, "Saved as version 1") {
		t.Errorf("the saved plan: %d %.300s", planPage.status, pageText(planPage.body))
	}
	edit := planForm("8, 2", "save")
	edit.Set("csrf", csrfOf(t, planPage.body))
	planPath, _, _ := strings.Cut(saved.header.Get("Location"), "?")
	if r := c.do("POST", planPath, edit); r.status != 303 {
		t.Errorf("the edit: %d %.300s", r.status, pageText(r.body))
	}
	if r := c.get(planPath); !strings.Contains(r.body, "version 2)") || !strings.Contains(r.body, `value="8, 2"`) {
		t.Errorf("the edited plan: %.300s", pageText(r.body))
	}
	// The API's preview: the same sentence; a bad field is a 422 naming it.
	tok := staffLogin(t, base, ten, "ib_manager").AccessToken
	pv := decode[partners.PreviewResponse](t, request(t, base, hostOf(ten), "POST", "/api/v1/partner-plans/preview", tok,
		partners.PreviewBody{PartnerID: sub.ID.String(), Symbol: "EURUSD", Lots: "2"}), 200)
	if pv.Says != "this deal would pay Sub Introducer 14.00 USD and Matrix IB 4.00 USD" || len(pv.Levels) != 2 {
		t.Errorf("the API's preview: %+v", pv)
	}
	if r := request(t, base, hostOf(ten), "POST", "/api/v1/partner-plans/preview", tok, partners.PreviewBody{PartnerID: sub.ID.String(), Symbol: "EURUSD",
		Lots: "-1"}); r.status != 422 || !strings.Contains(r.body, `"lots"`) {
		t.Errorf("a preview of negative lots: %d %.300s", r.status, r.body)
	}

	// Changes on the partner page: a move without a reason is refused beside the field; with one it is done.
	one = c.get("/backoffice/partners/" + sub.ID.String())
	move := url.Values{"csrf": {csrfOf(t, one.body)}, "parent_id": {""}, "effective_from": {""}, "reason": {""}}
	if r := c.do("POST", "/backoffice/partners/"+sub.ID.String()+"/move", move); r.status != 422 || !strings.Contains(r.body, `id="move-reason-error"`) {
		t.Errorf("a move without a reason: %d %.500s", r.status, pageText(r.body))
	}
	move.Set("reason", "runs on its own now")
	if r := c.do("POST", "/backoffice/partners/"+sub.ID.String()+"/move", move); r.status != 303 {
		t.Errorf("the move: %d %.300s", r.status, pageText(r.body))
	}
	if p, err := a.partners.Partner(ctx, ten, sub.ID); err != nil || p.ParentID != nil {
		t.Errorf("after the move: %+v %v", p, err)
	}
	// An application approved on its page; a client of the partner re-attributed from its page, with a reason.
	var clientIDs []uuid.UUID
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM clients ORDER BY created_at LIMIT 2`)
		if err != nil {
			return err
		}
		clientIDs, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	}); err != nil || len(clientIDs) != 2 {
		t.Fatalf("two clients: %v %v", clientIDs, err)
	}
	applied, err := a.partners.Apply(ctx, ten, clientIDs[0], "I teach a trading class")
	if err != nil {
		t.Fatal(err)
	}
	page = c.get("/backoffice/partners/" + applied.ID.String())
	if !strings.Contains(page.body, `id="approve-form"`) || !strings.Contains(page.body, `id="reject-form"`) {
		t.Errorf("an application's page has no approval: %.300s", pageText(page.body))
	}
	if r := c.do("POST", "/backoffice/partners/"+applied.ID.String()+"/approve", url.Values{"csrf": {csrfOf(t, page.body)}, "plan_id": {top.PlanID.String()}}); r.status != 303 {
		t.Errorf("the approval: %d %.300s", r.status, pageText(r.body))
	}
	if p, err := a.partners.Partner(ctx, ten, applied.ID); err != nil || p.Status != partners.StatusActive || p.PlanID == nil {
		t.Errorf("after the approval: %+v %v", p, err)
	}
	if err := a.partners.Attribute(ctx, ten, audit.System("test"), clientIDs[1], &sub.ID, time.Time{}, "test"); err != nil {
		t.Fatal(err)
	}
	page = c.get("/backoffice/partners/" + sub.ID.String())
	attr := url.Values{"csrf": {csrfOf(t, page.body)}, "client_id": {clientIDs[1].String()}, "partner_id": {top.ID.String()}, "effective_from": {""}, "reason": {""}}
	if r := c.do("POST", "/backoffice/partners/"+sub.ID.String()+"/attribute", attr); r.status != 422 || !strings.Contains(r.body, `id="attribute-reason-error"`) {
		t.Errorf("a re-attribution without a reason: %d", r.status)
	}
	attr.Set("reason", "the client asked for Matrix IB")
	if r := c.do("POST", "/backoffice/partners/"+sub.ID.String()+"/attribute", attr); r.status != 303 {
		t.Errorf("the re-attribution: %d %.300s", r.status, pageText(r.body))
	}
	if now, err := a.partners.AttributedTo(ctx, ten, clientIDs[1], time.Now()); err != nil || now == nil || *now != top.ID {
		t.Errorf("after the re-attribution: %v %v", now, err)
	}
	// A client who is not the partner's now cannot be named from its page.
	if r := c.do("POST", "/backoffice/partners/"+sub.ID.String()+"/attribute", attr); r.status != 422 || !strings.Contains(r.body, `id="attribute-client-error"`) {
		t.Errorf("re-attributing a client of another partner: %d", r.status)
	}

	// The report: its page, its CSV, a bad filter said on the page; the API's shape.
	if r := c.get("/backoffice/partner-reports"); r.status != 200 || !strings.Contains(r.body, `id="report"`) {
		t.Errorf("the report: %d %.300s", r.status, pageText(r.body))
	}
	if r := c.get("/backoffice/partner-reports/commissions.csv?per=month"); r.status != 200 || !strings.HasPrefix(r.body, "period,partner_id,partner") {
		t.Errorf("the report's CSV: %d %.300s", r.status, r.body)
	}
	if r := c.get("/backoffice/partner-reports?per=week"); r.status != 422 || !strings.Contains(r.body, "per: must be day or month") {
		t.Errorf("a bad report filter: %d", r.status)
	}
	decode[partners.ReportResponse](t, request(t, base, hostOf(ten), "GET", "/api/v1/partner-reports/commissions?per=day", tok, nil), 200)

	sales := newPageClient(t, base, ten)
	// The client page: the header says who referred the client and that the applicant is a partner; the Partners tab
	// attributes a client from a date with a reason (a refusal told on the tab), and lists the attribution over time.
	hub := c.get("/backoffice/clients/" + clientIDs[0].String() + "?tab=partners")
	if hub.status != 200 || !strings.Contains(hub.body, `id="own-partner"`) || !strings.Contains(hub.body, "Is a partner") ||
		!strings.Contains(hub.body, `id="client-attributions"`) {
		t.Errorf("the partner-client's Partners tab: %d %.2000s", hub.status, pageText(hub.body))
	}
	tab := "/backoffice/clients/" + clientIDs[1].String() + "?tab=partners"
	r := c.postWithCSRF(tab, "/backoffice/partners/attributions", url.Values{"client_id": {clientIDs[1].String()}, "partner_id": {top.ID.String()}})
	if loc := r.header.Get("Location"); r.status != 303 || !strings.Contains(loc, "refused_reason=") {
		t.Fatalf("an attribution without a reason: %d %s", r.status, loc)
	} else if back := c.get(loc); !strings.Contains(back.body, `role="alert">reason:`) {
		t.Errorf("the refusal is not on the tab: %.1500s", pageText(back.body))
	}
	r = c.postWithCSRF(tab, "/backoffice/partners/attributions", url.Values{"client_id": {clientIDs[1].String()}, "partner_id": {top.ID.String()},
		"reason": {"the client asked to follow Matrix IB"}})
	if r.status != 303 || !strings.HasSuffix(r.header.Get("Location"), "notice=attributed") {
		t.Fatalf("the attribution: %d %s", r.status, r.header.Get("Location"))
	}
	if hub = c.get(tab); !strings.Contains(hub.body, "By staff: the client asked to follow Matrix IB") || !strings.Contains(hub.body, "Referred by") || !strings.Contains(hub.body, `>Matrix IB<`) {
		t.Errorf("after the attribution: %.2500s", pageText(hub.body))
	}

	// The settings page: the rule's choices in words, a refused suffix told beside its field, a save.
	settings := c.get("/backoffice/settings/partners")
	if settings.status != 200 || !strings.Contains(settings.body, `value="masked_email" checked`) || !strings.Contains(settings.body, "the first name and the last name") {
		t.Errorf("the settings page: %d %.2000s", settings.status, pageText(settings.body))
	}
	if r := c.postWithCSRF("/backoffice/settings/partners", "/backoffice/settings/partners", url.Values{"referred_client_display": {"reference"}, "symbol_suffixes": {"m, a-suffix-far-too-long"}}); r.status != 422 ||
		!strings.Contains(r.body, `id="symbol_suffixes-error"`) || !strings.Contains(r.body, `value="reference" checked`) {
		t.Errorf("a refused suffix: %d %.2000s", r.status, pageText(r.body))
	}
	if r := c.postWithCSRF("/backoffice/settings/partners", "/backoffice/settings/partners", url.Values{"referred_client_display": {"reference"}, "symbol_suffixes": {"m, pro"}}); r.status != 303 {
		t.Errorf("saving the settings: %d %.500s", r.status, pageText(r.body))
	}
	if st, err := a.partners.Settings(ctx, ten); err != nil || st.ClientDisplay != partners.DisplayReference || len(st.SymbolSuffixes) != 2 {
		t.Errorf("saved settings: %+v %v", st, err)
	}
	sales.login("/backoffice", demoEmail(ten, "sales"), identity.DemoPassword)
	if r := sales.postWithCSRF("/backoffice", "/backoffice/settings/partners", url.Values{"referred_client_display": {"email"}}); r.status != 403 {
		t.Errorf("sales saving the partner settings: %d", r.status)
	}
	if r := sales.get("/backoffice/clients/" + clientIDs[1].String() + "?tab=partners"); r.status == 200 && strings.Contains(r.body, `id="client-attributions"`) {
		t.Error("sales sees the Partners tab")
	}
	for _, path := range []string{"/backoffice/partners", "/backoffice/partner-plans", "/backoffice/partner-plans/new", "/backoffice/partner-reports", "/backoffice/settings/partners"} {
		if r := sales.get(path); r.status != 403 {
			t.Errorf("sales on %s: %d", path, r.status)
		}
	}
}

// The demo IB (ib@<slug>.demo, the client behind a partner) opens the partner area: through the API its totals are
// those the ib_manager's API shows for the partner (earned and the ledger wallet), its rows are its own; through the
// page it sees its links with QR codes and a CSV of its rows. The demo trader, no partner, is told how to apply
// (403 not-a-partner in the API), and tenant B's IB is refused on A's host.
func TestTheIBSeesTheirPartnerAreaWithTheBackOfficesTotalsAndOthersAreToldHowToApply(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	other, _ := demoTenant(t, a)
	host := hostOf(ten)
	ctx := context.Background()
	var ibClient uuid.UUID
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM clients WHERE email = $1`, identity.DemoIBEmail(ten)).Scan(&ibClient)
	}); err != nil {
		t.Fatal(err)
	}
	r, err := partners.RulesBody{Lines: []partners.LineBody{{PerLot: []string{"7", "2", "1"}}}}.ToRules()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := a.partners.CreatePlan(ctx, ten, audit.System("test"), "Portal plan", "USD", r)
	if err != nil {
		t.Fatal(err)
	}
	atlas, err := a.partners.CreatePartner(ctx, ten, audit.System("test"), partners.PartnerInput{Name: "Atlas Partners", ClientID: &ibClient,
		PlanID: &plan.ID, Code: "IB-ATLAS", Campaign: "spring"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.partners.CreatePartner(ctx, ten, audit.System("test"), partners.PartnerInput{Name: "Bravo Introducers", PlanID: &plan.ID,
		ParentID: &atlas.ID, Code: "IB-BRAVO"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.partners.CreatePartner(ctx, ten, audit.System("test"), partners.PartnerInput{Name: "Elsewhere Ltd", PlanID: &plan.ID, Code: "IB-ELSE"}); err != nil {
		t.Fatal(err)
	}
	login := func(ten tenants.Tenant, email string) string {
		c := request(t, base, hostOf(ten), "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: email, Password: identity.DemoPassword})
		var tok identity.TokenResponse
		if err := json.Unmarshal([]byte(c.body), &tok); err != nil || c.status != 200 {
			t.Fatalf("%s: %d %s", email, c.status, c.body)
		}
		return tok.AccessToken
	}
	ib, trader := login(ten, identity.DemoIBEmail(ten)), login(ten, identity.DemoTraderEmail(ten))
	area := decode[partners.PortalPartnerResponse](t, request(t, base, host, "GET", "/api/v1/portal/partner", ib, nil), 200)
	boss := decode[partners.PartnerResponse](t, request(t, base, host, "GET", "/api/v1/partners/"+atlas.ID.String(), staffLogin(t, base, ten, "ib_manager").AccessToken, nil), 200)
	if area.Name != "Atlas Partners" || len(area.Links) != 1 || area.Links[0].Link != "/?ref=IB-ATLAS" || area.Links[0].Campaign != "spring" ||
		len(area.SubIBs) != 1 || area.SubIBs[0].Name != "Bravo Introducers" || area.Currency != "USD" || len(area.Days) != partners.EarningsDays {
		t.Errorf("the partner area: %+v", area)
	}
	if len(area.Earned) != len(boss.Earned) || len(area.Wallet) != len(boss.Wallet) {
		t.Errorf("portal %v / %v, back office %v / %v", area.Earned, area.Wallet, boss.Earned, boss.Wallet)
	}
	for code, v := range boss.Earned {
		if area.Earned[code] != v || area.Wallet[code] != boss.Wallet[code] {
			t.Errorf("%s: portal %s / %s, back office %s / %s", code, area.Earned[code], area.Wallet[code], v, boss.Wallet[code])
		}
	}
	rows := decode[partners.CommissionsResponse](t, request(t, base, host, "GET", "/api/v1/portal/partner/commissions?from=2026-01-01", ib, nil), 200)
	for _, row := range rows.Commissions {
		if row.PartnerID == nil || *row.PartnerID != atlas.ID.String() {
			t.Errorf("a row of another partner: %+v", row)
		}
	}
	if c := request(t, base, host, "GET", "/api/v1/portal/partner/commissions?from=yesterday", ib, nil); c.status != 422 || !strings.Contains(c.body, `"from"`) {
		t.Errorf("a bad period: %d %.200s", c.status, c.body)
	}
	if c := request(t, base, host, "GET", "/api/v1/portal/partner?clients_cursor=made-up", ib, nil); c.status != 422 || !strings.Contains(c.body, `"clients_cursor"`) {
		t.Errorf("a page of clients the portal did not give out: %d %.200s", c.status, c.body)
	}
	if c := request(t, base, host, "GET", "/api/v1/portal/partner", trader, nil); c.status != 403 || !strings.Contains(c.body, "partner-application") {
		t.Errorf("the trader, no partner: %d %.300s", c.status, c.body)
	}
	if c := request(t, base, host, "GET", "/api/v1/portal/partner", login(other, identity.DemoIBEmail(other)), nil); c.status != 401 {
		t.Errorf("tenant B's IB on A's host: %d %.200s", c.status, c.body)
	}
	page := newPageClient(t, base, ten)
	page.login("/portal", identity.DemoIBEmail(ten), identity.DemoPassword)
	res := page.get("/portal/partner")
	if res.status != 200 || !strings.Contains(res.body, `<svg class="qr"`) || !strings.Contains(res.body, "/?ref=IB-ATLAS") ||
		!strings.Contains(res.body, `class="earnings-chart"`) || !strings.Contains(pageText(res.body), "Bravo Introducers") {
		t.Errorf("the partner page: %d %.600s", res.status, pageText(res.body))
	}
	if bad := page.get("/portal/partner?clients_cursor=made-up"); bad.status != 422 || !strings.Contains(pageText(bad.body), "here are the newest") {
		t.Errorf("the partner page with a made-up page of clients: %d %.300s", bad.status, pageText(bad.body))
	}
	if csv := page.get("/portal/partner/commissions.csv?from=2026-01-01"); csv.status != 200 || !strings.HasPrefix(csv.body, "deal_time_utc,ticket") {
		t.Errorf("the CSV: %d %.300s", csv.status, csv.body)
	}
	// Live: no meta refresh; the page's script, and the partner's own stream (the trader, no partner, gets 204).
	if strings.Contains(res.body, `http-equiv="refresh"`) || !strings.Contains(res.body, `src="/portal/partner/live.js"`) || !strings.Contains(res.body, "data-live") {
		t.Errorf("the partner page is not live: %.300s", res.body)
	}
	if live := page.send("GET", "/portal/partner/live", "", nil, "text/event-stream"); live.status != 200 ||
		!strings.HasPrefix(live.header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("the IB's live stream: %d %v", live.status, live.header)
	}
	dana := newPageClient(t, base, ten)
	dana.login("/portal", identity.DemoTraderEmail(ten), identity.DemoPassword)
	if res := dana.get("/portal/partner"); res.status != 200 || !strings.Contains(pageText(res.body), "Become a partner") ||
		strings.Contains(res.body, "IB-ATLAS") {
		t.Errorf("the trader's partner page: %d %.400s", res.status, pageText(res.body))
	}
	if live := dana.send("GET", "/portal/partner/live", "", nil, "text/event-stream"); live.status != 204 {
		t.Errorf("the trader's live stream: %d, want 204", live.status)
	}
	payoutsAndRecalcThroughHTTP(t, a, base, ten, atlas, ib, trader, page)
}

// payoutsAndRecalcThroughHTTP walks the IB's payouts (API and page) and the ib_manager's recalculation (API, CLI)
// in the partner area's world: Atlas's wallet holds 50.00 USD of earnings.
func payoutsAndRecalcThroughHTTP(t *testing.T, a *app, base string, ten tenants.Tenant, atlas partners.Partner, ib, trader string, page *pageClient) {
	ctx, host := context.Background(), hostOf(ten)
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := a.ledger.PostTx(ctx, tx, ledger.Entry{Key: "test:atlas-earnings", Kind: "partner_earnings", Postings: []ledger.Posting{
			{Account: ledger.PartnerWallet(atlas.ID, money.MustLookup("USD")), Amount: 5000}, {Account: ledger.IBCommissions(money.MustLookup("USD")), Amount: -5000}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	key := func(k string) []string { return []string{"Idempotency-Key", k} }
	const path = "/api/v1/portal/partner/payouts"
	if c := request(t, base, host, "POST", path, ib, partners.PayoutBody{Amount: "1"}); c.status != 400 {
		t.Errorf("a payout without an Idempotency-Key: %d %.200s", c.status, c.body)
	}
	if c := request(t, base, host, "POST", path, ib, partners.PayoutBody{Amount: "50.01"}, key("too-much")...); c.status != 422 || !strings.Contains(c.body, `"amount"`) {
		t.Errorf("more than the wallet: %d %.300s", c.status, c.body)
	}
	if c := request(t, base, host, "POST", path, trader, partners.PayoutBody{Amount: "1"}, key("no-partner")...); c.status != 403 {
		t.Errorf("the trader's payout: %d %.200s", c.status, c.body)
	}
	first := decode[partners.PayoutResponse](t, request(t, base, host, "POST", path, ib, partners.PayoutBody{Amount: "20.00"}, key("p1")...), 201)
	again := decode[partners.PayoutResponse](t, request(t, base, host, "POST", path, ib, partners.PayoutBody{Amount: "20.00"}, key("p1")...), 201)
	if first.ID != again.ID || first.Amount != "20.00" || first.Currency != "USD" {
		t.Errorf("the payout and its repeat: %+v %+v", first, again)
	}
	// The page's form: to withdraw, then the withdrawal page with the amount.
	res := page.get("/portal/partner")
	if !strings.Contains(pageText(res.body), "Payouts") || !strings.Contains(res.body, `id="payout-form"`) {
		t.Errorf("the partner page's payouts: %.400s", pageText(res.body))
	}
	form := url.Values{"csrf": {csrfOf(t, res.body)}, "key": {"form-1"}, "amount": {"5.00"}, "currency": {"USD"}, "destination": {"withdrawal"}}
	if sent := page.do("POST", "/portal/partner/payouts", form); sent.status != 303 || !strings.HasPrefix(sent.header.Get("Location"), "/portal/withdrawals?amount=5.00") {
		t.Errorf("the page's payout: %d %s %.300s", sent.status, sent.header.Get("Location"), pageText(sent.body))
	}
	if sent := page.do("POST", "/portal/partner/payouts", form); sent.status != 303 { // a double submit: the same payout
		t.Errorf("the form sent twice: %d", sent.status)
	}
	form.Set("key", "form-2")
	form.Set("amount", "99")
	if sent := page.do("POST", "/portal/partner/payouts", form); sent.status != 422 || !strings.Contains(pageText(sent.body), "amount: is more than the 25.00 USD available") {
		t.Errorf("too much on the page: %d %.400s", sent.status, pageText(sent.body))
	}
	mine := decode[partners.PayoutsResponse](t, request(t, base, host, "GET", path, ib, nil), 200)
	boss := staffLogin(t, base, ten, "ib_manager").AccessToken
	theirs := decode[partners.PayoutsResponse](t, request(t, base, host, "GET", "/api/v1/partners/"+atlas.ID.String()+"/payouts", boss, nil), 200)
	if len(mine.Payouts) != 2 || len(theirs.Payouts) != 2 || mine.Payouts[0].Destination != partners.PayoutToWithdrawal {
		t.Errorf("the payouts: portal %+v, back office %+v", mine, theirs)
	}
	if b, err := a.ledger.Balance(ctx, ten, ledger.PartnerWallet(atlas.ID, money.MustLookup("USD")).Code); err != nil || b.Posted != 2500 {
		t.Errorf("Atlas's wallet after 25.00 paid out: %+v %v", b, err)
	}
	// The ib_manager's recalculation: a preview, a bad period, and the command line.
	day := time.Now().UTC().Format(time.DateOnly)
	rc := decode[partners.RecalcResponse](t, request(t, base, host, "POST", "/api/v1/partners/"+atlas.ID.String()+"/recalc", boss,
		partners.RecalcBody{From: day, To: day}), 200)
	if rc.Posted || rc.Changed != 0 {
		t.Errorf("the recalculation's preview: %+v", rc)
	}
	if c := request(t, base, host, "POST", "/api/v1/partners/"+atlas.ID.String()+"/recalc", boss, partners.RecalcBody{From: day, To: day, Post: true}); c.status != 422 ||
		!strings.Contains(c.body, `"reason"`) {
		t.Errorf("a post without a reason: %d %.300s", c.status, c.body)
	}
	var out strings.Builder
	if err := partnersCommand(ctx, a, []string{"recalc", "--tenant", ten.Slug, "--partner", "ib-atlas", "--from", day, "--to", day}, &out); err != nil ||
		!strings.Contains(out.String(), "Atlas Partners, "+day) || !strings.Contains(out.String(), "preview only") {
		t.Errorf("partners recalc: %v %s", err, out.String())
	}
	if err := partnersCommand(ctx, a, []string{"recalc", "--tenant", ten.Slug, "--partner", "NOPE", "--from", day, "--to", day}, &out); err == nil {
		t.Error("partners recalc with an unknown code")
	}
	sp := newPageClient(t, base, ten)
	sp.login("/backoffice", demoEmail(ten, "ib_manager"), identity.DemoPassword)
	pp := sp.get("/backoffice/partners/" + atlas.ID.String())
	if !strings.Contains(pageText(pp.body), "Recalculate") || !strings.Contains(pageText(pp.body), "to the wallet, to withdraw") {
		t.Errorf("the back office's partner page: %.400s", pageText(pp.body))
	}
	sent := sp.do("POST", "/backoffice/partners/"+atlas.ID.String()+"/recalc", url.Values{"csrf": {csrfOf(t, pp.body)}, "from": {day}, "to": {day}, "post": {"false"}})
	if sent.status != 200 || !strings.Contains(pageText(sent.body), "Nothing was written") {
		t.Errorf("the page's recalculation: %d %.400s", sent.status, pageText(sent.body))
	}

	// A referred client's deposits, from the payments room: a verified client, attributed to Atlas, wired 25.00 USD.
	dana := uuid.New()
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, tier)
			VALUES ($1, 'dana.referred@example.com', 'Dana', 'Referred', 'GB', '+442079460958', '1990-04-25', 'kyc_approved', 'standard')`, dana)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.payments.SaveGateway(ctx, ten, audit.System("test"), payments.GatewayInput{Slug: "bank", Name: "Bank wire", Kind: payments.KindManual,
		Currencies: []string{"USD"}, Enabled: true, Config: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.payments.RecordManual(ctx, ten, uuid.New(), payments.ManualDeposit{ClientID: dana, Gateway: "bank", Amount: "25.00", Currency: "USD",
		BankReference: "WIRE-IB-1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.partners.Attribute(ctx, ten, audit.System("test"), dana, &atlas.ID, time.Time{}, "referred by Atlas"); err != nil {
		t.Fatal(err)
	}
	area := decode[partners.PortalPartnerResponse](t, request(t, base, host, "GET", "/api/v1/portal/partner", ib, nil), 200)
	if len(area.Clients) != 1 || area.Clients[0].Deposits["USD"] != "25.00" || area.Clients[0].Client != "d***@example.com" {
		t.Errorf("the referred clients: %+v", area.Clients)
	}
}
