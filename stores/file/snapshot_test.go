package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/omniq/omniq/stores"
)

// TestDamagedSnapshotReadsAsAbsent: a damaged snapshot gives an error that
// wraps ErrNoSnapshot (so the caller replays) and ErrCorrupt (saying why).
func TestDamagedSnapshotReadsAsAbsent(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"flipped data byte", func(t *testing.T, path string) { flipByte(t, path, int64(snapshotHeadLen+1)) }},
		{"flipped position byte", func(t *testing.T, path string) { flipByte(t, path, int64(len(snapshotMagic)+4)) }},
		{"cut short", func(t *testing.T, path string) { truncateFile(t, path, int64(snapshotHeadLen-1)) }},
		{"cut in the data", func(t *testing.T, path string) { truncateFile(t, path, int64(snapshotHeadLen+2)) }},
		{"not a snapshot", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("hello, this is not a snapshot"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir)
			appendBatches(t, l, "s", 2, 2)
			if err := l.SaveSnapshot(ctx, 3, []byte("state at three")); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, filepath.Join(dir, snapshotName))
			_, _, err := l.LoadSnapshot(ctx)
			if !errors.Is(err, stores.ErrNoSnapshot) || !errors.Is(err, stores.ErrCorrupt) {
				t.Fatalf("load of a damaged snapshot: %v; want ErrNoSnapshot and ErrCorrupt", err)
			}
			// A new save replaces the damaged one.
			if err := l.SaveSnapshot(ctx, 4, []byte("four")); err != nil {
				t.Fatal(err)
			}
			if pos, data, err := l.LoadSnapshot(ctx); err != nil || pos != 4 || string(data) != "four" {
				t.Fatalf("load = %d %q %v; want 4 four", pos, data, err)
			}
		})
	}
}

func TestSnapshotBeyondHeadIsRefused(t *testing.T) {
	ctx := context.Background()
	l := mustOpen(t, t.TempDir())
	appendBatches(t, l, "s", 1, 2)
	if err := l.SaveSnapshot(ctx, 2, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveSnapshot(ctx, 3, []byte("three")); err == nil {
		t.Fatal("saved a snapshot beyond the head")
	}
	if pos, data, err := l.LoadSnapshot(ctx); err != nil || pos != 2 || string(data) != "two" {
		t.Fatalf("load = %d %q %v; want the earlier snapshot", pos, data, err)
	}
}

// TestStaleSnapshotTempIsIgnored: a snapshot.tmp left by a crash mid-save is
// not the snapshot, and Open removes it.
func TestStaleSnapshotTempIsIgnored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := mustOpen(t, dir)
	appendBatches(t, l, "s", 1, 2)
	if err := l.SaveSnapshot(ctx, 1, []byte("one")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	tmp := filepath.Join(dir, snapshotTemp)
	if err := os.WriteFile(tmp, []byte("half a snap"), 0o644); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale %s still there: %v", snapshotTemp, err)
	}
	if pos, data, err := l2.LoadSnapshot(ctx); err != nil || pos != 1 || string(data) != "one" {
		t.Fatalf("load = %d %q %v; want 1 one", pos, data, err)
	}
}
