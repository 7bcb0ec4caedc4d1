package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// countingLog is a stores.PageReader that counts reads, notes the furthest
// position a read asked for, and fails the read numbered failAt (from 1).
type countingLog struct {
	stores.Log
	reads    atomic.Int32
	furthest atomic.Uint64
	failAt   int32
}

var errReadFailed = errors.New("injected read failure")

func (l *countingLog) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	if l.reads.Add(1) == l.failAt {
		return nil, errReadFailed
	}
	for end := from + uint64(max) - 1; ; {
		if f := l.furthest.Load(); f >= end || l.furthest.CompareAndSwap(f, end) {
			break
		}
	}
	return l.Log.Read(ctx, from, max)
}

func (l *countingLog) ReadInto(ctx context.Context, dst []events.Event, from uint64, max int) ([]events.Event, error) {
	evs, err := l.Read(ctx, from, max)
	if err != nil || cap(dst) < len(evs) {
		return evs, err
	}
	return append(dst[:0], evs...), nil
}

// logOf returns a memory log (which ignores ctx in Read) holding n events.
func logOf(t *testing.T, n int) *countingLog {
	t.Helper()
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i += 1000 {
		batch := make([]events.Event, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			batch = append(batch, events.New(fmt.Sprintf("t%d", j), at, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "q"}}))
		}
		if _, err := mem.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	return &countingLog{Log: mem}
}

// TestReadPagesDeliversTheRange: pages run from from in order, through to
// and not past it, no page is read after the one that reaches to, and no
// read asks for events past to (a compaction's read stops right before the
// checkpoint it wrote, whose parts are the whole state).
func TestReadPagesDeliversTheRange(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const n = 3*pageSize + 10
	for _, c := range []struct{ from, to uint64 }{
		{1, n}, {5, pageSize + 7}, {pageSize, pageSize + 1}, {n, n}, {1, 1}, {3, 2},
	} {
		log := logOf(t, n)
		var got []uint64
		pages := 0
		err := readPages(context.Background(), log, c.from, c.to, true, func(page []events.Event) error {
			pages++
			if len(page) == 0 || len(page) > pageSize {
				t.Errorf("%d..%d: a page of %d events", c.from, c.to, len(page))
			}
			for _, ev := range page {
				got = append(got, ev.Position)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%d..%d: %v", c.from, c.to, err)
		}
		want := 0
		if c.to >= c.from {
			want = int(c.to-c.from)/pageSize + 1
		}
		if pages != want || int(log.reads.Load()) != want {
			t.Fatalf("%d..%d: %d pages in %d reads, want %d", c.from, c.to, pages, log.reads.Load(), want)
		}
		for i, pos := range got {
			if pos != c.from+uint64(i) {
				t.Fatalf("%d..%d: event %d at position %d", c.from, c.to, i, pos)
			}
		}
		if want > 0 && got[len(got)-1] != c.to {
			t.Fatalf("%d..%d: ends at %d (events past to are cut off)", c.from, c.to, got[len(got)-1])
		}
		if f := log.furthest.Load(); f > c.to && c.to >= c.from {
			t.Fatalf("%d..%d: a read asked for events up to %d", c.from, c.to, f)
		}
	}
}

func TestReadPagesShortLogIsCorrupt(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	log := logOf(t, 10)
	var seen int
	err := readPages(context.Background(), log, 1, 12, true, func(page []events.Event) error {
		seen += len(page)
		return nil
	})
	if !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if seen != 10 {
		t.Fatalf("%d events before the error, want 10", seen)
	}
}

// TestReadPagesStops: an error from fn, from the log or a cancelled ctx
// ends readPages with that error, soon (the reader does not read the rest
// of the log), and with its goroutine gone.
func TestReadPagesStops(t *testing.T) {
	errStop := errors.New("stop")
	cases := []struct {
		name   string
		failAt int32
		fn     func(cancel context.CancelFunc) error
		want   error
	}{
		{"fn error", 0, func(context.CancelFunc) error { return errStop }, errStop},
		{"ctx cancelled", 0, func(cancel context.CancelFunc) error { cancel(); return nil }, context.Canceled},
		{"read error", 2, func(context.CancelFunc) error { return nil }, errReadFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			log := logOf(t, 8*pageSize)
			log.failAt = c.failAt
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pages := 0
			err := readPages(ctx, log, 1, 8*pageSize, true, func([]events.Event) error {
				pages++
				return c.fn(cancel)
			})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.failAt > 0 && pages != int(c.failAt)-1 {
				t.Fatalf("%d pages before the failed read, want %d", pages, c.failAt-1)
			}
			// The page handed to fn, the full buffer, and one read blocked on it.
			if reads := log.reads.Load(); reads > readAhead+2 {
				t.Fatalf("%d reads, want at most %d", reads, readAhead+2)
			}
		})
	}
}

// TestReadPagesRecycles: with recycle set, a PageReader's pages are read
// into the memory of pages fn is done with; without it, every page is new.
func TestReadPagesRecycles(t *testing.T) {
	const pages = 10
	log := logOf(t, pages*pageSize)
	for _, recycle := range []bool{true, false} {
		arrays := map[*events.Event]bool{}
		next := uint64(1)
		err := readPages(context.Background(), log, 1, pages*pageSize, recycle, func(page []events.Event) error {
			arrays[&page[0]] = true
			for _, ev := range page {
				if ev.Position != next {
					t.Fatalf("recycle %v: position %d, want %d", recycle, ev.Position, next)
				}
				next++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if recycle && len(arrays) > readAhead+2 {
			t.Errorf("recycled: %d pages in distinct memory, want at most %d", len(arrays), readAhead+2)
		}
		if !recycle && len(arrays) != pages {
			t.Errorf("not recycled: %d pages in distinct memory, want %d", len(arrays), pages)
		}
	}
}

// TestReadPagesGapPastTheRangeIsCorrupt: a log truncated past to has
// nothing to deliver for from..to; fn never sees the events after the gap.
func TestReadPagesGapPastTheRangeIsCorrupt(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	log := logOf(t, 20)
	if err := log.Log.(stores.Truncater).TruncateBefore(context.Background(), 15); err != nil {
		t.Fatal(err)
	}
	err := readPages(context.Background(), log, 1, 10, true, func(page []events.Event) error {
		t.Errorf("fn got a page from %d", page[0].Position)
		return nil
	})
	if !errors.Is(err, stores.ErrCorrupt) || !errors.Is(err, errSkippedPast) {
		t.Fatalf("err = %v, want ErrCorrupt (errSkippedPast)", err)
	}
}

// staleHead is a shared log whose first Head answer is an old one, as when
// another process appends a checkpoint and truncates before it between a
// reader's Head and its Read.
type staleHead struct {
	*memory.Log
	stale atomic.Uint64 // answered once, then 0
}

func (l *staleHead) Head(ctx context.Context) (uint64, error) {
	if h := l.stale.Swap(0); h != 0 {
		return h, nil
	}
	return l.Log.Head(ctx)
}

// TestReplayAfterACompactionPastTheHeadItRead: a process opening a shared
// log replays to the head it read first; when the log was compacted past
// that head meanwhile, it reads the head again and replays from the
// checkpoint, instead of calling the log corrupt.
func TestReplayAfterACompactionPastTheHeadItRead(t *testing.T) {
	ctx := context.Background()
	l := memory.New()
	defer l.Close()
	e, err := Open(ctx, l, WithRetention(Retention{Age: KeepEverything}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := e.Enqueue(ctx, &Task{ID: fmt.Sprintf("t%d", i), Func: "f"}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := l.Head(ctx)
	res, err := e.Compact(ctx, time.Now(), discardArchive{})
	if err != nil {
		t.Fatal(err)
	}
	if res.First <= before {
		t.Fatalf("compaction left the log starting at %d, not past %d", res.First, before)
	}
	want, _ := e.Snapshot()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	sh := &staleHead{Log: l}
	sh.stale.Store(before)
	st, err := Replay(ctx, sh, 0)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if got, _ := st.Snapshot(); string(got) != string(want) {
		t.Fatal("replayed state differs")
	}
	// A replay asked to stop at a position the log no longer holds still
	// says so.
	if _, err := Replay(ctx, l, before); !errors.Is(err, stores.ErrCorrupt) {
		t.Fatalf("replay to a compacted position: %v", err)
	}
}

// discardArchive is an Archive that keeps nothing.
type discardArchive struct{}

func (discardArchive) Write(context.Context, []events.Event) error { return nil }
func (discardArchive) Sync(context.Context) error                  { return nil }
func (discardArchive) String() string                              { return "discard" }
