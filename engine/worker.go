package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

// Register names the handler that runs tasks whose Func is funcName.
// ErrInvalidHandler for an empty name, a nil handler, or a name already taken.
func (e *Engine) Register(funcName string, h Handler) error {
	return e.handlers.Register(funcName, h)
}

// Work runs registered handlers on tasks from opts.Queues until ctx is done
// or the engine is closed. Idle workers wake as soon as a task becomes ready
// (no polling). When ctx ends, Work stops taking tasks, waits for running
// handlers to return, and returns nil; when the engine closes, it returns
// ErrClosed after the same wait. A handler's context is not cancelled by ctx,
// only by its lease expiring, so a shutdown never fails an attempt.
func (e *Engine) Work(ctx context.Context, opts WorkOptions) error {
	queues, err := queueList(opts.Queues)
	if err != nil {
		return err
	}
	n := max(opts.Concurrency, 1)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Go(func() { errs <- e.workLoop(ctx, queues) })
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

func (e *Engine) workLoop(ctx context.Context, queues []string) error {
	var next *Task // leased with the last outcome, in the same command
	for {
		if next == nil {
			if ctx.Err() != nil {
				return nil
			}
			if e.isClosed() {
				return ErrClosed
			}
			tasks, err := e.dequeueWait(ctx, queues, 1)
			if err != nil {
				if errors.Is(err, ErrClosed) {
					return ErrClosed
				}
				if ctx.Err() != nil {
					return nil
				}
				e.cfg.logger.Warn("dequeue failed", "err", err)
				select { // the log is failing: do not spin
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
				}
				continue
			}
			if len(tasks) == 0 {
				continue // ctx ended
			}
			next = tasks[0]
		}
		task := next
		// Lease the next task with this one's outcome only while working:
		// after ctx ends, a leased task would wait out its lease unrun.
		var more []string
		if ctx.Err() == nil && !e.isClosed() {
			more = queues
		}
		next = e.runTask(task, more)
	}
}

// runTask runs one attempt and records its outcome; with queues, the same
// command leases the next ready task of queues (nil when none was ready), so
// a busy worker makes one round trip per task, not two.
func (e *Engine) runTask(task *Task, queues []string) (next *Task) {
	hctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := e.watchLease(task, cancel)
	defer stop()
	result, cause := e.handlers.Call(hctx, task)
	if cause == nil {
		var err error
		if result, err = e.normalizeResult(result); err != nil {
			cause = fmt.Errorf("handler returned an unstorable result: %w", err)
		}
	}
	// Record the outcome even if the lease just expired: the log decides
	// (a stale answer gets ErrStaleLease and changes nothing).
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	next, err := e.finish(rctx, task, result, cause, queues)
	if err != nil {
		e.cfg.logger.Warn("could not record task outcome", "task", task.ID, "attempt", task.Attempt, "err", err)
	}
	return next
}

// finish records an attempt's outcome (result when cause is nil, else the
// failure) and, in the same append, leases the next ready task of queues
// when there is one. result must be normalized. An outcome that is refused
// (ErrStaleLease) leases nothing.
func (e *Engine) finish(ctx context.Context, task *Task, result any, cause error, queues []string) (*Task, error) {
	msg := failureMessage(cause)
	var leased []*projections.Task
	var next *Task
	err := e.submit(ctx, func(tx *txn) error {
		if err := e.stageOutcome(tx, task, result, cause != nil, msg); err != nil {
			return err
		}
		leased = leased[:0]
		for _, q := range queues {
			if leased = e.stageLeases(tx, q, 1, leased); len(leased) > 0 {
				break
			}
		}
		return nil
	}, func() {
		e.refresh(task)
		if len(leased) > 0 {
			next = taskFromRecord(leased[0], events.At(e.now()))
		}
	})
	if err != nil {
		return nil, err
	}
	return next, nil
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
