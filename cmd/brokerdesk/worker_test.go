package main

import (
	"context"
	"encoding/base64"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/infra/config"
	"github.com/brokerdesk/brokerdesk/infra/database"
	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/infra/logging"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// workerApp wires the real app on a test platform, with a Redis database of its own so its queues meet no other
// test's worker.
func workerApp(t *testing.T) *app {
	t.Helper()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	var extra []database.Cluster
	for name, u := range p.URLs {
		if name != database.PlatformCluster {
			extra = append(extra, database.Cluster{Name: name, URL: u})
		}
	}
	cfg := config.Config{
		DatabaseURL: p.URLs[database.PlatformCluster], DatabaseClusters: extra, DatabaseMaxConns: 8,
		RedisURL: localsvc.RedisDB(t),
		SMTPAddr: os.Getenv("BD_SMTP_ADDR"), SMTPFrom: "BrokerDesk <no-reply@brokerdesk.test>",
		BaseDomain: "brokerdesk.test", PublicScheme: "https", HTTPAddr: "127.0.0.1:0",
		WorkerConcurrency: 2, ShutdownTimeout: 5 * time.Second, BlobStore: "disk", BlobDir: t.TempDir(),
	}
	key, err := auth.GenerateKey("t1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JWTKeys, err = auth.NewKeyRing(key); err != nil {
		t.Fatal(err)
	}
	if cfg.DataKeys, err = auth.ParseSealer("d1:" + base64.StdEncoding.EncodeToString(make([]byte, 32))); err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, logging.New(io.Discard, "error"), wiring{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

func TestWorkerRelaysACommittedOutboxRowAndStopsCleanly(t *testing.T) {
	t.Parallel()
	a := workerApp(t)
	ctx := context.Background()
	ten := provisionForTest(t, a)
	w, err := a.startWorker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			w.Shutdown()
		}
	}()

	var id uuid.UUID
	err = a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		id, err = jobs.Outbox{}.Add(ctx, tx, jobs.TaskOutboxPrune, "worker-test", nil, jobs.InQueue(jobs.QueueLow))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(a.redis)
	defer insp.Close()
	deadline := time.Now().Add(30 * time.Second)
	var info *asynq.TaskInfo
	for {
		if info, err = insp.GetTaskInfo(jobs.QueueLow, id.String()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox row %s not relayed within 30s: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e, err := jobs.Open(asynq.NewTask(info.Type, info.Payload), nil)
	if err != nil || e.TenantID != ten.ID || info.Type != jobs.TaskOutboxPrune {
		t.Fatalf("relayed task %s %+v (%v); want %s for tenant %s", info.Type, e, err, jobs.TaskOutboxPrune, ten.ID)
	}

	done := make(chan struct{})
	go func() { w.Shutdown(); close(done) }()
	select {
	case <-done:
		stopped = true
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop within 30s")
	}
}

func TestWorkerHasAHandlerForEveryPeriodicEntry(t *testing.T) {
	t.Parallel()
	a := workerApp(t)
	mux, entries, err := a.tasks()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no periodic entries: the outbox prune entry is missing")
	}
	for _, e := range entries {
		if _, pattern := mux.Handler(asynq.NewTask(e.Type, nil)); pattern != e.Type {
			t.Errorf("entry %s enqueues %s, which no handler takes (got %q)", e.Name, e.Type, pattern)
		}
	}
	if _, err := jobs.NewScheduler(a.queue, a.registry, nil, entries...); err != nil {
		t.Fatal(err)
	}
}
