package tradingdesk_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
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
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// client adds a client of tier in status, and answers its id and email.
func (b *bundle) client(t testing.TB, status clients.Status, tier string) (uuid.UUID, string) {
	t.Helper()
	id, email := uuid.New(), "ada."+tenanttest.RandomLabel(10)+"@example.com"
	if err := b.p.Gate.Scope(context.Background(), b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, tier, kyc_approved_at)
			VALUES ($1, $2, 'Ada', 'Lovelace', 'GB', '+442079460958', '1990-04-25', $3, $4, CASE WHEN $3 = 'kyc_approved' THEN now() END)`,
			id, email, string(status), tier)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id, email
}

// offer adds a simulator server with Standard (USD and EUR, 1:50 to 1:200), Raw (for clients in Germany) and a
// type whose group the platform does not have.
func (b *bundle) offer(t testing.TB) {
	t.Helper()
	b.simServer(t, "sim")
	ctx := context.Background()
	for _, in := range []tradingdesk.AccountTypeInput{
		{Slug: "standard", Name: "Standard", Server: "sim", Leverages: []int{50, 100, 200}, Enabled: true,
			Groups: map[string]tradingdesk.GroupPair{"USD": {"standard-usd", "standard-usd-swapfree"}, "EUR": {"standard-eur", "standard-eur-swapfree"}}},
		{Slug: "raw", Name: "Raw", Server: "sim", Leverages: []int{100}, Countries: []string{"DE"}, Enabled: true,
			Groups: map[string]tradingdesk.GroupPair{"USD": {Group: "pro-usd"}}},
		{Slug: "broken", Name: "Broken", Server: "sim", Leverages: []int{100}, Enabled: true,
			Groups: map[string]tradingdesk.GroupPair{"GBP": {Group: "no-such-group"}}},
	} {
		if _, err := b.svc.CreateAccountType(ctx, b.ten, admin, in); err != nil {
			t.Fatal(err)
		}
	}
}

// faulty wraps a session: CreateAccount forgets the operation id (as MT5 has no idempotency key for a new user) and
// may lose its answer after the platform acted, or fail before.
type faulty struct {
	trading.Connector
	mu         sync.Mutex
	dropAnswer int   // creations that happen but answer ErrUnavailable
	failWith   error // every creation fails with it before reaching the platform
	creates    int
	// Balance operations: dropBalance are applied and answer ErrUnavailable; balanceFails fail before reaching the
	// platform with balanceErr (default ErrUnavailable).
	dropBalance  int
	balanceFails int
	balanceErr   error
	balanceCalls int
}

func (f *faulty) BalanceOperation(ctx context.Context, op trading.BalanceOp) (trading.BalanceResult, error) {
	f.mu.Lock()
	f.balanceCalls++
	drop, fail := f.dropBalance > 0, f.balanceFails > 0
	if drop {
		f.dropBalance--
	}
	if fail {
		f.balanceFails--
	}
	failErr := f.balanceErr
	f.mu.Unlock()
	unavailable := &trading.PlatformError{Kind: trading.ErrUnavailable, Platform: trading.PlatformSimulator, Op: "balance_operation",
		Message: "connection reset after the request was sent"}
	if fail {
		if failErr != nil {
			return trading.BalanceResult{}, failErr
		}
		return trading.BalanceResult{}, unavailable
	}
	res, err := f.Connector.BalanceOperation(ctx, op)
	if err == nil && drop {
		return trading.BalanceResult{}, unavailable
	}
	return res, err
}

func (f *faulty) CreateAccount(ctx context.Context, a trading.NewAccount) (trading.Account, error) {
	f.mu.Lock()
	f.creates++
	drop, fail := f.dropAnswer > 0, f.failWith
	if drop {
		f.dropAnswer--
	}
	f.mu.Unlock()
	if fail != nil {
		return trading.Account{}, fail
	}
	a.OperationID = ""
	acc, err := f.Connector.CreateAccount(ctx, a)
	if err == nil && drop {
		return trading.Account{}, &trading.PlatformError{Kind: trading.ErrUnavailable, Platform: trading.PlatformSimulator, Op: "create_account",
			Message: "connection reset after the request was sent"}
	}
	return acc, err
}

func (b *bundle) faults(t testing.TB) *faulty {
	f := &faulty{}
	b.wrap = func(c trading.Connector) trading.Connector { f.Connector = c; return f }
	return f
}

func (b *bundle) open(t testing.TB, client uuid.UUID, typ, cur string, lev int) tradingdesk.Request {
	t.Helper()
	r, err := b.svc.OpenAccount(context.Background(), b.ten, client, tradingdesk.OpenAccountInput{Type: typ, Currency: cur, Leverage: lev})
	if err != nil {
		t.Fatalf("open %s %s 1:%d: %v", typ, cur, lev, err)
	}
	return r
}

func (b *bundle) request(t testing.TB, id uuid.UUID) tradingdesk.Request {
	t.Helper()
	r, err := b.svc.Request(context.Background(), b.ten, id, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// passwordIn is the password a credentials email gives on its line "label: ".
func passwordIn(text, label string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), label+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// A client opens a live account: the request is recorded pending with its task in the outbox, the worker opens the
// account on the platform at the login the desk reserved, records it as the client's, and emails the login and both
// passwords, which appear nowhere else (not in the database, the audit trail or the log); the trail reads as a
// sentence.
func TestAClientOpensALiveAccountThroughTheWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	client, email := b.client(t, clients.StatusKYCApproved, "standard")
	r := b.open(t, client, "standard", "usd", 100)
	if r.Status != tradingdesk.RequestPending || r.Login != "700000" && r.Login != "700001" || !r.Live || r.Group != "standard-usd" {
		t.Fatalf("request: %+v", r)
	}
	if n := b.count(t, `SELECT count(*) FROM outbox WHERE task_type = $1 AND queue = $2`, tradingdesk.TaskOpenAccount, jobs.QueueSync); n != 1 {
		t.Fatalf("%d opening tasks in the outbox", n)
	}
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err != nil {
		t.Fatal(err)
	}
	r = b.request(t, r.ID)
	if r.Status != tradingdesk.RequestDone || r.AccountID == nil || r.EmailedAt == nil {
		t.Fatalf("after the worker: %+v", r)
	}
	acc, err := b.sim.Account(ctx, r.Login)
	if err != nil || acc.Group != "standard-usd" || acc.Leverage != 100 || acc.Currency != "USD" {
		t.Fatalf("on the platform: %+v %v", acc, err)
	}
	list, err := b.svc.ClientAccounts(ctx, b.ten, client)
	if err != nil || len(list) != 1 || list[0].Login != r.Login || list[0].TypeName != "Standard" || list[0].Balance == nil || list[0].Balance.Minor != 0 {
		t.Fatalf("client's accounts: %+v %v", list, err)
	}
	// Running the task again (a duplicate delivery) does nothing.
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err != nil {
		t.Fatal(err)
	}
	msgs := localsvc.AwaitMail(t, email, 1, 10*time.Second)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, r.Login) {
		t.Fatalf("emails: %+v", msgs)
	}
	pw, inv := passwordIn(msgs[0].Text, "Password"), passwordIn(msgs[0].Text, "Investor (read-only) password")
	if len(pw) != 12 || len(inv) != 12 || pw == inv {
		t.Fatalf("passwords in the email: %q %q\n%s", pw, inv, msgs[0].Text)
	}
	// A new investor password asked from the portal afterwards is emailed, and rests nowhere either.
	reset, err := b.svc.ResetPassword(ctx, b.ten, client, *r.AccountID, trading.PasswordInvestor)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.svc.CarryChange(ctx, b.ten, reset.ID, false); err != nil {
		t.Fatal(err)
	}
	var again string
	for _, m := range localsvc.AwaitMail(t, email, 2, 10*time.Second) {
		if strings.HasPrefix(m.Subject, "A new investor") {
			again = passwordIn(m.Text, "Password")
		}
	}
	if len(again) != 12 || !b.sim.CheckPassword(r.Login, trading.PasswordInvestor, again) {
		t.Fatalf("the new investor password %q", again)
	}
	var dump string
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT string_agg(r::text, '|') FROM trading_requests r) || (SELECT string_agg(a::text, '|') FROM trading_accounts a) ||
			(SELECT string_agg(o::text, '|') FROM outbox o) || (SELECT string_agg(l::text, '|') FROM audit_log l)`).Scan(&dump)
	}); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{pw, inv, again} {
		if strings.Contains(dump, secret) || strings.Contains(b.log.String(), secret) {
			t.Fatalf("a password rests in the database or the log")
		}
	}
	sentences := b.sentences(t)
	for _, want := range []string{"Ada Lovelace asked to open a live account (Standard, USD, 1:100)",
		"Ada Lovelace opened live account " + r.Login + " (Standard, USD, 1:100)"} {
		if !strings.Contains(sentences, want) {
			t.Errorf("the trail lacks %q:\n%s", want, sentences)
		}
	}
}

// sentences are the tenant's audit trail as read.
func (b *bundle) sentences(t testing.TB) string {
	t.Helper()
	page, err := b.trail.List(context.Background(), b.ten, audit.Filter{}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	told, err := b.trail.Tell(context.Background(), b.ten, page.Rows)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range told {
		out = append(out, e.Sentence.String())
	}
	return strings.Join(out, "\n")
}

// The platform opens the account but its answer is lost; the retry finds the account at the reserved login and
// adopts it instead of creating another, sets new passwords (the first ones died with the lost answer) and emails
// them: one account on the platform, one in the CRM, one email.
func TestALostAnswerThenARetryOpensExactlyOneAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	f := b.faults(t)
	f.dropAnswer = 1
	client, email := b.client(t, clients.StatusKYCApproved, "standard")
	r := b.open(t, client, "standard", "EUR", 200)
	err := b.svc.OpenRequested(ctx, b.ten, r.ID, false)
	if !errors.Is(err, trading.ErrUnavailable) {
		t.Fatalf("first run: %v", err)
	}
	if got := b.request(t, r.ID); got.Status != tradingdesk.RequestPending || got.AccountID != nil || got.Calls != 1 {
		t.Fatalf("after the lost answer: %+v", got)
	}
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err != nil {
		t.Fatal(err)
	}
	got := b.request(t, r.ID)
	if got.Status != tradingdesk.RequestDone || got.Login != r.Login || f.creates != 1 {
		t.Fatalf("after the retry: %+v, %d creations", got, f.creates)
	}
	if _, err := b.sim.Account(ctx, r.Login); err != nil {
		t.Fatal(err)
	}
	next, _ := strconv.Atoi(r.Login)
	if _, err := b.sim.Account(ctx, strconv.Itoa(next+1)); !errors.Is(err, trading.ErrNotFound) {
		t.Fatalf("a second account at %d: %v", next+1, err)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_accounts WHERE client_id = $1`, client); n != 1 {
		t.Fatalf("%d accounts in the CRM", n)
	}
	if msgs := localsvc.AwaitMail(t, email, 1, 10*time.Second); len(msgs) != 1 {
		t.Fatalf("%d emails", len(msgs))
	}
}

// A login someone opened on the platform outside the CRM is skipped: the first call answers ErrAlreadyExists and
// the desk takes the next login.
func TestALoginTakenOutsideTheCRMIsSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	client, _ := b.client(t, clients.StatusKYCApproved, "standard")
	r := b.open(t, client, "standard", "USD", 100)
	if _, err := b.sim.CreateAccount(ctx, trading.NewAccount{Login: r.Login, Group: "standard-eur", Leverage: 100, Password: "Outside-1pw",
		FirstName: "Someone", LastName: "Else"}); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err != nil {
		t.Fatal(err)
	}
	got := b.request(t, r.ID)
	if got.Status != tradingdesk.RequestDone || got.Login == r.Login {
		t.Fatalf("request: %+v (reserved %s)", got, r.Login)
	}
	if acc, err := b.sim.Account(ctx, got.Login); err != nil || acc.Group != "standard-usd" {
		t.Fatalf("%+v %v", acc, err)
	}
}

// What a client may not open is refused before anything is recorded: the policy gate (a client whose KYC is not
// approved), a type for another tier, a currency or a leverage the type does not offer.
func TestTheGateTheTypeTheCurrencyAndTheLeverageRefuse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	approved, _ := b.client(t, clients.StatusKYCApproved, "standard")
	pending, _ := b.client(t, clients.StatusKYCSubmitted, "standard")
	if _, err := b.svc.OpenAccount(ctx, b.ten, pending, tradingdesk.OpenAccountInput{Type: "standard", Currency: "USD", Leverage: 100}); !errors.Is(err, tradingdesk.ErrNotAllowed) {
		t.Errorf("a client under review: %v", err)
	}
	for _, c := range []struct {
		in    tradingdesk.OpenAccountInput
		field string
	}{
		{tradingdesk.OpenAccountInput{Type: "raw", Currency: "USD", Leverage: 100}, "type"},
		{tradingdesk.OpenAccountInput{Type: "nope", Currency: "USD", Leverage: 100}, "type"},
		{tradingdesk.OpenAccountInput{Type: "standard", Currency: "GBP", Leverage: 100}, "currency"},
		{tradingdesk.OpenAccountInput{Type: "standard", Currency: "USD", Leverage: 500}, "leverage"},
		{tradingdesk.OpenAccountInput{Type: "standard", Currency: "USD"}, "leverage"},
	} {
		_, err := b.svc.OpenAccount(ctx, b.ten, approved, c.in)
		v, ok := validation.As(err)
		if !ok || len(v.Fields) != 1 || v.Fields[0].Field != c.field {
			t.Errorf("%+v: %v, want a field error on %s", c.in, err, c.field)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM trading_requests`); n != 0 {
		t.Fatalf("%d requests recorded", n)
	}
	offers, refused, err := b.svc.Offers(ctx, b.ten, approved)
	if err != nil || len(offers) != 2 || offers[0].Type.Slug == "raw" || offers[1].Type.Slug == "raw" || refused[true] != "" {
		t.Fatalf("offers: %+v %v %v", offers, refused, err)
	}
}

// A platform that stays away fails the request at the task's last attempt, and a platform that refuses the request
// fails it at once, each with the platform's reason; nothing is opened, and the failed list counts them.
func TestFailuresLeaveTheRequestFailedWithTheReason(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	f := b.faults(t)
	client, _ := b.client(t, clients.StatusKYCApproved, "standard")

	f.failWith = &trading.PlatformError{Kind: trading.ErrUnavailable, Platform: trading.PlatformSimulator, Op: "create_account", Code: "503",
		Message: "trade server busy"}
	r := b.open(t, client, "standard", "USD", 50)
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); !errors.Is(err, trading.ErrUnavailable) {
		t.Fatalf("a retry: %v", err)
	}
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, true); err == nil {
		t.Fatal("the last attempt succeeded")
	}
	got := b.request(t, r.ID)
	if got.Status != tradingdesk.RequestFailed || !strings.Contains(got.Failure, "trade server busy") || got.AccountID != nil {
		t.Fatalf("after the last attempt: %+v", got)
	}

	f.failWith = nil
	r = b.open(t, client, "broken", "GBP", 100)
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err == nil {
		t.Fatal("a refused request succeeded")
	}
	got = b.request(t, r.ID)
	if got.Status != tradingdesk.RequestFailed || !strings.Contains(got.Failure, "no-such-group") {
		t.Fatalf("refused: %+v", got)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_accounts`); n != 0 {
		t.Fatalf("%d accounts", n)
	}
	counts, err := b.svc.RequestCounts(ctx, b.ten)
	if err != nil || counts[tradingdesk.RequestFailed] != 2 {
		t.Fatalf("counts %v %v", counts, err)
	}
	failed, err := b.svc.Requests(ctx, b.ten, tradingdesk.RequestFilter{Status: tradingdesk.RequestFailed})
	if err != nil || len(failed) != 2 {
		t.Fatalf("failed list: %d %v", len(failed), err)
	}
	if s := b.sentences(t); !strings.Contains(s, "The live account request of Ada Lovelace (Standard, USD, 1:50) failed: trade server busy") {
		t.Fatalf("trail:\n%s", s)
	}
}

// An email that cannot be sent leaves the account opened and the request pending; the retry sets new passwords
// and sends them, and opens nothing more.
func TestAnUnsentEmailIsSentByTheRetryWithNewPasswords(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	b.mailFails.add(1)
	client, email := b.client(t, clients.StatusKYCApproved, "standard")
	r := b.open(t, client, "standard", "USD", 100)
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err == nil {
		t.Fatal("the email was sent")
	}
	if got := b.request(t, r.ID); got.Status != tradingdesk.RequestPending || got.AccountID == nil {
		t.Fatalf("after the failed email: %+v", got)
	}
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err != nil {
		t.Fatal(err)
	}
	if got := b.request(t, r.ID); got.Status != tradingdesk.RequestDone || got.EmailedAt == nil {
		t.Fatalf("after the retry: %+v", got)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_accounts`); n != 1 {
		t.Fatalf("%d accounts", n)
	}
	localsvc.AwaitMail(t, email, 1, 10*time.Second)
}

// Another brokerage neither reads a request nor lists it, and cannot open on the first one's account types.
func TestTenantBNeverSeesTenantAsAccountsOrRequests(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	a.offer(t)
	client, _ := a.client(t, clients.StatusKYCApproved, "standard")
	r := a.open(t, client, "standard", "USD", 100)
	other := a.p.NewTenant(t, "")
	if _, err := a.svc.Request(ctx, other, r.ID, uuid.Nil); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("B reads A's request: %v", err)
	}
	if list, err := a.svc.Requests(ctx, other, tradingdesk.RequestFilter{}); err != nil || len(list) != 0 {
		t.Errorf("B lists %d requests: %v", len(list), err)
	}
	if err := a.svc.OpenRequested(ctx, other, r.ID, false); err != nil {
		t.Errorf("B's worker run of A's request: %v", err)
	}
	if got := a.request(t, r.ID); got.Status != tradingdesk.RequestPending || got.Calls != 0 {
		t.Errorf("A's request after B's run: %+v", got)
	}
	// A client's own view: another client's request is not found.
	stranger, _ := a.client(t, clients.StatusKYCApproved, "standard")
	if _, err := a.svc.Request(ctx, a.ten, r.ID, stranger); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Errorf("another client reads the request: %v", err)
	}
}

// The demo brokerage's approved traders own the simulator's funded accounts through the product: Demo links each
// of trading.DemoAccounts to the demo client of its name, with the balance the platform reports, once however often
// it runs; and the demo trader (email verified) may open a demo account, not a live one.
func TestTheDemoClientsOwnTheSimulatorsFundedAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		if err := (clients.DemoSeeder{}).Seed(ctx, tx, b.ten); err != nil {
			return err
		}
		return b.svc.Door().DemoSeeders[0].Seed(ctx, tx, b.ten)
	}); err != nil {
		t.Fatal(err)
	}
	if err := trading.OpenDemoAccounts(ctx, b.sim, "standard-usd", "USD"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := b.svc.Door().Demo(ctx, b.ten); err != nil {
			t.Fatal(err)
		}
	}
	var hannah uuid.UUID
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM clients WHERE email = $1`, clients.DemoEmail("Hannah", "Schmidt")).Scan(&hannah)
	}); err != nil {
		t.Fatal(err)
	}
	list, err := b.svc.ClientAccounts(ctx, b.ten, hannah)
	if err != nil || len(list) != 1 || list[0].Login != "500001" || list[0].TypeName != "Standard" || list[0].Balance == nil ||
		list[0].Balance.String() != "10,000.00 USD" {
		t.Fatalf("Hannah's accounts: %+v %v", list, err)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_accounts`); n != len(trading.DemoAccounts) {
		t.Fatalf("%d linked accounts, want %d", n, len(trading.DemoAccounts))
	}
	// Drift waits: the deposit by hand on 500004 for finance (once, however often the demo starts), the leverage
	// changed on 500003 healed at once; the money the simulator funded before the desk linked them is no drift.
	items, err := b.svc.DriftItems(ctx, b.ten, tradingdesk.DriftFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Login+" "+string(it.Kind)+" "+string(it.Status)+" "+it.PlatformValue)
	}
	slices.Sort(got)
	if want := []string{"500003 leverage healed 1:500", "500003 leverage healed 1:500", "500004 balance open 250.00 USD"}; !slices.Equal(got, want) {
		t.Errorf("demo drift %q, want %q", got, want)
	}
	if a, err := b.sim.Account(ctx, "500003"); err != nil || a.Leverage != 100 {
		t.Errorf("500003 after the demo: %+v %v", a, err)
	}
	// A new account on the demo server takes a login above the linked ones.
	r := b.open(t, hannah, "standard", "USD", 100)
	if r.Login != "700000" {
		t.Fatalf("reserved login %s", r.Login)
	}
}

// A run that finds the request claimed by another (a delivery that overlapped an expired lease) leaves the platform
// alone and asks to be retried; once the claim is given back (or lapses) a run opens the account, and gives it back.
func TestARunWaitsForTheRunThatHoldsTheRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.offer(t)
	client, _ := b.client(t, clients.StatusKYCApproved, "standard")
	r := b.open(t, client, "standard", "USD", 100)
	set := func(q string) {
		if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, q, r.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	set(`UPDATE trading_requests SET claimed_until = now() + interval '1 minute' WHERE id = $1`)
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); !errors.Is(err, tradingdesk.ErrClaimed) {
		t.Fatalf("a run beside another: %v", err)
	}
	if got := b.request(t, r.ID); got.Calls != 0 || got.Status != tradingdesk.RequestPending {
		t.Fatalf("the platform was called: %+v", got)
	}
	set(`UPDATE trading_requests SET claimed_until = now() - interval '1 second' WHERE id = $1`) // lapsed
	if err := b.svc.OpenRequested(ctx, b.ten, r.ID, false); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM trading_requests WHERE claimed_until IS NOT NULL`); n != 0 {
		t.Fatalf("%d claims left", n)
	}
}
