package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
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
	urls         []string // one omniqd, or the nodes of a cluster
	leaseTimeout time.Duration
	// timeout bounds one HTTP call (0: callTimeout). A cluster's is shorter,
	// so that a client stuck on a paused node moves on to another.
	timeout time.Duration
	// healthy: the drain. No injected failures, no deliberately stale answers.
	healthy atomic.Bool
	// cluster: the workers take a while over each task, keepers hold theirs
	// past the lease timeout with heartbeats through every node in turn,
	// and those co-located with a node killed with died set die with it.
	cluster bool
	// died counts, per node, the kills its co-located workers died in: a
	// worker holding a lease granted through that node since before such a
	// kill abandons it (no answer), as a worker process killed with its
	// node would.
	died []atomic.Uint64
	// holding counts, per node, the leases granted through it that workers
	// hold now (the schedule aims some faults at a node holding some).
	holding []atomic.Int64
	// backlog is the tasks ready and not leased (GET /v1/stats), when
	// watched: a cluster's producers wait while it exceeds maxBacklog, so
	// that a task handed back by a lease expiry is leased again soon after
	// its retry is due, and the failover figures measure the failover, not
	// a queue that only grows.
	backlog atomic.Int64
}

// maxBacklog is the backlog above which a cluster's producers wait.
const maxBacklog = 300

// watchBacklog keeps l.backlog current until ctx ends.
func (l *load) watchBacklog(ctx context.Context, home int) {
	cn := l.conn(home)
	defer cn.Close()
	for sleep(ctx, 200*time.Millisecond) {
		var st engine.Stats
		err := cn.try(ctx, func(ctx context.Context, c *client.Client) (err error) {
			st, err = c.Stats(ctx)
			return err
		})
		if err != nil {
			continue
		}
		n := 0
		for _, counts := range st.Queues {
			n += counts[engine.StatePending]
		}
		l.backlog.Store(int64(n))
	}
}

// paced waits while the backlog is over maxBacklog, at most a second (a
// cluster's load only): enqueues go on, slower, whatever the backlog.
func (l *load) paced(ctx context.Context) {
	for end := time.Now().Add(time.Second); l.cluster && l.backlog.Load() > maxBacklog && time.Now().Before(end); {
		if !sleep(ctx, 20*time.Millisecond) {
			return
		}
	}
}

func newLoad(t *testing.T, h *history, seed uint64, store string, urls []string, leaseTimeout time.Duration) *load {
	return &load{t: t, h: h, seed: seed, store: store, urls: urls, leaseTimeout: leaseTimeout,
		died: make([]atomic.Uint64, len(urls)), holding: make([]atomic.Int64, len(urls))}
}

// conn is one client of the load: it talks to one node (its home) and, on
// a call that got no answer (connection refused or reset, a timeout) or a
// 503, moves to the next node for its next try; after goHomeAfter away it
// goes back home. With one omniqd it is a plain client.
type conn struct {
	l       *load
	clients []*client.Client // one per node
	home    int
	cur     int       // the node the next try goes to
	last    int       // the node the last try went to
	left    time.Time // when it left home
}

// goHomeAfter is how long a client that moved off its node stays away.
const goHomeAfter = 5 * time.Second

func (l *load) conn(home int) *conn {
	home %= len(l.urls)
	cn := &conn{l: l, home: home, cur: home, last: home}
	for _, u := range l.urls {
		c, err := client.New(u)
		if err != nil {
			panic(err) // the URLs are ours
		}
		cn.clients = append(cn.clients, c)
	}
	return cn
}

func (cn *conn) Close() {
	for _, c := range cn.clients {
		c.Close()
	}
}

// next moves the client to the next node (a heartbeat through another
// node than the lease's).
func (cn *conn) next() {
	if cn.cur == cn.home {
		cn.left = time.Now()
	}
	cn.cur = (cn.cur + 1) % len(cn.clients)
}

// try runs fn once, through the client's current node, bounded by the
// load's call timeout.
func (cn *conn) try(ctx context.Context, fn func(context.Context, *client.Client) error) error {
	if cn.cur != cn.home && time.Since(cn.left) > goHomeAfter {
		cn.cur = cn.home
	}
	timeout := cn.l.timeout
	if timeout <= 0 {
		timeout = callTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	cn.last = cn.cur
	err := fn(cctx, cn.clients[cn.cur])
	cancel()
	if len(cn.clients) > 1 && movesOn(err) {
		cn.next()
	}
	return err
}

// movesOn reports whether a client moves to another node after err: no
// answer, or a 503 (the node's store is unreachable, it is starting or
// stopping).
func movesOn(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusServiceUnavailable
	}
	return true
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

// call runs fn through cn until the server decides (success or a 4xx answer),
// retrying with backoff while the outcome is unknown (no connection, a reset,
// a 5xx while the store is down or omniqd restarts), for at most budget or
// until ctx ends. retried reports whether some try got no definite answer;
// decided is false when none came.
func (l *load) call(ctx context.Context, cn *conn, budget time.Duration, fn func(context.Context, *client.Client) error) (err error, retried, decided bool) {
	deadline := time.Now().Add(budget)
	delay := 20 * time.Millisecond
	for {
		err = cn.try(ctx, fn)
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
	c := l.conn(p)
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
		l.paced(ctx)
	}
}

// enqueue enqueues tasks, one alone or an atomic batch, and records the
// outcome; it reports whether the tasks are known to be in the log.
func (l *load) enqueue(ctx context.Context, cn *conn, tasks []*engine.Task) bool {
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	l.h.enqueueTried(ids)
	err, retried, decided := l.call(ctx, cn, answerBudget, func(ctx context.Context, c *client.Client) error {
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
	cn := l.conn(w)
	defer cn.Close()
	for ctx.Err() == nil {
		tasks, ok := l.dequeue(ctx, cn, rng, 1+rng.IntN(3))
		if !ok {
			continue
		}
		node := cn.last
		died := l.died[node].Load()
		l.holding[node].Add(int64(len(tasks)))
		for _, task := range tasks {
			ls := lease{task.ID, task.Attempt}
			if l.diedWith(node, died) {
				l.h.abandonedLease(ls)
			} else {
				l.run(cn, rng, ls, task.Func == funcDoom, node, died, false)
			}
			l.holding[node].Add(-1)
		}
	}
}

// keep is a cluster's worker for long tasks: it leases one task at a time
// and, outside the drain, holds it for 1.5 to 2.5 lease timeouts, kept by
// heartbeats each through the next node: a heartbeat through one node must
// hold the lease against every node's timers.
func (l *load) keep(ctx context.Context, home int) {
	rng := l.rng(fmt.Sprintf("keeper-%d", home))
	cn := l.conn(home)
	defer cn.Close()
	for ctx.Err() == nil {
		tasks, ok := l.dequeue(ctx, cn, rng, 1)
		if !ok {
			continue
		}
		node := cn.last
		died := l.died[node].Load()
		for _, task := range tasks {
			l.holding[node].Add(1)
			l.run(cn, rng, lease{task.ID, task.Attempt}, task.Func == funcDoom, node, died, true)
			l.holding[node].Add(-1)
		}
	}
}

// dequeue leases up to n tasks through cn and records them in the history.
// When the dequeue fails it records the missing answer (or reports a
// definite error), pauses a moment and returns false.
func (l *load) dequeue(ctx context.Context, cn *conn, rng *rand.Rand, n int) ([]*engine.Task, bool) {
	var tasks []*engine.Task
	err := cn.try(ctx, func(ctx context.Context, c *client.Client) (err error) {
		tasks, err = c.DequeueWait(ctx, "", n, time.Second)
		return err
	})
	if err != nil {
		if !definite(err) {
			l.h.noAnswer(err)
		} else {
			l.t.Errorf("dequeue: %v", err)
		}
		sleep(ctx, time.Duration(20+rng.IntN(80))*time.Millisecond)
		return nil, false
	}
	l.h.leased(tasks)
	return tasks, true
}

// diedWith reports whether the workers co-located with node died since
// they read died: a lease granted through node before is abandoned.
func (l *load) diedWith(node int, died uint64) bool {
	return l.cluster && l.died[node].Load() != died
}

// send sends v for lease ls. Answers are not bound to the load's context:
// once leased, a task is answered even while the load stops.
func (l *load) send(cn *conn, ls lease, v verb) (err error, retried, decided bool) {
	return l.call(context.Background(), cn, answerBudget, func(ctx context.Context, c *client.Client) error {
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
func (l *load) answer(cn *conn, ls lease, v verb) error {
	err, retried, decided := l.send(cn, ls, v)
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

// run answers lease ls, granted through node; a doomed task's attempts all
// fail, in the drain too. In a cluster, outside the drain, the task takes a
// while first (up to 20 ms), or, when long, is held for 1.5 to 2.5 lease
// timeouts with a heartbeat every third of one, each through the next node;
// a lease whose node was killed meanwhile with its workers is abandoned.
func (l *load) run(cn *conn, rng *rand.Rand, ls lease, doomed bool, node int, died uint64, long bool) {
	healthy := l.healthy.Load()
	if l.cluster && !healthy {
		if long {
			end := time.Now().Add(l.leaseTimeout * time.Duration(3+rng.IntN(3)) / 2)
			for time.Now().Before(end) {
				time.Sleep(l.leaseTimeout / 3)
				if l.diedWith(node, died) {
					l.h.abandonedLease(ls)
					return
				}
				cn.next()
				if err := l.answer(cn, ls, verbHeartbeat); err != nil {
					return // the lease is gone (or unknown): it expires and is retried
				}
			}
		} else {
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
		if l.diedWith(node, died) {
			l.h.abandonedLease(ls)
			return
		}
	}
	if !healthy && rng.IntN(8) == 0 {
		if err := l.answer(cn, ls, verbHeartbeat); err != nil {
			return // the lease is gone (or unknown): it will expire and be retried
		}
	}
	v := verbComplete
	if doomed || !healthy && ls.attempt == 1 && rng.IntN(10) == 0 {
		v = verbFail
	}
	if err := l.answer(cn, ls, v); err != nil || healthy || rng.IntN(30) != 0 {
		return
	}
	// The lease just ended by v: any answer naming it is stale now.
	again := []verb{verbComplete, verbFail, verbHeartbeat}[rng.IntN(3)]
	err, _, decided := l.send(cn, ls, again)
	l.h.staleTried(staleTry{lease: ls, verb: again, why: "after " + string(v), err: err, definite: decided})
}

// stall leases one task at a time and holds it past its lease: it waits
// until the server no longer shows the lease as current (it expired and the
// task was retried), then sends the late heartbeat, complete and fail, in a
// random order, each of which must be refused as stale.
func (l *load) stall(ctx context.Context, home int) {
	rng := l.rng("staller")
	cn := l.conn(home)
	defer cn.Close()
	for ctx.Err() == nil {
		var tasks []*engine.Task
		err := cn.try(ctx, func(ctx context.Context, c *client.Client) (err error) {
			tasks, err = c.DequeueWait(ctx, "", 1, time.Second)
			return err
		})
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
			_ = l.answer(cn, ls, verbHeartbeat) // a live lease first; it may also have run out already
		}
		expired := l.waitLeaseEnd(cn, ls, l.leaseTimeout+2*time.Minute)
		l.h.stalledLease(ls, expired)
		if !expired {
			continue
		}
		verbs := []verb{verbHeartbeat, verbComplete, verbFail}
		rng.Shuffle(len(verbs), func(i, j int) { verbs[i], verbs[j] = verbs[j], verbs[i] })
		for _, v := range verbs {
			err, _, decided := l.send(cn, ls, v)
			l.h.staleTried(staleTry{lease: ls, verb: v, why: "stalled", err: err, definite: decided})
		}
		sleep(ctx, time.Duration(200+rng.IntN(1800))*time.Millisecond)
	}
}

// waitLeaseEnd polls the task until ls is no longer its current lease, for
// at most bound (omniqd may be down meanwhile). It reports whether it ended.
func (l *load) waitLeaseEnd(cn *conn, ls lease, bound time.Duration) bool {
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); {
		var task *engine.Task
		err := cn.try(context.Background(), func(ctx context.Context, c *client.Client) (err error) {
			task, err = c.GetTask(ctx, ls.id)
			return err
		})
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
