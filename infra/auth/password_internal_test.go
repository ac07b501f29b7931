package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

// With every slot taken, a hash waits; it gives up when its context does, and proceeds once a slot frees.
func TestHashWaitsForASlotAndGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	h.slots <- struct{}{} // the one slot, taken
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "correct horse battery staple"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash with no free slot = %v, want DeadlineExceeded", err)
	}
	if _, _, err := h.Verify(ctx, "x", "$argon2id$v=19$m=8192,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify with no free slot = %v, want DeadlineExceeded", err)
	}
	<-h.slots
	if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
		t.Fatalf("Hash with a free slot: %v", err)
	}
}
