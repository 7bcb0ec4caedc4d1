package projections

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
)

// TestRetriedFold: task.retried takes a failed, expired or cancelled task
// back to pending with its retries counting afresh and its attempt counter
// going on; the tasks its end cancelled stay cancelled.
func TestRetriedFold(t *testing.T) {
	f := newFolder(t)
	spec := events.TaskSpec{
		Func: "f", Queue: "q", Args: []any{"x"}, Kwargs: map[string]any{"k": int64(1)}, Meta: map[string]string{"m": "v"},
		Priority: 3, TTL: time.Minute, Retries: 1, DependsOn: []string{"dep"},
	}
	f.must("dep", 0, enq("q", 0))
	f.must("dep", time.Second, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Hour))})
	f.must("dep", 2*time.Second, &events.TaskCompleted{Attempt: 1})
	f.must("t", 3*time.Second, &events.TaskEnqueued{Spec: spec})
	f.must("d", 3*time.Second, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "q", DependsOn: []string{"t"}}})
	f.must("t", 4*time.Second, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Hour)), Worker: "w"})
	f.must("t", 5*time.Second, &events.TaskFailed{Attempt: 1, Error: "boom"})
	f.must("d", 5*time.Second, &events.TaskCancelled{Reason: events.CancelDependencyFailed, Dependency: "t"})
	before := f.s.Task("t").Record()

	if err := f.apply("t", 6*time.Second, &events.TaskRetried{Attempt: 0}); !errors.Is(err, ErrStale) {
		t.Fatalf("retry naming an old attempt: %v", err)
	}
	if err := f.apply("dep", 6*time.Second, &events.TaskRetried{Attempt: 1}); !errors.Is(err, ErrStale) {
		t.Fatalf("retry of a completed task: %v", err)
	}
	if err := f.apply("ghost", 6*time.Second, &events.TaskRetried{}); !errors.Is(err, ErrStale) {
		t.Fatalf("retry of an unknown task: %v", err)
	}
	// Cold first: the retry must thaw it whole.
	f.s = restoreOf(t, f.s)
	f.must("t", time.Hour, &events.TaskRetried{Attempt: 1})
	task := f.s.Task("t")
	got := task.Record()
	if got.Status != StatusPending || got.Attempt != 1 || !got.Retried || got.RetryBase != 1 || got.ReadyAt != 0 ||
		got.Worker != "" || got.Error != "boom" || got.FinishedAt != 0 {
		t.Fatalf("retried record %+v", got)
	}
	if !reflect.DeepEqual(got.Spec, before.Spec) || got.CreatedAt != before.CreatedAt || got.EnqueuedPos != before.EnqueuedPos {
		t.Fatalf("retried spec %+v, want %+v", got.Spec, before.Spec)
	}
	if task.TTLDeadline() != 0 {
		t.Fatal("the TTL applies after a retry")
	}
	if f.s.Task("d").Status != StatusCancelled {
		t.Fatal("the retry revived a task its failure cancelled")
	}
	if err := f.apply("t", time.Hour, &events.TaskRetried{Attempt: 1}); !errors.Is(err, ErrStale) {
		t.Fatalf("retry of a pending task: %v", err)
	}
	if next := f.s.TakeReady("q", events.At(t0.Add(time.Hour))); next == nil || next.ID != "t" {
		t.Fatalf("ready after the retry: %+v", next)
	}
	f.s.ReturnReady(task)
	// The next lease is attempt 2; the old attempt's outcome is stale.
	if err := f.apply("t", time.Hour, &events.TaskCompleted{Attempt: 1}); !errors.Is(err, ErrStale) {
		t.Fatalf("completion of the attempt before the retry: %v", err)
	}
	f.must("t", time.Hour, &events.TaskLeased{Attempt: 2, Deadline: events.At(t0.Add(2 * time.Hour))})
	sameState(t, "after a retry", restoreOf(t, f.s), f.s)
	replayed := New()
	foldLog(t, replayed, f.log)
	sameState(t, "replayed", replayed, f.s)
}

// TestRetriedWaitsForDependencies: a retried task whose dependency is
// pending again waits for it, and is released when it completes.
func TestRetriedWaitsForDependencies(t *testing.T) {
	f := newFolder(t)
	f.must("a", 0, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "q", TTL: time.Second}})
	f.must("b", 0, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "q", DependsOn: []string{"a"}}})
	f.must("a", 2*time.Second, &events.TaskExpired{})
	f.must("b", 2*time.Second, &events.TaskCancelled{Reason: events.CancelDependencyExpired, Dependency: "a"})
	f.must("a", 3*time.Second, &events.TaskRetried{})
	f.must("b", 3*time.Second, &events.TaskRetried{})
	if a, b := f.s.Task("a"), f.s.Task("b"); a.Status != StatusPending || b.Status != StatusWaiting || b.Unmet() != 1 {
		t.Fatalf("a %s, b %s with %d unmet", a.Status, b.Status, b.Unmet())
	}
	if ids := dependantIDs(f.s.Dependants("a")); ids != "b<a " {
		t.Fatalf("dependants of a: %s", ids)
	}
	f.must("a", 4*time.Second, &events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(time.Hour))})
	f.must("a", 5*time.Second, &events.TaskCompleted{Attempt: 1})
	if b := f.s.Task("b"); b.Status != StatusPending {
		t.Fatalf("b after a completed: %s", b.Status)
	}
	sameState(t, "restored", restoreOf(t, f.s), f.s)
}

// TestQueuePauseFold: a paused queue has nothing ready, keeps its timers,
// and the set of paused queues survives a snapshot and a compaction.
func TestQueuePauseFold(t *testing.T) {
	f := newFolder(t)
	f.must("t", 0, enq("q", 0))
	f.must("ttl", 0, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "q", TTL: time.Second}})
	f.must("", 0, &events.QueuePaused{Queue: "q"})
	f.must("", 0, &events.QueuePaused{Queue: "a"})
	if err := f.apply("", 0, &events.QueuePaused{Queue: "q"}); !errors.Is(err, ErrStale) {
		t.Fatalf("pause of a paused queue: %v", err)
	}
	if err := f.apply("", 0, &events.QueueResumed{Queue: "z"}); !errors.Is(err, ErrStale) {
		t.Fatalf("resume of a queue not paused: %v", err)
	}
	now := events.At(t0.Add(time.Minute))
	if f.s.HasReady("q", now) || f.s.TakeReady("q", now) != nil {
		t.Fatal("a paused queue hands out a task")
	}
	if _, ttls, _ := f.s.Due(now, 10); len(ttls) != 1 || ttls[0].ID != "ttl" {
		t.Fatalf("TTL timer of a paused queue: %v", ttls)
	}
	if got := f.s.PausedQueues(); !slices.Equal(got, []string{"a", "q"}) {
		t.Fatalf("PausedQueues %v", got)
	}
	for name, s := range map[string]*State{"restored": restoreOf(t, f.s), "compacted": compactedOf(t, f.s, now)} {
		if got := s.PausedQueues(); !slices.Equal(got, []string{"a", "q"}) {
			t.Fatalf("%s: PausedQueues %v", name, got)
		}
	}
	f.must("", time.Minute, &events.QueueResumed{Queue: "q"})
	if !f.s.HasReady("q", now) {
		t.Fatal("nothing ready after the resume")
	}
	f.must("", time.Minute, &events.QueueResumed{Queue: "a"})
	// With no queue paused, the snapshot is what it was before queues
	// could be paused: it ends with the schedules.
	plain := New()
	foldLog(t, plain, f.log[:2])
	a, _ := plain.Snapshot()
	cut := New()
	for _, ev := range f.log {
		if ev.Type() == events.TypeQueuePaused || ev.Type() == events.TypeQueueResumed {
			continue
		}
		ev.Position = cut.Position() + 1
		_ = cut.Apply(ev)
	}
	b, _ := f.s.Snapshot()
	if len(b) == 0 || len(a) == 0 || f.s.PausedQueues() != nil {
		t.Fatal("setup")
	}
	if _, err := Restore(a); err != nil {
		t.Fatalf("a snapshot without paused queues: %v", err)
	}
}

func compactedOf(t *testing.T, s *State, before events.Timestamp) *State {
	t.Helper()
	snap, _, err := s.CompactedSnapshot(before)
	if err != nil {
		t.Fatal(err)
	}
	return mustRestore(t, snap)
}

// TestRetriesAndPausesRestoreAndReplay: rich histories with retries of
// every ended task and queue pauses give the same state folded whole,
// restored from a snapshot, and restored then replayed.
func TestRetriesAndPausesRestoreAndReplay(t *testing.T) {
	retried := 0
	for seed := uint64(1); seed <= 6; seed++ {
		f := richHistory(t, seed, 500)
		r := rand.New(rand.NewPCG(seed, 99))
		// Make some ended tasks cold, then retry a random half of those
		// that may be retried, pause a queue, and go on.
		f.s = restoreOf(t, f.s)
		var ids []string
		f.s.Tasks(func(task *Task) bool {
			if Retryable(task.Status) {
				ids = append(ids, task.ID)
			}
			return true
		})
		at := 600 * time.Second
		f.must("", at, &events.QueuePaused{Queue: []string{"a", "b", "c"}[r.IntN(3)]})
		for _, id := range ids {
			if r.IntN(2) == 0 {
				continue
			}
			if err := f.apply(id, at, &events.TaskRetried{Attempt: f.s.Task(id).Attempt}); err != nil {
				t.Fatalf("seed %d: retry %s: %v", seed, id, err)
			}
			retried++
		}
		for i := range 40 {
			if task := f.s.TakeReady([]string{"a", "b", "c"}[i%3], events.At(t0.Add(at))); task != nil {
				f.must(task.ID, at, &events.TaskLeased{Attempt: task.Attempt + 1, Deadline: events.At(t0.Add(at + time.Minute))})
				if i%2 == 0 {
					f.must(task.ID, at, &events.TaskFailed{Attempt: task.Attempt, Error: "again"})
				}
			}
		}
		full := New()
		foldLog(t, full, f.log)
		label := fmt.Sprintf("seed %d", seed)
		sameState(t, label+", live", f.s, full)
		sameState(t, label+", restored", restoreOf(t, f.s), full)
		k := len(f.log) - 50
		head := New()
		foldLog(t, head, f.log[:k])
		once := restoreOf(t, head)
		foldLog(t, once, f.log[k:])
		sameState(t, label+", restored at "+fmt.Sprint(k)+" then replayed", once, full)
	}
	if retried == 0 {
		t.Fatal("the histories retried nothing")
	}
}
