package projections

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
)

// checkIDs fails unless the id indexes hold exactly the hot tasks and the
// live recent records, in increasing id order (the INVARIANT in
// idindex.go).
func checkIDs(t *testing.T, s *State, when string) {
	t.Helper()
	checkSums(t, s.hotIDs, when+", hot")
	checkSums(t, s.endedIDs, when+", ended")
	checkSums(t, s.recentIDs, when+", recent")
	for _, ended := range []bool{false, true} {
		l := s.hotIDs
		if ended {
			l = s.endedIDs
		}
		var hot, want []string
		for _, b := range l.blocks {
			if len(b) == 0 {
				t.Fatalf("%s: an empty block", when)
			}
			for _, tk := range b {
				if s.hot(tk.ID) != tk {
					t.Fatalf("%s: indexed task %s is not the hot one", when, tk.ID)
				}
				hot = append(hot, tk.ID)
			}
		}
		for tk := range s.hotTasks {
			if tk.Status.Terminal() == ended {
				want = append(want, tk.ID)
			}
		}
		slices.Sort(want)
		if !slices.Equal(hot, want) || l.len() != len(want) {
			t.Fatalf("%s: ended %v: index %d ids %s, want %d %s", when, ended, len(hot), firstIDs(hot), len(want), firstIDs(want))
		}
	}
	var recent, wantRecent []string
	for _, b := range s.recentIDs.blocks {
		for _, ref := range b {
			recent = append(recent, string(recordID(s.recent.record(ref))))
		}
	}
	for _, ref := range s.recent.sorted(keepAll) {
		wantRecent = append(wantRecent, string(recordID(s.recent.record(ref))))
	}
	if !slices.Equal(recent, wantRecent) || s.recentIDs.len() != len(wantRecent) {
		t.Fatalf("%s: recent index %d ids %s, want %d %s", when, len(recent), firstIDs(recent), len(wantRecent), firstIDs(wantRecent))
	}
}

// checkSums fails unless every block's summary has the bits of each of its
// entries.
func checkSums[E comparable](t *testing.T, l *idList[E], when string) {
	t.Helper()
	if len(l.sums) != len(l.blocks) {
		t.Fatalf("%s: %d summaries of %d blocks", when, len(l.sums), len(l.blocks))
	}
	for b, blk := range l.blocks {
		for _, e := range blk {
			if l.sum(e)&^l.sums[b] != 0 {
				t.Fatalf("%s: block %d's summary %x lacks bits of %v (%x)", when, b, l.sums[b], e, l.sum(e))
			}
		}
	}
}

// The indexes follow every event of rich histories (enqueues, leases,
// completions, failures, retries, cancellations, deletes, thaws of cold
// tasks), whether ended tasks go cold at once or stay hot, and are rebuilt
// by Restore and by a compaction's snapshot.
func TestIDIndexesFollowTheState(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		f := richHistory(t, seed, 600)
		for _, keep := range []int{0, 16, 1 << 20} {
			s := New()
			s.keepEnded = keep
			for i, ev := range f.log {
				_ = s.Apply(ev)
				if i%7 == 0 || i == len(f.log)-1 {
					checkIDs(t, s, fmt.Sprintf("seed %d keep %d event %d", seed, keep, i))
				}
			}
			r := restoreOf(t, s)
			checkIDs(t, r, "restored")
			snap, _, err := s.CompactedSnapshot(s.oldestEnd + 1)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Restore(snap)
			if err != nil {
				t.Fatal(err)
			}
			checkIDs(t, c, "compacted")
		}
	}
}

// idList keeps random inserts and removes in order across block splits
// and shrinks.
func TestIDListRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	byID := map[string]*Task{}
	l := newHotIDs()
	for i := range 20000 {
		id := fmt.Sprintf("%06d", r.IntN(8000))
		if tk := byID[id]; tk != nil && (i > 12000 || r.IntN(3) == 0) {
			if !l.remove(tk, id) {
				t.Fatalf("op %d: remove %s: not found", i, id)
			}
			delete(byID, id)
		} else if tk == nil {
			tk = &Task{ID: id, kind: &taskKind{fn: "f", queue: fmt.Sprint("q", r.IntN(40))}}
			l.insert(tk, id)
			byID[id] = tk
		}
		if l.remove(&Task{ID: id}, id) {
			t.Fatalf("op %d: removed another task of id %s", i, id)
		}
	}
	checkSums(t, l, "random")
	var got []string
	for _, b := range l.blocks {
		if len(b) == 0 || len(b) > idBlockMax {
			t.Fatalf("a block of %d entries", len(b))
		}
		for _, tk := range b {
			got = append(got, tk.ID)
		}
	}
	if want := slices.Sorted(maps.Keys(byID)); !slices.Equal(got, want) || l.len() != len(want) {
		t.Fatalf("%d ids %s, want %d %s", len(got), firstIDs(got), len(want), firstIDs(want))
	}
	for _, after := range []string{"", "003999", "003999\x00", "999999"} {
		b, i := l.seek(after)
		if b < len(l.blocks) && l.blocks[b][i].ID <= after || b > 0 && i > 0 && l.blocks[b][i-1].ID > after {
			t.Errorf("seek(%q) lands at %d/%d", after, b, i)
		}
	}
}

// applyInOrder returns a function that applies one event to s, at t0, at
// the position after the last it applied.
func applyInOrder(tb testing.TB, s *State) func(id string, p events.Payload) {
	pos := uint64(0)
	return func(id string, p events.Payload) {
		tb.Helper()
		pos++
		ev := events.New(id, t0, p)
		ev.Position = pos
		if err := s.Apply(ev); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkIDIndexBytes reports what the id indexes hold per task, for
// pending tasks and for ended (cold) ones, enqueued in id order and ending
// in the order they were leased (a few at a time out of id order, as
// concurrent workers end them).
//
//	go test -run '^$' -bench BenchmarkIDIndexBytes ./projections/
func BenchmarkIDIndexBytes(b *testing.B) {
	const n = 200_000
	for b.Loop() {
		s := New()
		apply := applyInOrder(b, s)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = events.NewID(t0.Add(time.Duration(i))).String()
			apply(ids[i], &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default"}})
		}
		pending := s.IndexBytes()
		r := rand.New(rand.NewPCG(1, 1))
		for i := 0; i < n; i += 8 {
			batch := ids[i:min(i+8, n)]
			for _, id := range batch {
				apply(id, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Minute))})
			}
			for _, j := range r.Perm(len(batch)) {
				apply(batch[j], &events.TaskCompleted{Attempt: 1})
			}
		}
		b.ReportMetric(float64(pending)/n, "pending-bytes/task")
		b.ReportMetric(float64(s.IndexBytes())/n, "ended-bytes/task")
	}
}

// A scan of one queue or func skips the blocks that hold none of its tasks
// without examining them: they do not count against the budget.
func TestScanSkipsBlocksOfOtherKinds(t *testing.T) {
	for _, keep := range []int{0, 1 << 20} { // ended tasks recent, or hot
		s := New()
		s.keepEnded = keep
		apply := applyInOrder(t, s)
		const n = 5000
		for i := range n {
			id := fmt.Sprintf("t%05d", i)
			sp := events.TaskSpec{Func: "common", Queue: "busy"}
			if i == 4000 || i == 4900 {
				sp = events.TaskSpec{Func: "rare", Queue: "quiet"}
			}
			apply(id, &events.TaskEnqueued{Spec: sp})
			if i%2 == 0 {
				apply(id, &events.TaskCancelled{})
			}
		}
		for _, sc := range []Scan{{Queue: "quiet"}, {Func: "rare"}, {Queue: "quiet", Func: "rare", Statuses: StatusBit(StatusCancelled) | StatusBit(StatusPending)}} {
			sc.Budget = 3 * idBlockMax // the two blocks that hold the rare tasks, of 5000 tasks
			var got []string
			_, more := s.ScanTasks(sc, func(tk *Task) bool {
				got = append(got, tk.ID)
				return true
			})
			if fmt.Sprint(got) != "[t04000 t04900]" || more {
				t.Errorf("keep %d, scan %+v: %v, more %v", keep, sc, got, more)
			}
		}
		// A scan of a kind no task has examines nothing.
		if last, more := s.ScanTasks(Scan{Queue: "nowhere", Budget: 1}, func(*Task) bool { return true }); last != "" || more {
			t.Errorf("keep %d: a scan of an unknown queue examined up to %q, more %v", keep, last, more)
		}
	}
}
