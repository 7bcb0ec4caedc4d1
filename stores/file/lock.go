package file

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/omniq/omniq/stores"
)

const lockName = "LOCK"

// ErrLocked is wrapped by Open's error when another Log — in this process or
// another — has the directory open. It wraps stores.ErrUnavailable: the
// directory may be free later.
var ErrLocked = fmt.Errorf("file: directory in use by another open Log: %w", stores.ErrUnavailable)

// lockDir takes an exclusive flock on dir/LOCK and returns the open lock
// file; closing it releases the lock, as does the process exiting. flock
// locks belong to the open file, not the process, so a second Open in the
// same process conflicts too (fcntl locks would not). The file holds the
// owner's pid so the error can say who has the directory.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file: open lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			owner := "another Log"
			if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
				owner = "pid " + strings.TrimSpace(string(b))
			}
			return nil, fmt.Errorf("file: open %s: held by %s: %w", dir, owner, ErrLocked)
		}
		return nil, fmt.Errorf("file: lock %s: %w", path, err)
	}
	// The pid is only for the message above; failing to write it is harmless.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
