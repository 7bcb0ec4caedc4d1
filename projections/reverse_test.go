package projections

import (
	"cmp"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
)

// edgesOf returns the state's reverse index as a map.
func edgesOf(s *State) map[string][]string {
	out := map[string][]string{}
	for dep, ids := range s.Edges() {
		out[dep] = ids
	}
	return out
}

// wantEdges computes the reverse index from its definition: every task the
// state holds (keep says which count), its dependencies once each, the
// dependants in enqueue order.
func wantEdges(s *State, keep func(*Task) bool) map[string][]string {
	var all []*Task
	s.Tasks(func(t *Task) bool {
		if keep(t) {
			all = append(all, t)
		}
		return true
	})
	slices.SortFunc(all, func(a, b *Task) int { return cmp.Compare(a.EnqueuedPos, b.EnqueuedPos) })
	out := map[string][]string{}
	for _, t := range all {
		deps := t.DependsOn()
		for i, dep := range deps {
			if slices.Index(deps, dep) == i {
				out[dep] = append(out[dep], t.ID)
			}
		}
	}
	return out
}

func every(*Task) bool { return true }

// refold folds log into a new state that keeps at most keep ended tasks
// hot, so that most of them go cold as they end.
func refold(t *testing.T, log []events.Event, keep int) *State {
	t.Helper()
	s := New()
	s.keepEnded = keep
	for _, ev := range log {
		_ = s.Apply(ev)
	}
	return s
}

// TestEdgesFoldRestoreCompact: the reverse index is what its definition
// says after a fold (ended tasks hot or cold), after a snapshot and
// restore, after a compacted snapshot (without the tasks it dropped), after
// a log.checkpoint, and after further events fold into each alike.
func TestEdgesFoldRestoreCompact(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		f := richHistory(t, seed, 600)
		want := wantEdges(f.s, every)
		if len(want) == 0 {
			t.Fatal("no dependencies: the history covers too little")
		}
		if got := edgesOf(f.s); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: folded edges\n %v\nwant\n %v", seed, got, want)
		}
		cold := refold(t, f.log, 4)
		if got := edgesOf(cold); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: edges of a fold whose ended tasks went cold differ", seed)
		}
		restored := restoreOf(t, cold)
		if got := edgesOf(restored); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: restored edges\n %v\nwant\n %v", seed, got, want)
		}
		cut := events.At(t0.Add(300 * time.Second))
		compacted, _, err := f.s.CompactedSnapshot(cut)
		if err != nil {
			t.Fatal(err)
		}
		kept := func(t *Task) bool { return !t.Status.Terminal() || t.FinishedAt() >= cut }
		wantKept := wantEdges(f.s, kept)
		if reflect.DeepEqual(wantKept, want) {
			t.Fatalf("seed %d: compaction drops no task with dependencies", seed)
		}
		if got := edgesOf(mustRestore(t, compacted)); !reflect.DeepEqual(got, wantKept) {
			t.Fatalf("seed %d: edges after compaction\n %v\nwant\n %v", seed, got, wantKept)
		}
		// The same compaction folded as a log.checkpoint.
		ev := events.New("", t0.Add(time.Hour), &events.LogCheckpoint{State: compacted, Before: cut})
		ev.Position = cold.Position() + 1
		if err := cold.Apply(ev); err != nil {
			t.Fatal(err)
		}
		if got := edgesOf(cold); !reflect.DeepEqual(got, wantKept) {
			t.Fatalf("seed %d: edges after a checkpoint differ", seed)
		}
		// Later events fold alike into a live state and a restored one.
		for i, s := range []*State{f.s, restored} {
			for j := range 20 {
				p := enq("a", 0)
				p.Spec.DependsOn = []string{"t00000", fmt.Sprintf("late%d", max(j-1, 0))}
				ev := events.New(fmt.Sprintf("late%d", j), t0.Add(time.Hour), p)
				ev.Position = s.Position() + 1
				if err := s.Apply(ev); err != nil {
					t.Fatalf("state %d: %v", i, err)
				}
			}
		}
		if a, b := edgesOf(f.s), edgesOf(restored); !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, wantEdges(f.s, every)) {
			t.Fatalf("seed %d: edges after later events differ", seed)
		}
	}
}

// TestEdgesKeepEndedChain: in a chain a <- b <- c where a and b completed
// and went cold, the downstream of a and b is still known; the dependants
// the engine releases and cancels are not changed by it.
func TestEdgesKeepEndedChain(t *testing.T) {
	f := newFolder(t)
	f.s.keepEnded = 0
	dep := func(id string, on ...string) {
		p := enq("q", 0)
		p.Spec.DependsOn = on
		f.must(id, 0, p)
	}
	run := func(id string) {
		if got := f.s.TakeReady("q", 0); got == nil || got.ID != id {
			t.Fatalf("ready: %v, want %s", got, id)
		}
		f.must(id, 0, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Minute))})
		f.must(id, 0, &events.TaskCompleted{Attempt: 1})
	}
	dep("a")
	dep("b", "a", "a")
	dep("c", "b")
	dep("d", "a")
	run("a")
	run("b")
	if f.s.statusOf("a") != StatusCompleted || f.s.hot("a") != nil || f.s.hot("b") != nil {
		t.Fatal("a and b are not cold and completed")
	}
	if got := f.s.DependantsOf("a"); !slices.Equal(got, []string{"b", "d"}) {
		t.Fatalf("dependants of a: %v", got)
	}
	if got := f.s.DependantsOf("b"); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("dependants of b: %v", got)
	}
	if len(f.s.dependants) != 0 || len(f.s.Dependants("a")) != 0 {
		t.Fatalf("waiting dependants left: %v", f.s.dependants)
	}
	snap, _ := f.s.Snapshot()
	r, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.DependantsOf("a"); !slices.Equal(got, []string{"b", "d"}) {
		t.Fatalf("restored dependants of a: %v", got)
	}
}

// TestEdgesOldSnapshot: a snapshot written before the edges section
// (recorded in testdata) restores with the edges of its hot tasks only,
// and its snapshot then has no edges section either.
func TestEdgesOldSnapshot(t *testing.T) {
	old, err := os.ReadFile("testdata/snapshot-without-meta.bin")
	if err != nil {
		t.Fatal(err)
	}
	plain := richHistoryMeta(t, 5, 300, false)
	s, err := Restore(old)
	if err != nil {
		t.Fatal(err)
	}
	want := wantEdges(plain.s, func(t *Task) bool { return !t.Status.Terminal() })
	if got := edgesOf(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("edges of an old snapshot\n %v\nwant those of hot tasks\n %v", got, want)
	}
	if all := wantEdges(plain.s, every); reflect.DeepEqual(all, want) {
		t.Fatal("no terminal task has dependencies: the history covers too little")
	}
	again, err := s.Snapshot()
	if err != nil || !slices.Equal(again, old) {
		t.Fatalf("the old snapshot restored snapshots to other bytes (%v)", err)
	}
}

// TestRestoreRejectsBadEdges: the edges section names cold tasks, in
// enqueue order, each with sorted dependencies.
func TestRestoreRejectsBadEdges(t *testing.T) {
	f := richHistory(t, 2, 300)
	snap, _ := f.s.Snapshot()
	edges, err := f.s.terminalEdges(keepAll)
	if err != nil || len(edges) < 2 {
		t.Fatalf("%d edges (%v)", len(edges), err)
	}
	base := len(snap) - len(optionalSections(f.s.PausedQueues(), edges))
	for name, bad := range map[string][]edgeEntry{
		"unknown task":   {{id: "nope", deps: []string{"x"}}},
		"out of order":   {edges[1], edges[0]},
		"twice":          {edges[0], edges[0]},
		"no dependency":  {{id: edges[0].id}},
		"unsorted deps":  {{id: edges[0].id, deps: []string{"b", "a"}}},
		"duplicate deps": {{id: edges[0].id, deps: []string{"a", "a"}}},
	} {
		b := append(slices.Clone(snap[:base]), optionalSections(nil, bad)...)
		if _, err := Restore(b); err == nil {
			t.Errorf("%s: restored", name)
		}
	}
	b := append(slices.Clone(snap[:base]), 0) // paused count 0, nothing after
	if _, err := Restore(b); err == nil {
		t.Error("an empty paused section without edges restored")
	}
}

// BenchmarkEdgeHeap reports the heap bytes the reverse index holds per
// edge: each task depends on the two before it, and has ended (cold: the
// index alone keeps its id) or is pending (hot: it shares the ids of the
// task records).
func BenchmarkEdgeHeap(b *testing.B) {
	const n = 200_000
	for _, ended := range []bool{false, true} {
		b.Run(map[bool]string{false: "pending", true: "ended"}[ended], func(b *testing.B) {
			for b.Loop() {
				s := New()
				ids := make([]string, n)
				pos := uint64(0)
				apply := func(id string, p events.Payload) {
					pos++
					ev := events.New(id, t0, p)
					ev.Position = pos
					if err := s.Apply(ev); err != nil {
						b.Fatal(err)
					}
				}
				for i := range n {
					ids[i] = events.NewID(t0.Add(time.Duration(i))).String()
					p := &events.TaskEnqueued{Spec: events.TaskSpec{Func: "send_email", Queue: "default"}}
					if i >= 2 {
						p.Spec.DependsOn = []string{ids[i-1], ids[i-2]}
					}
					apply(ids[i], p)
					if ended {
						apply(ids[i], &events.TaskCancelled{})
					}
				}
				edges := 0
				for _, l := range s.reverse {
					edges += len(l)
				}
				ids = nil
				var with, without runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&with)
				s.reverse = nil
				runtime.GC()
				runtime.ReadMemStats(&without)
				b.ReportMetric(float64(with.HeapAlloc-without.HeapAlloc)/float64(edges), "bytes/edge")
				runtime.KeepAlive(s)
			}
		})
	}
}
