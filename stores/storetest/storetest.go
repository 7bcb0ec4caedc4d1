// Package storetest is the one conformance suite and benchmark that every
// stores.Log backend runs. A contract change lands here first.
//
// A backend's test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		dir := t.TempDir()
//		storetest.Run(t, storetest.Harness{
//			Open:    func(t testing.TB, name string) stores.Log { … open filepath.Join(dir, name) … },
//			Durable: true,
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// Harness tells the suite how to open a backend and what it promises.
type Harness struct {
	// Open opens the log called name. Opening the same name again (after Close,
	// or concurrently when Shared) must give the same underlying log; a new name
	// must give an empty, isolated log. Open fails the test on error.
	Open func(t testing.TB, name string) stores.Log
	// Durable: a closed and reopened log still holds every appended event.
	Durable bool
	// Shared: two logs open at once on the same name (as two processes would
	// have) see each other's appends in one order.
	Shared bool
}

var nameSeq atomic.Int64

// freshName returns a log name unique to this run of the suite, made only of
// [a-z0-9_] and at most 40 bytes long, so every backend can use it as a
// table prefix, key prefix or stream name.
func freshName(t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	n := b.String()
	if len(n) > 16 {
		n = n[len(n)-16:]
	}
	return fmt.Sprintf("st%d_%d_%s", time.Now().UnixNano()%1e9, nameSeq.Add(1), n)
}

// ability returns l as an A, the interface of an optional ability, and
// skips the test when the backend does not implement A.
func ability[A any](t testing.TB, l stores.Log) A {
	t.Helper()
	a, ok := l.(A)
	if !ok {
		t.Skipf("%T does not implement %v", l, reflect.TypeFor[A]())
	}
	return a
}

func (h Harness) open(t testing.TB) (stores.Log, string) {
	name := freshName(t)
	l := h.Open(t, name)
	t.Cleanup(func() { _ = l.Close() })
	return l, name
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

// Event returns a small test event for task id with attempt n.
func Event(id string, n int) events.Event {
	return events.New(id, t0.Add(time.Duration(n)*time.Millisecond), &events.TaskLeased{Attempt: n, Deadline: events.At(t0)})
}

// batch returns n events whose task ids are prefix-0 … prefix-(n-1).
func batch(prefix string, n int) []events.Event {
	out := make([]events.Event, n)
	for i := range out {
		out[i] = Event(fmt.Sprintf("%s-%d", prefix, i), i+1)
	}
	return out
}

// taskIDs returns the task ids of b, in order.
func taskIDs(b []events.Event) []string {
	return mapped(b, func(e events.Event) string { return e.TaskID })
}

// mapped returns f of each element of s, in order.
func mapped[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// ReadEvents returns every event of l, from its first position to its head,
// failing t when a read fails.
func ReadEvents(t testing.TB, l stores.Log) []events.Event {
	t.Helper()
	var out []events.Event
	if err := stores.ReadAll(context.Background(), l, 1, 97, func(e events.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("read all: %v", err)
	}
	return out
}

func mustAppend(t testing.TB, l stores.Log, evs []events.Event) uint64 {
	t.Helper()
	first, err := l.Append(context.Background(), evs)
	if err != nil {
		t.Fatalf("append %d events: %v", len(evs), err)
	}
	return first
}

// sameEvent compares everything but Position, which the log assigns.
func sameEvent(a, b events.Event) bool {
	a.Position, b.Position = 0, 0
	return reflect.DeepEqual(a, b)
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()

	t.Run("AppendRead", func(t *testing.T) {
		l, _ := h.open(t)
		if head, err := l.Head(ctx); err != nil || head != 0 {
			t.Fatalf("new log head = %d, %v; want 0", head, err)
		}
		in := batch("a", 3)
		if first := mustAppend(t, l, in); first != 1 {
			t.Fatalf("first position = %d, want 1", first)
		}
		got, err := l.Read(ctx, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("read %d events, want 3", len(got))
		}
		for i, e := range got {
			if e.Position != uint64(i+1) || !sameEvent(e, in[i]) {
				t.Fatalf("event %d = %v, want %v at position %d", i, e, in[i], i+1)
			}
		}
		if head, _ := l.Head(ctx); head != 3 {
			t.Fatalf("head = %d, want 3", head)
		}
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		l, _ := h.open(t)
		if _, err := l.Append(ctx, nil); !errors.Is(err, stores.ErrEmptyBatch) {
			t.Fatalf("err = %v, want ErrEmptyBatch", err)
		}
		if head, _ := l.Head(ctx); head != 0 {
			t.Fatalf("head = %d after rejected append", head)
		}
	})

	t.Run("PositionsGapFree", func(t *testing.T) {
		l, _ := h.open(t)
		want := uint64(1)
		for i, n := range []int{1, 5, 2, 17, 1, 64} {
			first := mustAppend(t, l, batch(fmt.Sprintf("b%d", i), n))
			if first != want {
				t.Fatalf("batch %d first = %d, want %d", i, first, want)
			}
			want += uint64(n)
		}
		all := ReadEvents(t, l)
		if uint64(len(all)) != want-1 {
			t.Fatalf("read %d events, want %d", len(all), want-1)
		}
		for i, e := range all {
			if e.Position != uint64(i+1) {
				t.Fatalf("event %d has position %d", i, e.Position)
			}
		}
		mid, err := l.Read(ctx, 7, 3)
		if err != nil || len(mid) != 3 || mid[0].Position != 7 || mid[2].Position != 9 {
			t.Fatalf("read(7, 3) = %v, %v", mid, err)
		}
		past, err := l.Read(ctx, want, 10)
		if err != nil || len(past) != 0 {
			t.Fatalf("read past head = %v, %v; want empty", past, err)
		}
	})

	t.Run("BatchAtomicity", func(t *testing.T) {
		l, _ := h.open(t)
		mustAppend(t, l, batch("ok", 2))
		bad := batch("bad", 3)
		// A result msgpack cannot encode: the whole batch must be refused.
		bad[2] = events.New("bad-2", t0, &events.TaskCompleted{Attempt: 1, Result: func() {}})
		if _, err := l.Append(ctx, bad); err == nil {
			t.Fatal("append of an unencodable batch succeeded")
		}
		if head, _ := l.Head(ctx); head != 2 {
			t.Fatalf("head = %d after failed batch, want 2", head)
		}
		if got := ReadEvents(t, l); len(got) != 2 {
			t.Fatalf("%d events readable after failed batch, want 2", len(got))
		}
		if first := mustAppend(t, l, batch("next", 1)); first != 3 {
			t.Fatalf("first after failed batch = %d, want 3", first)
		}
	})

	t.Run("LargeEvent", func(t *testing.T) {
		l, _ := h.open(t)
		big := strings.Repeat("x", 1<<20)
		e := events.New("big", t0, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default", Args: []any{big}}})
		mustAppend(t, l, []events.Event{e, Event("small", 1)})
		got := ReadEvents(t, l)
		if len(got) != 2 || !sameEvent(got[0], e) {
			t.Fatal("1 MiB event did not round-trip")
		}
	})

	t.Run("Checkpoint", func(t *testing.T) {
		// A checkpoint's batch: its state in parts, megabytes in all, after
		// ordinary events. A store may take a path of its own for it (see
		// events.EncodedSizeHint); it must keep the batch whole and exact,
		// and refuse it whole.
		l, _ := h.open(t)
		mustAppend(t, l, batch("before", 2))
		const parts = 9
		var cp []events.Event
		for i := range parts {
			data := make([]byte, 512<<10)
			for j := range data {
				data[j] = byte(i + j)
			}
			cp = append(cp, events.New("", t0, &events.LogCheckpointPart{Index: i, Data: data}))
		}
		cp = append(cp, events.New("", t0, &events.LogCheckpoint{State: []byte("last"), Before: events.At(t0), Parts: parts}))
		bad := append(slices.Clone(cp), events.New("bad", t0, &events.TaskCompleted{Attempt: 1, Result: func() {}}))
		if _, err := l.Append(ctx, bad); err == nil {
			t.Fatal("append of an unencodable checkpoint batch succeeded")
		}
		if first := mustAppend(t, l, cp); first != 3 {
			t.Fatalf("checkpoint appended at %d, want 3", first)
		}
		mustAppend(t, l, batch("after", 1))
		got := ReadEvents(t, l)
		if len(got) != 2+len(cp)+1 {
			t.Fatalf("%d events read, want %d", len(got), 2+len(cp)+1)
		}
		for i, ev := range cp {
			if !sameEvent(got[2+i], ev) {
				t.Fatalf("checkpoint event %d did not round-trip", i)
			}
		}
	})

	t.Run("ConcurrentAppenders", func(t *testing.T) {
		l, _ := h.open(t)
		const writers, appends = 8, 25
		type span struct {
			first uint64
			ids   []string
		}
		spans := make(chan span, writers*appends)
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Go(func() {
				for i := 0; i < appends; i++ {
					b := batch(fmt.Sprintf("w%d-%d", w, i), 1+(w+i)%4)
					first, err := l.Append(ctx, b)
					if err != nil {
						t.Errorf("writer %d append %d: %v", w, i, err)
						return
					}
					spans <- span{first, taskIDs(b)}
				}
			})
		}
		wg.Wait()
		close(spans)
		all := ReadEvents(t, l)
		total := 0
		for s := range spans {
			total += len(s.ids)
			for j, id := range s.ids {
				p := s.first + uint64(j)
				if p == 0 || p > uint64(len(all)) || all[p-1].TaskID != id {
					t.Fatalf("batch at %d: position %d does not hold %s", s.first, p, id)
				}
			}
		}
		if total != len(all) {
			t.Fatalf("log holds %d events, writers appended %d", len(all), total)
		}
		for i, e := range all {
			if e.Position != uint64(i+1) {
				t.Fatalf("gap: event %d at position %d", i, e.Position)
			}
		}
	})

	t.Run("CloseSemantics", func(t *testing.T) {
		l, _ := h.open(t)
		mustAppend(t, l, batch("c", 1))
		if err := l.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		if _, err := l.Append(ctx, batch("c2", 1)); !errors.Is(err, stores.ErrClosed) {
			t.Fatalf("append after close: %v, want ErrClosed", err)
		}
		if _, err := l.Read(ctx, 1, 1); !errors.Is(err, stores.ErrClosed) {
			t.Fatalf("read after close: %v, want ErrClosed", err)
		}
		if _, err := l.Head(ctx); !errors.Is(err, stores.ErrClosed) {
			t.Fatalf("head after close: %v, want ErrClosed", err)
		}
	})

	if h.Durable {
		t.Run("ReopenKeepsEverything", func(t *testing.T) {
			l, name := h.open(t)
			var in []events.Event
			for i := 0; i < 5; i++ {
				b := batch(fmt.Sprintf("r%d", i), 10)
				mustAppend(t, l, b)
				in = append(in, b...)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := h.Open(t, name)
			defer l2.Close()
			got := ReadEvents(t, l2)
			if len(got) != len(in) {
				t.Fatalf("reopened log holds %d events, want %d", len(got), len(in))
			}
			for i := range in {
				if !sameEvent(got[i], in[i]) {
					t.Fatalf("event %d changed across reopen", i)
				}
			}
			if first := mustAppend(t, l2, batch("after", 1)); first != uint64(len(in)+1) {
				t.Fatalf("append after reopen at %d, want %d", first, len(in)+1)
			}
		})
	}

	t.Run("Tail", func(t *testing.T) { runTail(t, h) })

	if h.Shared {
		t.Run("SharedHandles", func(t *testing.T) { runShared(t, h) })
	}

	t.Run("Snapshot", func(t *testing.T) { runSnapshot(t, h) })
	t.Run("Truncate", func(t *testing.T) { runTruncate(t, h) })
	t.Run("ReadWindows", func(t *testing.T) { runReadWindows(t, h) })
	t.Run("ReadInto", func(t *testing.T) { runReadInto(t, h) })
	t.Run("ReadDuringTruncate", func(t *testing.T) { runReadDuringTruncate(t, h) })
	t.Run("Conditional", func(t *testing.T) { runConditional(t, h) })
	if h.Shared {
		t.Run("TailingReaderSeesPrefix", func(t *testing.T) { runTailingPrefix(t, h) })
	}
}

func runTail(t *testing.T, h Harness) {
	ctx := context.Background()
	l, _ := h.open(t)
	tl := ability[stores.Tailer](t, l)
	mustAppend(t, l, batch("t", 2))
	// Already past: returns at once.
	if head, err := tl.Wait(ctx, 1); err != nil || head != 2 {
		t.Fatalf("wait(1) = %d, %v; want 2", head, err)
	}
	woke := make(chan uint64, 1)
	errc := make(chan error, 1)
	go func() {
		head, err := tl.Wait(ctx, 2)
		if err != nil {
			errc <- err
			return
		}
		woke <- head
	}()
	select {
	case head := <-woke:
		t.Fatalf("wait returned %d before any append", head)
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(50 * time.Millisecond):
	}
	mustAppend(t, l, batch("t2", 1))
	select {
	case head := <-woke:
		if head < 3 {
			t.Fatalf("woke with head %d, want >= 3", head)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not wake on append")
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := tl.Wait(short, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with expiring ctx = %v, want DeadlineExceeded", err)
	}
	go func() {
		_, err := tl.Wait(ctx, 100)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	l.Close()
	AwaitErr(t, errc, stores.ErrClosed, 10*time.Second, "wait across close", "wait did not return when the log closed")
}

func runShared(t *testing.T, h Harness) {
	ctx := context.Background()
	a, name := h.open(t)
	b := h.Open(t, name)
	defer b.Close()
	if tb, ok := b.(stores.Tailer); ok {
		woke := make(chan error, 1)
		go func() { _, err := tb.Wait(ctx, 0); woke <- err }()
		time.Sleep(20 * time.Millisecond)
		mustAppend(t, a, batch("from-a", 1))
		AwaitErr(t, woke, nil, 10*time.Second, "wait", "tail on one handle did not wake on the other's append")
	}
	var wg sync.WaitGroup
	for i, l := range []stores.Log{a, b} {
		wg.Go(func() {
			for j := 0; j < 20; j++ {
				if _, err := l.Append(ctx, batch(fmt.Sprintf("h%d-%d", i, j), 1+j%3)); err != nil {
					t.Errorf("handle %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	ea, eb := ReadEvents(t, a), ReadEvents(t, b)
	if len(ea) != len(eb) || len(ea) == 0 {
		t.Fatalf("handles see %d and %d events", len(ea), len(eb))
	}
	for i := range ea {
		if ea[i].Position != uint64(i+1) || !sameEvent(ea[i], eb[i]) || ea[i].Position != eb[i].Position {
			t.Fatalf("handles disagree at %d: %v vs %v", i, ea[i], eb[i])
		}
	}
}

func runSnapshot(t *testing.T, h Harness) {
	ctx := context.Background()
	l, name := h.open(t)
	ss := ability[stores.SnapshotStore](t, l)
	if _, _, err := ss.LoadSnapshot(ctx); !errors.Is(err, stores.ErrNoSnapshot) {
		t.Fatalf("load from new log = %v, want ErrNoSnapshot", err)
	}
	mustAppend(t, l, batch("s", 3))
	if err := ss.SaveSnapshot(ctx, 2, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := ss.SaveSnapshot(ctx, 3, []byte("three")); err != nil {
		t.Fatal(err)
	}
	pos, data, err := ss.LoadSnapshot(ctx)
	if err != nil || pos != 3 || string(data) != "three" {
		t.Fatalf("load = %d %q %v; want 3 three", pos, data, err)
	}
	if !h.Durable {
		return
	}
	l.Close()
	l2 := h.Open(t, name)
	defer l2.Close()
	pos, data, err = l2.(stores.SnapshotStore).LoadSnapshot(ctx)
	if err != nil || pos != 3 || string(data) != "three" {
		t.Fatalf("load after reopen = %d %q %v; want 3 three", pos, data, err)
	}
}

// Bench measures append throughput for batch sizes 1, 100 and 1000 and read
// throughput, reporting events/s.
func Bench(b *testing.B, h Harness) {
	ctx := context.Background()
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("Append/batch=%d", size), func(b *testing.B) {
			l, _ := h.open(b)
			evs := batch("bench", size)
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.Append(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
	b.Run("Read", func(b *testing.B) {
		l, _ := h.open(b)
		evs := batch("bench", 1000)
		for i := 0; i < 20; i++ {
			mustAppend(b, l, evs)
		}
		b.ResetTimer()
		n := 0
		for b.Loop() {
			got, err := l.Read(ctx, uint64(1+(n*1000)%19000), 1000)
			if err != nil || len(got) != 1000 {
				b.Fatalf("read = %d, %v", len(got), err)
			}
			n++
		}
		b.ReportMetric(float64(n*1000)/b.Elapsed().Seconds(), "events/s")
	})
}

func runTruncate(t *testing.T, h Harness) {
	ctx := context.Background()
	l, name := h.open(t)
	tr := ability[stores.Truncater](t, l)
	if first, err := tr.First(ctx); err != nil || first != 1 {
		t.Fatalf("first of an empty log = %d, %v; want 1", first, err)
	}
	var in []events.Event
	for i := 0; i < 10; i++ {
		b := batch(fmt.Sprintf("tr%d", i), 5)
		mustAppend(t, l, b)
		in = append(in, b...)
	}
	if err := tr.TruncateBefore(ctx, 23); err != nil {
		t.Fatal(err)
	}
	check := func(l stores.Log, last uint64) {
		t.Helper()
		first, err := l.(stores.Truncater).First(ctx)
		if err != nil || first < 1 || first > 23 {
			t.Fatalf("first after truncating before 23 = %d, %v", first, err)
		}
		got, err := l.Read(ctx, 1, 1000)
		if err != nil || len(got) == 0 || got[0].Position != first {
			t.Fatalf("read(1) after truncation starts at %v, %v; want %d", got, err, first)
		}
		for i, e := range got {
			if e.Position != first+uint64(i) || !sameEvent(e, in[e.Position-1]) {
				t.Fatalf("event at %d changed by truncation", e.Position)
			}
		}
		if got[len(got)-1].Position != last {
			t.Fatalf("truncation lost the tail: last is %d, want %d", got[len(got)-1].Position, last)
		}
	}
	check(l, 50)
	after := batch("after", 2)
	if first := mustAppend(t, l, after); first != 51 {
		t.Fatalf("append after truncation at %d, want 51", first)
	}
	in = append(in, after...)
	if h.Durable {
		l.Close()
		l2 := h.Open(t, name)
		defer l2.Close()
		check(l2, 52)
	}
}
