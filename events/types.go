package events

import "time"

// Type identifies an event's payload type. Values are part of the wire format:
// never renumber, only add.
type Type uint8

// The event types. Task events carry the task's id in Event.TaskID; schedule
// events carry the schedule's id (the id of the task that declared it);
// queue events (queue.paused, queue.resumed) have an empty TaskID and name
// their queue in the payload.
const (
	TypeTaskEnqueued Type = iota + 1
	TypeTaskLeased
	TypeTaskHeartbeat
	TypeTaskCompleted
	TypeTaskFailed
	TypeTaskRetryScheduled
	TypeTaskLeaseExpired
	TypeTaskExpired
	TypeTaskCancelled
	TypeTaskDeleted
	TypeScheduleCreated
	TypeScheduleFired
	TypeSchedulePaused
	TypeScheduleResumed
	TypeScheduleDeleted
	TypeLogCheckpoint
	TypeLogCheckpointPart
	TypeTaskRetried
	TypeQueuePaused
	TypeQueueResumed
	TypeLogCompacting
	typeEnd
)

var typeNames = [...]string{
	TypeTaskEnqueued:       "task.enqueued",
	TypeTaskLeased:         "task.leased",
	TypeTaskHeartbeat:      "task.heartbeat",
	TypeTaskCompleted:      "task.completed",
	TypeTaskFailed:         "task.failed",
	TypeTaskRetryScheduled: "task.retry_scheduled",
	TypeTaskLeaseExpired:   "task.lease_expired",
	TypeTaskExpired:        "task.expired",
	TypeTaskCancelled:      "task.cancelled",
	TypeTaskDeleted:        "task.deleted",
	TypeScheduleCreated:    "schedule.created",
	TypeScheduleFired:      "schedule.fired",
	TypeSchedulePaused:     "schedule.paused",
	TypeScheduleResumed:    "schedule.resumed",
	TypeScheduleDeleted:    "schedule.deleted",
	TypeLogCheckpoint:      "log.checkpoint",
	TypeLogCheckpointPart:  "log.checkpoint_part",
	TypeTaskRetried:        "task.retried",
	TypeQueuePaused:        "queue.paused",
	TypeQueueResumed:       "queue.resumed",
	TypeLogCompacting:      "log.compacting",
}

// String returns the dotted name of the type ("task.enqueued"), or "unknown(N)".
func (t Type) String() string {
	if t > 0 && t < typeEnd {
		return typeNames[t]
	}
	return "unknown(" + itoa(int(t)) + ")"
}

// ParseType is the inverse of Type.String. ok is false for an unknown name.
func ParseType(name string) (t Type, ok bool) {
	for i := Type(1); i < typeEnd; i++ {
		if typeNames[i] == name {
			return i, true
		}
	}
	return 0, false
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Payload is the typed body of an event. Implementations are the Task* and
// Schedule* structs of this package.
type Payload interface {
	Type() Type
	// SchemaVersion is the newest schema version of this payload type that this
	// build writes and reads.
	SchemaVersion() uint8
}

// newPayload returns a zero payload for t, or nil when t is unknown.
func newPayload(t Type) Payload {
	switch t {
	case TypeTaskEnqueued:
		return &TaskEnqueued{}
	case TypeTaskLeased:
		return &TaskLeased{}
	case TypeTaskHeartbeat:
		return &TaskHeartbeat{}
	case TypeTaskCompleted:
		return &TaskCompleted{}
	case TypeTaskFailed:
		return &TaskFailed{}
	case TypeTaskRetryScheduled:
		return &TaskRetryScheduled{}
	case TypeTaskLeaseExpired:
		return &TaskLeaseExpired{}
	case TypeTaskExpired:
		return &TaskExpired{}
	case TypeTaskCancelled:
		return &TaskCancelled{}
	case TypeTaskDeleted:
		return &TaskDeleted{}
	case TypeScheduleCreated:
		return &ScheduleCreated{}
	case TypeScheduleFired:
		return &ScheduleFired{}
	case TypeSchedulePaused:
		return &SchedulePaused{}
	case TypeScheduleResumed:
		return &ScheduleResumed{}
	case TypeScheduleDeleted:
		return &ScheduleDeleted{}
	case TypeLogCheckpoint:
		return &LogCheckpoint{}
	case TypeLogCheckpointPart:
		return &LogCheckpointPart{}
	case TypeTaskRetried:
		return &TaskRetried{}
	case TypeQueuePaused:
		return &QueuePaused{}
	case TypeQueueResumed:
		return &QueueResumed{}
	case TypeLogCompacting:
		return &LogCompacting{}
	}
	return nil
}

// Timestamp is a point in time as Unix nanoseconds; zero means "not set".
// Payloads use it instead of time.Time so that encoding is exact and compact.
type Timestamp int64

// At converts t to a Timestamp; the zero time gives 0.
func At(t time.Time) Timestamp {
	if t.IsZero() {
		return 0
	}
	return Timestamp(t.UnixNano())
}

// Time converts ts back to a UTC time; 0 gives the zero time.
func (ts Timestamp) Time() time.Time {
	if ts == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ts)).UTC()
}

// TaskSpec is what a task is: everything the caller said when enqueuing it.
type TaskSpec struct {
	Func       string         `codec:"f"`
	Args       []any          `codec:"a,omitempty"`
	Kwargs     map[string]any `codec:"k,omitempty"`
	Queue      string         `codec:"q"`
	Priority   int            `codec:"p,omitempty"`
	TTL        time.Duration  `codec:"ttl,omitempty"`
	Retries    int            `codec:"r,omitempty"`
	MaxRetries int            `codec:"mr,omitempty"`
	DependsOn  []string       `codec:"d,omitempty"`
	// RunAt: the task is not handed out before this time (0: at once).
	RunAt Timestamp `codec:"at,omitempty"`
	// Paused holds the task back until a ScheduleResumed event for it.
	Paused bool `codec:"ps,omitempty"`
	// ScheduleID names the recurring schedule whose fire created this task.
	ScheduleID string `codec:"s,omitempty"`
	// Meta is the caller's string metadata (queue.Task.Meta), such as a W3C
	// trace context. Left out when empty, so that a spec without it encodes
	// as it did before the field existed.
	Meta map[string]string `codec:"m,omitempty"`
}

// TaskEnqueued: a new task exists. Its id is Event.TaskID; its enqueue time is Event.Time.
type TaskEnqueued struct {
	Spec TaskSpec `codec:"t"`
}

// TaskLeased: a worker took the task. Attempt is the fencing token: every later
// heartbeat, completion or failure must name it.
type TaskLeased struct {
	Attempt  int       `codec:"n"`
	Deadline Timestamp `codec:"dl"`
	Worker   string    `codec:"w,omitempty"`
}

// TaskHeartbeat: the holder of lease Attempt extended it to Deadline.
type TaskHeartbeat struct {
	Attempt  int       `codec:"n"`
	Deadline Timestamp `codec:"dl"`
}

// TaskCompleted: attempt Attempt finished with Result. Terminal.
type TaskCompleted struct {
	Attempt int `codec:"n"`
	Result  any `codec:"res,omitempty"`
}

// TaskFailed: attempt Attempt failed and no retry is left. Terminal.
type TaskFailed struct {
	Attempt int    `codec:"n"`
	Error   string `codec:"e"`
}

// TaskRetryScheduled: attempt Attempt failed; the task runs again from RetryAt.
type TaskRetryScheduled struct {
	Attempt int       `codec:"n"`
	Error   string    `codec:"e"`
	RetryAt Timestamp `codec:"at"`
}

// TaskLeaseExpired: lease Attempt ran out without completion. It is always
// followed, in the same batch, by TaskRetryScheduled or TaskFailed.
type TaskLeaseExpired struct {
	Attempt int `codec:"n"`
}

// TaskExpired: the task was not started within its TTL. Terminal.
type TaskExpired struct{}

// CancelReason says why a task was cancelled.
type CancelReason string

// Reasons for TaskCancelled: the named dependency ended without completing.
const (
	CancelDependencyFailed    CancelReason = "dependency_failed"
	CancelDependencyExpired   CancelReason = "dependency_expired"
	CancelDependencyCancelled CancelReason = "dependency_cancelled"
	CancelDependencyDeleted   CancelReason = "dependency_deleted"
	// CancelRequested: an operator cancelled the task before it started
	// (engine Cancel); Dependency is empty.
	CancelRequested CancelReason = "requested"
)

// TaskCancelled: the task will never run because Dependency ended badly, or
// (Reason CancelRequested) because it was cancelled on request. Terminal.
type TaskCancelled struct {
	Reason     CancelReason `codec:"r"`
	Dependency string       `codec:"d"`
}

// TaskDeleted: the task was deleted by a user. Terminal; its history stays.
type TaskDeleted struct{}

// ScheduleCreated: a recurring schedule exists. Each fire enqueues a copy of
// Template as a new task. Exactly one of Cron and Interval is set.
type ScheduleCreated struct {
	Template TaskSpec      `codec:"t"`
	Cron     string        `codec:"c,omitempty"`
	Interval time.Duration `codec:"i,omitempty"`
	NextFire Timestamp     `codec:"nf"`
	Paused   bool          `codec:"ps,omitempty"`
}

// ScheduleFired: the schedule fired for the time FireTime, creating task
// Instance (whose TaskEnqueued follows in the same batch); the next fire is NextFire.
type ScheduleFired struct {
	FireTime Timestamp `codec:"ft"`
	Instance string    `codec:"in"`
	NextFire Timestamp `codec:"nf"`
}

// SchedulePaused: a schedule stops firing, or a waiting task is held back.
type SchedulePaused struct{}

// ScheduleResumed: a paused schedule fires again from NextFire (0 for a plain task).
type ScheduleResumed struct {
	NextFire Timestamp `codec:"nf,omitempty"`
}

// ScheduleDeleted: a schedule will never fire again. Terminal.
type ScheduleDeleted struct{}

// LogCheckpoint: the whole projected state as of the event before it (or
// before its first part), minus tasks that reached a terminal state before
// Before (compaction). Replaying from a checkpoint needs nothing older, so
// the events before it may be removed from the log once they are archived
// at Archive. Its TaskID is empty.
//
// A state larger than one log record allows is split: the Parts events
// right before the checkpoint, with nothing between them, are
// log.checkpoint_part events holding its first bytes, and State holds the
// rest. They are appended in the checkpoint's batch, or, for a state of
// hundreds of megabytes, in consecutive appends; parts that another event
// follows instead of their checkpoint (a compaction that failed part-way)
// change nothing.
type LogCheckpoint struct {
	State   []byte    `codec:"st"` // a projections snapshot, or its last part
	Before  Timestamp `codec:"b"`
	Archive string    `codec:"ar,omitempty"` // where the events before it were archived
	Dropped int       `codec:"dr"`           // terminal tasks left out of State
	Parts   int       `codec:"pa,omitempty"` // log.checkpoint_part events before it
	// Elided: State was left out when the checkpoint was archived (an
	// archive holds every event before it, of which State is the
	// compaction before Before); a fold computes the state instead.
	Elided bool `codec:"el,omitempty"`
}

// LogCheckpointPart: a piece of the state of the log.checkpoint that
// follows its parts (see LogCheckpoint). Index counts the parts from 0.
// Data is nil in an archive (see LogCheckpoint.Elided). Its TaskID is empty.
type LogCheckpointPart struct {
	Index int    `codec:"i"`
	Data  []byte `codec:"d"`
}

// TaskRetried: a task that ended failed, expired or cancelled was given a
// new attempt by an operator (engine Retry). It is pending again from the
// event's time, its retries budget is whole again (the retries used count
// from Attempt), and its TTL no longer applies. Attempt is the task's
// attempt counter when it was retried; the counter continues from it, so a
// lease of an earlier attempt stays stale.
type TaskRetried struct {
	Attempt int `codec:"n"`
}

// QueuePaused: no task of Queue is leased until a QueueResumed for it.
// Its TaskID is empty.
type QueuePaused struct {
	Queue string `codec:"q"`
}

// QueueResumed: the paused Queue leases tasks again. Its TaskID is empty.
type QueueResumed struct {
	Queue string `codec:"q"`
}

// LogCompacting: on a log several engines share, the engine that wrote it
// is about to append a log.checkpoint (see Engine.Compact). The other
// engines hold their appends back until that checkpoint is in the log, or
// until Hold has passed since the last event of the compaction they saw
// (this one, or one of its parts), so that a checkpoint that takes seconds
// to encode and append is not beaten to the log's head by every other
// writer, again and again. Node names the engine that wrote it (its worker
// id), which does not hold for its own notice. It changes nothing in the
// state. Its TaskID is empty.
type LogCompacting struct {
	Hold time.Duration `codec:"h"`
	Node string        `codec:"nd,omitempty"`
}

// All payloads are schema version 1.
func (*TaskEnqueued) Type() Type                 { return TypeTaskEnqueued }
func (*TaskLeased) Type() Type                   { return TypeTaskLeased }
func (*TaskHeartbeat) Type() Type                { return TypeTaskHeartbeat }
func (*TaskCompleted) Type() Type                { return TypeTaskCompleted }
func (*TaskFailed) Type() Type                   { return TypeTaskFailed }
func (*TaskRetryScheduled) Type() Type           { return TypeTaskRetryScheduled }
func (*TaskLeaseExpired) Type() Type             { return TypeTaskLeaseExpired }
func (*TaskExpired) Type() Type                  { return TypeTaskExpired }
func (*TaskCancelled) Type() Type                { return TypeTaskCancelled }
func (*TaskDeleted) Type() Type                  { return TypeTaskDeleted }
func (*ScheduleCreated) Type() Type              { return TypeScheduleCreated }
func (*ScheduleFired) Type() Type                { return TypeScheduleFired }
func (*SchedulePaused) Type() Type               { return TypeSchedulePaused }
func (*ScheduleResumed) Type() Type              { return TypeScheduleResumed }
func (*ScheduleDeleted) Type() Type              { return TypeScheduleDeleted }
func (*LogCheckpoint) Type() Type                { return TypeLogCheckpoint }
func (*LogCheckpointPart) Type() Type            { return TypeLogCheckpointPart }
func (*TaskRetried) Type() Type                  { return TypeTaskRetried }
func (*QueuePaused) Type() Type                  { return TypeQueuePaused }
func (*QueueResumed) Type() Type                 { return TypeQueueResumed }
func (*LogCompacting) Type() Type                { return TypeLogCompacting }
func (*TaskEnqueued) SchemaVersion() uint8       { return 1 }
func (*TaskLeased) SchemaVersion() uint8         { return 1 }
func (*TaskHeartbeat) SchemaVersion() uint8      { return 1 }
func (*TaskCompleted) SchemaVersion() uint8      { return 1 }
func (*TaskFailed) SchemaVersion() uint8         { return 1 }
func (*TaskRetryScheduled) SchemaVersion() uint8 { return 1 }
func (*TaskLeaseExpired) SchemaVersion() uint8   { return 1 }
func (*TaskExpired) SchemaVersion() uint8        { return 1 }
func (*TaskCancelled) SchemaVersion() uint8      { return 1 }
func (*TaskDeleted) SchemaVersion() uint8        { return 1 }
func (*ScheduleCreated) SchemaVersion() uint8    { return 1 }
func (*ScheduleFired) SchemaVersion() uint8      { return 1 }
func (*SchedulePaused) SchemaVersion() uint8     { return 1 }
func (*ScheduleResumed) SchemaVersion() uint8    { return 1 }
func (*ScheduleDeleted) SchemaVersion() uint8    { return 1 }
func (*LogCheckpoint) SchemaVersion() uint8      { return 1 }
func (*LogCheckpointPart) SchemaVersion() uint8  { return 1 }
func (*TaskRetried) SchemaVersion() uint8        { return 1 }
func (*QueuePaused) SchemaVersion() uint8        { return 1 }
func (*QueueResumed) SchemaVersion() uint8       { return 1 }
func (*LogCompacting) SchemaVersion() uint8      { return 1 }
