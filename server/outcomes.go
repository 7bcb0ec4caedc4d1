package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/wire"
)

// maxOutcomes is the most outcomes one POST /v1/outcomes may carry.
const maxOutcomes = 1000

// outcomes records many lease outcomes in one append and, in the same
// append, leases up to lease.n ready tasks: a worker pool's whole round
// trip. Each outcome is fenced by its attempt: a stale one is refused in
// its own answer, the others are recorded. A malformed request is refused
// whole (400) before anything changes.
func (a *api) outcomes(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	var req wire.OutcomesRequest
	if err := a.decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Outcomes == nil {
		return fmt.Errorf("%w: outcomes is required (an array, possibly empty)", engine.ErrInvalidArgument)
	}
	if len(req.Outcomes) > maxOutcomes {
		return fmt.Errorf("%w: %d outcomes, at most %d per request", engine.ErrInvalidArgument, len(req.Outcomes), maxOutcomes)
	}
	outcomes := make([]engine.Outcome, len(req.Outcomes))
	for i, o := range req.Outcomes {
		if o.ID == "" {
			return fmt.Errorf("%w: outcome %d: id is required", engine.ErrInvalidArgument, i)
		}
		if o.Attempt < 1 {
			return fmt.Errorf("%w: outcome %d: attempt is required: the lease's fencing token, as dequeue returned it", engine.ErrInvalidArgument, i)
		}
		outcomes[i] = engine.Outcome{Task: &engine.Task{ID: o.ID, Attempt: o.Attempt}, Result: o.Result}
		if o.Error != nil {
			if o.Result != nil {
				return fmt.Errorf("%w: outcome %d: give a result or an error, not both", engine.ErrInvalidArgument, i)
			}
			outcomes[i].Err = errors.New(*o.Error)
			if *o.Error == "" {
				outcomes[i].Err = errors.New("failed")
			}
		}
	}
	var queues []string
	n, wait := 0, time.Duration(0)
	if l := req.Lease; l != nil {
		if l.N < 0 || l.N > maxDequeueN {
			return fmt.Errorf("%w: lease.n=%d must be from 0 to %d", engine.ErrInvalidArgument, l.N, maxDequeueN)
		}
		if l.Wait < 0 {
			return fmt.Errorf("%w: lease.wait %s is negative", engine.ErrInvalidArgument, time.Duration(l.Wait))
		}
		for _, name := range l.Queues {
			if err := engine.ValidateQueueName(name); err != nil {
				return err
			}
		}
		queues, n, wait = l.Queues, l.N, min(time.Duration(l.Wait), a.maxWait)
	}
	errs, tasks, err := q.FinishBatch(r.Context(), outcomes, queues, n, 0)
	if err != nil {
		return err
	}
	if len(tasks) == 0 && n > 0 && wait > 0 {
		tasks, err = a.waitForTasks(r, q, queues, n, wait)
		if err != nil && len(outcomes) == 0 {
			return err
		}
		if err != nil {
			// The outcomes are recorded: answer them, with no new lease.
			a.logger.Warn("lease after outcomes failed", "err", err)
			tasks = nil
		}
	}
	out := wire.OutcomesAnswer{Outcomes: make([]wire.OutcomeAnswer, len(outcomes))}
	for i, err := range errs {
		if err != nil {
			out.Outcomes[i].Error = itemError(err)
			continue
		}
		out.Outcomes[i].State = string(outcomes[i].Task.State)
	}
	return a.writeOutcomes(w, out, tasks)
}

// writeOutcomes answers out with tasks as its "tasks". The tasks are
// written one by one, each as wire.Task encodes itself, without the
// second pass encoding/json gives a Marshaler's output: this answer is the
// hot path of a worker pool.
func (a *api) writeOutcomes(w http.ResponseWriter, out wire.OutcomesAnswer, tasks []*engine.Task) error {
	b := make([]byte, 0, 64+48*len(out.Outcomes)+512*len(tasks))
	b = append(b, `{"outcomes":`...)
	b = wire.AppendOutcomeAnswers(b, out.Outcomes)
	b = append(b, `,"tasks":[`...)
	b, err := appendTasks(b, tasks)
	if err != nil {
		return err
	}
	b = append(b, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}
