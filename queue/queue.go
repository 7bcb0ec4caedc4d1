package queue

import (
	"context"
	"time"
)

// TaskQueue is the core queue interface (enqueue, dequeue from a named queue,
// get, delete: the calls of the task-queue API whose Task and Schedule this
// project keeps).
type TaskQueue interface {
	// Enqueue adds task (setting task.ID when empty, and the engine-filled
	// fields). Errors wrap ErrInvalidArgument for bad input; nothing is
	// appended then.
	Enqueue(ctx context.Context, task *Task) error
	// Dequeue leases the next ready task of queueName ("" is DefaultQueue):
	// highest priority first, first-in first-out within a priority. It returns
	// nil, nil when nothing is ready.
	Dequeue(ctx context.Context, queueName string) (*Task, error)
	// GetTask returns a task or recurring schedule by id; ErrNotFound when
	// unknown or deleted (ErrArchived when retention archived it).
	GetTask(ctx context.Context, taskID string) (*Task, error)
	// DeleteTask deletes a task or recurring schedule; tasks that depend on it
	// are cancelled. ErrNotFound when unknown or already deleted.
	DeleteTask(ctx context.Context, taskID string) error
}

// Queue is everything a program does with a queue. The embedded engine
// (*engine.Engine) and the omniqd client (*client.Client) both implement
// it with the same signatures, so a program moves between embedded and
// remote by changing the line that builds its queue.
type Queue interface {
	TaskQueue

	// EnqueueBatch adds tasks in one append: all or none. Tasks may
	// depend on tasks earlier in the batch.
	EnqueueBatch(ctx context.Context, tasks []*Task) error
	// DequeueN leases up to n ready tasks of queueName at once.
	DequeueN(ctx context.Context, queueName string, n int) ([]*Task, error)
	// DequeueWait is DequeueN that waits for a task to become ready: up to
	// wait (wait <= 0: until ctx ends). It returns an empty slice, and no
	// error, when the wait ends with nothing ready.
	DequeueWait(ctx context.Context, queueName string, n int, wait time.Duration) ([]*Task, error)

	// Complete ends the current attempt of task (its lease, named by
	// task.Attempt) with result; ErrStaleLease when that lease is no
	// longer current. Fail ends it with cause (retried while retries are
	// left). Heartbeat extends the lease.
	Complete(ctx context.Context, task *Task, result any) error
	Fail(ctx context.Context, task *Task, cause error) error
	Heartbeat(ctx context.Context, task *Task) error
	// CompleteBatch records many outcomes in one append; the slice holds,
	// per outcome, nil or why it was not recorded.
	CompleteBatch(ctx context.Context, outcomes []Outcome) ([]error, error)
	// FinishBatch is CompleteBatch that, in the same append, leases up to
	// n ready tasks of queues (in order of preference); when none is ready
	// it waits up to wait for one (wait <= 0: it does not wait).
	FinishBatch(ctx context.Context, outcomes []Outcome, queues []string, n int, wait time.Duration) ([]error, []*Task, error)

	// PauseSchedule stops a recurring schedule's fires (or a delayed
	// task's run) until ResumeSchedule.
	PauseSchedule(ctx context.Context, taskID string) error
	ResumeSchedule(ctx context.Context, taskID string) error

	// Retry gives a task that ended failed, expired or cancelled a new
	// attempt; Cancel ends a task that has not started, with its
	// dependents. ErrTaskState when the task's state does not allow it.
	Retry(ctx context.Context, taskID string) error
	Cancel(ctx context.Context, taskID string) error
	// PauseQueue stops workers from taking tasks of queueName until
	// ResumeQueue; ErrTaskState when it is already paused (or, for
	// ResumeQueue, not paused).
	PauseQueue(ctx context.Context, queueName string) error
	ResumeQueue(ctx context.Context, queueName string) error

	// History returns every event about taskID in log order, those
	// retention archived included, even after the task was deleted;
	// ErrNotFound when there is none.
	History(ctx context.Context, taskID string) ([]Event, error)
	// Stats returns task counts per queue and state.
	Stats(ctx context.Context) (Stats, error)
	// ListTasks returns a page of the tasks that match f, in id order,
	// and the cursor of the next page ("" only at the end; a page may
	// hold fewer than f.Limit tasks before it: see TaskLister).
	ListTasks(ctx context.Context, f TaskFilter) ([]*Task, string, error)
	// Cluster says how the queue's node shares its log, and which nodes
	// share it.
	Cluster(ctx context.Context) (ClusterStatus, error)

	// Register names the handler that runs tasks whose Func is funcName;
	// Work runs registered handlers on tasks until ctx is done.
	Register(funcName string, h Handler) error
	Work(ctx context.Context, opts WorkOptions) error

	// Close releases the queue.
	Close() error
}

// Handler runs one attempt of a task. Its context is cancelled when the
// task's lease expires (a heartbeat moves that deadline). The returned value
// is stored as the task's result; an error fails the attempt (it is retried
// while retries are left). A panic is a failed attempt, not a crash.
type Handler func(ctx context.Context, t *Task) (any, error)

// WorkOptions configures Work.
type WorkOptions struct {
	// Queues to take tasks from, in order of preference (default: DefaultQueue).
	Queues []string
	// Concurrency is how many tasks run at once (default 1).
	Concurrency int
}

// Outcome is the answer to one lease, for CompleteBatch: Err nil completes
// the task with Result; otherwise the attempt fails with Err.
type Outcome struct {
	Task   *Task
	Result any
	Err    error
}
