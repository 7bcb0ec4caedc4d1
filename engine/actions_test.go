package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/archive"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// unchanged runs fn, which must be refused with want, and checks that the
// log head did not move.
func (f *fixture) unchanged(what string, want error, fn func() error) {
	f.t.Helper()
	head := f.head()
	err := fn()
	if !errors.Is(err, want) {
		f.t.Fatalf("%s: %v, want %v", what, err, want)
	}
	if h := f.head(); h != head {
		f.t.Fatalf("%s: refused, yet the log head moved from %d to %d", what, head, h)
	}
}

// replayLive replays f's log from its start and fails unless that gives
// the live state; it returns the live snapshot and the replayed state.
// what names the log in the failure.
func (f *fixture) replayLive(what string) ([]byte, *projections.State) {
	f.t.Helper()
	live, _ := f.e.Snapshot()
	rebuilt, err := engine.Replay(f.ctx, f.log, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	if again, _ := rebuilt.Snapshot(); !bytes.Equal(live, again) {
		f.t.Fatalf("state replayed from %s differs from the live state", what)
	}
	return live, rebuilt
}

// failOut runs task id's attempts until it has failed for good.
func (f *fixture) failOut(id string) {
	f.t.Helper()
	for range 10 {
		got, err := f.e.GetTask(f.ctx, id)
		if err != nil {
			f.t.Fatal(err)
		}
		if got.State == engine.StateFailed {
			return
		}
		f.advance(time.Minute) // past any backoff
		task := f.dequeue(got.QueueName)
		if task == nil || task.ID != id {
			f.t.Fatalf("failing %s out: dequeued %+v", id, task)
		}
		if err := f.e.Fail(f.ctx, task, fmt.Errorf("boom %d", task.Attempt)); err != nil {
			f.t.Fatal(err)
		}
	}
	f.t.Fatalf("%s did not fail out", id)
}

func TestRetry(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "dep", Func: "f", QueueName: "q"})
		if err := f.e.Complete(f.ctx, f.dequeue("q"), "ok"); err != nil {
			t.Fatal(err)
		}
		f.enqueue(&engine.Task{
			ID: "r", Func: "send", QueueName: "q", Args: []any{int64(1), "two"},
			Kwargs: map[string]any{"k": "v"}, Meta: map[string]string{"traceparent": "00-ab"},
			Priority: 7, TTL: time.Hour, Retries: 1, DependsOn: []string{"dep"},
		})
		f.enqueue(&engine.Task{ID: "pending", Func: "f", QueueName: "other"})
		f.enqueue(&engine.Task{ID: "sched", Func: "f", Schedule: &engine.Schedule{Interval: time.Hour}})

		f.unchanged("retry of a pending task", engine.ErrTaskState, func() error { return f.e.Retry(f.ctx, "pending") })
		f.unchanged("retry of a completed task", engine.ErrTaskState, func() error { return f.e.Retry(f.ctx, "dep") })
		f.unchanged("retry of a schedule", engine.ErrTaskState, func() error { return f.e.Retry(f.ctx, "sched") })
		f.unchanged("retry of an unknown task", engine.ErrNotFound, func() error { return f.e.Retry(f.ctx, "ghost") })
		if err := f.e.Retry(f.ctx, "dep"); err == nil || !strings.Contains(err.Error(), "completed") {
			t.Fatalf("the refusal does not say the state: %v", err)
		}
		running := f.dequeue("other")
		f.unchanged("retry of a running task", engine.ErrTaskState, func() error { return f.e.Retry(f.ctx, "pending") })
		if err := f.e.Complete(f.ctx, running, nil); err != nil {
			t.Fatal(err)
		}

		f.failOut("r")
		before, _ := f.e.GetTask(f.ctx, "r")
		// A restart makes the ended task cold: the retry must bring back
		// every field of it.
		f.restart()
		if err := f.e.Retry(f.ctx, "r"); err != nil {
			t.Fatal(err)
		}
		got, err := f.e.GetTask(f.ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != engine.StatePending || got.Attempt != before.Attempt || !got.FinishedAt.IsZero() {
			t.Fatalf("retried: %s attempt %d finished %v; want pending at attempt %d", got.State, got.Attempt, got.FinishedAt, before.Attempt)
		}
		if !reflect.DeepEqual(got.Args, before.Args) || !reflect.DeepEqual(got.Kwargs, before.Kwargs) ||
			!reflect.DeepEqual(got.Meta, before.Meta) || !slices.Equal(got.DependsOn, []string{"dep"}) ||
			got.Priority != 7 || got.TTL != time.Hour || got.Retries != 1 || got.Func != "send" || got.QueueName != "q" {
			t.Fatalf("retried task lost fields: %+v\nbefore: %+v", got, before)
		}
		hist, err := f.e.History(f.ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		last := hist[len(hist)-1]
		if last.Type != "task.retried" || last.Payload["attempt"] != int64(before.Attempt) && last.Payload["attempt"] != before.Attempt {
			t.Fatalf("history ends with %s %v, want task.retried naming attempt %d", last.Type, last.Payload, before.Attempt)
		}
		f.unchanged("retry of a retried task", engine.ErrTaskState, func() error { return f.e.Retry(f.ctx, "r") })

		// Fencing: the lease of the attempt before the retry stays stale.
		stale := &engine.Task{ID: "r", Attempt: before.Attempt}
		if err := f.e.Complete(f.ctx, stale, nil); !errors.Is(err, engine.ErrStaleLease) {
			t.Fatalf("complete of an attempt before the retry: %v", err)
		}
		// A fresh budget: Retries 1 gives two more attempts.
		for n := 1; n <= 2; n++ {
			task := f.dequeue("q")
			if task == nil || task.Attempt != before.Attempt+n {
				t.Fatalf("attempt %d after the retry: %+v", n, task)
			}
			if err := f.e.Fail(f.ctx, task, errors.New("again")); err != nil {
				t.Fatal(err)
			}
			if want := map[int]engine.State{1: engine.StateWaiting, 2: engine.StateFailed}[n]; f.state("r") != want {
				t.Fatalf("after failed attempt %d since the retry: %s, want %s", n, f.state("r"), want)
			}
			f.advance(time.Minute)
		}
		if err := f.e.Complete(f.ctx, stale, nil); !errors.Is(err, engine.ErrStaleLease) {
			t.Fatalf("complete of an old attempt: %v", err)
		}
	})
}

func TestRetryExpiredAndCancelled(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "ttl", Func: "f", TTL: time.Minute})
		f.enqueue(&engine.Task{ID: "dependant", Func: "f", DependsOn: []string{"ttl"}})
		f.advance(2 * time.Minute)
		if f.state("ttl") != engine.StateExpired || f.state("dependant") != engine.StateCancelled {
			t.Fatalf("setup: %s %s", f.state("ttl"), f.state("dependant"))
		}
		// The dependant waits on a dependency that ended badly.
		f.unchanged("retry before the dependency", engine.ErrTaskState, func() error { return f.e.Retry(f.ctx, "dependant") })
		if err := f.e.Retry(f.ctx, "dependant"); err == nil || !strings.Contains(err.Error(), `retry dependency "ttl" first`) {
			t.Fatalf("refusal does not name the dependency: %v", err)
		}
		if err := f.e.Retry(f.ctx, "ttl"); err != nil {
			t.Fatal(err)
		}
		if f.state("dependant") != engine.StateCancelled {
			t.Fatal("retrying a task revived the task its end cancelled")
		}
		// The TTL no longer applies after a retry.
		f.advance(time.Hour)
		if f.state("ttl") != engine.StatePending {
			t.Fatalf("retried task past its TTL: %s, want pending", f.state("ttl"))
		}
		if err := f.e.Retry(f.ctx, "dependant"); err != nil {
			t.Fatal(err)
		}
		if f.state("dependant") != engine.StateWaiting {
			t.Fatalf("dependant retried while its dependency is pending: %s, want waiting", f.state("dependant"))
		}
		task := f.dequeue("")
		if task == nil || task.ID != "ttl" || task.Attempt != 1 {
			t.Fatalf("dequeued %+v", task)
		}
		if err := f.e.Complete(f.ctx, task, nil); err != nil {
			t.Fatal(err)
		}
		if f.state("dependant") != engine.StatePending {
			t.Fatalf("dependant after its dependency completed: %s", f.state("dependant"))
		}
	})
}

func TestRetryTasksBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "a", Func: "f"})
		f.enqueue(&engine.Task{ID: "b", Func: "f", DependsOn: []string{"a"}})
		f.enqueue(&engine.Task{ID: "c", Func: "f", QueueName: "c"})
		f.failOut("a")
		if f.state("b") != engine.StateCancelled {
			t.Fatal("setup")
		}
		head := f.head()
		// b before a: a is still failed when b is checked.
		errs, err := f.e.RetryTasks(f.ctx, []string{"b", "c", "", "b", "ghost"})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(errs[0], engine.ErrTaskState) || !errors.Is(errs[1], engine.ErrTaskState) ||
			!errors.Is(errs[2], engine.ErrInvalidArgument) || !errors.Is(errs[3], engine.ErrInvalidArgument) ||
			!errors.Is(errs[4], engine.ErrNotFound) {
			t.Fatalf("per-item errors %v", errs)
		}
		if f.head() != head {
			t.Fatal("a batch of refusals moved the log head")
		}
		appends := f.appends.n.Load()
		errs, err = f.e.RetryTasks(f.ctx, []string{"a", "b"})
		if err != nil || errs[0] != nil || errs[1] != nil {
			t.Fatalf("retry a then b: %v %v", errs, err)
		}
		if n := f.appends.n.Load() - appends; n != 1 {
			t.Fatalf("a batch of retries took %d appends", n)
		}
		if f.state("a") != engine.StatePending || f.state("b") != engine.StateWaiting {
			t.Fatalf("after the batch: a %s, b %s", f.state("a"), f.state("b"))
		}
		f.unchanged("more ids than allowed", engine.ErrInvalidArgument, func() error {
			_, err := f.e.RetryTasks(f.ctx, make([]string, engine.MaxActionBatch+1))
			return err
		})
	})
}

func TestCancel(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "p", Func: "f"})
		f.enqueue(&engine.Task{ID: "d1", Func: "f", DependsOn: []string{"p"}})
		f.enqueue(&engine.Task{ID: "d2", Func: "f", DependsOn: []string{"d1"}})
		f.enqueue(&engine.Task{ID: "later", Func: "f", Schedule: &engine.Schedule{RunAt: start.Add(time.Hour)}})
		f.enqueue(&engine.Task{ID: "held", Func: "f", Schedule: &engine.Schedule{RunAt: start.Add(time.Hour), Paused: true}})
		f.enqueue(&engine.Task{ID: "run", Func: "f", QueueName: "r"})
		f.enqueue(&engine.Task{ID: "sched", Func: "f", QueueName: "s", Schedule: &engine.Schedule{Cron: "0 * * * *"}})
		f.enqueue(&engine.Task{ID: "backoff", Func: "f", QueueName: "b", Retries: 1})
		if err := f.e.Fail(f.ctx, f.dequeue("b"), errors.New("once")); err != nil {
			t.Fatal(err)
		}
		running := f.dequeue("r")

		f.unchanged("cancel of a running task", engine.ErrTaskState, func() error { return f.e.Cancel(f.ctx, "run") })
		f.unchanged("cancel of a schedule", engine.ErrTaskState, func() error { return f.e.Cancel(f.ctx, "sched") })
		f.unchanged("cancel of an unknown task", engine.ErrNotFound, func() error { return f.e.Cancel(f.ctx, "ghost") })
		if err := f.e.Complete(f.ctx, running, nil); err != nil {
			t.Fatal(err)
		}
		f.unchanged("cancel of a completed task", engine.ErrTaskState, func() error { return f.e.Cancel(f.ctx, "run") })

		for _, id := range []string{"p", "later", "held", "backoff"} {
			if err := f.e.Cancel(f.ctx, id); err != nil {
				t.Fatalf("cancel %s: %v", id, err)
			}
			if f.state(id) != engine.StateCancelled {
				t.Fatalf("%s: %s after cancel", id, f.state(id))
			}
		}
		for id, by := range map[string]string{"d1": "p", "d2": "d1"} {
			got, _ := f.e.GetTask(f.ctx, id)
			if got.State != engine.StateCancelled || got.CancelledBy != by {
				t.Fatalf("dependant %s: %s by %q", id, got.State, got.CancelledBy)
			}
		}
		hist, _ := f.e.History(f.ctx, "p")
		if last := hist[len(hist)-1]; last.Type != "task.cancelled" || last.Payload["reason"] != "requested" {
			t.Fatalf("cancel event %s %v", last.Type, last.Payload)
		}
		f.unchanged("cancel of a cancelled task", engine.ErrTaskState, func() error { return f.e.Cancel(f.ctx, "p") })
		f.advance(2 * time.Hour)
		if task := f.dequeue(""); task != nil {
			t.Fatalf("a cancelled task was leased: %+v", task)
		}
		// Cancelled by request, then retried: it runs.
		if err := f.e.Retry(f.ctx, "p"); err != nil {
			t.Fatal(err)
		}
		if task := f.dequeue(""); task == nil || task.ID != "p" {
			t.Fatalf("after retry of a cancelled task: %+v", task)
		}
	})
}

func TestCancelAndDeleteTasksBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.enqueue(&engine.Task{ID: "a", Func: "f"})
		f.enqueue(&engine.Task{ID: "b", Func: "f", DependsOn: []string{"a"}})
		f.enqueue(&engine.Task{ID: "c", Func: "f"})
		f.enqueue(&engine.Task{ID: "x", Func: "f"})
		f.enqueue(&engine.Task{ID: "y", Func: "f", DependsOn: []string{"x"}})
		f.enqueue(&engine.Task{ID: "sched", Func: "f", Schedule: &engine.Schedule{Interval: time.Hour}})

		appends := f.appends.n.Load()
		errs, err := f.e.CancelTasks(f.ctx, []string{"a", "b", "c", "c"})
		if err != nil {
			t.Fatal(err)
		}
		if errs[0] != nil || !errors.Is(errs[1], engine.ErrTaskState) || errs[2] != nil || !errors.Is(errs[3], engine.ErrInvalidArgument) {
			t.Fatalf("cancel errors %v", errs)
		}
		if n := f.appends.n.Load() - appends; n != 1 {
			t.Fatalf("a batch of cancels took %d appends", n)
		}
		for _, id := range []string{"a", "b", "c"} {
			if f.state(id) != engine.StateCancelled {
				t.Fatalf("%s: %s", id, f.state(id))
			}
		}
		// Delete x, then y, which x's deletion cancelled, and a schedule.
		errs, err = f.e.DeleteTasks(f.ctx, []string{"x", "y", "sched", "ghost"})
		if err != nil {
			t.Fatal(err)
		}
		if errs[0] != nil || errs[1] != nil || errs[2] != nil || !errors.Is(errs[3], engine.ErrNotFound) {
			t.Fatalf("delete errors %v", errs)
		}
		for _, id := range []string{"x", "y", "sched"} {
			if _, err := f.e.GetTask(f.ctx, id); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("%s after delete: %v", id, err)
			}
		}
		hist, _ := f.e.History(f.ctx, "y")
		var types []string
		for _, ev := range hist {
			types = append(types, ev.Type)
		}
		if !slices.Equal(types, []string{"task.enqueued", "task.cancelled", "task.deleted"}) {
			t.Fatalf("history of y: %v", types)
		}
		f.unchanged("delete of a deleted task", engine.ErrNotFound, func() error { return f.e.DeleteTask(f.ctx, "x") })
		f.unchanged("too many ids", engine.ErrInvalidArgument, func() error {
			_, err := f.e.DeleteTasks(f.ctx, make([]string, engine.MaxActionBatch+1))
			return err
		})
		if errs, err := f.e.DeleteTasks(f.ctx, nil); err != nil || len(errs) != 0 {
			t.Fatalf("empty batch: %v %v", errs, err)
		}
	})
}

func TestPauseQueue(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		f.unchanged("bad queue name", engine.ErrInvalidQueueName, func() error { return f.e.PauseQueue(f.ctx, "bad name!") })
		f.unchanged("resume of a queue not paused", engine.ErrTaskState, func() error { return f.e.ResumeQueue(f.ctx, "q") })
		f.enqueue(&engine.Task{ID: "held", Func: "f", QueueName: "q", Retries: 1})
		f.enqueue(&engine.Task{ID: "ttl", Func: "f", QueueName: "q", TTL: time.Minute})
		running := f.dequeue("q")
		if running == nil || running.ID != "held" {
			t.Fatalf("setup: %+v", running)
		}
		for _, q := range []string{"q", ""} {
			if err := f.e.PauseQueue(f.ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		f.unchanged("pause of a paused queue", engine.ErrTaskState, func() error { return f.e.PauseQueue(f.ctx, "q") })
		f.unchanged("pause of the default queue by name", engine.ErrTaskState, func() error { return f.e.PauseQueue(f.ctx, engine.DefaultQueue) })
		if got := stats(f.e.Stats(f.ctx)).PausedQueues; !slices.Equal(got, []string{engine.DefaultQueue, "q"}) {
			t.Fatalf("PausedQueues %v", got)
		}
		f.enqueue(&engine.Task{ID: "new", Func: "f", QueueName: "q"})
		f.enqueue(&engine.Task{ID: "open", Func: "f", QueueName: "open"})
		// A lease already held runs on.
		if err := f.e.Heartbeat(f.ctx, running); err != nil {
			t.Fatal(err)
		}
		if err := f.e.Fail(f.ctx, running, errors.New("once")); err != nil {
			t.Fatal(err)
		}
		f.advance(2 * time.Minute) // past the backoff and the TTL
		if f.state("ttl") != engine.StateExpired {
			t.Fatalf("the TTL timer stopped on a paused queue: %s", f.state("ttl"))
		}
		head := f.head()
		if task := f.dequeue("q"); task != nil {
			t.Fatalf("Dequeue leased %s from a paused queue", task.ID)
		}
		if tasks, err := f.e.DequeueN(f.ctx, "q", 5); err != nil || len(tasks) != 0 {
			t.Fatalf("DequeueN on a paused queue: %v %v", tasks, err)
		}
		if tasks, err := f.e.DequeueWait(f.ctx, "q", 5, 20*time.Millisecond); err != nil || len(tasks) != 0 {
			t.Fatalf("DequeueWait on a paused queue: %v %v", tasks, err)
		}
		if _, tasks, err := f.e.FinishBatch(f.ctx, nil, []string{"q"}, 5, 0); err != nil || len(tasks) != 0 {
			t.Fatalf("FinishBatch on a paused queue: %v %v", tasks, err)
		}
		if f.head() != head {
			t.Fatal("leasing from a paused queue wrote to the log")
		}
		tasks, err := f.e.DequeueWaitAny(f.ctx, []string{"q", "open"}, 5)
		if err != nil || len(tasks) != 1 || tasks[0].ID != "open" {
			t.Fatalf("DequeueWaitAny over a paused and an open queue: %v %v", tasks, err)
		}

		f.restart()
		if got := stats(f.e.Stats(f.ctx)).PausedQueues; !slices.Equal(got, []string{engine.DefaultQueue, "q"}) {
			t.Fatalf("PausedQueues after a restart: %v", got)
		}
		if task := f.dequeue("q"); task != nil {
			t.Fatal("the pause did not survive a restart")
		}
		if err := f.e.ResumeQueue(f.ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if got := stats(f.e.Stats(f.ctx)).PausedQueues; !slices.Equal(got, []string{engine.DefaultQueue}) {
			t.Fatalf("PausedQueues after resume: %v", got)
		}
		var got []string
		for task := f.dequeue("q"); task != nil; task = f.dequeue("q") {
			got = append(got, task.ID)
		}
		// held went back to its queue after new was enqueued (its retry).
		if !slices.Equal(got, []string{"new", "held"}) {
			t.Fatalf("after resume leased %v", got)
		}
	})
}

func TestPausedQueueDequeueWaitWakesOnResume(t *testing.T) {
	f := newFixture(t, storeCases[0])
	if err := f.e.PauseQueue(f.ctx, "q"); err != nil {
		t.Fatal(err)
	}
	f.enqueue(&engine.Task{ID: "t", Func: "f", QueueName: "q"})
	type result struct {
		tasks []*engine.Task
		err   error
	}
	done := make(chan result, 1)
	go func() {
		tasks, err := f.e.DequeueWait(f.ctx, "q", 1, time.Minute)
		done <- result{tasks, err}
	}()
	for stats(f.e.Stats(f.ctx)).Waiting == 0 {
		select {
		case r := <-done:
			t.Fatalf("DequeueWait on a paused queue returned %v %v", r.tasks, r.err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := f.e.ResumeQueue(f.ctx, "q"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || len(r.tasks) != 1 || r.tasks[0].ID != "t" {
		t.Fatalf("DequeueWait after resume: %v %v", r.tasks, r.err)
	}
}

// TestActionsSurviveSnapshotAndCompaction: a paused queue and a retried
// task come back the same from a snapshot, from a compacted log and from
// the log alone.
func TestActionsSurviveSnapshotAndCompaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc, engine.WithSnapshotEvery(5))
		f.enqueue(&engine.Task{ID: "old", Func: "f", QueueName: "q", Args: []any{"x"}, Kwargs: map[string]any{"k": int64(1)}, TTL: time.Minute})
		f.enqueue(&engine.Task{ID: "young", Func: "f", QueueName: "q"})
		f.enqueue(&engine.Task{ID: "gone", Func: "f", QueueName: "done"})
		if err := f.e.Complete(f.ctx, f.dequeue("done"), nil); err != nil {
			t.Fatal(err)
		}
		f.advance(2 * time.Minute) // old expires
		f.restart()                // and is cold: the retry thaws it
		if err := f.e.PauseQueue(f.ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if err := f.e.Retry(f.ctx, "old"); err != nil {
			t.Fatal(err)
		}
		// The retried task, enqueued first, is back among the hot tasks
		// (which a snapshot holds in enqueue order), and at the back of
		// its queue.
		before, _ := f.replayLive("the log")
		if _, ok := f.log.(stores.Truncater); ok {
			f.clock.Advance(time.Hour)
			if _, err := f.e.Compact(f.ctx, f.clock.Now(), &sliceArchive{}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.e.GetTask(f.ctx, "gone"); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("compaction kept an ended task: %v", err)
			}
			compacted, rebuilt := f.replayLive("the compacted log")
			if got := rebuilt.PausedQueues(); !slices.Equal(got, []string{"q"}) {
				t.Fatalf("paused queues after compaction: %v", got)
			}
			before = compacted
		}
		f.restart()
		if after, _ := f.e.Snapshot(); !bytes.Equal(before, after) {
			t.Fatal("state after a restart differs")
		}
		if got := stats(f.e.Stats(f.ctx)).PausedQueues; !slices.Equal(got, []string{"q"}) {
			t.Fatalf("PausedQueues after a restart: %v", got)
		}
		if err := f.e.ResumeQueue(f.ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if task := f.dequeue("q"); task == nil || task.ID != "young" {
			t.Fatalf("after resume dequeued %+v, want young", task)
		}
		task := f.dequeue("q")
		if task == nil || task.ID != "old" || !reflect.DeepEqual(task.Args, []any{"x"}) || task.Kwargs["k"] != int64(1) {
			t.Fatalf("after resume dequeued %+v", task)
		}
	})
}

// TestWorkSkipsPausedQueue: the worker pool leases nothing from a paused
// queue (it waits idle with the task pending) and runs it once resumed.
func TestWorkSkipsPausedQueue(t *testing.T) {
	f := newFixture(t, storeCases[0])
	ran := make(chan string, 4)
	f.e.Register("f", func(_ context.Context, task *engine.Task) (any, error) {
		ran <- task.ID
		return nil, nil
	})
	if err := f.e.PauseQueue(f.ctx, "q"); err != nil {
		t.Fatal(err)
	}
	f.enqueue(&engine.Task{ID: "held", Func: "f", QueueName: "q"})
	ctx, cancel := context.WithCancel(f.ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.e.Work(ctx, engine.WorkOptions{Queues: []string{"q"}, Concurrency: 2}); err != nil {
			t.Errorf("work: %v", err)
		}
	})
	defer func() { cancel(); wg.Wait() }()
	// The pool is idle, waiting in the engine, while the task is pending.
	for stats(f.e.Stats(f.ctx)).Waiting == 0 {
		time.Sleep(time.Millisecond)
	}
	if got := f.state("held"); got != engine.StatePending {
		t.Fatalf("task of a paused queue: %s with the pool idle", got)
	}
	select {
	case id := <-ran:
		t.Fatalf("the pool ran %s from a paused queue", id)
	default:
	}
	if err := f.e.ResumeQueue(f.ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if id := <-ran; id != "held" {
		t.Fatalf("ran %s", id)
	}
	f.waitState("held", engine.StateCompleted)
}

// TestActionsOnArchivedTask: a task retention archived is ErrArchived (an
// ErrNotFound) to every action, and the refusal appends nothing.
func TestActionsOnArchivedTask(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const age = time.Hour
	f := newFixture(t, storeCases[0], engine.WithRetention(engine.Retention{Age: age, Archive: ar}))
	f.enqueue(&engine.Task{ID: "old", Func: "f"})
	task := f.dequeue("")
	if err := f.e.Fail(f.ctx, task, errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * age)
	if res, err := f.e.Retain(f.ctx); err != nil || res.Dropped != 1 {
		t.Fatalf("retention: %+v, %v", res, err)
	}
	for name, act := range map[string]func() error{
		"retry":  func() error { return f.e.Retry(f.ctx, "old") },
		"cancel": func() error { return f.e.Cancel(f.ctx, "old") },
		"delete": func() error { return f.e.DeleteTask(f.ctx, "old") },
	} {
		f.unchanged(name+" of an archived task", engine.ErrArchived, act)
	}
	f.unchanged("retry of a task never enqueued", engine.ErrNotFound, func() error { return f.e.Retry(f.ctx, "never") })
	if err := f.e.Retry(f.ctx, "never"); errors.Is(err, engine.ErrArchived) {
		t.Fatalf("a task never enqueued is archived: %v", err)
	}
}

// TestFollowViewsQueueEvents: a queue event has no task id; it passes a
// queue filter naming its queue, and no task filter.
func TestFollowViewsQueueEvents(t *testing.T) {
	ctx := context.Background()
	e := openFollowEngine(t, memory.New())
	if err := e.Enqueue(ctx, &engine.Task{ID: "a", Func: "f", QueueName: "q1"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"q1", "q2"} {
		if err := e.PauseQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.ResumeQueue(ctx, "q1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    engine.EventFilter
		want string
	}{
		{engine.EventFilter{}, "[1:task.enqueued:a 2:queue.paused:q1 3:queue.paused:q2 4:queue.resumed:q1]"},
		{engine.EventFilter{Queue: "q1"}, "[1:task.enqueued:a 2:queue.paused:q1 4:queue.resumed:q1]"},
		{engine.EventFilter{Queue: "q2"}, "[3:queue.paused:q2]"},
		{engine.EventFilter{Task: "a"}, "[1:task.enqueued:a]"},
	} {
		// Nothing comes past position 4: the stream would wait for more.
		if got := followViewsTo(ctx, t, e, 0, c.f, 4); fmt.Sprint(got) != c.want {
			t.Errorf("FollowViews(%+v) = %v, want %s", c.f, got, c.want)
		}
	}
}
