package engine_test

import (
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
				refused(rt, err, engine.ErrInvalidArgument)
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
					refused(rt, e.Complete(ctx, task, "ok"), engine.ErrStaleLease)
					delete(held, id)
					return
				}
			},
			"fail": func(rt *rapid.T) {
				for id, task := range held {
					refused(rt, e.Fail(ctx, task, errors.New("x")), engine.ErrStaleLease)
					delete(held, id)
					return
				}
			},
			"heartbeat": func(rt *rapid.T) {
				for _, task := range held {
					refused(rt, e.Heartbeat(ctx, task), engine.ErrStaleLease)
					return
				}
			},
			"delete": func(rt *rapid.T) {
				refused(rt, e.DeleteTask(ctx, pickID(rt, "del")), engine.ErrNotFound)
			},
			"pause": func(rt *rapid.T) {
				id := pickID(rt, "pause")
				var err error
				if rapid.Bool().Draw(rt, "resume") {
					err = e.ResumeSchedule(ctx, id)
				} else {
					err = e.PauseSchedule(ctx, id)
				}
				refused(rt, err, engine.ErrNotFound, engine.ErrNotSchedule)
			},
			"advance": r.advance,
		})
		live, rebuilt := r.checkReplay(rt)
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
			r.checkSnapshotReplay(rt, live, rebuilt, mid, round)
		}
	})
}
