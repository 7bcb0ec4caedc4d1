package pebble_test

import (
	"context"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/pebble"
)

// checkSpan fails the test unless l holds positions first..head, reads
// from first when asked for position 1, and reports both.
func checkSpan(t *testing.T, l *pebble.Log, first, head uint64) {
	t.Helper()
	ctx := context.Background()
	if got, err := l.First(ctx); err != nil || got != first {
		t.Fatalf("first = %d, %v; want %d", got, err, first)
	}
	if got, err := l.Head(ctx); err != nil || got != head {
		t.Fatalf("head = %d, %v; want %d", got, err, head)
	}
	if first > head {
		// stores.ReadAll would call a log that returns nothing below its
		// head corrupt.
		if got, err := l.Read(ctx, 1, 10); err != nil || len(got) != 0 {
			t.Fatalf("read of a log truncated past its head = %v, %v; want nothing", got, err)
		}
		return
	}
	var got []events.Event
	if err := stores.ReadAll(ctx, l, 1, 7, func(e events.Event) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if uint64(len(got)) != head-first+1 {
		t.Fatalf("read %d events, want %d", len(got), head-first+1)
	}
	for i, e := range got {
		if e.Position != first+uint64(i) {
			t.Fatalf("event %d at position %d, want %d", i, e.Position, first+uint64(i))
		}
	}
}

// TestTruncateReopen: truncation is exact, survives a reopen, ignores a
// smaller position, and keeps the head when it removes every event.
func TestTruncateReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *pebble.Log {
		l, err := pebble.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	for i := range 10 {
		if _, err := l.Append(ctx, batchOf("t", 1+i%4)); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := l.Head(ctx) // 1+2+3+4+1+2+3+4+1+2 = 23
	if err := l.TruncateBefore(ctx, 9); err != nil {
		t.Fatal(err)
	}
	checkSpan(t, l, 9, head)
	if err := l.TruncateBefore(ctx, 4); err != nil {
		t.Fatal(err)
	}
	checkSpan(t, l, 9, head)
	l.Close()

	l = open()
	checkSpan(t, l, 9, head)
	if err := l.TruncateBefore(ctx, head+50); err != nil {
		t.Fatal(err)
	}
	checkSpan(t, l, head+1, head)
	l.Close()

	l = open()
	defer l.Close()
	checkSpan(t, l, head+1, head)
	if first, err := l.Append(ctx, batchOf("after", 2)); err != nil || first != head+1 {
		t.Fatalf("append after truncating everything = %d, %v; want %d", first, err, head+1)
	}
	checkSpan(t, l, head+1, head+2)
}

// TestTruncateCrash: a crash right after TruncateBefore returns keeps the
// truncation (it is synced); the clone opens cleanly either way.
func TestTruncateCrash(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewCrashableMem()
	l := openOn(t, fs)
	if _, err := l.Append(ctx, batchOf("c", 20)); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateBefore(ctx, 12); err != nil {
		t.Fatal(err)
	}
	checkSpan(t, openOn(t, fs.CrashClone(vfs.CrashCloneCfg{})), 12, 20)
}

// TestReadDuringTruncate: readers going through the log from position 1
// while it is truncated and appended to never fail.
func TestReadDuringTruncate(t *testing.T) {
	ctx := context.Background()
	l, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := stores.ReadAll(ctx, l, 1, 3, func(events.Event) error { return nil }); err != nil {
					t.Errorf("read all during truncation: %v", err)
					return
				}
			}
		})
	}
	for i := range 50 {
		first, err := l.Append(ctx, batchOf("w", 5))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.TruncateBefore(ctx, first+uint64(i%5)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
