package main

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/privacy"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// registerForm is a valid registration form with a fresh email.
func registerForm(csrf string) url.Values {
	return url.Values{"csrf": {csrf}, "email": {"reg." + tenanttest.RandomLabel(10) + "@example.com"}, "password": {"Correct-Horse-Battery-9"},
		"confirm": {"Correct-Horse-Battery-9"}, "first_name": {"Grace"}, "last_name": {"Hopper"}, "country": {"US"},
		"phone": {"+1 415 555 0100"}, "date_of_birth": {"1985-12-09"}, "experience": {"some"}, "marketing_consent": {"on"}}
}

func referralOfClient(t *testing.T, a *app, ten tenants.Tenant, email string) (code, source string) {
	t.Helper()
	err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce(r.code, ''), coalesce(r.source, '') FROM clients c
			LEFT JOIN client_referrals r ON r.client_id = c.id WHERE c.email = $1`, email).Scan(&code, &source)
	})
	if err != nil {
		t.Fatalf("client %s: %v", email, err)
	}
	return code, source
}

func TestReferralLinkOnTheLandingPageIsCarriedToTheRegistration(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	r := c.get("/?ref=IB-ATLAS")
	var ck *http.Cookie
	for _, x := range r.cookies {
		if x.Name == "__Host-bd_ref" {
			ck = x
		}
	}
	if r.status != http.StatusOK || ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" ||
		ck.MaxAge < 29*24*3600 || !strings.HasPrefix(ck.Value, "IB-ATLAS.") {
		t.Fatalf("landing page with ?ref=: %d, cookie %+v", r.status, ck)
	}
	if r := c.get("/portal/login?ref=bad%20code"); c.cookies["__Host-bd_ref"].Value != ck.Value {
		t.Errorf("a malformed ?ref= replaced the cookie: %d", r.status)
	}
	page := c.get("/portal/register")
	if page.status != http.StatusOK || !strings.Contains(page.body, `name="referral_code" id="referral_code" value="IB-ATLAS"`) {
		t.Fatalf("register page: %d %.500s", page.status, page.body)
	}
	form := registerForm(csrfOf(t, page.body))
	form.Set("referral_code", "IB-ATLAS")
	res := c.do(http.MethodPost, "/portal/register", form)
	if res.status != http.StatusOK || !strings.Contains(res.body, "Check your email") {
		t.Fatalf("registration: %d %.500s", res.status, res.body)
	}
	if code, source := referralOfClient(t, a, ten, form.Get("email")); code != "IB-ATLAS" || source != clients.ReferralLink {
		t.Errorf("referral of the linked registration: %q %q", code, source)
	}
	// The same visitor types another code: typed wins, and is recorded as typed.
	form = registerForm(csrfOf(t, c.get("/portal/register").body))
	form.Set("referral_code", "FRIEND-9")
	if res := c.do(http.MethodPost, "/portal/register", form); res.status != http.StatusOK {
		t.Fatalf("second registration: %d %.300s", res.status, res.body)
	}
	if code, source := referralOfClient(t, a, ten, form.Get("email")); code != "FRIEND-9" || source != clients.ReferralTyped {
		t.Errorf("typed referral: %q %q", code, source)
	}
	// Through the API with the cookie and no code in the body: the link's code.
	req := map[string]any{"email": "api." + tenanttest.RandomLabel(8) + "@example.com", "password": "Correct-Horse-Battery-9", "first_name": "Alan",
		"last_name": "Turing", "country": "GB", "phone": "+44 20 7946 0000", "date_of_birth": "1980-06-23", "marketing_consent": false}
	buf, _ := json.Marshal(req)
	hreq, _ := http.NewRequest(http.MethodPost, base+"/api/v1/portal/registrations", strings.NewReader(string(buf)))
	hreq.Host = hostOf(ten)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.AddCookie(&http.Cookie{Name: "__Host-bd_ref", Value: ck.Value})
	hres, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	if hres.StatusCode != http.StatusCreated {
		t.Fatalf("API registration: %d", hres.StatusCode)
	}
	if code, source := referralOfClient(t, a, ten, req["email"].(string)); code != "IB-ATLAS" || source != clients.ReferralLink {
		t.Errorf("API registration's referral: %q %q", code, source)
	}
}

func TestRegistrationPageShowsEachRefusedFieldBesideItAndTheAPINamesThem(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	form := registerForm(csrfOf(t, c.get("/portal/register").body))
	form.Set("email", "someone@mailinator.com")
	form.Set("phone", "call me")
	form.Set("country", "KP") // blocked in the demo settings
	res := c.do(http.MethodPost, "/portal/register", form)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad registration: %d", res.status)
	}
	for _, want := range []string{`id="email-error"`, "disposable", `id="phone-error"`, `id="country-error"`, `value="Grace"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the page lacks %s: %.1500s", want, res.body)
		}
	}
	if strings.Contains(res.body, "Correct-Horse-Battery-9") {
		t.Error("the page echoes the password")
	}
	delete(form, "csrf")
	if res := c.do(http.MethodPost, "/portal/register", form); res.status != http.StatusForbidden {
		t.Errorf("registration without csrf: %d, want 403", res.status)
	}
	r := request(t, base, hostOf(ten), "POST", "/api/v1/portal/registrations", "", clients.RegistrationRequest{Email: "x@mailinator.com",
		Password: "short", FirstName: "A", LastName: "B", Country: "XX", Phone: "1", DateOfBirth: time.Now().Format(time.DateOnly)})
	var p web.Problem
	_ = json.Unmarshal([]byte(r.body), &p)
	got := map[string]bool{}
	for _, f := range p.Errors {
		got[f.Field] = true
	}
	for _, f := range []string{"email", "password", "country", "phone", "date_of_birth"} {
		if r.status != http.StatusUnprocessableEntity || !got[f] {
			t.Errorf("API: %d, no error for %s: %s", r.status, f, r.body)
		}
	}
}

var verifyPath = regexp.MustCompile(`/portal/verify/([A-Za-z0-9_-]+)`)

// runVerificationTasks runs the tenant's pending verification tasks as the worker would.
func runVerificationTasks(t *testing.T, a *app, ten tenants.Tenant) {
	t.Helper()
	var envs []jobs.Envelope
	err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE outbox SET enqueued_at = now() WHERE task_type = $1 AND enqueued_at IS NULL RETURNING idem_key, payload`,
			clients.TaskSendVerification)
		if err != nil {
			return err
		}
		envs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobs.Envelope, error) {
			e := jobs.Envelope{TenantID: ten.ID}
			return e, r.Scan(&e.Key, &e.Payload)
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		if err := a.clients.HandleSendVerification(context.Background(), ten, e); err != nil {
			t.Fatal(err)
		}
	}
}

func verificationLink(t *testing.T, to string) string {
	t.Helper()
	text := localsvc.AwaitMail(t, to, 1, 10*time.Second)[0].Text
	m := verifyPath.FindString(text)
	if m == "" {
		t.Fatalf("no link in %q", text)
	}
	return m
}

func TestRegisterThenVerifyByTheEmailedLinkThenSeeTheProfile(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	email := "journey." + tenanttest.RandomLabel(10) + "@example.com"
	r := request(t, base, hostOf(ten), "POST", "/api/v1/portal/registrations", "", clients.RegistrationRequest{Email: email,
		Password: "Correct-Horse-Battery-9", FirstName: "Katherine", LastName: "Johnson", Country: "US", Phone: "+1 757 555 0199",
		DateOfBirth: "1988-08-26", Experience: "experienced"})
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	c := newPageClient(t, base, ten)
	c.login("/portal", email, "Correct-Horse-Battery-9")
	if res := c.get("/portal/profile"); res.status != http.StatusOK || !strings.Contains(res.body, "not verified yet") {
		t.Fatalf("profile before verification: %d %.500s", res.status, res.body)
	}
	runVerificationTasks(t, a, ten)
	link := verificationLink(t, email)
	// Opening the link (as a mail scanner does, twice) changes nothing: it shows the confirmation button.
	var confirm pageResponse
	for range 2 {
		confirm = c.get(link)
		if confirm.status != http.StatusOK || !strings.Contains(confirm.body, "Confirm my email") ||
			!strings.Contains(confirm.body, `method="post" action="`+link+`"`) {
			t.Fatalf("opening the link: %d %.800s", confirm.status, confirm.body)
		}
	}
	if cl, err := a.clients.Get(context.Background(), ten, clientIDByEmail(t, a, ten, email)); err != nil || cl.Status != clients.StatusRegistered {
		t.Fatalf("after opening the link the client is %s (%v), want still registered", cl.Status, err)
	}
	if res := c.do(http.MethodPost, link, url.Values{}); res.status != http.StatusForbidden {
		t.Errorf("confirming without the csrf field: %d, want 403", res.status)
	}
	res := c.do(http.MethodPost, link, url.Values{"csrf": {csrfOf(t, confirm.body)}})
	if res.status != http.StatusOK || !strings.Contains(res.body, "Your email is verified") {
		t.Fatalf("verify: %d %.500s", res.status, res.body)
	}
	if res := c.get(link); res.status != http.StatusBadRequest || !strings.Contains(res.body, "already used") || !strings.Contains(res.body, "/portal/verify/resend") ||
		strings.Contains(res.body, "Confirm my email") {
		t.Errorf("opening the link again: %d %.500s", res.status, res.body)
	}
	if res := c.do(http.MethodPost, link, url.Values{"csrf": {csrfOf(t, confirm.body)}}); res.status != http.StatusBadRequest || !strings.Contains(res.body, "already used") {
		t.Errorf("confirming the link again: %d %.500s", res.status, res.body)
	}
	if res := c.get("/portal/verify/not-a-token"); res.status != http.StatusBadRequest || !strings.Contains(res.body, "not valid") {
		t.Errorf("an unknown link: %d %.500s", res.status, res.body)
	}
	prof := c.get("/portal/profile")
	if prof.status != http.StatusOK || !strings.Contains(prof.body, "Email verified") || strings.Contains(prof.body, "not verified yet") ||
		!strings.Contains(prof.body, "Your identity documents have not been submitted yet: deposits open once they are approved.") {
		t.Errorf("profile after verification: %d %.800s", prof.status, prof.body)
	}
	tok := request(t, base, hostOf(ten), "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: email, Password: "Correct-Horse-Battery-9"})
	var tr identity.TokenResponse
	_ = json.Unmarshal([]byte(tok.body), &tr)
	me := request(t, base, hostOf(ten), "GET", "/api/v1/portal/profile", tr.AccessToken, nil)
	var cr clients.ClientResponse
	if err := json.Unmarshal([]byte(me.body), &cr); err != nil || me.status != 200 || cr.Status != clients.StatusEmailVerified || cr.Tier != "pro" || cr.ManagerID == nil {
		t.Errorf("API profile: %d %s", me.status, me.body)
	}
	// The resend form answers the same for any address.
	form := url.Values{"csrf": {csrfOf(t, c.get("/portal/verify/resend").body)}, "email": {"nobody-" + tenanttest.RandomLabel(6) + "@example.com"}}
	if res := c.do(http.MethodPost, "/portal/verify/resend", form); res.status != http.StatusOK || !strings.Contains(res.body, "If that address is registered") {
		t.Errorf("resend: %d %.300s", res.status, res.body)
	}
}

func TestAccountManagersSeeOnlyTheirOwnClientsWhenTheTenantSaysSo(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	ctx := context.Background()
	sales := staffLogin(t, base, ten, "sales")
	all := func(tok string) []clients.ClientResponse {
		t.Helper()
		r := request(t, base, hostOf(ten), "GET", "/api/v1/clients?limit=200", tok, nil)
		var p web.Paged[clients.ClientResponse]
		if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		return p.Items
	}
	before := all(sales.AccessToken)
	st, err := a.clients.Settings(ctx, ten)
	if err != nil {
		t.Fatal(err)
	}
	st.ManagersSeeOwnClientsOnly = true
	if _, err := a.clients.SaveSettings(ctx, ten, audit.System("test"), st); err != nil {
		t.Fatal(err)
	}
	mine := all(sales.AccessToken)
	var salesID string
	r := request(t, base, hostOf(ten), "GET", "/api/v1/me", sales.AccessToken, nil)
	var me identity.MeResponse
	_ = json.Unmarshal([]byte(r.body), &me)
	salesID = me.ID
	if len(mine) == 0 || len(mine) >= len(before) {
		t.Fatalf("sales sees %d clients with the rule, %d without", len(mine), len(before))
	}
	for _, c := range mine {
		if c.ManagerID == nil || *c.ManagerID != salesID {
			t.Errorf("sales sees %s, managed by %v", c.Email, c.ManagerID)
		}
	}
	var other clients.ClientResponse
	for _, c := range before {
		if c.ManagerID != nil && *c.ManagerID != salesID {
			other = c
		}
	}
	if other.ID == "" {
		t.Fatal("no client managed by someone else in the demo")
	}
	if r := request(t, base, hostOf(ten), "GET", "/api/v1/clients/"+other.ID, sales.AccessToken, nil); r.status != 404 || strings.Contains(r.body, other.Email) {
		t.Errorf("another manager's client through the API: %d %.200s", r.status, r.body)
	}
	if r := request(t, base, hostOf(ten), "POST", "/api/v1/clients/"+other.ID+"/status", sales.AccessToken,
		clients.StatusChangeRequest{Action: "suspend", Reason: "x"}); r.status != 403 {
		t.Errorf("sales changing another manager's client: %d, want 403 (clients.status is compliance's)", r.status)
	}
	if r := request(t, base, hostOf(ten), "GET", "/api/v1/clients/"+mine[0].ID, sales.AccessToken, nil); r.status != 200 {
		t.Errorf("own client: %d", r.status)
	}
	pc := newPageClient(t, base, ten)
	pc.login("/backoffice", demoEmail(ten, "sales"), identity.DemoPassword)
	if res := pc.get("/backoffice/clients/" + other.ID); res.status != http.StatusNotFound || strings.Contains(res.body, other.Email) {
		t.Errorf("another manager's client page: %d", res.status)
	}
	if res := pc.get("/backoffice/clients"); res.status != http.StatusOK || strings.Contains(res.body, other.Email) {
		t.Errorf("the list page shows another manager's client: %d", res.status)
	}
	// Other roles are not limited.
	if n := len(all(staffLogin(t, base, ten, "compliance").AccessToken)); n != len(before) {
		t.Errorf("compliance sees %d of %d", n, len(before))
	}
}

func TestClientPageShowsTheGateAndChangesStatusWithAReason(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	c.login("/backoffice", admin.Email, identity.DemoPassword)
	list := c.get("/backoffice/clients?" + url.Values{"q": {"hannah"}}.Encode())
	m := regexp.MustCompile(`href="(/backoffice/clients/[0-9a-f-]{36})"`).FindStringSubmatch(list.body)
	if list.status != http.StatusOK || m == nil || strings.Contains(list.body, "Liam") {
		t.Fatalf("search for hannah: %d %.800s", list.status, list.body)
	}
	page := c.get(m[1])
	// The hub: the header and the first tab on the page itself; the timeline and the documents one tab away.
	activity, documents := c.get(m[1]+"?tab=activity"), c.get(m[1]+"?tab=documents")
	for _, want := range []string{"Hannah Schmidt", "Professional", "Sara Sales", "IB-ATLAS (from a referral link)", "KYC approved",
		"all required documents approved", "client.status_changed", `id="policy"`, "The client&#39;s KYC is approved.", `id="documents"`} {
		if !strings.Contains(page.body+activity.body+documents.body, want) {
			t.Errorf("client page lacks %q", want)
		}
	}
	if !strings.Contains(activity.body, "client.status_changed") || !strings.Contains(documents.body, `id="documents"`) {
		t.Error("the timeline or the documents are not on their tabs")
	}
	csrf := csrfOf(t, page.body)
	if r := c.do(http.MethodPost, m[1]+"/status", url.Values{"csrf": {csrf}, "action": {"suspend"}, "reason": {" "}}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "Write the reason") {
		t.Errorf("suspend without a reason: %d", r.status)
	}
	r := c.do(http.MethodPost, m[1]+"/status", url.Values{"csrf": {csrf}, "action": {"suspend"}, "reason": {"chargeback on a card deposit"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("suspend: %d %.300s", r.status, r.body)
	}
	page = c.get(html.UnescapeString(r.header.Get("Location")))
	for _, want := range []string{"The status is changed.", "chargeback on a card deposit", "nothing is possible until it is reinstated", "Reinstate (to KYC approved)"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("after suspending, the page lacks %q", want)
		}
	}
	if r := c.do(http.MethodPost, m[1]+"/status", url.Values{"csrf": {csrf}, "action": {"reinstate"}, "reason": {"investigation closed"}}); r.status != http.StatusSeeOther {
		t.Errorf("reinstate: %d", r.status)
	}
	// Filters and paging through the API.
	tok := staffLogin(t, base, ten, "admin").AccessToken
	for q, want := range map[string]int{"status=kyc_approved": 3, "status=closed": 1, "tier=pro": 2, "country=DE": 1, "manager=none": 1} {
		r := request(t, base, hostOf(ten), "GET", "/api/v1/clients?"+q, tok, nil)
		var p web.Paged[clients.ClientResponse]
		if err := json.Unmarshal([]byte(r.body), &p); err != nil || len(p.Items) != want {
			t.Errorf("?%s: %d items, want %d (%d %.200s)", q, len(p.Items), want, r.status, r.body)
		}
	}
	seen, cursor := map[string]bool{}, ""
	for range 10 {
		r := request(t, base, hostOf(ten), "GET", "/api/v1/clients?limit=5&cursor="+cursor, tok, nil)
		var p web.Paged[clients.ClientResponse]
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			if seen[it.ID] {
				t.Fatalf("%s on two pages", it.ID)
			}
			seen[it.ID] = true
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(seen) != 14 {
		t.Errorf("paging saw %d clients, want the 14 demo clients (the trader and the IB included)", len(seen))
	}
	if r := request(t, base, hostOf(ten), "GET", "/api/v1/clients?status=nope&manager=x", tok, nil); r.status != 422 ||
		!strings.Contains(r.body, `"status"`) || !strings.Contains(r.body, `"manager"`) {
		t.Errorf("bad filters: %d %s", r.status, r.body)
	}
}

func TestComplianceChangesAClientsStatusWithAReasonAndSalesGets403(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	compliance := staffLogin(t, base, ten, "compliance").AccessToken
	sales := staffLogin(t, base, ten, "sales").AccessToken
	r := request(t, base, hostOf(ten), "GET", "/api/v1/clients?status=kyc_approved", compliance, nil)
	var p web.Paged[clients.ClientResponse]
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != 200 || len(p.Items) == 0 {
		t.Fatalf("approved clients: %d %.300s", r.status, r.body)
	}
	id := p.Items[0].ID
	path := "/api/v1/clients/" + id + "/status"
	if r := request(t, base, hostOf(ten), "POST", path, sales, clients.StatusChangeRequest{Action: "suspend", Reason: "sales tries"}); r.status != 403 {
		t.Errorf("sales suspending through the API: %d %.200s, want 403", r.status, r.body)
	}
	if r := request(t, base, hostOf(ten), "POST", path, compliance, clients.StatusChangeRequest{Action: "suspend"}); r.status != 422 ||
		!strings.Contains(r.body, `"reason"`) {
		t.Errorf("compliance suspending without a reason: %d %.200s, want 422", r.status, r.body)
	}
	r = request(t, base, hostOf(ten), "POST", path, compliance, clients.StatusChangeRequest{Action: "suspend", Reason: "sanctions screening hit"})
	var cr clients.ClientResponse
	if err := json.Unmarshal([]byte(r.body), &cr); err != nil || r.status != 200 || cr.Status != clients.StatusSuspended {
		t.Fatalf("compliance suspending with a reason: %d %.300s", r.status, r.body)
	}

	// The page: sales sees no status form and is refused the POST; compliance sees it and reinstates.
	sp := newPageClient(t, base, ten)
	sp.login("/backoffice", demoEmail(ten, "sales"), identity.DemoPassword)
	page := sp.get("/backoffice/clients/" + id)
	if page.status != http.StatusOK || strings.Contains(page.body, "Change the status") || strings.Contains(page.body, `action="/backoffice/clients/`+id+`/status"`) {
		t.Errorf("sales's client page: %d, shows the status form: %v", page.status, strings.Contains(page.body, "Change the status"))
	}
	if !strings.Contains(page.body, "sanctions screening hit") {
		t.Error("the client page lacks the suspension's reason")
	}
	form := url.Values{"csrf": {csrfOf(t, page.body)}, "action": {"reinstate"}, "reason": {"sales tries"}}
	if r := sp.do(http.MethodPost, "/backoffice/clients/"+id+"/status", form); r.status != http.StatusForbidden {
		t.Errorf("sales posting the status form: %d, want 403", r.status)
	}
	cp := newPageClient(t, base, ten)
	cp.login("/backoffice", demoEmail(ten, "compliance"), identity.DemoPassword)
	page = cp.get("/backoffice/clients/" + id)
	if page.status != http.StatusOK || !strings.Contains(page.body, "Change the status") || !strings.Contains(page.body, "Reinstate (to KYC approved)") {
		t.Fatalf("compliance's client page: %d, no status form", page.status)
	}
	form = url.Values{"csrf": {csrfOf(t, page.body)}, "action": {"reinstate"}, "reason": {"screening hit was a namesake"}}
	if r := cp.do(http.MethodPost, "/backoffice/clients/"+id+"/status", form); r.status != http.StatusSeeOther {
		t.Errorf("compliance reinstating from the page: %d %.300s", r.status, r.body)
	}
	if c, err := a.clients.Get(context.Background(), ten, uuidOf(t, id)); err != nil || c.Status != clients.StatusKYCApproved {
		t.Errorf("after the reinstatement the client is %q (%v)", c.Status, err)
	}
}

func TestAnErasedClientsPageOffersNoStatusChangeAndRefusesReopening(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	tok := staffLogin(t, base, ten, "admin").AccessToken
	r := request(t, base, hostOf(ten), "GET", "/api/v1/clients?status=closed", tok, nil)
	var p web.Paged[clients.ClientResponse]
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != 200 || len(p.Items) != 1 {
		t.Fatalf("the closed demo client: %d %.300s", r.status, r.body)
	}
	id := p.Items[0].ID
	if err := a.gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		return a.clients.EraseTx(ctx, tx, uuidOf(t, id))
	}); err != nil {
		t.Fatal(err)
	}
	c := newPageClient(t, base, ten)
	c.login("/backoffice", admin.Email, identity.DemoPassword)
	page := c.get("/backoffice/clients/" + id)
	if page.status != http.StatusOK || !strings.Contains(page.body, `id="erased"`) || strings.Contains(page.body, "Change the status") ||
		strings.Contains(page.body, "Reopen") {
		t.Errorf("an erased client's page: %d, erased note %v, status form %v", page.status, strings.Contains(page.body, `id="erased"`),
			strings.Contains(page.body, "Change the status"))
	}
	form := url.Values{"csrf": {csrfOf(t, page.body)}, "action": {"reinstate"}, "reason": {"the person came back"}}
	if r := c.do(http.MethodPost, "/backoffice/clients/"+id+"/status", form); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "personal data was erased") {
		t.Errorf("reopening an erased client from the page: %d", r.status)
	}
	r = request(t, base, hostOf(ten), "POST", "/api/v1/clients/"+id+"/status", tok, clients.StatusChangeRequest{Action: "reinstate", Reason: "came back"})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "a returning person registers anew") {
		t.Errorf("reopening an erased client through the API: %d %.300s", r.status, r.body)
	}
}

func TestClientPageLinksToTheDataProtectionPageForPrivacyManagersOnly(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	r := request(t, base, hostOf(ten), "GET", "/api/v1/clients?limit=1", staffLogin(t, base, ten, "admin").AccessToken, nil)
	var p web.Paged[clients.ClientResponse]
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != 200 || len(p.Items) != 1 {
		t.Fatalf("a client: %d %.300s", r.status, r.body)
	}
	id := uuidOf(t, p.Items[0].ID)
	link := `href="` + privacy.PagePath(id) + `"`
	for role, want := range map[string]bool{"admin": true, "compliance": true, "sales": false, "readonly": false} {
		c := newPageClient(t, base, ten)
		c.login("/backoffice", demoEmail(ten, role), identity.DemoPassword)
		page := c.get("/backoffice/clients/" + id.String())
		if page.status != http.StatusOK {
			t.Fatalf("%s: client page %d", role, page.status)
		}
		if got := strings.Contains(page.body, link) && strings.Contains(page.body, "Data protection: export, erasure"); got != want {
			t.Errorf("%s: link to the data-protection page shown: %v, want %v", role, got, want)
		}
		if want {
			if res := c.get(privacy.PagePath(id)); res.status != http.StatusOK {
				t.Errorf("%s: following the link: %d", role, res.status)
			}
		}
	}
}

func TestLandingPageAndPortalSignInLinkToTheRegisterPageButTheBackOfficeSignInDoesNot(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	const link = `href="/portal/register" id="register-link">Open an account</a>`
	for path, want := range map[string]bool{"/": true, "/portal/login": true, "/backoffice/login": false} {
		r := c.get(path)
		if r.status != http.StatusOK || strings.Contains(r.body, link) != want {
			t.Errorf("GET %s: %d, links to the registration: %v, want %v", path, r.status, strings.Contains(r.body, link), want)
		}
	}
	if r := c.get("/portal/register"); r.status != http.StatusOK || !strings.Contains(r.body, `id="email"`) {
		t.Errorf("the linked registration page: %d", r.status)
	}
}

func uuidOf(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOnboardingSettingsThroughTheAPIAndThePage(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, admin := demoTenant(t, a)
	tok := staffLogin(t, base, ten, "admin").AccessToken
	r := request(t, base, hostOf(ten), "GET", "/api/v1/settings/onboarding", tok, nil)
	var body clients.SettingsBody
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != 200 || len(body.Tiers) != 3 {
		t.Fatalf("GET settings: %d %s", r.status, r.body)
	}
	var salesID string
	for _, m := range mustManagers(t, a, ten) {
		if strings.HasPrefix(m.Email, "sales@") {
			salesID = m.ID.String()
		}
	}
	body.ManagerRules = []clients.ManagerRuleBody{{Countries: []string{"at", "DE"}, ManagerID: salesID}}
	body.MinimumAge = 21
	r = request(t, base, hostOf(ten), "PUT", "/api/v1/settings/onboarding", tok, body)
	if r.status != 200 || !strings.Contains(r.body, `"countries":["AT","DE"]`) || !strings.Contains(r.body, salesID) {
		t.Fatalf("PUT settings: %d %s", r.status, r.body)
	}
	body.MinimumAge = 5
	body.ManagerRules[0].ManagerID = "not-an-id"
	if r := request(t, base, hostOf(ten), "PUT", "/api/v1/settings/onboarding", tok, body); r.status != 422 || !strings.Contains(r.body, "manager_rules") {
		t.Errorf("bad settings: %d %s", r.status, r.body)
	}
	if r := request(t, base, hostOf(ten), "GET", "/api/v1/settings/onboarding", staffLogin(t, base, ten, "sales").AccessToken, nil); r.status != 403 {
		t.Errorf("sales reading the settings: %d", r.status)
	}
	c := newPageClient(t, base, ten)
	c.login("/backoffice", admin.Email, identity.DemoPassword)
	page := c.get("/backoffice/settings/onboarding")
	if page.status != 200 || !strings.Contains(page.body, "AT,DE: sales@") || !strings.Contains(page.body, "vip | VIP | deposits before KYC") {
		t.Fatalf("settings page: %d %.1500s", page.status, page.body)
	}
	form := url.Values{"csrf": {csrfOf(t, page.body)}, "minimum_age": {"19"}, "blocked": {"kp, ir, RU"}, "domains": {"spam.example"},
		"tiers": {"standard | Standard\ngold | Gold | deposits before KYC"}, "tier_rules": {"gold: countries CH; experience experienced"},
		"manager_assignment": {"rules_only"}, "manager_rules": {"CH: sales@" + ten.Slug + ".demo"}, "own_only": {"on"}, "demo_early": {"on"}}
	if r := c.do(http.MethodPost, "/backoffice/settings/onboarding", form); r.status != http.StatusSeeOther {
		t.Fatalf("save: %d %.800s", r.status, r.body)
	}
	st, err := a.clients.Settings(context.Background(), ten)
	if err != nil || st.MinimumAge != 19 || strings.Join(st.BlockedCountries, ",") != "IR,KP,RU" || len(st.Tiers) != 2 || !st.Tiers[1].DepositsBeforeKYC ||
		st.DefaultTier != "standard" || st.ManagerAssignment != clients.AssignRulesOnly || !st.ManagersSeeOwnClientsOnly || st.AllowDepositsBeforeKYC ||
		len(st.TierRules) != 1 || st.TierRules[0].Countries[0] != "CH" || len(st.ManagerRules) != 1 {
		t.Errorf("saved from the page: %+v %v", st, err)
	}
	form.Set("tier_rules", "platinum: countries XX")
	if r := c.do(http.MethodPost, "/backoffice/settings/onboarding", form); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Nothing was saved") {
		t.Errorf("bad rule from the page: %d", r.status)
	}
}

func mustManagers(t *testing.T, a *app, ten tenants.Tenant) []clients.Manager {
	t.Helper()
	ms, err := a.clients.Managers(context.Background(), ten)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestComplianceResetsATradersTwoFactorFromTheClientPageAndSalesCannot(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	ctx := context.Background()
	trader := identity.DemoTraderEmail(ten)
	var clientID string
	err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		// The trader has enrolled (what the portal's /portal/2fa does, written directly: this test is about the reset).
		return tx.QueryRow(ctx, `UPDATE portal_users SET totp_secret = 'enrolled', totp_enabled_at = now() WHERE email = $1
			RETURNING client_id::text`, trader).Scan(&clientID)
	})
	if err != nil {
		t.Fatal(err)
	}
	path := "/backoffice/clients/" + clientID

	sp := newPageClient(t, base, ten)
	sp.login("/backoffice", demoEmail(ten, "sales"), identity.DemoPassword)
	page := sp.get(path)
	if page.status != http.StatusOK || !strings.Contains(page.body, "Two-factor sign-in: <strong>on</strong>") || strings.Contains(page.body, `id="reset-2fa"`) {
		t.Fatalf("sales's client page: %d, reset button shown: %v", page.status, strings.Contains(page.body, `id="reset-2fa"`))
	}
	if r := sp.do(http.MethodPost, path+"/2fa/reset", url.Values{"csrf": {csrfOf(t, page.body)}}); r.status != http.StatusForbidden {
		t.Fatalf("sales posting the reset: %d, want 403", r.status)
	}

	cp := newPageClient(t, base, ten)
	cp.login("/backoffice", demoEmail(ten, "compliance"), identity.DemoPassword)
	page = cp.get(path)
	if !strings.Contains(page.body, `id="reset-2fa"`) {
		t.Fatalf("compliance's client page has no reset button: %d", page.status)
	}
	if r := cp.do(http.MethodPost, path+"/2fa/reset", url.Values{"csrf": {"wrong"}}); r.status != http.StatusForbidden {
		t.Fatalf("a reset without the form's CSRF token: %d, want 403", r.status)
	}
	r := cp.do(http.MethodPost, path+"/2fa/reset", url.Values{"csrf": {csrfOf(t, page.body)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != path+"?notice=2fa-reset" {
		t.Fatalf("compliance posting the reset: %d %s", r.status, r.header.Get("Location"))
	}
	page = cp.get(path + "?notice=2fa-reset")
	if !strings.Contains(page.body, "Two-factor sign-in: off") || !strings.Contains(page.body, "the client is emailed") ||
		strings.Contains(page.body, `id="reset-2fa"`) {
		t.Fatalf("after the reset the page says: %.2000s", page.body)
	}
	var resets, notices int
	err = a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = $1`, identity.ActionTwoFactorReset).Scan(&resets); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE task_type = $1`, identity.TaskTwoFactorResetNotice).Scan(&notices)
	})
	if err != nil || resets != 1 || notices != 1 {
		t.Fatalf("after the reset: %d audit rows, %d notices queued (%v); want 1 and 1", resets, notices, err)
	}
}
