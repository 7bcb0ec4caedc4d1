package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/omniq/omniq/stores"
)

// TruncateBefore implements stores.Truncater by whole batches: one DELETE
// removes the rows of the batches that end before pos and keeps the batch
// holding pos whole, so up to one batch of older events stays. The head is
// its own row, so truncating past the head may remove every batch and the
// head still stands. The statement commits like an Append (durable as the
// package doc describes); a pos at or below First deletes nothing. Errors:
// ErrClosed, ErrUnavailable (the deletion may or may not have happened).
func (l *Log) TruncateBefore(ctx context.Context, pos uint64) error {
	if l.closed.Load() {
		return fmt.Errorf("postgres: truncate: %w", stores.ErrClosed)
	}
	pos = min(pos, math.MaxInt64)
	if _, err := l.pool.Exec(ctx, l.q.truncate, int64(pos)); err != nil {
		return l.interpretError("truncate", err)
	}
	return nil
}

// First implements stores.Truncater: the first position of the first batch
// held, or head+1 when the log holds none, read from one snapshot. Errors:
// ErrClosed, ErrCorrupt (the head row is missing), ErrUnavailable.
func (l *Log) First(ctx context.Context) (uint64, error) {
	if l.closed.Load() {
		return 0, fmt.Errorf("postgres: first: %w", stores.ErrClosed)
	}
	var first *int64
	if err := l.pool.QueryRow(ctx, l.q.first).Scan(&first); err != nil {
		return 0, l.interpretError("first", err)
	}
	if first == nil {
		return 0, fmt.Errorf("postgres: first: %w: head row of %q missing", stores.ErrCorrupt, l.name)
	}
	return uint64(*first), nil
}
