package audit

import (
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
)

// TestTerminalChangedCatchesAProjectionBug: the projection refuses every
// change to an ended task, so no log can make it change one; this check
// guards against a projection that would. Simulate one by changing the
// record behind the check's back.
func TestTerminalChangedCatchesAProjectionBug(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	v := &verifier{opts: Options{MaxBreaches: 10}, st: projections.New(), report: &Report{}}
	for i, p := range []events.Payload{
		&events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default"}},
		&events.TaskLeased{Attempt: 1},
		&events.TaskCompleted{Attempt: 1, Result: "ok"},
	} {
		ev := events.New("t", at, p)
		ev.Position = uint64(i + 1)
		if err := v.st.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	late := events.New("t", at, &events.TaskHeartbeat{Attempt: 1})
	late.Position = 4

	pre := v.before(late)
	v.checkUnchanged(late, pre, false)
	if v.report.BreachCount != 0 {
		t.Fatalf("an ignored event that changed nothing is reported: %v", v.report.Breaches)
	}
	pre = v.before(late)
	v.st.Task("t").Attempt = 7 // what a buggy fold might do
	v.checkUnchanged(late, pre, false)
	if v.report.BreachCount != 1 || v.report.Breaches[0].Rule != RuleTerminalChanged || v.report.Breaches[0].TaskID != "t" {
		t.Fatalf("a changed completed task is not reported: %v", v.report.Breaches)
	}
	del := events.New("t", at, &events.TaskDeleted{})
	del.Position = 4
	pre = v.before(del)
	if err := v.st.Apply(del); err != nil {
		t.Fatal(err)
	}
	v.checkUnchanged(del, pre, true)
	if v.report.BreachCount != 1 {
		t.Fatalf("deleting a completed task is reported: %v", v.report.Breaches)
	}
}
