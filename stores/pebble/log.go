package pebble

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// Log is a stores.Log kept in a Pebble database. It is safe for concurrent
// use. Create it with Open.
type Log struct {
	db    *pdb.DB
	lock  *pdb.Lock
	place string // the directory on the OS file system ("" in memory)

	// life keeps db open while a call uses it: calls hold it shared, Close
	// holds it exclusively. Pebble panics on use of a closed DB, so every use
	// of db happens under life.RLock after checking closed.
	life   sync.RWMutex
	closed bool // Lock: life.

	// appendSem is a one-slot semaphore that serializes appends. It is a
	// channel rather than a mutex so that an Append queued behind another's
	// fsync can give up when its ctx is done.
	appendSem chan struct{}

	// head is the last durably appended position.
	// INVARIANT: stored only while holding appendSem, after the batch that
	// ends at it has committed with pebble.Sync; so a reader bounded by head
	// sees only durable events, and positions 1..head are all present.
	head atomic.Uint64

	// first is the oldest position held (head+1 when none is).
	// INVARIANT: stored only while holding appendSem and trunc, after the
	// batch that removed the events before it has committed; events
	// first..head are all present.
	first atomic.Uint64
	// trunc keeps a Read's keys from being deleted between its check of
	// first and the making of its iterator: Read holds it shared,
	// TruncateBefore exclusively while it commits.
	trunc sync.RWMutex

	// reclaim gets the space of truncated events back in the background.
	reclaim *reclaimer

	// ingest appends a batch too large for the pooled buffers (a
	// checkpoint) as a table instead of a batch, and writes a snapshot
	// larger than snapshotBatchMax bytes the same way.
	ingest           *ingester
	snapshotBatchMax int

	tailMu     sync.Mutex
	grew       chan struct{} // Closed and replaced after every append; closed on Close. Lock: tailMu.
	tailClosed bool          // Lock: tailMu.
}

var (
	_ stores.Full       = (*Log)(nil)
	_ stores.PageReader = (*Log)(nil)
)

// Append implements stores.Log. The batch is one Pebble batch committed with
// pebble.Sync, or one ingested table when it is large (see ingester): when
// Append returns a position, all of the batch is on disk;
// when it returns an error, none of it is. Errors: stores.ErrEmptyBatch,
// stores.ErrClosed, ctx.Err() if ctx is done before the batch is written, an
// encoding error (nothing written), or a Pebble error via interpretError.
func (l *Log) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	if len(batch) == 0 {
		return 0, stores.ErrEmptyBatch
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// A batch of ordinary events is encoded before taking the append slot,
	// so concurrent appenders encode while another one waits for its
	// fsync. A larger one (a checkpoint: hundreds of megabytes of state,
	// while every other command waits for it anyway) is written as a table
	// and ingested (see ingester), an event at a time.
	var enc *encoded
	if events.EncodedSizeHint(batch) <= maxPooledBuf {
		enc = getEncoded()
		defer putEncoded(enc)
		if err := enc.encode(batch); err != nil {
			return 0, fmt.Errorf("pebble: append: %w", err)
		}
	}

	l.life.RLock()
	defer l.life.RUnlock()
	if l.closed {
		return 0, fmt.Errorf("pebble: append: %w", stores.ErrClosed)
	}
	select {
	case l.appendSem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-l.appendSem }()

	first := l.head.Load() + 1
	if enc == nil {
		if err := l.ingest.append(ctx, l.db, batch, first); err != nil {
			return 0, err
		}
	} else {
		b, err := l.batchOf(enc, first)
		if err != nil {
			return 0, err
		}
		defer b.Close()
		if err := b.Commit(pdb.Sync); err != nil {
			return 0, interpretError("append", err)
		}
	}
	l.publish(first + uint64(len(batch)) - 1)
	return first, nil
}

// batchOf returns a Pebble batch holding enc's records from position first.
func (l *Log) batchOf(enc *encoded, first uint64) (*pdb.Batch, error) {
	b := l.db.NewBatchWithSize(enc.batchSize())
	var key [eventKeyLen]byte
	for i := range enc.ends {
		// Set copies key and value into the batch, so one key buffer serves all.
		if err := b.Set(putEventKey(key[:], first+uint64(i)), enc.record(i), nil); err != nil {
			b.Close()
			return nil, interpretError("append", err)
		}
	}
	return b, nil
}

// publish makes head visible to readers and wakes waiters.
// REQUIRES: appendSem held; events up to head committed with pebble.Sync.
func (l *Log) publish(head uint64) {
	l.head.Store(head)
	l.tailMu.Lock()
	close(l.grew)
	l.grew = make(chan struct{})
	l.tailMu.Unlock()
}

// Read implements stores.Log: up to max events from position from (a
// position before First reads from First), in position order, never past
// the head. Errors: stores.ErrClosed;
// stores.ErrCorrupt when a stored event cannot be decoded, a position is
// missing, or Pebble finds damaged data; ctx.Err() if ctx is done.
func (l *Log) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	return l.ReadInto(ctx, nil, from, max)
}

// ReadInto implements stores.PageReader: Read, with the events in dst's
// array when it has room for them.
func (l *Log) ReadInto(ctx context.Context, dst []events.Event, from uint64, max int) ([]events.Event, error) {
	l.life.RLock()
	defer l.life.RUnlock()
	if err := l.usable(ctx, "read"); err != nil {
		return nil, err
	}
	// An iterator reads the database as it was when it was made, so trunc
	// is needed only until then.
	l.trunc.RLock()
	if first := l.first.Load(); from < first {
		from = first
	}
	head := l.head.Load()
	if from > head || max <= 0 {
		l.trunc.RUnlock()
		return []events.Event{}, nil
	}
	n := min(head-from+1, uint64(max))
	var bounds [2 * eventKeyLen]byte
	it, err := l.db.NewIterWithContext(ctx, &pdb.IterOptions{
		LowerBound: putEventKey(bounds[:eventKeyLen], from),
		UpperBound: putEventKey(bounds[eventKeyLen:], from+n),
	})
	l.trunc.RUnlock()
	if err != nil {
		return nil, interpretError("read", err)
	}
	defer it.Close()

	out := dst[:0]
	if uint64(cap(out)) < n {
		out = make([]events.Event, 0, n)
	}
	for ok := it.First(); ok; ok = it.Next() {
		want := from + uint64(len(out))
		if pos, ok := parseEventKey(it.Key()); !ok || pos != want {
			return nil, fmt.Errorf("pebble: read: %w: key %x where position %d belongs", stores.ErrCorrupt, it.Key(), want)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, interpretError(fmt.Sprintf("read position %d", want), err)
		}
		// Unmarshal copies what it keeps, so v may be reused by the iterator.
		ev, err := events.Unmarshal(v)
		if err != nil {
			return nil, fmt.Errorf("pebble: read position %d: %w: %w", want, stores.ErrCorrupt, err)
		}
		ev.Position = want
		out = append(out, ev)
	}
	if err := it.Error(); err != nil {
		return nil, interpretError("read", err)
	}
	if uint64(len(out)) != n {
		return nil, fmt.Errorf("pebble: read: %w: position %d is missing (head %d)", stores.ErrCorrupt, from+uint64(len(out)), head)
	}
	return out, nil
}

// usable is the check a call that reads or writes the database makes
// first: the log is open and ctx is not done. op names the call in the
// error. REQUIRES: life read-locked (Close cannot begin until it is
// released).
func (l *Log) usable(ctx context.Context, op string) error {
	if l.closed {
		return fmt.Errorf("pebble: %s: %w", op, stores.ErrClosed)
	}
	return ctx.Err()
}

// Head implements stores.Log. Errors: stores.ErrClosed.
func (l *Log) Head(ctx context.Context) (uint64, error) { return l.loadOpen("head", &l.head) }

// loadOpen returns the position p holds (head or first) while the log is
// open; op names the call in the error. Errors: stores.ErrClosed.
func (l *Log) loadOpen(op string, p *atomic.Uint64) (uint64, error) {
	l.life.RLock()
	defer l.life.RUnlock()
	if l.closed {
		return 0, fmt.Errorf("pebble: %s: %w", op, stores.ErrClosed)
	}
	return p.Load(), nil
}

// Close implements stores.Log. It stops the reclaiming of truncated events
// (see TruncateBefore), waits for calls in progress, wakes waiters
// (they return stores.ErrClosed), closes Pebble and releases the directory
// lock. Appends that returned before Close are already durable. Close is
// idempotent; later calls return nil.
func (l *Log) Close() error {
	// Before life: the reclaimer uses db without it, so it must be done
	// before db closes.
	l.reclaim.stop()
	l.life.Lock()
	defer l.life.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.tailMu.Lock()
	l.tailClosed = true
	close(l.grew)
	l.tailMu.Unlock()
	err := interpretError("close", l.db.Close())
	if lerr := l.lock.Close(); lerr != nil {
		err = errors.Join(err, fmt.Errorf("pebble: close: unlock: %w", lerr))
	}
	return err
}
