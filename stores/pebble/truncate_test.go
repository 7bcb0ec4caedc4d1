package pebble_test

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/omniq/omniq/stores/pebble"
	"github.com/omniq/omniq/stores/storetest"
)

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
	storetest.CheckSpan(t, l, 9, head)
	if err := l.TruncateBefore(ctx, 4); err != nil {
		t.Fatal(err)
	}
	storetest.CheckSpan(t, l, 9, head)
	l.Close()

	l = open()
	storetest.CheckSpan(t, l, 9, head)
	if err := l.TruncateBefore(ctx, head+50); err != nil {
		t.Fatal(err)
	}
	storetest.CheckSpan(t, l, head+1, head)
	l.Close()

	l = open()
	defer l.Close()
	storetest.CheckSpan(t, l, head+1, head)
	if first, err := l.Append(ctx, batchOf("after", 2)); err != nil || first != head+1 {
		t.Fatalf("append after truncating everything = %d, %v; want %d", first, err, head+1)
	}
	storetest.CheckSpan(t, l, head+1, head+2)
}

// TestTruncateCrash: a crash right after TruncateBefore returns keeps the
// truncation (it is synced); the clone opens cleanly either way.
func TestTruncateCrash(t *testing.T) {
	ctx := context.Background()
	fs, l := crashableWith(t, "c", 20)
	if err := l.TruncateBefore(ctx, 12); err != nil {
		t.Fatal(err)
	}
	storetest.CheckSpan(t, openOn(t, fs.CrashClone(vfs.CrashCloneCfg{})), 12, 20)
}
