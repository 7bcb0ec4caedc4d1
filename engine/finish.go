package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/queue"
)

// FinishBatch is CompleteBatch that, in the same append, leases up to n
// ready tasks of queues (in order of preference, filling n from the next
// queue when one runs out), as a busy worker pool does: one round trip
// answers the finished leases and takes the next ones. n = 0 leases nothing.
// The returned slice holds, per outcome, nil or why it was not recorded
// (ErrStaleLease, ErrInvalidArgs, …); the error is for the call as a whole
// (ErrClosed, a failed append, invalid queues), in which case nothing was
// recorded or leased. When n > 0 and no task was ready, it waits up to wait
// for one (DequeueWait over queues); wait <= 0 does not wait. When n > 0, a
// ctx that ends once the leases are staged does not cut the call short: the
// tasks leased are answered (as with DequeueWait), not left leased to
// nobody. An outcome whose task another command is changing (a heartbeat of
// the same lease, say) waits for that command, as Complete does.
func (e *Engine) FinishBatch(ctx context.Context, outcomes []Outcome, queues []string, n int, wait time.Duration) ([]error, []*Task, error) {
	if n < 0 {
		return nil, nil, fmt.Errorf("%w: lease count %d is negative", ErrInvalidArgument, n)
	}
	var names []string
	if n > 0 {
		var err error
		if names, err = queue.QueueList(queues); err != nil {
			return nil, nil, err
		}
	}
	errs, out, err := e.finishBatch(ctx, outcomes, names, n)
	if err != nil || len(out) > 0 || n == 0 || wait <= 0 {
		return errs, out, err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// The outcomes are recorded: a wait cut short (the engine closing)
	// leases nothing, and the next call says why.
	out, _ = e.dequeueWait(wctx, names, n)
	return errs, out, nil
}

// finishBatch is FinishBatch without the wait, on queue names already
// checked and normalized (none when n is 0).
func (e *Engine) finishBatch(ctx context.Context, outcomes []Outcome, names []string, n int) ([]error, []*Task, error) {
	if e.isClosed() {
		return nil, nil, ErrClosed
	}
	// checked: refused before the command. The command may be prepared
	// more than once (after a lost conditional append on a shared log), so
	// each preparation starts again from checked.
	checked := make([]error, len(outcomes))
	results := make([]any, len(outcomes))
	for i, o := range outcomes {
		if o.Task == nil {
			checked[i] = fmt.Errorf("%w: nil task", ErrInvalidArgument)
			continue
		}
		if o.Err == nil {
			res, err := e.normalizeResult(o.Result)
			if err != nil {
				checked[i] = err
				continue
			}
			results[i] = res
		}
	}
	errs := make([]error, len(outcomes))
	var leased []*projections.Task
	var out []*Task
	// Once staged, a lease is answered whatever happens to ctx (as
	// dequeueWait does): a caller whose ctx ended before the command was
	// prepared gets ctx's error and nothing changes; after, it gets the
	// answer, the tasks leased to it included.
	sctx := ctx
	if n > 0 {
		sctx = context.WithoutCancel(ctx)
	}
	err := e.submit(sctx, func(tx *txn) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		copy(errs, checked)
		// v: the dependants earlier outcomes' cascades cancel, so that two
		// final failures with a dependant in common are both recorded (its
		// map is made by the first cascade: most batches have none).
		v := &actionView{}
		for i, o := range outcomes {
			if errs[i] != nil {
				continue
			}
			if tx.has(o.Task.ID) {
				// An earlier outcome of this batch answered this task.
				errs[i] = fmt.Errorf("%w: task %q is answered by an earlier outcome of the batch", ErrStaleLease, o.Task.ID)
				continue
			}
			sub := tx.sub()
			err := e.stageOutcome(sub, v, o.Task, results[i], o.Err != nil, failureMessage(o.Err))
			if errors.Is(err, errConflict) {
				// A command of a batch in flight holds a task this outcome
				// touches (a heartbeat of this very lease, say): the lease
				// may be current, so the whole command waits for that
				// batch, as Complete, Fail and HeartbeatBatch do.
				return err
			}
			if err != nil {
				errs[i] = err
				continue
			}
			tx.merge(sub)
		}
		leased = leased[:0]
		for _, q := range names {
			if leased = e.stageLeases(tx, q, n, leased); len(leased) >= n {
				break
			}
		}
		return nil
	}, func() {
		for i, o := range outcomes {
			if errs[i] == nil {
				e.refresh(o.Task)
			}
		}
		now := events.At(e.now())
		for _, t := range leased {
			out = append(out, taskFromRecord(t, now))
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return errs, out, nil
}
