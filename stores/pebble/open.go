package pebble

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/omniq/omniq/stores"
)

// Open opens the log in directory dir, creating the directory and an empty
// log if there is none, and recovers the head from the last event key (or
// the first position, when truncation removed every event).
//
// The directory stays locked until Close: a second Open of it, from this
// process or another, returns an error wrapping ErrLocked. A log whose data
// Pebble finds damaged, or whose last key is not an event key, returns an
// error wrapping stores.ErrCorrupt.
func Open(dir string, opts ...Option) (*Log, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	po, err := pebbleOptions(&c)
	if err != nil {
		return nil, err
	}
	dir, fs, err := prepareDir(dir, po.FS)
	if err != nil {
		return nil, err
	}
	// The lock is taken here rather than inside pdb.Open so that contention
	// can be told apart from other open failures (see interpretLockError).
	lock, err := pdb.LockDirectory(dir, fs)
	if err != nil {
		return nil, interpretLockError(dir, err)
	}
	po.Lock = lock
	db, err := pdb.Open(dir, po)
	if err != nil {
		_ = lock.Close()
		return nil, interpretError("open "+dir, err)
	}
	head, err := lastPosition(db)
	var first uint64
	if err == nil {
		first, err = recoverFirst(db)
	}
	var in *ingester
	if err == nil {
		in, err = newIngester(db, po, dir, fs)
	}
	if err != nil {
		_ = db.Close()
		_ = lock.Close()
		return nil, err
	}
	l := &Log{
		db:        db,
		lock:      lock,
		place:     osPlace(dir, fs),
		appendSem: make(chan struct{}, 1),
		grew:      make(chan struct{}),
		reclaim:   newReclaimer(db, po.Logger, first),
		ingest:    in,
		// As for appends: past what a pooled buffer holds, a table.
		snapshotBatchMax: maxPooledBuf,
	}
	// A log truncated up to its head holds no event key: the head is
	// first-1, not 0.
	l.head.Store(max(head, first-1))
	l.first.Store(first)
	return l, nil
}

// prepareDir creates dir and returns the name to open it by and the file
// system to lock it on. On the OS file system the name is made absolute
// with symlinks resolved, because Pebble's in-process lock table is keyed by
// name: two spellings of one directory must not both get the lock (fcntl
// locks do not exclude within a process).
func prepareDir(dir string, fs vfs.FS) (string, vfs.FS, error) {
	if fs != nil && fs != vfs.Default {
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("pebble: open %s: %w", dir, err)
		}
		return dir, fs, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("pebble: open %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", nil, fmt.Errorf("pebble: open %s: %w", dir, err)
	}
	return abs, vfs.Default, nil
}

// lastPosition returns the position in the last event key, 0 when there is
// none.
func lastPosition(db *pdb.DB) (uint64, error) {
	it, err := db.NewIter(&pdb.IterOptions{LowerBound: []byte{eventPrefix}, UpperBound: eventsEnd})
	if err != nil {
		return 0, interpretError("recover head", err)
	}
	defer it.Close()
	if !it.Last() {
		return 0, interpretError("recover head", it.Error())
	}
	pos, ok := parseEventKey(it.Key())
	if !ok {
		return 0, fmt.Errorf("pebble: recover head: %w: malformed event key %x", stores.ErrCorrupt, it.Key())
	}
	return pos, nil
}
