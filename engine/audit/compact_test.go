package audit_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// jsonlArchive keeps the events compaction removes as JSON Lines, the form
// `omniqd export` writes.
type jsonlArchive struct{ buf bytes.Buffer }

func (a *jsonlArchive) Write(ctx context.Context, evs []events.Event) error {
	for _, ev := range evs {
		line, err := eventjson.Marshal(nil, ev)
		if err != nil {
			return err
		}
		a.buf.Write(line)
	}
	return nil
}
func (a *jsonlArchive) Sync(context.Context) error { return nil }
func (a *jsonlArchive) String() string             { return "test://archive" }

// compacted writes a history, compacts it (tasks ended more than a minute
// ago are left out), and writes some more.
func compacted(t *testing.T) (*memory.Log, *engine.Engine, *jsonlArchive, engine.CompactResult) {
	t.Helper()
	ctx := context.Background()
	log := memory.New()
	e, clock := engineOn(t, log, engine.WithSnapshotEvery(0))
	for i := 0; i < 6; i++ {
		if err := e.Enqueue(ctx, &engine.Task{Func: "f"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		task, err := e.Dequeue(ctx, "")
		if err != nil || task == nil {
			t.Fatal(task, err)
		}
		if i%2 == 0 {
			err = e.Complete(ctx, task, int64(i))
		} else {
			err = e.Fail(ctx, task, errors.New("x"))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(10 * time.Minute)
	leased, err := e.Dequeue(ctx, "") // a lease open across the checkpoint
	if err != nil || leased == nil {
		t.Fatal(leased, err)
	}
	arch := &jsonlArchive{}
	res, err := e.Compact(ctx, clock.Now().Add(-time.Minute), arch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped == 0 || res.First != res.Checkpoint {
		t.Fatalf("compaction dropped nothing or kept old events: %+v", res)
	}
	clock.Advance(5 * time.Second) // within the lease
	if err := e.Complete(ctx, leased, "after"); err != nil {
		t.Fatal(err)
	}
	if err := e.Enqueue(ctx, &engine.Task{Func: "g"}); err != nil {
		t.Fatal(err)
	}
	return log, e, arch, res
}

func TestVerifyCompactedLog(t *testing.T) {
	log, e, arch, res := compacted(t)
	rep := verify(t, log, audit.Options{Strict: true})
	if !rep.OK() || rep.First != res.First || rep.Checkpoints != 1 || rep.StateStoppedAt != 0 {
		t.Fatalf("compacted log: first %d, checkpoints %d:\n%s", rep.First, rep.Checkpoints, describe(rep))
	}

	// The archive followed by the log is the whole log again, with the
	// checkpoint in the middle: its state is now checked against the events.
	whole := append(arch.buf.Bytes(), export(t, log)...)
	target := memory.New()
	defer target.Close()
	if _, err := audit.Import(context.Background(), target, bytes.NewReader(whole), audit.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	rep = verify(t, target, audit.Options{Strict: true})
	if head, _ := log.Head(context.Background()); !rep.OK() || rep.First != 1 || rep.Checkpoints != 1 || rep.Events != head {
		t.Fatalf("archive + log:\n%s", describe(rep))
	}
	live, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(live, rebuilt(t, target)) || !bytes.Equal(live, rebuilt(t, log)) {
		t.Fatal("archive + log, or the compacted log, rebuild another state than the live one")
	}

	// The log alone cannot go into an empty store: its positions start late.
	_, err = audit.Import(context.Background(), memory.New(), bytes.NewReader(export(t, log)), audit.ImportOptions{})
	if !errors.Is(err, audit.ErrPositions) || !strings.Contains(err.Error(), "archive") {
		t.Fatalf("importing a compacted log alone: err = %v, want ErrPositions naming the archive", err)
	}
}

func TestVerifyCheckpointBreaches(t *testing.T) {
	ctx := context.Background()
	t.Run("state differs from the events", func(t *testing.T) {
		r := newRawLog(t)
		r.add("a", enq(events.TaskSpec{}), "b", enq(events.TaskSpec{}))
		r.add("", &events.LogCheckpoint{State: stateOf(t, enqueued("a", "c"))}) // #3
		rep := verify(t, r.log, audit.Options{})
		if len(rep.Breaches) != 1 || rep.Breaches[0].Rule != audit.RuleCheckpointMismatch || rep.Breaches[0].Position != 3 || rep.Breaches[0].TaskID != "b" {
			t.Fatalf("want a checkpoint mismatch at 3 naming b:\n%s", describe(rep))
		}
	})
	t.Run("written before the edges section", func(t *testing.T) {
		// b depends on a and has ended: a snapshot today holds that edge
		// in its edges section; a checkpoint written before the section
		// existed does not, and is still the state of the events before it.
		r := newRawLog(t)
		r.add("a", enq(events.TaskSpec{}), "b", enq(events.TaskSpec{DependsOn: []string{"a"}}), "b", &events.TaskDeleted{})
		st := projections.New()
		if err := stores.ReadAll(ctx, r.log, 1, 1024, st.Apply); err != nil {
			t.Fatal(err)
		}
		legacy, _, err := st.CompactedSnapshotWithoutEdges(0)
		if err != nil {
			t.Fatal(err)
		}
		if now, _, _ := st.CompactedSnapshot(0); bytes.Equal(now, legacy) {
			t.Fatal("the state has no edges section to leave out: the case tests nothing")
		}
		r.add("", &events.LogCheckpoint{State: legacy})
		if rep := verify(t, r.log, audit.Options{Strict: true}); !rep.OK() {
			t.Fatalf("a checkpoint without the edges section:\n%s", describe(rep))
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		r := newRawLog(t)
		r.add("a", enq(events.TaskSpec{}))
		r.add("", &events.LogCheckpoint{State: []byte("junk")})
		if rep := verify(t, r.log, audit.Options{}); !rep.Has(audit.RuleCheckpointMismatch) {
			t.Fatalf("an unreadable checkpoint is not reported:\n%s", describe(rep))
		}
	})
	t.Run("truncated without a checkpoint", func(t *testing.T) {
		r := newRawLog(t)
		r.add("a", enq(events.TaskSpec{}), "b", enq(events.TaskSpec{}), "c", enq(events.TaskSpec{}))
		if err := r.log.TruncateBefore(ctx, 2); err != nil {
			t.Fatal(err)
		}
		rep := verify(t, r.log, audit.Options{})
		if !rep.Has(audit.RulePositions) || rep.First != 2 || rep.StateStoppedAt != 2 || rep.Events != 2 {
			t.Fatalf("want a positions breach for a log cut without a checkpoint:\n%s", describe(rep))
		}
	})
}

func TestReplayCompactedLog(t *testing.T) {
	ctx := context.Background()
	log, e, _, res := compacted(t)
	head, _ := log.Head(ctx)
	if _, err := audit.Replay(ctx, log, audit.Until{Position: res.Checkpoint - 1}, audit.ReplayOptions{}); !errors.Is(err, audit.ErrCompacted) {
		t.Fatalf("before the checkpoint: err = %v, want ErrCompacted", err)
	}
	if _, err := audit.Replay(ctx, log, audit.Until{Time: start.Add(time.Minute)}, audit.ReplayOptions{}); !errors.Is(err, audit.ErrCompacted) {
		t.Fatalf("a time before the checkpoint: err = %v, want ErrCompacted", err)
	}
	live, _ := e.Snapshot()
	for _, u := range []audit.Until{{Position: head}, {Time: start.Add(time.Hour)}} {
		p, err := audit.Replay(ctx, log, u, audit.ReplayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := p.State.Snapshot()
		if p.Position != head || !bytes.Equal(got, live) {
			t.Fatalf("until %s: position %d, state equal %v", u, p.Position, bytes.Equal(got, live))
		}
	}
	p, err := audit.Replay(ctx, log, audit.Until{Position: res.Checkpoint}, audit.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.Summarize(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Queues["default"]; got["running"] != 1 || got["pending"] != 1 || got["completed"]+got["failed"] != 0 {
		t.Fatalf("at the checkpoint: %v, want the ended tasks left out", got)
	}
}
