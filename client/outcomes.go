package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/omniq/omniq/queue"
)

// CompleteBatch records many outcomes in one request (POST /v1/outcomes),
// as engine.CompleteBatch: per outcome, nil or why it was not recorded
// (queue.ErrStaleLease, …; nothing changed for that task); the error is
// for the request as a whole, in which case none was recorded. A recorded
// outcome's task gets its State from the server's answer.
func (c *Client) CompleteBatch(ctx context.Context, outcomes []queue.Outcome) ([]error, error) {
	errs, _, err := c.FinishBatch(ctx, outcomes, nil, 0, 0)
	return errs, err
}

// FinishBatch is CompleteBatch that, in the same request and the same
// append on the server, leases up to n ready tasks of queues (in order of
// preference; n = 0 leases nothing). With wait > 0 and none ready, the
// server waits up to wait (its own bound caps it) for one. Each leased
// task's Attempt is its lease's fencing token.
func (c *Client) FinishBatch(ctx context.Context, outcomes []queue.Outcome, queues []string, n int, wait time.Duration) ([]error, []*queue.Task, error) {
	if n < 0 {
		return nil, nil, fmt.Errorf("%w: lease count %d is negative", queue.ErrInvalidArgument, n)
	}
	errs := make([]error, len(outcomes))
	req := OutcomesRequest{Outcomes: make([]OutcomeSpec, 0, len(outcomes))}
	sent := make([]int, 0, len(outcomes)) // index in outcomes of each sent one
	for i, o := range outcomes {
		if o.Task == nil {
			errs[i] = fmt.Errorf("%w: nil task", queue.ErrInvalidArgument)
			continue
		}
		spec := OutcomeSpec{ID: o.Task.ID, Attempt: o.Task.Attempt}
		if o.Err != nil {
			msg := o.Err.Error()
			spec.Error = &msg
		} else {
			res, err := normalizeValue("result", o.Result)
			if err != nil {
				errs[i] = err
				continue
			}
			spec.Result = res
		}
		req.Outcomes = append(req.Outcomes, spec)
		sent = append(sent, i)
	}
	if n > 0 {
		req.Lease = &LeaseSpec{Queues: queues, N: n, Wait: Duration(wait)}
	}
	if len(req.Outcomes) == 0 && n == 0 {
		return errs, nil, nil
	}
	var got OutcomesAnswer
	if err := c.do(ctx, http.MethodPost, "/v1/outcomes", nil, &req, &got); err != nil {
		return nil, nil, err
	}
	if len(got.Outcomes) != len(req.Outcomes) {
		return nil, nil, fmt.Errorf("%w: sent %d outcomes, server answered %d", ErrProtocol, len(req.Outcomes), len(got.Outcomes))
	}
	for j, i := range sent {
		a := got.Outcomes[j]
		if a.Error != nil {
			errs[i] = itemError(a.Error)
			continue
		}
		outcomes[i].Task.State = queue.State(a.State)
	}
	var tasks []*queue.Task
	if len(got.Tasks) > 0 {
		tasks = make([]*queue.Task, len(got.Tasks))
		for i := range got.Tasks {
			tasks[i] = got.Tasks[i].Engine()
		}
	}
	return errs, tasks, nil
}

// isFatal reports whether a whole-request error is one retrying cannot fix.
func isFatal(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, queue.ErrInvalidArgument)
}
