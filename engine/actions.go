package engine

// The operator actions: Retry, Cancel and Delete of tasks, one or a batch
// at a time, and PauseQueue/ResumeQueue. Each is one command through the
// committer (submit), so it validates against the state and appends its
// events in one batch, conditionally on a shared log like every command.
//
// A batch action stages its items in order within one command. Commands of
// one batch of the committer touch disjoint tasks (txn.touch), but items of
// one action may touch the same task (a dependency and its dependant), so
// the action keeps its own view of what its earlier items did (actionView)
// and validates each item against the state as changed by them.

import (
	"context"
	"errors"
	"fmt"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

// MaxActionBatch is the most ids RetryTasks, CancelTasks and DeleteTasks
// take in one call; more is ErrInvalidArgument, and nothing changes.
const MaxActionBatch = 1000

// Retry gives a task that ended failed, expired or cancelled a new attempt:
// it is pending again, with its retries budget restored. ErrNotFound for an
// unknown or deleted task, ErrArchived for one retention archived,
// ErrTaskState for a task in any other state.
//
// The retried task is ready at once (or waits for its dependencies that
// have not completed yet); its attempt counter goes on, so a lease of an
// earlier attempt stays stale; its TTL no longer applies. A dependency that
// ended other than completed refuses the retry (ErrTaskState: retry that
// dependency first), as does a recurring schedule's id. The tasks that
// were cancelled because this one failed stay cancelled: retry them too.
func (e *Engine) Retry(ctx context.Context, taskID string) error {
	errs, err := e.RetryTasks(ctx, []string{taskID})
	return firstErr(errs, err)
}

// RetryTasks is Retry of many tasks in one append. The slice holds, per id,
// nil or why that task was not retried; err is for the append as a whole.
// Items are taken in order, each seeing what the ones before it did (a
// dependency and its dependant may be retried together, the dependency
// first). An empty id or one the batch already named is refused for that
// item (ErrInvalidArgument). At most MaxActionBatch ids.
func (e *Engine) RetryTasks(ctx context.Context, ids []string) ([]error, error) {
	return e.runAction(ctx, ids, e.stageRetry)
}

// Cancel ends a task that has not started (pending, waiting on its run-at,
// a retry backoff or its dependencies) as cancelled; the tasks that depend
// on it are cancelled too. ErrNotFound for an unknown or deleted task,
// ErrTaskState for one that is running or has ended.
//
// The task's task.cancelled names the reason "requested"
// (events.CancelRequested). A recurring schedule's id is ErrTaskState:
// PauseSchedule or DeleteTask stops a schedule.
func (e *Engine) Cancel(ctx context.Context, taskID string) error {
	errs, err := e.CancelTasks(ctx, []string{taskID})
	return firstErr(errs, err)
}

// CancelTasks is Cancel of many tasks in one append, with per-id errors as
// RetryTasks (a task that an earlier item's cancellation cancelled is
// ErrTaskState). At most MaxActionBatch ids.
func (e *Engine) CancelTasks(ctx context.Context, ids []string) ([]error, error) {
	return e.runAction(ctx, ids, e.stageCancel)
}

// DeleteTasks is DeleteTask of many tasks in one append, with per-id errors
// as RetryTasks. At most MaxActionBatch ids.
func (e *Engine) DeleteTasks(ctx context.Context, ids []string) ([]error, error) {
	return e.runAction(ctx, ids, e.stageDelete)
}

// DeleteTask implements TaskQueue. Deleting a running task makes its lease
// stale; deleting a task that has not ended cancels the tasks depending on
// it; deleting a recurring schedule's id stops the schedule.
func (e *Engine) DeleteTask(ctx context.Context, taskID string) error {
	errs, err := e.DeleteTasks(ctx, []string{taskID})
	return firstErr(errs, err)
}

// actionView is what the earlier items of one batch action did, for the
// later ones to validate against: the status each task it changed will
// have once the batch is applied, and the schedules it deleted.
type actionView struct {
	status    map[string]projections.Status
	schedules map[string]bool
}

// statusOf returns the status task id has in the view (0: unknown), and
// its record in the state (nil: unknown).
// REQUIRES: e.mu held.
func (v *actionView) statusOf(e *Engine, id string) (projections.Status, *projections.Task) {
	r := e.state.Task(id)
	if st, ok := v.status[id]; ok {
		return st, r
	}
	if r == nil {
		return 0, nil
	}
	return r.Status, r
}

// liveSchedule reports whether id is a recurring schedule that neither the
// state nor an earlier item of the batch has deleted. REQUIRES: e.mu held.
func (v *actionView) liveSchedule(e *Engine, id string) bool {
	sc := e.state.Schedule(id)
	return sc != nil && !sc.Deleted && !v.schedules[id]
}

// liveTask is statusOf for a task the action may act on: errAbsent when
// the task is unknown or deleted. REQUIRES: e.mu held.
func (v *actionView) liveTask(e *Engine, id string) (projections.Status, *projections.Task, error) {
	st, r := v.statusOf(e, id)
	if r == nil || st == projections.StatusDeleted {
		return 0, nil, errAbsent{id}
	}
	return st, r, nil
}

// errAbsent marks an item refused because its task is unknown or deleted;
// runAction turns it into ErrNotFound or, when retention archived the task,
// ErrArchived (which needs the archive, read without e.mu).
type errAbsent struct{ id string }

func (e errAbsent) Error() string { return fmt.Sprintf("task %q not found", e.id) }

// stageItem validates one item of a batch action and stages its events.
// An error refuses the item; errConflict (from tx.touch) defers the whole
// command. REQUIRES: e.mu held.
type stageItem func(tx *txn, v *actionView, id string) error

// runAction runs one batch action: ids checked, then one command staging
// every item in order. REQUIRES: nothing held.
func (e *Engine) runAction(ctx context.Context, ids []string, stage stageItem) ([]error, error) {
	if len(ids) > MaxActionBatch {
		return nil, fmt.Errorf("%w: %d ids, at most %d in one call", ErrInvalidArgument, len(ids), MaxActionBatch)
	}
	if e.isClosed() {
		return nil, ErrClosed
	}
	// checked: refused before the command, which may be prepared more
	// than once (after a lost conditional append on a shared log).
	checked := make([]error, len(ids))
	seen := make(map[string]int, len(ids))
	for i, id := range ids {
		if id == "" {
			checked[i] = fmt.Errorf("%w: empty task id", ErrInvalidArgument)
			continue
		}
		if j, ok := seen[id]; ok {
			checked[i] = fmt.Errorf("%w: task %q is item %d of the batch already", ErrInvalidArgument, id, j)
			continue
		}
		seen[id] = i
	}
	errs := make([]error, len(ids))
	err := e.submit(ctx, func(tx *txn) error {
		copy(errs, checked)
		v := &actionView{status: map[string]projections.Status{}, schedules: map[string]bool{}}
		for i, id := range ids {
			if errs[i] != nil {
				continue
			}
			if err := stage(tx, v, id); err != nil {
				if errors.Is(err, errConflict) {
					return err
				}
				errs[i] = err
			}
		}
		return nil
	}, nil)
	if err != nil {
		return nil, err
	}
	for i, err := range errs {
		if a, ok := err.(errAbsent); ok {
			errs[i] = e.archived(ctx, a.id)
		}
	}
	return errs, nil
}

// stageRetry stages the task.retried of id. REQUIRES: e.mu held.
func (e *Engine) stageRetry(tx *txn, v *actionView, id string) error {
	if v.liveSchedule(e, id) {
		return fmt.Errorf("%w: %q is a recurring schedule, not a task that ran; it cannot be retried", ErrTaskState, id)
	}
	st, r, err := v.liveTask(e, id)
	if err != nil {
		return err
	}
	if !projections.Retryable(st) {
		return fmt.Errorf("%w: task %q is %s; only a failed, expired or cancelled task can be retried", ErrTaskState, id, st)
	}
	for _, dep := range r.DependsOn() {
		ds, _ := v.statusOf(e, dep)
		switch {
		case ds == 0 && r.CancelledBy() == dep:
			return fmt.Errorf("%w: task %q was cancelled by its dependency %q, which is no longer kept (compacted)", ErrTaskState, id, dep)
		case ds == 0, ds == projections.StatusCompleted, !ds.Terminal():
			// Met, waited for, or ended long ago and compacted away: the
			// fold counts a dependency it no longer knows as met.
		default:
			return fmt.Errorf("%w: task %q depends on %q, which is %s: retry dependency %q first", ErrTaskState, id, dep, ds, dep)
		}
		if ds != 0 {
			if err := tx.touch(dep); err != nil {
				return err
			}
		}
	}
	if err := tx.touch(id); err != nil {
		return err
	}
	tx.add(id, &events.TaskRetried{Attempt: r.Attempt})
	v.status[id] = projections.StatusPending
	return nil
}

// stageCancel stages the cancellation of id, which has not started, and
// of its dependants. REQUIRES: e.mu held.
func (e *Engine) stageCancel(tx *txn, v *actionView, id string) error {
	if v.liveSchedule(e, id) {
		return fmt.Errorf("%w: %q is a recurring schedule; pause or delete it to stop it", ErrTaskState, id)
	}
	st, _, err := v.liveTask(e, id)
	if err != nil {
		return err
	}
	switch {
	case st == projections.StatusRunning:
		return fmt.Errorf("%w: task %q is running; only a task that has not started can be cancelled", ErrTaskState, id)
	case st.Terminal():
		return fmt.Errorf("%w: task %q has ended (%s); only a task that has not started can be cancelled", ErrTaskState, id, st)
	}
	if err := tx.touch(id); err != nil {
		return err
	}
	tx.add(id, &events.TaskCancelled{Reason: events.CancelRequested})
	v.status[id] = projections.StatusCancelled
	return e.stageViewCascade(tx, v, id, projections.StatusCancelled)
}

// stageDelete stages the deletion of task or schedule id, and the
// cancellation of the tasks waiting on a task that had not ended.
// REQUIRES: e.mu held.
func (e *Engine) stageDelete(tx *txn, v *actionView, id string) error {
	if v.liveSchedule(e, id) {
		if err := tx.touch(id); err != nil {
			return err
		}
		tx.add(id, &events.ScheduleDeleted{})
		v.schedules[id] = true
		return nil
	}
	st, _, err := v.liveTask(e, id)
	if err != nil {
		return err
	}
	if err := tx.touch(id); err != nil {
		return err
	}
	tx.add(id, &events.TaskDeleted{})
	v.status[id] = projections.StatusDeleted
	if !st.Terminal() {
		return e.stageViewCascade(tx, v, id, projections.StatusDeleted)
	}
	return nil
}

// stageViewCascade stages the cancellation of every task waiting on id,
// which is ending with status end. In a batch action (v not nil) the
// dependants that an earlier item already ended are left alone, and those
// it ends are recorded in v; outside one v is nil. REQUIRES: e.mu held.
func (e *Engine) stageViewCascade(tx *txn, v *actionView, id string, end projections.Status) error {
	reason, bad := badEnd(end)
	if !bad {
		return nil
	}
	for _, d := range e.state.Dependants(id) {
		if v != nil {
			if st, ok := v.status[d.Task.ID]; ok && st.Terminal() {
				continue
			}
		}
		if err := tx.touch(d.Task.ID); err != nil {
			return err
		}
		r := reason
		if d.Via != id {
			r = events.CancelDependencyCancelled
		}
		tx.add(d.Task.ID, &events.TaskCancelled{Reason: r, Dependency: d.Via})
		if v != nil {
			if v.status == nil {
				v.status = map[string]projections.Status{}
			}
			v.status[d.Task.ID] = projections.StatusCancelled
		}
	}
	return nil
}

// PauseQueue stops every worker from taking tasks of queueName until
// ResumeQueue; tasks may still be enqueued to it, and leases already held
// run to their end. Pausing a paused queue is ErrTaskState. "" is the
// default queue; a bad name is ErrInvalidQueueName.
//
// A paused queue only stops leasing: heartbeats, completions and failures
// of leases already held are recorded, and the timers (lease expiry, TTL,
// retry backoff, schedule fires) act on its tasks as on any other. A
// DequeueWait on it waits on; ResumeQueue wakes it when tasks are ready.
// The pause is in the log (queue.paused), so it holds across restarts,
// snapshots and compaction, and on every engine sharing the log.
func (e *Engine) PauseQueue(ctx context.Context, queueName string) error {
	return e.setQueuePaused(ctx, queueName, true)
}

// ResumeQueue undoes PauseQueue. Resuming a queue that is not paused is
// ErrTaskState.
func (e *Engine) ResumeQueue(ctx context.Context, queueName string) error {
	return e.setQueuePaused(ctx, queueName, false)
}

func (e *Engine) setQueuePaused(ctx context.Context, queueName string, pause bool) error {
	if err := ValidateQueueName(queueName); err != nil {
		return err
	}
	q := queueOrDefault(queueName)
	return e.submit(ctx, func(tx *txn) error {
		// The reservation holds back leases of q prepared while this
		// command is in flight (leasesStopped): none follows the pause
		// in the log.
		if err := tx.touch(queueKey(q)); err != nil {
			return err
		}
		switch paused := e.state.QueuePaused(q); {
		case pause && paused:
			return fmt.Errorf("%w: queue %q is already paused", ErrTaskState, q)
		case !pause && !paused:
			return fmt.Errorf("%w: queue %q is not paused", ErrTaskState, q)
		case pause:
			tx.add("", &events.QueuePaused{Queue: q})
		default:
			tx.add("", &events.QueueResumed{Queue: q})
		}
		return nil
	}, nil)
}

// queueKey is the reservation (txn.touch) of queue q by PauseQueue and
// ResumeQueue. It is never a task id: those hold no control character
// (validateID), and the key starts with NUL.
func queueKey(q string) string { return "\x00queue\x00" + q }

// leasesStopped reports whether no task of queue q may be leased now: q is
// paused, or a PauseQueue or ResumeQueue of it is in flight.
// REQUIRES: e.mu held.
func (e *Engine) leasesStopped(q string) bool {
	return e.state.QueuePaused(q) || e.reserved[queueKey(q)]
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
