package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/wire"
	"github.com/omniq/omniq/worker"
)

// Register names the handler that Work runs for tasks whose Func is
// funcName. queue.ErrInvalidHandler for an empty name, a nil handler, or a
// name already taken.
func (c *Client) Register(funcName string, h queue.Handler) error {
	return c.handlers.Register(funcName, h)
}

// Work runs registered handlers on tasks leased from the server until ctx
// is done, as engine.Work does in process: up to opts.Concurrency tasks run
// at once; idle, Work long-polls the server, so a new task starts without
// polling delay; a handler's context is cancelled when its lease expires
// (Heartbeat moves that deadline); a panic or a task with no registered
// handler fails that attempt. When ctx ends, Work stops taking tasks, waits
// for running handlers, records their outcomes, and returns nil.
//
// One loop per Work call talks to the server: it leases up to its free
// slots in one request and sends finished outcomes in batches, each batch
// leasing the next tasks in the same request (POST /v1/outcomes), so a busy
// pool makes a few round trips for many tasks rather than two per task.
//
// Unlike the embedded engine, the server going away is not the end: Work
// retries with backoff while the server is unreachable, unavailable or
// closed (a restart), and returns an error only for what retrying cannot
// fix: an invalid queue name or a refused token (ErrUnauthorized).
//
// Queues are tried in order of preference.
func (c *Client) Work(ctx context.Context, opts queue.WorkOptions) error {
	queues, err := queue.QueueList(opts.Queues)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	defer close(stop)
	go c.sweepLeases(stop)
	return worker.Run(ctx, worker.Config{
		Source: c, Queues: queues, Concurrency: opts.Concurrency, Wait: c.pollWait,
		Run: c.runLeased, Fatal: isFatal, RetryAfter: askedWait, Logger: c.logger,
		TooLarge: func(err error) bool { return errors.Is(err, queue.ErrPayloadTooLarge) },
	})
}

// Bodies of POST /v1/heartbeats (package wire's).
type (
	HeartbeatsRequest = wire.HeartbeatsRequest
	HeartbeatSpec     = wire.HeartbeatSpec
	HeartbeatsAnswer  = wire.HeartbeatsAnswer
	HeartbeatAnswer   = wire.HeartbeatAnswer
)

// HeartbeatBatch extends the leases of tasks (each named by its Attempt)
// as Heartbeat does each, in one request and one append on the server
// (POST /v1/heartbeats; more than wire.MaxHeartbeats tasks take one
// request per that many): the Work pool keeps the leases of the tasks it
// holds ahead of a free slot with it. The slice holds, per task, nil (the
// task's LeaseDeadline and UpdatedAt are the extended lease's, and a
// handler Work runs on it gets its context's deadline moved) or why not
// (queue.ErrStaleLease, queue.ErrNotFound, queue.ErrInvalidArgument for a
// nil task, …). The error is for the call as a whole, in which case
// nothing was extended; when the call takes several requests and a later
// one fails, each of its tasks gets that error in the slice instead.
func (c *Client) HeartbeatBatch(ctx context.Context, tasks []*queue.Task) ([]error, error) {
	errs := make([]error, len(tasks))
	sent := make([]int, 0, min(len(tasks), wire.MaxHeartbeats)) // index in tasks of each one sent
	first := true
	flush := func() error {
		if len(sent) == 0 {
			return nil
		}
		err := c.heartbeats(ctx, tasks, sent, errs)
		if err != nil && !first {
			for _, i := range sent {
				errs[i] = err
			}
			err = nil
		}
		first, sent = false, sent[:0]
		return err
	}
	for i, t := range tasks {
		if t == nil {
			errs[i] = fmt.Errorf("%w: nil task", queue.ErrInvalidArgument)
			continue
		}
		if sent = append(sent, i); len(sent) == wire.MaxHeartbeats {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return errs, nil
}

// heartbeats sends one POST /v1/heartbeats for tasks[i] of each i in sent
// (at most wire.MaxHeartbeats) and sets errs[i] of each from its answer.
func (c *Client) heartbeats(ctx context.Context, tasks []*queue.Task, sent []int, errs []error) error {
	req := HeartbeatsRequest{Heartbeats: make([]HeartbeatSpec, len(sent))}
	for j, i := range sent {
		req.Heartbeats[j] = HeartbeatSpec{ID: tasks[i].ID, Attempt: tasks[i].Attempt}
	}
	start := time.Now()
	var got HeartbeatsAnswer
	if err := c.do(ctx, http.MethodPost, "/v1/heartbeats", nil, &req, &got); err != nil {
		return err
	}
	if len(got.Heartbeats) != len(sent) {
		return fmt.Errorf("%w: sent %d heartbeats, server answered %d", ErrProtocol, len(sent), len(got.Heartbeats))
	}
	for j, i := range sent {
		a, t := got.Heartbeats[j], tasks[i]
		if a.Error != nil {
			errs[i] = itemError(a.Error)
			continue
		}
		t.LeaseDeadline, t.UpdatedAt = a.LeaseDeadline, a.UpdatedAt
		if l, ok := c.leases.Load(leaseKey{t.ID, t.Attempt}); ok {
			l.(*lease).extend(localDeadline(start, t))
		}
	}
	return nil
}

// askedWait is how long the server asked a refused request to wait
// (rate_limited, unavailable), for the worker pool's retries.
func askedWait(err error) time.Duration {
	if apiErr := (*Error)(nil); errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}

// runLeased runs one attempt of task, leased by a request sent at sent,
// and returns its outcome. The handler's context ends when the lease runs
// out on the local clock, unless a heartbeat extends it.
func (c *Client) runLeased(task *queue.Task, sent time.Time) queue.Outcome {
	hctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := leaseKey{task.ID, task.Attempt}
	l := watchLease(localDeadline(sent, task), cancel)
	c.leases.Store(key, l)
	result, err := c.handlers.Call(hctx, task)
	l.stop()
	c.leases.Delete(key)
	if err == nil {
		if result, err = normalizeValue("result", result); err != nil {
			err = fmt.Errorf("handler returned an unstorable result: %w", err)
		}
	}
	// The outcome is recorded even if the lease just expired: the log
	// decides (a stale answer is refused and changes nothing).
	return queue.Outcome{Task: task, Result: result, Err: err}
}

// retry runs answer until it succeeds, fails for a reason retrying cannot
// change (the server answered: stale lease, bad input, …), or ctx ends. A
// repeated answer that had in fact been recorded is refused as a stale lease
// and changes nothing.
func (c *Client) retry(ctx context.Context, answer func() error) error {
	delay := 100 * time.Millisecond
	for {
		err := answer()
		var apiErr *Error
		wait := delay
		switch {
		case err == nil:
			return nil
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests:
			wait = max(delay, apiErr.RetryAfter) // refused, nothing changed: retry when told
		case errors.As(err, &apiErr) && apiErr.Status < 500:
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		delay = min(2*delay, 5*time.Second)
	}
}

type leaseKey struct {
	id      string
	attempt int
}

// lease cancels a running handler's context when its lease runs out on the
// local clock, unless a heartbeat extends it first. Its timer is armed only
// within two sweeps of the deadline (sweepLeases): a handler that finishes
// well within its lease, the common case, never has one.
type lease struct {
	mu       sync.Mutex
	deadline time.Time // zero: no known deadline, never cancelled
	cancel   context.CancelFunc
	timer    *time.Timer // armed, or nil
	done     bool        // the handler returned
}

// leaseSweep is how often a Work call arms the timers of the leases that
// run out within two sweeps.
const leaseSweep = 250 * time.Millisecond

func watchLease(deadline time.Time, cancel context.CancelFunc) *lease {
	l := &lease{deadline: deadline, cancel: cancel}
	l.armIfDue(time.Now())
	return l
}

// armIfDue arms l's timer when its deadline is within two sweeps of now.
func (l *lease) armIfDue(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armLocked(now)
}

// armLocked is armIfDue with l.mu held. The timer runs for the time left
// now, not from the now it was given: a sweep's tick may be read late.
func (l *lease) armLocked(now time.Time) {
	if l.timer == nil && !l.done && !l.deadline.IsZero() && l.deadline.Sub(now) < 2*leaseSweep {
		l.timer = time.AfterFunc(time.Until(l.deadline), l.cancel)
	}
}

// extend moves the deadline later; a lease already run out stays so.
func (l *lease) extend(deadline time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deadline.IsZero() || l.done || !deadline.After(l.deadline) {
		return
	}
	if l.timer != nil {
		if !l.timer.Stop() {
			return // fired: the handler's context is already cancelled
		}
		l.timer = nil
	}
	l.deadline = deadline
	l.armLocked(time.Now())
}

func (l *lease) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	if l.timer != nil {
		l.timer.Stop()
	}
}

// sweepLeases arms, every leaseSweep until stop is closed, the timers of
// the running handlers' leases that run out within two sweeps.
func (c *Client) sweepLeases(stop <-chan struct{}) {
	tick := time.NewTicker(leaseSweep)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			c.leases.Range(func(_, l any) bool {
				l.(*lease).armIfDue(now)
				return true
			})
		}
	}
}

// localDeadline converts the server's lease deadline to the local clock
// without trusting the two clocks to agree: the lease lasts LeaseDeadline −
// UpdatedAt (both server times of the lease or heartbeat event), counted from
// sent, the local time the request left, which is no later than the event.
func localDeadline(sent time.Time, t *queue.Task) time.Time {
	if t.LeaseDeadline.IsZero() || t.UpdatedAt.IsZero() {
		return time.Time{}
	}
	return sent.Add(t.LeaseDeadline.Sub(t.UpdatedAt))
}
