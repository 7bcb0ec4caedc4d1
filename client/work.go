package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/omniq/omniq/queue"
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
	queues := append([]string(nil), opts.Queues...)
	if len(queues) == 0 {
		queues = []string{queue.DefaultQueue}
	}
	for i, q := range queues {
		if err := queue.ValidateQueueName(q); err != nil {
			return err
		}
		if q == "" {
			queues[i] = queue.DefaultQueue
		}
	}
	p := &pool{c: c, queues: queues, n: max(opts.Concurrency, 1), wait: c.pollWait}
	return p.run(ctx)
}

// Bounds of the Work loop.
const (
	maxSending     = 2           // outcome requests in flight at once
	maxLeasePerReq = 100         // the server's bound on one request's lease
	outcomeTTL     = time.Minute // how long an outcome is retried before it is given up
	outcomeLinger  = 300 * time.Microsecond
	maxLinger      = time.Millisecond
)

// finished is a handler's outcome waiting to be sent.
type finished struct {
	o     queue.Outcome
	first time.Time // when it was first ready to send
}

// reply is the answer to one request of the Work loop.
type reply struct {
	sent  []finished
	ask   int
	poll  bool
	sentT time.Time
	errs  []error
	tasks []*queue.Task
	err   error
}

// pool is one Work call's state, owned by its run loop.
type pool struct {
	c      *Client
	queues []string
	n      int
	wait   time.Duration

	running int        // handlers running
	asked   int        // tasks asked for by requests in flight
	pending []finished // outcomes not yet sent
	sending int        // outcome requests in flight
	polling bool       // a lease-only request is in flight
	done    chan finished
	replies chan reply
}

func (p *pool) run(ctx context.Context) error {
	p.done = make(chan finished, p.n)
	p.replies = make(chan reply, maxSending+1)
	var fatal error
	var pollCancel context.CancelFunc
	var retry <-chan time.Time
	backoff := time.Duration(0)
	ctxDone := ctx.Done()
	for {
		stopping := ctx.Err() != nil || fatal != nil
		if stopping && pollCancel != nil {
			pollCancel()
			pollCancel = nil
		}
		if stopping && p.running == 0 && len(p.pending) == 0 && p.sending == 0 && !p.polling {
			return fatal
		}
		if retry == nil && len(p.pending) > 0 && p.sending < maxSending {
			sent := p.pending
			if len(sent) > maxOutcomesPerReq {
				sent = sent[:maxOutcomesPerReq]
			}
			ask := 0
			if !stopping {
				// The slots of the outcomes sent are free again.
				ask = max(min(p.n-p.running-p.asked-(len(p.pending)-len(sent)), maxLeasePerReq), 0)
			}
			p.pending = append([]finished(nil), p.pending[len(sent):]...)
			p.send(context.WithoutCancel(ctx), sent, ask, 0, false)
			continue
		}
		if retry == nil && !stopping && !p.polling && len(p.pending) == 0 {
			if free := p.n - p.running - p.asked; free > 0 { // no outcome is pending
				var pctx context.Context
				pctx, pollCancel = context.WithCancel(ctx)
				p.send(pctx, nil, min(free, maxLeasePerReq), p.wait, true)
				continue
			}
		}
		select {
		case f := <-p.done:
			p.running--
			p.pending = append(p.pending, f)
			p.collect()
		case r := <-p.replies:
			p.asked -= r.ask
			if r.poll {
				p.polling = false
				if pollCancel != nil {
					pollCancel()
					pollCancel = nil
				}
			} else {
				p.sending--
			}
			for _, t := range r.tasks {
				p.start(t, r.sentT)
			}
			if r.err != nil {
				if ctx.Err() != nil && r.poll {
					continue
				}
				if isFatal(r.err) {
					if fatal == nil {
						fatal = r.err
					}
					for _, f := range r.sent {
						p.c.logger.Warn("omniq worker: could not record task outcome", "task", f.o.Task.ID, "attempt", f.o.Task.Attempt, "err", r.err)
					}
					continue
				}
				p.requeue(r.sent, r.err)
				backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
				pause := backoff
				if apiErr := (*Error)(nil); errors.As(r.err, &apiErr) {
					pause = max(pause, apiErr.RetryAfter) // rate_limited, unavailable: as the server asks
				}
				p.c.logger.Warn("omniq worker: request failed, retrying", "err", r.err, "retry_in", pause)
				retry = time.After(pause)
				continue
			}
			backoff = 0
			p.answered(r)
		case <-retry:
			retry = nil
		case <-ctxDone:
			ctxDone = nil
		}
	}
}

// collect takes the outcomes already there, and while handlers are still
// running, those that come within outcomeLinger of the last (at most
// maxLinger in all): one request for a lease's tasks that finish together,
// rather than one each, without holding an outcome back for long.
func (p *pool) collect() {
	var timer *time.Timer
	deadline := time.Now().Add(maxLinger)
	for {
		select {
		case f := <-p.done:
			p.running--
			p.pending = append(p.pending, f)
			continue
		default:
		}
		wait := min(outcomeLinger, time.Until(deadline))
		if p.running == 0 || wait <= 0 || len(p.pending) >= maxOutcomesPerReq {
			break
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case f := <-p.done:
			p.running--
			p.pending = append(p.pending, f)
			timer.Stop()
			continue
		case <-timer.C:
		}
		break
	}
}

// maxOutcomesPerReq bounds one request's outcomes (the server takes 1000).
const maxOutcomesPerReq = 1000

// send starts a request carrying sent outcomes and asking for ask tasks;
// its reply comes back on p.replies.
func (p *pool) send(ctx context.Context, sent []finished, ask int, wait time.Duration, poll bool) {
	p.asked += ask
	if poll {
		p.polling = true
	} else {
		p.sending++
	}
	outcomes := make([]queue.Outcome, len(sent))
	for i, f := range sent {
		outcomes[i] = f.o
	}
	go func() {
		if !poll {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Minute)
			defer cancel()
		}
		r := reply{sent: sent, ask: ask, poll: poll, sentT: time.Now()}
		r.errs, r.tasks, r.err = p.c.FinishBatch(ctx, outcomes, p.queues, ask, wait)
		p.replies <- r
	}()
}

// start runs a leased task's handler in its own goroutine; its outcome
// comes back on p.done.
func (p *pool) start(task *queue.Task, sent time.Time) {
	p.running++
	go func() {
		f := finished{o: p.c.runLeased(task, sent)}
		f.first = time.Now()
		p.done <- f
	}()
}

// requeue puts back the outcomes of a request that failed as a whole, to
// be sent again, unless they have waited too long. A repeated outcome that
// had in fact been recorded is refused as a stale lease and changes nothing.
func (p *pool) requeue(sent []finished, err error) {
	keep := sent[:0:0]
	for _, f := range sent {
		if time.Since(f.first) > outcomeTTL {
			p.c.logger.Warn("omniq worker: could not record task outcome", "task", f.o.Task.ID, "attempt", f.o.Task.Attempt, "err", err)
			continue
		}
		keep = append(keep, f)
	}
	p.pending = append(keep, p.pending...)
}

// answered handles the per-outcome answers of a request: a completion
// whose result the server could not store is sent again as a failure;
// other refusals (a stale lease: nothing changed) are logged.
func (p *pool) answered(r reply) {
	for i, err := range r.errs {
		if err == nil {
			continue
		}
		f := r.sent[i]
		if f.o.Err == nil && errors.Is(err, queue.ErrInvalidArgument) {
			f.o.Err = fmt.Errorf("handler returned an unstorable result: %w", err)
			f.o.Result = nil
			p.pending = append(p.pending, f)
			continue
		}
		p.c.logger.Warn("omniq worker: could not record task outcome", "task", f.o.Task.ID, "attempt", f.o.Task.Attempt, "err", err)
	}
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
func localDeadline(sent time.Time, t *queue.Task) time.Time {
	if t.LeaseDeadline.IsZero() || t.UpdatedAt.IsZero() {
		return time.Time{}
	}
	return sent.Add(t.LeaseDeadline.Sub(t.UpdatedAt))
}
