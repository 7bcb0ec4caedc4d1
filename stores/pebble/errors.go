package pebble

import (
	"errors"
	"fmt"
	"io/fs"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/omniq/omniq/stores"
)

// ErrLocked is returned by Open when another Log, in this process or another,
// has the directory open. It is this backend's own error: stores has no
// equivalent because only embedded stores hold a directory.
var ErrLocked = errors.New("pebble: directory is locked by another open Log")

// interpretError maps an error from Pebble onto the stores sentinels and
// prefixes it with the operation. It is the one place Pebble's errors are
// interpreted; everything else passes its errors through here. The original
// error stays in the chain for errors.Is/As and for the message.
func interpretError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pdb.ErrClosed):
		return fmt.Errorf("pebble: %s: %w", op, stores.ErrClosed)
	case pdb.IsCorruptionError(err):
		return fmt.Errorf("pebble: %s: %w: %w", op, stores.ErrCorrupt, err)
	case errors.Is(err, pdb.ErrReadOnly):
		return fmt.Errorf("pebble: %s: %w: %w", op, stores.ErrReadOnly, err)
	case errors.Is(err, pdb.ErrNotFound):
		// The only point lookup this package makes is the snapshot key.
		return fmt.Errorf("pebble: %s: %w", op, stores.ErrNoSnapshot)
	default:
		return fmt.Errorf("pebble: %s: %w", op, err)
	}
}

// interpretLockError classifies a failure of pdb.LockDirectory. Failing to
// create the LOCK file (an *fs.PathError: permissions, a read-only disk) is
// not contention. Any other failure means the lock is held: fcntl answered
// EAGAIN or EACCES (another process), or Pebble's in-process lock table
// refused (another Log in this process). Neither of those has a sentinel in
// Pebble, hence the type test rather than errors.Is.
func interpretLockError(dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("pebble: open %s: lock: %w", dir, err)
	}
	return fmt.Errorf("pebble: open %s: %w: %w", dir, ErrLocked, err)
}
