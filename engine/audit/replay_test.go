package audit_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/memory"
)

// history is a known history written by the engine: what the state was at
// a few points, by position and by time.
type history struct {
	log *memory.Log
	// positions and times after each step.
	afterEnqueue, afterComplete, afterFail, afterFire uint64
	tEnqueue, tComplete, tFail                        time.Time
	a, b, c, d, sched                                 string
}

func knownHistory(t *testing.T) *history {
	t.Helper()
	ctx := context.Background()
	log := memory.New()
	t.Cleanup(func() { log.Close() })
	clock := engine.NewManualClock(start)
	e, err := engine.Open(ctx, log, engine.WithClock(clock), engine.WithSnapshotEvery(0), engine.WithWorkerID("w1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	h := &history{log: log}
	head := func() uint64 {
		n, err := log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	a := &engine.Task{ID: "a", Func: "add", Args: []any{1, 2}}
	b := &engine.Task{ID: "b", Func: "boom"}
	c := &engine.Task{ID: "c", Func: "report", QueueName: "nightly", Priority: 5}
	d := &engine.Task{ID: "d", Func: "after", DependsOn: []string{"a"}}
	s := &engine.Task{ID: "s", Func: "tick", QueueName: "nightly", Schedule: &engine.Schedule{Interval: time.Minute}}
	for _, task := range []*engine.Task{a, b, c, d, s} {
		must(e.Enqueue(ctx, task))
	}
	h.afterEnqueue, h.tEnqueue = head(), clock.Now()

	clock.Advance(10 * time.Second)
	got, err := e.Dequeue(ctx, "")
	must(err)
	if got == nil || got.ID != "a" {
		t.Fatalf("dequeued %v, want a", got)
	}
	must(e.Complete(ctx, got, int64(3)))
	h.afterComplete, h.tComplete = head(), clock.Now()

	clock.Advance(10 * time.Second)
	got, err = e.Dequeue(ctx, "")
	must(err)
	if got == nil || got.ID != "b" {
		t.Fatalf("dequeued %v, want b", got)
	}
	must(e.Fail(ctx, got, errors.New("boom")))
	h.afterFail, h.tFail = head(), clock.Now()

	clock.Advance(time.Minute)
	_, err = e.RunDue(ctx)
	must(err)
	h.afterFire = head()
	if h.afterFire != h.afterFail+2 {
		t.Fatalf("the schedule did not fire once: head %d after %d", h.afterFire, h.afterFail)
	}
	return h
}

func replayAt(t *testing.T, h *history, until string, task string) *audit.Summary {
	t.Helper()
	u, err := audit.ParseUntil(until)
	if err != nil {
		t.Fatal(err)
	}
	p, err := audit.Replay(context.Background(), h.log, u, audit.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.Summarize(p, task)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReplayKnownHistory(t *testing.T) {
	h := knownHistory(t)
	pos := func(n uint64) string { return strconv.FormatUint(n, 10) }
	cases := []struct {
		name, until, task string
		position          uint64
		queues            map[string]map[string]int
		state             string
		attempt           int
	}{
		{"after the enqueues, by position", pos(h.afterEnqueue), "a", h.afterEnqueue,
			map[string]map[string]int{"default": {"pending": 2, "waiting": 1}, "nightly": {"pending": 1}}, "pending", 0},
		{"after the completion, by position", pos(h.afterComplete), "d", h.afterComplete,
			map[string]map[string]int{"default": {"completed": 1, "pending": 2}, "nightly": {"pending": 1}}, "pending", 0},
		{"a second after the completion, by time", h.tComplete.Add(time.Second).Format(time.RFC3339), "a", h.afterComplete,
			map[string]map[string]int{"default": {"completed": 1, "pending": 2}, "nightly": {"pending": 1}}, "completed", 1},
		{"at the failure, by time", h.tFail.Format(time.RFC3339Nano), "b", h.afterFail,
			map[string]map[string]int{"default": {"completed": 1, "failed": 1, "pending": 1}, "nightly": {"pending": 1}}, "failed", 1},
		{"the whole log", pos(h.afterFire), "s", h.afterFire,
			map[string]map[string]int{"default": {"completed": 1, "failed": 1, "pending": 1}, "nightly": {"pending": 2}}, "scheduled", 0},
		{"before the first event", start.Add(-time.Hour).Format(time.RFC3339), "", 0, map[string]map[string]int{}, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := replayAt(t, h, c.until, c.task)
			if s.Position != c.position || s.Head != h.afterFire {
				t.Fatalf("position %d of %d, want %d of %d", s.Position, s.Head, c.position, h.afterFire)
			}
			if !reflect.DeepEqual(s.Queues, c.queues) {
				t.Fatalf("queues = %v, want %v", s.Queues, c.queues)
			}
			if c.task == "" {
				return
			}
			if s.Task == nil || s.Task.State != c.state || s.Task.Attempt != c.attempt {
				t.Fatalf("task %s = %+v, want %s at attempt %d", c.task, s.Task, c.state, c.attempt)
			}
		})
	}

	whole := replayAt(t, h, pos(h.afterFire), "a")
	if string(whole.Task.Result) != "3" || string(whole.Task.Args) != "[1,2]" || whole.Task.Worker != "w1" {
		t.Fatalf("task a = %+v", whole.Task)
	}
	if len(whole.Schedules) != 1 || whole.Schedules[0].Fires != 1 || whole.Schedules[0].Interval != "1m0s" {
		t.Fatalf("schedules = %+v", whole.Schedules)
	}
	early := replayAt(t, h, pos(h.afterEnqueue), "")
	if len(early.Schedules) != 1 || early.Schedules[0].Fires != 0 {
		t.Fatalf("schedules at %d = %+v", h.afterEnqueue, early.Schedules)
	}
}

func TestReplayErrors(t *testing.T) {
	h := knownHistory(t)
	ctx := context.Background()
	if _, err := audit.Replay(ctx, h.log, audit.Until{Position: h.afterFire + 1}, audit.ReplayOptions{}); !errors.Is(err, audit.ErrPastHead) {
		t.Fatalf("past the head: err = %v, want ErrPastHead", err)
	}
	p, err := audit.Replay(ctx, h.log, audit.Until{Position: h.afterEnqueue}, audit.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Summarize(p, "nope"); !errors.Is(err, audit.ErrUnknownTask) {
		t.Fatalf("unknown task: err = %v, want ErrUnknownTask", err)
	}
	for _, bad := range []string{"", "0", "-3", "yesterday", "2026-11-27", "12abc"} {
		if _, err := audit.ParseUntil(bad); !errors.Is(err, audit.ErrBadUntil) {
			t.Errorf("ParseUntil(%q) = %v, want ErrBadUntil", bad, err)
		}
	}
}

// TestReplayByTimeWithClockSetBack: "until T" is the state after the last
// event stamped at or before T, even when an earlier event is stamped later.
func TestReplayByTimeWithClockSetBack(t *testing.T) {
	r := newRawLog(t)
	r.at(10*time.Second).add("a", enq(events.TaskSpec{}))
	r.at(30*time.Second).add("b", enq(events.TaskSpec{}))
	r.at(20*time.Second).add("c", enq(events.TaskSpec{})) // the clock was set back
	r.at(40*time.Second).add("d", enq(events.TaskSpec{}))
	var calls int
	for _, c := range []struct {
		at   time.Duration
		want uint64
	}{{5 * time.Second, 0}, {15 * time.Second, 1}, {25 * time.Second, 3}, {35 * time.Second, 3}, {time.Hour, 4}} {
		p, err := audit.Replay(context.Background(), r.log, audit.Until{Time: start.Add(c.at)},
			audit.ReplayOptions{Progress: func(pos, head uint64) { calls++ }})
		if err != nil {
			t.Fatal(err)
		}
		if p.Position != c.want || p.State.Position() != c.want || p.State.Len() != int(c.want) {
			t.Errorf("until +%s: position %d with %d tasks, want %d", c.at, p.Position, p.State.Len(), c.want)
		}
	}
	if calls == 0 {
		t.Error("progress was never reported")
	}
}

// TestReplayTrustsEventsNotTheSnapshot: a snapshot that disagrees with the
// events is used only when asked for.
func TestReplayTrustsEventsNotTheSnapshot(t *testing.T) {
	ctx := context.Background()
	r := newRawLog(t)
	r.add("a", enq(events.TaskSpec{}), "b", enq(events.TaskSpec{}), "c", enq(events.TaskSpec{}))
	if err := r.log.SaveSnapshot(ctx, 2, stateOf(t, enqueued("x", "y"))); err != nil {
		t.Fatal(err)
	}
	for _, use := range []bool{false, true} {
		p, err := audit.Replay(ctx, r.log, audit.Until{Position: 3}, audit.ReplayOptions{UseSnapshot: use})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.State.Task("x") != nil; got != use {
			t.Errorf("UseSnapshot %v: state from the snapshot = %v", use, got)
		}
		if p.State.Task("c") == nil {
			t.Errorf("UseSnapshot %v: event 3 not folded", use)
		}
	}
}
