package engine_test

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
)

// TestActionsReplayEqualsLive drives the engine with random sequences of
// commands and operator actions (retries, cancels, batch deletes, queue
// pauses): every refusal is one of the documented errors, the live state
// equals the state rebuilt from the log and from a snapshot taken part
// way, and the log verifies strictly (no lease from a paused queue, no
// retry of a task that had not ended badly).
func TestActionsReplayEqualsLive(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		r := openPropertyRun(rt)
		ctx, log, clock, e, held, queues := r.ctx, r.log, r.clock, r.e, r.held, r.queues
		pickID := r.pickID
		var err error
		rt.Repeat(map[string]func(*rapid.T){
			"enqueue": func(rt *rapid.T) {
				task := &engine.Task{
					Func: "f", QueueName: rapid.SampledFrom(queues).Draw(rt, "queue"),
					Retries: rapid.IntRange(0, 1).Draw(rt, "retries"), Args: []any{rapid.Int().Draw(rt, "arg")},
				}
				if rapid.Bool().Draw(rt, "ttl") {
					task.TTL = time.Duration(rapid.IntRange(1, 30).Draw(rt, "ttls")) * time.Second
				}
				if len(r.ids) > 0 && rapid.Bool().Draw(rt, "dep") {
					task.DependsOn = []string{pickID(rt, "depid")}
				}
				if rapid.IntRange(0, 4).Draw(rt, "sched") == 0 {
					task.Schedule = &engine.Schedule{RunAt: clock.Now().Add(time.Duration(rapid.IntRange(1, 30).Draw(rt, "runat")) * time.Second)}
				}
				err := e.Enqueue(ctx, task)
				refused(rt, err, engine.ErrInvalidArgument)
				if err == nil {
					r.ids = append(r.ids, task.ID)
				}
			},
			"dequeue": func(rt *rapid.T) {
				tasks, err := e.DequeueN(ctx, rapid.SampledFrom(queues).Draw(rt, "queue"), rapid.IntRange(1, 3).Draw(rt, "n"))
				if err != nil {
					rt.Fatal(err)
				}
				for _, task := range tasks {
					held[task.ID] = task
				}
			},
			"finish": func(rt *rapid.T) {
				for id, task := range held {
					if rapid.Bool().Draw(rt, "ok") {
						err = e.Complete(ctx, task, "ok")
					} else {
						err = e.Fail(ctx, task, errors.New("x"))
					}
					refused(rt, err, engine.ErrStaleLease)
					delete(held, id)
					return
				}
			},
			"retry": func(rt *rapid.T) {
				refused(rt, e.Retry(ctx, pickID(rt, "retry")), engine.ErrTaskState, engine.ErrNotFound)
			},
			"cancel": func(rt *rapid.T) {
				refused(rt, e.Cancel(ctx, pickID(rt, "cancel")), engine.ErrTaskState, engine.ErrNotFound)
			},
			"batch": func(rt *rapid.T) {
				batch := []string{"none", ""}
				if len(r.ids) > 0 {
					batch = rapid.SliceOfN(rapid.SampledFrom(r.ids), 1, 4).Draw(rt, "ids")
				}
				var errs []error
				switch rapid.IntRange(0, 2).Draw(rt, "action") {
				case 0:
					errs, err = e.RetryTasks(ctx, batch)
				case 1:
					errs, err = e.CancelTasks(ctx, batch)
				default:
					errs, err = e.DeleteTasks(ctx, batch)
				}
				if err != nil || len(errs) != len(batch) {
					rt.Fatalf("batch of %d: %d answers, %v", len(batch), len(errs), err)
				}
				for _, err := range errs {
					refused(rt, err, engine.ErrTaskState, engine.ErrNotFound, engine.ErrInvalidArgument)
				}
			},
			"pause": func(rt *rapid.T) {
				q := rapid.SampledFrom(queues).Draw(rt, "queue")
				if rapid.Bool().Draw(rt, "resume") {
					refused(rt, e.ResumeQueue(ctx, q), engine.ErrTaskState)
				} else {
					refused(rt, e.PauseQueue(ctx, q), engine.ErrTaskState)
				}
			},
			"advance": r.advance,
		})
		live, rebuilt := r.checkReplay(rt)
		if mid := rapid.Uint64Range(0, rebuilt.Position()).Draw(rt, "snapshot at"); mid > 0 {
			r.checkSnapshotReplay(rt, live, rebuilt, mid, "snapshot")
		}
		rep, err := audit.Verify(ctx, log, audit.Options{Strict: true})
		if err != nil {
			rt.Fatal(err)
		}
		if rep.BreachCount > 0 {
			rt.Fatalf("verify: %d breaches, first: %+v", rep.BreachCount, rep.Breaches[0])
		}
	})
}
