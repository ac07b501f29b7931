package tradingdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The periodic walk: every SyncEvery, per tenant, tradingdesk:sync-accounts enqueues tradingdesk:sync-account for
// every account of trading_accounts whose deals still sync (syncing below) on a switched-on server. Each task's key
// names the account and the walk's slot, so a slot enqueues one task per account however often it is fired (two
// schedulers, a retried walk), and an archived task never blocks a later slot. A server in backoff costs a task
// no platform call: its sync answers from the session pool's backoff and is not retried (handleSyncAccount).

// TaskSyncAccounts walks a tenant's accounts and enqueues the sync of each (periodic, per tenant, queue sync).
const TaskSyncAccounts = "tradingdesk:sync-accounts"

// walkEnqueuers is how many enqueues run at once: each is one round trip to Redis, so a few in flight keep a
// 10,000-account walk to a fraction of a second without holding many of the client's connections.
const walkEnqueuers = 8

// syncing selects the accounts (a, with their cursor c) whose deals the walk syncs. Active and disabled accounts
// sync: a disabled account cannot trade, but its history still changes (a dealer's corrections, balance and credit
// operations, closing deals of positions the dealer closes). A closed account syncs until a run has read a whole
// overlap window past its closing ($1: the overlap in seconds), so corrections and deals recorded late after the
// closing are still found; then it stops. Nothing changes a closed account's row, so its updated_at is its closing.
const syncing = `(a.status <> 'closed' OR c.synced_to IS NULL OR c.synced_to < a.updated_at + make_interval(secs => $1))`

// WalkAccounts enqueues the sync of every account of t whose deals still sync, on a switched-on server, for the
// walk's slot, and returns how many tasks it handed to the queue (a task of the slot already queued counts too:
// Redis refuses the duplicate and nothing is added).
func (s *Service) WalkAccounts(ctx context.Context, t tenants.Tenant, slot time.Time) (int, error) {
	if s.o.Queue == nil {
		return 0, errors.New("tradingdesk: the walk needs Options.Queue")
	}
	type account struct {
		server uuid.UUID
		login  string
	}
	var due []account
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT a.server_id, a.login FROM trading_accounts a
			JOIN trading_servers s ON s.id = a.server_id
			LEFT JOIN trading_deal_cursors c ON c.server_id = a.server_id AND c.login = a.login
			WHERE s.enabled AND `+syncing+` ORDER BY a.server_id, a.login`, s.o.DealOverlap.Seconds())
		if err != nil {
			return err
		}
		var a account
		_, err = pgx.ForEachRow(rows, []any{&a.server, &a.login}, func() error {
			due = append(due, a)
			return nil
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("tradingdesk: the accounts to sync: %w", err)
	}
	next := make(chan account)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(walkEnqueuers, len(due)) {
		wg.Go(func() {
			for a := range next {
				task, err := SyncAccountTask(t, a.server, a.login, slot)
				if err == nil {
					err = jobs.Enqueue(ctx, s.o.Queue, task)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("tradingdesk: enqueue the sync of %s: %w", a.login, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, a := range due {
		next <- a
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return len(due) - len(errs), errors.Join(errs[:min(len(errs), 3)]...) // the first few say it
	}
	return len(due), nil
}

// handleWalk runs the walk for the slot its tick names.
func (s *Service) handleWalk(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
	var tick jobs.Tick
	if err := json.Unmarshal(e.Payload, &tick); err != nil {
		return fmt.Errorf("%w: %s payload: %v", jobs.SkipRetry, TaskSyncAccounts, err)
	}
	if tick.Slot.IsZero() {
		return fmt.Errorf("%w: %s payload names no slot", jobs.SkipRetry, TaskSyncAccounts)
	}
	_, err := s.WalkAccounts(ctx, t, tick.Slot)
	return err
}

// walkEntry is the walk's scheduler entry. Every minute by default: deals reach the back office and the events'
// subscribers (IB commissions, bonus turnover) within about a minute of closing, while a sync that finds nothing new
// costs two platform reads (the overlap's day and an empty window) and no write but its cursor's. No retry: the
// next slot walks again.
func (s *Service) walkEntry() jobs.Entry {
	return jobs.Entry{Name: "tradingdesk-sync-accounts", Every: s.o.SyncEvery, Type: TaskSyncAccounts, Queue: jobs.QueueSync, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(0), asynq.Timeout(s.o.SyncEvery)}}
}
