package tradingdesk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/events"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/simulator"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// trader opens a funded account on the bundle's simulator and lets it trade for ticks of the activity loop: a
// deposit, opening and closing deals with profit, commission and swap.
func (b *bundle) trader(t testing.TB, ticks int) string {
	t.Helper()
	ctx := context.Background()
	a, err := b.sim.CreateAccount(ctx, trading.NewAccount{Group: "standard-usd", Leverage: 100, Password: "Tr4de!Desk", FirstName: "Sync",
		LastName: "Test", Email: "sync@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.sim.BalanceOperation(ctx, trading.BalanceOp{Login: a.Login, Kind: trading.Deposit, Amount: decimal.NewFromInt(50_000),
		OperationID: "fund-" + a.Login}); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.RunActivity(ctx, simulator.ActivityOptions{Seed: 7, Ticks: ticks, OpenPercent: 60, ClosePercent: 40}); err != nil {
		t.Fatal(err)
	}
	return a.Login
}

// linked records login on server as the account of a new client of ten, in status, opened (created_at and, for a
// closed account, its closing) at opened; it answers the account's and the client's ids.
func (b *bundle) linked(t testing.TB, ten tenants.Tenant, server uuid.UUID, login, status string, opened time.Time) (account, client uuid.UUID) {
	t.Helper()
	account, client = uuid.New(), uuid.New()
	if err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO clients (id, email, first_name, last_name, country, phone, date_of_birth, status, tier)
			VALUES ($1, $2, 'Ada', 'Lovelace', 'GB', '+442079460958', '1990-04-25', 'kyc_approved', 'standard')`,
			client, "ada."+tenanttest.RandomLabel(10)+"@example.com"); err != nil {
			return err
		}
		var typ uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM account_types WHERE server_id = $1 LIMIT 1`, server).Scan(&typ)
		if errors.Is(err, pgx.ErrNoRows) {
			typ = uuid.New()
			_, err = tx.Exec(ctx, `INSERT INTO account_types (id, slug, name, server_id, groups, leverages)
				VALUES ($1, $2, 'Standard', $3, '{"USD": {"group": "standard-usd"}}', '{100}')`, typ, "standard-"+tenanttest.RandomLabel(6), server)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO trading_accounts (id, client_id, server_id, account_type_id, login, currency, leverage, group_name,
			status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'USD', 100, 'standard-usd', $6, $7, $7)`,
			account, client, server, typ, login, status, opened)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return account, client
}

// platformDeals is every deal the simulator lists for login, oldest first.
func (b *bundle) platformDeals(t testing.TB, login string) []trading.Deal {
	t.Helper()
	q := trading.DealQuery{Login: login, From: time.Unix(0, 0), To: time.Now().Add(time.Hour), Limit: 1000}
	var out []trading.Deal
	for {
		page, err := b.sim.ClosedDeals(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Deals...)
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

// closing counts the deals that close a position: what trading.deal_closed announces.
func closing(deals []trading.Deal) int {
	n := 0
	for _, d := range deals {
		if (d.Action == trading.ActionBuy || d.Action == trading.ActionSell) &&
			(d.Entry == trading.EntryOut || d.Entry == trading.EntryInOut || d.Entry == trading.EntryOutBy) {
			n++
		}
	}
	return n
}

// storedDeals renders t's stored deals of login, oldest first, one line each, as the platform lists them.
func (b *bundle) storedDeals(t testing.TB, ten tenants.Tenant, login string) []string {
	t.Helper()
	var out []string
	if err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT ticket, coalesce(position_id, ''), action, coalesce(entry, ''), coalesce(symbol, ''), volume::text,
			price::text, profit::text, commission::text, swap::text, time, comment FROM trading_deals WHERE login = $1 AND cancelled_at IS NULL
			ORDER BY time, ticket::bigint`, login)
		if err != nil {
			return err
		}
		var tk, pos, action, entry, sym, vol, price, profit, comm, swap, comment string
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&tk, &pos, &action, &entry, &sym, &vol, &price, &profit, &comm, &swap, &at, &comment}, func() error {
			out = append(out, dealLine(trading.Deal{Ticket: tk, PositionID: pos, Action: trading.DealAction(action), Entry: trading.DealEntry(entry),
				Symbol: sym, Volume: decimal.RequireFromString(vol), Price: decimal.RequireFromString(price), Profit: decimal.RequireFromString(profit),
				Commission: decimal.RequireFromString(comm), Swap: decimal.RequireFromString(swap), Time: at, Comment: comment}))
			return nil
		})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func dealLine(d trading.Deal) string {
	return fmt.Sprintf("%s pos=%s %s/%s %s vol=%s @%s p=%s c=%s s=%s %s %q", d.Ticket, d.PositionID, d.Action, d.Entry, d.Symbol,
		d.Volume.String(), d.Price.String(), d.Profit.String(), d.Commission.String(), d.Swap.String(),
		d.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano), d.Comment)
}

func dealLines(deals []trading.Deal) []string {
	out := make([]string, len(deals))
	for i, d := range deals {
		out[i] = dealLine(d)
	}
	return out
}

func sameLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s: %d stored, %d on the platform\nstored:\n%s\nplatform:\n%s", what, len(got), len(want),
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// published reads the events a Later subscriber gets from the committed outbox rows: one per event published in a
// transaction that committed.
func (b *bundle) published(t testing.TB, ten tenants.Tenant, subscriber string) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	if err := b.p.Gate.Scope(context.Background(), ten, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT payload->'event' FROM outbox WHERE task_type = ANY($1) ORDER BY created_at, id`,
			b.hall.RowTypes(events.TaskType(subscriber)))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// subscribe registers Later subscribers of both events (their outbox rows are what committed) and returns them.
func (b *bundle) subscribe() (closed, changed string) {
	events.Later(b.hall, "test.deal_closed", func(context.Context, pgx.Tx, tenants.Tenant, events.Meta, tradingdesk.DealClosed) error { return nil })
	events.Later(b.hall, "test.deal_changed", func(context.Context, pgx.Tx, tenants.Tenant, events.Meta, tradingdesk.DealChanged) error { return nil })
	return "test.deal_closed", "test.deal_changed"
}

// A sync stores every deal of the account once, exactly as the platform lists it (money to the cent, times to the
// microsecond), page by page, and announces each closing deal once; a second sync finds nothing new and announces
// nothing.
func TestSyncStoresEveryDealOnceAndASecondSyncNothingNew(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	closedSub, changedSub := b.subscribe()
	srv := b.simServer(t, "sim")
	login := b.trader(t, 120)
	want := b.platformDeals(t, login)
	if len(want) < 50 || closing(want) < 10 {
		t.Fatalf("the activity made %d deals, %d closing: too few to page", len(want), closing(want))
	}
	svc := b.service(t, func(o *tradingdesk.Options) { o.DealPage, o.DealBatch = 7, 20 })
	res, err := svc.SyncAccount(ctx, b.ten, srv.ID, login)
	if err != nil {
		t.Fatal(err)
	}
	if res.New != len(want) || res.Read != len(want) || res.Changed != 0 || res.Cancelled != 0 || res.Pages < len(want)/7 {
		t.Fatalf("first sync: %+v, the platform has %d deals", res, len(want))
	}
	sameLines(t, "after the first sync", b.storedDeals(t, b.ten, login), dealLines(want))
	closedEvents := b.published(t, b.ten, closedSub)
	if len(closedEvents) != closing(want) {
		t.Fatalf("%d deal_closed events for %d closing deals", len(closedEvents), closing(want))
	}
	var first tradingdesk.DealClosed
	if err := json.Unmarshal(closedEvents[0], &first); err != nil || first.ServerID != srv.ID || first.Login != login || !first.Deal.Closes() ||
		first.AccountID != nil || first.Deal.Ticket == "" || first.Deal.Volume.IsZero() {
		t.Fatalf("first deal_closed: %s (%v)", closedEvents[0], err)
	}

	again, err := svc.SyncAccount(ctx, b.ten, srv.ID, login)
	if err != nil {
		t.Fatal(err)
	}
	if again.New != 0 || again.Changed != 0 || again.Cancelled != 0 || again.Read != len(want) {
		t.Fatalf("second sync: %+v (it re-reads the overlap, %d deals, and stores nothing)", again, len(want))
	}
	if n := len(b.published(t, b.ten, closedSub)); n != closing(want) {
		t.Fatalf("%d deal_closed events after the second sync, want %d", n, closing(want))
	}
	if n := len(b.published(t, b.ten, changedSub)); n != 0 {
		t.Fatalf("%d deal_changed events", n)
	}

	// New trading after the sync: the next sync stores just those deals.
	if err := b.sim.RunActivity(ctx, simulator.ActivityOptions{Seed: 8, Ticks: 40, OpenPercent: 60, ClosePercent: 40}); err != nil {
		t.Fatal(err)
	}
	more := b.platformDeals(t, login)
	res, err = svc.SyncAccount(ctx, b.ten, srv.ID, login)
	if err != nil || res.New != len(more)-len(want) {
		t.Fatalf("third sync: %+v %v, %d new deals on the platform", res, err, len(more)-len(want))
	}
	sameLines(t, "after the third sync", b.storedDeals(t, b.ten, login), dealLines(more))
	if n := len(b.published(t, b.ten, closedSub)); n != closing(more) {
		t.Fatalf("%d deal_closed events, want %d", n, closing(more))
	}
}

// A sync cut off between pages (the worker killed: its context cancelled) keeps what it committed, and a sync by a
// restarted worker resumes from the committed cursor: every deal is stored once and announced once.
func TestASyncCutOffBetweenPagesResumesAndStoresEveryDealOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	closedSub, _ := b.subscribe()
	srv := b.simServer(t, "sim")
	login := b.trader(t, 120)
	want := b.platformDeals(t, login)
	small := func(o *tradingdesk.Options) { o.DealPage, o.DealBatch = 5, 5 }

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	pages := 0
	b.pageHook = func() {
		mu.Lock()
		defer mu.Unlock()
		if pages++; pages == 4 {
			cancel() // the fourth page is never read: three pages committed
		}
	}
	_, err := b.service(t, small).SyncAccount(ctx, b.ten, srv.ID, login)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the cut-off sync: %v", err)
	}
	b.pageHook = nil
	if got := len(b.storedDeals(t, b.ten, login)); got != 15 {
		t.Fatalf("%d deals stored before the cut, want the 3 committed pages of 5", got)
	}
	res, err := b.service(t, small).SyncAccount(context.Background(), b.ten, srv.ID, login)
	if err != nil {
		t.Fatal(err)
	}
	if res.New != len(want)-15 || res.Read != len(want)-15 {
		t.Fatalf("the resumed sync: %+v; it should read and store only the %d deals after the cursor", res, len(want)-15)
	}
	sameLines(t, "after the resumed sync", b.storedDeals(t, b.ten, login), dealLines(want))
	if n := len(b.published(t, b.ten, closedSub)); n != closing(want) {
		t.Fatalf("%d deal_closed events for %d closing deals", n, closing(want))
	}
}

// A deal a manager changed on the platform after it was synced, and one deleted, are found by the next sync's
// overlap: the stored row follows the platform (the deleted one is kept, marked cancelled) and each is announced
// once as trading.deal_changed with its values before and after.
func TestADealChangedOrDeletedOnThePlatformIsFoundAndPublished(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	closedSub, changedSub := b.subscribe()
	srv := b.simServer(t, "sim")
	login := b.trader(t, 60)
	if _, err := b.svc.SyncAccount(ctx, b.ten, srv.ID, login); err != nil {
		t.Fatal(err)
	}
	var closes []trading.Deal
	for _, d := range b.platformDeals(t, login) {
		if closing([]trading.Deal{d}) == 1 {
			closes = append(closes, d)
		}
	}
	amended, deleted := closes[0], closes[1]
	if err := b.sim.Faults.AmendDeal(login, amended.Ticket, decimal.RequireFromString("-123.45"), "price corrected"); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.Faults.DeleteDeal(login, deleted.Ticket); err != nil {
		t.Fatal(err)
	}
	res, err := b.svc.SyncAccount(ctx, b.ten, srv.ID, login)
	if err != nil {
		t.Fatal(err)
	}
	if res.New != 0 || res.Changed != 1 || res.Cancelled != 1 {
		t.Fatalf("sync after the changes: %+v", res)
	}
	sameLines(t, "after the changes", b.storedDeals(t, b.ten, login), dealLines(b.platformDeals(t, login)))
	if n := b.count(t, `SELECT count(*) FROM trading_deals WHERE ticket = $1 AND cancelled_at IS NOT NULL AND changed_at IS NOT NULL
		AND profit = $2`, deleted.Ticket, deleted.Profit); n != 1 {
		t.Fatal("the deleted deal is not kept, as it was, marked cancelled")
	}
	changes := b.published(t, b.ten, changedSub)
	if len(changes) != 2 {
		t.Fatalf("%d deal_changed events, want 2", len(changes))
	}
	got := map[tradingdesk.DealChange]tradingdesk.DealChanged{}
	for _, raw := range changes {
		var c tradingdesk.DealChanged
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		got[c.Change] = c
	}
	up := got[tradingdesk.DealUpdated]
	if up.ServerID != srv.ID || up.Login != login || up.Before.Ticket != amended.Ticket || !up.Before.Profit.Equal(amended.Profit) ||
		up.Before.Comment != amended.Comment || up.After == nil || !up.After.Profit.Equal(decimal.RequireFromString("-123.45")) ||
		up.After.Comment != "price corrected" || !up.After.Time.Equal(up.Before.Time) {
		t.Fatalf("the update's event: %+v", up)
	}
	gone := got[tradingdesk.DealCancelled]
	if gone.Before.Ticket != deleted.Ticket || gone.After != nil || !gone.Before.Volume.Equal(deleted.Volume) {
		t.Fatalf("the cancellation's event: %+v", gone)
	}
	// Nothing more on the next sync; no deal was announced closed twice.
	if res, err := b.svc.SyncAccount(ctx, b.ten, srv.ID, login); err != nil || res.Changed+res.Cancelled+res.New != 0 {
		t.Fatalf("the sync after: %+v %v", res, err)
	}
	if n := len(b.published(t, b.ten, closedSub)); n != len(closes) {
		t.Fatalf("%d deal_closed events for %d closing deals", n, len(closes))
	}
}

// Events are published in the transaction of the deals: when a subscriber in the transaction fails, the batch
// rolls back with its events and the cursor stays; the next sync stores and announces that batch once.
func TestARolledBackSyncPublishesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	closedSub, _ := b.subscribe()
	var refuse sync.Map // tickets the in-transaction subscriber refuses
	events.OnTx(b.hall, "test.refuse", func(_ context.Context, _ pgx.Tx, _ tenants.Tenant, _ events.Meta, e tradingdesk.DealClosed) error {
		if _, ok := refuse.Load(e.Deal.Ticket); ok {
			return errors.New("refused")
		}
		return nil
	})
	srv := b.simServer(t, "sim")
	login := b.trader(t, 120)
	want := b.platformDeals(t, login)
	// Refuse a closing deal past the first batch: the batches before it commit, its batch does not.
	var refused trading.Deal
	for i, d := range want {
		if i >= 20 && closing([]trading.Deal{d}) == 1 {
			refused = d
			break
		}
	}
	refuse.Store(refused.Ticket, true)
	svc := b.service(t, func(o *tradingdesk.Options) { o.DealPage, o.DealBatch = 10, 10 })
	if _, err := svc.SyncAccount(ctx, b.ten, srv.ID, login); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the refused sync: %v", err)
	}
	stored := b.storedDeals(t, b.ten, login)
	if len(stored) == 0 || len(stored)%10 != 0 || len(stored) > len(want) {
		t.Fatalf("%d deals stored: not whole committed batches", len(stored))
	}
	for _, line := range stored {
		if strings.HasPrefix(line, refused.Ticket+" ") {
			t.Fatal("the refused deal's batch committed")
		}
	}
	if n := len(b.published(t, b.ten, closedSub)); n != closing(want[:len(stored)]) {
		t.Fatalf("%d deal_closed events committed for %d closing deals stored", n, closing(want[:len(stored)]))
	}
	refuse.Delete(refused.Ticket)
	if _, err := svc.SyncAccount(ctx, b.ten, srv.ID, login); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "after the retry", b.storedDeals(t, b.ten, login), dealLines(want))
	if n := len(b.published(t, b.ten, closedSub)); n != closing(want) {
		t.Fatalf("%d deal_closed events, want %d", n, closing(want))
	}
}

// Tenant B cannot sync through tenant A's server, and its own server on the same platform keeps its own copy of the
// deals: A's rows and events are A's alone.
func TestTenantBNeverSyncsOrSeesTenantAsDeals(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	closedSub, _ := a.subscribe()
	srv := a.simServer(t, "sim")
	login := a.trader(t, 60)
	if _, err := a.svc.SyncAccount(ctx, a.ten, srv.ID, login); err != nil {
		t.Fatal(err)
	}
	b := a.p.NewTenant(t, "")
	if _, err := a.svc.SyncAccount(ctx, b, srv.ID, login); !errors.Is(err, tradingdesk.ErrNotFound) {
		t.Fatalf("B syncs through A's server: %v", err)
	}
	if got := a.storedDeals(t, b, login); len(got) != 0 {
		t.Fatalf("B sees %d deals", len(got))
	}
	bSrv, err := a.svc.CreateServer(ctx, b, admin, tradingdesk.ServerInput{Slug: "sim", Name: "Sim", Platform: trading.PlatformSimulator, Live: true, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.SyncAccount(ctx, b, bSrv.ID, login); err != nil {
		t.Fatal(err)
	}
	want := dealLines(a.platformDeals(t, login))
	sameLines(t, "A's deals", a.storedDeals(t, a.ten, login), want)
	sameLines(t, "B's deals", a.storedDeals(t, b, login), want)
	if n, m := len(a.published(t, a.ten, closedSub)), len(a.published(t, b, closedSub)); n != m || n == 0 {
		t.Fatalf("A has %d deal_closed events, B %d", n, m)
	}
	var aServers []uuid.UUID
	if err := a.p.Gate.Scope(ctx, b, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT server_id FROM trading_deals`)
		if err != nil {
			return err
		}
		aServers, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(aServers) != 1 || aServers[0] != bSrv.ID {
		t.Fatalf("B's deals name servers %v", aServers)
	}
}

// The worker's task syncs one account and is idempotent: run twice (at least once delivery), it stores every deal
// once; a server switched off or gone, or a login the platform does not know, is not retried.
func TestTheSyncTaskIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	srv := b.simServer(t, "sim")
	login := b.trader(t, 40)
	tt := jobs.NewTasks(b.p.Registry)
	b.svc.Tasks(tt)
	slot := time.Now().Truncate(time.Minute)
	task, err := tradingdesk.SyncAccountTask(b.ten, srv.ID, login, slot)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := tt.Mux().ProcessTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	sameLines(t, "after two deliveries", b.storedDeals(t, b.ten, login), dealLines(b.platformDeals(t, login)))
	unknown, _ := tradingdesk.SyncAccountTask(b.ten, srv.ID, "999999", slot)
	if err := tt.Mux().ProcessTask(ctx, unknown); !errors.Is(err, jobs.SkipRetry) {
		t.Fatalf("an unknown login: %v", err)
	}
	if _, err := b.svc.UpdateServer(ctx, b.ten, admin, tradingdesk.ServerInput{Slug: srv.Slug, Name: srv.Name, Platform: srv.Platform, Live: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.SyncAccount(ctx, b.ten, srv.ID, login); !errors.Is(err, tradingdesk.ErrServerOff) {
		t.Fatalf("a switched-off server: %v", err)
	}
	if err := tt.Mux().ProcessTask(ctx, task); err != nil {
		t.Fatalf("the task on a switched-off server: %v", err)
	}
}

// Two syncs of one account at once (a task delivered twice): whichever commits first carries the run on, the
// other stops at its next commit; every deal is stored and announced once.
func TestTwoSyncsOfOneAccountAtOnceStoreEveryDealOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	closedSub, _ := b.subscribe()
	srv := b.simServer(t, "sim")
	login := b.trader(t, 120)
	want := b.platformDeals(t, login)
	svc := b.service(t, func(o *tradingdesk.Options) { o.DealPage, o.DealBatch = 5, 5 })
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := svc.SyncAccount(context.Background(), b.ten, srv.ID, login)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	sameLines(t, "after two syncs at once", b.storedDeals(t, b.ten, login), dealLines(want))
	if n := len(b.published(t, b.ten, closedSub)); n != closing(want) {
		t.Fatalf("%d deal_closed events for %d closing deals", n, closing(want))
	}
}

// The events of an account the CRM knows name its trading account and client, read from trading_accounts with the
// deals; a login the CRM does not know keeps them empty.
func TestDealEventsNameTheCRMsAccountAndClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	closedSub, changedSub := b.subscribe()
	srv := b.simServer(t, "sim")
	known := b.trader(t, 40)
	account, client := b.linked(t, b.ten, srv.ID, known, "active", time.Now().Add(-time.Hour))
	unknown := b.trader(t, 40)
	for _, login := range []string{known, unknown} {
		if _, err := b.svc.SyncAccount(ctx, b.ten, srv.ID, login); err != nil {
			t.Fatal(err)
		}
	}
	var amended trading.Deal
	for _, d := range b.platformDeals(t, known) {
		if closing([]trading.Deal{d}) == 1 {
			amended = d
			break
		}
	}
	if err := b.sim.Faults.AmendDeal(known, amended.Ticket, decimal.RequireFromString("-1.23"), "corrected"); err != nil {
		t.Fatal(err)
	}
	if res, err := b.svc.SyncAccount(ctx, b.ten, srv.ID, known); err != nil || res.Changed != 1 {
		t.Fatalf("the sync after the amendment: %+v %v", res, err)
	}
	seen := map[string]int{}
	check := func(raw json.RawMessage) {
		var a tradingdesk.DealAccount
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		switch {
		case a.Login == known && a.AccountID != nil && *a.AccountID == account && a.ClientID != nil && *a.ClientID == client:
		case a.Login == unknown && a.AccountID == nil && a.ClientID == nil:
		default:
			t.Fatalf("an event of %s names account %v and client %v (the CRM's: %s, %s): %s", a.Login, a.AccountID, a.ClientID, account, client, raw)
		}
		seen[a.Login]++
	}
	for _, raw := range b.published(t, b.ten, closedSub) {
		check(raw)
	}
	if seen[known] == 0 || seen[unknown] == 0 {
		t.Fatalf("deal_closed events per login: %v", seen)
	}
	changes := b.published(t, b.ten, changedSub)
	if len(changes) != 1 {
		t.Fatalf("%d deal_changed events, want 1", len(changes))
	}
	check(changes[0])
}

// firstFrom records where each login's first listing started.
type firstFrom struct {
	trading.Connector
	mu   sync.Mutex
	from map[string]time.Time
}

func (f *firstFrom) ClosedDeals(ctx context.Context, q trading.DealQuery) (trading.DealPage, error) {
	f.mu.Lock()
	if _, ok := f.from[q.Login]; !ok {
		f.from[q.Login] = q.From
	}
	f.mu.Unlock()
	return f.Connector.ClosedDeals(ctx, q)
}

// A first sync of an account the CRM knows reads from its opening (a day before its created_at), not from 2010; a
// login the CRM does not know is read from DealHistoryStart.
func TestAFirstSyncStartsAtTheAccountsOpening(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rec := &firstFrom{from: map[string]time.Time{}}
	b.wrap = func(c trading.Connector) trading.Connector { rec.Connector = c; return rec }
	srv := b.simServer(t, "sim")
	known, unknown := b.trader(t, 30), b.trader(t, 30)
	opened := time.Now().Add(-72 * time.Hour).UTC().Truncate(time.Microsecond)
	b.linked(t, b.ten, srv.ID, known, "active", opened)
	for _, login := range []string{known, unknown} {
		if _, err := b.svc.SyncAccount(ctx, b.ten, srv.ID, login); err != nil {
			t.Fatal(err)
		}
		sameLines(t, login, b.storedDeals(t, b.ten, login), dealLines(b.platformDeals(t, login)))
	}
	if got, want := rec.from[known], opened.Add(-tradingdesk.OpeningMargin); !got.Equal(want) {
		t.Fatalf("the known account's first sync read from %s, want %s (its opening less a day)", got, want)
	}
	if got := rec.from[unknown]; !got.Equal(tradingdesk.DefaultDealHistoryStart) {
		t.Fatalf("an unknown login's first sync read from %s, want %s", got, tradingdesk.DefaultDealHistoryStart)
	}
}
