package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores/memory"
)

// waitState polls GetTask until the task reaches want. Workers run on their
// own goroutines, so the test waits for an outcome, not for a duration.
func (f *fixture) waitState(id string, want engine.State) *engine.Task {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		task, err := f.e.GetTask(f.ctx, id)
		if err == nil && task.State == want {
			return task
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("task %s: state %v (err %v), want %s", id, task, err, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWorkRunsHandlers(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		if err := f.e.Register("add", func(ctx context.Context, task *engine.Task) (any, error) {
			return task.Args[0].(int64) + task.Args[1].(int64), nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := f.e.Register("add", func(context.Context, *engine.Task) (any, error) { return nil, nil }); !errors.Is(err, engine.ErrInvalidHandler) {
			t.Fatalf("second registration: %v", err)
		}
		f.e.Register("boom", func(context.Context, *engine.Task) (any, error) { panic("kaboom") })
		f.e.Register("err", func(context.Context, *engine.Task) (any, error) { return nil, errors.New("bad input") })
		ctx, cancel := context.WithCancel(f.ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := f.e.Work(ctx, engine.WorkOptions{Queues: []string{"", "other"}, Concurrency: 3}); err != nil {
				t.Errorf("work: %v", err)
			}
		})
		f.enqueue(&engine.Task{ID: "sum", Func: "add", Args: []any{10, 20}})
		f.enqueue(&engine.Task{ID: "panics", Func: "boom", QueueName: "other"})
		f.enqueue(&engine.Task{ID: "errs", Func: "err"})
		f.enqueue(&engine.Task{ID: "unknown", Func: "nobody"})
		if got := f.waitState("sum", engine.StateCompleted); got.Result != int64(30) {
			t.Fatalf("result %v, want 30", got.Result)
		}
		if got := f.waitState("panics", engine.StateFailed); !strings.Contains(got.Error, "kaboom") {
			t.Fatalf("panic error %q", got.Error)
		}
		if got := f.waitState("errs", engine.StateFailed); got.Error != "bad input" {
			t.Fatalf("handler error %q", got.Error)
		}
		if got := f.waitState("unknown", engine.StateFailed); !strings.Contains(got.Error, "no handler") {
			t.Fatalf("unknown func error %q", got.Error)
		}
		cancel()
		wg.Wait()
	})
}

func TestWorkerWakesOnEnqueueAndDelay(t *testing.T) {
	f := newFixture(t, storeCases[0])
	ran := make(chan string, 4)
	f.e.Register("f", func(_ context.Context, task *engine.Task) (any, error) { ran <- task.ID; return nil, nil })
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	go f.e.Work(ctx, engine.WorkOptions{})
	// The manual clock never moves on its own: a worker that slept and polled
	// would never see these tasks; one woken by the enqueue does.
	f.enqueue(&engine.Task{ID: "now", Func: "f"})
	if id := <-ran; id != "now" {
		t.Fatalf("ran %s", id)
	}
	f.enqueue(&engine.Task{ID: "later", Func: "f", Schedule: &engine.Schedule{RunAt: start.Add(time.Minute)}})
	select {
	case id := <-ran:
		t.Fatalf("%s ran before its time", id)
	case <-time.After(20 * time.Millisecond):
	}
	f.clock.Advance(time.Minute) // the engine's timer fires and wakes the worker
	if id := <-ran; id != "later" {
		t.Fatalf("ran %s", id)
	}
}

func TestHandlerContextEndsAtLeaseExpiry(t *testing.T) {
	f := newFixture(t, storeCases[0])
	started := make(chan struct{})
	ended := make(chan error, 1)
	f.e.Register("slow", func(ctx context.Context, task *engine.Task) (any, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	})
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	go f.e.Work(ctx, engine.WorkOptions{})
	f.enqueue(&engine.Task{ID: "slow", Func: "slow"})
	<-started
	f.clock.Advance(31 * time.Second)
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler context ended with %v", err)
	}
	f.waitState("slow", engine.StateFailed)
}

// On the system clock the lease watcher is a timer callback (AfterFunc), not
// a goroutine: heartbeats still extend the lease, and the handler's context
// still ends when the lease runs out.
func TestHandlerContextOnTheSystemClock(t *testing.T) {
	ctx := context.Background()
	e, err := engine.Open(ctx, memory.New(), engine.WithLeaseTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	alive := make(chan error, 1) // the context after heartbeats outlived the first lease
	ended := make(chan error, 1) // the context once heartbeats stopped
	e.Register("beats", func(hctx context.Context, task *engine.Task) (any, error) {
		for range 10 { // 10 × 50 ms: well past one 300 ms lease
			time.Sleep(50 * time.Millisecond)
			if err := e.Heartbeat(ctx, task); err != nil {
				return nil, err
			}
		}
		alive <- hctx.Err()
		<-hctx.Done()
		ended <- hctx.Err()
		return nil, hctx.Err()
	})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go e.Work(wctx, engine.WorkOptions{})
	if err := e.Enqueue(ctx, &engine.Task{ID: "b", Func: "beats"}); err != nil {
		t.Fatal(err)
	}
	if err := <-alive; err != nil {
		t.Fatalf("handler context ended while heartbeats extended the lease: %v", err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("handler context ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler context did not end after the lease ran out")
	}
}

// A busy worker records an outcome and leases its next task in one command:
// one append per task, not two.
func TestWorkLeasesTheNextTaskWithTheOutcome(t *testing.T) {
	f := newFixture(t, storeCases[0])
	f.e.Register("f", func(ctx context.Context, task *engine.Task) (any, error) { return task.ID, nil })
	const n = 10
	tasks := make([]*engine.Task, n)
	for i := range tasks {
		tasks[i] = &engine.Task{ID: fmt.Sprintf("t%d", i), Func: "f"}
	}
	appends := f.appends.n.Load()
	if err := f.e.EnqueueBatch(f.ctx, tasks); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	go f.e.Work(ctx, engine.WorkOptions{Concurrency: 1})
	for _, task := range tasks {
		f.waitState(task.ID, engine.StateCompleted)
	}
	// The enqueue, the first lease, then one append per outcome (each
	// leasing the next task but the last).
	if got := f.appends.n.Load() - appends; got > n+2 {
		t.Fatalf("%d tasks took %d appends, want at most %d", n, got, n+2)
	}
}

// Work reads its options; it does not rewrite the caller's queue list.
func TestWorkLeavesItsOptionsAlone(t *testing.T) {
	f := newFixture(t, storeCases[0])
	queues := []string{"", "other"}
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if err := f.e.Work(ctx, engine.WorkOptions{Queues: queues}); err != nil {
		t.Fatal(err)
	}
	if queues[0] != "" || queues[1] != "other" {
		t.Fatalf("Work rewrote its caller's queues to %q", queues)
	}
}

// TestWorkFailsAnUnstorableResult: a handler whose result the log cannot
// store fails its attempt, saying why; the task does not stay running.
func TestWorkFailsAnUnstorableResult(t *testing.T) {
	f := newFixture(t, storeCases[0])
	f.e.Register("f", func(context.Context, *engine.Task) (any, error) { return func() {}, nil })
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	go f.e.Work(ctx, engine.WorkOptions{})
	f.enqueue(&engine.Task{ID: "bad", Func: "f"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		task, err := f.e.GetTask(f.ctx, "bad")
		if err != nil {
			t.Fatal(err)
		}
		if task.State == engine.StateFailed {
			if !strings.Contains(task.Error, "unstorable result") {
				t.Fatalf("failed with %q, want it to say the result could not be stored", task.Error)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task is %s, want failed", task.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHeartbeatBatch: one call extends every current lease it names by the
// lease timeout in one append, and answers each task on its own: a wrong
// attempt is stale, an unknown id not found, a nil task invalid, and none of
// those changes anything.
func TestHeartbeatBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		for _, id := range []string{"a", "b", "c"} {
			f.enqueue(&engine.Task{ID: id, Func: "f"})
		}
		a, b := f.dequeue(""), f.dequeue("")
		f.advance(10 * time.Second)
		stale := *b
		stale.Attempt = 5
		unknown := engine.Task{ID: "nope", Attempt: 1}
		before := f.head()
		errs, err := f.e.HeartbeatBatch(f.ctx, []*engine.Task{a, &stale, &unknown, nil, b})
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) != 5 || errs[0] != nil || !errors.Is(errs[1], engine.ErrStaleLease) || !errors.Is(errs[2], engine.ErrNotFound) ||
			!errors.Is(errs[3], engine.ErrInvalidArgument) || errs[4] != nil {
			t.Fatalf("per-task answers %v, want nil, stale, not found, invalid, nil", errs)
		}
		if got := f.head() - before; got != 2 {
			t.Fatalf("the batch appended %d events, want the 2 heartbeats", got)
		}
		want := start.Add(40 * time.Second)
		for _, task := range []*engine.Task{a, b} {
			got, err := f.e.GetTask(f.ctx, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !task.LeaseDeadline.Equal(want) || !got.LeaseDeadline.Equal(want) || got.State != engine.StateRunning {
				t.Fatalf("%s: lease until %v (the log: %v, %s), want %v", task.ID, task.LeaseDeadline, got.LeaseDeadline, got.State, want)
			}
		}
		// The old deadline passes; the extended leases hold.
		f.advance(25 * time.Second)
		if f.state("a") != engine.StateRunning || f.state("b") != engine.StateRunning {
			t.Fatalf("after the old deadline: a %s, b %s, want both running", f.state("a"), f.state("b"))
		}
	})
}
