package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// sliceArchive keeps archived events in memory.
type sliceArchive struct {
	evs    []events.Event
	synced int
}

func (a *sliceArchive) Write(_ context.Context, evs []events.Event) error {
	a.evs = append(a.evs, evs...)
	return nil
}
func (a *sliceArchive) Sync(context.Context) error { a.synced = len(a.evs); return nil }
func (a *sliceArchive) String() string             { return "memory archive" }

func TestCompaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc)
		if _, ok := f.log.(stores.Truncater); !ok {
			if _, err := f.e.Compact(f.ctx, start, &sliceArchive{}); !errors.Is(err, engine.ErrCompactionUnsupported) {
				t.Fatalf("compact on a log without truncation: %v", err)
			}
			t.Skipf("%s does not implement stores.Truncater", sc.name)
		}
		// Old finished work, live work, and a dependency on live work.
		for i := 0; i < 30; i++ {
			task := f.enqueue(&engine.Task{ID: fmt.Sprintf("old%d", i), Func: "f"})
			leased := f.dequeue("")
			if err := f.e.Complete(f.ctx, leased, i); err != nil {
				t.Fatal(err)
			}
			_ = task
		}
		f.clock.Advance(time.Hour)
		f.enqueue(&engine.Task{ID: "live", Func: "f", Priority: 5})
		f.enqueue(&engine.Task{ID: "dep", Func: "f", DependsOn: []string{"live"}})
		f.enqueue(&engine.Task{ID: "sched", Func: "f", Schedule: &engine.Schedule{Interval: time.Minute}})
		running := f.enqueue(&engine.Task{ID: "run", Func: "f", QueueName: "r"})
		_ = running
		runLease := f.dequeue("r")
		headBefore := f.head()

		archive := &sliceArchive{}
		res, err := f.e.Compact(f.ctx, start.Add(30*time.Minute), archive)
		if err != nil {
			t.Fatal(err)
		}
		n := compactingNotices(f.log)
		if res.Checkpoint != headBefore+n+1 || res.Dropped != 30 || res.Archived != int(headBefore+n) || archive.synced != res.Archived {
			t.Fatalf("compaction result %+v (head before %d, synced %d)", res, headBefore, archive.synced)
		}
		for i, ev := range archive.evs {
			if ev.Position != uint64(i+1) {
				t.Fatalf("archive event %d at position %d", i, ev.Position)
			}
		}
		if _, err := f.e.GetTask(f.ctx, "old3"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("compacted task: %v, want ErrNotFound", err)
		}
		if f.state("dep") != engine.StateWaiting || f.state("live") != engine.StatePending {
			t.Fatal("compaction changed live tasks")
		}
		live, _ := f.e.Snapshot()
		rebuilt, err := engine.Replay(f.ctx, f.log, 0)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := rebuilt.Snapshot()
		if !bytes.Equal(live, again) {
			t.Fatal("state rebuilt from the compacted log differs from the live state")
		}
		// Work goes on across the compaction and a restart.
		if err := f.e.Complete(f.ctx, runLease, "ok"); err != nil {
			t.Fatal(err)
		}
		f.restart()
		if f.state("run") != engine.StateCompleted {
			t.Fatalf("after restart: %s", f.state("run"))
		}
		if task := f.dequeue(""); task == nil || task.ID != "live" {
			t.Fatalf("after compaction and restart dequeued %+v", task)
		}
	})
}

// TestLogStaysFlatWithCompaction: under a steady load with periodic
// compaction, the number of events the log holds stays bounded.
func TestLogStaysFlatWithCompaction(t *testing.T) {
	f := newFixture(t, storeCases[0])
	tr := f.log.(stores.Truncater)
	var sizes []uint64
	for round := 0; round < 10; round++ {
		for i := 0; i < 200; i++ {
			f.enqueue(&engine.Task{Func: "f"})
			task := f.dequeue("")
			if err := f.e.Complete(f.ctx, task, nil); err != nil {
				t.Fatal(err)
			}
		}
		f.clock.Advance(time.Minute)
		if _, err := f.e.Compact(f.ctx, f.clock.Now(), &sliceArchive{}); err != nil {
			t.Fatal(err)
		}
		first, _ := tr.First(f.ctx)
		sizes = append(sizes, f.head()-first+1)
	}
	for _, n := range sizes {
		if n != sizes[0] {
			t.Fatalf("log size per round %v: not flat", sizes)
		}
	}
	if sizes[0] > 2 {
		t.Fatalf("log holds %d events after compacting everything finished", sizes[0])
	}
}

func TestSnapshotsShortenReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := newFixture(t, sc, engine.WithSnapshotEvery(10))
		ss, ok := f.log.(stores.SnapshotStore)
		if !ok {
			t.Skipf("%s keeps no snapshots", sc.name)
		}
		for i := 0; i < 25; i++ {
			f.enqueue(&engine.Task{Func: "f", Priority: i % 4})
		}
		pos, _, err := ss.LoadSnapshot(f.ctx)
		if err != nil || pos < 10 {
			t.Fatalf("periodic snapshot: position %d, %v", pos, err)
		}
		before, _ := f.e.Snapshot()
		f.restart()
		after, _ := f.e.Snapshot()
		if !bytes.Equal(before, after) {
			t.Fatal("state restored from snapshot and log differs")
		}
		if pos, _, err := f.log.(stores.SnapshotStore).LoadSnapshot(f.ctx); err != nil || pos != f.e.Position() {
			t.Fatalf("snapshot on close at %d, %v; want %d", pos, err, f.e.Position())
		}
	})
}

// compactingNotices is how many events a compaction appends to log before
// its checkpoint: a log.compacting notice on a log other engines may share
// (see Engine.Compact), none on a log one engine owns.
func compactingNotices(log stores.Log) uint64 {
	if _, ok := log.(stores.Conditional); ok {
		return 1
	}
	return 0
}
