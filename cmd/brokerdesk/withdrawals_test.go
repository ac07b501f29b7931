package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/identity"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/withdrawals"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// withdrawalsForMatrix gives tenant ten a withdrawal (of an approved client with a funded wallet), so the
// withdrawals' routes are tried with an id that exists.
func withdrawalsForMatrix(t testing.TB, a *app, ten tenants.Tenant) {
	t.Helper()
	ctx := context.Background()
	client := uuid.New()
	usd := money.MustLookup("USD")
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, kyc_approved_at)
			VALUES ($1, $2, 'Wanda', 'Withdraw', 'GB', '+442079460958', '1990-04-25', 'kyc_approved', now())`, client,
			"wanda."+client.String()[:8]+"@example.com"); err != nil {
			return err
		}
		_, err := a.ledger.PostTx(ctx, tx, ledger.Entry{Key: "matrix-fund:" + client.String(), Kind: "deposit", Postings: []ledger.Posting{
			{Account: ledger.Clearing("test", usd), Amount: -10_000}, {Account: ledger.ClientWallet(client, usd), Amount: 10_000}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.withdrawals.Request(ctx, ten, client, uuid.Nil, withdrawals.Input{Amount: "20.00", Currency: "USD", Destination: "GB33BUKB20201555555555"}); err != nil {
		t.Fatal(err)
	}
}

// A trader withdraws from the portal through the HTTP server: with two-factor sign-in on, a current code is
// required (422 naming code without it or with a wrong one); the amount is held at once; the same Idempotency-Key
// replays the first answer and holds nothing more; a wallet short of the amount is 422 naming amount; the trader
// cancels and the money is available again; finance reads the checks' answers; another tenant's staff and another
// trader get 404.
func TestAWithdrawalFromThePortalConfirmedWithTheAuthenticatorCode(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ctx := context.Background()
	ten, _ := demoTenantNamed(t, a, "Withdrawals FX")
	other, _ := demoTenantNamed(t, a, "Other FX")
	host := hostOf(ten)
	email := identity.DemoTraderEmail(ten)
	usd := money.MustLookup("USD")
	var client, user uuid.UUID
	if err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `UPDATE clients SET status = 'kyc_approved', kyc_approved_at = now() WHERE email = $1 RETURNING id`,
			email).Scan(&client); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT id FROM portal_users WHERE client_id = $1`, client).Scan(&user); err != nil {
			return err
		}
		_, err := a.ledger.PostTx(ctx, tx, ledger.Entry{Key: "test-fund:" + client.String(), Kind: "deposit", Postings: []ledger.Posting{
			{Account: ledger.Clearing("test", usd), Amount: -100_000}, {Account: ledger.ClientWallet(client, usd), Amount: 100_000}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	secret := enrolTOTP(t, a, ten, identity.Portal, user)
	code, err := auth.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := request(t, base, host, "POST", "/api/v1/auth/portal/login", "", identity.LoginRequest{Email: email, Password: identity.DemoPassword, TOTPCode: code})
	var tok identity.TokenResponse
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
		t.Fatalf("portal login: %d %s", r.status, r.body)
	}
	trader := tok.AccessToken
	withdraw := func(key string, body withdrawals.RequestBody) call {
		return request(t, base, host, "POST", "/api/v1/portal/withdrawals", trader, body, "Idempotency-Key", key)
	}
	body := withdrawals.RequestBody{Amount: "250.00", Currency: "USD", Method: "bank", Destination: "GB33BUKB20201555555555"}
	if r := withdraw(uuid.NewString(), body); r.status != 422 || !strings.Contains(r.body, `"field":"code"`) {
		t.Fatalf("without a code: %d %s", r.status, r.body)
	}
	body.Code = "000000"
	if code == "000000" {
		body.Code = "111111"
	}
	if r := withdraw(uuid.NewString(), body); r.status != 422 || !strings.Contains(r.body, `"field":"code"`) {
		t.Fatalf("a wrong code: %d %s", r.status, r.body)
	}
	// The login used this step's code; the next step's is current within the verifier's window.
	body.Code, _ = auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	key := uuid.NewString()
	r = withdraw(key, body)
	var w withdrawals.WithdrawalResponse
	if err := json.Unmarshal([]byte(r.body), &w); err != nil || r.status != 201 || w.Status != "pending" || w.Amount != "250.00" {
		t.Fatalf("request: %d %s", r.status, r.body)
	}
	if len(w.Checks) != 0 || w.HoldTx != nil {
		t.Errorf("the client sees the staff's fields: %s", r.body)
	}
	if again := withdraw(key, body); again.status != 201 || !strings.Contains(again.body, w.ID.String()) {
		t.Fatalf("the same key again: %d %s", again.status, again.body)
	}
	if bal, _ := a.ledger.Balance(ctx, ten, ledger.ClientWallet(client, usd).Code); bal.Available() != 100_000-25_000 {
		t.Fatalf("held once: available %d", bal.Available())
	}
	body.Amount, body.Code = "900.00", ""
	if r := withdraw(uuid.NewString(), body); r.status != 422 || !strings.Contains(r.body, `"field":"code"`) {
		t.Fatalf("a code is needed every time: %d %s", r.status, r.body)
	}
	// The preview of what a withdrawal forfeits of open bonuses (none here), for the trader only; 422 naming amount.
	if p := request(t, base, host, "GET", "/api/v1/portal/withdrawals/preview?amount=100.00&currency=USD", trader, nil); p.status != 200 ||
		!strings.Contains(p.body, `"forfeits":[]`) || !strings.Contains(p.body, `"confirm":false`) {
		t.Fatalf("preview: %d %s", p.status, p.body)
	}
	if p := request(t, base, host, "GET", "/api/v1/portal/withdrawals/preview?amount=1.234&currency=USD", trader, nil); p.status != 422 ||
		!strings.Contains(p.body, `"field":"amount"`) {
		t.Fatalf("preview of a bad amount: %d %s", p.status, p.body)
	}
	fin := staffLogin(t, base, ten, "finance").AccessToken
	if p := request(t, base, host, "GET", "/api/v1/portal/withdrawals/preview?amount=100.00&currency=USD", fin, nil); p.status != 401 && p.status != 403 {
		t.Errorf("finance on the trader's preview: %d %s", p.status, p.body)
	}
	g := request(t, base, host, "GET", "/api/v1/withdrawals/"+w.ID.String(), fin, nil)
	if g.status != 200 || !strings.Contains(g.body, `"name":"return_to_source"`) || !strings.Contains(g.body, "by bank transfer") {
		t.Fatalf("finance reads the checks: %d %s", g.status, g.body)
	}
	if q := request(t, base, host, "GET", "/api/v1/withdrawals?status=pending", fin, nil); q.status != 200 || !strings.Contains(q.body, w.ID.String()) {
		t.Fatalf("the queue: %d %s", q.status, q.body)
	}
	if q := request(t, base, host, "GET", "/api/v1/withdrawals?status=nonsense", fin, nil); q.status != 400 {
		t.Errorf("a bad filter: %d %s", q.status, q.body)
	}
	otherFin := staffLogin(t, base, other, "finance").AccessToken
	if g := request(t, base, hostOf(other), "GET", "/api/v1/withdrawals/"+w.ID.String(), otherFin, nil); g.status != 404 {
		t.Errorf("another tenant's finance: %d %s", g.status, g.body)
	}
	c := request(t, base, host, "POST", "/api/v1/portal/withdrawals/"+w.ID.String()+"/cancel", trader, map[string]any{})
	if c.status != 200 || !strings.Contains(c.body, `"status":"cancelled"`) {
		t.Fatalf("cancel: %d %s", c.status, c.body)
	}
	if c := request(t, base, host, "POST", "/api/v1/portal/withdrawals/"+w.ID.String()+"/cancel", trader, map[string]any{}); c.status != 409 {
		t.Errorf("cancel again: %d %s", c.status, c.body)
	}
	if bal, _ := a.ledger.Balance(ctx, ten, ledger.ClientWallet(client, usd).Code); bal.Available() != 100_000 || bal.PendingDebits != 0 {
		t.Errorf("after the cancel: %+v", bal)
	}
	// Four-eyes through HTTP, with the threshold lowered to 500.00 USD.
	big, err := a.withdrawals.Request(ctx, ten, client, uuid.Nil, withdrawals.Input{Amount: "600.00", Currency: "USD", Destination: "GB33BUKB20201555555555"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.withdrawals.Reject(ctx, ten, auditSystemActor, uuid.Nil, big.ID, "x"); err == nil {
		t.Fatal("a decision without a person")
	}
	if _, err := a.withdrawals.Cancel(ctx, ten, client, big.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.withdrawals.SaveSettings(ctx, ten, auditSystemActor, withThreshold(t, a, ten, 500_00)); err != nil {
		t.Fatal(err)
	}
	big, err = a.withdrawals.Request(ctx, ten, client, uuid.Nil, withdrawals.Input{Amount: "600.00", Currency: "USD", Destination: "GB33BUKB20201555555555"})
	if err != nil || !big.NeedsSecond {
		t.Fatalf("above the threshold: %+v %v", big, err)
	}
	admin := staffLogin(t, base, ten, "admin").AccessToken
	approve := func(tok, reason string) call {
		return request(t, base, host, "POST", "/api/v1/withdrawals/"+big.ID.String()+"/approve", tok, withdrawals.ReasonBody{Reason: reason},
			"Idempotency-Key", uuid.NewString())
	}
	if r := approve(fin, ""); r.status != 422 || !strings.Contains(r.body, `"field":"reason"`) {
		t.Fatalf("no reason: %d %s", r.status, r.body)
	}
	if r := approve(fin, "Bank account in the client's name."); r.status != 200 || !strings.Contains(r.body, `"waiting_for":"a second approver"`) {
		t.Fatalf("first approval: %d %s", r.status, r.body)
	}
	if r := approve(fin, "Again."); r.status != 409 || !strings.Contains(r.body, "same-approver") {
		t.Fatalf("the same approver twice: %d %s", r.status, r.body)
	}
	if r := approve(admin, "Second look."); r.status != 200 || !strings.Contains(r.body, `"status":"approved"`) {
		t.Fatalf("second approval: %d %s", r.status, r.body)
	}
	paid := request(t, base, host, "POST", "/api/v1/withdrawals/"+big.ID.String()+"/paid", fin, withdrawals.PaidBody{Reference: "BARC-000481"},
		"Idempotency-Key", uuid.NewString())
	if paid.status != 200 || !strings.Contains(paid.body, `"status":"paid"`) || !strings.Contains(paid.body, "BARC-000481") {
		t.Fatalf("marked paid: %d %s", paid.status, paid.body)
	}
	if bal, _ := a.ledger.Balance(ctx, ten, ledger.ClientWallet(client, usd).Code); bal.Posted != 100_000-60_000 || bal.PendingDebits != 0 {
		t.Errorf("after the payout: %+v", bal)
	}
	if rep, err := a.ledger.Verify(ctx, ten); err != nil || !rep.OK() {
		t.Errorf("ledger verify: %v %v", rep.Problem, err)
	}
}

var auditSystemActor = audit.System("test")

// withThreshold is the tenant's withdrawal rules with the four-eyes threshold in USD set to minor.
func withThreshold(t *testing.T, a *app, ten tenants.Tenant, minor int64) withdrawals.Settings {
	t.Helper()
	st, err := a.withdrawals.Settings(context.Background(), ten)
	if err != nil {
		t.Fatal(err)
	}
	st.SecondApproval["USD"] = minor
	return st
}

// The rules for money out through the API: GET the document, change a field, PUT it back whole; a bad value is 422
// naming the field and nothing is saved; a PUT without every field is refused.
func TestTheWithdrawalRulesAreReplacedWholeThroughTheAPI(t *testing.T) {
	t.Parallel()
	a, base, _ := startServer(t)
	ten, _ := demoTenantNamed(t, a, "Rules FX")
	host, admin := hostOf(ten), staffLogin(t, base, ten, "admin").AccessToken
	g := request(t, base, host, "GET", "/api/v1/settings/withdrawals", admin, nil)
	var st map[string]any
	if err := json.Unmarshal([]byte(g.body), &st); err != nil || g.status != 200 {
		t.Fatalf("get: %d %s", g.status, g.body)
	}
	st["expiry_hours"] = 48
	if r := request(t, base, host, "PUT", "/api/v1/settings/withdrawals", admin, st); r.status != 200 || !strings.Contains(r.body, `"expiry_hours":48`) {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	st["sla_hours"] = 0
	if r := request(t, base, host, "PUT", "/api/v1/settings/withdrawals", admin, st); r.status != 422 || !strings.Contains(r.body, `"field":"sla_hours"`) {
		t.Fatalf("a bad SLA: %d %s", r.status, r.body)
	}
	delete(st, "methods")
	if r := request(t, base, host, "PUT", "/api/v1/settings/withdrawals", admin, st); r.status != 422 || !strings.Contains(r.body, `"field":"methods"`) {
		t.Fatalf("a field left out: %d %s", r.status, r.body)
	}
	if got, _ := a.withdrawals.Settings(context.Background(), ten); got.ExpiryHours != 48 || got.SLAHours != 24 {
		t.Errorf("saved: %+v", got)
	}
	fin := staffLogin(t, base, ten, "finance").AccessToken
	if r := request(t, base, host, "GET", "/api/v1/settings/withdrawals", fin, nil); r.status != 403 {
		t.Errorf("finance reads the rules: %d", r.status)
	}
}
