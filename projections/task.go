package projections

import (
	"math"
	"time"
	"unsafe"

	"github.com/omniq/omniq/events"
)

// Status is where a task stands in its lifecycle (docs/design.md, "Task lifecycle").
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

// Task is the projection's record of one task. A state holds one per task it
// has ever seen, so the record is kept small: the fields every task uses are
// inline, the rest of the spec (kwargs, dependencies, TTL, run-at, schedule,
// max retries, meta) and the outcome of its attempts (worker, result, error, cancel
// cause) live behind pointers that stay nil until something sets them. The
// accessor methods read either; Record returns everything as one flat value.
//
// The record fits the allocator's 128-byte size class (the next is 144):
// the arguments are a pointer and a 32-bit length instead of a slice
// header, and priority and retries are 16-bit. TestTaskRecordSize holds it
// there.
type Task struct {
	ID   string
	kind *taskKind // func and queue, shared by every task of that kind
	// argp and argn are the positional arguments (see Args): the first
	// element (nil for a nil slice) and the count. A task.enqueued event
	// holds fewer than 2^32 arguments (it is under 4 GiB).
	argp *any
	spec *taskSpecExtra // nil when every field it holds is zero
	out  *taskOutcome   // nil until a lease, a failure or a cancellation

	// ReadyAt: a pending task is not handed out before it (0: at once). It is
	// the spec's RunAt, then each retry's RetryAt.
	ReadyAt       events.Timestamp
	LeaseDeadline events.Timestamp // while running
	CreatedAt     events.Timestamp
	UpdatedAt     events.Timestamp
	EnqueuedPos   uint64 // position of its task.enqueued event
	// ReadySeq orders equal-priority tasks first-in first-out: the position of
	// the event that last made the task pending.
	ReadySeq uint64
	Attempt  int // attempts started so far; the current lease's fencing token

	argn                         uint32
	readyIdx, delayIdx, leaseIdx int32
	// priority and retries hold the spec's values when they fit in an int16;
	// otherwise spec holds them and the flags say so.
	priority, retries int16
	Status            Status
	Paused            bool
	flags             uint8
}

// Task flags.
const (
	flagWidePriority uint8 = 1 << iota // spec.priority holds the priority
	flagWideRetries                    // spec.retries holds the retries
	flagFrozen                         // went cold: no longer in State.tasks
)

// taskKind is the func and queue of a task. Tasks of the same kind share one
// (see State.kindOf), so a million tasks hold two strings, not two million.
type taskKind struct {
	fn, queue string
	q         *queueState
}

// queueState is what the state keeps per queue.
type queueState struct {
	ready  indexedHeap[*Task] // pending and due
	counts [statusEnd]int     // tasks per status
}

// taskSpecExtra holds the spec fields most tasks leave unset, and the
// bookkeeping that exists only because of them.
type taskSpecExtra struct {
	kwargs     map[string]any
	meta       map[string]string
	dependsOn  []string
	scheduleID string
	ttl        time.Duration
	runAt      events.Timestamp
	maxRetries int
	priority   int // when flagWidePriority
	retries    int // when flagWideRetries
	unmet      int32
	ttlIdx     int32 // place in State.ttls; only tasks with a TTL enter it
	paused     bool  // the spec's Paused
	// retried: a task.retried gave the task a new attempt after it ended;
	// its retries count from retryBase (its attempt then), and its TTL no
	// longer applies.
	retried   bool
	retryBase int
}

// taskOutcome holds what the task's attempts left behind.
type taskOutcome struct {
	worker       string // holder of the current (or last) lease
	result       any
	err          string
	cancelReason events.CancelReason
	cancelledBy  string // the dependency whose end cancelled this task
}

var (
	noSpec    taskSpecExtra
	noOutcome taskOutcome
)

// Func returns the handler name.
func (t *Task) Func() string { return t.kind.fn }

// Queue returns the task's queue.
func (t *Task) Queue() string { return t.kind.queue }

// Args returns the positional arguments. The slice belongs to the state.
func (t *Task) Args() []any {
	return unsafe.Slice(t.argp, t.argn) // nil when argp is
}

// setArgs stores args, keeping whether it is nil. The record points into
// args's array, as a slice of it would.
func (t *Task) setArgs(args []any) {
	if uint64(len(args)) > math.MaxUint32 {
		panic("projections: a task with 2^32 arguments")
	}
	t.argp, t.argn = unsafe.SliceData(args), uint32(len(args))
}

// Priority returns the spec's priority.
func (t *Task) Priority() int {
	if t.flags&flagWidePriority != 0 {
		return t.spec.priority
	}
	return int(t.priority)
}

// Retries returns how many retries the spec allows after a failed attempt.
func (t *Task) Retries() int {
	if t.flags&flagWideRetries != 0 {
		return t.spec.retries
	}
	return int(t.retries)
}

func (t *Task) specExtra() *taskSpecExtra {
	if t.spec == nil {
		return &noSpec
	}
	return t.spec
}

func (t *Task) outcome() *taskOutcome {
	if t.out == nil {
		return &noOutcome
	}
	return t.out
}

// setOutcome returns the task's outcome record, allocating it on first use.
func (t *Task) setOutcome() *taskOutcome {
	if t.out == nil {
		t.out = &taskOutcome{}
	}
	return t.out
}

// Spec returns what the task was enqueued with. Its slices and map belong to
// the state: callers must not modify them.
func (t *Task) Spec() events.TaskSpec {
	x := t.specExtra()
	return events.TaskSpec{
		Func: t.kind.fn, Args: t.Args(), Kwargs: x.kwargs, Queue: t.kind.queue,
		Priority: t.Priority(), TTL: x.ttl, Retries: t.Retries(), MaxRetries: x.maxRetries,
		DependsOn: x.dependsOn, RunAt: x.runAt, Paused: x.paused, ScheduleID: x.scheduleID, Meta: x.meta,
	}
}

// Retried reports whether the task was retried by hand (task.retried).
func (t *Task) Retried() bool { return t.specExtra().retried }

// RetryBase returns the attempt from which the task's retries count: 0, or
// its attempt when it was last retried by hand. An attempt that fails is
// retried while Attempt-RetryBase <= Retries().
func (t *Task) RetryBase() int { return t.specExtra().retryBase }

// DependsOn returns the ids of the tasks this one depends on. The slice
// belongs to the state.
func (t *Task) DependsOn() []string { return t.specExtra().dependsOn }

// ScheduleID returns the recurring schedule whose fire created the task.
func (t *Task) ScheduleID() string { return t.specExtra().scheduleID }

// Unmet returns how many dependencies have not completed yet.
func (t *Task) Unmet() int { return int(t.specExtra().unmet) }

// Worker returns the holder of the current (or last) lease.
func (t *Task) Worker() string { return t.outcome().worker }

// Result returns what a completed task's handler returned.
func (t *Task) Result() any { return t.outcome().result }

// Error returns why the last failed attempt failed.
func (t *Task) Error() string { return t.outcome().err }

// CancelReason returns why a cancelled task was cancelled.
func (t *Task) CancelReason() events.CancelReason { return t.outcome().cancelReason }

// CancelledBy returns the dependency whose end cancelled the task.
func (t *Task) CancelledBy() string { return t.outcome().cancelledBy }

// FinishedAt returns when the task reached a terminal status (0: it has not).
// INVARIANT: a terminal task's UpdatedAt never moves again except by the
// delete that finishes it anew, so FinishedAt is UpdatedAt once terminal.
func (t *Task) FinishedAt() events.Timestamp {
	if t.Status.Terminal() {
		return t.UpdatedAt
	}
	return 0
}

// TTLDeadline returns when the task expires if not started (0: never).
// INVARIANT: TTL only applies before the first attempt starts, and not
// after a retry by hand (a retry is a request to run the task, whenever the
// queue gets to it).
func (t *Task) TTLDeadline() events.Timestamp {
	if t.spec == nil || t.spec.ttl <= 0 || t.Attempt > 0 || t.spec.retried {
		return 0
	}
	return t.CreatedAt + events.Timestamp(t.spec.ttl)
}

// TaskRecord is every logical field of a task as one plain value (no place
// in the state's heaps): for comparing, printing and encoding records.
type TaskRecord struct {
	ID            string
	Spec          events.TaskSpec
	Status        Status
	Attempt       int
	ReadyAt       events.Timestamp
	LeaseDeadline events.Timestamp
	Worker        string
	Result        any
	Error         string
	CancelReason  events.CancelReason
	CancelledBy   string
	Paused        bool
	Unmet         int
	CreatedAt     events.Timestamp
	UpdatedAt     events.Timestamp
	FinishedAt    events.Timestamp
	EnqueuedPos   uint64
	ReadySeq      uint64
	Retried       bool
	RetryBase     int
}

// Record returns the task's logical fields. Its slices and maps belong to the
// state: callers must not modify them.
func (t *Task) Record() TaskRecord {
	o := t.outcome()
	return TaskRecord{
		ID: t.ID, Spec: t.Spec(), Status: t.Status, Attempt: t.Attempt,
		ReadyAt: t.ReadyAt, LeaseDeadline: t.LeaseDeadline,
		Worker: o.worker, Result: o.result, Error: o.err, CancelReason: o.cancelReason, CancelledBy: o.cancelledBy,
		Paused: t.Paused, Unmet: t.Unmet(), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, FinishedAt: t.FinishedAt(),
		EnqueuedPos: t.EnqueuedPos, ReadySeq: t.ReadySeq,
		Retried: t.Retried(), RetryBase: t.RetryBase(),
	}
}

// setSpec stores spec's fields in t, except func and queue (see
// State.kindOf). It leaves t.spec nil when the spec sets none of its fields.
func (t *Task) setSpec(sp *events.TaskSpec) {
	t.setArgs(sp.Args)
	widePriority := sp.Priority < math.MinInt16 || sp.Priority > math.MaxInt16
	wideRetries := sp.Retries < math.MinInt16 || sp.Retries > math.MaxInt16
	t.priority, t.retries = int16(sp.Priority), int16(sp.Retries)
	if !widePriority && !wideRetries && len(sp.Kwargs) == 0 && len(sp.DependsOn) == 0 && sp.ScheduleID == "" &&
		sp.TTL == 0 && sp.RunAt == 0 && sp.MaxRetries == 0 && !sp.Paused && len(sp.Meta) == 0 {
		return
	}
	x := &taskSpecExtra{
		scheduleID: sp.ScheduleID, ttl: sp.TTL, runAt: sp.RunAt, maxRetries: sp.MaxRetries,
		paused: sp.Paused, ttlIdx: -1,
	}
	if len(sp.Kwargs) > 0 {
		x.kwargs = sp.Kwargs
	}
	if len(sp.DependsOn) > 0 {
		x.dependsOn = sp.DependsOn
	}
	if len(sp.Meta) > 0 {
		x.meta = sp.Meta
	}
	if widePriority {
		t.flags |= flagWidePriority
		x.priority = sp.Priority
	}
	if wideRetries {
		t.flags |= flagWideRetries
		x.retries = sp.Retries
	}
	t.spec = x
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

func (t *Task) init(id string) {
	t.ID, t.readyIdx, t.delayIdx, t.leaseIdx = id, -1, -1, -1
}
