package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

// parkWaiter starts DequeueWaitAny in the background and returns once the
// engine counts it as waiting.
func (f *fixture) parkWaiter(ctx context.Context, queues []string, n int) <-chan waitResult {
	f.t.Helper()
	before := stats(f.e.Stats(f.ctx)).Waiting
	res := make(chan waitResult, 1)
	go func() {
		tasks, err := f.e.DequeueWaitAny(ctx, queues, n)
		res <- waitResult{tasks, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for stats(f.e.Stats(f.ctx)).Waiting == before {
		if time.Now().After(deadline) {
			f.t.Fatal("the dequeue never parked")
		}
		time.Sleep(time.Millisecond)
	}
	return res
}

type waitResult struct {
	tasks []*engine.Task
	err   error
}

func ids(tasks []*engine.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

func TestParkedDequeueIsServedInTheEnqueueBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		res := f.parkWaiter(f.ctx, []string{"hot"}, 2)
		appends := f.appends.n.Load()
		err := f.e.EnqueueBatch(f.ctx, []*engine.Task{
			{ID: "low", Func: "f", QueueName: "hot", Priority: 1},
			{ID: "high", Func: "f", QueueName: "hot", Priority: 5},
			{ID: "mid", Func: "f", QueueName: "hot", Priority: 3},
			{ID: "other", Func: "f", QueueName: "cold", Priority: 9},
		})
		if err != nil {
			t.Fatal(err)
		}
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		if got := ids(r.tasks); len(got) != 2 || got[0] != "high" || got[1] != "mid" {
			t.Fatalf("waiter got %v, want [high mid] (highest priority of its queue first)", got)
		}
		if got := f.appends.n.Load() - appends; got != 1 {
			t.Fatalf("enqueue and lease took %d appends, want 1", got)
		}
		for _, task := range r.tasks {
			if task.Attempt != 1 || f.state(task.ID) != engine.StateRunning {
				t.Fatalf("%s: attempt %d, state %s", task.ID, task.Attempt, f.state(task.ID))
			}
			if err := f.e.Complete(f.ctx, task, nil); err != nil {
				t.Fatalf("complete %s: %v", task.ID, err)
			}
		}
		if f.state("low") != engine.StatePending || f.state("other") != engine.StatePending {
			t.Fatalf("unserved tasks: low %s, other %s", f.state("low"), f.state("other"))
		}
		// The log holds the same story: replay gives the same states.
		f.restart()
		if f.state("high") != engine.StateCompleted || f.state("low") != engine.StatePending {
			t.Fatalf("after replay: high %s, low %s", f.state("high"), f.state("low"))
		}
	})
}

func TestParkedDequeueWaitsForDelaysAndDependencies(t *testing.T) {
	f := newFixture(t, storeCases[0])
	res := f.parkWaiter(f.ctx, []string{"d"}, 1)
	f.enqueue(&engine.Task{ID: "dep", Func: "f", QueueName: "other"})
	f.enqueue(&engine.Task{ID: "child", Func: "f", QueueName: "d", DependsOn: []string{"dep"}})
	f.enqueue(&engine.Task{ID: "later", Func: "f", QueueName: "d", Schedule: &engine.Schedule{RunAt: start.Add(time.Minute)}})
	select {
	case r := <-res:
		t.Fatalf("waiter answered before anything was ready: %v %v", ids(r.tasks), r.err)
	case <-time.After(20 * time.Millisecond):
	}
	f.advance(time.Minute) // the timer pass promotes "later" and serves the waiter
	r := <-res
	if r.err != nil || len(r.tasks) != 1 || r.tasks[0].ID != "later" {
		t.Fatalf("after the delay: %v, %v", ids(r.tasks), r.err)
	}
	// A dependant becomes ready when its dependency completes.
	res = f.parkWaiter(f.ctx, []string{"d"}, 1)
	dep := f.dequeue("other")
	if err := f.e.Complete(f.ctx, dep, nil); err != nil {
		t.Fatal(err)
	}
	r = <-res
	if r.err != nil || len(r.tasks) != 1 || r.tasks[0].ID != "child" {
		t.Fatalf("after the dependency: %v, %v", ids(r.tasks), r.err)
	}
}

func TestParkedDequeueQueuePreference(t *testing.T) {
	f := newFixture(t, storeCases[0])
	res := f.parkWaiter(f.ctx, []string{"first", "second"}, 5)
	f.enqueue(&engine.Task{ID: "s", Func: "f", QueueName: "second"})
	r := <-res
	if r.err != nil || len(r.tasks) != 1 || r.tasks[0].ID != "s" {
		t.Fatalf("waiter on two queues: %v, %v", ids(r.tasks), r.err)
	}
	f.enqueue(&engine.Task{ID: "s2", Func: "f", QueueName: "second"})
	f.enqueue(&engine.Task{ID: "f1", Func: "f", QueueName: "first"})
	got, err := f.e.DequeueWaitAny(f.ctx, []string{"first", "second"}, 5)
	if err != nil || len(got) != 1 || got[0].ID != "f1" {
		t.Fatalf("preferred queue: %v, %v", ids(got), err)
	}
}

func TestWithdrawnWaiterLeasesNothing(t *testing.T) {
	f := newFixture(t, storeCases[0])
	ctx, cancel := context.WithCancel(f.ctx)
	res := f.parkWaiter(ctx, []string{"q"}, 1)
	cancel()
	r := <-res
	if r.err != nil || len(r.tasks) != 0 {
		t.Fatalf("cancelled wait: %v, %v", ids(r.tasks), r.err)
	}
	if n := stats(f.e.Stats(f.ctx)).Waiting; n != 0 {
		t.Fatalf("%d waiting after the cancel", n)
	}
	f.enqueue(&engine.Task{ID: "t", Func: "f", QueueName: "q"})
	if f.state("t") != engine.StatePending {
		t.Fatalf("task after a withdrawn wait: %s, want pending", f.state("t"))
	}
}

func TestCloseAnswersParkedDequeues(t *testing.T) {
	f := newFixture(t, storeCases[0])
	res := f.parkWaiter(f.ctx, []string{"q"}, 1)
	if err := f.e.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-res; !errors.Is(r.err, engine.ErrClosed) {
		t.Fatalf("parked dequeue at close: %v, %v", ids(r.tasks), r.err)
	}
}

// A timer pass that cannot act on something due because its cascade
// touches a task the same pass changed must say more is due: callers loop
// on RunDue until it reports nothing more.
func TestRunDueReportsWhatItLeft(t *testing.T) {
	f := newFixture(t, storeCases[0])
	f.enqueue(&engine.Task{ID: "dep", Func: "f", TTL: 2 * time.Second})
	f.enqueue(&engine.Task{ID: "child", Func: "f", TTL: time.Second, DependsOn: []string{"dep"}})
	f.clock.Advance(time.Minute)
	more, err := f.e.RunDue(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !more && (f.state("dep") != engine.StateExpired || f.state("child") == engine.StateWaiting) {
		t.Fatalf("RunDue reported nothing more due, yet dep is %s and child %s", f.state("dep"), f.state("child"))
	}
	for more {
		if more, err = f.e.RunDue(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if f.state("dep") != engine.StateExpired || !f.stateIn("child", engine.StateExpired, engine.StateCancelled) {
		t.Fatalf("after the passes: dep %s, child %s", f.state("dep"), f.state("child"))
	}
}

func (f *fixture) stateIn(id string, states ...engine.State) bool {
	got := f.state(id)
	for _, s := range states {
		if got == s {
			return true
		}
	}
	return false
}
