package eventjson

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/omniq/omniq/events"
)

// The JSON forms of the payloads, one per events payload type, field for
// field. TestMirrorsCoverEveryField fails when a payload gains a field that
// is not mirrored here.

type specJSON struct {
	Func       text             `json:"func"`
	Args       []value          `json:"args,omitempty"`
	Kwargs     map[string]value `json:"kwargs,omitempty"`
	Queue      text             `json:"queue"`
	Priority   int              `json:"priority,omitempty"`
	TTL        dur              `json:"ttl,omitempty"`
	Retries    int              `json:"retries,omitempty"`
	MaxRetries int              `json:"max_retries,omitempty"`
	DependsOn  []text           `json:"depends_on,omitempty"`
	RunAt      stamp            `json:"run_at,omitempty"`
	Paused     bool             `json:"paused,omitempty"`
	ScheduleID text             `json:"schedule_id,omitempty"`
	Meta       map[string]text  `json:"meta,omitempty"`
}

func specToJSON(s *events.TaskSpec) (specJSON, error) {
	for k := range s.Meta {
		if !utf8.ValidString(k) {
			return specJSON{}, fmt.Errorf("%w: meta key %q is not valid UTF-8", ErrUnrepresentable, k)
		}
	}
	return specJSON{
		Func: text(s.Func), Args: values(s.Args), Kwargs: valueMap(s.Kwargs), Queue: text(s.Queue),
		Priority: s.Priority, TTL: dur(s.TTL), Retries: s.Retries, MaxRetries: s.MaxRetries,
		DependsOn: texts(s.DependsOn), RunAt: stamp(s.RunAt), Paused: s.Paused, ScheduleID: text(s.ScheduleID),
		Meta: convertMap(s.Meta, func(v string) text { return text(v) }),
	}, nil
}

func (j *specJSON) spec() events.TaskSpec {
	return events.TaskSpec{
		Func: string(j.Func), Args: anys(j.Args), Kwargs: anyMap(j.Kwargs), Queue: string(j.Queue),
		Priority: j.Priority, TTL: time.Duration(j.TTL), Retries: j.Retries, MaxRetries: j.MaxRetries,
		DependsOn: strs(j.DependsOn), RunAt: events.Timestamp(j.RunAt), Paused: j.Paused, ScheduleID: string(j.ScheduleID),
		Meta: convertMap(j.Meta, func(v text) string { return string(v) }),
	}
}

type taskEnqueuedJSON struct {
	Spec specJSON `json:"spec"`
}

type taskLeasedJSON struct {
	Attempt  int   `json:"attempt"`
	Deadline stamp `json:"deadline,omitempty"`
	Worker   text  `json:"worker,omitempty"`
}

type taskHeartbeatJSON struct {
	Attempt  int   `json:"attempt"`
	Deadline stamp `json:"deadline,omitempty"`
}

type taskCompletedJSON struct {
	Attempt int    `json:"attempt"`
	Result  *value `json:"result,omitempty"`
}

type taskFailedJSON struct {
	Attempt int  `json:"attempt"`
	Error   text `json:"error"`
}

type taskRetryScheduledJSON struct {
	Attempt int   `json:"attempt"`
	Error   text  `json:"error"`
	RetryAt stamp `json:"retry_at,omitempty"`
}

type taskLeaseExpiredJSON struct {
	Attempt int `json:"attempt"`
}

type taskCancelledJSON struct {
	Reason     text `json:"reason"`
	Dependency text `json:"dependency"`
}

type scheduleCreatedJSON struct {
	Template specJSON `json:"template"`
	Cron     text     `json:"cron,omitempty"`
	Interval dur      `json:"interval,omitempty"`
	NextFire stamp    `json:"next_fire,omitempty"`
	Paused   bool     `json:"paused,omitempty"`
}

type scheduleFiredJSON struct {
	FireTime stamp `json:"fire_time,omitempty"`
	Instance text  `json:"instance"`
	NextFire stamp `json:"next_fire,omitempty"`
}

type scheduleResumedJSON struct {
	NextFire stamp `json:"next_fire,omitempty"`
}

type logCheckpointJSON struct {
	// State is a projections snapshot (binary), in standard base64.
	State   []byte `json:"state"`
	Before  stamp  `json:"before,omitempty"`
	Archive text   `json:"archive,omitempty"`
	Dropped int    `json:"dropped"`
	Parts   int    `json:"parts,omitempty"`
	Elided  bool   `json:"elided,omitempty"`
}

// logCheckpointPartJSON is the JSON form of a log.checkpoint_part.
type logCheckpointPartJSON struct {
	Index int    `json:"index"`
	Data  []byte `json:"data"` // standard base64
}

type taskRetriedJSON struct {
	Attempt int `json:"attempt"`
}

// queueJSON is the JSON form of queue.paused and queue.resumed.
type queueJSON struct {
	Queue text `json:"queue"`
}

// logCompactingJSON is the JSON form of log.compacting.
type logCompactingJSON struct {
	Hold dur  `json:"hold"`
	Node text `json:"node,omitempty"`
}

// empty is the JSON form of the payloads without fields.
type empty struct{}

// toJSON returns the JSON form of p.
func toJSON(p events.Payload) (any, error) {
	switch p := p.(type) {
	case *events.TaskEnqueued:
		spec, err := specToJSON(&p.Spec)
		return taskEnqueuedJSON{Spec: spec}, err
	case *events.TaskLeased:
		return taskLeasedJSON{Attempt: p.Attempt, Deadline: stamp(p.Deadline), Worker: text(p.Worker)}, nil
	case *events.TaskHeartbeat:
		return taskHeartbeatJSON{Attempt: p.Attempt, Deadline: stamp(p.Deadline)}, nil
	case *events.TaskCompleted:
		return taskCompletedJSON{Attempt: p.Attempt, Result: optValue(p.Result)}, nil
	case *events.TaskFailed:
		return taskFailedJSON{Attempt: p.Attempt, Error: text(p.Error)}, nil
	case *events.TaskRetryScheduled:
		return taskRetryScheduledJSON{Attempt: p.Attempt, Error: text(p.Error), RetryAt: stamp(p.RetryAt)}, nil
	case *events.TaskLeaseExpired:
		return taskLeaseExpiredJSON{Attempt: p.Attempt}, nil
	case *events.TaskCancelled:
		return taskCancelledJSON{Reason: text(p.Reason), Dependency: text(p.Dependency)}, nil
	case *events.ScheduleCreated:
		tmpl, err := specToJSON(&p.Template)
		return scheduleCreatedJSON{Template: tmpl, Cron: text(p.Cron), Interval: dur(p.Interval),
			NextFire: stamp(p.NextFire), Paused: p.Paused}, err
	case *events.ScheduleFired:
		return scheduleFiredJSON{FireTime: stamp(p.FireTime), Instance: text(p.Instance), NextFire: stamp(p.NextFire)}, nil
	case *events.ScheduleResumed:
		return scheduleResumedJSON{NextFire: stamp(p.NextFire)}, nil
	case *events.LogCheckpoint:
		return logCheckpointJSON{State: p.State, Before: stamp(p.Before), Archive: text(p.Archive), Dropped: p.Dropped, Parts: p.Parts, Elided: p.Elided}, nil
	case *events.LogCheckpointPart:
		return logCheckpointPartJSON{Index: p.Index, Data: p.Data}, nil
	case *events.TaskRetried:
		return taskRetriedJSON{Attempt: p.Attempt}, nil
	case *events.QueuePaused:
		return queueJSON{Queue: text(p.Queue)}, nil
	case *events.QueueResumed:
		return queueJSON{Queue: text(p.Queue)}, nil
	case *events.LogCompacting:
		return logCompactingJSON{Hold: dur(p.Hold), Node: text(p.Node)}, nil
	case *events.TaskExpired, *events.TaskDeleted, *events.SchedulePaused, *events.ScheduleDeleted:
		return empty{}, nil
	}
	return nil, fmt.Errorf("%w: payload %T", ErrUnrepresentable, p)
}

// newJSON returns a pointer to an empty JSON form for type t, and a function
// that builds the payload from it once decoded; ok is false for an unknown t.
func newJSON(t events.Type) (dst any, build func() events.Payload, ok bool) {
	switch t {
	case events.TypeTaskEnqueued:
		j := &taskEnqueuedJSON{}
		return j, func() events.Payload { return &events.TaskEnqueued{Spec: j.Spec.spec()} }, true
	case events.TypeTaskLeased:
		j := &taskLeasedJSON{}
		return j, func() events.Payload {
			return &events.TaskLeased{Attempt: j.Attempt, Deadline: events.Timestamp(j.Deadline), Worker: string(j.Worker)}
		}, true
	case events.TypeTaskHeartbeat:
		j := &taskHeartbeatJSON{}
		return j, func() events.Payload {
			return &events.TaskHeartbeat{Attempt: j.Attempt, Deadline: events.Timestamp(j.Deadline)}
		}, true
	case events.TypeTaskCompleted:
		j := &taskCompletedJSON{}
		return j, func() events.Payload { return &events.TaskCompleted{Attempt: j.Attempt, Result: j.Result.get()} }, true
	case events.TypeTaskFailed:
		j := &taskFailedJSON{}
		return j, func() events.Payload { return &events.TaskFailed{Attempt: j.Attempt, Error: string(j.Error)} }, true
	case events.TypeTaskRetryScheduled:
		j := &taskRetryScheduledJSON{}
		return j, func() events.Payload {
			return &events.TaskRetryScheduled{Attempt: j.Attempt, Error: string(j.Error), RetryAt: events.Timestamp(j.RetryAt)}
		}, true
	case events.TypeTaskLeaseExpired:
		j := &taskLeaseExpiredJSON{}
		return j, func() events.Payload { return &events.TaskLeaseExpired{Attempt: j.Attempt} }, true
	case events.TypeTaskExpired:
		return &empty{}, func() events.Payload { return &events.TaskExpired{} }, true
	case events.TypeTaskCancelled:
		j := &taskCancelledJSON{}
		return j, func() events.Payload {
			return &events.TaskCancelled{Reason: events.CancelReason(j.Reason), Dependency: string(j.Dependency)}
		}, true
	case events.TypeTaskDeleted:
		return &empty{}, func() events.Payload { return &events.TaskDeleted{} }, true
	case events.TypeScheduleCreated:
		j := &scheduleCreatedJSON{}
		return j, func() events.Payload {
			return &events.ScheduleCreated{Template: j.Template.spec(), Cron: string(j.Cron), Interval: time.Duration(j.Interval),
				NextFire: events.Timestamp(j.NextFire), Paused: j.Paused}
		}, true
	case events.TypeScheduleFired:
		j := &scheduleFiredJSON{}
		return j, func() events.Payload {
			return &events.ScheduleFired{FireTime: events.Timestamp(j.FireTime), Instance: string(j.Instance), NextFire: events.Timestamp(j.NextFire)}
		}, true
	case events.TypeSchedulePaused:
		return &empty{}, func() events.Payload { return &events.SchedulePaused{} }, true
	case events.TypeScheduleResumed:
		j := &scheduleResumedJSON{}
		return j, func() events.Payload { return &events.ScheduleResumed{NextFire: events.Timestamp(j.NextFire)} }, true
	case events.TypeScheduleDeleted:
		return &empty{}, func() events.Payload { return &events.ScheduleDeleted{} }, true
	case events.TypeLogCheckpoint:
		j := &logCheckpointJSON{}
		return j, func() events.Payload {
			return &events.LogCheckpoint{State: j.State, Before: events.Timestamp(j.Before), Archive: string(j.Archive), Dropped: j.Dropped, Parts: j.Parts, Elided: j.Elided}
		}, true
	case events.TypeLogCheckpointPart:
		j := &logCheckpointPartJSON{}
		return j, func() events.Payload { return &events.LogCheckpointPart{Index: j.Index, Data: j.Data} }, true
	case events.TypeTaskRetried:
		j := &taskRetriedJSON{}
		return j, func() events.Payload { return &events.TaskRetried{Attempt: j.Attempt} }, true
	case events.TypeQueuePaused:
		j := &queueJSON{}
		return j, func() events.Payload { return &events.QueuePaused{Queue: string(j.Queue)} }, true
	case events.TypeQueueResumed:
		j := &queueJSON{}
		return j, func() events.Payload { return &events.QueueResumed{Queue: string(j.Queue)} }, true
	case events.TypeLogCompacting:
		j := &logCompactingJSON{}
		return j, func() events.Payload { return &events.LogCompacting{Hold: time.Duration(j.Hold), Node: string(j.Node)} }, true
	}
	return nil, nil, false
}
