package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
)

const (
	// callTimeout bounds one HTTP call (a dequeue long-polls 1s of it).
	callTimeout = 10 * time.Second
	// answerBudget is how long a call without a definite answer is retried:
	// longer than any omniqd restart or server outage of the schedule.
	answerBudget = 90 * time.Second
	// taskRetries: enough that leases lost to faults never fail a task for good.
	taskRetries = 30
)

// load is the clients of one store's run: producers, workers and the
// stalling worker, all through package client, all recording into h.
type load struct {
	t            *testing.T
	h            *history
	seed         uint64
	store        string
	url          string
	leaseTimeout time.Duration
	// healthy: the drain. No injected failures, no deliberately stale answers.
	healthy atomic.Bool
}

func (l *load) client() *client.Client {
	c, err := client.New(l.url)
	if err != nil {
		panic(err) // the URL is ours
	}
	return c
}

func (l *load) rng(part string) *rand.Rand { return rngFor(l.seed, l.store, part) }

// sleep waits d or until ctx ends; it reports whether ctx is still live.
// (Pacing the load, never an assertion.)
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// call runs fn until the server decides (success or a 4xx answer),
// retrying with backoff while the outcome is unknown (no connection, a reset,
// a 5xx while the store is down or omniqd restarts), for at most budget or
// until ctx ends. retried reports whether some try got no definite answer;
// decided is false when none came.
func (l *load) call(ctx context.Context, budget time.Duration, fn func(ctx context.Context) error) (err error, retried, decided bool) {
	deadline := time.Now().Add(budget)
	delay := 20 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err = fn(cctx)
		cancel()
		if definite(err) {
			return err, retried, true
		}
		l.h.noAnswer(err)
		retried = true
		if ctx.Err() != nil || time.Now().After(deadline) || !sleep(ctx, delay) {
			return err, retried, false
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// produce enqueues tasks, one at a time or in atomic batches, until ctx
// ends. Ids are chosen here, so that a retry of an enqueue whose answer was
// lost is refused as a duplicate when the first try was written.
func (l *load) produce(ctx context.Context, p int) {
	rng := l.rng(fmt.Sprintf("producer-%d", p))
	c := l.client()
	defer c.Close()
	for n := 0; ctx.Err() == nil; {
		size := 1
		if rng.IntN(4) == 0 {
			size = 2 + rng.IntN(9)
		}
		tasks := make([]*engine.Task, size)
		for i := range tasks {
			tasks[i] = &engine.Task{ID: fmt.Sprintf("p%d-%06d", p, n), Func: funcWork, Args: []any{p, n}, Priority: rng.IntN(11) - 5, Retries: taskRetries}
			n++
		}
		l.enqueue(ctx, c, tasks)
		sleep(ctx, time.Duration(5+rng.IntN(20))*time.Millisecond)
	}
}

// enqueue enqueues tasks, one alone or an atomic batch, and records the
// outcome; it reports whether the tasks are known to be in the log.
func (l *load) enqueue(ctx context.Context, c *client.Client, tasks []*engine.Task) bool {
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	l.h.enqueueTried(ids)
	err, retried, decided := l.call(ctx, answerBudget, func(ctx context.Context) error {
		if len(tasks) == 1 {
			return c.Enqueue(ctx, tasks[0])
		}
		return c.EnqueueBatch(ctx, tasks)
	})
	switch {
	case !decided: // unknown: it may or may not be in the log
	case err == nil:
		l.h.enqueueDone(ids, enqueueAcked)
		return true
	case retried && errors.Is(err, engine.ErrDuplicateID):
		// An earlier try was written (a batch is all or none).
		l.h.enqueueDone(ids, enqueueWritten)
		return true
	default:
		l.t.Errorf("enqueue %v: %v", ids, err)
	}
	return false
}

// work leases tasks and answers them until ctx ends. Outside the drain it
// fails some first attempts, heartbeats some leases, and sends some
// deliberately stale answers after a successful one.
func (l *load) work(ctx context.Context, w int) {
	rng := l.rng(fmt.Sprintf("worker-%d", w))
	c := l.client()
	defer c.Close()
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		tasks, err := c.DequeueWait(cctx, "", 1+rng.IntN(3), time.Second)
		cancel()
		if err != nil {
			if !definite(err) {
				l.h.noAnswer(err)
			} else {
				l.t.Errorf("dequeue: %v", err)
			}
			sleep(ctx, time.Duration(20+rng.IntN(80))*time.Millisecond)
			continue
		}
		l.h.leased(tasks)
		for _, task := range tasks {
			l.run(c, rng, lease{task.ID, task.Attempt}, task.Func == funcDoom)
		}
	}
}

// send sends v for lease ls. Answers are not bound to the load's context:
// once leased, a task is answered even while the load stops.
func (l *load) send(c *client.Client, ls lease, v verb) (err error, retried, decided bool) {
	return l.call(context.Background(), answerBudget, func(ctx context.Context) error {
		task := &engine.Task{ID: ls.id, Attempt: ls.attempt}
		switch v {
		case verbComplete:
			return c.Complete(ctx, task, ls.attempt)
		case verbFail:
			return c.Fail(ctx, task, errors.New("faults: injected failure"))
		default:
			return c.Heartbeat(ctx, task)
		}
	})
}

// answer sends v for ls and records what came back.
func (l *load) answer(c *client.Client, ls lease, v verb) error {
	err, retried, decided := l.send(c, ls, v)
	if !decided {
		return err
	}
	// A lease ends under its holder when the task is deleted (stale_lease)
	// and, once deleted, compaction may forget the task (not_found).
	a := answer{lease: ls, verb: v, ok: err == nil, stale: errors.Is(err, engine.ErrStaleLease) || errors.Is(err, engine.ErrNotFound), retried: retried}
	if err != nil && !a.stale {
		l.t.Errorf("%s of %s attempt %d: %v", v, ls.id, ls.attempt, err)
	}
	l.h.answered(a)
	return err
}

// run answers lease ls; a doomed task's attempts all fail, in the drain too.
func (l *load) run(c *client.Client, rng *rand.Rand, ls lease, doomed bool) {
	healthy := l.healthy.Load()
	if !healthy && rng.IntN(8) == 0 {
		if err := l.answer(c, ls, verbHeartbeat); err != nil {
			return // the lease is gone (or unknown): it will expire and be retried
		}
	}
	v := verbComplete
	if doomed || !healthy && ls.attempt == 1 && rng.IntN(10) == 0 {
		v = verbFail
	}
	if err := l.answer(c, ls, v); err != nil || healthy || rng.IntN(30) != 0 {
		return
	}
	// The lease just ended by v: any answer naming it is stale now.
	again := []verb{verbComplete, verbFail, verbHeartbeat}[rng.IntN(3)]
	err, _, decided := l.send(c, ls, again)
	l.h.staleTried(staleTry{lease: ls, verb: again, why: "after " + string(v), err: err, definite: decided})
}

// stall leases one task at a time and holds it past its lease: it waits
// until the server no longer shows the lease as current (it expired and the
// task was retried), then sends the late heartbeat, complete and fail, in a
// random order, each of which must be refused as stale.
func (l *load) stall(ctx context.Context) {
	rng := l.rng("staller")
	c := l.client()
	defer c.Close()
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		tasks, err := c.DequeueWait(cctx, "", 1, time.Second)
		cancel()
		if err != nil || len(tasks) == 0 {
			if err != nil && !definite(err) {
				l.h.noAnswer(err)
			}
			sleep(ctx, 50*time.Millisecond)
			continue
		}
		l.h.leased(tasks)
		ls := lease{tasks[0].ID, tasks[0].Attempt}
		if rng.IntN(2) == 0 {
			_ = l.answer(c, ls, verbHeartbeat) // a live lease first; it may also have run out already
		}
		expired := l.waitLeaseEnd(c, ls, l.leaseTimeout+2*time.Minute)
		l.h.stalledLease(ls, expired)
		if !expired {
			continue
		}
		verbs := []verb{verbHeartbeat, verbComplete, verbFail}
		rng.Shuffle(len(verbs), func(i, j int) { verbs[i], verbs[j] = verbs[j], verbs[i] })
		for _, v := range verbs {
			err, _, decided := l.send(c, ls, v)
			l.h.staleTried(staleTry{lease: ls, verb: v, why: "stalled", err: err, definite: decided})
		}
		sleep(ctx, time.Duration(200+rng.IntN(1800))*time.Millisecond)
	}
}

// waitLeaseEnd polls the task until ls is no longer its current lease, for
// at most bound (omniqd may be down meanwhile). It reports whether it ended.
func (l *load) waitLeaseEnd(c *client.Client, ls lease, bound time.Duration) bool {
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		task, err := c.GetTask(ctx, ls.id)
		cancel()
		if err == nil && (task.State != engine.StateRunning || task.Attempt != ls.attempt) {
			return true
		}
		if errors.Is(err, engine.ErrNotFound) {
			return true // deleted, or ended and compacted away
		}
		if err != nil && definite(err) {
			l.t.Errorf("get %s while its lease %d stalls: %v", ls.id, ls.attempt, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
