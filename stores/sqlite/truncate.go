package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/omniq/omniq/stores"
)

// TruncateBefore implements stores.Truncater by whole batches: it deletes the
// rows of the batches that end before pos and keeps the batch holding pos
// whole, so up to one batch of older events stays. The last batch always
// stays, even when pos is past the head, because the head is read from it.
// One DELETE statement does it, so it is atomic and durable like an Append;
// a pos at or below First deletes nothing. Errors: ErrClosed, ErrReadOnly,
// ErrUnavailable.
func (l *Log) TruncateBefore(ctx context.Context, pos uint64) error {
	if l.closed.Load() {
		return fmt.Errorf("sqlite: truncate: %w", stores.ErrClosed)
	}
	if l.readOnly.Load() {
		return fmt.Errorf("sqlite: truncate: %w", stores.ErrReadOnly)
	}
	pos = min(pos, math.MaxInt64)
	l.wmu.Lock()
	_, err := l.db.ExecContext(ctx, l.q.truncate, int64(pos))
	l.wmu.Unlock()
	if err != nil {
		err = l.interpretError("truncate", true, err)
		if errors.Is(err, stores.ErrReadOnly) {
			l.readOnly.Store(true)
		}
		return err
	}
	return nil
}

// First implements stores.Truncater: the first position of the first batch
// held, 1 for an empty log (truncation never deletes the last batch, so a log
// with a head holds a batch). Errors: ErrClosed, ErrUnavailable.
func (l *Log) First(ctx context.Context) (uint64, error) {
	if l.closed.Load() {
		return 0, fmt.Errorf("sqlite: first: %w", stores.ErrClosed)
	}
	var first int64
	if err := l.db.QueryRowContext(ctx, l.q.first).Scan(&first); err != nil {
		return 0, l.interpretError("first", false, err)
	}
	return uint64(first), nil
}
