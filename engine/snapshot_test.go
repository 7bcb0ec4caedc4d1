package engine_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// heldSnapshots is a memory log whose SaveSnapshot waits for release.
type heldSnapshots struct {
	*memory.Log
	release     chan struct{}
	started     chan uint64 // the position of each save, as it starts
	inflight    atomic.Int32
	maxInflight atomic.Int32
}

func (h *heldSnapshots) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	n := h.inflight.Add(1)
	defer h.inflight.Add(-1)
	for m := h.maxInflight.Load(); n > m && !h.maxInflight.CompareAndSwap(m, n); m = h.maxInflight.Load() {
	}
	h.started <- position
	<-h.release
	return h.Log.SaveSnapshot(ctx, position, data)
}

// TestPeriodicSnapshotIsOffTheCommitPath: while a periodic snapshot is being
// written, commands go on being answered, no second write starts, and Close
// waits for the write and then saves a final snapshot at the head.
func TestPeriodicSnapshotIsOffTheCommitPath(t *testing.T) {
	ctx := context.Background()
	log := &heldSnapshots{Log: memory.New(), release: make(chan struct{}), started: make(chan uint64, 100)}
	defer log.Log.Close()
	e, err := engine.Open(ctx, log, engine.WithSnapshotEvery(5), engine.WithClock(engine.NewManualClock(start)))
	if err != nil {
		t.Fatal(err)
	}
	enqueue := func(n int) {
		t.Helper()
		for range n {
			// A commit path waiting for the held write would time out here.
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := e.Enqueue(cctx, &engine.Task{Func: "f"})
			cancel()
			if err != nil {
				t.Fatalf("enqueue while a snapshot is being written: %v", err)
			}
		}
	}
	enqueue(6)
	var first uint64
	select {
	case first = <-log.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no periodic snapshot started after 6 events with an interval of 5")
	}
	enqueue(30) // due several times over while the first write is held
	if n := len(log.started); n != 0 {
		t.Fatalf("%d more snapshot writes started while one was in flight", n)
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a snapshot write was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(log.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if m := log.maxInflight.Load(); m != 1 {
		t.Fatalf("%d snapshot writes in flight at once, want 1", m)
	}
	head, _ := log.Head(ctx)
	if first == 0 || first >= head {
		t.Fatalf("first snapshot at %d, head %d", first, head)
	}
	pos, data, err := log.LoadSnapshot(ctx)
	if err != nil || pos != head {
		t.Fatalf("after Close: snapshot at %d (%v), want the head %d", pos, err, head)
	}
	restored, err := projections.Restore(data)
	if err != nil {
		t.Fatal(err)
	}
	// The log without its snapshot store: a full replay.
	replayed, err := engine.Replay(ctx, struct{ stores.Log }{log.Log}, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := restored.Snapshot()
	b, _ := replayed.Snapshot()
	if !bytes.Equal(a, b) || restored.Len() != 36 {
		t.Fatalf("the final snapshot (%d tasks) is not the replayed state", restored.Len())
	}
}

// TestUnreadableSnapshotIsReplaced: a snapshot this build cannot read (an
// older format, a damaged one) costs one full replay, not one per restart:
// the engine that replayed writes a readable snapshot at Close.
func TestUnreadableSnapshotIsReplaced(t *testing.T) {
	ctx := context.Background()
	log := memory.New()
	e, err := engine.Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := e.Enqueue(ctx, &engine.Task{Func: "f"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	head, _ := log.Head(ctx)
	if err := log.SaveSnapshot(ctx, head, []byte("OQS\x01not a snapshot of this version")); err != nil {
		t.Fatal(err)
	}
	e, err = engine.Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	pos, data, err := log.LoadSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := projections.Restore(data)
	if err != nil || pos != head || st.Position() != head {
		t.Fatalf("snapshot after reopening: position %d (head %d), restore: %v", pos, head, err)
	}
}

// failingSnapshots is a memory log whose SaveSnapshot always fails.
type failingSnapshots struct {
	*memory.Log
	saves atomic.Int32
}

func (f *failingSnapshots) SaveSnapshot(context.Context, uint64, []byte) error {
	f.saves.Add(1)
	return errors.New("injected snapshot failure")
}

// TestFailedSnapshotWaitsAnInterval: a store that refuses snapshots is asked
// again one interval later, not after every batch (each try encodes the
// whole state on the committer).
func TestFailedSnapshotWaitsAnInterval(t *testing.T) {
	ctx := context.Background()
	log := &failingSnapshots{Log: memory.New()}
	e, err := engine.Open(ctx, log, engine.WithSnapshotEvery(10))
	if err != nil {
		t.Fatal(err)
	}
	const enqueues = 100
	for range enqueues {
		if err := e.Enqueue(ctx, &engine.Task{Func: "f"}); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	// One try per 10 events at most, plus the one at Close.
	if n := log.saves.Load(); n > enqueues/10+1 {
		t.Fatalf("%d snapshot tries for %d events at an interval of 10", n, enqueues)
	}
}

// TestSnapshotsSpreadOutAsTheStateGrows: a periodic snapshot waits for at
// least as many events as the last one held tasks, so that a state of
// millions of ended tasks is not encoded whole every snapshotEvery events.
// Each enqueue adds an event and a task: with an interval of 5, snapshots
// fall at 5, 10, 20, 40 and 80 events, not every 5.
func TestSnapshotsSpreadOutAsTheStateGrows(t *testing.T) {
	ctx := context.Background()
	log := &heldSnapshots{Log: memory.New(), release: make(chan struct{}), started: make(chan uint64, 100)}
	close(log.release)
	defer log.Log.Close()
	e, err := engine.Open(ctx, log, engine.WithSnapshotEvery(5))
	if err != nil {
		t.Fatal(err)
	}
	var at []uint64
	for range 100 {
		if err := e.Enqueue(ctx, &engine.Task{Func: "f"}); err != nil {
			t.Fatal(err)
		}
		// Writes are in the background, one at a time: wait for each, so
		// that none is skipped for being in flight.
		select {
		case pos := <-log.started:
			at = append(at, pos)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	want := []uint64{5, 10, 20, 40, 80}
	if !slices.Equal(at, want) {
		t.Fatalf("periodic snapshots at positions %v, want %v", at, want)
	}
}
