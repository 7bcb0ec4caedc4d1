package projections

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
)

// TestEndedTasksGoColdWhileFolding: a state that makes every ended task
// cold as soon as it ends answers every query, every event and every
// snapshot byte as a state that keeps them all hot, at every point of rich
// histories (deletes of cold tasks, dependencies on them, stale events
// naming them), and so does one restored from its snapshot.
func TestEndedTasksGoColdWhileFolding(t *testing.T) {
	var frozen, thawed int
	for seed := uint64(1); seed <= 8; seed++ {
		f := richHistory(t, seed, 700)
		hot, cold := New(), New()
		hot.keepEnded = 1 << 30
		cold.keepEnded = 0
		for i, ev := range f.log {
			_, isDelete := ev.Payload.(*events.TaskDeleted)
			wasCold := isDelete && cold.recent.find(ev.TaskID) >= 0
			herr, cerr := hot.Apply(ev), cold.Apply(ev)
			if (herr == nil) != (cerr == nil) {
				t.Fatalf("seed %d, event %d: cold state answers %v, hot state %v", seed, ev.Position, cerr, herr)
			}
			if before := cold.recent.live(); before > 0 {
				frozen = max(frozen, before)
			}
			if wasCold && cerr == nil {
				thawed++
			}
			if i%97 == 0 || i == len(f.log)-1 {
				label := fmt.Sprintf("seed %d, at %d", seed, ev.Position)
				sameState(t, label, cold, hot)
				if h, _ := hot.Residency(); h != hot.Len() {
					t.Fatalf("%s: the hot state holds %d of %d tasks hot", label, h, hot.Len())
				}
			}
		}
		if h, c := cold.Residency(); c == 0 || h+c != hot.Len() {
			t.Fatalf("seed %d: %d hot and %d cold of %d tasks", seed, h, c, hot.Len())
		}
		for _, task := range cold.order {
			if task.Status.Terminal() && task.flags&flagFrozen == 0 {
				t.Fatalf("seed %d: ended task %s still hot", seed, task.ID)
			}
		}
		sameState(t, fmt.Sprintf("seed %d, restored", seed), restoreOf(t, cold), hot)
	}
	if frozen == 0 || thawed == 0 {
		t.Fatalf("%d cold at most, %d deletes of cold tasks: the histories do not exercise freezing", frozen, thawed)
	}
}

// TestRecentColdTable: the id index of recent cold records finds every live
// record after inserts, growth and removals in any order, across several
// record chunks, and ids never added are not found.
func TestRecentColdTable(t *testing.T) {
	c := newRecentCold()
	kind := &taskKind{fn: "f", queue: "q"}
	live := map[string]bool{}
	task := func(id string) *Task {
		tk := &Task{}
		tk.init(id)
		tk.kind, tk.Status, tk.EnqueuedPos = kind, StatusCompleted, 1
		return tk
	}
	const n = 30000
	for i := range n {
		id := fmt.Sprintf("t%d", i)
		if err := c.add(task(id)); err != nil {
			t.Fatal(err)
		}
		live[id] = true
		if i%3 == 0 { // remove an earlier one
			victim := fmt.Sprintf("t%d", i/2)
			if j := c.find(victim); j >= 0 {
				c.remove(j)
				delete(live, victim)
			} else if live[victim] {
				t.Fatalf("live %s not found", victim)
			}
		}
	}
	if c.live() != len(live) {
		t.Fatalf("%d live records, want %d", c.live(), len(live))
	}
	if len(c.chunks) < 2 {
		t.Fatalf("%d records fit in %d chunk: want several", n, len(c.chunks))
	}
	for i := range n {
		if id := fmt.Sprintf("u%d", i); c.find(id) >= 0 {
			t.Fatalf("%s was never added but is found", id)
		}
	}
	for i := range n {
		id := fmt.Sprintf("t%d", i)
		rec := c.lookup(id)
		if (rec != nil) != live[id] {
			t.Fatalf("%s: found %v, live %v", id, rec != nil, live[id])
		}
		if rec != nil {
			got, err := c.decode(rec)
			if err != nil || got.ID != id || got.Status != StatusCompleted {
				t.Fatalf("%s decodes as %+v (%v)", id, got, err)
			}
		}
	}
	if got := len(c.sorted(keepAll)); got != len(live) {
		t.Fatalf("sorted: %d records, want %d", got, len(live))
	}
}

// BenchmarkEndedTaskHeap reports the heap bytes the projection holds per
// task that ran and completed (a typical small task: a func name, one
// argument, a queue, a worker), once it went cold.
func BenchmarkEndedTaskHeap(b *testing.B) {
	const n = 200_000
	for b.Loop() {
		evs := make([]events.Event, 0, 3*n)
		for i := range n {
			id := events.NewID(t0.Add(time.Duration(i))).String()
			evs = append(evs,
				events.New(id, t0, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "send_email", Queue: "default", Args: []any{int64(i)}}}),
				events.New(id, t0, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Minute)), Worker: "host-12345"}),
				events.New(id, t0, &events.TaskCompleted{Attempt: 1}))
		}
		held := heapHeld(func() any {
			s := New()
			for i := range evs {
				evs[i].Position = uint64(i + 1)
				if err := s.Apply(evs[i]); err != nil {
					b.Fatal(err)
				}
			}
			return s
		})
		b.ReportMetric(float64(held)/n, "bytes/task")
		runtime.KeepAlive(evs)
	}
}

// TestAdjacentPieces: pieces of one array, in order, join without a copy;
// anything else does not join.
func TestAdjacentPieces(t *testing.T) {
	buf := []byte("0123456789")
	whole, ok := adjacent([][]byte{buf[:3], buf[3:7], buf[7:]})
	if !ok || string(whole) != "0123456789" || &whole[0] != &buf[0] {
		t.Fatalf("adjacent pieces: %q, %v", whole, ok)
	}
	other := []byte("789")
	for name, pieces := range map[string][][]byte{
		"another array":  {buf[:7], other},
		"a gap":          {buf[:3], buf[4:]},
		"out of order":   {buf[3:], buf[:3]},
		"a capped piece": {buf[:3:3], buf[3:]},
	} {
		if _, ok := adjacent(pieces); ok {
			t.Errorf("%s: joined", name)
		}
	}
}
