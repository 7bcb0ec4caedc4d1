package projections

import "github.com/omniq/omniq/events"

// Status is where a task stands in its lifecycle (DESIGN.md, "Task lifecycle").
type Status uint8

// Task statuses. Waiting: dependencies unmet or held by a paused schedule.
// Pending: may run once its ReadyAt has passed. Values are part of the snapshot
// format: never renumber.
const (
	StatusWaiting Status = iota + 1
	StatusPending
	StatusRunning
	StatusCompleted
	StatusFailed
	StatusExpired
	StatusCancelled
	StatusDeleted
	statusEnd
)

var statusNames = [...]string{
	StatusWaiting:   "waiting",
	StatusPending:   "pending",
	StatusRunning:   "running",
	StatusCompleted: "completed",
	StatusFailed:    "failed",
	StatusExpired:   "expired",
	StatusCancelled: "cancelled",
	StatusDeleted:   "deleted",
}

// Statuses lists every status in lifecycle order.
func Statuses() []Status {
	out := make([]Status, 0, statusEnd-1)
	for s := Status(1); s < statusEnd; s++ {
		out = append(out, s)
	}
	return out
}

func (s Status) String() string {
	if s > 0 && s < statusEnd {
		return statusNames[s]
	}
	return "unknown"
}

// Terminal reports whether no event can move a task out of s.
func (s Status) Terminal() bool { return s >= StatusCompleted }

// Task is the projection's record of one task.
type Task struct {
	ID   string
	Spec events.TaskSpec

	Status  Status
	Attempt int // attempts started so far; the current lease's fencing token
	// ReadyAt: a pending task is not handed out before it (0: at once). It is
	// the spec's RunAt, then each retry's RetryAt.
	ReadyAt       events.Timestamp
	LeaseDeadline events.Timestamp // while running
	Worker        string           // holder of the current lease
	Result        any
	Error         string
	CancelReason  events.CancelReason
	CancelledBy   string // the dependency whose end cancelled this task
	Paused        bool
	Unmet         int // dependencies not yet completed

	CreatedAt   events.Timestamp
	UpdatedAt   events.Timestamp
	FinishedAt  events.Timestamp // when it reached a terminal status
	EnqueuedPos uint64           // position of its task.enqueued event
	// ReadySeq orders equal-priority tasks first-in first-out: the position of
	// the event that last made the task pending.
	ReadySeq uint64

	readyIdx, delayIdx, leaseIdx, ttlIdx int32
}

// TTLDeadline returns when the task expires if not started (0: never).
// INVARIANT: TTL only applies before the first attempt starts.
func (t *Task) TTLDeadline() events.Timestamp {
	if t.Spec.TTL <= 0 || t.Attempt > 0 {
		return 0
	}
	return t.CreatedAt + events.Timestamp(t.Spec.TTL)
}

// Schedule is the projection's record of one recurring schedule.
type Schedule struct {
	ID           string
	Template     events.TaskSpec
	Cron         string
	Interval     int64 // nanoseconds
	NextFire     events.Timestamp
	Paused       bool
	Deleted      bool
	Fires        int
	LastInstance string
	CreatedAt    events.Timestamp
	UpdatedAt    events.Timestamp

	fireIdx int32
}

func newTask(id string) *Task {
	return &Task{ID: id, readyIdx: -1, delayIdx: -1, leaseIdx: -1, ttlIdx: -1}
}
