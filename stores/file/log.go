package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// Log is a durable stores.Log in a directory of segment files. It is safe
// for concurrent use. Open it with Open; the zero value is not usable.
type Log struct {
	dir  string
	opts options
	lock *os.File // holds the flock on dir/LOCK until Close

	// Lock order: appendMu, then snapMu, then mu.

	// appendMu serializes appenders, so records are written, fsynced and
	// indexed one at a time, in position order. An appender holds it across
	// its write and fsync; readers do not need it.
	appendMu sync.Mutex
	// failed is the first write or fsync error; once set, appends are refused
	// until the log is reopened. Lock: appendMu.
	failed error

	// snapMu serializes snapshot writers, which share snapshot.tmp.
	snapMu sync.Mutex

	// mu guards what readers see. Appenders take it only to publish a record
	// that is already durable, so readers never see an unsynced batch.
	mu sync.RWMutex
	// segs holds the segments in position order; appends go to the last.
	// TruncateBefore removes segments from the front, so segs[0].first is
	// the log's first position (1 until a truncation).
	// Lock: mu; written with appendMu held too, so appendMu alone may read it.
	// INVARIANT: len(segs) >= 1 while open, and segs[i+1].first == segs[i].next.
	segs []*segment
	// head is the position of the last durable event (0 when empty).
	// Lock: mu; written with appendMu held too.
	// INVARIANT: head == segs[len(segs)-1].next - 1.
	head uint64
	// grew is closed and replaced after every append, and closed by Close,
	// waking Wait. Lock: mu.
	grew chan struct{}
	// closed is set once by Close. Lock: mu; written with appendMu and snapMu
	// held too, so any of the three may read it.
	closed bool
}

var _ stores.Full = (*Log)(nil)

// Open opens the log in dir, creating dir and an empty log if missing, and
// recovers it as the package doc describes: a torn tail on the last segment
// is truncated; any other damage fails with an error wrapping
// stores.ErrCorrupt that names the file and offset. While the returned Log is
// open it holds an exclusive lock on dir; opening a locked dir fails with an
// error wrapping ErrLocked.
func Open(dir string, opts ...Option) (*Log, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.segmentSize <= 0 {
		return nil, fmt.Errorf("file: segment size %d: must be positive", o.segmentSize)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file: open: %w", err)
	}
	// If MkdirAll just made dir, its name is durable only once its parent is
	// fsynced; otherwise a power loss could take the whole log with it.
	if err := o.syncDir(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("file: fsync parent of %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: o, lock: lock, grew: make(chan struct{})}
	if err := l.recoverSegments(); err != nil {
		_ = l.closeFiles()
		return nil, err
	}
	// A snapshot.tmp was never the snapshot; a FIRST.tmp never became FIRST,
	// and nothing was removed on its account.
	for _, tmp := range []string{snapshotTemp, firstTemp} {
		if err := removeStale(dir, tmp); err != nil {
			_ = l.closeFiles()
			return nil, err
		}
	}
	return l, nil
}

// Append implements stores.Log. When it returns nil the batch is written and
// fsynced (see "Durability" in the package doc). Errors: stores.ErrEmptyBatch;
// stores.ErrClosed; ctx.Err() if ctx ends before the write starts; an
// encoding error (nothing written); an error wrapping stores.ErrReadOnly if a
// write, fsync or segment creation fails now (the batch's fate is then
// unknown; see the package doc) or failed in an earlier Append.
func (l *Log) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	if len(batch) == 0 {
		return 0, stores.ErrEmptyBatch
	}
	rec, err := encodeRecord(batch)
	if err != nil {
		return 0, fmt.Errorf("file: append: %w", err)
	}

	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return 0, stores.ErrClosed
	}
	if l.failed != nil {
		return 0, fmt.Errorf("file: append refused after an earlier failure (%v): %w", l.failed, stores.ErrReadOnly)
	}
	// Past this point the write cannot be abandoned halfway, so ctx is
	// honoured only up to here.
	if err := ctx.Err(); err != nil {
		return 0, err
	}

	first := l.head + 1
	sealRecord(rec, first, len(batch))
	seg := l.segs[len(l.segs)-1]
	if seg.size >= l.opts.segmentSize {
		if seg, err = l.rotate(first); err != nil {
			return 0, l.fail(err)
		}
	}
	if err := seg.write(rec); err != nil {
		return 0, l.fail(err)
	}

	l.mu.Lock()
	seg.batches = append(seg.batches, batchRef{first: first, off: seg.size})
	seg.size += int64(len(rec))
	seg.next = first + uint64(len(batch))
	l.head = seg.next - 1
	close(l.grew)
	l.grew = make(chan struct{})
	l.mu.Unlock()
	return first, nil
}

// fail records the first write failure, after which Append refuses to
// write, and returns the error for the append that met it.
// Lock: appendMu.
func (l *Log) fail(err error) error {
	l.failed = err
	return fmt.Errorf("file: append: %w; the log is read-only until reopened: %w", err, stores.ErrReadOnly)
}

// rotate starts a new, empty segment at position first and makes it the one
// appends go to. Lock: appendMu.
func (l *Log) rotate(first uint64) (*segment, error) {
	seg, err := l.createSegment(first)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.mu.Unlock()
	return seg, nil
}

// createSegment creates the empty segment file for position first and
// fsyncs the directory, so that records later fsynced into it cannot lose
// their file's name in a power loss.
func (l *Log) createSegment(first uint64) (*segment, error) {
	path := filepath.Join(l.dir, segmentName(first))
	f, err := l.opts.openFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if err := l.opts.syncDir(l.dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("fsync %s after creating %s: %w", l.dir, filepath.Base(path), err)
	}
	return &segment{first: first, path: path, f: f, next: first}, nil
}

// Read implements stores.Log: up to max events from position from (a
// position before First reads from First), in order, never beyond the head. It returns an empty slice when from
// is past the head or max < 1. Errors: stores.ErrClosed; ctx.Err();
// stores.ErrCorrupt (a record fails its checksum or does not decode);
// stores.ErrUnavailable (the disk fails the read).
func (l *Log) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, stores.ErrClosed
	}
	from = maxUint64(from, l.segs[0].first)
	out := []events.Event{}
	if max < 1 || from > l.head {
		return out, nil
	}
	// The segment holding from: the last one that starts at or before it.
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > from }) - 1
	for ; i < len(l.segs) && len(out) < max; i++ {
		evs, err := l.segs[i].read(from, max-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		from = l.segs[i].next
	}
	return out, nil
}

// Head implements stores.Log. Errors: stores.ErrClosed.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, stores.ErrClosed
	}
	return l.head, nil
}

// Close implements stores.Log. It waits for an append in progress, wakes
// waiters with stores.ErrClosed, closes the files and releases the directory
// lock. Every acknowledged append is already durable, so Close syncs nothing.
// It is idempotent; it returns the first error closing a file, if any.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.grew)
	return l.closeFiles()
}

// closeFiles closes every segment and then the lock file, releasing the
// directory lock last so no other Log can open it while files are in use.
func (l *Log) closeFiles() error {
	var errs []error
	for _, seg := range l.segs {
		if err := seg.f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.lock.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file: close %s: %w", l.dir, err)
	}
	return nil
}

func maxUint64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
