package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/worker"
)

// Register names the handler that runs tasks whose Func is funcName.
// ErrInvalidHandler for an empty name, a nil handler, or a name already taken.
func (e *Engine) Register(funcName string, h Handler) error {
	return e.handlers.Register(funcName, h)
}

// Work runs registered handlers on tasks from opts.Queues until ctx is done
// or the engine is closed, on the worker pool the omniqd client's Work runs
// too (package worker): up to opts.Concurrency handlers at once; their
// outcomes are recorded in batches, each batch leasing the next tasks in the
// same command (FinishBatch), and an idle pool waits for a task to become
// ready (no polling). When ctx ends, Work stops taking tasks, waits for
// running handlers to return, records their outcomes and returns nil; when
// the engine closes, it returns ErrClosed after the same wait. A handler's
// context is not cancelled by ctx, only by its lease expiring, so a
// shutdown never fails an attempt. A failing log is retried with backoff.
func (e *Engine) Work(ctx context.Context, opts WorkOptions) error {
	queues, err := queue.QueueList(opts.Queues)
	if err != nil {
		return err
	}
	return worker.Run(ctx, worker.Config{
		Source: e, Queues: queues, Concurrency: opts.Concurrency, Wait: idleWait,
		Run:        e.runLeased,
		Fatal:      func(err error) bool { return errors.Is(err, ErrClosed) || errors.Is(err, ErrInvalidArgument) },
		Logger:     e.cfg.logger,
		LeaseAhead: workLeaseAhead, MaxLease: workMaxLease,
	})
}

// The embedded pool's bounds on leasing ahead (worker.Config). In process
// a request is a command, and the commands that wait while an append is in
// flight go into the next append together, so more tasks out make bigger
// appends rather than more round trips; a held task keeps its lease
// (HeartbeatBatch). Against PostgreSQL at Concurrency 64 (no-op tasks,
// burn-downs of 300,000, six interleaved rounds on a quiet machine), 8 and
// 300 drained a median 80k tasks/s against 66k with the remote pool's 3
// and 100, more in every round (bench/README.md).
const (
	workLeaseAhead = 8
	workMaxLease   = 300
)

// HeartbeatBatch extends the leases of tasks (each named by its Attempt)
// by the lease timeout in one append, as Heartbeat does one: the Work pool
// keeps the leases of the tasks it holds ahead of a free slot with it. The
// slice holds, per task, nil (the task's LeaseDeadline and UpdatedAt are
// the extended lease's) or why not (ErrStaleLease, ErrNotFound); the error
// is for the call as a whole, in which case nothing was extended.
func (e *Engine) HeartbeatBatch(ctx context.Context, tasks []*Task) ([]error, error) {
	if e.isClosed() {
		return nil, ErrClosed
	}
	errs := make([]error, len(tasks))
	err := e.submit(ctx, func(tx *txn) error {
		clear(errs)
		for i, t := range tasks {
			if t == nil {
				errs[i] = fmt.Errorf("%w: nil task", ErrInvalidArgument)
				continue
			}
			if err := e.stageHeartbeat(tx, t); err != nil {
				if errors.Is(err, errConflict) {
					return err // another command of the batch holds it: the whole heartbeat waits for the next
				}
				errs[i] = err
			}
		}
		return nil
	}, func() {
		for i, t := range tasks {
			if errs[i] == nil {
				e.refresh(t)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// idleWait bounds one wait of an idle Work pool for a task; the pool waits
// again at once, so it only bounds how long a wait holds its context.
const idleWait = time.Minute

// runLeased runs one attempt of a task Work leased and returns its outcome:
// the handler's result or why it failed. The handler's context ends when the
// task's lease runs out (watchLease). The result is not normalized here:
// FinishBatch normalizes every outcome's result, and refuses one it cannot
// store with ErrInvalidArgs, which the pool sends again as a failed attempt.
func (e *Engine) runLeased(task *Task, _ time.Time) Outcome {
	hctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := e.watchLease(task, cancel)
	result, cause := e.handlers.Call(hctx, task)
	stop()
	// The outcome is recorded even if the lease just expired: the log
	// decides (a stale answer gets ErrStaleLease and changes nothing).
	return Outcome{Task: task, Result: result, Err: cause}
}

// watchLease cancels the handler's context when the task's lease runs out,
// following heartbeats that extend it. It returns a stop function. With a
// clock that has AfterFunc (the system clock), nothing runs until the
// deadline: a pool of thousands of workers does not keep a goroutine and a
// timer channel per running task.
func (e *Engine) watchLease(task *Task, cancel context.CancelFunc) (stop func()) {
	// Copy what the watcher reads: the caller's task is updated when its
	// outcome is recorded.
	id, attempt, deadline := task.ID, task.Attempt, task.LeaseDeadline
	// expired reports whether the lease ran out, moving deadline to the
	// lease's current one when a heartbeat extended it.
	expired := func() bool {
		e.mu.RLock()
		r := e.state.Task(id)
		current := r != nil && r.Attempt == attempt && r.LeaseDeadline != 0
		if current {
			deadline = r.LeaseDeadline.Time()
		}
		e.mu.RUnlock()
		return !current || !deadline.After(e.now())
	}
	if ac, ok := e.cfg.clock.(afterFuncClock); ok {
		var mu sync.Mutex
		var timer Timer
		stopped := false
		var check func()
		check = func() {
			if expired() {
				cancel()
				return
			}
			mu.Lock()
			if !stopped {
				timer = ac.AfterFunc(deadline.Sub(e.now()), check)
			}
			mu.Unlock()
		}
		mu.Lock()
		timer = ac.AfterFunc(deadline.Sub(e.now()), check)
		mu.Unlock()
		return func() {
			mu.Lock()
			stopped = true
			timer.Stop()
			mu.Unlock()
		}
	}
	done := make(chan struct{})
	go func() {
		for {
			timer := e.cfg.clock.NewTimer(deadline.Sub(e.now()))
			// A clock that moved between reading now and arming the timer
			// (a ManualClock stepped by a test) armed it past the deadline:
			// look once more now that it is armed.
			if expired() {
				timer.Stop()
				cancel()
				return
			}
			select {
			case <-done:
				timer.Stop()
				return
			case <-timer.C():
			}
			if expired() {
				cancel()
				return
			}
		}
	}()
	return func() { close(done) }
}
