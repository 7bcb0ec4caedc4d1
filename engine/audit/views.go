package audit

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

const timeFormat = time.RFC3339Nano

// recordView is the logical content of a task or schedule record, for
// checking that an ended one does not change.
type recordView struct {
	task  projections.TaskRecord
	sched projections.Schedule
}

// taskView copies the logical fields of t (not its places in the heaps).
func taskView(t *projections.Task) recordView {
	return recordView{task: t.Record()}
}

func scheduleView(sc *projections.Schedule) recordView {
	if sc == nil {
		return recordView{}
	}
	return recordView{sched: projections.Schedule{
		ID: sc.ID, Template: sc.Template, Cron: sc.Cron, Interval: sc.Interval, NextFire: sc.NextFire,
		Paused: sc.Paused, Deleted: sc.Deleted, Fires: sc.Fires, LastInstance: sc.LastInstance,
		CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt,
	}}
}

func (r recordView) equal(o *recordView) bool {
	return reflect.DeepEqual(r.task, o.task) && reflect.DeepEqual(r.sched, o.sched)
}

// diffSnapshot names the first record in which the snapshot snap differs
// from st, for a breach message.
func diffSnapshot(st *projections.State, snap []byte) (taskID, msg string) {
	other, err := projections.Restore(snap)
	if err != nil {
		return "", fmt.Sprintf("it cannot be restored: %v", err)
	}
	if other.Position() != st.Position() {
		return "", fmt.Sprintf("it says it covers position %d", other.Position())
	}
	if other.Len() != st.Len() {
		msg = fmt.Sprintf("it holds %d tasks, the log %d", other.Len(), st.Len())
	}
	st.Tasks(func(t *projections.Task) bool {
		o := other.Task(t.ID)
		switch {
		case o == nil:
			taskID, msg = t.ID, "the task is missing from it"
		case !sameRecord(t, o):
			taskID = t.ID
			msg = fmt.Sprintf("the task differs (rebuilt: %s at attempt %d, updated %s; snapshot: %s at attempt %d, updated %s)",
				t.Status, t.Attempt, describeTime(t.UpdatedAt), o.Status, o.Attempt, describeTime(o.UpdatedAt))
		}
		return taskID == ""
	})
	if taskID != "" {
		return taskID, msg
	}
	other.Tasks(func(o *projections.Task) bool {
		if st.Task(o.ID) == nil {
			taskID, msg = o.ID, "it holds a task the log does not"
		}
		return taskID == ""
	})
	if taskID != "" || msg != "" {
		return taskID, msg
	}
	st.Schedules(func(sc *projections.Schedule) bool {
		if o := other.Schedule(sc.ID); o == nil || !reflect.DeepEqual(scheduleView(sc), scheduleView(o)) {
			taskID, msg = sc.ID, "the schedule differs"
		}
		return taskID == ""
	})
	if taskID == "" {
		msg = "the records are equal but encode differently"
	}
	return taskID, msg
}

// sameRecord compares two task records by their encoding.
func sameRecord(a, b *projections.Task) bool {
	ea, errA := events.MarshalValue(taskView(a).task)
	eb, errB := events.MarshalValue(taskView(b).task)
	return errA == nil && errB == nil && bytes.Equal(ea, eb)
}

func describeTime(ts events.Timestamp) string { return describeStamp(ts, "never") }

func describeDeadline(ts events.Timestamp) string {
	return describeStamp(ts, "unset (no TTL, or the task had started)")
}

// describeStamp renders ts as the audit renders every time (timeFormat, in
// UTC), or unset when ts is 0 (unset).
func describeStamp(ts events.Timestamp, unset string) string {
	if ts == 0 {
		return unset
	}
	return ts.Time().Format(timeFormat)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
