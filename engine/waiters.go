package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/queue"
)

// Idle workers wait inside the committer, not beside it. A DequeueWait that
// finds nothing ready parks its command; the preparer offers every parked
// command the state again after each applied batch, each new command and
// each timer pass, and the first pass that finds a ready task stages the
// lease at once. A task that becomes ready is therefore leased by the next
// batch, without waking every idle worker to race for it through the
// command queue, and the wait costs nothing while nothing changes.

// errPark: the command found nothing to do yet; the preparer keeps it and
// offers it the state again later. Only commands with park set return it.
var errPark = errors.New("engine: nothing ready, park")

// parkable is what a parked command tells the preparer about itself.
type parkable struct {
	queues []string
	n      int // most tasks to lease
	// withdrawn: the caller stopped waiting. A withdrawn command is answered
	// (with nothing) instead of being parked again. Guarded by e.mu.
	withdrawn bool
	// leased: the ids the command's batch leases, in order (staged by its
	// own prepare or handed to it by handOff).
	leased []string
}

// mayProceed reports whether offering the command the state could lease
// anything. REQUIRES: e.mu held.
func (e *Engine) mayProceed(p *parkable, now events.Timestamp) bool {
	for _, q := range p.queues {
		if e.state.HasReady(q, now) {
			return true
		}
	}
	return false
}

// takeParked returns the parked commands that may proceed now and keeps the
// others parked, oldest first. REQUIRES: e.mu held.
func (e *Engine) takeParked(now events.Timestamp) []*command {
	if len(e.parked) == 0 {
		return nil
	}
	var out []*command
	kept := e.parked[:0]
	for _, cmd := range e.parked {
		if e.mayProceed(cmd.park, now) {
			out = append(out, cmd)
		} else {
			kept = append(kept, cmd)
		}
	}
	clear(e.parked[len(kept):])
	e.parked = kept
	return out
}

// parkOrAnswer parks cmd, or answers it with nothing when its caller has
// already stopped waiting. REQUIRES: e.mu held.
func (e *Engine) parkOrAnswer(cmd *command) {
	if cmd.park.withdrawn {
		cmd.done <- nil
		return
	}
	e.parked = append(e.parked, cmd)
}

// withdraw ends the wait of a parked command whose caller gave up. It
// reports true when the command was still parked (it is answered with
// nothing and will lease nothing); false means the command is queued (its
// prepare will see withdrawn and lease nothing), being prepared or written,
// and its answer will come on cmd.done.
func (e *Engine) withdraw(cmd *command) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	cmd.park.withdrawn = true
	if i := slices.Index(e.parked, cmd); i >= 0 {
		e.parked = slices.Delete(e.parked, i, i+1)
		return true
	}
	return false
}

// answerParked answers every parked command with err (at Close).
// REQUIRES: e.mu held.
func (e *Engine) answerParked(err error) {
	for _, cmd := range e.parked {
		cmd.done <- err
	}
	e.parked = nil
}

// DequeueWait is DequeueN that waits for a task to become ready
// (long-poll): up to wait, or, when wait <= 0, until ctx ends. It returns an
// empty slice, and no error, when the wait ends with nothing ready;
// ErrClosed when the engine closes. The wait bounds the waiting, not the
// lease: a lease already being written when it ends is returned, so no task
// is leased to a caller that is gone.
func (e *Engine) DequeueWait(ctx context.Context, queueName string, n int, wait time.Duration) ([]*Task, error) {
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	return e.DequeueWaitAny(ctx, []string{queueName}, n)
}

// DequeueWaitAny is DequeueWait over several queues in order of preference:
// it leases from the first queue that has ready tasks, waiting until one has.
func (e *Engine) DequeueWaitAny(ctx context.Context, queues []string, n int) ([]*Task, error) {
	names, err := queue.QueueList(queues)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("%w: dequeue count %d must be positive", ErrInvalidArgument, n)
	}
	return e.dequeueWait(ctx, names, n)
}

// dequeueWait is DequeueWaitAny on names already checked and normalized.
func (e *Engine) dequeueWait(ctx context.Context, names []string, n int) ([]*Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil
	}
	var leased []*projections.Task
	var out []*Task
	p := &parkable{queues: names, n: n}
	cmd := &command{
		// The lease, once staged, is answered whatever happens to ctx.
		ctx:  context.WithoutCancel(ctx),
		done: make(chan error, 1),
		park: p,
	}
	cmd.prepare = func(tx *txn) error {
		if p.withdrawn {
			// Its caller stopped waiting before it was prepared (withdraw
			// found it still queued): lease nothing, parkOrAnswer answers.
			return errPark
		}
		leased = leased[:0]
		for _, q := range names {
			if leased = e.stageLeases(tx, q, n, leased); len(leased) > 0 {
				p.leased = p.leased[:0]
				for _, t := range leased {
					p.leased = append(p.leased, t.ID)
				}
				return nil
			}
		}
		return errPark
	}
	cmd.commit = func() {
		now := events.At(e.now())
		for _, id := range p.leased {
			if r := e.state.Task(id); r != nil {
				out = append(out, taskFromRecord(r, now))
			}
		}
	}
	select {
	case e.cmds <- cmd:
	case <-e.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, nil
	}
	wait := ctx.Done()
	for {
		select {
		case err := <-cmd.done:
			if err != nil {
				return nil, err
			}
			return out, nil
		case <-wait:
			if e.withdraw(cmd) {
				return nil, nil
			}
			wait = nil // being prepared or written: its answer follows
		case <-e.stopped:
			select {
			case err := <-cmd.done:
				if err != nil {
					return nil, err
				}
				return out, nil
			default:
				return nil, ErrClosed
			}
		}
	}
}

// stageLeases takes up to n-len(leased) ready tasks of queue and stages their
// leases on tx, appending their records to leased. Tasks held by a command in
// flight are left in the queue; nothing is leased from a paused queue (see
// leasesStopped). REQUIRES: e.mu held.
func (e *Engine) stageLeases(tx *txn, queue string, n int, leased []*projections.Task) []*projections.Task {
	now := events.At(tx.now)
	deadline := events.At(tx.now.Add(e.cfg.leaseTimeout))
	if e.leasesStopped(queue) {
		return leased
	}
	var skipped []*projections.Task
	for len(leased) < n {
		t := e.state.TakeReady(queue, now)
		if t == nil {
			break
		}
		if e.reserved[t.ID] || tx.has(t.ID) {
			skipped = append(skipped, t)
			continue
		}
		tx.hold(t.ID)
		tx.rollback = append(tx.rollback, func() { e.state.ReturnReady(t) })
		tx.add(t.ID, &events.TaskLeased{Attempt: t.Attempt + 1, Deadline: deadline, Worker: e.cfg.workerID})
		leased = append(leased, t)
	}
	for _, t := range skipped {
		e.state.ReturnReady(t)
	}
	return leased
}

// handOff leases the tasks tx enqueues that are ready at once to parked
// commands waiting on their queues, in the same batch: such a task starts
// after one append instead of two. Each parked command served joins b
// right after tx, so its lease events follow the enqueues they lease; it
// takes tasks from tx only (up to its n), highest priority first. A task
// with dependencies, a delay or a pause is left to the ready queues.
// REQUIRES: e.mu held; tx accepted into b as its last transaction.
func (e *Engine) handOff(b *pending, tx *txn) {
	if len(e.parked) == 0 {
		return
	}
	now := events.At(tx.now)
	var ready []*events.Event
	for i := range tx.events {
		ev := &tx.events[i]
		enq, ok := ev.Payload.(*events.TaskEnqueued)
		if !ok || len(enq.Spec.DependsOn) > 0 || enq.Spec.Paused || enq.Spec.RunAt > now || e.leasesStopped(enq.Spec.Queue) {
			continue
		}
		ready = append(ready, ev)
	}
	if len(ready) == 0 {
		return
	}
	// Highest priority first; the sort is stable, so equal priorities keep
	// their enqueue order (the ready queues' order).
	slices.SortStableFunc(ready, func(a, b *events.Event) int {
		return b.Payload.(*events.TaskEnqueued).Spec.Priority - a.Payload.(*events.TaskEnqueued).Spec.Priority
	})
	deadline := events.At(tx.now.Add(e.cfg.leaseTimeout))
	kept := e.parked[:0]
	for _, cmd := range e.parked {
		p := cmd.park
		if len(ready) == 0 || p.withdrawn {
			kept = append(kept, cmd)
			continue
		}
		lt := &txn{e: e, now: tx.now}
		p.leased = p.leased[:0]
		rest := ready[:0:0]
		for _, ev := range ready {
			q := ev.Payload.(*events.TaskEnqueued).Spec.Queue
			if len(p.leased) < p.n && slices.Contains(p.queues, q) {
				lt.add(ev.TaskID, &events.TaskLeased{Attempt: 1, Deadline: deadline, Worker: e.cfg.workerID})
				p.leased = append(p.leased, ev.TaskID)
			} else {
				rest = append(rest, ev)
			}
		}
		ready = rest
		if len(lt.events) == 0 {
			kept = append(kept, cmd)
			continue
		}
		b.events = append(b.events, lt.events...)
		b.cmds = append(b.cmds, cmd)
		b.txns = append(b.txns, lt)
	}
	clear(e.parked[len(kept):])
	e.parked = kept
}
