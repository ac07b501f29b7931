package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/jobs"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The worker's idempotency-prune task deletes a tenant's expired keys and keeps live ones.
func TestIdempotencyPruneTaskDeletesExpiredKeys(t *testing.T) {
	t.Parallel()
	a, _, _ := startServer(t)
	ten := provisionForTest(t, a)
	ctx := tenants.WithTenant(context.Background(), ten)
	store := tenants.NewIdempotencyStore(a.gate)
	for _, key := range []string{"old", "live"} {
		k := web.IdempotencyKey{Principal: "staff:test", Key: key}
		if _, err := store.Begin(ctx, k, []byte("fp")); err != nil {
			t.Fatal(err)
		}
		if err := store.Finish(ctx, k, web.StoredResponse{Status: 201, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (n int) {
		err := a.gate.Scope(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE idempotency_keys SET expires_at = now() - interval '1 minute' WHERE key = 'old'`); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT count(*) FROM idempotency_keys`).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 2 {
		t.Fatalf("%d keys before the prune", n)
	}
	task, err := jobs.NewTask(jobs.TaskIdempotencyPrune, ten.ID, "prune-now", nil)
	if err != nil {
		t.Fatal(err)
	}
	mux, _, err := a.tasks()
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.ProcessTask(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d keys after the prune, want the live one only", n)
	}
}
