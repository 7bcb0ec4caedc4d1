package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// runsFixture is an engine whose checkpoints over 1 MiB go one part per
// store append, holding pending tasks whose state takes a few parts.
func runsFixture(t *testing.T, sc storeCase) *fixture {
	f := newFixture(t, sc, engine.WithCheckpointRuns(1<<20, 1))
	if _, ok := f.log.(stores.Truncater); !ok {
		t.Skipf("%s does not implement stores.Truncater", sc.name)
	}
	big := strings.Repeat("x", 8<<10)
	for i := range 300 {
		f.enqueue(&engine.Task{ID: fmt.Sprintf("big%d", i), Func: "f", Args: []any{big}})
	}
	for i := range 10 {
		f.enqueue(&engine.Task{ID: fmt.Sprintf("done%d", i), Func: "g", QueueName: "small"})
		if err := f.e.Complete(f.ctx, f.dequeue("small"), i); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(time.Second)
	return f
}

// checkReplays restarts f's engine and checks that it comes back with the
// same state, and that the log verifies.
func checkReplays(t *testing.T, f *fixture) {
	t.Helper()
	before, err := f.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	f.restart()
	after, err := f.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the state after a restart differs from the state before it")
	}
	rep, err := audit.Verify(f.ctx, f.log, audit.Options{Strict: true})
	if err != nil || rep.Err() != nil {
		t.Fatalf("verify: %v, %v", err, rep.Err())
	}
}

// A checkpoint larger than a run is appended in runs, one after the other,
// and is then a checkpoint like any other: the log starts at its first
// part, a restart replays from it, and verify accepts it.
func TestCheckpointInRuns(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		f := runsFixture(t, sc)
		appends := f.appends.n.Load()
		res, err := f.e.Compact(f.ctx, f.clock.Now(), &sliceArchive{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Parts < 4 || res.Dropped != 10 || res.First > res.Checkpoint-uint64(res.Parts) {
			t.Fatalf("compaction: %+v, want at least 4 parts, 10 dropped, nothing before the first part needed", res)
		}
		if n, want := f.appends.n.Load()-appends, 1+int64(compactingNotices(f.log)); n != want {
			t.Fatalf("the compaction counted as %d appends, want %d (its runs are one batch, after its notice on a shared log)", n, want)
		}
		evs, err := f.log.Read(f.ctx, res.Checkpoint-uint64(res.Parts), res.Parts+2)
		if err != nil || len(evs) != res.Parts+1 {
			t.Fatalf("read the checkpoint back: %d events, %v", len(evs), err)
		}
		for i, ev := range evs[:res.Parts] {
			if p, ok := ev.Payload.(*events.LogCheckpointPart); !ok || p.Index != i {
				t.Fatalf("event %d of the checkpoint is %s, want part %d", ev.Position, ev.Type(), i)
			}
		}
		if got, err := f.e.GetTask(f.ctx, "big299"); err != nil || got.State != engine.StatePending {
			t.Fatalf("a pending task after the checkpoint: %+v, %v", got, err)
		}
		checkReplays(t, f)
	})
}

// failingRuns lets a number of appends through, then refuses one: a
// checkpoint in runs fails part-way.
type failingRuns struct {
	stores.Log
	pass atomic.Int32 // appends let through before the one refused (-1: none refused)
}

var errRunRefused = errors.New("run refused")

func (l *failingRuns) next() error {
	if l.pass.Add(-1) == -1 {
		return errRunRefused
	}
	return nil
}

func (l *failingRuns) Append(ctx context.Context, b []events.Event) (uint64, error) {
	if err := l.next(); err != nil {
		return 0, err
	}
	return l.Log.Append(ctx, b)
}

// TruncateBefore and First keep compaction possible through the wrapper.
func (l *failingRuns) TruncateBefore(ctx context.Context, pos uint64) error {
	return l.Log.(stores.Truncater).TruncateBefore(ctx, pos)
}

func (l *failingRuns) First(ctx context.Context) (uint64, error) {
	return l.Log.(stores.Truncater).First(ctx)
}

// conditionalFailingRuns is failingRuns over a log several engines may
// share: the engine appends through AppendAt.
type conditionalFailingRuns struct{ *failingRuns }

func (l conditionalFailingRuns) AppendAt(ctx context.Context, after uint64, b []events.Event) (uint64, error) {
	if err := l.next(); err != nil {
		return 0, err
	}
	return l.Log.(stores.Conditional).AppendAt(ctx, after, b)
}

// A checkpoint whose runs stop part-way leaves parts in the log that no
// checkpoint follows. They change nothing: the engine folds them, goes on
// serving, compacts again later, and a restart and verify agree.
func TestCheckpointRunsFailingPartWay(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		inner, reopen := sc.open(t)
		fl := &failingRuns{Log: inner}
		fl.pass.Store(-1 << 30)
		var log stores.Log = fl
		if _, ok := inner.(stores.Conditional); ok {
			log = conditionalFailingRuns{fl}
		}
		if _, ok := inner.(stores.Truncater); !ok {
			t.Skipf("%s does not implement stores.Truncater", sc.name)
		}
		f := runsFixture(t, storeCase{sc.name, func(testing.TB) (stores.Log, func() stores.Log) { return log, reopen }})
		head := f.head()
		fl.pass.Store(2) // two parts go in, the third is refused
		if _, err := f.e.Compact(f.ctx, f.clock.Now(), &sliceArchive{}); !errors.Is(err, errRunRefused) {
			t.Fatalf("a compaction whose third run is refused: %v", err)
		}
		fl.pass.Store(-1 << 30)
		if h := f.head(); h != head+2 {
			t.Fatalf("the log's head went from %d to %d, want the two parts written", head, h)
		}
		// The engine goes on: the parts are inert, the next event drops them.
		f.enqueue(&engine.Task{ID: "after", Func: "f", QueueName: "small"})
		if got := f.state("big0"); got != engine.StatePending {
			t.Fatalf("big0 is %s after the failed checkpoint", got)
		}
		if got := f.state("done3"); got != engine.StateCompleted {
			t.Fatalf("done3 is %s after the failed checkpoint (nothing was compacted)", got)
		}
		checkReplays(t, f)
		// A later compaction succeeds and its truncation removes the parts.
		res, err := f.e.Compact(f.ctx, f.clock.Now(), &sliceArchive{})
		if err != nil || res.Dropped != 10 || res.First > res.Checkpoint-uint64(res.Parts) {
			t.Fatalf("the next compaction: %+v, %v", res, err)
		}
		checkReplays(t, f)
	})
}
