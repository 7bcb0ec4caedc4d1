package wire

import (
	"time"

	"github.com/omniq/omniq/queue"
)

// TaskSpec is what a caller says about a new task: the body of
// POST /v1/tasks, in snake_case. Only Func is required.
type TaskSpec struct {
	ID         string         `json:"id"`                    // "" lets the server choose (a ULID)
	Func       string         `json:"func"`                  // the handler name a worker runs
	Args       []any          `json:"args,omitempty"`        // positional arguments (JSON values)
	Kwargs     map[string]any `json:"kwargs,omitempty"`      // keyword arguments (JSON values)
	QueueName  string         `json:"queue_name"`            // "" is "default"
	Priority   int            `json:"priority"`              // -1000..1000, higher first
	TTL        Duration       `json:"ttl,omitzero"`          // expire if not started within it
	Retries    int            `json:"retries"`               // retries after a failed attempt
	MaxRetries int            `json:"max_retries,omitempty"` // when set, the ceiling for retries
	DependsOn  []string       `json:"depends_on,omitempty"`  // ids that must complete first
	Schedule   *Schedule      `json:"schedule,omitempty"`    // delayed or recurring execution
	// Meta is string metadata that travels with the task (queue.Task.Meta,
	// queue.ValidateMeta): a tracing wrapper keeps the W3C trace context
	// here.
	Meta map[string]string `json:"meta,omitempty"`
}

// Schedule delays a task (run_at) or makes it recurring (cron or interval).
type Schedule struct {
	RunAt    time.Time `json:"run_at,omitzero"` // RFC 3339
	Cron     string    `json:"cron,omitempty"`  // 5 fields, UTC unless CRON_TZ=Zone
	Interval Duration  `json:"interval,omitzero"`
	Paused   bool      `json:"paused,omitempty"`
}

// Task is a task as the server reports it: the caller's fields and the
// engine's.
type Task struct {
	TaskSpec
	TaskInfo
}

// TaskInfo is what the engine says about a task. Times are RFC 3339 in UTC;
// a zero time is left out.
type TaskInfo struct {
	State         string    `json:"state"`
	Attempt       int       `json:"attempt"` // the current lease's fencing token
	Result        any       `json:"result,omitempty"`
	Error         string    `json:"error,omitempty"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
	FinishedAt    time.Time `json:"finished_at,omitzero"`
	LeaseDeadline time.Time `json:"lease_deadline,omitzero"`
	ReadyAt       time.Time `json:"ready_at,omitzero"`
	ScheduleID    string    `json:"schedule_id,omitempty"`
	NextRunAt     time.Time `json:"next_run_at,omitzero"`
	Fires         int       `json:"fires,omitempty"`
	CancelledBy   string    `json:"cancelled_by,omitempty"`
}

// Batch is the body of POST /v1/tasks for several tasks at once; they are
// enqueued atomically, all or none.
type Batch struct {
	Tasks []TaskSpec `json:"tasks"`
}

// TaskList is the answer carrying several tasks (an enqueued batch, or a
// dequeue with n > 1).
type TaskList struct {
	Tasks []Task `json:"tasks"`
}

// CompleteRequest is the body of POST /v1/tasks/{id}/complete.
type CompleteRequest struct {
	Attempt int `json:"attempt"` // the lease being answered (required)
	Result  any `json:"result,omitempty"`
}

// FailRequest is the body of POST /v1/tasks/{id}/fail.
type FailRequest struct {
	Attempt int    `json:"attempt"` // the lease being answered (required)
	Error   string `json:"error,omitempty"`
}

// HeartbeatRequest is the body of POST /v1/tasks/{id}/heartbeat.
type HeartbeatRequest struct {
	Attempt int `json:"attempt"` // the lease to extend (required)
}

// Stats is the body of GET /v1/stats: task counts per queue and state.
type Stats struct {
	Position  uint64                    `json:"position"`  // log position the counts reflect
	Queues    map[string]map[string]int `json:"queues"`    // queue -> state -> tasks
	Schedules int                       `json:"schedules"` // active recurring schedules
	// PausedQueues lists, sorted, the queues paused by
	// POST /v1/queues/{queue}/pause; always an array, possibly empty.
	PausedQueues []string `json:"paused_queues"`
}

// SpecOf returns the caller's fields of t.
func SpecOf(t *queue.Task) TaskSpec {
	s, sc := specParts(t)
	if t.Schedule != nil {
		s.Schedule = new(Schedule)
		*s.Schedule = sc
	}
	return s
}

// specParts returns the caller's fields of t but its schedule, and the
// schedule apart (zero when t has none), so that a caller can keep both on
// its stack (AppendTask).
func specParts(t *queue.Task) (TaskSpec, Schedule) {
	s := TaskSpec{
		ID: t.ID, Func: t.Func, Args: t.Args, Kwargs: t.Kwargs, QueueName: t.QueueName,
		Priority: t.Priority, TTL: Duration(t.TTL), Retries: t.Retries, MaxRetries: t.MaxRetries,
		DependsOn: t.DependsOn, Meta: t.Meta,
	}
	var sc Schedule
	if ts := t.Schedule; ts != nil {
		sc = Schedule{RunAt: ts.RunAt.UTC(), Cron: ts.Cron, Interval: Duration(ts.Interval), Paused: ts.Paused}
	}
	return s, sc
}

// TaskOf returns t as the server reports it.
func TaskOf(t *queue.Task) Task {
	return Task{TaskSpec: SpecOf(t), TaskInfo: infoOf(t)}
}

// infoOf returns the engine's fields of t.
func infoOf(t *queue.Task) TaskInfo {
	return TaskInfo{
		State: string(t.State), Attempt: t.Attempt, Result: t.Result, Error: t.Error,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, FinishedAt: t.FinishedAt,
		LeaseDeadline: t.LeaseDeadline, ReadyAt: t.ReadyAt, ScheduleID: t.ScheduleID,
		NextRunAt: t.NextRunAt, Fires: t.Fires, CancelledBy: t.CancelledBy,
	}
}

// Engine returns the engine task s describes.
func (s *TaskSpec) Engine() *queue.Task {
	t := &queue.Task{
		ID: s.ID, Func: s.Func, Args: s.Args, Kwargs: s.Kwargs, QueueName: s.QueueName,
		Priority: s.Priority, TTL: time.Duration(s.TTL), Retries: s.Retries, MaxRetries: s.MaxRetries,
		DependsOn: s.DependsOn, Meta: s.Meta,
	}
	if sc := s.Schedule; sc != nil {
		t.Schedule = &queue.Schedule{RunAt: sc.RunAt, Cron: sc.Cron, Interval: time.Duration(sc.Interval), Paused: sc.Paused}
	}
	return t
}

// Engine returns t as an engine task, with the engine-filled fields set.
func (t *Task) Engine() *queue.Task {
	out := t.TaskSpec.Engine()
	t.CopyEngineFields(out)
	return out
}

// CopyEngineFields sets the engine-filled fields of dst from src, leaving
// the caller's fields alone (as the embedded engine does after a command).
func (src *Task) CopyEngineFields(dst *queue.Task) {
	dst.ID, dst.State, dst.Attempt = src.ID, queue.State(src.State), src.Attempt
	if src.QueueName != "" {
		dst.QueueName = src.QueueName
	}
	dst.Result, dst.Error = src.Result, src.Error
	dst.CreatedAt, dst.UpdatedAt, dst.FinishedAt = src.CreatedAt, src.UpdatedAt, src.FinishedAt
	dst.LeaseDeadline, dst.ReadyAt, dst.NextRunAt = src.LeaseDeadline, src.ReadyAt, src.NextRunAt
	dst.ScheduleID, dst.Fires, dst.CancelledBy = src.ScheduleID, src.Fires, src.CancelledBy
}

// StatsOf returns s in its wire form.
func StatsOf(s queue.Stats) Stats {
	out := Stats{Position: s.Position, Queues: make(map[string]map[string]int, len(s.Queues)), Schedules: s.Schedules,
		PausedQueues: append([]string{}, s.PausedQueues...)}
	for q, counts := range s.Queues {
		m := make(map[string]int, len(counts))
		for st, n := range counts {
			m[string(st)] = n
		}
		out.Queues[q] = m
	}
	return out
}

// Engine returns s as queue.Stats.
func (s Stats) Engine() queue.Stats {
	out := queue.Stats{Position: s.Position, Queues: make(map[string]map[queue.State]int, len(s.Queues)), Schedules: s.Schedules}
	if len(s.PausedQueues) > 0 {
		out.PausedQueues = append([]string(nil), s.PausedQueues...)
	}
	for q, counts := range s.Queues {
		m := make(map[queue.State]int, len(counts))
		for st, n := range counts {
			m[queue.State(st)] = n
		}
		out.Queues[q] = m
	}
	return out
}
