package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/omniq/omniq/stores"
)

const (
	snapshotName    = "snapshot"
	snapshotTemp    = "snapshot.tmp"
	snapshotMagic   = "OMNIQSN1"
	snapshotHeadLen = len(snapshotMagic) + 4 + 8 // magic, checksum, position
)

// SaveSnapshot implements stores.SnapshotStore. It writes data atomically:
// after a crash the snapshot is either the previous one or this one, whole.
// When it returns nil the snapshot is durable. A failure leaves the previous
// snapshot in place and does not affect appends. Errors: stores.ErrClosed; a
// position beyond the head (a snapshot cannot cover events the log lacks);
// the file system's errors.
func (l *Log) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	l.mu.RLock()
	closed, head := l.closed, l.head
	l.mu.RUnlock()
	if closed {
		return stores.ErrClosed
	}
	if position > head {
		return fmt.Errorf("file: save snapshot at position %d: beyond the head %d", position, head)
	}

	if err := l.replaceFile(snapshotName, snapshotTemp, seal(snapshotMagic, position, data)); err != nil {
		return fmt.Errorf("file: save snapshot: %w", err)
	}
	return nil
}

// LoadSnapshot implements stores.SnapshotStore. Errors: stores.ErrClosed;
// stores.ErrNoSnapshot when none was saved; an error wrapping both
// stores.ErrNoSnapshot and stores.ErrCorrupt when the snapshot is damaged or
// covers positions the log does not hold — a snapshot is a cache, so callers
// that replay on ErrNoSnapshot need no other case, and the error still says
// why; the file system's errors otherwise.
func (l *Log) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	l.mu.RLock()
	closed, head := l.closed, l.head
	l.mu.RUnlock()
	if closed {
		return 0, nil, stores.ErrClosed
	}
	path := filepath.Join(l.dir, snapshotName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, stores.ErrNoSnapshot
	}
	if err != nil {
		return 0, nil, fmt.Errorf("file: load snapshot: %w", err)
	}
	damaged := func(why string, args ...any) error {
		return fmt.Errorf("file: snapshot %s: %s: %w: %w", path, fmt.Sprintf(why, args...), stores.ErrNoSnapshot, stores.ErrCorrupt)
	}
	position, data, err := unseal(b, snapshotMagic)
	switch {
	case errors.Is(err, errNotSealed):
		return 0, nil, damaged("not a snapshot file (bad header)")
	case err != nil:
		return 0, nil, damaged("checksum mismatch")
	case position > head:
		return 0, nil, damaged("covers position %d, beyond the log's head %d", position, head)
	}
	return position, data, nil
}
