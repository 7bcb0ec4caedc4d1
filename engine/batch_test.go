package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

func TestBatchAPIs(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		tasks := make([]*engine.Task, 10)
		for i := range tasks {
			tasks[i] = &engine.Task{ID: fmt.Sprintf("b%d", i), Func: "f", Retries: 1}
		}
		appends := f.appends.n.Load()
		if err := f.e.EnqueueBatch(f.ctx, tasks); err != nil {
			t.Fatal(err)
		}
		leased, err := f.e.DequeueN(f.ctx, "", 8)
		if err != nil || len(leased) != 8 {
			t.Fatalf("dequeue 8: %d, %v", len(leased), err)
		}
		if got := f.appends.n.Load() - appends; got != 2 {
			t.Fatalf("a batch enqueue and a batch dequeue took %d appends, want 2", got)
		}
		stale := *leased[7]
		stale.Attempt = 9
		outcomes := []engine.Outcome{
			{Task: leased[0], Result: "r0"},
			{Task: leased[1], Err: errors.New("retry me")},
			{Task: leased[2], Result: func() {}},
			{Task: &stale},
			{Task: leased[3], Result: 1},
			{Task: leased[3], Result: 2}, // the same lease twice: only the first counts
		}
		errs, err := f.e.CompleteBatch(f.ctx, outcomes)
		if err != nil {
			t.Fatal(err)
		}
		want := []error{nil, nil, engine.ErrInvalidArgs, engine.ErrStaleLease, nil, engine.ErrStaleLease}
		for i := range want {
			if (want[i] == nil) != (errs[i] == nil) || (want[i] != nil && !errors.Is(errs[i], want[i])) {
				t.Errorf("outcome %d: %v, want %v", i, errs[i], want[i])
			}
		}
		if f.state("b0") != engine.StateCompleted || f.state("b1") != engine.StateWaiting || f.state("b2") != engine.StateRunning {
			t.Fatalf("after batch: %s %s %s", f.state("b0"), f.state("b1"), f.state("b2"))
		}
		if got, _ := f.e.GetTask(f.ctx, "b3"); got.Result != int64(1) {
			t.Fatalf("b3 result %v", got.Result)
		}
	})
}

func TestDequeueWait(t *testing.T) {
	f := newFixture(t, storeCases[0])
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Millisecond)
	defer cancel()
	got, err := f.e.DequeueWait(ctx, "", 1, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("wait on an empty queue: %v, %v", got, err)
	}
	res := make(chan []*engine.Task, 1)
	go func() {
		tasks, err := f.e.DequeueWait(f.ctx, "lp", 5, 0)
		if err != nil {
			t.Error(err)
		}
		res <- tasks
	}()
	f.enqueue(&engine.Task{ID: "woke", Func: "f", QueueName: "lp"})
	if tasks := <-res; len(tasks) != 1 || tasks[0].ID != "woke" {
		t.Fatalf("long poll returned %v", tasks)
	}
}

func TestStatsCountDelayedAsWaiting(t *testing.T) {
	f := newFixture(t, storeCases[0])
	f.enqueue(&engine.Task{Func: "f"})
	f.enqueue(&engine.Task{Func: "f", Schedule: &engine.Schedule{RunAt: start.Add(time.Minute)}})
	got := stats(f.e.Stats(f.ctx)).Queues[engine.DefaultQueue]
	if got[engine.StatePending] != 1 || got[engine.StateWaiting] != 1 {
		t.Fatalf("stats %v, want 1 pending and 1 waiting", got)
	}
	f.clock.Advance(time.Minute)
	got = stats(f.e.Stats(f.ctx)).Queues[engine.DefaultQueue]
	if got[engine.StatePending] != 2 || got[engine.StateWaiting] != 0 {
		t.Fatalf("stats at run_at %v, want 2 pending", got)
	}
}

func TestDequeueWaitAny(t *testing.T) {
	f := newFixture(t, storeCases[0])
	f.enqueue(&engine.Task{ID: "low", Func: "f", QueueName: "b"})
	f.enqueue(&engine.Task{ID: "high", Func: "f", QueueName: "a"})
	got, err := f.e.DequeueWaitAny(f.ctx, []string{"a", "b"}, 5)
	if err != nil || len(got) != 1 || got[0].ID != "high" {
		t.Fatalf("first preferred queue: %v %v", got, err)
	}
	got, err = f.e.DequeueWaitAny(f.ctx, []string{"a", "b"}, 5)
	if err != nil || len(got) != 1 || got[0].ID != "low" {
		t.Fatalf("second queue: %v %v", got, err)
	}
}

// TestFinishBatch: outcomes and the next leases in one append; a stale
// attempt is refused on its own; the leases fill n from the queues in
// order; bad arguments change nothing.
func TestFinishBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		var tasks []*engine.Task
		for i := range 4 {
			tasks = append(tasks, &engine.Task{ID: fmt.Sprintf("a%d", i), Func: "f", QueueName: "a"})
		}
		tasks = append(tasks, &engine.Task{ID: "b0", Func: "f", QueueName: "b"})
		if err := f.e.EnqueueBatch(f.ctx, tasks); err != nil {
			t.Fatal(err)
		}
		leased, err := f.e.DequeueN(f.ctx, "a", 2)
		if err != nil || len(leased) != 2 {
			t.Fatalf("dequeue 2: %d, %v", len(leased), err)
		}
		stale := *leased[1]
		stale.Attempt = 7
		if _, _, err := f.e.FinishBatch(f.ctx, []engine.Outcome{{Task: leased[0]}}, []string{"a"}, -1, 0); !errors.Is(err, engine.ErrInvalidArgument) {
			t.Fatalf("negative n: %v", err)
		}
		if _, _, err := f.e.FinishBatch(f.ctx, []engine.Outcome{{Task: leased[0]}}, []string{"bad queue/"}, 1, 0); !errors.Is(err, engine.ErrInvalidArgument) {
			t.Fatalf("bad queue: %v", err)
		}
		if f.state("a0") != engine.StateRunning {
			t.Fatalf("a refused call changed a0: %s", f.state("a0"))
		}
		appends := f.appends.n.Load()
		errs, next, err := f.e.FinishBatch(f.ctx, []engine.Outcome{{Task: leased[0], Result: "ok"}, {Task: &stale}}, []string{"a", "b"}, 3, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.appends.n.Load() - appends; got != 1 {
			t.Fatalf("outcomes and leases took %d appends, want 1", got)
		}
		if errs[0] != nil || !errors.Is(errs[1], engine.ErrStaleLease) {
			t.Fatalf("outcome errors %v", errs)
		}
		var ids []string
		for _, tk := range next {
			ids = append(ids, tk.ID)
			if tk.State != engine.StateRunning || tk.Attempt != 1 {
				t.Fatalf("leased %s in state %s, attempt %d", tk.ID, tk.State, tk.Attempt)
			}
		}
		if fmt.Sprint(ids) != "[a2 a3 b0]" {
			t.Fatalf("leased %v, want [a2 a3 b0]", ids)
		}
		if f.state("a0") != engine.StateCompleted || f.state("a1") != engine.StateRunning {
			t.Fatalf("after finish: a0 %s, a1 %s", f.state("a0"), f.state("a1"))
		}
	})
}
