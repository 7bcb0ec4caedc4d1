package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/file"
)

// workload drives e with random commands, as a busy queue would see them:
// enqueues with priorities, retries, TTLs, dependencies, delays and
// recurring schedules; dequeues, completions, failures, heartbeats,
// deletions, pauses, and time passing so that leases and TTLs expire and
// schedules fire.
func workload(rt *rapid.T, e *engine.Engine, clock *engine.ManualClock, maxSteps int) {
	ctx := context.Background()
	var ids []string
	held := map[string]*engine.Task{}
	queues := []string{"a", "b"}
	pick := func(rt *rapid.T, label string) string {
		if len(ids) == 0 {
			return "none"
		}
		return rapid.SampledFrom(ids).Draw(rt, label)
	}
	check := func(err error, ok ...error) {
		if err == nil {
			return
		}
		for _, o := range ok {
			if errors.Is(err, o) {
				return
			}
		}
		rt.Fatal(err)
	}
	steps := map[string]func(*rapid.T){
		"enqueue": func(rt *rapid.T) {
			task := &engine.Task{
				Func: "f", QueueName: rapid.SampledFrom(queues).Draw(rt, "queue"),
				Priority: rapid.IntRange(-2, 2).Draw(rt, "prio"), Retries: rapid.IntRange(0, 2).Draw(rt, "retries"),
				Args: []any{rapid.Int().Draw(rt, "arg"), rapid.Float64().Draw(rt, "float"), "s"},
			}
			if rapid.Bool().Draw(rt, "ttl") {
				task.TTL = time.Duration(rapid.IntRange(1, 60).Draw(rt, "ttls")) * time.Second
			}
			if len(ids) > 0 && rapid.Bool().Draw(rt, "dep") {
				task.DependsOn = []string{pick(rt, "depid")}
			}
			switch rapid.IntRange(0, 5).Draw(rt, "sched") {
			case 0:
				task.Schedule = &engine.Schedule{RunAt: clock.Now().Add(time.Duration(rapid.IntRange(1, 30).Draw(rt, "runat")) * time.Second)}
			case 1:
				task.DependsOn = nil
				task.Schedule = &engine.Schedule{Interval: time.Duration(rapid.IntRange(5, 40).Draw(rt, "every")) * time.Second}
			}
			err := e.Enqueue(ctx, task)
			check(err, engine.ErrInvalidArgument)
			if err == nil {
				ids = append(ids, task.ID)
			}
		},
		"dequeue": func(rt *rapid.T) {
			task, err := e.Dequeue(ctx, rapid.SampledFrom(queues).Draw(rt, "queue"))
			check(err)
			if task != nil {
				held[task.ID] = task
			}
		},
		"complete": func(rt *rapid.T) {
			for id, task := range held {
				check(e.Complete(ctx, task, map[string]any{"n": int64(len(id))}), engine.ErrStaleLease)
				delete(held, id)
				return
			}
		},
		"fail": func(rt *rapid.T) {
			for id, task := range held {
				check(e.Fail(ctx, task, errors.New("x")), engine.ErrStaleLease)
				delete(held, id)
				return
			}
		},
		"heartbeat": func(rt *rapid.T) {
			for _, task := range held {
				check(e.Heartbeat(ctx, task), engine.ErrStaleLease)
				return
			}
		},
		"delete": func(rt *rapid.T) {
			check(e.DeleteTask(ctx, pick(rt, "del")), engine.ErrNotFound)
		},
		"pause": func(rt *rapid.T) {
			id := pick(rt, "pause")
			if rapid.Bool().Draw(rt, "resume") {
				check(e.ResumeSchedule(ctx, id), engine.ErrNotFound, engine.ErrNotSchedule)
			} else {
				check(e.PauseSchedule(ctx, id), engine.ErrNotFound, engine.ErrNotSchedule)
			}
		},
		"advance": func(rt *rapid.T) {
			clock.Advance(time.Duration(rapid.IntRange(1, 25).Draw(rt, "secs")) * time.Second)
			for more := true; more; {
				var err error
				more, err = e.RunDue(ctx)
				check(err)
			}
		},
	}
	n := rapid.IntRange(maxSteps/5, maxSteps).Draw(rt, "steps")
	names := []string{"enqueue", "enqueue", "dequeue", "complete", "fail", "heartbeat", "delete", "pause", "advance", "advance"}
	for i := 0; i < n; i++ {
		steps[rapid.SampledFrom(names).Draw(rt, "step")](rt)
	}
}

func openEngine(t interface{ Fatal(...any) }, log stores.Log, clock *engine.ManualClock, opts ...engine.Option) *engine.Engine {
	e, err := engine.Open(context.Background(), log, append([]engine.Option{engine.WithClock(clock),
		engine.WithBackoff(func(a int) time.Duration { return time.Duration(a) * time.Second }),
		engine.WithLeaseTimeout(20 * time.Second), engine.WithWorkerID("w")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// engineOn opens an engine on log with a manual clock at start; the engine,
// then the log, are closed when the test (or the property run) ends.
func engineOn(t interface {
	Fatal(...any)
	Cleanup(func())
}, log stores.Log, opts ...engine.Option) (*engine.Engine, *engine.ManualClock) {
	t.Cleanup(func() { log.Close() })
	clock := engine.NewManualClock(start)
	e := openEngine(t, log, clock, opts...)
	t.Cleanup(func() { e.Close() })
	return e, clock
}

// smallSegments opens a file store with small segments: compaction removes
// whole segments only, so it hands archived events to the next compaction
// again.
func smallSegments(t *testing.T) *file.Log {
	t.Helper()
	l, err := file.Open(t.TempDir(), file.WithSegmentSize(8<<10))
	if err != nil {
		t.Fatal(err)
	}
	return l
}
