// Package memory is a stores.Log held in process memory.
//
// It is a real log, not a test fake: appends are atomic, positions gap-free,
// readers and tailers see appends at once. Durability: none — everything is
// gone when the process exits. Use it for tests, ephemeral queues and replays
// of exported history.
//
// Events are kept encoded, as a durable store keeps them, so a value that could
// not be stored elsewhere fails here too and later mutation of an appended
// event by the caller cannot change the log.
//
// Several engines in one process may share one *Log: it implements
// stores.Conditional, and AppendAt compares the head and appends under the
// same mutex every append holds, so no append lands in between.
package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// Log is an in-memory stores.Log. The zero value is not usable; call New.
type Log struct {
	mu      sync.RWMutex
	records [][]byte      // records[i] holds the event at position base+i+1. Lock: mu.
	base    uint64        // events truncated away (positions 1..base). Lock: mu.
	grew    chan struct{} // closed and replaced on every append. Lock: mu.
	closed  bool          // Lock: mu.

	snapPos  uint64
	snapData []byte
}

var _ stores.Shared = (*Log)(nil)

// New returns an empty log.
func New() *Log { return &Log{grew: make(chan struct{})} }

// Append implements stores.Log.
func (l *Log) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	return l.append(batch, false, 0)
}

// AppendAt implements stores.Conditional. The head is compared and the batch
// appended under the one lock every append takes, so engines sharing this
// Log cannot append in between.
func (l *Log) AppendAt(ctx context.Context, after uint64, batch []events.Event) (uint64, error) {
	return l.append(batch, true, after)
}

// append appends batch after the head; when cond is set, only if the head is
// after.
func (l *Log) append(batch []events.Event, cond bool, after uint64) (uint64, error) {
	if len(batch) == 0 {
		return 0, stores.ErrEmptyBatch
	}
	recs := make([][]byte, len(batch))
	for i, e := range batch {
		b, err := events.Marshal(nil, e)
		if err != nil {
			return 0, fmt.Errorf("memory: append: %w", err)
		}
		recs[i] = b
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, stores.ErrClosed
	}
	head := l.base + uint64(len(l.records))
	if cond && head != after {
		return 0, fmt.Errorf("memory: append at %d: %w (head is %d)", after, stores.ErrConflict, head)
	}
	l.records = append(l.records, recs...)
	close(l.grew)
	l.grew = make(chan struct{})
	return head + 1, nil
}

// Read implements stores.Log.
func (l *Log) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, stores.ErrClosed
	}
	if from <= l.base {
		from = l.base + 1
	}
	var recs [][]byte
	if i := from - 1 - l.base; max > 0 && i < uint64(len(l.records)) {
		end := min(i+uint64(max), uint64(len(l.records)))
		recs = l.records[i:end]
	}
	l.mu.RUnlock()
	out := make([]events.Event, len(recs))
	for i, r := range recs {
		e, err := events.Unmarshal(r)
		if err != nil {
			return nil, fmt.Errorf("memory: read position %d: %w: %w", from+uint64(i), stores.ErrCorrupt, err)
		}
		e.Position = from + uint64(i)
		out[i] = e
	}
	return out, nil
}

// Head implements stores.Log.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, stores.ErrClosed
	}
	return l.base + uint64(len(l.records)), nil
}

// TruncateBefore implements stores.Truncater.
func (l *Log) TruncateBefore(ctx context.Context, pos uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return stores.ErrClosed
	}
	if pos <= l.base+1 {
		return nil
	}
	n := min(pos-1-l.base, uint64(len(l.records)))
	// Copy so the dropped records can be collected.
	l.records = append([][]byte(nil), l.records[n:]...)
	l.base += n
	return nil
}

// First implements stores.Truncater.
func (l *Log) First(ctx context.Context) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, stores.ErrClosed
	}
	return l.base + 1, nil
}

// Wait implements stores.Tailer.
func (l *Log) Wait(ctx context.Context, after uint64) (uint64, error) {
	return stores.WaitGrowth(ctx, after, l.mu.RLocker(), stores.ErrClosed, func() (uint64, <-chan struct{}, bool) {
		return l.base + uint64(len(l.records)), l.grew, l.closed
	})
}

// SaveSnapshot implements stores.SnapshotStore.
func (l *Log) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return stores.ErrClosed
	}
	l.snapPos, l.snapData = position, append([]byte(nil), data...)
	return nil
}

// LoadSnapshot implements stores.SnapshotStore.
func (l *Log) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, nil, stores.ErrClosed
	}
	if l.snapData == nil {
		return 0, nil, stores.ErrNoSnapshot
	}
	return l.snapPos, append([]byte(nil), l.snapData...), nil
}

// Close implements stores.Log. Waiters return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.grew)
	}
	return nil
}
