package jobs

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/tenants"
)

func TestSlotsAreTheSameForEveryReplicaWhenItStarted(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		entry Entry
		after string
		want  string
	}{
		{Entry{Every: 90 * time.Second}, "1970-01-01T00:01:40Z", "1970-01-01T00:03:00Z"},
		{Entry{Every: time.Minute}, "2030-05-06T07:08:09.5Z", "2030-05-06T07:09:00Z"},
		{Entry{Every: time.Minute}, "2030-05-06T07:08:00Z", "2030-05-06T07:09:00Z"}, // strictly after
		{Entry{Cron: "@every 1h"}, "2030-05-06T07:08:09Z", "2030-05-06T08:00:00Z"},  // aligned, not "an hour from now"
		{Entry{Cron: "0 3 * * *"}, "2030-05-06T07:08:09+02:00", "2030-05-07T03:00:00Z"},
		{Entry{Cron: "@hourly"}, "2030-05-06T07:08:09Z", "2030-05-06T08:00:00Z"},
		{Entry{Cron: "CRON_TZ=Asia/Nicosia 0 9 * * *"}, "2030-01-06T08:00:00Z", "2030-01-07T07:00:00Z"},
	}
	for _, c := range cases {
		next, err := slots(c.entry)
		if err != nil {
			t.Fatalf("%+v: %v", c.entry, err)
		}
		if got := next(at(c.after)); !got.Equal(at(c.want)) {
			t.Errorf("%+v after %s: %s, want %s", c.entry, c.after, got, c.want)
		}
	}
}

func TestTenantQueueServesNotifiedTenantsFirstAndEachOnce(t *testing.T) {
	t.Parallel()
	ten := func(n byte) tenants.Tenant { return tenants.Tenant{ID: uuid.UUID{n}, Slug: string('a' + n)} }
	q := newTenantQueue()
	q.push(ten(1), false)
	q.push(ten(2), false)
	q.push(ten(3), true)
	q.push(ten(2), true)  // promoted: served with the notified ones, once
	q.push(ten(1), false) // already waiting
	var order []byte
	for {
		next, ok := q.peek()
		if !ok {
			break
		}
		q.pop()
		order = append(order, next.ID[0])
		if len(order) == 1 {
			q.push(ten(3), true) // notified while running: again once it is done, not in parallel
			if again, _ := q.peek(); again.ID[0] == 3 {
				t.Fatal("a running tenant was handed out a second time")
			}
		}
		q.done(next.ID)
		if len(order) > 10 {
			t.Fatalf("queue never drains: %v", order)
		}
	}
	if got, want := string(order), string([]byte{3, 2, 3, 1}); got != want {
		t.Fatalf("order %v, want %v", []byte(got), []byte(want))
	}
	if len(q.tenant) != 0 || len(q.running) != 0 {
		t.Fatalf("queue keeps %d tenants and %d running after draining", len(q.tenant), len(q.running))
	}
}
