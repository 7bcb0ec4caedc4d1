package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/omniq/omniq/stores"
)

// TruncateBefore implements stores.Truncater. It removes exactly the events
// below pos (below head+1 when pos is past the head): one Pebble batch, committed
// with pebble.Sync, holds a range deletion of their keys and the new first
// position under firstKey, so a crash leaves the log either as it was or
// truncated, and a reopen keeps the head. A pos at or below First does
// nothing.
//
// The space comes back in the background, after TruncateBefore returns:
// Pebble's compactions drop the deleted keys once the range deletion has
// left the memtable. So that this does not wait for later appends to fill
// the memtable, it is flushed whenever the events truncated since the
// previous such flush hold reclaimAfter (4 MiB) of tables (see reclaimer).
// Reads never step over the deleted keys: they start at First.
// Errors: stores.ErrClosed, ctx.Err(), or a Pebble error via interpretError.
func (l *Log) TruncateBefore(ctx context.Context, pos uint64) error {
	l.life.RLock()
	defer l.life.RUnlock()
	if err := l.usable(ctx, "truncate"); err != nil {
		return err
	}
	// Holding the append slot keeps the head still, so first <= head+1.
	select {
	case l.appendSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.appendSem }()

	pos = min(pos, l.head.Load()+1)
	old := l.first.Load()
	if pos <= old {
		return nil
	}
	b := l.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(eventKey(old), eventKey(pos), nil); err != nil {
		return interpretError("truncate", err)
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], pos)
	if err := b.Set(firstKey, v[:], nil); err != nil {
		return interpretError("truncate", err)
	}
	// Readers check first and then iterate; they must not see the keys go
	// in between.
	l.trunc.Lock()
	defer l.trunc.Unlock()
	if err := b.Commit(pdb.Sync); err != nil {
		return interpretError("truncate", err)
	}
	l.first.Store(pos)
	l.reclaim.truncated(pos)
	return nil
}

// First implements stores.Truncater: the position of the oldest event held,
// head+1 when the log holds none. Errors: stores.ErrClosed.
func (l *Log) First(ctx context.Context) (uint64, error) { return l.loadOpen("first", &l.first) }

// recoverFirst returns the first position stored under firstKey, 1 when the
// log was never truncated. When the log holds events the lowest event key
// must be at first: the truncating batch wrote both together. When it holds
// none, every event up to first-1 was truncated, and that is the head.
func recoverFirst(db *pdb.DB) (uint64, error) {
	first := uint64(1)
	v, closer, err := db.Get(firstKey)
	switch {
	case errors.Is(err, pdb.ErrNotFound):
	case err != nil:
		return 0, interpretError("recover first position", err)
	default:
		ok := len(v) == 8
		if ok {
			first = binary.BigEndian.Uint64(v)
		}
		_ = closer.Close()
		if !ok || first == 0 {
			return 0, fmt.Errorf("pebble: recover first position: %w: malformed value under the first key", stores.ErrCorrupt)
		}
	}
	it, err := db.NewIter(&pdb.IterOptions{LowerBound: []byte{eventPrefix}, UpperBound: eventsEnd})
	if err != nil {
		return 0, interpretError("recover first position", err)
	}
	defer it.Close()
	if !it.First() {
		if err := it.Error(); err != nil {
			return 0, interpretError("recover first position", err)
		}
		return first, nil
	}
	if pos, ok := parseEventKey(it.Key()); !ok || pos != first {
		return 0, fmt.Errorf("pebble: recover first position: %w: first event key %x, want position %d", stores.ErrCorrupt, it.Key(), first)
	}
	return first, nil
}
