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
// for one (DequeueWait over queues); wait <= 0 does not wait.
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
	err := e.submit(ctx, func(tx *txn) error {
		copy(errs, checked)
		for i, o := range outcomes {
			if errs[i] != nil {
				continue
			}
			sub := tx.sub()
			err := e.stageOutcome(sub, o.Task, results[i], o.Err != nil, failureMessage(o.Err))
			if errors.Is(err, errConflict) {
				// Another command holds this task now: it decides, this
				// outcome is refused as stale rather than delaying the batch.
				err = fmt.Errorf("%w: task %q is being changed by another command", ErrStaleLease, o.Task.ID)
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
