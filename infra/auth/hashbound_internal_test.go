package auth

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// The hasher never runs more hashes at once than the machine can (GOMAXPROCS / lanes), whatever it is asked for:
// each one holds its memory for its whole run, and more in flight only takes turns on the CPUs.
func TestHasherConcurrencyIsBoundedByTheMachine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		threads    uint8
		asked, max int
	}{
		{1, 1, 1},
		{1, 1000, runtime.GOMAXPROCS(0)},
		{2, 1000, max(1, runtime.GOMAXPROCS(0)/2)},
		{16, 4, 1},
	} {
		h, err := NewHasher(Params{Memory: 16 << 10, Time: 1, Threads: tc.threads, SaltLen: 16, KeyLen: 32}, tc.asked)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Concurrency(); got != min(tc.asked, tc.max) {
			t.Errorf("threads %d, asked %d: concurrency %d, want %d", tc.threads, tc.asked, got, min(tc.asked, tc.max))
		}
	}
}

// A flood queues for at most the hasher's wait, then is refused as busy (an Overloaded error the web layer answers
// with 503), without hashing and without waiting for the caller's context.
func TestAHashThatWaitsTooLongIsRefusedAsBusy(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	h = h.WithMaxWait(30 * time.Millisecond)
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	start := time.Now()
	_, err = h.Hash(context.Background(), "correct horse battery staple")
	var busy *BusyError
	if !errors.As(err, &busy) || !busy.Overloaded() {
		t.Fatalf("Hash with every slot taken = %v, want a *BusyError", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("waited %v", waited)
	}
	if err := h.VerifyAbsent(context.Background(), "x"); !errors.As(err, &busy) {
		t.Fatalf("VerifyAbsent with every slot taken = %v, want a *BusyError", err)
	}
}

// A turn holds a slot for its caller's hashes: they run without waiting again, others wait for the turn's end.
func TestATurnHoldsTheSlotForItsHashes(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	h = h.WithMaxWait(30 * time.Millisecond)
	ctx, release, err := h.Turn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // one after another, in the one slot the turn holds
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			t.Fatalf("hash in the turn: %v", err)
		}
	}
	var busy *BusyError
	if _, err := h.Hash(context.Background(), "x"); !errors.As(err, &busy) {
		t.Fatalf("hash outside the turn while it holds the only slot = %v, want busy", err)
	}
	if _, _, err := h.Turn(context.Background()); !errors.As(err, &busy) {
		t.Fatalf("second turn = %v, want busy", err)
	}
	release()
	release() // twice is harmless
	if _, err := h.Hash(context.Background(), "x"); err != nil {
		t.Fatalf("hash after the turn: %v", err)
	}
	if _, err := h.Hash(ctx, "x"); err != nil { // the released turn's context waits like any other
		t.Fatalf("hash with a released turn's context: %v", err)
	}
	if len(h.slots) != 0 {
		t.Fatalf("%d slots still taken", len(h.slots))
	}
}
