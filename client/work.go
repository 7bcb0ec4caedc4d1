package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/omniq/omniq/engine"
)

// Register names the handler that Work runs for tasks whose Func is
// funcName. engine.ErrInvalidHandler for an empty name, a nil handler, or a
// name already taken.
func (c *Client) Register(funcName string, h engine.Handler) error {
	if funcName == "" || h == nil {
		return fmt.Errorf("%w: need a func name and a handler", engine.ErrInvalidHandler)
	}
	if _, loaded := c.handlers.LoadOrStore(funcName, h); loaded {
		return fmt.Errorf("%w: %q is already registered", engine.ErrInvalidHandler, funcName)
	}
	return nil
}

// Work runs registered handlers on tasks leased from the server until ctx
// is done, as engine.Work does in process: idle workers long-poll the
// server, so a new task starts without polling delay; a handler's context is
// cancelled when its lease expires (Heartbeat moves that deadline); a panic
// or a task with no registered handler fails that attempt. When ctx ends,
// Work stops taking tasks, waits for running handlers, and returns nil.
//
// Unlike the embedded engine, the server going away is not the end: Work
// retries with backoff while the server is unreachable, unavailable or
// closed (a restart), and returns an error only for what retrying cannot
// fix: an invalid queue name or a refused token (ErrUnauthorized).
//
// Queues are tried in order of preference when a worker looks for a task.
// An idle worker then waits on one queue (workers spread over the queues),
// so with fewer workers than queues, waits are kept to a second to notice
// the other queues' tasks.
func (c *Client) Work(ctx context.Context, opts engine.WorkOptions) error {
	queues := append([]string(nil), opts.Queues...)
	if len(queues) == 0 {
		queues = []string{engine.DefaultQueue}
	}
	for i, q := range queues {
		if err := engine.ValidateQueueName(q); err != nil {
			return err
		}
		if q == "" {
			queues[i] = engine.DefaultQueue
		}
	}
	n := max(opts.Concurrency, 1)
	wait := c.pollWait
	if n < len(queues) {
		wait = min(wait, time.Second)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Go(func() { errs <- c.workLoop(ctx, queues, queues[i%len(queues)], wait) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// workLoop is one worker: find a task (preferred queues first, then a
// long-poll on home), run it, record its outcome.
func (c *Client) workLoop(ctx context.Context, queues []string, home string, wait time.Duration) error {
	backoff := time.Duration(0)
	for {
		if ctx.Err() != nil {
			return nil
		}
		started := time.Now()
		task, err := c.nextTask(ctx, queues, home, wait)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrUnauthorized) || errors.Is(err, engine.ErrInvalidArgument) {
				return err
			}
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			pause := backoff
			if apiErr := (*Error)(nil); errors.As(err, &apiErr) {
				pause = max(pause, apiErr.RetryAfter) // rate_limited, unavailable: as the server asks
			}
			c.logger.Warn("omniq worker: dequeue failed, retrying", "err", err, "retry_in", pause)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
			continue
		}
		backoff = 0
		if task != nil {
			c.runTask(task, started)
		}
	}
}

func (c *Client) nextTask(ctx context.Context, queues []string, home string, wait time.Duration) (*engine.Task, error) {
	if len(queues) > 1 {
		for _, q := range queues {
			t, err := c.Dequeue(ctx, q)
			if t != nil || err != nil {
				return t, err
			}
		}
	}
	tasks, err := c.DequeueWait(ctx, home, 1, wait)
	if len(tasks) == 0 {
		return nil, err
	}
	return tasks[0], err
}

// runTask runs one attempt and records its outcome.
func (c *Client) runTask(task *engine.Task, started time.Time) {
	hctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := leaseKey{task.ID, task.Attempt}
	l := watchLease(localDeadline(started, task), cancel)
	c.leases.Store(key, l)
	result, err := c.callHandler(hctx, task)
	l.stop()
	c.leases.Delete(key)
	// Record the outcome even if the lease just expired: the log decides
	// (a stale answer gets engine.ErrStaleLease and changes nothing).
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	if cause := err; cause != nil {
		err = c.retry(rctx, func() error { return c.Fail(rctx, task, cause) })
	} else {
		err = c.retry(rctx, func() error { return c.Complete(rctx, task, result) })
		if errors.Is(err, engine.ErrInvalidArgument) {
			cause := fmt.Errorf("handler returned an unstorable result: %w", err)
			err = c.retry(rctx, func() error { return c.Fail(rctx, task, cause) })
		}
	}
	if err != nil {
		c.logger.Warn("omniq worker: could not record task outcome", "task", task.ID, "attempt", task.Attempt, "err", err)
	}
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

func (c *Client) callHandler(ctx context.Context, task *engine.Task) (result any, err error) {
	v, ok := c.handlers.Load(task.Func)
	if !ok {
		return nil, fmt.Errorf("%w: %q", engine.ErrNoHandler, task.Func)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v\n%s", p, debug.Stack())
		}
	}()
	return v.(engine.Handler)(ctx, task)
}

type leaseKey struct {
	id      string
	attempt int
}

// lease cancels a running handler's context when its lease runs out on the
// local clock, unless a heartbeat extends it first.
type lease struct {
	mu       sync.Mutex
	deadline time.Time
	timer    *time.Timer // nil when the lease has no known deadline
}

func watchLease(deadline time.Time, cancel context.CancelFunc) *lease {
	l := &lease{deadline: deadline}
	if !deadline.IsZero() {
		l.timer = time.AfterFunc(time.Until(deadline), cancel)
	}
	return l
}

// extend moves the deadline later; a lease already run out stays so.
func (l *lease) extend(deadline time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer == nil || !deadline.After(l.deadline) {
		return
	}
	if l.timer.Stop() {
		l.deadline = deadline
		l.timer.Reset(time.Until(deadline))
	}
}

func (l *lease) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
}

// localDeadline converts the server's lease deadline to the local clock
// without trusting the two clocks to agree: the lease lasts LeaseDeadline −
// UpdatedAt (both server times of the lease or heartbeat event), counted from
// sent, the local time the request left, which is no later than the event.
func localDeadline(sent time.Time, t *engine.Task) time.Time {
	if t.LeaseDeadline.IsZero() || t.UpdatedAt.IsZero() {
		return time.Time{}
	}
	return sent.Add(t.LeaseDeadline.Sub(t.UpdatedAt))
}
