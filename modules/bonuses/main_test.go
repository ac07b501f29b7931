package bonuses

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/payments"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) {
	tenanttest.Main(m, localsvc.Postgres, localsvc.Mailpit)
}

// fakeTrades answers when positions opened from the test's map (the trading desk answers it in the product).
type fakeTrades struct {
	mu     sync.Mutex
	opened map[string]time.Time
	calls  int // PositionsOpened calls
}

func (f *fakeTrades) PositionsOpened(_ context.Context, _ tenants.Tenant, asks []tradingdesk.PositionAsk) ([]time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	out := make([]time.Time, len(asks))
	for i, a := range asks {
		out[i] = f.opened[a.Position]
	}
	return out, nil
}

// world is one test's tenant with the bonus engine over real Postgres, audit, clients and ledger.
type world struct {
	p      *tenanttest.Platform
	ten    tenants.Tenant
	trail  *audit.Service
	led    *ledger.Service
	svc    *Service
	trades *fakeTrades
	server uuid.UUID
	mu     sync.Mutex
	now    time.Time
}

var staffer = audit.Actor{Kind: audit.ActorStaff, ID: "7a1d5e0c-2f43-4c61-9f0e-5b8a9d3c2e11"}

func setup(t testing.TB) *world {
	t.Helper()
	p := tenanttest.Shared(t)
	w := &world{p: p, ten: p.NewTenant(t, ""), trail: audit.NewService(p.Gate), server: uuid.New(),
		trades: &fakeTrades{opened: map[string]time.Time{}}, now: time.Now().UTC()}
	cl := clients.NewService(clients.Options{Gate: p.Gate, Audit: w.trail})
	cl.Door().Trail()
	var err error
	if w.led, err = ledger.New(ledger.Options{Gate: p.Gate, Events: events.New(events.Options{Gate: p.Gate})}); err != nil {
		t.Fatal(err)
	}
	if w.svc, err = New(Options{Gate: p.Gate, Audit: w.trail, Clients: cl, Ledger: w.led, Trades: w.trades, Now: w.clock}); err != nil {
		t.Fatal(err)
	}
	w.svc.Door().Trail()
	return w
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

// client adds a client in country with tier and answers its id.
func (w *world) client(t testing.TB, first, country, tier string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if err := w.p.Gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, tier)
			VALUES ($1, $2, $3, 'Trader', $4, '+442079460958', '1990-04-25', 'kyc_approved', $5)`,
			id, strings.ToLower(first)+"."+tenanttest.RandomLabel(8)+"@example.com", first, country, tier)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (w *world) rule(t testing.TB, name string, r Terms) Rule {
	t.Helper()
	out, err := w.svc.CreateRule(context.Background(), w.ten, staffer, name, "USD", r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func meta(at time.Time) events.Meta { return events.Meta{ID: uuid.Must(uuid.NewV7()), OccurredAt: at} }

func (w *world) deliver(t testing.TB, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	if err := w.p.Gate.Scope(context.Background(), w.ten, fn); err != nil {
		t.Fatal(err)
	}
}

// deposit delivers deposit.completed for the client's deposit number n of amount minor USD, and answers its id.
func (w *world) deposit(t testing.TB, client uuid.UUID, n int, amount int64) payments.DepositCompleted {
	t.Helper()
	e := payments.DepositCompleted{DepositID: uuid.New(), ClientID: client, Amount: amount, Currency: "USD", Exponent: 2, DepositNumber: n,
		GatewayID: uuid.New(), GatewayKind: "stripe", LedgerTx: uuid.New()}
	w.redeliver(t, e)
	return e
}

func (w *world) redeliver(t testing.TB, e payments.DepositCompleted) {
	t.Helper()
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error { return w.svc.onDeposit(ctx, tx, w.ten, meta(w.clock()), e) })
}

func (w *world) account(client uuid.UUID) tradingdesk.DealAccount {
	id := uuid.New()
	return tradingdesk.DealAccount{ServerID: w.server, Login: "5001", AccountID: &id, ClientID: &client}
}

// closingDeal closes position p<ticket> at at, opened held before.
func (w *world) closingDeal(ticket, lots string, at time.Time, held time.Duration) tradingdesk.Deal {
	w.trades.mu.Lock()
	w.trades.opened["p"+ticket] = at.Add(-held)
	w.trades.mu.Unlock()
	return tradingdesk.Deal{Ticket: ticket, PositionID: "p" + ticket, Action: trading.ActionSell, Entry: trading.EntryOut, Symbol: "EURUSD",
		Volume: dec(lots), Price: dec("1.1"), Time: at.UTC().Truncate(time.Microsecond)}
}

func (w *world) closed(t testing.TB, a tradingdesk.DealAccount, d tradingdesk.Deal) {
	t.Helper()
	w.closedBatch(t, a, d)
}

// closedBatch delivers the deals' deal_closed events as one batch, as the hall does.
func (w *world) closedBatch(t testing.TB, a tradingdesk.DealAccount, deals ...tradingdesk.Deal) {
	t.Helper()
	ds := make([]events.Delivery[tradingdesk.DealClosed], len(deals))
	for i, d := range deals {
		ds[i] = events.Delivery[tradingdesk.DealClosed]{Meta: meta(d.Time), Event: tradingdesk.DealClosed{DealAccount: a, Deal: d}}
	}
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error { return w.svc.onDealsClosed(ctx, tx, w.ten, ds) })
}

func (w *world) changed(t testing.TB, a tradingdesk.DealAccount, before tradingdesk.Deal, after *tradingdesk.Deal, at time.Time) {
	t.Helper()
	change := tradingdesk.DealUpdated
	if after == nil {
		change = tradingdesk.DealCancelled
	}
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return w.svc.onDealChanged(ctx, tx, w.ten, meta(at), tradingdesk.DealChanged{DealAccount: a, Change: change, Before: before, After: after})
	})
}

func (w *world) bonuses(t testing.TB, client uuid.UUID) []Bonus {
	t.Helper()
	bs, err := w.svc.ClientBonuses(context.Background(), w.ten, client)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// balance is the posted balance of an account (0 when never posted to).
func (w *world) balance(t testing.TB, spec ledger.AccountSpec) int64 {
	t.Helper()
	b, err := w.led.Balance(context.Background(), w.ten, spec.Code)
	if errors.Is(err, ledger.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Posted
}

// sentences are the audit trail's sentences about the client, newest first.
func (w *world) sentences(t testing.TB, client uuid.UUID) []string {
	t.Helper()
	ctx := context.Background()
	page, err := w.trail.List(ctx, w.ten, audit.Filter{TargetType: "client", TargetID: client.String()}, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	told, err := w.trail.Tell(ctx, w.ten, page.Rows)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range told {
		out = append(out, r.Sentence.String())
	}
	return out
}
