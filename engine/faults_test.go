package engine_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

var errInjected = errors.New("injected append failure")

// faultyLog fails appends on demand: before writing (a refused write) or
// after writing (a write whose acknowledgement was lost).
type faultyLog struct {
	stores.Log
	failBefore, failAfter atomic.Int32 // appends left to fail this way
	failReads             atomic.Int32 // Head calls left to fail (the server is down)
}

func (f *faultyLog) Head(ctx context.Context) (uint64, error) {
	if f.failReads.Load() > 0 {
		f.failReads.Add(-1)
		return 0, errInjected
	}
	return f.Log.Head(ctx)
}

func (f *faultyLog) Append(ctx context.Context, b []events.Event) (uint64, error) {
	if f.failBefore.Load() > 0 {
		f.failBefore.Add(-1)
		return 0, errInjected
	}
	first, err := f.Log.Append(ctx, b)
	if err == nil && f.failAfter.Load() > 0 {
		f.failAfter.Add(-1)
		return 0, errInjected
	}
	return first, err
}

func TestAppendFailures(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	defer mem.Close()
	log := &faultyLog{Log: mem}
	e, err := engine.Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	// A refused append: the caller gets the error, nothing changes, and the
	// engine works again once the log does.
	log.failBefore.Store(1)
	if err := e.Enqueue(ctx, &engine.Task{ID: "refused", Func: "f"}); !errors.Is(err, errInjected) {
		t.Fatalf("enqueue on a failing log: %v", err)
	}
	if _, err := e.GetTask(ctx, "refused"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatal("a refused enqueue is visible")
	}
	if err := e.Enqueue(ctx, &engine.Task{ID: "a", Func: "f"}); err != nil {
		t.Fatal(err)
	}
	log.failBefore.Store(1)
	if task, err := e.Dequeue(ctx, ""); !errors.Is(err, errInjected) || task != nil {
		t.Fatalf("dequeue on a failing log: %v %v", task, err)
	}
	lease, err := e.Dequeue(ctx, "")
	if err != nil || lease == nil || lease.ID != "a" || lease.Attempt != 1 {
		t.Fatalf("after a refused lease the task is offered again: %+v %v", lease, err)
	}

	// A lost acknowledgement: the append was written but reported failed.
	// The engine reads the log before answering and finds it: success.
	log.failAfter.Store(1)
	if err := e.Enqueue(ctx, &engine.Task{ID: "ghost", Func: "f"}); err != nil {
		t.Fatalf("enqueue whose ack was lost: %v, want the log's answer (success)", err)
	}
	log.failAfter.Store(1)
	ghost, err := e.Dequeue(ctx, "")
	if err != nil || ghost == nil || ghost.ID != "ghost" {
		t.Fatalf("dequeue whose ack was lost: %+v %v", ghost, err)
	}
	// The ack is lost and the log cannot be read at once either: the
	// caller gets the error; a retry must not write the completion twice.
	log.failAfter.Store(1)
	log.failReads.Store(1)
	if err := e.Complete(ctx, ghost, "first"); !errors.Is(err, errInjected) {
		t.Fatalf("complete with a lost ack and an unreadable log: %v", err)
	}
	err = e.Complete(ctx, ghost, "retry")
	if !errors.Is(err, engine.ErrStaleLease) {
		t.Fatalf("retried complete: %v, want ErrStaleLease (the first one was written)", err)
	}
	if got, _ := e.GetTask(ctx, "ghost"); got.State != engine.StateCompleted || got.Result != "first" {
		t.Fatalf("after the lost ack: %s %v", got.State, got.Result)
	}
	rep, err := audit.Verify(ctx, mem, audit.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("verify after lost acks: %d breaches, first %v", rep.BreachCount, rep.Breaches[0])
	}
	live, _ := e.Snapshot()
	rebuilt, err := engine.Replay(ctx, mem, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := rebuilt.Snapshot()
	if !bytes.Equal(live, again) {
		t.Fatal("after append failures the live state differs from the log's")
	}
}
