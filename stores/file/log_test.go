package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

// tinySegment makes a segment hold a handful of small batches, so the
// suites below cross many segment boundaries.
const tinySegment = 2048

func harness(dir string, opts ...Option) storetest.Harness {
	return storetest.Harness{
		Open: func(t testing.TB, name string) stores.Log {
			l, err := Open(filepath.Join(dir, name), opts...)
			if err != nil {
				t.Fatalf("open %s: %v", name, err)
			}
			return l
		},
		Durable: true,
	}
}

func TestConformance(t *testing.T) {
	t.Run("DefaultSegments", func(t *testing.T) { storetest.Run(t, harness(t.TempDir())) })
	t.Run("TinySegments", func(t *testing.T) { storetest.Run(t, harness(t.TempDir(), WithSegmentSize(tinySegment))) })
}

func BenchmarkLog(b *testing.B) { storetest.Bench(b, harness(b.TempDir())) }

// mustOpen opens dir and closes the log when the test ends.
func mustOpen(t *testing.T, dir string, opts ...Option) *Log {
	t.Helper()
	l, err := Open(dir, opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// appendBatches appends n batches of size events each and returns all the
// events appended, in order.
func appendBatches(t *testing.T, l *Log, prefix string, n, size int) []events.Event {
	t.Helper()
	var all []events.Event
	for i := 0; i < n; i++ {
		b := make([]events.Event, size)
		for j := range b {
			b[j] = storetest.Event(fmt.Sprintf("%s-%d-%d", prefix, i, j), j+1)
		}
		if _, err := l.Append(context.Background(), b); err != nil {
			t.Fatalf("append batch %d: %v", i, err)
		}
		all = append(all, b...)
	}
	return all
}

// checkHolds fails the test unless l holds exactly want, at positions 1….
func checkHolds(t *testing.T, l *Log, want []events.Event) {
	t.Helper()
	checkFrom(t, l, want, 1)
}

// checkFrom fails the test unless l holds exactly want[first-1:] at
// positions first…len(want), starts at first and reads from first when asked
// for position 1.
func checkFrom(t *testing.T, l *Log, want []events.Event, first uint64) {
	t.Helper()
	ctx := context.Background()
	if head, err := l.Head(ctx); err != nil || head != uint64(len(want)) {
		t.Fatalf("head = %d, %v; want %d", head, err, len(want))
	}
	if got, err := l.First(ctx); err != nil || got != first {
		t.Fatalf("first = %d, %v; want %d", got, err, first)
	}
	got, err := l.Read(ctx, 1, len(want)+10)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != len(want)-int(first)+1 {
		t.Fatalf("read %d events, want %d", len(got), len(want)-int(first)+1)
	}
	for i, e := range got {
		w := want[int(first)-1+i]
		w.Position = first + uint64(i)
		if !reflect.DeepEqual(e, w) {
			t.Fatalf("event at position %d = %v, want %v", w.Position, e, w)
		}
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, WithSegmentSize(tinySegment))
	want := appendBatches(t, l, "rot", 60, 3)
	checkHolds(t, l, want)

	// Every segment's name is the position of its first record's first event.
	if len(l.segs) < 3 {
		t.Fatalf("%d segments after 60 batches with %d-byte segments; rotation did not happen", len(l.segs), tinySegment)
	}
	for _, seg := range l.segs {
		if len(seg.batches) == 0 || seg.batches[0].first != seg.first {
			t.Fatalf("segment %s does not start with position %d", filepath.Base(seg.path), seg.first)
		}
		if filepath.Base(seg.path) != segmentName(seg.first) {
			t.Fatalf("segment for position %d is named %s", seg.first, filepath.Base(seg.path))
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(files) != len(l.segs) {
		t.Fatalf("%d segment files, log knows %d", len(files), len(l.segs))
	}

	// A read that starts mid-batch, mid-log and crosses segments.
	seg1 := l.segs[1]
	from := seg1.first - 2
	got, err := l.Read(context.Background(), from, 10)
	if err != nil || len(got) != 10 || got[0].Position != from || got[9].Position != from+9 {
		t.Fatalf("read(%d, 10) across a segment boundary = %v, %v", from, got, err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir, WithSegmentSize(tinySegment))
	checkHolds(t, l2, want)
	more := appendBatches(t, l2, "after", 5, 3)
	checkHolds(t, l2, append(want, more...))
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	l := mustOpen(t, dir)
	if head, err := l.Head(context.Background()); err != nil || head != 0 {
		t.Fatalf("head = %d, %v", head, err)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(1))); err != nil {
		t.Fatalf("first segment missing: %v", err)
	}
}

func TestOpenRejectsBadSegmentSize(t *testing.T) {
	if _, err := Open(t.TempDir(), WithSegmentSize(0)); err == nil {
		t.Fatal("open with segment size 0 succeeded")
	}
}
