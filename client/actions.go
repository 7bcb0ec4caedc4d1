package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/wire"
)

// The operator actions, as the embedded engine's (engine/actions.go): the
// same signatures, and the same sentinels (queue.ErrTaskState,
// queue.ErrNotFound, …) through the server's error answers.

// Bodies of the operator actions (package wire's).
type (
	ActionRequest = wire.ActionRequest
	ActionAnswer  = wire.ActionAnswer
	ActionResult  = wire.ActionResult
	QueueState    = wire.QueueState
)

// QueueStateOf returns the state of the queue name in s, as the pause and
// resume routes answer it (wire.QueueStateOf).
func QueueStateOf(s queue.Stats, name string) QueueState { return wire.QueueStateOf(s, name) }

// CodeTaskState is the error code of queue.ErrTaskState (wire.CodeTaskState).
const CodeTaskState = wire.CodeTaskState

// Retry gives a task that ended failed, expired or cancelled a new attempt
// (POST /v1/tasks/{id}/retry). queue.ErrNotFound for an unknown or deleted
// task, queue.ErrArchived for one retention archived, queue.ErrTaskState
// for a task in any other state.
func (c *Client) Retry(ctx context.Context, taskID string) error {
	return c.do(ctx, http.MethodPost, taskPath(taskID, "retry"), nil, nil, nil)
}

// Cancel ends a task that has not started as cancelled, with the tasks that
// depend on it (POST /v1/tasks/{id}/cancel). queue.ErrNotFound for an
// unknown or deleted task, queue.ErrTaskState for one that is running or
// has ended.
func (c *Client) Cancel(ctx context.Context, taskID string) error {
	return c.do(ctx, http.MethodPost, taskPath(taskID, "cancel"), nil, nil, nil)
}

// RetryTasks is Retry of many tasks in one request and one append on the
// server (POST /v1/actions). The slice holds, per id, nil or why that task
// was not retried; err is for the request as a whole, in which case none
// was. At most wire.MaxActionIDs ids per call (queue.ErrInvalidArgument
// past it).
func (c *Client) RetryTasks(ctx context.Context, ids []string) ([]error, error) {
	return c.batchAction(ctx, wire.ActionRetry, ids)
}

// CancelTasks is Cancel of many tasks in one request, with per-id errors as
// RetryTasks.
func (c *Client) CancelTasks(ctx context.Context, ids []string) ([]error, error) {
	return c.batchAction(ctx, wire.ActionCancel, ids)
}

// DeleteTasks is DeleteTask of many tasks in one request, with per-id
// errors as RetryTasks.
func (c *Client) DeleteTasks(ctx context.Context, ids []string) ([]error, error) {
	return c.batchAction(ctx, wire.ActionDelete, ids)
}

// batchAction sends action on ids and returns the per-id errors, each an
// *Error that unwraps to its sentinel.
func (c *Client) batchAction(ctx context.Context, action string, ids []string) ([]error, error) {
	if len(ids) == 0 {
		return []error{}, nil
	}
	var got ActionAnswer
	if err := c.do(ctx, http.MethodPost, "/v1/actions", nil, ActionRequest{Action: action, IDs: ids}, &got); err != nil {
		return nil, err
	}
	if len(got.Results) != len(ids) {
		return nil, fmt.Errorf("%w: sent %d ids, server answered %d results", ErrProtocol, len(ids), len(got.Results))
	}
	errs := make([]error, len(ids))
	for i, r := range got.Results {
		if r.Error != nil {
			errs[i] = itemError(r.Error)
		}
	}
	return errs, nil
}

// PauseQueue stops every worker from taking tasks of queueName until
// ResumeQueue (POST /v1/queues/{queue}/pause); tasks may still be enqueued
// to it. Pausing a paused queue is queue.ErrTaskState.
func (c *Client) PauseQueue(ctx context.Context, queueName string) error {
	return c.queueAction(ctx, queueName, "pause")
}

// ResumeQueue undoes PauseQueue (POST /v1/queues/{queue}/resume). Resuming
// a queue that is not paused is queue.ErrTaskState.
func (c *Client) ResumeQueue(ctx context.Context, queueName string) error {
	return c.queueAction(ctx, queueName, "resume")
}

func (c *Client) queueAction(ctx context.Context, queueName, verb string) error {
	if queueName == "" {
		queueName = queue.DefaultQueue
	}
	return c.do(ctx, http.MethodPost, "/v1/queues/"+url.PathEscape(queueName)+"/"+verb, nil, nil, nil)
}
