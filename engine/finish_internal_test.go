package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

// FinishBatch and long polls while a batch is being written (gatedLog holds
// its append).

func openGated(t *testing.T, opts ...Option) (*Engine, *gatedLog) {
	t.Helper()
	log := newGatedLog()
	log.holdAt.Store(-1) // nothing held until holdNext
	e, err := Open(context.Background(), log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	t.Cleanup(log.release) // first: Close waits for a held append
	return e, log
}

// waitFor polls cond (read under e.mu) until it holds.
func waitFor(t *testing.T, e *Engine, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		e.mu.Lock()
		ok := cond()
		e.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

// callAnswer is what a FinishBatch or DequeueWait call returned.
type callAnswer struct {
	errs  []error
	tasks []*Task
	err   error
}

// finishAsync calls FinishBatch in a goroutine; its answer comes on the
// channel returned.
func finishAsync(ctx context.Context, e *Engine, outcomes []Outcome, n int) <-chan callAnswer {
	res := make(chan callAnswer, 1)
	go func() {
		errs, tasks, err := e.FinishBatch(ctx, outcomes, nil, n, 0)
		res <- callAnswer{errs, tasks, err}
	}()
	return res
}

func taskNow(t *testing.T, e *Engine, id string) *Task {
	t.Helper()
	got, err := e.GetTask(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// An outcome of a lease whose heartbeat is being written is recorded: the
// batch waits for that write, as Complete does, instead of refusing the
// outcome as stale (the pool would drop it, and the task wait out its
// lease).
func TestFinishBatchWaitsForAHeartbeatOfItsLease(t *testing.T) {
	ctx := context.Background()
	e, log := openGated(t)
	if err := e.Enqueue(ctx, &Task{ID: "x", Func: "f"}); err != nil {
		t.Fatal(err)
	}
	task, err := e.Dequeue(ctx, "")
	if err != nil || task == nil {
		t.Fatal(task, err)
	}
	log.holdNext()
	beat := make(chan error, 1)
	beaten := *task
	go func() { beat <- e.Heartbeat(ctx, &beaten) }()
	<-log.entered // x's heartbeat is being written
	res := finishAsync(ctx, e, []Outcome{{Task: task, Result: "done"}}, 0)
	// Wrongly, the answer comes while the write is held; rightly, only
	// after. (On a busy machine the outcome may not yet have been tried
	// when the write is let go: then this proves nothing, and passes.)
	select {
	case a := <-res:
		t.Fatalf("FinishBatch answered %v, %v while a heartbeat of the lease was being written", a.errs, a.err)
	case <-time.After(200 * time.Millisecond):
	}
	log.release()
	if err := <-beat; err != nil {
		t.Fatal(err)
	}
	a := <-res
	if a.err != nil || len(a.errs) != 1 || a.errs[0] != nil {
		t.Fatalf("FinishBatch: %v, %v", a.errs, a.err)
	}
	if got := taskNow(t, e, "x"); got.State != StateCompleted {
		t.Fatalf("x is %s, want completed", got.State)
	}
}

// Two final failures in one FinishBatch whose tasks have a dependant in
// common are both recorded; the dependant is cancelled once.
func TestFinishBatchFailuresWithADependantInCommon(t *testing.T) {
	ctx := context.Background()
	e, _ := openGated(t)
	for _, task := range []*Task{{ID: "a", Func: "f"}, {ID: "b", Func: "f"}, {ID: "d", Func: "f", DependsOn: []string{"a", "b"}}} {
		if err := e.Enqueue(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	leased, err := e.DequeueN(ctx, "", 2)
	if err != nil || len(leased) != 2 {
		t.Fatal(leased, err)
	}
	outcomes := []Outcome{{Task: leased[0], Err: errors.New("a broke")}, {Task: leased[1], Err: errors.New("b broke")}}
	errs, _, err := e.FinishBatch(ctx, outcomes, nil, 0, 0)
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("FinishBatch: %v, %v", errs, err)
	}
	for _, task := range leased {
		if got := taskNow(t, e, task.ID); got.State != StateFailed || got.Error == "" {
			t.Errorf("%s is %s (%q), want failed with its error", task.ID, got.State, got.Error)
		}
	}
	if got := taskNow(t, e, "d"); got.State != StateCancelled {
		t.Errorf("d is %s, want cancelled", got.State)
	}
}

// A long poll whose caller gives up while its command is still queued
// (the committer busy with a full batch) leases nothing: the task stays
// for a caller that is there.
func TestDequeueWaitWithdrawnWhileQueuedLeasesNothing(t *testing.T) {
	ctx := context.Background()
	e, log := openGated(t, WithMaxBatch(1))
	log.holdNext()
	enqueued := make(chan error, 2)
	go func() { enqueued <- e.Enqueue(ctx, &Task{ID: "t1", Func: "f", QueueName: "q"}) }()
	<-log.entered // t1's enqueue is being written
	go func() { enqueued <- e.Enqueue(ctx, &Task{ID: "t2", Func: "f", QueueName: "z"}) }()
	waitFor(t, e, "t2 prepared into the next batch", func() bool { return e.reserved["t2"] })
	pctx, cancel := context.WithCancel(ctx)
	polled := make(chan callAnswer, 1)
	go func() {
		tasks, err := e.DequeueWaitAny(pctx, []string{"q"}, 1)
		polled <- callAnswer{tasks: tasks, err: err}
	}()
	waitFor(t, e, "the long poll queued", func() bool { return len(e.cmds) == 1 })
	cancel()
	log.release()
	for range 2 {
		if err := <-enqueued; err != nil {
			t.Fatal(err)
		}
	}
	if a := <-polled; a.err != nil || len(a.tasks) != 0 {
		t.Errorf("a long poll given up while queued answered %d tasks, %v", len(a.tasks), a.err)
	}
	if got := taskNow(t, e, "t1"); got.State != StatePending {
		t.Errorf("t1 is %s at attempt %d, leased by a long poll its caller had given up", got.State, got.Attempt)
	}
}

// FinishBatch whose ctx ends while the lease it staged is being written
// answers with that lease: the task is not left leased to nobody.
func TestFinishBatchAnswersALeaseBeingWritten(t *testing.T) {
	ctx := context.Background()
	e, log := openGated(t)
	if err := e.Enqueue(ctx, &Task{ID: "t", Func: "f"}); err != nil {
		t.Fatal(err)
	}
	log.holdNext()
	fctx, cancel := context.WithCancel(ctx)
	res := finishAsync(fctx, e, nil, 1)
	<-log.entered // t's lease is being written
	cancel()
	select {
	case a := <-res:
		if a.err != nil {
			t.Fatalf("FinishBatch returned %v while its lease was being written (it is leased all the same)", a.err)
		}
	case <-time.After(200 * time.Millisecond):
	}
	log.release()
	a := <-res
	got := taskNow(t, e, "t")
	if got.State == StateRunning && (len(a.tasks) != 1 || a.tasks[0].ID != "t") {
		t.Fatalf("FinishBatch answered %d tasks, %v, but t is running at attempt %d: leased to nobody", len(a.tasks), a.err, got.Attempt)
	}
}
