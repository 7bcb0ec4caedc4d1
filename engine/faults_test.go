package engine_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/omniq/omniq/engine"
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

	// A lost acknowledgement: the enqueue was written; the engine finds it
	// on its next write and both callers see the log's truth.
	log.failAfter.Store(1)
	if err := e.Enqueue(ctx, &engine.Task{ID: "ghost", Func: "f"}); !errors.Is(err, errInjected) {
		t.Fatalf("enqueue with a lost ack: %v", err)
	}
	err = e.Enqueue(ctx, &engine.Task{ID: "ghost", Func: "f"})
	if !errors.Is(err, engine.ErrLogChanged) {
		t.Fatalf("retried enqueue after a lost ack: %v, want ErrLogChanged", err)
	}
	if got, err := e.GetTask(ctx, "ghost"); err != nil || got.State != engine.StatePending {
		t.Fatalf("the written enqueue: %+v %v", got, err)
	}
	// A lease whose ack was lost: nobody holds it, so it must not be handed
	// out again under the same token.
	log.failAfter.Store(1)
	if _, err := e.Dequeue(ctx, ""); !errors.Is(err, errInjected) {
		t.Fatalf("dequeue with a lost ack: %v", err)
	}
	next, err := e.Dequeue(ctx, "")
	if next != nil && err == nil {
		t.Fatalf("handed out %s again under a lease already in the log", next.ID)
	}
	if got, _ := e.GetTask(ctx, "ghost"); got.State != engine.StateRunning {
		t.Fatalf("the written lease: %s", got.State)
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
