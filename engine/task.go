package engine

import (
	"maps"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

func specToTask(id string, s *events.TaskSpec, t *Task) {
	t.ID, t.Func, t.Args, t.Kwargs = id, s.Func, s.Args, s.Kwargs
	t.QueueName, t.Priority, t.TTL = s.Queue, s.Priority, s.TTL
	t.Retries, t.MaxRetries = s.Retries, s.MaxRetries
	t.DependsOn = append([]string(nil), s.DependsOn...)
	t.ScheduleID = s.ScheduleID
	t.Meta = maps.Clone(s.Meta) // the state's map stays the state's
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
