package queue

import (
	"errors"
	"fmt"
)

// Errors every queue returns, the embedded engine and the remote client
// alike. Match them with errors.Is; returned errors wrap them with a message
// that says what to fix. (Their text begins "engine:" for the engine that
// decides them; a remote client gives back the same values.)
var (
	// ErrNotFound: no task or schedule has that id, or it was deleted.
	ErrNotFound = errors.New("engine: not found")
	// ErrStaleLease: the lease named by the task's attempt is no longer the
	// current one (it expired, the task was retried, completed or deleted).
	// Nothing was changed.
	ErrStaleLease = errors.New("engine: stale lease")
	// ErrLogChanged: the log held events the engine had not yet seen (an
	// append reported as failed that was written after all, or another
	// writer on a shared log), and they decided otherwise; the command's
	// events are in the log but did not take effect as asked.
	ErrLogChanged = errors.New("engine: the log changed under the command")
	// ErrClosed: the engine is closed.
	ErrClosed = errors.New("engine: closed")
	// ErrInvalidArgument: the request is malformed. Every validation error
	// below wraps it, so one check catches all bad input.
	ErrInvalidArgument = errors.New("engine: invalid argument")

	ErrInvalidID         = fmt.Errorf("%w: invalid task id", ErrInvalidArgument)
	ErrDuplicateID       = fmt.Errorf("%w: task id already used", ErrInvalidArgument)
	ErrInvalidFunc       = fmt.Errorf("%w: invalid func name", ErrInvalidArgument)
	ErrInvalidQueueName  = fmt.Errorf("%w: invalid queue name", ErrInvalidArgument)
	ErrInvalidPriority   = fmt.Errorf("%w: priority out of range", ErrInvalidArgument)
	ErrInvalidRetries    = fmt.Errorf("%w: invalid retries", ErrInvalidArgument)
	ErrInvalidTTL        = fmt.Errorf("%w: invalid ttl", ErrInvalidArgument)
	ErrInvalidArgs       = fmt.Errorf("%w: args, kwargs or result are not plain data", ErrInvalidArgument)
	ErrPayloadTooLarge   = fmt.Errorf("%w: payload too large", ErrInvalidArgument)
	ErrUnknownDependency = fmt.Errorf("%w: unknown dependency", ErrInvalidArgument)
	ErrDependencyCycle   = fmt.Errorf("%w: dependency cycle", ErrInvalidArgument)
	ErrInvalidSchedule   = fmt.Errorf("%w: invalid schedule", ErrInvalidArgument)
	ErrInvalidCron       = fmt.Errorf("%w: invalid cron expression", ErrInvalidArgument)
	ErrNotSchedule       = fmt.Errorf("%w: task has no schedule to pause or resume", ErrInvalidArgument)
	ErrInvalidHandler    = fmt.Errorf("%w: invalid handler registration", ErrInvalidArgument)
	ErrInvalidMeta       = fmt.Errorf("%w: invalid meta", ErrInvalidArgument)

	// ErrNoHandler: a worker leased a task whose func has no registered
	// handler; that attempt fails with this error.
	ErrNoHandler = errors.New("engine: no handler registered for func")

	// ErrArchived: the task is no longer in the live state because
	// retention archived it; its history is in the archive. It wraps
	// ErrNotFound, so errors.Is(err, ErrNotFound) holds too.
	ErrArchived = fmt.Errorf("%w: archived by retention", ErrNotFound)

	// ErrTaskState: the task exists but its state does not allow the
	// command (retry a task that did not fail, cancel one that is
	// running or has ended).
	ErrTaskState = errors.New("engine: not allowed in the task's state")

	// ErrUnavailable: the store (or, for a remote client, the daemon's
	// store) could not be reached; the call may or may not have taken
	// effect. The stores package's ErrUnavailable is this value.
	ErrUnavailable = errors.New("stores: unavailable")
)
