package jobs

import (
	"context"

	"github.com/google/uuid"
)

// SetBeforeMark makes r call f after enqueueing a batch and before marking it; an error from f aborts the mark,
// as a crash between the two would.
func SetBeforeMark(r *Relay, f func(ctx context.Context, ids []uuid.UUID) error) { r.beforeMark = f }
