package tradingdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// Task types of the connection checks.
const (
	// TaskCheckServers checks every enabled server of a tenant (periodic, queue sync).
	TaskCheckServers = "tradingdesk:check-servers"
	// TaskCheckServer checks one server now, on an admin's request (through the outbox, queue sync).
	TaskCheckServer = "tradingdesk:check-server"
	// TaskCloseInactive closes the sessions of tenants that are no longer active (periodic, platform-wide).
	TaskCloseInactive = "tradingdesk:close-inactive"
	// TaskSyncAccount syncs one account's deals (SyncAccountTask, queue sync).
	TaskSyncAccount = "tradingdesk:sync-account"
)

type checkTask struct {
	ServerID uuid.UUID `json:"server_id"`
}

// Tasks registers the checks on the worker's table.
func (s *Service) Tasks(tt *jobs.Tasks) {
	tt.Handle(TaskCheckServers, func(ctx context.Context, t tenants.Tenant, _ jobs.Envelope) error {
		return s.CheckAll(ctx, t)
	})
	tt.Handle(TaskCheckServer, func(ctx context.Context, t tenants.Tenant, e jobs.Envelope) error {
		var p checkTask
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return fmt.Errorf("%w: %s payload: %v", jobs.SkipRetry, TaskCheckServer, err)
		}
		_, err := s.CheckServer(ctx, t, p.ServerID, true)
		if errors.Is(err, ErrNotFound) {
			return nil // the server is gone: nothing to check
		}
		return err
	})
	tt.Handle(TaskOpenAccount, s.handleOpenAccount)
	tt.Handle(TaskSyncAccount, s.handleSyncAccount)
	tt.Handle(TaskTransfer, s.handleTransfer)
	tt.Handle(TaskCredit, s.handleCredit)
	tt.Handle(TaskChange, s.handleChange)
	tt.Handle(TaskSyncAccounts, s.handleWalk)
	tt.Every(s.walkEntry())
	tt.Handle(TaskCheckDrift, s.handleCheckDrift)
	tt.Every(s.driftEntry())
	tt.HandlePlatform(TaskCloseInactive, func(ctx context.Context, _ *asynq.Task) error { return s.CloseInactive(ctx) })
	tt.Every(jobs.Entry{Name: "tradingdesk-close-inactive", Every: s.o.CheckEvery, Type: TaskCloseInactive, Queue: jobs.QueueSync,
		Options: []asynq.Option{asynq.MaxRetry(0), asynq.Timeout(time.Minute)}})
	tt.Every(jobs.Entry{Name: "tradingdesk-check-servers", Every: s.o.CheckEvery, Type: TaskCheckServers, Queue: jobs.QueueSync, PerTenant: true,
		Options: []asynq.Option{asynq.MaxRetry(0), asynq.Timeout(5 * time.Minute)}})
}

// RequestCheck asks the worker to check the server slug now (the answer lands on the server's row), audited as
// actor's request. ErrNotFound when t has no such server.
func (s *Service) RequestCheck(ctx context.Context, t tenants.Tenant, actor audit.Actor, slug string) (Server, error) {
	var out Server
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if out, _, err = serverTx(ctx, tx, `slug = $1`, slug); err != nil {
			return err
		}
		if _, err := (jobs.Outbox{}).Add(ctx, tx, TaskCheckServer, uuid.NewString(), checkTask{ServerID: out.ID},
			jobs.InQueue(jobs.QueueSync), jobs.WithMaxRetry(3), jobs.WithTimeout(2*s.o.CheckTimeout)); err != nil {
			return err
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionServerCheckRequested,
			Target: audit.Target{Type: serverTarget, ID: out.ID.String()}, After: map[string]any{"status": out.Check.Status}})
	})
	return out, err
}

// CloseInactive closes the worker's sessions of tenants that are not active: a suspended or deleted brokerage's
// servers are no longer checked (the periodic checks visit active tenants), so without this their sessions (MT5
// keeps its connection alive) would stay open until the worker restarts. tenant.status_changed cannot close them:
// it is a platform event with in-transaction subscribers only, published by whichever process changed the status,
// not the worker that holds the sessions. A resumed tenant's sessions are dialled again at its next check.
func (s *Service) CloseInactive(ctx context.Context) error {
	list, err := s.o.Tenants.List(ctx, tenants.ListFilter{Statuses: []tenants.Status{tenants.StatusActive}})
	if err != nil {
		return fmt.Errorf("tradingdesk: list active tenants: %w", err)
	}
	active := make(map[uuid.UUID]bool, len(list))
	for _, t := range list {
		active[t.ID] = true
	}
	s.sessions.KeepTenants(active)
	return nil
}

// CheckAll checks every enabled server of t, one after the other, and closes the sessions of the others.
func (s *Service) CheckAll(ctx context.Context, t tenants.Tenant) error {
	var ids []uuid.UUID
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM trading_servers WHERE enabled ORDER BY name`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return err
	}
	keep := map[uuid.UUID]bool{}
	for _, id := range ids {
		keep[id] = true
	}
	s.sessions.Keep(t.ID, keep)
	for _, id := range ids {
		if _, err := s.CheckServer(ctx, t, id, false); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// CheckServer pings the server through its shared session and records the answer on its row: ok with the
// platform's capabilities, or down with the error. now skips the session's backoff (an admin asked). A change of
// status is logged once and audited; a server that stays down writes no log line. The error returned is the
// desk's own (the database), never the platform's: that one is the check's answer.
func (s *Service) CheckServer(ctx context.Context, t tenants.Tenant, id uuid.UUID, now bool) (Check, error) {
	var tg Target
	err := s.readOnly(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		tg, err = s.targetTx(ctx, tx, t, id)
		return err
	})
	if err != nil {
		return Check{}, err
	}
	var caps trading.Capabilities
	cctx, cancel := context.WithTimeout(ctx, s.o.CheckTimeout)
	defer cancel()
	pingErr := s.sessions.Use(cctx, tg, now, func(c trading.Connector) error {
		caps = c.Capabilities()
		return c.Ping(cctx)
	})
	return s.record(ctx, t, tg.Server, caps, pingErr)
}

// targetTx reads what the session pool needs to reach server id of t: the server with its swap-free twins, the
// version its session is dialled with (the same for every job, so checks and syncs share one session), and its
// sealed credentials, opened only when a dial is due. ErrNotFound when t has no such server.
func (s *Service) targetTx(ctx context.Context, tx pgx.Tx, t tenants.Tenant, id uuid.UUID) (Target, error) {
	srv, sealed, err := serverTx(ctx, tx, `id = $1`, id)
	if err != nil {
		return Target{}, err
	}
	if srv.SwapFreeTwins, err = swapFreeTwinsTx(ctx, tx, id, uuid.Nil); err != nil {
		return Target{}, err
	}
	return Target{Tenant: t.ID, Server: srv, Version: version(srv),
		Credentials: func() (Credentials, error) { return s.openCredentials(srv.ID, sealed) }}, nil
}

// version names a server's settings as the session was dialled with them: a change dials afresh.
func version(s Server) string {
	twins := slices.Sorted(maps.Keys(s.SwapFreeTwins))
	for i, k := range twins {
		twins[i] = k + "=" + s.SwapFreeTwins[k]
	}
	return s.UpdatedAt.UTC().Format(time.RFC3339Nano) + "|" + strings.Join(twins, ",")
}

// maxCheckError bounds the error text kept on the row.
const maxCheckError = 500

// record writes a check's answer on the server's row, and on a change of status one log line and one audit row.
func (s *Service) record(ctx context.Context, t tenants.Tenant, srv Server, caps trading.Capabilities, pingErr error) (Check, error) {
	status, text := StatusOK, ""
	if pingErr != nil {
		status, text = StatusDown, pingErr.Error()
		if r := []rune(text); len(r) > maxCheckError {
			text = string(r[:maxCheckError-1]) + "…"
		}
	}
	var out Check
	var was Status
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT status FROM trading_servers WHERE id = $1 FOR UPDATE`, srv.ID).Scan(&was); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		var capsJSON any
		if status == StatusOK {
			b, _ := json.Marshal(caps)
			capsJSON = b
		}
		at := s.o.Now().UTC()
		err := tx.QueryRow(ctx, `UPDATE trading_servers SET status = $2, checked_at = $3, check_error = $4,
			capabilities = coalesce($5::jsonb, capabilities), status_since = CASE WHEN status = $2 AND status_since IS NOT NULL THEN status_since ELSE $3 END
			WHERE id = $1 RETURNING checked_at, status_since`, srv.ID, string(status), at, text, capsJSON).Scan(&out.At, &out.Since)
		if err != nil {
			return fmt.Errorf("tradingdesk: record the check of %s: %w", srv.Slug, err)
		}
		out.Status, out.Error = status, text
		if status == StatusOK {
			out.Capabilities = &caps
		}
		if was == status {
			return nil
		}
		after := map[string]any{"status": status}
		if text != "" {
			after["error"] = text
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: systemActor, Action: ActionServerStatusChanged,
			Target: audit.Target{Type: serverTarget, ID: srv.ID.String()}, Before: map[string]any{"status": was}, After: after})
	})
	if err != nil {
		return out, err
	}
	if was != status { // once per change of state, after it committed: a server that stays down stays quiet
		ctx := tenants.WithTenant(ctx, t) // the log line names the tenant, as every job's does
		log := s.o.Log.With("server", srv.Slug, "platform", string(srv.Platform))
		if status == StatusDown {
			log.WarnContext(ctx, "trading server down", "was", string(was), "error", text)
		} else {
			log.InfoContext(ctx, "trading server reachable", "was", string(was))
		}
	}
	return out, nil
}
