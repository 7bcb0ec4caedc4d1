package projections

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// folder applies events with consecutive positions and keeps them, as a
// log would.
type folder struct {
	t   *testing.T
	s   *State
	log []events.Event
}

func newFolder(t *testing.T) *folder { return &folder{t: t, s: New()} }

func (f *folder) apply(id string, at time.Duration, p events.Payload) error {
	ev := events.New(id, t0.Add(at), p)
	ev.Position = f.s.Position() + 1
	f.log = append(f.log, ev)
	return f.s.Apply(ev)
}

func (f *folder) must(id string, at time.Duration, p events.Payload) {
	f.t.Helper()
	if err := f.apply(id, at, p); err != nil {
		f.t.Fatalf("apply %s to %s: %v", p.Type(), id, err)
	}
}

func enq(queue string, prio int) *events.TaskEnqueued {
	return &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: queue, Priority: prio}}
}

func TestReadyOrder(t *testing.T) {
	f := newFolder(t)
	prios := []int{0, 3, 3, -1, 7, 0}
	for i, p := range prios {
		f.must(fmt.Sprintf("t%d", i), 0, enq("q", p))
	}
	f.must("other", 0, enq("r", 100))
	var got []string
	for task := f.s.TakeReady("q", 0); task != nil; task = f.s.TakeReady("q", 0) {
		got = append(got, task.ID)
	}
	want := []string{"t4", "t1", "t2", "t0", "t5", "t3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if task := f.s.TakeReady("r", 0); task == nil || task.ID != "other" {
		t.Fatalf("queue r gave %v", task)
	}
}

func TestTakeReadyThenReturn(t *testing.T) {
	f := newFolder(t)
	f.must("a", 0, enq("q", 0))
	task := f.s.TakeReady("q", 0)
	if f.s.HasReady("q", 0) {
		t.Fatal("a taken task is still offered")
	}
	f.s.ReturnReady(task)
	if again := f.s.TakeReady("q", 0); again != task {
		t.Fatal("a returned task is not offered again")
	}
}

func TestFencing(t *testing.T) {
	f := newFolder(t)
	f.must("a", 0, enq("q", 0))
	f.must("a", 1, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Minute))})
	cases := []events.Payload{
		&events.TaskCompleted{Attempt: 2},
		&events.TaskHeartbeat{Attempt: 0},
		&events.TaskLeased{Attempt: 1},
		&events.TaskFailed{Attempt: 3},
	}
	for _, p := range cases {
		before := *f.s.Task("a")
		err := f.apply("a", 2, p)
		if !errors.Is(err, ErrStale) {
			t.Fatalf("%s with a stale token: %v, want ErrStale", p.Type(), err)
		}
		// Only the position moves: the task record is untouched.
		if after := *f.s.Task("a"); !reflect.DeepEqual(before, after) {
			t.Fatalf("stale %s changed the task:\n before %+v\n after  %+v", p.Type(), before, after)
		}
	}
	f.must("a", 3, &events.TaskCompleted{Attempt: 1, Result: "ok"})
	if f.s.Task("a").Status != StatusCompleted {
		t.Fatal("valid completion not applied")
	}
	if err := f.apply("a", 4, &events.TaskCompleted{Attempt: 1}); !errors.Is(err, ErrStale) {
		t.Fatalf("second completion: %v", err)
	}
}

func TestGap(t *testing.T) {
	s := New()
	ev := events.New("a", t0, enq("q", 0))
	ev.Position = 2
	if err := s.Apply(ev); !errors.Is(err, ErrGap) || s.Position() != 0 {
		t.Fatalf("out-of-order event: %v, position %d", err, s.Position())
	}
}

func TestDependenciesAndDelays(t *testing.T) {
	f := newFolder(t)
	f.must("a", 0, enq("q", 0))
	dep := enq("q", 0)
	dep.Spec.DependsOn = []string{"a"}
	f.must("b", 0, dep)
	later := enq("q", 0)
	later.Spec.RunAt = events.At(t0.Add(time.Hour))
	f.must("c", 0, later)
	if f.s.Task("b").Status != StatusWaiting || f.s.Task("b").Unmet() != 1 {
		t.Fatalf("b: %s unmet %d", f.s.Task("b").Status, f.s.Task("b").Unmet())
	}
	if got := f.s.Dependants("a"); len(got) != 1 || got[0].Task.ID != "b" {
		t.Fatalf("dependants of a: %v", got)
	}
	if next := f.s.NextWake(); next != events.At(t0.Add(time.Hour)) {
		t.Fatalf("next wake %v", next.Time())
	}
	f.must("a", 1, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Minute))})
	f.must("a", 2, &events.TaskCompleted{Attempt: 1})
	if f.s.Task("b").Status != StatusPending {
		t.Fatal("b not released by a's completion")
	}
	if task := f.s.TakeReady("q", events.At(t0)); task == nil || task.ID != "b" {
		t.Fatalf("took %v, want b (c is delayed)", task)
	}
	if task := f.s.TakeReady("q", events.At(t0.Add(time.Hour))); task == nil || task.ID != "c" {
		t.Fatalf("took %v at c's time, want c", task)
	}
}

func TestDue(t *testing.T) {
	f := newFolder(t)
	ttl := enq("q", 0)
	ttl.Spec.TTL = time.Minute
	f.must("ttl", 0, ttl)
	f.must("run", 0, enq("q", 0))
	f.must("run", 0, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(30 * time.Second))})
	f.must("sch", 0, &events.ScheduleCreated{Template: events.TaskSpec{Func: "f", Queue: "q"}, Interval: time.Minute, NextFire: events.At(t0.Add(2 * time.Minute))})
	leases, ttls, fires := f.s.Due(events.At(t0.Add(time.Minute)), 10)
	if len(leases) != 1 || len(ttls) != 1 || len(fires) != 0 {
		t.Fatalf("due at 1m: %d leases %d ttls %d fires", len(leases), len(ttls), len(fires))
	}
	if task := f.s.TakeReady("q", events.At(t0.Add(time.Minute))); task != nil {
		t.Fatalf("handed out %s past its TTL", task.ID)
	}
	_, _, fires = f.s.Due(events.At(t0.Add(2*time.Minute)), 10)
	if len(fires) != 1 {
		t.Fatal("schedule not due at its fire time")
	}
}

// TestSnapshotRoundTrip folds a random history and checks that Restore of a
// Snapshot gives a state that snapshots to the same bytes and behaves the same.
func TestSnapshotRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, seed))
		f := newFolder(t)
		var ids []string
		for i := 0; i < 300; i++ {
			at := time.Duration(i) * time.Second
			switch k := r.IntN(6); {
			case k < 3 || len(ids) == 0:
				id := fmt.Sprintf("t%d", i)
				p := enq([]string{"a", "b"}[r.IntN(2)], r.IntN(5))
				if len(ids) > 0 && r.IntN(3) == 0 {
					p.Spec.DependsOn = []string{ids[r.IntN(len(ids))]}
				}
				if r.IntN(4) == 0 {
					p.Spec.RunAt = events.At(t0.Add(at + time.Duration(r.IntN(100))*time.Second))
				}
				f.must(id, at, p)
				ids = append(ids, id)
			case k == 3:
				if task := f.s.TakeReady([]string{"a", "b"}[r.IntN(2)], events.At(t0.Add(at))); task != nil {
					f.must(task.ID, at, &events.TaskLeased{Attempt: task.Attempt + 1, Deadline: events.At(t0.Add(at + time.Minute))})
				}
			default:
				id := ids[r.IntN(len(ids))]
				task := f.s.Task(id)
				var p events.Payload = &events.TaskDeleted{}
				if task.Status == StatusRunning {
					p = &events.TaskCompleted{Attempt: task.Attempt, Result: int64(i)}
				}
				_ = f.apply(id, at, p)
			}
		}
		snap, err := f.s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		restored, err := Restore(snap)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := restored.Snapshot()
		if !bytes.Equal(snap, again) {
			t.Fatalf("seed %d: snapshot of restored state differs", seed)
		}
		if fmt.Sprint(restored.Counts()) != fmt.Sprint(f.s.Counts()) {
			t.Fatalf("seed %d: restored counts %v, live %v", seed, restored.Counts(), f.s.Counts())
		}
		// Promotion of delayed tasks is not logical state: compare wake times
		// once both have promoted what is due.
		now := events.At(t0.Add(300 * time.Second))
		f.s.Promote(now)
		restored.Promote(now)
		if restored.NextWake() != f.s.NextWake() {
			t.Fatalf("seed %d: restored next wake %v, live %v", seed, restored.NextWake().Time(), f.s.NextWake().Time())
		}
		far := events.At(t0.Add(time.Hour))
		for _, q := range []string{"a", "b"} {
			for {
				x, y := f.s.TakeReady(q, far), restored.TakeReady(q, far)
				if (x == nil) != (y == nil) || (x != nil && x.ID != y.ID) {
					t.Fatalf("seed %d: queue %s order differs after restore", seed, q)
				}
				if x == nil {
					break
				}
			}
		}
	}
}

func TestRestoreRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("OQS"), []byte("XXX\x01abc"), []byte("OQS\x09"), []byte("OQS\x01\xff\xff")} {
		if _, err := Restore(b); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("Restore(%q) = %v, want ErrBadSnapshot", b, err)
		}
	}
}

func FuzzRestore(f *testing.F) {
	s := New()
	for i, p := range []events.Payload{enq("q", 1), &events.TaskLeased{Attempt: 1}, &events.TaskCompleted{Attempt: 1, Result: "r"}} {
		ev := events.New("a", t0, p)
		ev.Position = uint64(i + 1)
		_ = s.Apply(ev)
		snap, _ := s.Snapshot()
		f.Add(snap)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Restore(b) // must not panic
		if err == nil {
			s.Tasks(func(task *Task) bool { return s.Task(task.ID) != nil })
		}
	})
}
