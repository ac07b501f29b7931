package tradingdesk_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/validation"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// changer wraps the simulator's session: it counts the change calls and fails the next ones with refuse.
type changer struct {
	trading.Connector
	mu     sync.Mutex
	calls  map[string]int
	refuse error
	fails  int
}

func (c *changer) call(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
	if c.fails > 0 {
		c.fails--
		return c.refuse
	}
	return nil
}

func (c *changer) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

func (c *changer) failNext(n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fails, c.refuse = n, err
}

func (c *changer) SetLeverage(ctx context.Context, login string, lev int) error {
	if err := c.call("leverage"); err != nil {
		return err
	}
	return c.Connector.SetLeverage(ctx, login, lev)
}

func (c *changer) SetSwapFree(ctx context.Context, login string, on bool) error {
	if err := c.call("swap_free"); err != nil {
		return err
	}
	return c.Connector.SetSwapFree(ctx, login, on)
}

func (c *changer) SetAccess(ctx context.Context, login string, a trading.Access) error {
	if err := c.call("access"); err != nil {
		return err
	}
	return c.Connector.SetAccess(ctx, login, a)
}

func (c *changer) ResetPassword(ctx context.Context, login string, k trading.PasswordKind, pw string) error {
	if err := c.call("password"); err != nil {
		return err
	}
	return c.Connector.ResetPassword(ctx, login, k, pw)
}

func (b *bundle) changer() *changer {
	ch := &changer{calls: map[string]int{}}
	b.wrap = func(c trading.Connector) trading.Connector { ch.Connector = c; return ch }
	return ch
}

// refusal is a platform's refusal of a request.
var refusal = &trading.PlatformError{Kind: trading.ErrInvalidRequest, Platform: trading.PlatformSimulator, Op: "change", Code: "refused",
	Message: "the dealer's rule refuses this account"}

// opened is a client's Standard USD 1:100 account, opened through the worker: the client, the account, its login and
// the client's email.
type opened struct {
	client, account uuid.UUID
	login, email    string
}

func (b *bundle) opened(t testing.TB, status clients.Status) opened {
	t.Helper()
	client, email := b.client(t, status, "standard")
	if status != clients.StatusKYCApproved {
		// Opened while approved, then moved: the gate opens live accounts to approved clients only.
		if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE clients SET status = 'kyc_approved', kyc_approved_at = now() WHERE id = $1`, client)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	r := b.open(t, client, "standard", "USD", 100)
	if err := b.svc.OpenRequested(context.Background(), b.ten, r.ID, false); err != nil {
		t.Fatal(err)
	}
	r = b.request(t, r.ID)
	if r.AccountID == nil {
		t.Fatalf("not opened: %+v", r)
	}
	localsvc.AwaitMail(t, email, 1, 10*time.Second) // the credentials email, before the tests count theirs
	return opened{client: client, account: *r.AccountID, login: r.Login, email: email}
}

func (b *bundle) account(t testing.TB, id uuid.UUID) tradingdesk.Account {
	t.Helper()
	a, err := b.svc.Account(context.Background(), b.ten, id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// carry runs the change's task as the worker would, not at its last attempt.
func (b *bundle) carry(t testing.TB, r tradingdesk.Request) tradingdesk.Request {
	t.Helper()
	if err := b.svc.CarryChange(context.Background(), b.ten, r.ID, false); err != nil {
		t.Fatalf("carry %s: %v", r.Kind, err)
	}
	return b.request(t, r.ID)
}

func (b *bundle) tasks(t testing.TB, r tradingdesk.Request) int {
	return b.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1 AND idem_key = $2`, tradingdesk.TaskChange, "change:"+r.ID.String())
}

var officer = audit.Actor{Kind: audit.ActorStaff, ID: "0c2a1b4e-5d6f-4a7b-8c9d-0e1f2a3b4c5d"}

// A leverage change within the type's leverages is queued at once, carried to the platform by the worker and
// recorded on the account; a redelivered task calls the platform no more; the trail says it in sentences.
func TestALeverageChangeIsCarriedToThePlatformOnceAndRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	ch := b.changer()
	o := b.opened(t, clients.StatusKYCApproved)
	r, err := b.svc.ChangeLeverage(ctx, b.ten, o.client, o.account, 200)
	if err != nil || r.Status != tradingdesk.RequestPending || r.Kind != tradingdesk.KindSetLeverage || r.Leverage != 200 || r.Login != o.login {
		t.Fatalf("request: %+v %v", r, err)
	}
	if n := b.tasks(t, r); n != 1 {
		t.Fatalf("%d tasks for the change", n)
	}
	if a := b.account(t, o.account); a.Leverage != 100 {
		t.Fatalf("the account changed before the platform did: 1:%d", a.Leverage)
	}
	if got := b.carry(t, r); got.Status != tradingdesk.RequestDone {
		t.Fatalf("after the worker: %+v", got)
	}
	if acc, err := b.sim.Account(ctx, o.login); err != nil || acc.Leverage != 200 {
		t.Fatalf("on the platform: %+v %v", acc, err)
	}
	if a := b.account(t, o.account); a.Leverage != 200 || a.Group != "standard-usd" {
		t.Fatalf("in the CRM: %+v", a)
	}
	b.carry(t, r) // a redelivered task
	if n := ch.count("leverage"); n != 1 {
		t.Fatalf("the platform was asked %d times", n)
	}
	sentences := b.sentences(t)
	for _, want := range []string{"Ada Lovelace asked for leverage 1:200 on account " + o.login + " (it has 1:100)",
		"Account " + o.login + " of Ada Lovelace has leverage 1:200 on the trading server (it was 1:100)"} {
		if !strings.Contains(sentences, want) {
			t.Errorf("the trail lacks %q:\n%s", want, sentences)
		}
	}
}

// A leverage the type does not offer, the account's own, one above the tier's cap, and another client's or
// another tenant's account are refused before anything is recorded.
func TestALeverageOutsideTheLimitsIsRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	o := b.opened(t, clients.StatusKYCApproved)
	if _, err := b.svc.SaveDeskSettings(ctx, b.ten, admin, tradingdesk.DeskSettings{TierMaxLeverage: map[string]int{"standard": 100},
		SwapFreeApproval: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lev  int
		want string
	}{{500, "offers 1:50, 1:100, 1:200"}, {100, "already has 1:100"}, {200, "at most 1:100"}, {0, "e.g. 200"}} {
		_, err := b.svc.ChangeLeverage(ctx, b.ten, o.client, o.account, c.lev)
		if f := fieldNames(err); len(f) != 1 || f[0] != "leverage" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("1:%d: %v (fields %v)", c.lev, err, f)
		}
	}
	if _, err := b.svc.SaveDeskSettings(ctx, b.ten, admin, tradingdesk.DeskSettings{TierMaxLeverage: map[string]int{"gold": 100}}); !slicesEqual(fieldNames(err), []string{"tier_max_leverage.gold"}) {
		t.Errorf("an unknown tier: %v", err)
	}
	other, _ := b.client(t, clients.StatusKYCApproved, "standard")
	if _, err := b.svc.ChangeLeverage(ctx, b.ten, other, o.account, 50); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("another client's account: %v", err)
	}
	tenB := b.p.NewTenant(t, "")
	if _, err := b.svc.ChangeLeverage(ctx, tenB, o.client, o.account, 50); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("from another tenant: %v", err)
	}
	if _, err := b.svc.ResetPassword(ctx, b.ten, o.client, o.account, "root"); !slicesEqual(fieldNames(err), []string{"kind"}) {
		t.Errorf("a password kind: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_requests WHERE kind <> 'open_account'`); n != 0 {
		t.Fatalf("%d changes recorded", n)
	}
}

// fieldNames are the fields a validation error names.
func fieldNames(err error) []string {
	v, ok := validation.As(err)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range v.Fields {
		out = append(out, f.Field)
	}
	return out
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// Above the brokerage's level a leverage change waits for approval with nothing queued; a rejection needs a reason,
// which the client reads; a new request after it waits again and, approved, is queued and carried out.
func TestALeverageAboveTheLevelWaitsForApprovalAndIsRejectedOrApproved(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	o := b.opened(t, clients.StatusKYCApproved)
	if _, err := b.svc.SaveDeskSettings(ctx, b.ten, admin, tradingdesk.DeskSettings{LeverageApprovalAbove: 100}); err != nil {
		t.Fatal(err)
	}
	r, err := b.svc.ChangeLeverage(ctx, b.ten, o.client, o.account, 200)
	if err != nil || r.Status != tradingdesk.RequestAwaitingApproval || b.tasks(t, r) != 0 {
		t.Fatalf("request: %+v %v", r, err)
	}
	if _, err := b.svc.ChangeLeverage(ctx, b.ten, o.client, o.account, 50); !errors.Is(err, tradingdesk.ErrInProgress) {
		t.Fatalf("a second change beside it: %v", err)
	}
	if _, err := b.svc.Decide(ctx, b.ten, officer, r.ID, false, " "); !slicesEqual(fieldNames(err), []string{"reason"}) {
		t.Fatalf("a rejection without a reason: %v", err)
	}
	got, err := b.svc.Decide(ctx, b.ten, officer, r.ID, false, "Leverage above 1:100 needs a completed appropriateness test.")
	if err != nil || got.Status != tradingdesk.RequestRejected || got.Rejection == "" || got.FinishedAt == nil {
		t.Fatalf("rejected: %+v %v", got, err)
	}
	if v := tradingdesk.ToRequestResponse(got, false); v.Rejection != "Leverage above 1:100 needs a completed appropriateness test." || v.Status != "rejected" {
		t.Fatalf("the client's view: %+v", v)
	}
	if _, err := b.svc.Decide(ctx, b.ten, officer, r.ID, true, ""); !errors.Is(err, tradingdesk.ErrNotAwaiting) {
		t.Fatalf("a decided request approved: %v", err)
	}
	r2, err := b.svc.ChangeLeverage(ctx, b.ten, o.client, o.account, 200)
	if err != nil || r2.Status != tradingdesk.RequestAwaitingApproval {
		t.Fatalf("asked again: %+v %v", r2, err)
	}
	if got, err := b.svc.Decide(ctx, b.ten, officer, r2.ID, true, ""); err != nil || got.Status != tradingdesk.RequestPending || b.tasks(t, r2) != 1 {
		t.Fatalf("approved: %+v %v", got, err)
	}
	if got := b.carry(t, r2); got.Status != tradingdesk.RequestDone || b.account(t, o.account).Leverage != 200 {
		t.Fatalf("carried: %+v", got)
	}
	if _, err := b.svc.Decide(ctx, b.ten, officer, uuid.New(), true, ""); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Fatalf("no such request: %v", err)
	}
	sentences := b.sentences(t)
	for _, want := range []string{"asked for leverage 1:200 on account " + o.login + " (it has 1:100); it waits for approval",
		"rejected Ada Lovelace's request for leverage 1:200 on account " + o.login + ": Leverage above 1:100 needs a completed appropriateness test",
		"approved Ada Lovelace's request for leverage 1:200 on account " + o.login} {
		if !strings.Contains(sentences, want) {
			t.Errorf("the trail lacks %q:\n%s", want, sentences)
		}
	}
}

// Swap-free waits for approval by default; approved, the worker moves the account to its group's twin, and off
// again to the standard group; the CRM records the group the platform holds.
func TestSwapFreeWaitsForApprovalAndMovesTheAccountToItsTwinGroup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	o := b.opened(t, clients.StatusKYCApproved)
	for _, on := range []bool{true, false} {
		r, err := b.svc.ChangeSwapFree(ctx, b.ten, o.client, o.account, on)
		if err != nil || r.Status != tradingdesk.RequestAwaitingApproval || r.SwapFree != on {
			t.Fatalf("swap-free %v: %+v %v", on, r, err)
		}
		if _, err := b.svc.ChangeSwapFree(ctx, b.ten, o.client, o.account, on); !errors.Is(err, tradingdesk.ErrInProgress) {
			t.Fatalf("asked twice: %v", err)
		}
		if _, err := b.svc.Decide(ctx, b.ten, officer, r.ID, true, ""); err != nil {
			t.Fatal(err)
		}
		if got := b.carry(t, r); got.Status != tradingdesk.RequestDone {
			t.Fatalf("carried: %+v", got)
		}
		want := map[bool]string{true: "standard-usd-swapfree", false: "standard-usd"}[on]
		if acc, err := b.sim.Account(ctx, o.login); err != nil || acc.Group != want || acc.SwapFree != on {
			t.Fatalf("on the platform: %+v %v", acc, err)
		}
		if a := b.account(t, o.account); a.Group != want || a.SwapFree != on {
			t.Fatalf("in the CRM: %+v", a)
		}
	}
	if _, err := b.svc.ChangeSwapFree(ctx, b.ten, o.client, o.account, false); !slicesEqual(fieldNames(err), []string{"swap_free"}) {
		t.Fatalf("already off: %v", err)
	}
	sentences := b.sentences(t)
	for _, want := range []string{"Account " + o.login + " of Ada Lovelace is swap-free on the trading server (group standard-usd-swapfree)",
		"approved Ada Lovelace's request for swap-free on account " + o.login, "Ada Lovelace asked for the end of swap-free on account " + o.login} {
		if !strings.Contains(sentences, want) {
			t.Errorf("the trail lacks %q:\n%s", want, sentences)
		}
	}
}

// The platform refusing a change fails it at once with the platform's reason (the simulator's own refusal for a
// leverage its group does not allow; the other kinds refused by the session); one the platform never answers
// stays pending for the retries and fails at the last.
func TestAChangeThePlatformRefusesFailsWithItsReason(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	if _, err := b.svc.CreateAccountType(ctx, b.ten, admin, tradingdesk.AccountTypeInput{Slug: "pro", Name: "Pro", Server: "sim", Leverages: []int{100, 500},
		Enabled: true, Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "pro-usd", SwapFreeGroup: "pro-usd-swapfree"}}}); err != nil {
		t.Fatal(err)
	}
	ch := b.changer()
	client, email := b.client(t, clients.StatusKYCApproved, "standard")
	op := b.open(t, client, "pro", "USD", 100)
	if err := b.svc.OpenRequested(ctx, b.ten, op.ID, false); err != nil {
		t.Fatal(err)
	}
	localsvc.AwaitMail(t, email, 1, 10*time.Second)
	account := *b.request(t, op.ID).AccountID
	r, err := b.svc.ChangeLeverage(ctx, b.ten, client, account, 500)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.svc.CarryChange(ctx, b.ten, r.ID, false); err == nil {
		t.Fatal("the simulator's refusal was not returned")
	}
	got := b.request(t, r.ID)
	if got.Status != tradingdesk.RequestFailed || !strings.Contains(got.Failure, "outside 1:1..1:200") || b.account(t, account).Leverage != 100 {
		t.Fatalf("refused by the simulator: %+v", got)
	}
	// Each other kind, refused by the session.
	swap, err := b.svc.ChangeSwapFree(ctx, b.ten, client, account, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Decide(ctx, b.ten, officer, swap.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	pw, err := b.svc.ResetPassword(ctx, b.ten, client, account, trading.PasswordMain)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := b.svc.SetAccountAccess(ctx, b.ten, admin, account, false, "a chargeback")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []tradingdesk.Request{swap, pw, acc} {
		ch.failNext(1, refusal)
		_ = b.svc.CarryChange(ctx, b.ten, r.ID, false)
		if got := b.request(t, r.ID); got.Status != tradingdesk.RequestFailed || !strings.Contains(got.Failure, "the dealer's rule refuses this account") {
			t.Errorf("%s: %+v", r.Kind, got)
		}
	}
	if a := b.account(t, account); a.SwapFree || !a.LoginEnabled || a.Status != "active" {
		t.Fatalf("a failed change changed the account: %+v", a)
	}
	// The platform away: pending through the retries, failed at the last attempt.
	lev, err := b.svc.ChangeLeverage(ctx, b.ten, client, account, 500)
	if err != nil {
		t.Fatal(err)
	}
	ch.failNext(2, &trading.PlatformError{Kind: trading.ErrUnavailable, Platform: trading.PlatformSimulator, Op: "set_leverage", Message: "connection refused"})
	if err := b.svc.CarryChange(ctx, b.ten, lev.ID, false); !errors.Is(err, trading.ErrUnavailable) || b.request(t, lev.ID).Status != tradingdesk.RequestPending {
		t.Fatalf("a retry: %v", err)
	}
	_ = b.svc.CarryChange(ctx, b.ten, lev.ID, true)
	if got := b.request(t, lev.ID); got.Status != tradingdesk.RequestFailed || !strings.Contains(got.Failure, "connection refused") {
		t.Fatalf("at the last attempt: %+v", got)
	}
	if s := b.sentences(t); !strings.Contains(s, "The request of Ada Lovelace for leverage 1:500 on account "+op.Login+" failed: leverage 1:500 is outside") {
		t.Errorf("the trail:\n%s", s)
	}
}

// A new password is minted by the worker, set on the platform and emailed at once: it opens the account, and no
// table, audit row or log line holds it.
func TestANewPasswordIsSetAndEmailedAndNeverStored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	o := b.opened(t, clients.StatusKYCApproved)
	var secrets []string
	for i, kind := range []trading.PasswordKind{trading.PasswordInvestor, trading.PasswordMain} {
		r, err := b.svc.ResetPassword(ctx, b.ten, o.client, o.account, kind)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.carry(t, r); got.Status != tradingdesk.RequestDone || got.EmailedAt == nil {
			t.Fatalf("%s: %+v", kind, got)
		}
		msgs := localsvc.AwaitMail(t, o.email, 2+i, 10*time.Second)
		var pw string
		for _, m := range msgs {
			if strings.Contains(m.Subject, "A new") && strings.Contains(m.Subject, map[trading.PasswordKind]string{trading.PasswordMain: "main",
				trading.PasswordInvestor: "investor"}[kind]) {
				pw = passwordIn(m.Text, "Password")
			}
		}
		if len(pw) != 12 || !b.sim.CheckPassword(o.login, kind, pw) {
			t.Fatalf("%s: the emailed password %q does not open the account", kind, pw)
		}
		secrets = append(secrets, pw)
	}
	var dump string
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT string_agg(r::text, '|') FROM trading_requests r) || (SELECT string_agg(a::text, '|') FROM trading_accounts a) ||
			(SELECT string_agg(o::text, '|') FROM outbox o) || (SELECT string_agg(l::text, '|') FROM audit_log l)`).Scan(&dump)
	}); err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		if strings.Contains(dump, secret) || strings.Contains(b.log.String(), secret) {
			t.Fatalf("a password rests in the database or the log")
		}
	}
	if s := b.sentences(t); !strings.Contains(s, "A new investor password of account "+o.login+" was set on the trading server and emailed to Ada Lovelace") {
		t.Errorf("the trail:\n%s", s)
	}
}

// client.status_changed: suspending a client disables their accounts (login and trading), restricting leaves
// login only, and reinstating enables them again; an account a staff user disabled by hand stays disabled through
// the reinstatement until enabled by hand.
func TestAClientsStatusDisablesAndReenablesTheirAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	b.svc.Subscribe(b.hall)
	o := b.opened(t, clients.StatusKYCApproved)
	second := b.open(t, o.client, "standard", "EUR", 100)
	if err := b.svc.OpenRequested(ctx, b.ten, second.ID, false); err != nil {
		t.Fatal(err)
	}
	held := *b.request(t, second.ID).AccountID
	status := func(action string) {
		t.Helper()
		if _, err := b.cl.ChangeStatus(ctx, b.ten, clients.Viewer{}, o.client, action, "a test of "+action, officer); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
	}
	// carryAll runs every pending access request, oldest first.
	carryAll := func() {
		t.Helper()
		reqs, err := b.svc.Requests(ctx, b.ten, tradingdesk.RequestFilter{Status: tradingdesk.RequestPending, Client: o.client})
		if err != nil {
			t.Fatal(err)
		}
		for i := len(reqs) - 1; i >= 0; i-- {
			b.carry(t, reqs[i])
		}
	}
	expect := func(what string, id uuid.UUID, want trading.Access) {
		t.Helper()
		a := b.account(t, id)
		acc, err := b.sim.Account(ctx, a.Login)
		if err != nil || acc.Access != want || tradingdesk.ExpectedAccess(a) != want || (a.Status == "active") != (want.LoginEnabled && want.TradingEnabled) {
			t.Fatalf("%s, account %s: platform %+v, CRM %+v (%s) %v; want %+v", what, a.Login, acc.Access, tradingdesk.ExpectedAccess(a), a.Status, err, want)
		}
	}
	all, none, loginOnly := trading.Access{LoginEnabled: true, TradingEnabled: true}, trading.Access{}, trading.Access{LoginEnabled: true}

	waiting, err := b.svc.ChangeSwapFree(ctx, b.ten, o.client, o.account, true)
	if err != nil {
		t.Fatal(err)
	}
	status("suspend")
	if n := b.count(t, `SELECT count(*) FROM trading_requests WHERE kind = 'set_access' AND status = 'pending'`); n != 2 {
		t.Fatalf("%d access requests after the suspension", n)
	}
	carryAll()
	if _, err := b.svc.Decide(ctx, b.ten, officer, waiting.ID, true, ""); !slicesEqual(fieldNames(err), []string{"account"}) {
		t.Fatalf("a change of a disabled account approved: %v", err)
	}
	expect("suspended", o.account, none)
	expect("suspended", held, none)
	if _, err := b.svc.SetAccountAccess(ctx, b.ten, admin, held, true, ""); !slicesEqual(fieldNames(err), []string{"account"}) {
		t.Fatalf("enabling a suspended client's account by hand: %v", err)
	}
	if _, err := b.svc.SetAccountAccess(ctx, b.ten, admin, held, false, "chargeback under investigation"); err != nil {
		t.Fatal(err)
	}
	carryAll()
	status("reinstate")
	carryAll()
	expect("reinstated", o.account, all)
	expect("reinstated, held by hand", held, none)
	status("restrict")
	carryAll()
	expect("restricted", o.account, loginOnly)
	status("reinstate")
	carryAll()
	expect("reinstated again", o.account, all)
	if _, err := b.svc.SetAccountAccess(ctx, b.ten, admin, held, true, ""); err != nil {
		t.Fatal(err)
	}
	carryAll()
	expect("enabled by hand", held, all)
	if _, err := b.svc.SetAccountAccess(ctx, b.ten, admin, held, false, ""); !slicesEqual(fieldNames(err), []string{"reason"}) {
		t.Fatalf("disabled without a reason: %v", err)
	}
	sentences := b.sentences(t)
	for _, want := range []string{"Ada Lovelace's status is now suspended: the trading desk asked for login and trading disabled on account " + o.login,
		"Account " + o.login + " of Ada Lovelace: login enabled, trading disabled on the trading server",
		"disabled account " + b.account(t, held).Login + " by hand: chargeback under investigation"} {
		if !strings.Contains(sentences, want) {
			t.Errorf("the trail lacks %q:\n%s", want, sentences)
		}
	}
}

// A currency change is refused with the reason and the account type to open in that currency; a currency that is
// not one, or the account's own, is named.
func TestACurrencyChangeIsRefusedWithTheOfferOfANewAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	o := b.opened(t, clients.StatusKYCApproved)
	err := b.svc.ChangeCurrency(ctx, b.ten, o.client, o.account, "eur")
	var cf *tradingdesk.CurrencyFixedError
	if !errors.As(err, &cf) || cf.OfferSlug != "standard" || !strings.Contains(err.Error(), "Open a new Standard account in EUR instead") {
		t.Fatalf("EUR: %v", err)
	}
	for _, cur := range []string{"USD", "XYZ"} {
		if err := b.svc.ChangeCurrency(ctx, b.ten, o.client, o.account, cur); !slicesEqual(fieldNames(err), []string{"currency"}) {
			t.Errorf("%s: %v", cur, err)
		}
	}
	if err := b.svc.ChangeCurrency(ctx, b.ten, o.client, o.account, "JPY"); !errors.As(err, &cf) || !strings.Contains(err.Error(), "No account type in JPY") {
		t.Errorf("JPY: %v", err)
	}
	if err := b.svc.ChangeCurrency(ctx, b.ten, uuid.New(), o.account, "EUR"); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("another client: %v", err)
	}
}

// Another tenant never reaches an account's changes or its requests' decisions.
func TestTenantBNeverChangesOrDecidesTenantAsAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	o := b.opened(t, clients.StatusKYCApproved)
	r, err := b.svc.ChangeSwapFree(ctx, b.ten, o.client, o.account, true)
	if err != nil {
		t.Fatal(err)
	}
	tenB := b.p.NewTenant(t, "")
	if _, err := b.svc.Decide(ctx, tenB, officer, r.ID, true, ""); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("decided from B: %v", err)
	}
	if _, err := b.svc.SetAccountAccess(ctx, tenB, admin, o.account, false, "from B"); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("disabled from B: %v", err)
	}
	if _, err := b.svc.ResetPassword(ctx, tenB, o.client, o.account, trading.PasswordMain); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("a password from B: %v", err)
	}
	if err := b.svc.CarryChange(ctx, tenB, r.ID, false); err != nil {
		t.Errorf("carried from B: %v", err)
	}
	if got := b.request(t, r.ID); got.Status != tradingdesk.RequestAwaitingApproval {
		t.Errorf("A's request: %+v", got)
	}
}

// The change's task, built from its outbox row and delivered twice through the worker's task table: the platform
// is called once, and the account is changed.
func TestTheChangeTaskDeliveredTwiceCallsThePlatformOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	ch := b.changer()
	o := b.opened(t, clients.StatusKYCApproved)
	r, err := b.svc.ChangeLeverage(ctx, b.ten, o.client, o.account, 50)
	if err != nil {
		t.Fatal(err)
	}
	var payload []byte
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT payload FROM outbox WHERE task_type = $1 AND idem_key = $2`, tradingdesk.TaskChange, "change:"+r.ID.String()).Scan(&payload)
	}); err != nil {
		t.Fatal(err)
	}
	task, err := jobs.NewTask(tradingdesk.TaskChange, b.ten.ID, "change:"+r.ID.String(), json.RawMessage(payload))
	if err != nil {
		t.Fatal(err)
	}
	tt := jobs.NewTasks(b.p.Registry)
	b.svc.Tasks(tt)
	for range 2 {
		if err := tt.Mux().ProcessTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if n := ch.count("leverage"); n != 1 || b.request(t, r.ID).Status != tradingdesk.RequestDone || b.account(t, o.account).Leverage != 50 {
		t.Fatalf("%d calls; %+v", n, b.request(t, r.ID))
	}
}
