package audit

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
	"github.com/omniq/omniq/projections"
)

// Summary is a Point made printable: what `omniqd replay` shows, and its
// JSON form.
type Summary struct {
	Position uint64 `json:"position"`
	Head     uint64 `json:"head"`
	// Time is the timestamp of the event at Position ("" at position 0).
	Time string `json:"time,omitempty"`
	// Queues maps a queue to its task count per state (states with no task
	// are left out). Deleted tasks count under "deleted".
	Queues    map[string]map[string]int `json:"queues"`
	Schedules []ScheduleSummary         `json:"schedules"`
	// PausedQueues lists, sorted, the queues paused (queue.paused) at
	// Position.
	PausedQueues []string `json:"paused_queues,omitempty"`
	// Task is the task or schedule asked for, if any.
	Task *TaskSummary `json:"task,omitempty"`
}

// ScheduleSummary is one recurring schedule.
type ScheduleSummary struct {
	ID           string `json:"id"`
	Func         string `json:"func"`
	Queue        string `json:"queue"`
	Cron         string `json:"cron,omitempty"`
	Interval     string `json:"interval,omitempty"`
	NextFire     string `json:"next_fire,omitempty"`
	Paused       bool   `json:"paused"`
	Deleted      bool   `json:"deleted"`
	Fires        int    `json:"fires"`
	LastInstance string `json:"last_instance,omitempty"`
}

// TaskSummary is one task's record (or, with Kind "schedule", a schedule's).
// Args, Kwargs and Result are in events/eventjson's value form.
type TaskSummary struct {
	ID               string          `json:"id"`
	Kind             string          `json:"kind"` // "task" or "schedule"
	State            string          `json:"state"`
	Func             string          `json:"func"`
	Queue            string          `json:"queue"`
	Priority         int             `json:"priority"`
	Args             json.RawMessage `json:"args,omitempty"`
	Kwargs           json.RawMessage `json:"kwargs,omitempty"`
	Attempt          int             `json:"attempt"`
	Retries          int             `json:"retries,omitempty"`
	MaxRetries       int             `json:"max_retries,omitempty"`
	TTL              string          `json:"ttl,omitempty"`
	DependsOn        []string        `json:"depends_on,omitempty"`
	Unmet            int             `json:"unmet_dependencies,omitempty"`
	Paused           bool            `json:"paused,omitempty"`
	Worker           string          `json:"worker,omitempty"`
	LeaseDeadline    string          `json:"lease_deadline,omitempty"`
	ReadyAt          string          `json:"ready_at,omitempty"`
	Result           json.RawMessage `json:"result,omitempty"`
	Error            string          `json:"error,omitempty"`
	CancelReason     string          `json:"cancel_reason,omitempty"`
	CancelledBy      string          `json:"cancelled_by,omitempty"`
	ScheduleID       string          `json:"schedule_id,omitempty"`
	CreatedAt        string          `json:"created_at,omitempty"`
	UpdatedAt        string          `json:"updated_at,omitempty"`
	FinishedAt       string          `json:"finished_at,omitempty"`
	EnqueuedPosition uint64          `json:"enqueued_position,omitempty"`
	// Retried: a task.retried revived the task after it ended; its retries
	// count from RetryBase, the attempt it was at then.
	Retried   bool `json:"retried,omitempty"`
	RetryBase int  `json:"retry_base,omitempty"`
	// For a schedule.
	Cron         string `json:"cron,omitempty"`
	Interval     string `json:"interval,omitempty"`
	NextFire     string `json:"next_fire,omitempty"`
	Fires        int    `json:"fires,omitempty"`
	LastInstance string `json:"last_instance,omitempty"`
}

// Summarize describes p: counts per queue and state, every schedule, and,
// when taskID is not empty, that task or schedule (ErrUnknownTask when it
// did not exist at p).
func Summarize(p *Point, taskID string) (*Summary, error) {
	s := &Summary{Position: p.Position, Head: p.Head, Queues: map[string]map[string]int{}, Schedules: []ScheduleSummary{}}
	if p.Position != 0 {
		s.Time = p.Time.UTC().Format(timeFormat)
	}
	for q, counts := range p.State.Counts() {
		m := map[string]int{}
		for st, n := range counts {
			m[st.String()] = n
		}
		s.Queues[q] = m
	}
	p.State.Schedules(func(sc *projections.Schedule) bool {
		s.Schedules = append(s.Schedules, ScheduleSummary{
			ID: sc.ID, Func: sc.Template.Func, Queue: sc.Template.Queue, Cron: sc.Cron, Interval: durationText(time.Duration(sc.Interval)),
			NextFire: stampText(sc.NextFire), Paused: sc.Paused, Deleted: sc.Deleted, Fires: sc.Fires, LastInstance: sc.LastInstance,
		})
		return true
	})
	s.PausedQueues = p.State.PausedQueues()
	if taskID == "" {
		return s, nil
	}
	var err error
	if t := p.State.Task(taskID); t != nil {
		s.Task, err = summarizeTask(t)
	} else if sc := p.State.Schedule(taskID); sc != nil {
		s.Task, err = summarizeSchedule(sc)
	} else {
		return nil, fmt.Errorf("%w: %q at position %d", ErrUnknownTask, taskID, p.Position)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func summarizeTask(t *projections.Task) (*TaskSummary, error) {
	ts := &TaskSummary{
		ID: t.ID, Kind: "task", State: t.Status.String(), Attempt: t.Attempt, Unmet: t.Unmet(), Paused: t.Paused,
		Worker: t.Worker(), LeaseDeadline: stampText(t.LeaseDeadline), ReadyAt: stampText(t.ReadyAt),
		Error: t.Error(), CancelReason: string(t.CancelReason()), CancelledBy: t.CancelledBy(),
		CreatedAt: stampText(t.CreatedAt), UpdatedAt: stampText(t.UpdatedAt), FinishedAt: stampText(t.FinishedAt()),
		EnqueuedPosition: t.EnqueuedPos, Retried: t.Retried(), RetryBase: t.RetryBase(),
	}
	spec := t.Spec()
	if err := fillSpec(ts, &spec); err != nil {
		return nil, err
	}
	if res := t.Result(); res != nil {
		raw, err := eventjson.MarshalValue(res)
		if err != nil {
			return nil, fmt.Errorf("audit: task %s result: %w", t.ID, err)
		}
		ts.Result = raw
	}
	return ts, nil
}

func summarizeSchedule(sc *projections.Schedule) (*TaskSummary, error) {
	state := "scheduled"
	switch {
	case sc.Deleted:
		state = "deleted"
	case sc.Paused:
		state = "paused"
	}
	ts := &TaskSummary{
		ID: sc.ID, Kind: "schedule", State: state, Paused: sc.Paused, Cron: sc.Cron, Interval: durationText(time.Duration(sc.Interval)),
		NextFire: stampText(sc.NextFire), Fires: sc.Fires, LastInstance: sc.LastInstance,
		CreatedAt: stampText(sc.CreatedAt), UpdatedAt: stampText(sc.UpdatedAt),
	}
	if err := fillSpec(ts, &sc.Template); err != nil {
		return nil, err
	}
	return ts, nil
}

func fillSpec(ts *TaskSummary, spec *events.TaskSpec) error {
	ts.Func, ts.Queue, ts.Priority = spec.Func, spec.Queue, spec.Priority
	ts.Retries, ts.MaxRetries, ts.DependsOn, ts.ScheduleID = spec.Retries, spec.MaxRetries, spec.DependsOn, spec.ScheduleID
	ts.TTL = durationText(spec.TTL)
	var err error
	if spec.Args != nil {
		if ts.Args, err = eventjson.MarshalValue(spec.Args); err != nil {
			return fmt.Errorf("audit: task %s args: %w", ts.ID, err)
		}
	}
	if spec.Kwargs != nil {
		if ts.Kwargs, err = eventjson.MarshalValue(spec.Kwargs); err != nil {
			return fmt.Errorf("audit: task %s kwargs: %w", ts.ID, err)
		}
	}
	return nil
}

func stampText(ts events.Timestamp) string { return describeStamp(ts, "") }

// durationText renders d as a Go duration ("1m30s"), the form of
// events/eventjson, and 0 (unset) as "".
func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
