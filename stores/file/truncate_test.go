package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/omniq/omniq/stores"
)

// segmentFiles returns the first positions of the segment files in dir.
func segmentFiles(t *testing.T, dir string) []uint64 {
	t.Helper()
	firsts, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	return firsts
}

func TestTruncateKeepsWholeSegments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := []Option{WithSegmentSize(tinySegment)}
	l := mustOpen(t, dir, opts...)
	want := appendBatches(t, l, "tr", 60, 3)
	if len(l.segs) < 4 {
		t.Fatalf("%d segments; the test needs several", len(l.segs))
	}
	// A position inside the third segment: the first two go, the third stays whole.
	keep := l.segs[2]
	pos := keep.first + 2
	if err := l.TruncateBefore(ctx, pos); err != nil {
		t.Fatal(err)
	}
	checkFrom(t, l, want, keep.first)
	if files := segmentFiles(t, dir); files[0] != keep.first || len(files) != len(l.segs) {
		t.Fatalf("segment files %v after truncating before %d; want them to start at %d", files, pos, keep.first)
	}
	if f, ok, err := readFirst(dir); err != nil || !ok || f != keep.first {
		t.Fatalf("FIRST = %d, %v, %v; want %d", f, ok, err, keep.first)
	}

	// A smaller position, or one inside the first segment kept, does nothing.
	for _, p := range []uint64{1, pos - 5, keep.first, pos} {
		if err := l.TruncateBefore(ctx, p); err != nil {
			t.Fatal(err)
		}
		checkFrom(t, l, want, keep.first)
	}

	// The truncation survives a reopen, and appends go on at the same head.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, opts...)
	checkFrom(t, l, want, keep.first)
	want = append(want, appendBatches(t, l, "more", 3, 2)...)
	checkFrom(t, l, want, keep.first)

	// Past the head: everything but the last segment goes, and the head
	// stays across a reopen.
	if err := l.TruncateBefore(ctx, uint64(len(want))+100); err != nil {
		t.Fatal(err)
	}
	last := l.segs[len(l.segs)-1].first
	if len(l.segs) != 1 {
		t.Fatalf("%d segments after truncating past the head, want 1", len(l.segs))
	}
	checkFrom(t, l, want, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, opts...)
	checkFrom(t, l, want, last)
	if first, err := l.Append(ctx, want[:1]); err != nil || first != uint64(len(want))+1 {
		t.Fatalf("append after truncating everything = %d, %v; want %d", first, err, len(want)+1)
	}
}

// TestTruncateEmptyTail: a log whose last segment is empty (a rotation whose
// first write failed) can be truncated up to that segment, and reopens with
// its head.
func TestTruncateEmptyTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs := &faults{}
	opts := []Option{WithSegmentSize(1), withFaults(fs)}
	l := mustOpen(t, dir, opts...)
	want := appendBatches(t, l, "e", 3, 2)
	fs.write.Store(true)
	if _, err := l.Append(ctx, want[:1]); !errors.Is(err, stores.ErrReadOnly) {
		t.Fatalf("append on a failing disk = %v, want ErrReadOnly", err)
	}
	if err := l.TruncateBefore(ctx, 3); !errors.Is(err, stores.ErrReadOnly) {
		t.Fatalf("truncate after a failed append = %v, want ErrReadOnly", err)
	}
	fs.write.Store(false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, opts...)
	if err := l.TruncateBefore(ctx, 100); err != nil {
		t.Fatal(err)
	}
	checkFrom(t, l, want, 7)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, opts...)
	checkFrom(t, l, want, 7)
}

// TestTruncateCrash stops a truncation after FIRST is durable and before
// (some of) the segments are gone, as a crash would: Open accepts the log,
// starts it at FIRST and removes the leftovers. The unlinks of one directory
// fsync may reach the disk in any order, so a hole below FIRST is a leftover
// too.
func TestTruncateCrash(t *testing.T) {
	cases := []struct {
		name   string
		remove []int // segments (by index) removed before the "crash"
	}{
		{"no segment removed", nil},
		{"first segment removed", []int{0}},
		{"second segment removed", []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, opts := writeSegments(t, 40, 4)
			l := mustOpen(t, w.dir, opts...)
			first := l.segs[3].first
			if err := l.writeFirst(first); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, i := range tc.remove {
				if err := os.Remove(w.segs[i].path); err != nil {
					t.Fatal(err)
				}
			}
			// A half-written FIRST.tmp of a later truncation is ignored.
			if err := os.WriteFile(filepath.Join(w.dir, firstTemp), []byte("OMNI"), 0o644); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, w.dir, opts...)
			checkFrom(t, l, w.events, first)
			if files := segmentFiles(t, w.dir); files[0] != first {
				t.Fatalf("segment files %v after reopen; want them to start at %d", files, first)
			}
			if _, err := os.Stat(filepath.Join(w.dir, firstTemp)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s left after open: %v", firstTemp, err)
			}
		})
	}
}

// TestTruncatedCorruption: truncation does not make a damaged log pass.
func TestTruncatedCorruption(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, w written) (file string)
	}{
		{"a segment after the first is missing", func(t *testing.T, w written) string {
			if err := os.Remove(w.segs[3].path); err != nil {
				t.Fatal(err)
			}
			return w.segs[4].path
		}},
		{"the segment FIRST names is missing", func(t *testing.T, w written) string {
			if err := os.Remove(w.segs[1].path); err != nil {
				t.Fatal(err)
			}
			return w.segs[2].path
		}},
		{"FIRST is lost", func(t *testing.T, w written) string {
			if err := os.Remove(filepath.Join(w.dir, firstName)); err != nil {
				t.Fatal(err)
			}
			return w.segs[1].path
		}},
		{"FIRST is damaged", func(t *testing.T, w written) string {
			path := filepath.Join(w.dir, firstName)
			flipByte(t, path, int64(firstFileLen-1))
			return path
		}},
		{"FIRST is cut short", func(t *testing.T, w written) string {
			path := filepath.Join(w.dir, firstName)
			truncateFile(t, path, int64(firstFileLen-1))
			return path
		}},
		{"every segment is gone", func(t *testing.T, w written) string {
			for _, s := range w.segs[1:] {
				if err := os.Remove(s.path); err != nil {
					t.Fatal(err)
				}
			}
			return filepath.Join(w.dir, firstName)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, opts := writeSegments(t, 60, 5)
			l, err := Open(w.dir, opts...)
			if err != nil {
				t.Fatal(err)
			}
			first := l.segs[1].first
			if err := l.TruncateBefore(context.Background(), first); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			openCorrupt(t, w.dir, tc.damage(t, w), opts...)
		})
	}
}
