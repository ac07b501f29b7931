package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/brokerdesk/brokerdesk/infra/testkit"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/tenants"
	"github.com/brokerdesk/brokerdesk/tenants/tenanttest"
)

// slotTask is a scheduled task as the test reads it back.
type slotTask struct {
	id     string
	tenant uuid.UUID
	slot   time.Time
}

func (b *relayBundle) slotTasks(t *testing.T, typ string) []slotTask {
	t.Helper()
	var out []slotTask
	for _, ti := range b.tasks(t) {
		if ti.Type != typ {
			continue
		}
		var tick jobs.Tick
		e, err := jobs.Open(asynq.NewTask(ti.Type, ti.Payload), &tick)
		if err != nil {
			t.Fatal(err)
		}
		if e.Key != ti.ID {
			t.Errorf("task %s carries key %q; the key of a scheduled task is its id", ti.ID, e.Key)
		}
		out = append(out, slotTask{id: ti.ID, tenant: e.TenantID, slot: tick.Slot})
	}
	return out
}

func replicas(t *testing.T, b *relayBundle, n int, entries ...jobs.Entry) []*jobs.Scheduler {
	t.Helper()
	var out []*jobs.Scheduler
	for range n {
		c := asynq.NewClient(b.opt) // a client each, as separate processes would have
		t.Cleanup(func() { c.Close() })
		s, err := jobs.NewScheduler(c, b.p.Registry, nil, entries...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestSchedulerWithThreeReplicasEnqueuesOneTaskPerSlot(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	tens := []tenants.Tenant{b.p.NewTenant(t, ""), b.p.NewTenant(t, "")}
	name := "tick-" + tenanttest.RandomLabel(6)
	platform := jobs.Entry{Name: name, Every: time.Second, Type: "test:tick", Queue: b.queue}
	perTenant := jobs.Entry{Name: name + "-tenant", Every: time.Second, Type: "test:tenant-tick", Queue: b.queue, PerTenant: true}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range replicas(t, b, 3, platform, perTenant) {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Run(ctx) }()
	}
	testkit.Eventually(t, 30*time.Second, "three slots enqueued", func() bool { return len(b.slotTasks(t, "test:tick")) >= 3 })
	cancel()
	wg.Wait()

	perSlot := map[time.Time]int{}
	for _, st := range b.slotTasks(t, "test:tick") {
		perSlot[st.slot]++
		if st.id != jobs.TaskID(name, uuid.Nil, st.slot) || st.tenant != uuid.Nil || st.slot.Nanosecond() != 0 {
			t.Errorf("platform task %+v", st)
		}
	}
	for slot, n := range perSlot {
		if n != 1 {
			t.Errorf("slot %s enqueued %d times by three replicas", slot, n)
		}
	}
	type slotTenant struct {
		slot   time.Time
		tenant uuid.UUID
	}
	fanned := map[slotTenant]int{}
	var last time.Time
	for _, st := range b.slotTasks(t, "test:tenant-tick") {
		fanned[slotTenant{st.slot, st.tenant}]++
		if st.id != jobs.TaskID(perTenant.Name, st.tenant, st.slot) {
			t.Errorf("per-tenant task id %s for %+v", st.id, st)
		}
		if st.slot.After(last) {
			last = st.slot
		}
	}
	for k, n := range fanned {
		if n != 1 {
			t.Errorf("slot %s of tenant %s enqueued %d times", k.slot, k.tenant, n)
		}
		if k.tenant != tens[0].ID && k.tenant != tens[1].ID {
			t.Errorf("slot %s fanned out to unknown tenant %s", k.slot, k.tenant)
		}
	}
	for slot := range perSlot {
		if slot.Before(last) { // the last slot may have been cut short by the stop
			for _, ten := range tens {
				if fanned[slotTenant{slot, ten.ID}] != 1 {
					t.Errorf("slot %s has no task for tenant %s", slot, ten.Slug)
				}
			}
		}
	}
}

func TestReplicasFiringTheSameSlotTogetherEnqueueItOnce(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	tens := []tenants.Tenant{b.p.NewTenant(t, ""), b.p.NewTenant(t, "")}
	name := "fire-" + tenanttest.RandomLabel(6)
	entries := []jobs.Entry{
		{Name: name, Cron: "*/5 * * * *", Type: "test:tick", Queue: b.queue},
		{Name: name + "-tenant", Cron: "*/5 * * * *", Type: "test:tenant-tick", Queue: b.queue, PerTenant: true},
	}
	slot := time.Date(2030, 1, 2, 3, 5, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for _, s := range replicas(t, b, 3, entries...) {
		for _, e := range entries {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- s.Fire(context.Background(), e.Name, slot) }()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := b.slotTasks(t, "test:tick"); len(got) != 1 || !got[0].slot.Equal(slot) {
		t.Fatalf("platform tasks %+v; want one for %s", got, slot)
	}
	got := b.slotTasks(t, "test:tenant-tick")
	seen := map[uuid.UUID]bool{}
	for _, st := range got {
		seen[st.tenant] = true
	}
	if len(got) != 2 || !seen[tens[0].ID] || !seen[tens[1].ID] {
		t.Fatalf("per-tenant tasks %+v; want one for each of %s and %s", got, tens[0].ID, tens[1].ID)
	}
	if err := replicas(t, b, 1, entries...)[0].Fire(context.Background(), "nope", slot); err == nil {
		t.Fatal("firing an unknown entry succeeded")
	}
}

func TestSchedulerRefusesBadEntries(t *testing.T) {
	t.Parallel()
	ok := jobs.Entry{Name: "ok", Every: time.Minute, Type: "test:tick"}
	cases := map[string][]jobs.Entry{
		"no name":            {{Every: time.Minute, Type: "test:tick"}},
		"colon in name":      {{Name: "a:b", Every: time.Minute, Type: "test:tick"}},
		"twice":              {ok, ok},
		"no type":            {{Name: "x", Every: time.Minute}},
		"no schedule":        {{Name: "x", Type: "test:tick"}},
		"both":               {{Name: "x", Every: time.Minute, Cron: "@hourly", Type: "test:tick"}},
		"sub-second":         {{Name: "x", Every: 500 * time.Millisecond, Type: "test:tick"}},
		"fractional seconds": {{Name: "x", Every: 1500 * time.Millisecond, Type: "test:tick"}},
		"bad cron":           {{Name: "x", Cron: "61 * * * *", Type: "test:tick"}},
		"zone only":          {{Name: "x", Cron: "CRON_TZ=UTC", Type: "test:tick"}},
		"per tenant, no reg": {{Name: "x", Every: time.Minute, Type: "test:tick", PerTenant: true}},
	}
	for name, entries := range cases {
		if _, err := jobs.NewScheduler(nil, nil, nil, entries...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := jobs.NewScheduler(nil, nil, nil, ok, jobs.Entry{Name: "cron", Cron: "CRON_TZ=Europe/Nicosia 0 9 * * 1-5", Type: "test:tick"}); err != nil {
		t.Errorf("good entries refused: %v", err)
	}
}

func ExampleTaskID() {
	slot := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Println(jobs.TaskID("outbox-prune", uuid.Nil, slot))
	fmt.Println(jobs.TaskID("outbox-prune", uuid.MustParse("0190a3b4-0000-7000-8000-000000000001"), slot))
	// Output:
	// outbox-prune:1893456000
	// outbox-prune:0190a3b4-0000-7000-8000-000000000001:1893456000
}
