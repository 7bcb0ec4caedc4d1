package sqlite

import (
	"context"
	"fmt"
	"math"

	"github.com/omniq/omniq/stores"
)

// TruncateBefore implements stores.Truncater by whole batches: it deletes the
// rows of the batches that end before pos and keeps the batch holding pos
// whole, so up to one batch of older events stays. The last batch always
// stays, even when pos is past the head, because the head is read from it.
// One DELETE statement does it, so it is atomic and durable like an Append;
// a pos at or below First deletes nothing.
//
// Then, when the WAL file is larger than walKeep (8 MiB), it checkpoints
// the WAL and empties it, waiting up to restartWait (100ms) for the WAL's
// readers and holding writers back meanwhile; when readers remain, the next
// truncation tries again. That keeps the WAL bounded even when readers
// always overlap (see walKeep). An error from this step ("truncate:
// checkpoint") comes after the rows are deleted. Errors: ErrClosed,
// ErrReadOnly, ErrUnavailable.
func (l *Log) TruncateBefore(ctx context.Context, pos uint64) error {
	if err := l.writable("truncate"); err != nil {
		return err
	}
	pos = min(pos, math.MaxInt64)
	l.wmu.Lock()
	defer l.wmu.Unlock()
	op := "truncate"
	_, err := l.db.ExecContext(ctx, l.q.truncate, int64(pos))
	if err == nil {
		op = "truncate: checkpoint"
		err = l.restartWAL(ctx)
	}
	if err != nil {
		return l.writeError(op, err)
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
