package projections

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
)

// richHistory folds a random history that sets every field a task record
// has: arguments of every shape, keyword arguments, dependencies, TTLs,
// run-at times, paused tasks, retries, failures, cancellations, deletions and
// schedules, and meta.
func richHistory(t *testing.T, seed uint64, n int) *folder {
	return richHistoryMeta(t, seed, n, true)
}

// richHistoryMeta is richHistory, with meta on some tasks and schedules
// when withMeta. Meta is drawn from a random source of its own, so the
// history is otherwise the same either way.
func richHistoryMeta(t *testing.T, seed uint64, n int, withMeta bool) *folder {
	r := rand.New(rand.NewPCG(seed, seed))
	rm := rand.New(rand.NewPCG(seed, seed+1))
	meta := func() map[string]string {
		if !withMeta {
			return nil
		}
		switch rm.IntN(4) {
		case 0:
			return map[string]string{"traceparent": fmt.Sprintf("00-%032x-%016x-01", rm.Uint64(), rm.Uint64())}
		case 1:
			return map[string]string{"z": "", "a": "ü", "m": fmt.Sprint(rm.IntN(100))}
		}
		return nil
	}
	f := newFolder(t)
	var ids []string
	shape := func() any {
		switch r.IntN(10) {
		case 0:
			return nil
		case 1:
			return r.IntN(2) == 0
		case 2:
			return int64(r.Uint64())
		case 3:
			return r.Float64() * 1e9
		case 4:
			return fmt.Sprint("s", r.IntN(100))
		case 5:
			return []byte{byte(r.IntN(256)), 0}
		case 6:
			return []any{int64(1), "x", []any{}, map[string]any{}}
		case 7:
			return map[string]any{"b": 1.5, "a": []any{nil, "y"}, "c": map[string]any{"d": int64(-7)}}
		case 8:
			return []byte(nil)
		default:
			return uint8(7) // not a shape of its own: normalized to int64
		}
	}
	// The engine normalizes what it appends, and the log gives back only
	// normalized values.
	value := func() any {
		v, err := events.Normalize(shape())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := 0; i < n; i++ {
		at := time.Duration(i) * time.Second
		now := events.At(t0.Add(at))
		queue := []string{"a", "b", "c"}[r.IntN(3)]
		switch k := r.IntN(10); {
		case k < 4 || len(ids) == 0:
			id := fmt.Sprintf("t%05d", i)
			p := enq(queue, r.IntN(5)-2)
			p.Spec.Func = []string{"f", "g"}[r.IntN(2)]
			for range r.IntN(3) {
				p.Spec.Args = append(p.Spec.Args, value())
			}
			if r.IntN(4) == 0 {
				p.Spec.Kwargs = map[string]any{"k": value(), "z": value()}
			}
			if len(ids) > 0 && r.IntN(3) == 0 {
				p.Spec.DependsOn = []string{ids[r.IntN(len(ids))], ids[r.IntN(len(ids))]}
			}
			if r.IntN(5) == 0 {
				p.Spec.RunAt = events.At(t0.Add(at + time.Duration(r.IntN(100))*time.Second))
			}
			if r.IntN(6) == 0 {
				p.Spec.TTL = time.Duration(1+r.IntN(60)) * time.Second
			}
			if r.IntN(3) == 0 {
				p.Spec.Retries, p.Spec.MaxRetries = 1+r.IntN(2), 3
			}
			if r.IntN(20) == 0 {
				p.Spec.Priority = math.MaxInt64 - r.IntN(2)
			}
			if r.IntN(20) == 0 {
				p.Spec.Retries = math.MaxInt32 + 1
			}
			if r.IntN(10) == 0 {
				p.Spec.Paused = true
			}
			if r.IntN(10) == 0 {
				p.Spec.ScheduleID = "sch"
			}
			p.Spec.Meta = meta()
			_ = f.apply(id, at, p)
			ids = append(ids, id)
		case k == 4:
			if task := f.s.TakeReady(queue, now); task != nil {
				f.must(task.ID, at, &events.TaskLeased{Attempt: task.Attempt + 1, Deadline: events.At(t0.Add(at + time.Minute)), Worker: []string{"w1", "w2", ""}[r.IntN(3)]})
			}
		case k == 5 && len(ids) > 0:
			id := ids[r.IntN(len(ids))]
			if task := f.s.Task(id); task.Status == StatusRunning {
				var p events.Payload
				switch r.IntN(4) {
				case 0:
					p = &events.TaskCompleted{Attempt: task.Attempt, Result: value()}
				case 1:
					p = &events.TaskFailed{Attempt: task.Attempt, Error: "boom"}
				case 2:
					p = &events.TaskRetryScheduled{Attempt: task.Attempt, Error: "again", RetryAt: events.At(t0.Add(at + time.Second))}
				default:
					p = &events.TaskHeartbeat{Attempt: task.Attempt, Deadline: events.At(t0.Add(at + 2*time.Minute))}
				}
				f.must(id, at, p)
			}
		case k == 6:
			id := ids[r.IntN(len(ids))]
			var p events.Payload = &events.SchedulePaused{}
			if task := f.s.Task(id); task.Paused {
				p = &events.ScheduleResumed{}
			}
			_ = f.apply(id, at, p)
		case k == 7:
			id := ids[r.IntN(len(ids))]
			_ = f.apply(id, at, &events.TaskCancelled{Reason: events.CancelDependencyFailed, Dependency: ids[0]})
		case k == 8:
			leases, ttls, _ := f.s.Due(now, 3)
			for _, task := range ttls {
				f.must(task.ID, at, &events.TaskExpired{})
			}
			for _, task := range leases {
				f.must(task.ID, at, &events.TaskLeaseExpired{Attempt: task.Attempt})
				f.must(task.ID, at, &events.TaskFailed{Attempt: task.Attempt, Error: "lease expired"})
			}
		default:
			if r.IntN(4) == 0 {
				_ = f.apply(fmt.Sprintf("s%d", i), at, &events.ScheduleCreated{Template: events.TaskSpec{Func: "f", Queue: queue, Args: []any{int64(i)}, Meta: meta()}, Interval: time.Minute, NextFire: now + events.Timestamp(time.Minute)})
			} else {
				_ = f.apply(ids[r.IntN(len(ids))], at, &events.TaskDeleted{})
			}
		}
	}
	return f
}

func records(s *State) map[string]TaskRecord {
	out := map[string]TaskRecord{}
	s.Tasks(func(t *Task) bool {
		out[t.ID] = t.Record()
		return true
	})
	return out
}

// TestSnapshotRestoresEveryField checks that Restore gives back every task
// record field for field, and the same derived structures.
func TestSnapshotRestoresEveryField(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		f := richHistory(t, seed, 600)
		snap, err := f.s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		restored, err := Restore(snap)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		want, got := records(f.s), records(restored)
		if len(want) != len(got) {
			t.Fatalf("seed %d: restored %d tasks, want %d", seed, len(got), len(want))
		}
		for id, w := range want {
			if g := got[id]; !reflect.DeepEqual(g, w) {
				t.Fatalf("seed %d: task %s restored as\n %#v\nwant\n %#v", seed, id, g, w)
			}
		}
		if !reflect.DeepEqual(scheduleRecords(restored), scheduleRecords(f.s)) || len(f.s.schedules) == 0 {
			t.Fatalf("seed %d: schedules differ", seed)
		}
		if fmt.Sprint(restored.Counts()) != fmt.Sprint(f.s.Counts()) {
			t.Fatalf("seed %d: counts %v, want %v", seed, restored.Counts(), f.s.Counts())
		}
		if g, w := liveDependants(restored), liveDependants(f.s); !reflect.DeepEqual(g, w) {
			t.Fatalf("seed %d: dependants %v, want %v", seed, g, w)
		}
		far := events.At(t0.Add(24 * time.Hour))
		if fmt.Sprint(dueIDs(restored.Due(far, 1<<20))) != fmt.Sprint(dueIDs(f.s.Due(far, 1<<20))) {
			t.Fatalf("seed %d: due timers differ", seed)
		}
		again, err := restored.Snapshot()
		if err != nil || !bytes.Equal(again, snap) {
			t.Fatalf("seed %d: snapshot of the restored state differs (%v)", seed, err)
		}
	}
}

// TestSnapshotWithoutMetaUnchanged: a state whose tasks have no meta
// snapshots to the bytes it did before tasks had meta (recorded then in
// testdata), followed by the edges section (recorded before it existed),
// and that snapshot restores; with meta, the records that have it carry
// the taskHasMeta part, and everything restores field for field.
func TestSnapshotWithoutMetaUnchanged(t *testing.T) {
	want, err := os.ReadFile("testdata/snapshot-without-meta.bin")
	if err != nil {
		t.Fatal(err)
	}
	plain := richHistoryMeta(t, 5, 300, false)
	got, err := plain.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	edges, err := plain.s.terminalEdges(keepAll)
	if err != nil || len(edges) == 0 {
		t.Fatalf("%d terminal tasks with dependencies (%v): the history covers too little", len(edges), err)
	}
	if !bytes.Equal(got, append(bytes.Clone(want), optionalSections(nil, edges)...)) {
		t.Fatalf("a state without meta snapshots to %d bytes that differ from the %d recorded", len(got), len(want))
	}
	old, err := Restore(want)
	if err != nil {
		t.Fatalf("the recorded snapshot does not restore: %v", err)
	}
	if !reflect.DeepEqual(records(old), records(plain.s)) {
		t.Fatal("the recorded snapshot restores other records")
	}
	rich := richHistoryMeta(t, 5, 300, true)
	snap, err := rich.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(snap, want) {
		t.Fatal("meta changed nothing in the snapshot")
	}
	restored, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	withMeta, onlyMeta := 0, 0
	for id, w := range records(rich.s) {
		if len(w.Spec.Meta) > 0 {
			withMeta++
			if sp := w.Spec; len(sp.Kwargs) == 0 && len(sp.DependsOn) == 0 && sp.TTL == 0 && sp.RunAt == 0 &&
				sp.MaxRetries == 0 && !sp.Paused && sp.ScheduleID == "" {
				onlyMeta++
			}
		}
		if g := restored.Task(id).Record(); !reflect.DeepEqual(g, w) {
			t.Fatalf("task %s restored as\n %#v\nwant\n %#v", id, g, w)
		}
	}
	if withMeta == 0 || onlyMeta == 0 {
		t.Fatalf("%d tasks with meta, %d with nothing else in their spec: the history covers too little", withMeta, onlyMeta)
	}
	if !reflect.DeepEqual(scheduleRecords(restored), scheduleRecords(rich.s)) {
		t.Fatal("schedules with meta restore differently")
	}
}

// TestRestoreRejectsBadMeta: a record's meta part must hold an entry or
// more, in key order, and come with the spec part.
func TestRestoreRejectsBadMeta(t *testing.T) {
	f := newFolder(t)
	f.must("t1", 0, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "q", Meta: map[string]string{"a": "1", "b": "2"}}})
	snap, err := f.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// The record's meta part is its last bytes before the cold section.
	entries := []byte{2, 1, 'a', 1, '1', 1, 'b', 1, '2'}
	at := bytes.Index(snap, entries)
	if at < 0 || bytes.Index(snap[at+1:], entries) >= 0 {
		t.Fatalf("meta part not found once in %x", snap)
	}
	if _, err := Restore(snap); err != nil {
		t.Fatal(err)
	}
	swapped := bytes.Clone(snap)
	copy(swapped[at+1:], []byte{1, 'b', 1, '2', 1, 'a', 1, '1'})
	if _, err := Restore(swapped); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("meta keys out of order: %v", err)
	}
	// Keep taskHasMeta but clear taskHasSpec: the record's head is its id
	// length, kind, status and parts.
	head := []byte{2, 0, byte(StatusPending), taskHasSpec | taskHasMeta}
	h := bytes.Index(snap, head)
	if h < 0 {
		t.Fatalf("record head %x not found in %x", head, snap)
	}
	noSpec := bytes.Clone(snap)
	noSpec[h+3] = taskHasMeta
	if _, err := Restore(noSpec); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("meta without spec: %v", err)
	}
}

func scheduleRecords(s *State) []Schedule {
	var out []Schedule
	s.Schedules(func(sc *Schedule) bool {
		c := *sc
		c.fireIdx = 0 // a place in a heap, not logical state
		out = append(out, c)
		return true
	})
	return out
}

// liveDependants is the dependency graph without the entries of tasks that
// ended or of dependencies that ended: those take part in no later event.
func liveDependants(s *State) map[string][]string {
	out := map[string][]string{}
	for dep, ids := range s.dependants {
		if d := s.Task(dep); d != nil && d.Status.Terminal() {
			continue
		}
		for _, id := range ids {
			if !s.Task(id).Status.Terminal() {
				out[dep] = append(out[dep], id)
			}
		}
	}
	return out
}

func dueIDs(leases, ttls []*Task, fires []*Schedule) []string {
	var out []string
	for _, t := range append(leases, ttls...) {
		out = append(out, t.ID)
	}
	for _, sc := range fires {
		out = append(out, sc.ID)
	}
	return out
}

// TestSnapshotDeterministic: two states folded from the same events encode to
// the same bytes, even when one of them went through a snapshot on the way.
func TestSnapshotDeterministic(t *testing.T) {
	a, b := richHistory(t, 7, 500), richHistory(t, 7, 500)
	sa, _ := a.s.Snapshot()
	sb, _ := b.s.Snapshot()
	if !bytes.Equal(sa, sb) {
		t.Fatal("two folds of the same events snapshot differently")
	}
	mid, err := Restore(sa)
	if err != nil {
		t.Fatal(err)
	}
	// Fold the same further events into both.
	for i, s := range []*State{a.s, mid} {
		for j := range 50 {
			ev := events.New(fmt.Sprintf("late%d", j), t0.Add(time.Hour), enq("z", j%3))
			ev.Position = s.Position() + 1
			if err := s.Apply(ev); err != nil {
				t.Fatalf("state %d: %v", i, err)
			}
		}
	}
	x, _ := a.s.Snapshot()
	y, _ := mid.Snapshot()
	if !bytes.Equal(x, y) {
		t.Fatal("a restored state folds the same events into a different snapshot")
	}
}

func TestCompactedSnapshotDropsOldTerminalTasks(t *testing.T) {
	f := richHistory(t, 3, 600)
	cut := events.At(t0.Add(300 * time.Second))
	snap, dropped, err := f.s.CompactedSnapshot(cut)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	f.s.Tasks(func(task *Task) bool {
		old := task.Status.Terminal() && task.FinishedAt() < cut
		if old {
			want++
		}
		if got := restored.Task(task.ID); (got == nil) != old {
			t.Fatalf("task %s (%s, finished %d): kept %v", task.ID, task.Status, task.FinishedAt(), got != nil)
		}
		return true
	})
	f.s.Schedules(func(sc *Schedule) bool {
		if sc.Deleted && sc.UpdatedAt < cut {
			want++
		}
		return true
	})
	if want == 0 || dropped != want {
		t.Fatalf("dropped %d, want %d (> 0)", dropped, want)
	}
}

func TestValueRoundTrip(t *testing.T) {
	values := []any{
		nil, true, false, int64(0), int64(math.MinInt64), int64(math.MaxInt64), 0.5, math.Inf(-1),
		"", "héllo", []byte{}, []byte{0, 1}, []byte(nil), []any{}, []any(nil), map[string]any{}, map[string]any(nil),
		[]any{int64(1), []any{"x", map[string]any{"k": []byte("v")}}},
		map[string]any{"b": int64(2), "a": nil, "c": []any{true}},
		uint8(3), float32(1.5), // carried through msgpack
	}
	for _, v := range values {
		b, err := appendValue(nil, v, 0)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		r := &reader{b: b}
		got := r.readValue(0)
		if r.err != nil || r.off != len(b) {
			t.Fatalf("%#v: read %v, %d of %d bytes", v, r.err, r.off, len(b))
		}
		want := v
		if n, err := events.Normalize(v); err == nil && !isShape(v) {
			want = n // not a shape of its own: what msgpack gives back
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%#v came back as %#v", v, got)
		}
	}
	if _, err := appendValue(nil, deep(maxValueDepth+1), 0); err == nil {
		t.Error("a value nested past the bound encoded")
	}
	b, _ := appendValue(nil, deep(maxValueDepth-1), 0)
	b = append([]byte{valList, 1}, b...) // one level deeper than allowed
	b = append([]byte{valList, 1}, b...)
	if r := (&reader{b: b}); r.readValue(0) == nil || r.err == nil {
		t.Error("a value nested past the bound decoded")
	}
}

func isShape(v any) bool {
	switch v.(type) {
	case nil, bool, int64, float64, string, []byte, []any, map[string]any:
		return true
	}
	return false
}

func deep(n int) any {
	var v any = int64(1)
	for range n {
		v = []any{v}
	}
	return v
}

func TestRestoreRejectsEveryTruncation(t *testing.T) {
	f := richHistory(t, 5, 200)
	snap, _ := f.s.Snapshot()
	edges, _ := f.s.terminalEdges(keepAll)
	optional := len(snap) - len(optionalSections(f.s.PausedQueues(), edges))
	if optional == len(snap) {
		t.Fatal("no optional section: the history covers too little")
	}
	for n := 0; n < len(snap); n++ {
		if n == optional {
			// Without its optional sections, a snapshot as they were
			// written before those existed.
			if _, err := Restore(snap[:n]); err != nil {
				t.Fatalf("Restore without the optional sections: %v", err)
			}
			continue
		}
		if _, err := Restore(snap[:n]); !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("Restore of the first %d of %d bytes: %v, want ErrBadSnapshot", n, len(snap), err)
		}
	}
	if _, err := Restore(append(bytes.Clone(snap), 0)); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("Restore with a trailing byte: %v", err)
	}
	old := bytes.Clone(snap)
	old[3] = 1
	if _, err := Restore(old); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("Restore of a version 1 header: %v", err)
	}
}

// TestRestoreBoundsAllocation: a count far larger than the bytes that follow
// is refused before anything is sized by it.
func TestRestoreBoundsAllocation(t *testing.T) {
	b := []byte("OQS\x03")
	b = append(b, 1, 0)                                           // position 1, no kinds
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f) // ntasks: 2^56-1
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := Restore(b); !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("huge task count: %v", err)
		}
	})
	if allocs > 10 {
		t.Fatalf("%v allocations for a 14-byte snapshot", allocs)
	}
}

func FuzzRestoreRich(f *testing.F) {
	for seed := uint64(1); seed <= 3; seed++ {
		s := richHistory(&testing.T{}, seed, 40).s
		snap, _ := s.Snapshot()
		f.Add(snap)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Restore(b)
		if err != nil {
			return
		}
		// Whatever restores must snapshot and restore again.
		again, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Restore(again); err != nil {
			t.Fatalf("a restored state's snapshot does not restore: %v", err)
		}
		// Lookups, compaction and a thaw read the cold records past what
		// Restore checked: they must fail safely.
		var first string
		s.Tasks(func(task *Task) bool {
			if first == "" {
				first = task.ID
			}
			return s.Task(task.ID) != nil
		})
		_, _, _ = s.CompactedSnapshot(events.At(t0.Add(time.Minute)))
		ev := events.New(first, t0, &events.TaskDeleted{})
		ev.Position = s.Position() + 1
		_ = s.Apply(ev)
		if _, err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}

// benchState folds n tasks shaped like BenchmarkPendingTaskHeap's, each
// leased and completed (with a result, by one of a few workers) except every
// pendingEvery-th (0: none), which stays pending.
func benchState(b *testing.B, n, pendingEvery int) *State {
	s := newSized(n)
	pos := uint64(0)
	apply := func(id string, p events.Payload) {
		ev := events.New(id, t0, p)
		pos++
		ev.Position = pos
		if err := s.Apply(ev); err != nil {
			b.Fatal(err)
		}
	}
	for i := range n {
		id := fmt.Sprintf("01JDTASK%018d", i)
		apply(id, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "send_email", Queue: "default", Args: []any{int64(i)}}})
		if pendingEvery > 0 && i%pendingEvery == 0 {
			continue
		}
		if s.TakeReady("default", 0) == nil {
			b.Fatal("no ready task")
		}
		apply(id, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Minute)), Worker: fmt.Sprint("w", i%4)})
		apply(id, &events.TaskCompleted{Attempt: 1, Result: "ok"})
	}
	return s
}

const benchTasks = 1_000_000

// benchShapes are the states the snapshot benchmarks encode and restore:
// every task pending, every task completed, and one pending in four.
var benchShapes = []struct {
	name         string
	pendingEvery int
}{{"pending", 1}, {"terminal", 0}, {"mixed", 4}}

func BenchmarkSnapshot(b *testing.B) {
	for _, shape := range benchShapes {
		s := benchState(b, benchTasks, shape.pendingEvery)
		restored := restoreOf(b, s)
		for _, v := range []struct {
			name string
			s    *State
		}{{"folded", s}, {"restored", restored}} {
			b.Run(shape.name+"/"+v.name, func(b *testing.B) {
				var size int
				for b.Loop() {
					snap, err := v.s.Snapshot()
					if err != nil {
						b.Fatal(err)
					}
					size = len(snap)
				}
				b.ReportMetric(float64(benchTasks*b.N)/b.Elapsed().Seconds(), "tasks/s")
				b.ReportMetric(float64(size)/benchTasks, "bytes/task")
			})
		}
	}
}

func BenchmarkRestore(b *testing.B) {
	for _, shape := range benchShapes {
		snap, err := benchState(b, benchTasks, shape.pendingEvery).Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(shape.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Restore(snap); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchTasks*b.N)/b.Elapsed().Seconds(), "tasks/s")
			b.StopTimer()
			// The heap the restored state holds beyond the snapshot's bytes.
			held := heapHeld(func() any {
				s, _ := Restore(snap)
				return s
			})
			b.ReportMetric(float64(held)/benchTasks, "heap-bytes/task")
			b.ReportMetric(float64(len(snap))/benchTasks, "snapshot-bytes/task")
		})
	}
}
