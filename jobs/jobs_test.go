package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/testkit"

	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/infra/localsvc"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

func TestMain(m *testing.M) { tenanttest.Main(m, localsvc.Postgres, localsvc.Redis) }

// redisURL points this test at its own Redis database so its queues meet no other package's workers.
func redisURL(t testing.TB) string {
	t.Helper()
	return localsvc.RedisDB(t)
}

func TestProvisioningTaskMakesTheTenantActive(t *testing.T) {
	t.Parallel()
	p := tenanttest.NewPlatform(t, tenants.ProvisionerOptions{})
	ctx := context.Background()
	ten, err := p.Provisioner.Request(ctx, tenants.Request{Slug: "q" + tenanttest.RandomLabel(10), DisplayName: "Queued", AdminEmail: "admin@queued.example"})
	if err != nil {
		t.Fatal(err)
	}
	url := redisURL(t)
	opt, err := jobs.RedisOpt(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.CheckRedis(ctx, url); err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	task, err := jobs.NewProvisionTenantTask(ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second enqueue of the same tenant is absorbed by its TaskID
		if err := jobs.Enqueue(ctx, client, task); err != nil {
			t.Fatalf("enqueue #%d: %v", i+1, err)
		}
	}
	srv := jobs.NewServer(opt, 2, 5*time.Second, nil)
	tasks := jobs.NewTasks(p.Registry)
	jobs.Provisioning{Provisioner: p.Provisioner}.Register(tasks)
	if err := srv.Start(tasks.Mux()); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	testkit.Eventually(t, 30*time.Second, "the requested tenant to become active", func() bool {
		got, err := p.Registry.Get(ctx, ten.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Status == tenants.StatusActive
	})
}

func TestTaskEnvelopeCarriesTenantAndKey(t *testing.T) {
	t.Parallel()
	ten := tenanttest.RandomLabel(4)
	task, err := jobs.NewTask("test:thing", [16]byte{1}, "key-"+ten, map[string]int{"n": 7})
	if err != nil {
		t.Fatal(err)
	}
	var payload struct{ N int }
	e, err := jobs.Open(task, &payload)
	if err != nil {
		t.Fatal(err)
	}
	if e.TenantID != [16]byte{1} || e.Key != "key-"+ten || payload.N != 7 {
		t.Fatalf("envelope %+v payload %+v", e, payload)
	}
	if _, err := jobs.NewTask("test:thing", [16]byte{1}, "", nil); err == nil {
		t.Fatal("a task without an idempotency key was built")
	}
	if _, err := jobs.Open(asynq.NewTask("test:thing", []byte("{broken")), nil); err == nil {
		t.Fatal("a broken envelope was opened")
	}
}
