package engine

import (
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

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
	Args       []any          // positional arguments: plain data (see events.CheckValue)
	Kwargs     map[string]any // keyword arguments: plain data
	QueueName  string         // "" means DefaultQueue
	Priority   int            // higher runs first; MinPriority..MaxPriority
	TTL        time.Duration  // expire if not started within TTL of enqueue (0: never)
	Retries    int            // retries after a failed attempt (0: none)
	MaxRetries int            // when set, the ceiling for Retries
	DependsOn  []string       // ids of tasks that must complete first
	Schedule   *Schedule      // delayed or recurring execution

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

func specToTask(id string, s *events.TaskSpec, t *Task) {
	t.ID, t.Func, t.Args, t.Kwargs = id, s.Func, s.Args, s.Kwargs
	t.QueueName, t.Priority, t.TTL = s.Queue, s.Priority, s.TTL
	t.Retries, t.MaxRetries = s.Retries, s.MaxRetries
	t.DependsOn = append([]string(nil), s.DependsOn...)
	t.ScheduleID = s.ScheduleID
	if s.RunAt != 0 || s.Paused {
		t.Schedule = &Schedule{RunAt: s.RunAt.Time(), Paused: s.Paused}
	}
}

// taskFromRecord copies a projection record into a new Task; now decides
// whether a pending task is still waiting for its time.
// REQUIRES: the engine's lock is held.
func taskFromRecord(r *projections.Task, now events.Timestamp) *Task {
	t := &Task{}
	spec := r.Spec()
	specToTask(r.ID, &spec, t)
	if t.Schedule != nil {
		t.Schedule.Paused = r.Paused
	} else if r.Paused {
		t.Schedule = &Schedule{Paused: true}
	}
	recordFields(t, r, now)
	return t
}

// recordFields sets the engine-filled fields of t from its record (what
// fillEngineFields copies), without copying the spec: commands refresh the
// caller's own task this way. REQUIRES: the engine's lock is held.
func recordFields(t *Task, r *projections.Task, now events.Timestamp) {
	t.ID, t.QueueName, t.ScheduleID = r.ID, r.Queue(), r.ScheduleID()
	t.Attempt, t.Result, t.Error = r.Attempt, r.Result(), r.Error()
	t.CreatedAt, t.UpdatedAt, t.FinishedAt = r.CreatedAt.Time(), r.UpdatedAt.Time(), r.FinishedAt().Time()
	t.LeaseDeadline, t.ReadyAt = r.LeaseDeadline.Time(), time.Time{}
	t.NextRunAt, t.Fires = time.Time{}, 0
	t.CancelledBy = r.CancelledBy()
	switch r.Status {
	case projections.StatusWaiting:
		t.State = StateWaiting
	case projections.StatusPending:
		t.State = StatePending
		if r.ReadyAt > now {
			t.State, t.ReadyAt = StateWaiting, r.ReadyAt.Time()
		}
	case projections.StatusRunning:
		t.State = StateRunning
	case projections.StatusCompleted:
		t.State = StateCompleted
	case projections.StatusFailed:
		t.State = StateFailed
	case projections.StatusExpired:
		t.State = StateExpired
	case projections.StatusCancelled:
		t.State = StateCancelled
	}
}

// taskFromSchedule presents a recurring schedule as a Task.
func taskFromSchedule(sc *projections.Schedule) *Task {
	t := &Task{}
	specToTask(sc.ID, &sc.Template, t)
	t.ScheduleID = ""
	t.Schedule = &Schedule{Cron: sc.Cron, Interval: time.Duration(sc.Interval), Paused: sc.Paused}
	t.State = StateScheduled
	t.CreatedAt, t.UpdatedAt = sc.CreatedAt.Time(), sc.UpdatedAt.Time()
	t.NextRunAt, t.Fires = sc.NextFire.Time(), sc.Fires
	return t
}
