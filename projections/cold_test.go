package projections

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
)

// foldLog applies evs to s and returns what each Apply returned.
func foldLog(t *testing.T, s *State, evs []events.Event) []error {
	t.Helper()
	errs := make([]error, len(evs))
	for i, ev := range evs {
		errs[i] = s.Apply(ev)
		if errors.Is(errs[i], ErrGap) {
			t.Fatalf("event %d: %v", ev.Position, errs[i])
		}
	}
	return errs
}

// restoreOf snapshots s and restores the snapshot.
func restoreOf(t testing.TB, s *State) *State {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return mustRestore(t, snap)
}

// mustRestore restores snap, failing t when it does not restore.
func mustRestore(t testing.TB, snap []byte) *State {
	t.Helper()
	r, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sameState fails unless got answers every query as want does and encodes
// to the same bytes, compacted or not.
func sameState(t *testing.T, label string, got, want *State) {
	t.Helper()
	ws, err := want.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := got.Snapshot()
	if err != nil || !bytes.Equal(gs, ws) {
		t.Fatalf("%s: snapshot differs (%v)", label, err)
	}
	for _, cut := range []time.Duration{100 * time.Second, 400 * time.Second, time.Hour} {
		wc, wd, werr := want.CompactedSnapshot(events.At(t0.Add(cut)))
		gc, gd, gerr := got.CompactedSnapshot(events.At(t0.Add(cut)))
		if werr != nil || gerr != nil || !bytes.Equal(gc, wc) || gd != wd {
			t.Fatalf("%s: compacted before %v: dropped %d, want %d (%v, %v)", label, cut, gd, wd, gerr, werr)
		}
	}
	if got.Len() != want.Len() {
		t.Fatalf("%s: %d tasks, want %d", label, got.Len(), want.Len())
	}
	if g, w := fmt.Sprint(got.Counts()), fmt.Sprint(want.Counts()); g != w {
		t.Fatalf("%s: counts %s, want %s", label, g, w)
	}
	wr, gr := records(want), records(got)
	if !reflect.DeepEqual(gr, wr) {
		t.Fatalf("%s: task records differ", label)
	}
	for id, w := range wr {
		g := got.Task(id)
		if g == nil || !reflect.DeepEqual(g.Record(), w) {
			t.Fatalf("%s: Task(%s) = %+v, want %+v", label, id, g, w)
		}
		// The engine asks for the dependants of a task that is ending; a
		// rebuild cannot tell which of an ended task's dependants it once
		// released, so those of terminal tasks may differ.
		if w.Status.Terminal() {
			continue
		}
		if g, w := dependantIDs(got.Dependants(id)), dependantIDs(want.Dependants(id)); g != w {
			t.Fatalf("%s: dependants of %s: %s, want %s", label, id, g, w)
		}
	}
	if g, w := liveDependants(got), liveDependants(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: dependency graph %v, want %v", label, g, w)
	}
	far := events.At(t0.Add(24 * time.Hour))
	if g, w := fmt.Sprint(dueIDs(got.Due(far, 1<<20))), fmt.Sprint(dueIDs(want.Due(far, 1<<20))); g != w {
		t.Fatalf("%s: due %s, want %s", label, g, w)
	}
}

func dependantIDs(ds []Dependant) string {
	var b bytes.Buffer
	for _, d := range ds {
		fmt.Fprintf(&b, "%s<%s ", d.Task.ID, d.Via)
	}
	return b.String()
}

// TestRestoreThenReplayEqualsReplay: a state restored from a snapshot (its
// terminal tasks cold), or restored from the snapshot of a restored state,
// folds the rest of the log into the state a replay from the start gives,
// answering the same to every event. The rest of the log deletes cold tasks,
// enqueues tasks depending on them and names them in stale events.
func TestRestoreThenReplayEqualsReplay(t *testing.T) {
	var cold, thawed int
	for seed := uint64(1); seed <= 8; seed++ {
		f := richHistory(t, seed, 700)
		full := New()
		wantErrs := foldLog(t, full, f.log)
		for _, k := range []int{len(f.log) / 4, len(f.log) / 2, len(f.log) * 3 / 4} {
			// The engine snapshots between batches, never between a
			// task.lease_expired and the failure or retry that follows it.
			if _, ok := f.log[k-1].Payload.(*events.TaskLeaseExpired); ok {
				k++
			}
			label := fmt.Sprintf("seed %d, snapshot at %d", seed, k)
			head := New()
			foldLog(t, head, f.log[:k])
			once := restoreOf(t, head)
			twice := restoreOf(t, once)
			cold += once.cold.live()
			if len(once.order) != once.Len()-once.cold.live() || once.Len() != head.Len() {
				t.Fatalf("%s: %d hot and %d cold of %d tasks", label, len(once.order), once.cold.live(), head.Len())
			}
			for _, task := range once.order {
				if task.Status.Terminal() {
					t.Fatalf("%s: terminal task %s restored hot", label, task.ID)
				}
			}
			sameState(t, label+", restored", once, head)
			for name, s := range map[string]*State{"restored": once, "restored twice": twice} {
				errs := foldLog(t, s, f.log[k:])
				for i, err := range errs {
					if (err == nil) != (wantErrs[k+i] == nil) {
						t.Fatalf("%s, %s: event %d: %v, a replay gives %v", label, name, k+i+1, err, wantErrs[k+i])
					}
				}
				sameState(t, label+", "+name+" then replayed", s, full)
			}
			thawed += once.cold.count() - once.cold.live()
			// A state restored from the result keeps agreeing.
			sameState(t, label+", restored after replay", restoreOf(t, once), full)
		}
	}
	if cold == 0 || thawed == 0 {
		t.Fatalf("%d cold tasks, %d thawed: the histories do not exercise the cold records", cold, thawed)
	}
}

// TestColdTasks follows terminal tasks of every kind through a restore:
// they stay cold, answer lookups, counts and dependency checks, and a delete
// thaws one.
func TestColdTasks(t *testing.T) {
	f := newFolder(t)
	lease := &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Hour)), Worker: "w"}
	f.must("done", 1*time.Second, enq("q", 0))
	f.must("done", 2*time.Second, lease)
	f.must("done", 3*time.Second, &events.TaskCompleted{Attempt: 1, Result: "r"})
	f.must("dead", 4*time.Second, enq("q", 1))
	f.must("dead", 5*time.Second, lease)
	f.must("dead", 6*time.Second, &events.TaskFailed{Attempt: 1, Error: "boom"})
	f.must("stopped", 7*time.Second, enq("r", 0))
	f.must("stopped", 8*time.Second, &events.TaskCancelled{Reason: events.CancelDependencyFailed, Dependency: "dead"})
	ttl := enq("r", 0)
	ttl.Spec.TTL = time.Second
	f.must("late", 9*time.Second, ttl)
	f.must("late", 10*time.Second, &events.TaskExpired{})
	f.must("gone", 11*time.Second, enq("q", 0))
	f.must("gone", 12*time.Second, lease)
	f.must("gone", 13*time.Second, &events.TaskCompleted{Attempt: 1})
	f.must("gone", 14*time.Second, &events.TaskDeleted{})
	f.must("open", 15*time.Second, enq("q", 0))

	r := restoreOf(t, f.s)
	if r.tasks.len() != 1 || r.hot("open") == nil || r.cold.live() != 5 {
		t.Fatalf("%d hot tasks, %d cold: want only open hot", r.tasks.len(), r.cold.live())
	}
	sameState(t, "restored", r, f.s)
	if a, b := r.Task("done"), r.Task("done"); a == b {
		t.Fatal("a cold lookup returned a record kept in the state")
	}
	// The checks every enqueue and dependency makes cost no allocation.
	if n := testing.AllocsPerRun(100, func() {
		if r.hasTask("new") || r.hasTask("e") || r.statusOf("dead") != StatusFailed {
			t.Fatal("wrong answer from the cold records")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per lookup", n)
	}

	// The same events, folded into both.
	steps := []struct {
		id    string
		p     events.Payload
		stale bool
	}{
		{"after-done", &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "q", DependsOn: []string{"done"}}}, false},
		{"after-dead", &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "q", DependsOn: []string{"dead", "done"}}}, false},
		{"done", enq("q", 0), true},                                    // id taken by a cold task
		{"dead", &events.ScheduleCreated{Interval: time.Minute}, true}, // id taken by a cold task
		{"done", &events.TaskLeased{Attempt: 1}, true},
		{"dead", &events.TaskCompleted{Attempt: 1}, true},
		{"stopped", &events.TaskCancelled{}, true},
		{"late", &events.SchedulePaused{}, true},
		{"gone", &events.TaskDeleted{}, true}, // already deleted: stays cold
		{"done", &events.TaskDeleted{}, false},
		{"done", &events.TaskDeleted{}, true},
	}
	for i, st := range steps {
		for name, s := range map[string]*State{"replayed": f.s, "restored": r} {
			ev := events.New(st.id, t0.Add(time.Duration(20+i)*time.Second), st.p)
			ev.Position = s.Position() + 1
			if err := s.Apply(ev); (err != nil) != st.stale || (err != nil && !errors.Is(err, ErrStale)) {
				t.Fatalf("%s: step %d (%s %s): %v, stale %v", name, i, st.p.Type(), st.id, err, st.stale)
			}
		}
	}
	if got := r.Task("after-done"); got.Status != StatusPending {
		t.Fatalf("a task depending on a completed cold task is %s", got.Status)
	}
	if got := r.Dependants("dead"); len(got) != 1 || got[0].Task.ID != "after-dead" {
		t.Fatalf("dependants of a failed cold task: %s", dependantIDs(got))
	}
	if r.cold.live() != 4 || r.hot("done") == nil || r.Task("done").Status != StatusDeleted || r.hot("gone") != nil {
		t.Fatalf("after deleting a cold task: %d cold, hot done %v", r.cold.live(), r.hot("done"))
	}
	sameState(t, "restored then replayed", r, f.s)
	// Compaction drops cold and hot terminal tasks alike.
	cut := events.At(t0.Add(9 * time.Second))
	snap, dropped, err := r.CompactedSnapshot(cut)
	if err != nil || dropped != 2 {
		t.Fatalf("compaction dropped %d (%v), want 2: dead and stopped", dropped, err)
	}
	c, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	for id, kept := range map[string]bool{"done": true, "dead": false, "stopped": false, "late": true, "gone": true, "open": true} {
		if (c.Task(id) != nil) != kept {
			t.Fatalf("compacted: task %s kept %v, want %v", id, c.Task(id) != nil, kept)
		}
	}
}

// coldSnapshot is the snapshot of two completed tasks, cold-a and cold-b,
// and the offsets of its cold section.
func coldSnapshot(t *testing.T) (snap []byte, offs int) {
	f := newFolder(t)
	for _, id := range []string{"cold-a", "cold-b"} {
		f.must(id, 0, enq("q", 0))
		f.must(id, 0, &events.TaskLeased{Attempt: 1})
		f.must(id, 0, &events.TaskCompleted{Attempt: 1, Result: "r"})
	}
	snap, err := f.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// No schedules: the snapshot ends with 0 after the offsets.
	offs = len(snap) - 1 - 2*4
	if snap[len(snap)-1] != 0 || snap[offs-1] != 4 {
		t.Fatalf("unexpected snapshot tail %x", snap[offs-1:])
	}
	return snap, offs
}

func TestRestoreRejectsBadColdSection(t *testing.T) {
	snap, offs := coldSnapshot(t)
	if _, err := Restore(snap); err != nil {
		t.Fatal(err)
	}
	a, b := bytes.Index(snap, []byte("cold-a")), bytes.Index(snap, []byte("cold-b"))
	cases := map[string]func(b []byte){
		"width":         func(x []byte) { x[offs-1] = 3 },
		"first offset":  func(x []byte) { x[offs] = 1 },
		"offset order":  func(x []byte) { copy(x[offs+4:], []byte{0, 0, 0, 0}) },
		"offset past":   func(x []byte) { x[offs+7] = 0x7f },
		"id order":      func(x []byte) { x[b+5] = 'a' },
		"id descending": func(x []byte) { x[a+5] = 'z' },
		"status":        func(x []byte) { x[a+len("cold-a")+1] = byte(StatusRunning) },
		"kind":          func(x []byte) { x[a+len("cold-a")] = 9 },
	}
	for name, corrupt := range cases {
		bad := bytes.Clone(snap)
		corrupt(bad)
		if _, err := Restore(bad); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: Restore gave %v, want ErrBadSnapshot", name, err)
		}
	}
	// A cold record whose tail does not decode restores (Restore reads only
	// the head of each record) and then reads as absent.
	bad := bytes.Clone(snap)
	tag := bytes.LastIndex(bad[:b], []byte{valString, 1, 'r'})
	if tag < a {
		t.Fatal("no result value in cold-a's record")
	}
	bad[tag] = 0xee
	s, err := Restore(bad)
	if err != nil {
		t.Fatal(err)
	}
	if s.Task("cold-a") != nil || s.Task("cold-b") == nil {
		t.Fatal("a cold record that does not decode is not read as absent")
	}
	var seen []string
	s.Tasks(func(task *Task) bool { seen = append(seen, task.ID); return true })
	if fmt.Sprint(seen) != "[cold-b]" {
		t.Fatalf("Tasks visited %v", seen)
	}
	ev := events.New("cold-a", t0, &events.TaskDeleted{})
	ev.Position = s.Position() + 1
	if err := s.Apply(ev); !errors.Is(err, ErrStale) {
		t.Fatalf("deleting a task whose record does not decode: %v", err)
	}
}
