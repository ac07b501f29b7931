package partners

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/ledger"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) {
	tenanttest.Main(m, localsvc.Postgres)
}

// fakeTrades answers the engine's questions about accounts and positions from the test's maps.
type fakeTrades struct {
	mu     sync.Mutex
	types  map[uuid.UUID]string
	opened map[string]time.Time // position id -> opening
	calls  int                  // PositionsOpened calls
}

func (f *fakeTrades) AccountType(_ context.Context, _ tenants.Tenant, id uuid.UUID) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.types[id], nil
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

// world is one test's tenant with the partners module over real Postgres, audit, clients and ledger.
type world struct {
	p      *tenanttest.Platform
	ten    tenants.Tenant
	trail  *audit.Service
	led    *ledger.Service
	svc    *Service
	trades *fakeTrades
	server uuid.UUID
}

var staffer = audit.Actor{Kind: audit.ActorStaff, ID: "7a1d5e0c-2f43-4c61-9f0e-5b8a9d3c2e11"}

func setup(t testing.TB) *world {
	t.Helper()
	p := tenanttest.Shared(t)
	w := &world{p: p, ten: p.NewTenant(t, ""), trail: audit.NewService(p.Gate), server: uuid.New(),
		trades: &fakeTrades{types: map[uuid.UUID]string{}, opened: map[string]time.Time{}}}
	cl := clients.NewService(clients.Options{Gate: p.Gate, Audit: w.trail})
	cl.Door().Trail()
	var err error
	if w.led, err = ledger.New(ledger.Options{Gate: p.Gate, Events: events.New(events.Options{Gate: p.Gate})}); err != nil {
		t.Fatal(err)
	}
	if w.svc, err = New(Options{Gate: p.Gate, Audit: w.trail, Clients: cl, Ledger: w.led, Trades: w.trades, BatchRows: 7}); err != nil {
		t.Fatal(err)
	}
	w.svc.Door().Trail()
	return w
}

// client adds a client and answers its id.
func (w *world) client(t testing.TB, first string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if err := w.p.Gate.Scope(context.Background(), w.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, tier)
			VALUES ($1, $2, $3, 'Trader', 'GB', '+442079460958', '1990-04-25', 'kyc_approved', 'standard')`,
			id, strings.ToLower(first)+"."+tenanttest.RandomLabel(8)+"@example.com", first)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// plan makes a plan with rules, in USD.
func (w *world) plan(t testing.TB, name string, r Rules) Plan {
	t.Helper()
	p, err := w.svc.CreatePlan(context.Background(), w.ten, staffer, name, "USD", r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// partner makes an active partner on plan under parent (nil: top level) with code.
func (w *world) partner(t testing.TB, name, code string, plan *uuid.UUID, parent *uuid.UUID) uuid.UUID {
	t.Helper()
	p, err := w.svc.CreatePartner(context.Background(), w.ten, staffer, PartnerInput{Name: name, Code: code, PlanID: plan, ParentID: parent})
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// register delivers client.registered for client with code at time at.
func (w *world) register(t testing.TB, client uuid.UUID, code string, at time.Time) {
	t.Helper()
	w.deliver(t, func(ctx context.Context, tx pgx.Tx) error {
		return w.svc.attributeRegistered(ctx, tx, w.ten, meta(at), clients.Registered{ClientID: client, ReferralCode: code, ReferralSource: "link"})
	})
}

func meta(at time.Time) events.Meta {
	return events.Meta{ID: uuid.Must(uuid.NewV7()), OccurredAt: at}
}

// deliver runs a Later reaction in a scope of the world's tenant, as the hall delivers it.
func (w *world) deliver(t testing.TB, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	if err := w.p.Gate.Scope(context.Background(), w.ten, fn); err != nil {
		t.Fatal(err)
	}
}

// account is a trading account of client (its DealAccount).
func (w *world) account(client uuid.UUID, login string) tradingdesk.DealAccount {
	id := uuid.New()
	return tradingdesk.DealAccount{ServerID: w.server, Login: login, AccountID: &id, ClientID: &client}
}

func closing(ticket, symbol, lots string, at time.Time) tradingdesk.Deal {
	return tradingdesk.Deal{Ticket: ticket, PositionID: "p" + ticket, Action: trading.ActionSell, Entry: trading.EntryOut, Symbol: symbol,
		Volume: decimal.RequireFromString(lots), Price: decimal.RequireFromString("1.1"), Time: at.UTC().Truncate(time.Microsecond)}
}

// closed delivers a deal's deal_closed, as a batch of one.
func (w *world) closed(t testing.TB, a tradingdesk.DealAccount, deal tradingdesk.Deal, at time.Time) {
	t.Helper()
	w.closedBatch(t, events.Delivery[tradingdesk.DealClosed]{Meta: meta(at), Event: tradingdesk.DealClosed{DealAccount: a, Deal: deal}})
}

// closedBatch delivers deal_closed events as one batch, as the hall does.
func (w *world) closedBatch(t testing.TB, ds ...events.Delivery[tradingdesk.DealClosed]) {
	t.Helper()
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

// rows lists the rows of f, oldest first.
func (w *world) rows(t testing.TB, f CommissionFilter) []Commission {
	t.Helper()
	list, err := w.svc.Commissions(context.Background(), w.ten, f, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
		list[i], list[j] = list[j], list[i]
	}
	return list
}

// earned is what partner's rows add up to in USD.
func (w *world) earned(t testing.TB, partner uuid.UUID) int64 {
	t.Helper()
	m, err := w.svc.Earned(context.Background(), w.ten, partner)
	if err != nil {
		t.Fatal(err)
	}
	return m["USD"]
}

// wallet is partner's USD wallet in the ledger (0 when never posted to).
func (w *world) wallet(t testing.TB, partner uuid.UUID) int64 {
	t.Helper()
	b, err := w.led.Balance(context.Background(), w.ten, ledger.PartnerWallet(partner, usd).Code)
	if errors.Is(err, ledger.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Posted
}

func (w *world) post(t testing.TB) int {
	t.Helper()
	n, err := w.svc.PostEarnings(context.Background(), w.ten)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
