package engine

import (
	"context"
	"errors"
)

// errActionPending marks the operator actions below while they are being
// built; it is never returned by a released build.
var errActionPending = errors.New("engine: action not built yet")

// Retry gives a task that ended failed, expired or cancelled a new attempt:
// it is pending again, with its retries budget restored. ErrNotFound for an
// unknown or deleted task, ErrArchived for one retention archived,
// ErrTaskState for a task in any other state.
func (e *Engine) Retry(ctx context.Context, taskID string) error {
	errs, err := e.RetryTasks(ctx, []string{taskID})
	return firstErr(errs, err)
}

// RetryTasks is Retry of many tasks in one append. The slice holds, per id,
// nil or why that task was not retried; err is for the append as a whole.
func (e *Engine) RetryTasks(ctx context.Context, ids []string) ([]error, error) {
	return nil, errActionPending
}

// Cancel ends a task that has not started (pending, waiting on its run-at,
// a retry backoff or its dependencies) as cancelled; the tasks that depend
// on it are cancelled too. ErrNotFound for an unknown or deleted task,
// ErrTaskState for one that is running or has ended.
func (e *Engine) Cancel(ctx context.Context, taskID string) error {
	errs, err := e.CancelTasks(ctx, []string{taskID})
	return firstErr(errs, err)
}

// CancelTasks is Cancel of many tasks in one append, with per-id errors as
// RetryTasks.
func (e *Engine) CancelTasks(ctx context.Context, ids []string) ([]error, error) {
	return nil, errActionPending
}

// DeleteTasks is DeleteTask of many tasks in one append, with per-id errors
// as RetryTasks.
func (e *Engine) DeleteTasks(ctx context.Context, ids []string) ([]error, error) {
	return nil, errActionPending
}

// PauseQueue stops every worker from taking tasks of queueName until
// ResumeQueue; tasks may still be enqueued to it, and leases already held
// run to their end. Pausing a paused queue is ErrTaskState.
func (e *Engine) PauseQueue(ctx context.Context, queueName string) error {
	return errActionPending
}

// ResumeQueue undoes PauseQueue. Resuming a queue that is not paused is
// ErrTaskState.
func (e *Engine) ResumeQueue(ctx context.Context, queueName string) error {
	return errActionPending
}

// firstErr returns err, or the only per-item error of a one-item batch.
func firstErr(errs []error, err error) error {
	if err != nil {
		return err
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return nil
}
