package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/queue"
)

// The funcs and queues of the workload. Workers lease from the default
// queue only: a task in queueIdle or queueHold is never started, so it ends
// by its TTL or by a delete, and its dependants are cancelled.
const (
	funcWork  = "work"
	funcDoom  = "doom" // every attempt fails; enqueued without retries, it fails for good
	queueIdle = "idle" // tasks with a short TTL: they expire unstarted
	queueHold = "hold" // tasks the workload deletes
)

const (
	completed = projections.StatusCompleted
	failed    = projections.StatusFailed
	expired   = projections.StatusExpired
	cancelled = projections.StatusCancelled
	deleted   = projections.StatusDeleted
)

// shape is one structure the shaper enqueues: it builds the tasks (ids from
// prefix), enqueues them and records the end each is allowed.
type shape struct {
	name string
	run  func(l *load, ctx context.Context, c *conn, rng *rand.Rand, prefix string)
}

// shapes is the API beyond plain tasks that the workload uses. Every task
// of a shape is enqueued in one atomic batch (a task may depend only on
// tasks of its batch: compaction forgets ended tasks, and a dependency on a
// forgotten task is refused as unknown).
var shapes = []shape{
	{"chain", func(l *load, ctx context.Context, c *conn, rng *rand.Rand, p string) {
		// a ← b ← c, and d waiting on all three (fan-in): all complete.
		a, b, cc, d := p+"a", p+"b", p+"c", p+"d"
		l.enqueueShape(ctx, c, []*engine.Task{
			work(a, rng), work(b, rng, a), work(cc, rng, b), work(d, rng, a, b, cc),
		}, nil)
	}},
	{"doomed dependency", func(l *load, ctx context.Context, c *conn, rng *rand.Rand, p string) {
		// f fails for good; g waits on f and h on g (and on a task that
		// completes): both are cancelled.
		f := &engine.Task{ID: p + "f", Func: funcDoom}
		ok, g, h := p+"ok", p+"g", p+"h"
		l.enqueueShape(ctx, c, []*engine.Task{f, work(ok, rng), work(g, rng, f.ID), work(h, rng, g, ok)},
			map[string][]projections.Status{f.ID: {failed}, g: {cancelled}, h: {cancelled}})
	}},
	{"ttl", func(l *load, ctx context.Context, c *conn, rng *rand.Rand, p string) {
		// x is never leased and expires; y waits on x and is cancelled; z
		// races its TTL against the workers.
		x := &engine.Task{ID: p + "x", Func: funcWork, QueueName: queueIdle, TTL: time.Duration(300+rng.IntN(900)) * time.Millisecond}
		y, z := work(p+"y", rng, x.ID), work(p+"z", rng)
		z.TTL = time.Duration(20+rng.IntN(2000)) * time.Millisecond
		l.enqueueShape(ctx, c, []*engine.Task{x, y, z},
			map[string][]projections.Status{x.ID: {expired}, y.ID: {cancelled}, z.ID: {completed, expired}})
	}},
	{"run_at", func(l *load, ctx context.Context, c *conn, rng *rand.Rand, p string) {
		// r is held until a moment 0.2–3 s ahead; s waits on r.
		r := work(p+"r", rng)
		r.Schedule = &engine.Schedule{RunAt: time.Now().Add(time.Duration(200+rng.IntN(2800)) * time.Millisecond)}
		l.enqueueShape(ctx, c, []*engine.Task{r, work(p+"s", rng, r.ID)}, nil)
	}},
	{"delete held", func(l *load, ctx context.Context, c *conn, rng *rand.Rand, p string) {
		// k is never leased (some with a run_at ahead); the workload deletes
		// it, which cancels m.
		k := &engine.Task{ID: p + "k", Func: funcWork, QueueName: queueHold}
		if rng.IntN(2) == 0 {
			k.Schedule = &engine.Schedule{RunAt: time.Now().Add(time.Minute)}
		}
		m := work(p+"m", rng, k.ID)
		if l.enqueueShape(ctx, c, []*engine.Task{k, m}, map[string][]projections.Status{k.ID: {deleted}, m.ID: {cancelled}}) {
			sleep(ctx, time.Duration(rng.IntN(300))*time.Millisecond)
		}
		// Also when the enqueue's outcome is unknown: it may be in the log.
		l.delete(c, k.ID)
	}},
	{"delete racing the workers", func(l *load, ctx context.Context, c *conn, rng *rand.Rand, p string) {
		// n may be leased, even completed, before its delete lands; a
		// delete of an ended task is allowed too, and ends it as deleted.
		n := work(p+"n", rng)
		if !l.enqueueShape(ctx, c, []*engine.Task{n}, map[string][]projections.Status{n.ID: {completed, deleted}}) {
			return
		}
		sleep(ctx, time.Duration(rng.IntN(20))*time.Millisecond)
		if l.delete(c, n.ID) {
			l.h.expectEnd(n.ID, deleted)
		}
	}},
}

// work is a task for the workers, with retries enough to outlive the faults.
func work(id string, rng *rand.Rand, deps ...string) *engine.Task {
	return &engine.Task{ID: id, Func: funcWork, Priority: rng.IntN(11) - 5, Retries: taskRetries, DependsOn: deps}
}

// enqueueShape enqueues tasks as one batch; ends gives the allowed ends of
// the tasks not expected to complete.
func (l *load) enqueueShape(ctx context.Context, c *conn, tasks []*engine.Task, ends map[string][]projections.Status) bool {
	for id, e := range ends {
		l.h.expectEnd(id, e...)
	}
	return l.enqueue(ctx, c, tasks)
}

// delete deletes task id. It is not bound to the load's context: a task
// enqueued to be deleted is deleted even while the load stops (a held task
// left pending would never end). It reports whether the delete is known to
// have been written.
func (l *load) delete(cn *conn, id string) bool {
	err, retried, decided := l.call(context.Background(), cn, answerBudget, func(ctx context.Context, c *client.Client) error {
		return c.DeleteTask(ctx, id)
	})
	switch {
	case !decided:
		return false
	case err == nil:
		l.h.deleted(id)
		return true
	case retried && errors.Is(err, engine.ErrNotFound):
		// An earlier try was written, or the task ended meanwhile and
		// compaction forgot it (a client that waited out a paused node
		// retries seconds later): its history says which.
		if l.deletedInHistory(cn, id) {
			l.h.deleted(id)
			return true
		}
		return false
	case errors.Is(err, engine.ErrNotFound):
		return false // it ended and was compacted away before the delete
	}
	l.t.Errorf("delete %s: %v", id, err)
	return false
}

// deletedInHistory reports whether task id's history (GET
// /v1/tasks/{id}/history: the archive's events, then the log's) holds a
// task.deleted; false also when it cannot be read.
func (l *load) deletedInHistory(cn *conn, id string) bool {
	var evs []queue.Event
	err, _, _ := l.call(context.Background(), cn, answerBudget, func(ctx context.Context, c *client.Client) (err error) {
		evs, err = c.History(ctx, id)
		return err
	})
	if err != nil {
		return false
	}
	for _, ev := range evs {
		if ev.Type == string(events.TypeTaskDeleted) {
			return true
		}
	}
	return false
}

// shape runs the shapes, one after another in a seeded order, until ctx
// ends.
func (l *load) shape(ctx context.Context, home int) {
	rng := l.rng("shaper")
	c := l.conn(home)
	defer c.Close()
	for n := 0; ctx.Err() == nil; n++ {
		s := shapes[rng.IntN(len(shapes))]
		s.run(l, ctx, c, rng, fmt.Sprintf("s%05d-", n))
		sleep(ctx, time.Duration(20+rng.IntN(60))*time.Millisecond)
		l.paced(ctx)
	}
}

// schedule runs one recurring schedule through its life over the load of
// duration d: created (every second), paused at 30% of d, resumed at 55%,
// deleted at 80%. Its changes are not bound to ctx: a schedule left firing
// would never let the drain end.
func (l *load) schedule(ctx context.Context, home int, d time.Duration) {
	began := time.Now()
	cn := l.conn(home)
	defer cn.Close()
	id := "sched-1"
	task := &engine.Task{ID: id, Func: funcWork, Retries: taskRetries, Schedule: &engine.Schedule{Interval: time.Second}}
	err, retried, decided := l.call(context.Background(), cn, answerBudget, func(ctx context.Context, c *client.Client) error { return c.Enqueue(ctx, task) })
	switch {
	case !decided:
		l.t.Errorf("create schedule %s: no answer: %v", id, err)
		return
	case err == nil, retried && errors.Is(err, engine.ErrDuplicateID):
		l.h.scheduleChanged(id, events.TypeScheduleCreated)
	default:
		l.t.Errorf("create schedule %s: %v", id, err)
		return
	}
	steps := []struct {
		at   float64
		op   events.Type
		call func(ctx context.Context, c *client.Client) error
		// again: the error a retry gets when an earlier try was written.
		again error
	}{
		{0.30, events.TypeSchedulePaused, func(ctx context.Context, c *client.Client) error { return c.PauseSchedule(ctx, id) }, engine.ErrNotSchedule},
		{0.55, events.TypeScheduleResumed, func(ctx context.Context, c *client.Client) error { return c.ResumeSchedule(ctx, id) }, engine.ErrNotSchedule},
		{0.80, events.TypeScheduleDeleted, func(ctx context.Context, c *client.Client) error { return c.DeleteTask(ctx, id) }, engine.ErrNotFound},
	}
	for _, s := range steps {
		sleep(ctx, time.Until(began.Add(time.Duration(s.at*float64(d)))))
		err, retried, decided := l.call(context.Background(), cn, answerBudget, s.call)
		switch {
		case err == nil, decided && retried && errors.Is(err, s.again):
			l.h.scheduleChanged(id, s.op)
		default:
			l.t.Errorf("%s %s: %v", s.op, id, err)
		}
	}
}
