package main

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/payments/sandbox"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// moneyWorld is a test server wired as `make run` wires payments: the payment sandbox on (the processors' callbacks
// are played by SimulateCallback, the sandbox page exists), the deposit notifications heard (Service.Listen), and a
// tenant with the demo's staff, clients and trader, a Stripe gateway on stripe-mock ("card"), a generic gateway on
// the local payment sandbox ("crypto") and a bank account for manual deposits ("bank").
type moneyWorld struct {
	a      *app
	base   string
	ten    tenants.Tenant
	trader uuid.UUID // the demo trader's client, KYC approved unless the test says otherwise
}

// startMoneyServer is startServerWith with the payments sandbox wired and the live feed listening; it returns the
// configuration of a generic gateway that uses the sandbox processor.
func startMoneyServer(t testing.TB, extraEnv map[string]string) (*app, string, []byte) {
	t.Helper()
	sb, err := sandbox.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	sbConfig, err := json.Marshal(sb.GatewayConfig())
	if err != nil {
		t.Fatal(err)
	}
	a, base, _ := startServerWiring(t, extraEnv, wiring{paymentHTTP: sb.Client(), paymentSandbox: &payments.Sandbox{
		StripeAPIBase: os.Getenv("BD_STRIPE_API_URL"), GenericConfig: sbConfig, GenericAPIKey: sandbox.APIKey}})
	ctx, cancel := context.WithCancel(context.Background())
	go a.payments.Listen(ctx, clusterPools(a.clusters))
	t.Cleanup(cancel) // before the server's shutdown (cleanups run last first): the live streams end with the feed
	return a, base, sbConfig
}

const moneyWebhookSecret = "whsec_pages_test_0123456789"

// newMoneyWorld starts the server and gives its tenant the demo's people and the three gateways.
func newMoneyWorld(t testing.TB, extraEnv map[string]string) *moneyWorld {
	t.Helper()
	a, base, sbConfig := startMoneyServer(t, extraEnv)
	ten, _ := demoTenantNamed(t, a, "Money FX")
	w := &moneyWorld{a: a, base: base, ten: ten}
	ctx := context.Background()
	for _, g := range []struct {
		slug, name, kind string
		config, secrets  any
		currencies       []string
	}{
		{"card", "Card (Stripe)", "stripe", map[string]any{"api_base": os.Getenv("BD_STRIPE_API_URL")},
			map[string]any{"secret_key": "sk_test_pages", "webhook_secrets": []string{moneyWebhookSecret}}, []string{"USD", "EUR"}},
		{"crypto", "Crypto (USDT)", "generic", json.RawMessage(sbConfig),
			map[string]any{"webhook_secrets": []string{"ipn-secret-pages-0123"}, "api_key": sandbox.APIKey}, []string{"USD"}},
		{"bank", "Bank wire", payments.KindManual, map[string]any{}, nil, []string{"USD", "EUR"}},
	} {
		cfg, _ := json.Marshal(g.config)
		var sec []byte
		if g.secrets != nil {
			sec, _ = json.Marshal(g.secrets)
		}
		if _, err := a.payments.SaveGateway(ctx, ten, audit.System("test"), payments.GatewayInput{Slug: g.slug, Name: g.name, Kind: g.kind,
			Config: cfg, Secrets: sec, Currencies: g.currencies, Enabled: true,
			Limits: map[string]payments.Limit{"USD": {Min: 1000, Max: 5_000_000}}}); err != nil {
			t.Fatalf("gateway %s: %v", g.slug, err)
		}
	}
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM clients WHERE email = $1`, identity.DemoTraderEmail(ten)).Scan(&w.trader)
	}); err != nil {
		t.Fatal(err)
	}
	w.approve(t, w.trader)
	return w
}

// approve moves a client to kyc_approved, as the KYC review would.
func (w *moneyWorld) approve(t testing.TB, client uuid.UUID) {
	t.Helper()
	w.setStatus(t, client, clients.StatusKYCApproved)
}

func (w *moneyWorld) setStatus(t testing.TB, client uuid.UUID, st clients.Status) {
	t.Helper()
	if err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE clients SET status = $2, kyc_approved_at = coalesce(kyc_approved_at, now()) WHERE id = $1`, client, string(st))
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// otherClient is an approved demo client who is not the trader.
func (w *moneyWorld) otherClient(t testing.TB) (uuid.UUID, string) {
	t.Helper()
	var id uuid.UUID
	var email string
	if err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id, email FROM clients WHERE status = 'kyc_approved' AND id <> $1 ORDER BY email LIMIT 1`, w.trader).Scan(&id, &email)
	}); err != nil {
		t.Fatal(err)
	}
	return id, email
}

// deposit starts a deposit for client and, unless status is "", plays the processor's callback.
func (w *moneyWorld) deposit(t testing.TB, client uuid.UUID, gateway, amount, currency string, status payments.NotifiedStatus) payments.Deposit {
	t.Helper()
	ctx := context.Background()
	d, err := w.a.payments.StartDeposit(ctx, w.ten, client, payments.DepositRequest{Gateway: gateway, Amount: amount, Currency: currency})
	if err != nil {
		t.Fatalf("start deposit: %v", err)
	}
	if status != "" {
		if _, err := w.a.payments.SimulateCallback(ctx, w.ten, d.ID, status, nil); err != nil {
			t.Fatalf("callback: %v", err)
		}
		if d, err = w.a.payments.Deposit(ctx, w.ten, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (w *moneyWorld) staff(t *testing.T, role string) *pageClient {
	t.Helper()
	c := newPageClient(t, w.base, w.ten)
	c.login("/backoffice", demoEmail(w.ten, role), identity.DemoPassword)
	return c
}

func (w *moneyWorld) portal(t *testing.T) *pageClient {
	t.Helper()
	c := newPageClient(t, w.base, w.ten)
	c.login("/portal", identity.DemoTraderEmail(w.ten), identity.DemoPassword)
	return c
}

func (w *moneyWorld) staffID(t testing.TB, role string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM staff_users WHERE email = $1`, demoEmail(w.ten, role)).Scan(&id)
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// post sends a form with the CSRF token of the page at from.
func (c *pageClient) postWithCSRF(from, path string, form url.Values) pageResponse {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrfOf(c.t, c.get(from).body))
	return c.do(http.MethodPost, path, form)
}

var depositRowLink = regexp.MustCompile(`href="/backoffice/deposits/([0-9a-f-]{36})"`)

// depositIDs are the deposits a page links to, in order.
func listedDeposits(body string) []string {
	var out []string
	for _, m := range depositRowLink.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func pageText(body string) string { return html.UnescapeString(body) }

func usdOf(minor int64) money.Amount {
	return money.Amount{Minor: minor, Currency: money.MustLookup("USD")}
}

func TestPortalWalletStartsDepositsAndShowsTheReturningDepositsStatus(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	w.setStatus(t, w.trader, clients.StatusEmailVerified)
	c := w.portal(t)

	// Before KYC approval the gate refuses, in the client's words, and the form is not offered.
	r := c.get("/portal/wallet")
	if r.status != http.StatusOK || !strings.Contains(pageText(r.body), "You cannot deposit just now") || strings.Contains(r.body, `action="/portal/deposits"`) {
		t.Fatalf("wallet before approval: %d %.1500s", r.status, r.body)
	}
	if r := c.postWithCSRF("/portal/wallet", "/portal/deposits", url.Values{"method": {"card|USD"}, "amount": {"250.00"}}); r.status != http.StatusForbidden ||
		!strings.Contains(pageText(r.body), "documents") {
		t.Errorf("a deposit before approval: %d %.600s", r.status, r.body)
	}
	w.approve(t, w.trader)

	r = c.get("/portal/wallet")
	body := pageText(r.body)
	for _, want := range []string{"Your wallet is empty", "Card (Stripe) in USD: 10.00 to 50,000.00", "Crypto (USDT) in USD", `name="csrf"`} {
		if !strings.Contains(body, want) {
			t.Errorf("wallet: no %q in %.1500s", want, body)
		}
	}
	if strings.Contains(body, "Bank wire") {
		t.Error("the portal offers the manual bank gateway")
	}
	// The form refuses without its CSRF token, and amounts outside the method's limits.
	if r := c.do(http.MethodPost, "/portal/deposits", url.Values{"method": {"card|USD"}, "amount": {"250.00"}}); r.status != http.StatusForbidden {
		t.Errorf("deposit without csrf: %d", r.status)
	}
	if r := c.postWithCSRF("/portal/wallet", "/portal/deposits", url.Values{"method": {"card|USD"}, "amount": {"5.00"}}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(pageText(r.body), "at least 10.00 USD") {
		t.Errorf("deposit below the minimum: %d %.800s", r.status, r.body)
	}

	// Card: the client is sent to Stripe's page (stripe-mock's session URL).
	r = c.postWithCSRF("/portal/wallet", "/portal/deposits", url.Values{"method": {"card|USD"}, "amount": {"250.00"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "https://") {
		t.Fatalf("card deposit: %d %q %.500s", r.status, r.header.Get("Location"), r.body)
	}
	list, err := w.a.payments.Deposits(context.Background(), w.ten, payments.DepositFilter{ClientID: w.trader}, nil, 10)
	if err != nil || len(list) != 1 || list[0].Amount != usdOf(25000) || list[0].Status != payments.StatusPending {
		t.Fatalf("deposits after the card form: %+v %v", list, err)
	}
	card := list[0]

	// Crypto: the processor gives instructions, shown on the receipt.
	r = c.postWithCSRF("/portal/wallet", "/portal/deposits", url.Values{"method": {"crypto|USD"}, "amount": {"100.00"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/portal/deposits/") {
		t.Fatalf("crypto deposit: %d %q", r.status, r.header.Get("Location"))
	}
	receipt := c.get(r.header.Get("Location"))
	if body := pageText(receipt.body); receipt.status != http.StatusOK || !strings.Contains(body, "Waiting for payment") || !strings.Contains(body, "TSandboxDemoAddr") ||
		!strings.Contains(body, "100.00 USD") {
		t.Errorf("crypto receipt: %d %.1500s", receipt.status, body)
	}

	// The processor confirms the card payment, then sends the client back: the wallet says so first.
	if _, err := w.a.payments.SimulateCallback(context.Background(), w.ten, card.ID, payments.NotifiedPaid, nil); err != nil {
		t.Fatal(err)
	}
	r = c.get("/portal/wallet?deposit=" + card.ID.String())
	body = pageText(r.body)
	returned := regexp.MustCompile(`(?s)<section class="accent wallet-returned".*?</section>`).FindString(body)
	if !strings.Contains(returned, "250.00 USD") || !strings.Contains(returned, "Credited") {
		t.Errorf("the returning deposit's status: %q", returned)
	}
	balances := regexp.MustCompile(`(?s)<table id="balances">.*?</table>`).FindString(body)
	if !strings.Contains(balances, "USD") || strings.Count(balances, "250.00") != 2 {
		t.Errorf("balances after the credit: %s", balances)
	}
	if !strings.Contains(regexp.MustCompile(`(?s)<table id="history">.*?</table>`).FindString(body), "+250.00") {
		t.Errorf("history after the credit: %.2000s", body)
	}
	if r := c.get("/portal/wallet?cancelled=" + card.ID.String()); !strings.Contains(pageText(r.body), "nothing was charged") {
		t.Error("no notice for a payment page left without paying")
	}
	// The card receipt, and nobody else's.
	if r := c.get("/portal/deposits/" + card.ID.String()); r.status != http.StatusOK || !strings.Contains(pageText(r.body), "Credited to your wallet") ||
		!strings.Contains(r.body, card.ID.String()) {
		t.Errorf("card receipt: %d %.800s", r.status, r.body)
	}
	other, _ := w.otherClient(t)
	theirs := w.deposit(t, other, "card", "75.00", "USD", "")
	if r := c.get("/portal/deposits/" + theirs.ID.String()); r.status != http.StatusNotFound {
		t.Errorf("another client's receipt: %d", r.status)
	}
	if r := c.get("/portal/wallet?deposit=" + theirs.ID.String()); strings.Contains(r.body, "75.00") {
		t.Error("the wallet shows another client's deposit")
	}
}

func TestDepositsListFiltersInOneRowAndLinksEachRowToItsClientAndDeposit(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	other, otherEmail := w.otherClient(t)
	mine := w.deposit(t, w.trader, "card", "250.00", "USD", payments.NotifiedPaid)
	waiting := w.deposit(t, w.trader, "crypto", "100.00", "USD", "")
	euro := w.deposit(t, other, "card", "80.00", "EUR", payments.NotifiedPaid)
	big := w.deposit(t, other, "card", "4000.00", "USD", payments.NotifiedPaid)

	c := w.staff(t, "finance")
	r := c.get("/backoffice/deposits")
	if r.status != http.StatusOK {
		t.Fatalf("deposits: %d %.500s", r.status, r.body)
	}
	form := regexp.MustCompile(`(?s)<form class="filters".*?</form>`).FindString(r.body)
	for _, field := range []string{`name="status"`, `name="gateway"`, `name="client"`, `name="manager"`, `name="currency"`, `name="min"`, `name="max"`, `name="since"`, `name="until"`} {
		if !strings.Contains(form, field) {
			t.Errorf("the filters have no %s", field)
		}
	}
	if got := listedDeposits(r.body); len(got) != 4 || got[0] != big.ID.String() || got[3] != mine.ID.String() {
		t.Errorf("all deposits, newest first: %v", got)
	}
	if !strings.Contains(r.body, `href="/backoffice/clients/`+w.trader.String()+`"`) || !strings.Contains(pageText(r.body), "4,000.00 USD") {
		t.Errorf("rows link to the client and show the amount: %.2000s", r.body)
	}
	since := time.Now().UTC().Format(time.DateOnly)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	salesID := w.staffID(t, "sales") // the demo trader's manager
	for _, tc := range []struct {
		query string
		want  []payments.Deposit
	}{
		{"status=completed", []payments.Deposit{big, euro, mine}},
		{"status=pending", []payments.Deposit{waiting}},
		{"gateway=crypto", []payments.Deposit{waiting}},
		{"client=" + w.trader.String(), []payments.Deposit{waiting, mine}},
		{"client=" + url.QueryEscape(otherEmail), []payments.Deposit{big, euro}},
		{"currency=EUR", []payments.Deposit{euro}},
		{"currency=USD&min=200&max=300", []payments.Deposit{mine}},
		{"currency=USD&min=1,000.00", []payments.Deposit{big}},
		{"since=" + since + "&until=" + since, []payments.Deposit{big, euro, waiting, mine}},
		{"since=" + tomorrow, nil},
		{"manager=" + salesID.String(), []payments.Deposit{waiting, mine}},
		{"manager=" + salesID.String() + "&status=completed&currency=USD", []payments.Deposit{mine}},
	} {
		r := c.get("/backoffice/deposits?" + tc.query)
		var want []string
		for _, d := range tc.want {
			want = append(want, d.ID.String())
		}
		if got := listedDeposits(r.body); r.status != http.StatusOK || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("?%s: %d %v, want %v", tc.query, r.status, got, want)
		}
	}
	for _, bad := range []string{"status=nope", "currency=XXX", "min=10", "since=yesterday", "gateway=nope"} {
		if r := c.get("/backoffice/deposits?" + bad); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `role="alert"`) {
			t.Errorf("?%s: %d, want 422 with the problem", bad, r.status)
		}
	}

	// The deposit's page: its facts, its callbacks, and a link to its client.
	r = c.get("/backoffice/deposits/" + mine.ID.String())
	body := pageText(r.body)
	for _, want := range []string{"Deposit of 250.00 USD", "Credited", "Card (Stripe)", "1st deposit of the client", "the client, in the portal",
		"checkout.session.completed", "credited", `href="/backoffice/clients/` + w.trader.String() + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("deposit page: no %q in %.3000s", want, body)
		}
	}

	// Support holds no payments permission; a sales user who sees only their own clients sees only their deposits.
	if r := w.staff(t, "support").get("/backoffice/deposits"); r.status != http.StatusForbidden {
		t.Errorf("support's deposits list: %d, want 403", r.status)
	}
	st, err := w.a.clients.Settings(context.Background(), w.ten)
	if err != nil {
		t.Fatal(err)
	}
	st.ManagersSeeOwnClientsOnly = true
	if _, err := w.a.clients.SaveSettings(context.Background(), w.ten, audit.System("test"), st); err != nil {
		t.Fatal(err)
	}
	sales := w.staff(t, "sales")
	if got := listedDeposits(sales.get("/backoffice/deposits").body); strings.Join(got, ",") != waiting.ID.String()+","+mine.ID.String() {
		t.Errorf("own-clients sales user's list: %v", got)
	}
	if got := listedDeposits(sales.get("/backoffice/deposits?client=" + other.String()).body); len(got) != 0 {
		t.Errorf("own-clients sales user filtering on another client: %v", got)
	}
	if r := sales.get("/backoffice/deposits/" + big.ID.String()); r.status != http.StatusNotFound {
		t.Errorf("own-clients sales user opening another client's deposit: %d", r.status)
	}
	if r := sales.get("/backoffice/deposits/" + mine.ID.String()); r.status != http.StatusOK {
		t.Errorf("own-clients sales user opening their client's deposit: %d", r.status)
	}
	// The API follows the same rule.
	tok := staffLogin(t, w.base, w.ten, "sales").AccessToken
	if r := request(t, w.base, hostOf(w.ten), "GET", "/api/v1/deposits", tok, nil); r.status != http.StatusOK ||
		!strings.Contains(r.body, mine.ID.String()) || strings.Contains(r.body, big.ID.String()) || strings.Contains(r.body, euro.ID.String()) {
		t.Errorf("own-clients sales user's API list: %d %.600s", r.status, r.body)
	}
	for _, path := range []string{"/api/v1/deposits/" + big.ID.String(), "/api/v1/clients/" + other.String() + "/wallet"} {
		if r := request(t, w.base, hostOf(w.ten), "GET", path, tok, nil); r.status != http.StatusNotFound {
			t.Errorf("own-clients sales user's API %s: %d", path, r.status)
		}
	}
	if r := request(t, w.base, hostOf(w.ten), "GET", "/api/v1/clients/"+w.trader.String()+"/wallet", tok, nil); r.status != http.StatusOK {
		t.Errorf("own-clients sales user's API wallet of their client: %d %s", r.status, r.body)
	}
}

func TestAManualDepositAboveTheThresholdWaitsForADifferentFinanceUser(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	finance := w.staff(t, "finance")
	r := finance.get("/backoffice/deposits/new?q=" + url.QueryEscape(identity.DemoTraderEmail(w.ten)))
	if r.status != http.StatusOK || !strings.Contains(r.body, `value="`+w.trader.String()+`"`) || !strings.Contains(pageText(r.body), "10,000.00 USD") {
		t.Fatalf("manual form with a search: %d %.2000s", r.status, r.body)
	}
	form := url.Values{"client_id": {w.trader.String()}, "gateway": {"bank"}, "currency": {"USD"}, "amount": {"20000.00"}, "bank_reference": {"WIRE-20260301-77"}}
	if r := finance.do(http.MethodPost, "/backoffice/deposits/new", form); r.status != http.StatusForbidden {
		t.Errorf("manual deposit without csrf: %d", r.status)
	}
	readonly := w.staff(t, "readonly") // payments.read, not payments.approve
	if r := readonly.postWithCSRF("/backoffice", "/backoffice/deposits/new", form); r.status != http.StatusForbidden {
		t.Errorf("manual deposit by a read-only user: %d", r.status)
	}
	bad := url.Values{"client_id": {w.trader.String()}, "gateway": {"bank"}, "currency": {"USD"}, "amount": {"12.345"}}
	if r := finance.postWithCSRF("/backoffice/deposits/new", "/backoffice/deposits/new", bad); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(pageText(r.body), "bank reference") || !strings.Contains(pageText(r.body), "at most 2 decimals") {
		t.Errorf("a bad manual deposit: %d %.1500s", r.status, r.body)
	}

	r = finance.postWithCSRF("/backoffice/deposits/new", "/backoffice/deposits/new", form)
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasSuffix(loc, "?notice=waiting") {
		t.Fatalf("manual deposit above the threshold: %d %q %.500s", r.status, loc, r.body)
	}
	page := finance.get(loc)
	if body := pageText(page.body); !strings.Contains(body, "Waiting for a second approval") || !strings.Contains(body, "You recorded this deposit, so you may not approve it") ||
		strings.Contains(page.body, "/approve\"") {
		t.Errorf("the recorder's view: %.3000s", body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/backoffice/deposits/"), "?notice=waiting")
	// Even sent by hand, the recorder's approval is refused.
	if r := finance.postWithCSRF(loc, "/backoffice/deposits/"+id+"/approve", nil); r.status != http.StatusConflict || !strings.Contains(pageText(r.body), "another finance user") {
		t.Errorf("the recorder approving: %d %.800s", r.status, r.body)
	}
	if bal, _ := w.a.ledger.ClientBalances(context.Background(), w.ten, w.trader); len(bal) != 0 {
		t.Fatalf("money moved before the second approval: %+v", bal)
	}
	if r := readonly.postWithCSRF("/backoffice", "/backoffice/deposits/"+id+"/approve", nil); r.status != http.StatusForbidden {
		t.Errorf("an approval by a read-only user: %d", r.status)
	}
	admin := w.staff(t, "admin")
	if r := admin.do(http.MethodPost, "/backoffice/deposits/"+id+"/approve", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("an approval without csrf: %d", r.status)
	}
	if r := admin.get("/backoffice/deposits/" + id); !strings.Contains(r.body, "/approve\"") {
		t.Errorf("another approver sees no approve button: %.2000s", r.body)
	}
	r = admin.postWithCSRF("/backoffice/deposits/"+id, "/backoffice/deposits/"+id+"/approve", nil)
	if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "?notice=approved") {
		t.Fatalf("second approval: %d %.500s", r.status, r.body)
	}
	if body := pageText(admin.get(r.header.Get("Location")).body); !strings.Contains(body, "Approved and credited") || !strings.Contains(body, "Credited") {
		t.Errorf("after the approval: %.2000s", body)
	}
	bal, err := w.a.ledger.ClientBalances(context.Background(), w.ten, w.trader)
	if err != nil || len(bal) != 1 || bal[0].Posted != 2_000_000 {
		t.Errorf("wallet after the approval: %+v %v", bal, err)
	}

	// Below the threshold: credited at once.
	small := url.Values{"client_id": {w.trader.String()}, "gateway": {"bank"}, "currency": {"USD"}, "amount": {"500.00"}, "bank_reference": {"WIRE-2"}}
	if r := finance.postWithCSRF("/backoffice/deposits/new", "/backoffice/deposits/new", small); r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "?notice=credited") {
		t.Errorf("manual deposit below the threshold: %d %q", r.status, r.header.Get("Location"))
	}
	// A rejection needs its reason.
	r = finance.postWithCSRF("/backoffice/deposits/new", "/backoffice/deposits/new", form)
	second := strings.TrimSuffix(strings.TrimPrefix(r.header.Get("Location"), "/backoffice/deposits/"), "?notice=waiting")
	if r := admin.postWithCSRF("/backoffice/deposits/"+second, "/backoffice/deposits/"+second+"/reject", url.Values{"reason": {""}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("a rejection without a reason: %d", r.status)
	}
	if r := admin.postWithCSRF("/backoffice/deposits/"+second, "/backoffice/deposits/"+second+"/reject", url.Values{"reason": {"no such wire on the statement"}}); r.status != http.StatusSeeOther {
		t.Errorf("a rejection: %d %.500s", r.status, r.body)
	}
}

// staffName is a demo staff user's full name.
func (w *moneyWorld) staffName(t testing.TB, role string) string {
	t.Helper()
	var name string
	if err := w.a.gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT full_name FROM staff_users WHERE email = $1`, demoEmail(w.ten, role)).Scan(&name)
	}); err != nil {
		t.Fatal(err)
	}
	return name
}

var caseRowLink = regexp.MustCompile(`href="/backoffice/payments/exceptions/([0-9a-f-]{36})"`)

func listedCases(body string) []string {
	var out []string
	for _, m := range caseRowLink.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestExceptionsQueueShowsOverdueCasesFirstAndResolvesEachWithANote(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	ctx := context.Background()
	// A payment of another amount than asked (money in suspense), and a failure reported after a credit (no money).
	short := w.deposit(t, w.trader, "card", "800.00", "USD", "")
	paid := usdOf(79000)
	if _, err := w.a.payments.SimulateCallback(ctx, w.ten, short.ID, payments.NotifiedPaid, &paid); err != nil {
		t.Fatal(err)
	}
	done := w.deposit(t, w.trader, "card", "300.00", "USD", payments.NotifiedPaid)
	if _, err := w.a.payments.SimulateCallback(ctx, w.ten, done.ID, payments.NotifiedFailed, nil); err != nil {
		t.Fatal(err)
	}
	open := true
	cases, err := w.a.payments.Cases(ctx, w.ten, payments.CaseFilter{Open: &open}, 10)
	if err != nil || len(cases) != 2 {
		t.Fatalf("cases: %+v %v", cases, err)
	}
	var mismatch, conflict payments.Case
	for _, cs := range cases {
		if cs.Kind == payments.CaseAmountMismatch {
			mismatch = cs
		} else {
			conflict = cs
		}
	}
	// The conflict is overdue: it comes first.
	if err := w.a.gate.Scope(ctx, w.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE payment_exceptions SET due_at = now() - interval '3 hours' WHERE id = $1`, conflict.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	finance := w.staff(t, "finance")
	r := finance.get("/backoffice/payments/exceptions")
	body := pageText(r.body)
	if got := listedCases(r.body); r.status != http.StatusOK || strings.Join(got, ",") != conflict.ID.String()+","+mismatch.ID.String() {
		t.Fatalf("queue order: %d %v", r.status, got)
	}
	for _, want := range []string{"Amount differs", "Conflicting status", "790.00 USD", "overdue by 3 h", "due in 23 h", w.staffName(t, "finance")} {
		if !strings.Contains(body, want) {
			t.Errorf("queue: no %q in %.3000s", want, body)
		}
	}
	if got := listedCases(finance.get("/backoffice/payments/exceptions?overdue=true").body); len(got) != 1 || got[0] != conflict.ID.String() {
		t.Errorf("overdue filter: %v", got)
	}
	if got := listedCases(finance.get("/backoffice/payments/exceptions?who=mine").body); len(got) != 2 {
		t.Errorf("mine filter (finance holds both): %v", got)
	}
	if got := listedCases(w.staff(t, "admin").get("/backoffice/payments/exceptions?who=mine").body); len(got) != 0 {
		t.Errorf("mine filter for the admin, who holds none: %v", got)
	}

	// The case page: the reason, the raw payload, the deposit, the client, the forms.
	page := "/backoffice/payments/exceptions/" + mismatch.ID.String()
	r = finance.get(page + "?q=" + url.QueryEscape(identity.DemoTraderEmail(w.ten)))
	body = pageText(r.body)
	for _, want := range []string{"The deposit asked for 800.00 USD but 790.00 USD arrived.", "<details", "checkout.session.completed", `"amount_total": 79000`,
		"/backoffice/deposits/" + short.ID.String(), `value="matched"`, `value="refunded"`, `value="written_off"`, `value="` + w.trader.String() + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("case page: no %q in %.4000s", want, body)
		}
	}
	resolve := page + "/resolve"
	match := url.Values{"resolution": {"matched"}, "client_id": {w.trader.String()}, "note": {"client confirmed the short payment by phone"}}
	if r := finance.do(http.MethodPost, resolve, match); r.status != http.StatusForbidden {
		t.Errorf("resolve without csrf: %d", r.status)
	}
	if r := w.staff(t, "readonly").postWithCSRF("/backoffice", resolve, match); r.status != http.StatusForbidden {
		t.Errorf("resolve by a read-only user: %d", r.status)
	}
	if r := finance.postWithCSRF(page, resolve, url.Values{"resolution": {"matched"}, "client_id": {w.trader.String()}, "note": {" "}}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(pageText(r.body), "note") {
		t.Errorf("resolve without a note: %d %.1000s", r.status, r.body)
	}
	if r := finance.postWithCSRF(page, resolve, match); r.status != http.StatusSeeOther {
		t.Fatalf("match: %d %.1000s", r.status, r.body)
	}
	if body := pageText(finance.get(page).body); !strings.Contains(body, "Matched to a client") || !strings.Contains(body, "client confirmed the short payment by phone") {
		t.Errorf("resolved case: %.2000s", body)
	}
	if bal, _ := w.a.ledger.ClientBalances(ctx, w.ten, w.trader); len(bal) != 1 || bal[0].Posted != 30000+79000 {
		t.Errorf("wallet after the match: %+v", bal)
	}
	// The case without money is dismissed (with a note); it offers no money resolution.
	cpage := "/backoffice/payments/exceptions/" + conflict.ID.String()
	if r := finance.get(cpage); strings.Contains(r.body, `value="written_off"`) || !strings.Contains(r.body, `value="dismissed"`) {
		t.Errorf("a case without money offers: %.2000s", r.body)
	}
	if r := finance.postWithCSRF(cpage, cpage+"/resolve", url.Values{"resolution": {"dismissed"}, "note": {"Stripe confirmed the payment stands"}}); r.status != http.StatusSeeOther {
		t.Errorf("dismiss: %d %.800s", r.status, r.body)
	}
	if got := listedCases(finance.get("/backoffice/payments/exceptions?status=resolved").body); len(got) != 2 {
		t.Errorf("resolved filter: %v", got)
	}
	if got := listedCases(finance.get("/backoffice/payments/exceptions").body); len(got) != 0 {
		t.Errorf("open cases after resolving both: %v", got)
	}
}

func TestGatewaySettingsShowWebhookURLsKeepSecretsWriteOnlyAndOfferPresets(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	ctx := context.Background()
	admin := w.staff(t, "admin")
	r := admin.get("/backoffice/settings/payments")
	body := pageText(r.body)
	for _, want := range []string{"Card (Stripe)", "/api/v1/webhooks/payments/card", "/api/v1/webhooks/payments/crypto", "none (recorded by hand)",
		"USD 10.00 to 50,000.00", "nowpayments preset", "coinbase-commerce preset", `name="exception_sla_hours"`} {
		if !strings.Contains(body, want) {
			t.Errorf("settings: no %q in %.3000s", want, body)
		}
	}
	if r := w.staff(t, "finance").get("/backoffice/settings/payments"); r.status != http.StatusForbidden {
		t.Errorf("finance's settings page: %d", r.status)
	}

	// A stored secret says "set" and is never shown.
	r = admin.get("/backoffice/settings/payments/gateways/card")
	if r.status != http.StatusOK || strings.Count(r.body, `class="secret-set">set<`) != 2 || strings.Contains(r.body, moneyWebhookSecret) || strings.Contains(r.body, "sk_test_pages") {
		t.Fatalf("card gateway form: %d %.3000s", r.status, r.body)
	}
	// Saving without secrets keeps them: the gateway still verifies its callbacks.
	edit := url.Values{"kind": {"stripe"}, "slug": {"card"}, "name": {"Visa and Mastercard"}, "currencies": {"USD, EUR"},
		"limits": {"USD 20.00 -"}, "enabled": {"on"}, "api_base": {os.Getenv("BD_STRIPE_API_URL")}}
	if r := admin.do(http.MethodPost, "/backoffice/settings/payments/gateways", edit); r.status != http.StatusForbidden {
		t.Errorf("save without csrf: %d", r.status)
	}
	if r := admin.postWithCSRF("/backoffice/settings/payments/gateways/card", "/backoffice/settings/payments/gateways", edit); r.status != http.StatusSeeOther {
		t.Fatalf("save the card gateway: %d %.1500s", r.status, r.body)
	}
	g, err := w.a.payments.Gateway(ctx, w.ten, "card")
	if err != nil || g.Name != "Visa and Mastercard" || g.Limits["USD"] != (payments.Limit{Min: 2000}) || !g.HasSecrets {
		t.Fatalf("card gateway after the edit: %+v %v", g, err)
	}
	d := w.deposit(t, w.trader, "card", "50.00", "USD", payments.NotifiedPaid)
	if d.Status != payments.StatusCompleted {
		t.Errorf("a deposit through the edited gateway: %s (its secrets were lost?)", d.Status)
	}
	// Rotating one secret keeps the other.
	rotate := url.Values{"kind": {"stripe"}, "slug": {"card"}, "name": {"Visa and Mastercard"}, "currencies": {"USD, EUR"}, "enabled": {"on"},
		"api_base": {os.Getenv("BD_STRIPE_API_URL")}, "secret_webhook_secrets": {"whsec_rolled_0123456789\n" + moneyWebhookSecret}}
	if r := admin.postWithCSRF("/backoffice/settings/payments/gateways/card", "/backoffice/settings/payments/gateways", rotate); r.status != http.StatusSeeOther {
		t.Fatalf("rotate the webhook secret: %d %.1500s", r.status, r.body)
	}
	if d := w.deposit(t, w.trader, "card", "60.00", "USD", payments.NotifiedPaid); d.Status != payments.StatusCompleted {
		t.Errorf("a deposit after the rotation: %s", d.Status)
	}

	// The generic kind offers its presets; a bad configuration is refused with its fields named.
	r = admin.get("/backoffice/settings/payments/gateways/new?kind=generic&preset=nowpayments")
	if r.status != http.StatusOK || !strings.Contains(r.body, "x-nowpayments-sig") || !strings.Contains(pageText(r.body), "not set") {
		t.Errorf("new generic gateway from the preset: %d %.2000s", r.status, r.body)
	}
	create := url.Values{"new": {"1"}, "kind": {"generic"}, "slug": {"nowpay"}, "name": {"NOWPayments"}, "currencies": {"USD"}, "enabled": {"on"},
		"config": {`{"signature": {"header": ""}}`}, "secret_api_key": {"np-key"}, "secret_webhook_secrets": {"ipn-secret-0123456789"}}
	if r := admin.postWithCSRF("/backoffice/settings/payments", "/backoffice/settings/payments/gateways", create); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(pageText(r.body), "The gateway was not saved") {
		t.Errorf("a bad generic configuration: %d %.1500s", r.status, r.body)
	}
	create.Set("slug", "card")
	if r := admin.postWithCSRF("/backoffice/settings/payments", "/backoffice/settings/payments/gateways", create); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(pageText(r.body), "another gateway uses this slug") {
		t.Errorf("a new gateway over an existing slug: %d %.1000s", r.status, r.body)
	}

	// The rules.
	rules := url.Values{"exception_sla_hours": {"48"}, "manual_approval": {"USD 5,000.00\nEUR 4000"}, "receipt_emails": {"on"}}
	if r := admin.postWithCSRF("/backoffice/settings/payments", "/backoffice/settings/payments", rules); r.status != http.StatusSeeOther {
		t.Fatalf("save the rules: %d %.1000s", r.status, r.body)
	}
	st, err := w.a.payments.Settings(ctx, w.ten)
	if err != nil || st.ExceptionSLAHours != 48 || st.ManualApproval["USD"] != 500000 || st.ManualApproval["EUR"] != 400000 || len(st.ManualApproval) != 2 || !st.ReceiptEmails {
		t.Errorf("rules after the save: %+v %v", st, err)
	}
	if r := admin.postWithCSRF("/backoffice/settings/payments", "/backoffice/settings/payments", url.Values{"exception_sla_hours": {"0"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("an SLA of 0 hours: %d", r.status)
	}
}

func TestPaymentSandboxPlaysTheProcessorsCallbacksThroughTheRealFlow(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	ctx := context.Background()
	confirm := w.deposit(t, w.trader, "card", "120.00", "USD", "")
	fail := w.deposit(t, w.trader, "crypto", "90.00", "USD", "")
	other := w.deposit(t, w.trader, "crypto", "200.00", "USD", "")
	finance := w.staff(t, "finance")
	r := finance.get("/backoffice/payments/sandbox")
	if r.status != http.StatusOK || len(regexp.MustCompile(`<tr data-id=`).FindAllString(r.body, -1)) != 3 || !strings.Contains(r.body, "Confirm another amount") {
		t.Fatalf("sandbox page: %d %.2000s", r.status, r.body)
	}
	if !strings.Contains(finance.get("/backoffice").body, `href="/backoffice/payments/sandbox"`) {
		t.Error("the menu has no Payment sandbox")
	}
	play := func(d payments.Deposit, form url.Values) pageResponse {
		t.Helper()
		return finance.postWithCSRF("/backoffice/payments/sandbox", "/backoffice/payments/sandbox/"+d.ID.String(), form)
	}
	if r := finance.do(http.MethodPost, "/backoffice/payments/sandbox/"+confirm.ID.String(), url.Values{"action": {"paid"}}); r.status != http.StatusForbidden {
		t.Errorf("sandbox without csrf: %d", r.status)
	}
	if r := w.staff(t, "readonly").postWithCSRF("/backoffice", "/backoffice/payments/sandbox/"+confirm.ID.String(), url.Values{"action": {"paid"}}); r.status != http.StatusForbidden {
		t.Errorf("sandbox by a read-only user: %d", r.status)
	}
	r = play(confirm, url.Values{"action": {"paid"}})
	if r.status != http.StatusSeeOther || !strings.Contains(pageText(finance.get(r.header.Get("Location")).body), "The payment was confirmed and the client's wallet credited.") {
		t.Errorf("confirm: %d %q", r.status, r.header.Get("Location"))
	}
	if r := play(fail, url.Values{"action": {"failed"}}); r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "marked_failed") {
		t.Errorf("fail: %d %q", r.status, r.header.Get("Location"))
	}
	if r := play(other, url.Values{"action": {"other"}, "amount": {"1.2.3"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("another amount that is not one: %d", r.status)
	}
	if r := play(other, url.Values{"action": {"other"}, "amount": {"150.00"}}); r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "exception") {
		t.Errorf("another amount: %d %q", r.status, r.header.Get("Location"))
	}
	for id, want := range map[uuid.UUID]payments.Status{confirm.ID: payments.StatusCompleted, fail.ID: payments.StatusFailed, other.ID: payments.StatusProcessing} {
		if d, err := w.a.payments.Deposit(ctx, w.ten, id); err != nil || d.Status != want {
			t.Errorf("deposit %s: %s, want %s (%v)", id, d.Status, want, err)
		}
	}
	if bal, _ := w.a.ledger.ClientBalances(ctx, w.ten, w.trader); len(bal) != 1 || bal[0].Posted != 12000 {
		t.Errorf("wallet: %+v", bal)
	}

	// Without the sandbox (serve), there is no such page.
	a, base, _ := startServer(t)
	ten, _ := demoTenant(t, a)
	c := newPageClient(t, base, ten)
	c.login("/backoffice", demoEmail(ten, "finance"), identity.DemoPassword)
	if r := c.get("/backoffice/payments/sandbox"); r.status != http.StatusNotFound {
		t.Errorf("the sandbox page outside make run: %d", r.status)
	}
	if strings.Contains(c.get("/backoffice").body, "Payment sandbox") {
		t.Error("the menu offers the sandbox outside make run")
	}
}

func TestMoneyTilesCountTheDayForFinanceAndForAccountManagersAndOpenTheirLists(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	ctx := context.Background()
	other, _ := w.otherClient(t)
	w.deposit(t, w.trader, "card", "250.00", "USD", payments.NotifiedPaid)
	w.deposit(t, w.trader, "crypto", "100.00", "USD", payments.NotifiedPaid)
	w.deposit(t, other, "card", "80.00", "EUR", payments.NotifiedPaid)
	w.deposit(t, other, "card", "40.00", "USD", "") // not credited: not counted
	short := w.deposit(t, other, "card", "500.00", "USD", "")
	paid := usdOf(49000)
	if _, err := w.a.payments.SimulateCallback(ctx, w.ten, short.ID, payments.NotifiedPaid, &paid); err != nil {
		t.Fatal(err)
	}
	if err := w.a.gate.Scope(ctx, w.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE payment_exceptions SET due_at = now() - interval '1 hour'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.a.payments.RecordManual(ctx, w.ten, w.staffID(t, "finance"), payments.ManualDeposit{ClientID: other, Gateway: "bank",
		Amount: "15000.00", Currency: "USD", BankReference: "WIRE-1"}); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	finance := w.staff(t, "finance")
	tiles := tilesOf(finance.get("/backoffice").body)
	want := map[string]dashboardTile{
		"Deposits today": {Value: "3", Href: "/backoffice/deposits?since=" + today + "&status=completed",
			Detail: "80.00 EUR · 350.00 USD; by method: Card (Stripe) 2, Crypto (USDT) 1 @ /backoffice/payments"},
		"Exceptions open":               {Value: "1", Href: "/backoffice/payments/exceptions", Detail: "1 overdue @ /backoffice/payments/exceptions?overdue=true"},
		"Waiting for a second approval": {Value: "1", Href: "/backoffice/deposits?status=awaiting_approval"},
	}
	for label, tile := range want {
		if tiles[label] != tile {
			t.Errorf("finance's %q: %+v, want %+v", label, tiles[label], tile)
		}
	}
	if _, ok := tiles["Your clients' deposits today"]; ok {
		t.Error("finance sees the account managers' tile")
	}
	// Each number opens its rows.
	for label, n := range map[string]int{"Deposits today": 3, "Waiting for a second approval": 1} {
		if got := listedDeposits(finance.get(want[label].Href).body); len(got) != n {
			t.Errorf("%s: the list shows %d rows, the tile %d", label, len(got), n)
		}
	}
	if got := listedCases(finance.get("/backoffice/payments/exceptions?overdue=true").body); len(got) != 1 {
		t.Errorf("the overdue cases: %v", got)
	}

	// The trader's manager (sales) sees their own clients' day, and only that.
	sales := w.staff(t, "sales")
	tiles = tilesOf(sales.get("/backoffice").body)
	mineTile := dashboardTile{Value: "2", Href: "/backoffice/deposits?manager=me&since=" + today + "&status=completed", Detail: "350.00 USD @ /backoffice/payments?scope=mine"}
	if tiles["Your clients' deposits today"] != mineTile {
		t.Errorf("sales's tile: %+v, want %+v", tiles["Your clients' deposits today"], mineTile)
	}
	if _, ok := tiles["Deposits today"]; ok {
		t.Error("sales sees finance's tiles")
	}
	if got := listedDeposits(sales.get(mineTile.Href).body); len(got) != 2 {
		t.Errorf("sales's list behind the tile: %v", got)
	}

	// The page behind the tiles: the day by currency and method, the queue, the 30-day chart.
	r := finance.get("/backoffice/payments")
	body := pageText(r.body)
	for _, want := range []string{"3 deposits credited", "350.00 USD", "80.00 EUR", "Crypto (USDT)", "1 open exception", "1 overdue",
		"1 manual deposit waiting for a second approval", `<svg class="deposits-chart" role="img"`, "/backoffice/live/deposits.js", "data-live"} {
		if !strings.Contains(body, want) {
			t.Errorf("money today: no %q in %.4000s", want, body)
		}
	}
	if body := pageText(finance.get("/backoffice/payments?currency=EUR").body); !strings.Contains(body, "Completed deposits in EUR per day") || !strings.Contains(body, "80.00 EUR in 1 deposit") {
		t.Errorf("the EUR chart: %.3000s", body)
	}
	if body := pageText(sales.get("/backoffice/payments?scope=mine").body); !strings.Contains(body, "2 deposits credited") || strings.Contains(body, "80.00 EUR") {
		t.Errorf("sales's own clients' day: %.3000s", body)
	}
}

// stream opens the live stream with c's session and returns its lines as they arrive (closed when it ends).
func (c *pageClient) openStream(path string) (lines <-chan string, status int, stop func()) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	req.Host = c.host
	req.Header.Set("Accept", "text/event-stream")
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		cancel()
		c.t.Fatal(err)
	}
	out := make(chan string, 64)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			out <- sc.Text()
		}
	}()
	if ct := res.Header.Get("Content-Type"); res.StatusCode == http.StatusOK && !strings.HasPrefix(ct, "text/event-stream") {
		c.t.Errorf("live stream's content type: %q", ct)
	}
	return out, res.StatusCode, cancel
}

// await reads lines until one equals want, false at the deadline or the stream's end.
func awaitLine(lines <-chan string, want string, d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return false
			}
			if l == want {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func TestLiveStreamSendsAnEventWhenADepositOfTheTenantIsCredited(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	finance := w.staff(t, "finance")
	lines, status, stop := finance.openStream("/backoffice/live/deposits")
	defer stop()
	if status != http.StatusOK || !awaitLine(lines, ": live deposits", 10*time.Second) {
		t.Fatalf("live stream: %d, no opening comment", status)
	}
	// The listener may still be connecting when the first deposit commits: credit deposits until one is heard.
	deadline := time.Now().Add(30 * time.Second)
	heard := false
	for !heard && time.Now().Before(deadline) {
		w.deposit(t, w.trader, "card", "25.00", "USD", payments.NotifiedPaid)
		heard = awaitLine(lines, "event: deposit", 2*time.Second)
	}
	if !heard {
		t.Fatal("no event on the live stream for a credited deposit")
	}

	// Guarded like a page: no session, no stream; a role without payments.read gets 403.
	if _, status, stop := newPageClient(t, w.base, w.ten).openStream("/backoffice/live/deposits"); status != http.StatusUnauthorized && status != http.StatusSeeOther {
		t.Errorf("live stream without a session: %d", status)
	} else {
		stop()
	}
	if _, status, stop := w.staff(t, "support").openStream("/backoffice/live/deposits"); status != http.StatusForbidden {
		t.Errorf("live stream for support: %d", status)
	} else {
		stop()
	}
	if r := finance.get("/backoffice/live/deposits"); r.status != http.StatusNotAcceptable {
		t.Errorf("the live stream asked for a page: %d, want 406 (no stream held open)", r.status)
	}
	if r := finance.get("/backoffice/live/deposits.js"); r.status != http.StatusOK || !strings.Contains(r.body, "EventSource") {
		t.Errorf("live script: %d", r.status)
	}
}

func TestClientPageShowsTheClientsMoneyAndItsWalletHistory(t *testing.T) {
	t.Parallel()
	w := newMoneyWorld(t, nil)
	ctx := context.Background()
	d := w.deposit(t, w.trader, "card", "250.00", "USD", payments.NotifiedPaid)
	short := w.deposit(t, w.trader, "card", "100.00", "USD", "")
	paid := usdOf(9000)
	if _, err := w.a.payments.SimulateCallback(ctx, w.ten, short.ID, payments.NotifiedPaid, &paid); err != nil {
		t.Fatal(err)
	}
	admin := w.staff(t, "admin")
	page := "/backoffice/clients/" + w.trader.String()
	r := admin.get(page + "?tab=money")
	body := pageText(r.body)
	for _, want := range []string{`id="tab-money"`, "USD wallet", "250.00", "/backoffice/deposits/" + d.ID.String(), "Amount differs",
		"/backoffice/deposits?client=" + w.trader.String(), page + "/wallet", "Record a bank deposit"} {
		if !strings.Contains(body, want) {
			t.Errorf("client page's money: no %q in %.5000s", want, body)
		}
	}
	// The balances are in the header of every tab.
	if r := admin.get(page); !strings.Contains(r.body, `id="balances"`) || !strings.Contains(pageText(r.body), "USD wallet") {
		t.Errorf("the header's balances: %.3000s", r.body)
	}
	r = admin.get(page + "/wallet")
	if body := pageText(r.body); r.status != http.StatusOK || !strings.Contains(body, "Ledger history of the USD wallet") || !strings.Contains(body, "+250.00") {
		t.Errorf("the client's wallet page: %d %.3000s", r.status, body)
	}
	if r := w.staff(t, "support").get(page + "/wallet"); r.status != http.StatusForbidden {
		t.Errorf("support on the wallet page: %d", r.status)
	}
	if r := w.staff(t, "support").get(page + "?tab=money"); r.status != http.StatusNotFound {
		t.Errorf("support opening the money tab: %d, want 404 (no such tab for them)", r.status)
	}
	if r := admin.get("/backoffice/clients/" + uuid.NewString() + "/wallet"); r.status != http.StatusNotFound {
		t.Errorf("an unknown client's wallet: %d", r.status)
	}
}
