package tradingdesk_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/tradingdesk"
)

// queue gives the bundle's desk a Redis database of the test's own: its Asynq client for the walk, and an
// inspector of what was enqueued.
func (b *bundle) queue(t testing.TB) *asynq.Inspector {
	t.Helper()
	opt, err := jobs.RedisOpt(localsvc.RedisDB(t))
	if err != nil {
		t.Fatal(err)
	}
	client, inspector := asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { client.Close(); inspector.Close() })
	b.svc = b.service(t, func(o *tradingdesk.Options) { o.Queue = client })
	return inspector
}

// walked lists the sync tasks waiting in the queue as "tenant login slot", sorted.
func walked(t testing.TB, in *asynq.Inspector) []string {
	t.Helper()
	list, err := in.ListPendingTasks(jobs.QueueSync, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, info := range list {
		var p struct {
			Login string `json:"login"`
		}
		e, err := jobs.Open(asynq.NewTask(info.Type, info.Payload), &p)
		if err != nil || info.Type != tradingdesk.TaskSyncAccount {
			t.Fatalf("a task %s in the queue (%v)", info.Type, err)
		}
		out = append(out, e.TenantID.String()+" "+p.Login+" "+info.ID[strings.LastIndexByte(info.ID, ':')+1:])
	}
	slices.Sort(out)
	return out
}

// The walk enqueues one sync per account whose deals still sync, on a switched-on server, per slot: active and
// disabled accounts, and a closed one until a sync has read a whole overlap past its closing. However often a slot
// is walked, it enqueues each account once; the next slot enqueues each again. Accounts on a switched-off server
// and another tenant's accounts are not enqueued, and a task the walk enqueued syncs its account's deals.
func TestTheWalkEnqueuesOneSyncPerAccountThatSyncsPerSlot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	in := b.queue(t)
	srv := b.simServer(t, "sim")
	off, err := b.svc.CreateServer(ctx, b.ten, admin, tradingdesk.ServerInput{Slug: "off", Name: "Switched off",
		Platform: trading.PlatformSimulator, Live: true, Enabled: false})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	trader := b.trader(t, 30)
	b.linked(t, b.ten, srv.ID, trader, "active", now.Add(-time.Hour))
	b.linked(t, b.ten, srv.ID, "800002", "disabled", now.Add(-time.Hour))
	b.linked(t, b.ten, srv.ID, "800003", "closed", now.Add(-72*time.Hour)) // never synced
	b.linked(t, b.ten, srv.ID, "800004", "closed", now.Add(-72*time.Hour)) // synced to 12 h past its closing: not yet a day
	b.linked(t, b.ten, srv.ID, "800005", "closed", now.Add(-72*time.Hour)) // synced to 49 h past its closing: done
	b.linked(t, b.ten, off.ID, "800006", "active", now.Add(-time.Hour))
	if err := b.p.Gate.Scope(ctx, b.ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO trading_deal_cursors (server_id, login, synced_to, synced_at)
			VALUES ($1, '800004', $2, $2), ($1, '800005', $3, $3)`, srv.ID, now.Add(-60*time.Hour), now.Add(-23*time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	other := b.p.NewTenant(t, "")
	otherSrv, err := b.svc.CreateServer(ctx, other, admin, tradingdesk.ServerInput{Slug: "sim", Name: "Sim", Platform: trading.PlatformSimulator,
		Live: true, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	b.linked(t, other, otherSrv.ID, "800001", "active", now)

	slot := now.Truncate(time.Minute).Add(-3 * time.Minute) // the first of three slots, all due
	// A slot walked twice (two schedulers, a retried walk) enqueues each account once.
	for range 2 {
		if n, err := b.svc.WalkAccounts(ctx, b.ten, slot); err != nil || n != 4 {
			t.Fatalf("the walk handed %d tasks to the queue (%v), want 4", n, err)
		}
	}
	var want []string
	for _, login := range []string{"800002", "800003", "800004", trader} {
		want = append(want, b.ten.ID.String()+" "+login+" "+strconv.FormatInt(slot.Unix(), 10))
	}
	slices.Sort(want)
	if got := walked(t, in); !slices.Equal(got, want) {
		t.Fatalf("after a slot walked twice the queue holds\n%v\nwant\n%v", got, want)
	}
	next := slot.Add(time.Minute)
	if _, err := b.svc.WalkAccounts(ctx, b.ten, next); err != nil {
		t.Fatal(err)
	}
	if got := walked(t, in); len(got) != 8 {
		t.Fatalf("after the next slot the queue holds %d tasks, want 8: %v", len(got), got)
	}

	// The periodic entry is the walk's, per tenant, on the sync queue; a task it enqueued syncs its account.
	tt := jobs.NewTasks(b.p.Registry)
	b.svc.Tasks(tt)
	if err := tt.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(tt.Entries(), func(e jobs.Entry) bool {
		return e.Type == tradingdesk.TaskSyncAccounts && e.PerTenant && e.Queue == jobs.QueueSync && e.Every == time.Minute
	}) {
		t.Fatalf("no per-tenant walk every minute on the sync queue in %+v", tt.Entries())
	}
	tick, err := json.Marshal(jobs.Tick{Slot: next.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	walk, err := jobs.NewTask(tradingdesk.TaskSyncAccounts, b.ten.ID, "walk", json.RawMessage(tick))
	if err != nil {
		t.Fatal(err)
	}
	if err := tt.Mux().ProcessTask(ctx, walk); err != nil {
		t.Fatal(err)
	}
	list, err := in.ListPendingTasks(jobs.QueueSync, asynq.PageSize(1000))
	if err != nil || len(list) != 12 {
		t.Fatalf("after the periodic task: %d tasks (%v), want 12", len(list), err)
	}
	var traders []*asynq.Task // the trader's task of each slot, oldest first
	for _, info := range list {
		var p struct {
			Login string `json:"login"`
		}
		if _, err := jobs.Open(asynq.NewTask(info.Type, info.Payload), &p); err != nil {
			t.Fatal(err)
		}
		if p.Login == trader {
			traders = append(traders, asynq.NewTask(info.Type, info.Payload))
		}
	}
	slices.SortFunc(traders, func(a, b *asynq.Task) int { return strings.Compare(string(a.Payload()), string(b.Payload())) })
	if len(traders) != 3 {
		t.Fatalf("the trader has %d tasks, want one per slot", len(traders))
	}
	if err := tt.Mux().ProcessTask(ctx, traders[2]); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "the walked account", b.storedDeals(t, b.ten, trader), dealLines(b.platformDeals(t, trader)))

	// A queue that lagged: the earlier slots' tasks, run after the later one, find the account read past their
	// slot and ask the platform nothing.
	pages := &counter{}
	b.pageHook = func() { pages.add() }
	for _, task := range traders[:2] {
		if err := tt.Mux().ProcessTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if pages.get() != 0 {
		t.Fatalf("the earlier slots' tasks read %d pages", pages.get())
	}
}

// An account on a server that is down costs its sync task no platform call once the server is in backoff: the
// task answers from the session pool's backoff and is done (not retried; the next slot tries again), so a walk
// over many accounts of a server that is down does not dial it once per account.
func TestASyncOfAServerInBackoffCallsNothingAndIsNotRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	srv := b.mt5Server(t, "mt5", closedPort(t), "manager-secret")
	tt := jobs.NewTasks(b.p.Registry)
	b.svc.Tasks(tt)
	slot := time.Now().Truncate(time.Minute)
	first, err := tradingdesk.SyncAccountTask(b.ten, srv.ID, "700001", slot)
	if err != nil {
		t.Fatal(err)
	}
	if err := tt.Mux().ProcessTask(ctx, first); err == nil {
		t.Fatal("the first sync of an unreachable server succeeded")
	}
	dials := b.dials.get()
	for i := range 3 {
		task, err := tradingdesk.SyncAccountTask(b.ten, srv.ID, strconv.Itoa(700002+i), slot)
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.Mux().ProcessTask(ctx, task); err != nil {
			t.Fatalf("a sync during the backoff: %v", err)
		}
	}
	if n := b.dials.get(); n != dials {
		t.Fatalf("%d dials during the backoff, want none", n-dials)
	}
}
