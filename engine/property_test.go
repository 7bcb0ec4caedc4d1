package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
)

// TestReplayEqualsLive drives the engine with random command sequences and
// checks that projections are deterministic (docs/design.md, invariant 2):
// the live state equals the state rebuilt from the log, byte for byte in its
// snapshot, and no task is ever leased twice at once or completed under a
// stale lease.
func TestReplayEqualsLive(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		r := openPropertyRun(rt)
		ctx, log, clock, e, held, queues := r.ctx, r.log, r.clock, r.e, r.held, r.queues
		pickID := r.pickID
		rt.Repeat(map[string]func(*rapid.T){
			"enqueue": func(rt *rapid.T) {
				task := &engine.Task{
					Func:      "f",
					QueueName: rapid.SampledFrom(queues).Draw(rt, "queue"),
					Priority:  rapid.IntRange(-2, 2).Draw(rt, "prio"),
					Retries:   rapid.IntRange(0, 2).Draw(rt, "retries"),
					Args:      []any{rapid.Int().Draw(rt, "arg")},
				}
				if rapid.Bool().Draw(rt, "ttl") {
					task.TTL = time.Duration(rapid.IntRange(1, 60).Draw(rt, "ttls")) * time.Second
				}
				if len(r.ids) > 0 && rapid.Bool().Draw(rt, "dep") {
					task.DependsOn = []string{pickID(rt, "depid")}
				}
				switch rapid.IntRange(0, 5).Draw(rt, "sched") {
				case 0:
					task.Schedule = &engine.Schedule{RunAt: clock.Now().Add(time.Duration(rapid.IntRange(1, 30).Draw(rt, "runat")) * time.Second)}
				case 1:
					task.DependsOn = nil
					task.Schedule = &engine.Schedule{Interval: time.Duration(rapid.IntRange(5, 40).Draw(rt, "every")) * time.Second}
				}
				err := e.Enqueue(ctx, task)
				if err != nil && !errors.Is(err, engine.ErrInvalidArgument) {
					rt.Fatal(err)
				}
				if err == nil {
					r.ids = append(r.ids, task.ID)
				}
			},
			"dequeue": func(rt *rapid.T) {
				task, err := e.Dequeue(ctx, rapid.SampledFrom(queues).Draw(rt, "queue"))
				if err != nil {
					rt.Fatal(err)
				}
				if task != nil {
					if prev, ok := held[task.ID]; ok && prev.Attempt == task.Attempt {
						rt.Fatalf("task %s leased twice under attempt %d", task.ID, task.Attempt)
					}
					held[task.ID] = task
				}
			},
			"complete": func(rt *rapid.T) {
				for id, task := range held {
					err := e.Complete(ctx, task, "ok")
					if err != nil && !errors.Is(err, engine.ErrStaleLease) {
						rt.Fatal(err)
					}
					delete(held, id)
					return
				}
			},
			"fail": func(rt *rapid.T) {
				for id, task := range held {
					err := e.Fail(ctx, task, errors.New("x"))
					if err != nil && !errors.Is(err, engine.ErrStaleLease) {
						rt.Fatal(err)
					}
					delete(held, id)
					return
				}
			},
			"heartbeat": func(rt *rapid.T) {
				for _, task := range held {
					if err := e.Heartbeat(ctx, task); err != nil && !errors.Is(err, engine.ErrStaleLease) {
						rt.Fatal(err)
					}
					return
				}
			},
			"delete": func(rt *rapid.T) {
				err := e.DeleteTask(ctx, pickID(rt, "del"))
				if err != nil && !errors.Is(err, engine.ErrNotFound) {
					rt.Fatal(err)
				}
			},
			"pause": func(rt *rapid.T) {
				id := pickID(rt, "pause")
				var err error
				if rapid.Bool().Draw(rt, "resume") {
					err = e.ResumeSchedule(ctx, id)
				} else {
					err = e.PauseSchedule(ctx, id)
				}
				if err != nil && !errors.Is(err, engine.ErrNotFound) && !errors.Is(err, engine.ErrNotSchedule) {
					rt.Fatal(err)
				}
			},
			"advance": func(rt *rapid.T) {
				clock.Advance(time.Duration(rapid.IntRange(1, 25).Draw(rt, "secs")) * time.Second)
				for more := true; more; {
					var err error
					if more, err = e.RunDue(ctx); err != nil {
						rt.Fatal(err)
					}
				}
			},
		})
		live, err := e.Snapshot()
		if err != nil {
			rt.Fatal(err)
		}
		rebuilt, err := engine.Replay(ctx, log, 0)
		if err != nil {
			rt.Fatal(err)
		}
		again, err := rebuilt.Snapshot()
		if err != nil {
			rt.Fatal(err)
		}
		if !bytes.Equal(live, again) {
			rt.Fatalf("live state (%d bytes) differs from state rebuilt from %d events (%d bytes)", len(live), rebuilt.Position(), len(again))
		}
		if got := fmt.Sprint(e.Position()); got != fmt.Sprint(rebuilt.Position()) {
			rt.Fatalf("live position %s, rebuilt %d", got, rebuilt.Position())
		}
		// Reopened from a snapshot taken part way (its terminal tasks kept
		// cold), then from the snapshot of that restored state, the log
		// replays into the live state too.
		mid := rapid.Uint64Range(0, rebuilt.Position()).Draw(rt, "snapshot at")
		if mid > 0 {
			evs, err := log.Read(ctx, mid, 1)
			if err != nil {
				rt.Fatal(err)
			}
			// The engine snapshots between batches, never between a
			// task.lease_expired and the failure or retry that follows it.
			if len(evs) == 1 && evs[0].Type() == events.TypeTaskLeaseExpired {
				mid++
			}
		}
		for _, round := range []string{"snapshot", "snapshot of a restored state"} {
			r.checkSnapshotReplay(rt, live, mid, round)
		}
	})
}
