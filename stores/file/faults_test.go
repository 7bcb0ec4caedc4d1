package file

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// faults makes the file operations behind a Log fail on demand, the way a
// full or failing disk does.
type faults struct {
	write   atomic.Bool // segment writes write half the record, then fail with ENOSPC
	sync    atomic.Bool // segment fsyncs fail with EIO (the data stays in the page cache)
	syncDir atomic.Bool // directory fsyncs fail with EIO
}

// withFaults routes the log's file operations through fs.
func withFaults(fs *faults) Option {
	return func(o *options) {
		open, syncDir := o.openFile, o.syncDir
		o.openFile = func(path string, flag int, perm os.FileMode) (segmentFile, error) {
			f, err := open(path, flag, perm)
			if err != nil {
				return nil, err
			}
			return faultyFile{f, fs}, nil
		}
		o.syncDir = func(dir string) error {
			if fs.syncDir.Load() {
				return syscall.EIO
			}
			return syncDir(dir)
		}
	}
}

type faultyFile struct {
	segmentFile
	fs *faults
}

func (f faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.write.Load() {
		n, _ := f.segmentFile.WriteAt(p[:len(p)/2], off)
		return n, syscall.ENOSPC
	}
	return f.segmentFile.WriteAt(p, off)
}

func (f faultyFile) Sync() error {
	if f.fs.sync.Load() {
		return syscall.EIO
	}
	return f.segmentFile.Sync()
}

// TestWriteFailureMakesReadOnly: after a failed write or fsync, the failing
// append and every later one fail with ErrReadOnly — even once the disk works
// again, since a retried fsync can lie — reads still work, and a reopen holds
// exactly the acknowledged batches and accepts appends.
func TestWriteFailureMakesReadOnly(t *testing.T) {
	cases := []struct {
		name  string
		opts  []Option
		arm   func(*faults, bool)
		errno error
	}{
		{"write", nil, func(fs *faults, on bool) { fs.write.Store(on) }, syscall.ENOSPC},
		{"fsync", nil, func(fs *faults, on bool) { fs.sync.Store(on) }, syscall.EIO},
		// With 1-byte segments every append starts a segment, fsyncing the directory.
		{"directory fsync", []Option{WithSegmentSize(1)}, func(fs *faults, on bool) { fs.syncDir.Store(on) }, syscall.EIO},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := new(faults)
			l := mustOpen(t, dir, append(tc.opts, withFaults(fs))...)
			acked := appendBatches(t, l, "ok", 4, 3)

			tc.arm(fs, true)
			_, err := l.Append(ctx, []events.Event{acked[0], acked[1]})
			if !errors.Is(err, stores.ErrReadOnly) || !errors.Is(err, tc.errno) {
				t.Fatalf("failing append: %v; want ErrReadOnly wrapping %v", err, tc.errno)
			}
			tc.arm(fs, false)
			if _, err := l.Append(ctx, []events.Event{acked[0]}); !errors.Is(err, stores.ErrReadOnly) {
				t.Fatalf("append after the failure, disk healthy again: %v; want ErrReadOnly", err)
			}
			checkHolds(t, l, acked) // reads still serve what was acknowledged

			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := mustOpen(t, dir, tc.opts...)
			checkHolds(t, l2, acked)
			more := appendBatches(t, l2, "more", 2, 2)
			checkHolds(t, l2, append(acked, more...))
		})
	}
}

// withoutSync makes every fsync a no-op, for tests of parsing and recovery
// logic that would otherwise spend their time waiting on the disk.
func withoutSync() Option {
	return func(o *options) {
		open := o.openFile
		o.openFile = func(path string, flag int, perm os.FileMode) (segmentFile, error) {
			f, err := open(path, flag, perm)
			if err != nil {
				return nil, err
			}
			return noSyncFile{f}, nil
		}
		o.syncDir = func(string) error { return nil }
	}
}

type noSyncFile struct{ segmentFile }

func (noSyncFile) Sync() error { return nil }

// TestOpenSyncsBeforeServing: Open fsyncs the last segment, so a batch a
// crashed process wrote but never synced is durable before anyone reads it.
// Open must fail rather than serve data whose fsync failed.
func TestOpenSyncsBeforeServing(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir)
	appendBatches(t, l, "a", 2, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fs := new(faults)
	fs.sync.Store(true)
	if l, err := Open(dir, withFaults(fs)); !errors.Is(err, syscall.EIO) {
		if err == nil {
			l.Close()
		}
		t.Fatalf("open with failing fsync: %v; want EIO", err)
	}
}
