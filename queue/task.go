package queue

import "time"

// DefaultQueue is the queue of a task enqueued with an empty QueueName.
const DefaultQueue = "default"

// State is where a task stands (docs/design.md, "Task lifecycle").
type State string

// Task states. StateScheduled is the state of a recurring schedule itself
// (a task declared with Schedule.Cron or Schedule.Interval); each fire creates
// a new task that moves through the other states.
const (
	StateWaiting   State = "waiting"   // dependencies unmet, run_at in the future, retry backoff, or paused
	StatePending   State = "pending"   // ready to be dequeued
	StateRunning   State = "running"   // leased by a worker
	StateCompleted State = "completed" // finished; Result holds the handler's result
	StateFailed    State = "failed"    // last attempt failed; Error holds why
	StateExpired   State = "expired"   // not started within its TTL
	StateCancelled State = "cancelled" // a dependency failed, expired, was cancelled or deleted
	StateScheduled State = "scheduled" // a recurring schedule (see Schedule.Paused)
)

// Terminal reports whether a task in this state will never change again.
func (s State) Terminal() bool {
	switch s {
	case StateCompleted, StateFailed, StateExpired, StateCancelled:
		return true
	}
	return false
}

// Schedule delays a task (RunAt) or makes it recurring (Cron or Interval).
type Schedule struct {
	// RunAt: the task is not handed out before this time. For a recurring
	// schedule, the first fire is not before it.
	RunAt time.Time
	// Cron: a standard 5-field cron expression (minute hour dom month dow),
	// evaluated in UTC unless it starts with CRON_TZ=Zone. Each fire enqueues
	// a new task.
	Cron string
	// Interval: fire every Interval (at least one second). The first fire is
	// at RunAt, or one Interval after the schedule is created.
	Interval time.Duration
	// Paused: no fires (or, for a delayed one-off task, no run) until resumed.
	Paused bool
}

// Task is a unit of work. The caller fills the fields above the line; the
// engine fills the rest.
type Task struct {
	ID         string         // set by Enqueue when empty (a ULID)
	Func       string         // the handler name a worker runs
	Args       []any          // positional arguments: plain data (numbers, strings, bools, bytes, lists, string-keyed maps)
	Kwargs     map[string]any // keyword arguments: plain data
	QueueName  string         // "" means DefaultQueue
	Priority   int            // higher runs first; MinPriority..MaxPriority
	TTL        time.Duration  // expire if not started within TTL of enqueue (0: never)
	Retries    int            // retries after a failed attempt (0: none)
	MaxRetries int            // when set, the ceiling for Retries
	DependsOn  []string       // ids of tasks that must complete first
	Schedule   *Schedule      // delayed or recurring execution
	// Meta is string metadata that travels with the task: stored in its
	// task.enqueued event, returned by GetTask and Dequeue, shown in
	// History, and copied to each task a recurring schedule fires. The
	// queue does not interpret it; a tracing wrapper (package otelomniq)
	// keeps the enqueuer's W3C trace context here. ValidateMeta says what
	// it may hold.
	Meta map[string]string

	// Filled in by the engine.
	State         State
	Attempt       int       // attempts started; the current lease's fencing token
	Result        any       // what the handler returned (completed tasks)
	Error         string    // why the last attempt failed
	CreatedAt     time.Time // when it was enqueued
	UpdatedAt     time.Time // when its state last changed
	FinishedAt    time.Time // when it reached a terminal state
	LeaseDeadline time.Time // while running: when the lease expires
	ReadyAt       time.Time // while waiting on a time: when it may run
	ScheduleID    string    // the recurring schedule that created it
	NextRunAt     time.Time // for a recurring schedule: its next fire
	Fires         int       // for a recurring schedule: how many times it fired
	CancelledBy   string    // for a cancelled task: the dependency that ended badly
}

// Priority bounds.
const (
	MinPriority = -1000
	MaxPriority = 1000
)
