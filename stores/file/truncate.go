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
	firstName    = "FIRST"
	firstTemp    = "FIRST.tmp"
	firstMagic   = "OMNIQFP1"
	firstFileLen = len(firstMagic) + 4 + 8 // magic, checksum, position
)

// TruncateBefore implements stores.Truncater. It removes the segments that
// lie wholly below pos — every event in them is older than pos — and keeps
// the segment holding pos whole, so up to one segment of older events stays.
// The last segment always stays, so the head survives a reopen even when pos
// is past it. A pos at or below First does nothing.
//
// Before it removes anything it durably records the new first position in
// FIRST (see "Truncation" in the package doc), so a crash part-way leaves a
// log that Open accepts and finishes truncating. Errors: stores.ErrClosed;
// ctx.Err(); an error wrapping stores.ErrReadOnly after a failed append; the
// file system's errors writing FIRST (nothing removed) or removing segments
// (the log already starts at the new first position; Open removes the rest).
func (l *Log) TruncateBefore(ctx context.Context, pos uint64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return stores.ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("file: truncate refused after an earlier failure (%v): %w", l.failed, stores.ErrReadOnly)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	k := 0 // segments before k go
	for k < len(l.segs)-1 && l.segs[k].next <= pos {
		k++
	}
	if k == 0 {
		return nil
	}
	first := l.segs[k].first
	if err := l.writeFirst(first); err != nil {
		return fmt.Errorf("file: truncate before %d: %w", pos, err)
	}
	gone := l.segs[:k]
	l.mu.Lock()
	// Readers hold mu while they use a segment, so none uses gone after this.
	l.segs = append([]*segment(nil), l.segs[k:]...)
	l.mu.Unlock()

	var errs []error
	for _, seg := range gone {
		if err := seg.f.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := l.opts.syncDir(l.dir); err != nil {
		errs = append(errs, fmt.Errorf("fsync %s: %w", l.dir, err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file: truncate before %d: remove segments (the log starts at %d; Open removes what is left): %w", pos, first, err)
	}
	return nil
}

// First implements stores.Truncater: the first position of the first
// segment, which is head+1 when the log holds no event. Errors:
// stores.ErrClosed.
func (l *Log) First(ctx context.Context) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, stores.ErrClosed
	}
	return l.segs[0].first, nil
}

// writeFirst durably records first as the log's first position: FIRST.tmp
// is written and fsynced, renamed over FIRST, and the directory fsynced. A
// crash leaves the old FIRST (or none) or the new one, whole.
func (l *Log) writeFirst(first uint64) error {
	return l.replaceFile(firstName, firstTemp, seal(firstMagic, first, nil))
}

// readFirst returns the first position recorded in dir's FIRST file, and
// false when there is none (the log was never truncated: it starts at 1). A
// damaged FIRST is corruption: it was written atomically, so no crash leaves
// it half written.
func readFirst(dir string) (uint64, bool, error) {
	path := filepath.Join(dir, firstName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("file: read %s: %w", path, err)
	}
	first, _, err := unseal(b, firstMagic)
	switch {
	case len(b) != firstFileLen || errors.Is(err, errNotSealed):
		return 0, false, corruptAt(path, 0, errors.New("not a FIRST file (bad length or header)"))
	case err != nil:
		return 0, false, corruptAt(path, int64(len(firstMagic)), err)
	case first == 0:
		return 0, false, corruptAt(path, int64(len(firstMagic)+4), errors.New("first position 0"))
	}
	return first, true, nil
}
