package engine

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/queue"
)

// Enqueue implements TaskQueue.
func (e *Engine) Enqueue(ctx context.Context, task *Task) error {
	return e.EnqueueBatch(ctx, []*Task{task})
}

// EnqueueBatch adds tasks atomically: all of them or, on any error, none. A
// task may depend on tasks enqueued before it in the same batch. Each task's
// ID and engine-filled fields are set on success.
func (e *Engine) EnqueueBatch(ctx context.Context, tasks []*Task) error {
	if len(tasks) == 0 {
		return nil
	}
	now := e.now()
	specs := make([]events.TaskSpec, len(tasks))
	for i, t := range tasks {
		s, err := e.specFromTask(t, now)
		if err == nil {
			s.Meta, err = metaFromTask(t)
		}
		if err != nil {
			if len(tasks) > 1 {
				return fmt.Errorf("task %d: %w", i, err)
			}
			return err
		}
		specs[i] = s
	}
	ids := make([]string, len(tasks))
	err := e.submit(ctx, func(tx *txn) error {
		inBatch := make(map[string]bool, len(tasks))
		for i, t := range tasks {
			id := t.ID
			if id == "" {
				id = events.NewID(tx.now).String()
			}
			if inBatch[id] || e.state.Task(id) != nil || e.state.Schedule(id) != nil {
				return fmt.Errorf("%w: %q", ErrDuplicateID, id)
			}
			if err := tx.touch(id); err != nil {
				return err
			}
			if err := e.stageEnqueue(tx, id, &specs[i], t.Schedule, inBatch); err != nil {
				return err
			}
			inBatch[id] = true
			ids[i] = id
		}
		return nil
	}, func() {
		now := events.At(e.now())
		for i, t := range tasks {
			if r := e.state.Task(ids[i]); r != nil {
				recordFields(t, r, now)
			} else if sc := e.state.Schedule(ids[i]); sc != nil {
				fillEngineFields(t, taskFromSchedule(sc))
			}
		}
	})
	return err
}

// metaFromTask validates task's Meta and returns a copy for the log (nil
// when empty), so that the caller may change its map afterwards.
func metaFromTask(t *Task) (map[string]string, error) {
	if err := queue.ValidateMeta(t.Meta); err != nil {
		return nil, err
	}
	if len(t.Meta) == 0 {
		return nil, nil
	}
	return maps.Clone(t.Meta), nil
}

// fillEngineFields copies what the engine decided into the caller's task.
func fillEngineFields(dst, src *Task) {
	dst.ID, dst.QueueName, dst.State = src.ID, src.QueueName, src.State
	dst.Attempt, dst.Result, dst.Error = src.Attempt, src.Result, src.Error
	dst.CreatedAt, dst.UpdatedAt, dst.FinishedAt = src.CreatedAt, src.UpdatedAt, src.FinishedAt
	dst.LeaseDeadline, dst.ReadyAt, dst.NextRunAt = src.LeaseDeadline, src.ReadyAt, src.NextRunAt
	dst.ScheduleID, dst.Fires, dst.CancelledBy = src.ScheduleID, src.Fires, src.CancelledBy
}

// stageEnqueue stages the events creating one task or recurring schedule.
// REQUIRES: e.mu held (prepare).
func (e *Engine) stageEnqueue(tx *txn, id string, spec *events.TaskSpec, sched *Schedule, inBatch map[string]bool) error {
	if sched != nil && (sched.Cron != "" || sched.Interval != 0) {
		first, err := firstFire(sched, tx.now)
		if err != nil {
			return err
		}
		tmpl := *spec
		tmpl.RunAt, tmpl.Paused = 0, false
		tx.add(id, &events.ScheduleCreated{
			Template: tmpl, Cron: sched.Cron, Interval: sched.Interval,
			NextFire: events.At(first), Paused: sched.Paused,
		})
		return nil
	}
	// A dependency that already ended badly cancels the new task at once.
	var cancel *events.TaskCancelled
	for _, dep := range spec.DependsOn {
		if dep == id {
			return fmt.Errorf("%w: task %q depends on itself", ErrDependencyCycle, id)
		}
		if inBatch[dep] {
			continue
		}
		d := e.state.Task(dep)
		if d == nil || d.Status == projections.StatusDeleted {
			return fmt.Errorf("%w: %q (task %q; in a batch, a task may depend only on tasks before it)", ErrUnknownDependency, trunc(dep), id)
		}
		if err := tx.touch(dep); err != nil {
			return err
		}
		if reason, bad := badEnd(d.Status); bad && cancel == nil {
			cancel = &events.TaskCancelled{Reason: reason, Dependency: dep}
		}
	}
	tx.add(id, &events.TaskEnqueued{Spec: *spec})
	if cancel != nil {
		tx.add(id, cancel)
	}
	return nil
}

// badEnd maps a terminal status other than completed to the reason its
// dependants are cancelled.
func badEnd(s projections.Status) (events.CancelReason, bool) {
	switch s {
	case projections.StatusFailed:
		return events.CancelDependencyFailed, true
	case projections.StatusExpired:
		return events.CancelDependencyExpired, true
	case projections.StatusCancelled:
		return events.CancelDependencyCancelled, true
	case projections.StatusDeleted:
		return events.CancelDependencyDeleted, true
	}
	return "", false
}

// stageCascade stages the cancellation of every task waiting on id, which is
// ending with status end (stageViewCascade outside a batch action).
// REQUIRES: e.mu held.
func (e *Engine) stageCascade(tx *txn, id string, end projections.Status) error {
	return e.stageViewCascade(tx, nil, id, end)
}

// Dequeue implements TaskQueue: it leases the next ready task of queueName.
// The returned task's Attempt is the lease's fencing token; pass the task to
// Complete, Fail or Heartbeat.
func (e *Engine) Dequeue(ctx context.Context, queueName string) (*Task, error) {
	tasks, err := e.DequeueN(ctx, queueName, 1)
	if len(tasks) == 0 {
		return nil, err
	}
	return tasks[0], err
}

// DequeueN leases up to n ready tasks of queueName in one append. It returns
// an empty slice when nothing is ready.
func (e *Engine) DequeueN(ctx context.Context, queueName string, n int) ([]*Task, error) {
	if err := ValidateQueueName(queueName); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("%w: dequeue count %d must be positive", ErrInvalidArgument, n)
	}
	queue := queueOrDefault(queueName)
	if e.isClosed() {
		return nil, ErrClosed
	}
	// Fast path: nothing ready means nothing to write.
	e.mu.Lock()
	ready := e.state.HasReady(queue, events.At(e.now()))
	e.mu.Unlock()
	if !ready {
		return nil, nil
	}
	var leased []*projections.Task
	var out []*Task
	err := e.submit(ctx, func(tx *txn) error {
		leased = e.stageLeases(tx, queue, n, leased[:0])
		return nil
	}, func() {
		now := events.At(e.now())
		for _, t := range leased {
			out = append(out, taskFromRecord(t, now))
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// leaseCheck returns the task's record when task's attempt holds the current
// lease, ErrStaleLease otherwise. REQUIRES: e.mu held.
func (e *Engine) leaseCheck(tx *txn, task *Task) (*projections.Task, error) {
	r := e.state.Task(task.ID)
	if r == nil {
		return nil, fmt.Errorf("%w: task %q", ErrNotFound, task.ID)
	}
	if err := tx.touch(task.ID); err != nil {
		return nil, err
	}
	if r.Status != projections.StatusRunning || r.Attempt != task.Attempt {
		return nil, fmt.Errorf("%w: task %q attempt %d (task is %s at attempt %d)", ErrStaleLease, task.ID, task.Attempt, r.Status, r.Attempt)
	}
	return r, nil
}

// Complete records that the lease task.Attempt of task finished with result.
// ErrStaleLease (nothing changes) when that lease is no longer current.
// result must be plain data (ErrInvalidArgs).
func (e *Engine) Complete(ctx context.Context, task *Task, result any) error {
	if task == nil {
		return fmt.Errorf("%w: nil task", ErrInvalidArgument)
	}
	res, err := e.normalizeResult(result)
	if err != nil {
		return err
	}
	return e.submit(ctx, func(tx *txn) error {
		return e.stageOutcome(tx, nil, task, res, false, "")
	}, func() { e.refresh(task) })
}

// normalizeResult checks and normalizes a handler's result.
func (e *Engine) normalizeResult(result any) (any, error) {
	res, err := events.Normalize(result)
	if err != nil {
		return nil, fmt.Errorf("%w: result: %w", ErrInvalidArgs, err)
	}
	if res != nil {
		if b, err := events.MarshalValue(res); err == nil && len(b) > e.cfg.maxPayload {
			return nil, fmt.Errorf("%w: result encodes to %d bytes, limit %d", ErrPayloadTooLarge, len(b), e.cfg.maxPayload)
		}
	}
	return res, nil
}

// failureMessage is what the log keeps of a failure cause (at most 64 KiB).
func failureMessage(cause error) string {
	msg := "failed"
	if cause != nil {
		msg = cause.Error()
	}
	if len(msg) > 64<<10 {
		msg = msg[:64<<10] + "…"
	}
	return msg
}

// Fail records that the lease task.Attempt of task failed with cause. With
// retries left the task is retried after the backoff delay; otherwise it is
// failed and the tasks depending on it are cancelled. ErrStaleLease (nothing
// changes) when that lease is no longer current.
func (e *Engine) Fail(ctx context.Context, task *Task, cause error) error {
	if task == nil {
		return fmt.Errorf("%w: nil task", ErrInvalidArgument)
	}
	msg := failureMessage(cause)
	return e.submit(ctx, func(tx *txn) error {
		return e.stageOutcome(tx, nil, task, nil, true, msg)
	}, func() { e.refresh(task) })
}

// stageOutcome stages the answer to task's lease: its completion with
// result, or when failed, the failed attempt (a retry, or the final failure
// and its cascade) with msg. ErrStaleLease when that lease is not current.
// REQUIRES: e.mu held; result normalized.
// v, when not nil, is what earlier outcomes of the same command did (a
// dependant their cascades cancelled is not cancelled again).
func (e *Engine) stageOutcome(tx *txn, v *actionView, task *Task, result any, failed bool, msg string) error {
	r, err := e.leaseCheck(tx, task)
	if err != nil {
		return err
	}
	if failed {
		return e.stageAttemptFailed(tx, v, r, msg)
	}
	tx.add(task.ID, &events.TaskCompleted{Attempt: task.Attempt, Result: result})
	return nil
}

// stageAttemptFailed stages a retry, or the final failure and its cascade.
// The retries used count from the task's last retry by hand (RetryBase),
// which restores the whole budget. REQUIRES: e.mu held; r is running.
func (e *Engine) stageAttemptFailed(tx *txn, v *actionView, r *projections.Task, msg string) error {
	if used := r.Attempt - r.RetryBase(); used <= r.Retries() {
		retryAt := tx.now.Add(max(e.cfg.backoff(used), 0))
		tx.add(r.ID, &events.TaskRetryScheduled{Attempt: r.Attempt, Error: msg, RetryAt: events.At(retryAt)})
		return nil
	}
	// The failure goes before the cancellations it causes.
	tx.add(r.ID, &events.TaskFailed{Attempt: r.Attempt, Error: msg})
	return e.stageViewCascade(tx, v, r.ID, projections.StatusFailed)
}

// Heartbeat extends the lease task.Attempt of task by the lease timeout.
// ErrStaleLease when that lease is no longer current.
func (e *Engine) Heartbeat(ctx context.Context, task *Task) error {
	if task == nil {
		return fmt.Errorf("%w: nil task", ErrInvalidArgument)
	}
	return e.submit(ctx, func(tx *txn) error { return e.stageHeartbeat(tx, task) }, func() { e.refresh(task) })
}

// stageHeartbeat stages the extension of task's lease task.Attempt by the
// lease timeout, or says why not (ErrStaleLease, ErrNotFound, errConflict).
func (e *Engine) stageHeartbeat(tx *txn, task *Task) error {
	if _, err := e.leaseCheck(tx, task); err != nil {
		return err
	}
	tx.add(task.ID, &events.TaskHeartbeat{Attempt: task.Attempt, Deadline: events.At(tx.now.Add(e.cfg.leaseTimeout))})
	return nil
}

// refresh copies the engine-filled fields of task's record into task.
// REQUIRES: e.mu held.
func (e *Engine) refresh(task *Task) {
	if r := e.state.Task(task.ID); r != nil {
		recordFields(task, r, events.At(e.now()))
	}
}

// PauseSchedule stops a recurring schedule from firing, or holds back a
// delayed task that has not started. ErrNotFound for an unknown id,
// ErrNotSchedule for a task without a schedule or one already paused or ended.
func (e *Engine) PauseSchedule(ctx context.Context, taskID string) error {
	return e.setPaused(ctx, taskID, true)
}

// ResumeSchedule undoes PauseSchedule. A resumed recurring schedule fires
// next at its first fire time after now (missed fires are not replayed).
func (e *Engine) ResumeSchedule(ctx context.Context, taskID string) error {
	return e.setPaused(ctx, taskID, false)
}

func (e *Engine) setPaused(ctx context.Context, taskID string, pause bool) error {
	verb := map[bool]string{true: "pause", false: "resume"}[pause]
	return e.submit(ctx, func(tx *txn) error {
		if sc := e.state.Schedule(taskID); sc != nil && !sc.Deleted {
			if sc.Paused == pause {
				return fmt.Errorf("%w: cannot %s schedule %q: paused is already %v", ErrNotSchedule, verb, taskID, pause)
			}
			if err := tx.touch(taskID); err != nil {
				return err
			}
			if pause {
				tx.add(taskID, &events.SchedulePaused{})
				return nil
			}
			next, err := nextFire(sc.Cron, time.Duration(sc.Interval), sc.NextFire.Time(), tx.now)
			if err != nil {
				return err
			}
			tx.add(taskID, &events.ScheduleResumed{NextFire: events.At(next)})
			return nil
		}
		r := e.state.Task(taskID)
		if r == nil || r.Status == projections.StatusDeleted {
			return fmt.Errorf("%w: task %q", ErrNotFound, taskID)
		}
		if sp := r.Spec(); sp.RunAt == 0 && !sp.Paused || r.Status.Terminal() || r.Status == projections.StatusRunning || r.Paused == pause {
			return fmt.Errorf("%w: cannot %s task %q (%s, paused %v)", ErrNotSchedule, verb, taskID, r.Status, r.Paused)
		}
		if err := tx.touch(taskID); err != nil {
			return err
		}
		if pause {
			tx.add(taskID, &events.SchedulePaused{})
		} else {
			tx.add(taskID, &events.ScheduleResumed{})
		}
		return nil
	}, nil)
}

// CompleteBatch records many outcomes in one append. The returned slice
// holds, per outcome, nil or why it was not recorded (ErrStaleLease,
// ErrInvalidArgs, …); the error is for the batch as a whole (ErrClosed, a
// failed append), in which case none was recorded.
func (e *Engine) CompleteBatch(ctx context.Context, outcomes []Outcome) ([]error, error) {
	errs, _, err := e.finishBatch(ctx, outcomes, nil, 0)
	return errs, err
}
