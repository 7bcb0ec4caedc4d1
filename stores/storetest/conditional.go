package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// conditional opens a fresh log and returns it as a stores.Conditional, or
// skips the test.
func (h Harness) conditional(t *testing.T) (stores.Log, stores.Conditional, string) {
	t.Helper()
	l, name := h.open(t)
	return l, ability[stores.Conditional](t, l), name
}

// mustAppendAt appends evs at after and fails unless it lands at after+1.
func mustAppendAt(t testing.TB, c stores.Conditional, after uint64, evs []events.Event) {
	t.Helper()
	first, err := c.AppendAt(context.Background(), after, evs)
	if err != nil {
		t.Fatalf("append %d events at %d: %v", len(evs), after, err)
	}
	if first != after+1 {
		t.Fatalf("append at %d: first position %d, want %d", after, first, after+1)
	}
}

// checkUnchanged fails unless l's head is head and it holds exactly want
// (from its first position on).
func checkUnchanged(t testing.TB, l stores.Log, head uint64, want []events.Event) {
	t.Helper()
	if got, err := l.Head(context.Background()); err != nil || got != head {
		t.Fatalf("head = %d, %v; want %d", got, err, head)
	}
	got := ReadEvents(t, l)
	if len(got) != len(want) {
		t.Fatalf("log holds %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Position != want[i].Position || !sameEvent(got[i], want[i]) {
			t.Fatalf("event %d is %v, want %v", i, got[i], want[i])
		}
	}
}

// runConditional checks stores.Conditional: AppendAt appends only at the
// head it is given, whatever handle or process appended before, and
// changes nothing when the head is elsewhere.
func runConditional(t *testing.T, h Harness) {
	ctx := context.Background()
	{
		l, _, _ := h.conditional(t)
		t.Logf("%T implements stores.Conditional", l)
	}

	t.Run("AtHead", func(t *testing.T) {
		l, c, _ := h.conditional(t)
		a, b, d := batch("a", 3), batch("b", 2), batch("d", 4)
		mustAppendAt(t, c, 0, a)
		mustAppendAt(t, c, 3, b)
		cc := batch("c", 1)
		if first := mustAppend(t, l, cc); first != 6 {
			t.Fatalf("append after conditional appends at %d, want 6", first)
		}
		mustAppendAt(t, c, 6, d)
		var want []events.Event
		for _, e := range slices.Concat(a, b, cc, d) {
			e.Position = uint64(len(want) + 1)
			want = append(want, e)
		}
		checkUnchanged(t, l, 10, want)
	})

	t.Run("Conflict", func(t *testing.T) {
		l, c, _ := h.conditional(t)
		if _, err := c.AppendAt(ctx, 1, batch("early", 1)); !errors.Is(err, stores.ErrConflict) {
			t.Fatalf("append at 1 on an empty log: %v, want ErrConflict", err)
		}
		checkUnchanged(t, l, 0, nil)
		mustAppend(t, l, batch("x", 2))
		mustAppend(t, l, batch("y", 3))
		want := ReadEvents(t, l)
		for _, after := range []uint64{0, 1, 2, 4, 6, 7, 1000, math.MaxInt64, math.MaxUint64} {
			first, err := c.AppendAt(ctx, after, batch(fmt.Sprintf("no%d", after), 2))
			if !errors.Is(err, stores.ErrConflict) {
				t.Fatalf("append at %d with the head at 5 = %d, %v; want ErrConflict", after, first, err)
			}
			checkUnchanged(t, l, 5, want)
		}
		mustAppendAt(t, c, 5, batch("z", 1))
		if first := mustAppend(t, l, batch("after", 1)); first != 7 {
			t.Fatalf("append after refused conditional appends at %d, want 7", first)
		}
	})

	t.Run("NotEncodable", func(t *testing.T) {
		l, c, _ := h.conditional(t)
		mustAppend(t, l, batch("ok", 2))
		bad := batch("bad", 2)
		bad[1] = events.New("bad-1", t0, &events.TaskCompleted{Attempt: 1, Result: func() {}})
		if _, err := c.AppendAt(ctx, 2, bad); err == nil || errors.Is(err, stores.ErrConflict) {
			t.Fatalf("append at the head of an unencodable batch: %v, want an encoding error", err)
		}
		if head, _ := l.Head(ctx); head != 2 {
			t.Fatalf("head = %d after a refused batch, want 2", head)
		}
		mustAppendAt(t, c, 2, batch("next", 1))
	})

	t.Run("AfterTruncate", func(t *testing.T) {
		l, c, _ := h.conditional(t)
		tr := ability[stores.Truncater](t, l)
		for i := 0; i < 10; i++ {
			mustAppendAt(t, c, uint64(5*i), batch(fmt.Sprintf("t%d", i), 5))
		}
		if err := tr.TruncateBefore(ctx, 23); err != nil {
			t.Fatal(err)
		}
		first, err := tr.First(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, after := range []uint64{0, first - 1, first, 22, 49, 51} {
			if _, err := c.AppendAt(ctx, after, batch("stale", 1)); !errors.Is(err, stores.ErrConflict) {
				t.Fatalf("append at %d with the head at 50 after truncating before 23: %v, want ErrConflict", after, err)
			}
		}
		mustAppendAt(t, c, 50, batch("after", 2))
		// Truncate all but the batch holding the head.
		if err := tr.TruncateBefore(ctx, 52); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AppendAt(ctx, 0, batch("stale", 1)); !errors.Is(err, stores.ErrConflict) {
			t.Fatalf("append at 0 with the head at 52 after truncating before 52: %v, want ErrConflict", err)
		}
		mustAppendAt(t, c, 52, batch("last", 1))
		got, err := l.Read(ctx, 1, 100)
		if err != nil || len(got) == 0 || got[len(got)-1].Position != 53 || got[len(got)-1].TaskID != "last-0" {
			t.Fatalf("read after truncating = %v, %v; want to end with last-0 at 53", got, err)
		}
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		l, c, _ := h.conditional(t)
		mustAppend(t, l, batch("e", 2))
		for _, b := range [][]events.Event{nil, {}} {
			if _, err := c.AppendAt(ctx, 2, b); !errors.Is(err, stores.ErrEmptyBatch) {
				t.Fatalf("append of an empty batch at the head: %v, want ErrEmptyBatch", err)
			}
		}
		if head, _ := l.Head(ctx); head != 2 {
			t.Fatalf("head = %d after empty batches, want 2", head)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		l, c, _ := h.conditional(t)
		mustAppend(t, l, batch("c", 1))
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		for _, after := range []uint64{1, 0} {
			if _, err := c.AppendAt(ctx, after, batch("late", 1)); !errors.Is(err, stores.ErrClosed) {
				t.Fatalf("append at %d after close: %v, want ErrClosed", after, err)
			}
		}
	})

	if h.Shared {
		t.Run("StaleHandle", func(t *testing.T) { runStaleHandle(t, h) })
	}
	t.Run("Race", func(t *testing.T) { runConditionalRace(t, h) })
}

// runStaleHandle: a handle that last saw the head before another handle
// appended is refused at that head and accepted at the new one.
func runStaleHandle(t *testing.T, h Harness) {
	ctx := context.Background()
	a, ca, name := h.conditional(t)
	b := h.Open(t, name)
	defer b.Close()
	cb := b.(stores.Conditional)
	mustAppendAt(t, cb, 0, batch("b", 2))
	if head, err := b.Head(ctx); err != nil || head != 2 {
		t.Fatalf("head = %d, %v; want 2", head, err)
	}
	mustAppendAt(t, ca, 2, batch("a", 3))
	want := ReadEvents(t, a)
	if _, err := cb.AppendAt(ctx, 2, batch("stale", 1)); !errors.Is(err, stores.ErrConflict) {
		t.Fatalf("append at the head another handle moved: %v, want ErrConflict", err)
	}
	checkUnchanged(t, a, 5, want)
	mustAppend(t, a, batch("a2", 2))
	// b has not seen 5 or 7: it must find the head, not refuse.
	mustAppendAt(t, cb, 7, batch("b2", 1))
	if head, err := a.Head(ctx); err != nil || head != 8 {
		t.Fatalf("head = %d, %v; want 8", head, err)
	}
}

// runConditionalRace: writers, each on its own handle when the backend is
// Shared (else all on one), read the head and append at it, again on a
// conflict, until each has landed its batches. Every success must sit right
// after the head it was given, and together they must tile the log.
func runConditionalRace(t *testing.T, h Harness) {
	ctx := context.Background()
	first, _, name := h.conditional(t)
	const writers, appends = 3, 15
	logs := []stores.Log{first}
	for len(logs) < writers {
		if !h.Shared {
			logs = append(logs, first)
			continue
		}
		l := h.Open(t, name)
		defer l.Close()
		logs = append(logs, l)
	}
	type landed struct {
		after, first uint64
		ids          []string
	}
	var (
		mu        sync.Mutex
		all       []landed
		conflicts int
	)
	var wg sync.WaitGroup
	for w, l := range logs {
		c := l.(stores.Conditional)
		wg.Go(func() {
			for i := 0; i < appends; {
				head, err := l.Head(ctx)
				if err != nil {
					t.Errorf("writer %d: head: %v", w, err)
					return
				}
				b := batch(fmt.Sprintf("w%d-%d", w, i), 1+(w+i)%3)
				runtime.Gosched() // widen the window for another writer
				got, err := c.AppendAt(ctx, head, b)
				if errors.Is(err, stores.ErrConflict) {
					mu.Lock()
					conflicts++
					mu.Unlock()
					continue
				}
				if err != nil {
					t.Errorf("writer %d: append at %d: %v", w, head, err)
					return
				}
				mu.Lock()
				all = append(all, landed{head, got, taskIDs(b)})
				mu.Unlock()
				i++
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d writers landed %d batches with %d conflicts", writers, len(all), conflicts)
	for _, s := range all {
		if s.first != s.after+1 {
			t.Fatalf("append at %d landed at %d", s.after, s.first)
		}
	}
	slices.SortFunc(all, func(a, b landed) int { return cmp.Compare(a.first, b.first) })
	next := uint64(1)
	for _, s := range all {
		if s.first != next {
			t.Fatalf("batch at %d, want %d: successful appends overlap or leave a gap", s.first, next)
		}
		next += uint64(len(s.ids))
	}
	for _, l := range logs[:min(len(logs), 2)] {
		got := ReadEvents(t, l)
		if uint64(len(got)) != next-1 {
			t.Fatalf("log holds %d events, successful appends wrote %d", len(got), next-1)
		}
		for _, s := range all {
			for j, id := range s.ids {
				e := got[s.first-1+uint64(j)]
				if e.Position != s.first+uint64(j) || e.TaskID != id {
					t.Fatalf("position %d holds %s at %d, want %s", s.first+uint64(j), e.TaskID, e.Position, id)
				}
			}
		}
	}
}
