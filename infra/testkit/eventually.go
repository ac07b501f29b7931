// Package testkit is what tests share besides their fixtures: polling for a condition with a deadline instead of
// sleeping, the local services a test binary starts, a Redis database of its own per test, waiting for an email.
// Only tests import it, so the production binary never links package testing.
package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond every 10 ms until it holds, and fails the test naming what it waited for if it does not
// hold within limit. Tests wait with it instead of sleeping: background work (the outbox relay, a worker, a NOTIFY)
// finishes when it finishes.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
