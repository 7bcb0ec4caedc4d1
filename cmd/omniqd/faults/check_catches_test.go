package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/memory"
)

// fixture runs a small clean history on an embedded engine over a memory
// log, recording it as the harness would: three acknowledged tasks; a
// completes, b fails once and completes on its retry, c's lease stalls,
// expires (a stale complete is refused) and c completes on its retry. Then
// the shapes: e waits on d; f fails for good and cancels g; x expires
// unstarted; r runs at its run_at; k is deleted; and, after a compaction
// into a file archive in the returned directory, a recurring schedule
// fires, is paused, resumed and deleted.
func fixture(t *testing.T) (*memory.Log, *history, *engine.ManualClock, string) {
	t.Helper()
	ctx := context.Background()
	clock := engine.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	log := memory.New()
	e, err := engine.Open(ctx, log, engine.WithClock(clock), engine.WithLeaseTimeout(time.Minute),
		engine.WithBackoff(func(int) time.Duration { return 0 }))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := newHistory()
	h.started(0)
	for _, id := range []string{"a", "b", "c"} {
		if err := e.Enqueue(ctx, &engine.Task{ID: id, Func: "f", Retries: 3}); err != nil {
			t.Fatal(err)
		}
		h.enqueueDone([]string{id}, enqueueAcked)
	}
	h.started(e.Position()) // a, b and c pending here
	take := func(want string) *engine.Task {
		t.Helper()
		task, err := e.Dequeue(ctx, "")
		if err != nil || task == nil || task.ID != want {
			t.Fatalf("dequeue: %v %+v, want %s", err, task, want)
		}
		h.leased([]*engine.Task{task})
		return task
	}
	answer := func(task *engine.Task, v verb, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s %s: %v", v, task.ID, err)
		}
		h.answered(answer{lease: lease{task.ID, task.Attempt}, verb: v, ok: true})
	}
	a := take("a")
	answer(a, verbHeartbeat, e.Heartbeat(ctx, a))
	answer(a, verbComplete, e.Complete(ctx, a, 1))
	again := *a
	h.staleTried(staleTry{lease: lease{a.ID, a.Attempt}, verb: verbComplete, why: "after complete", err: e.Complete(ctx, &again, 1), definite: true})
	b := take("b")
	answer(b, verbFail, e.Fail(ctx, b, errors.New("injected")))
	c := take("c")
	clock.Advance(2 * time.Minute)
	if _, err := e.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	h.stalledLease(lease{c.ID, c.Attempt}, true)
	h.staleTried(staleTry{lease: lease{c.ID, c.Attempt}, verb: verbComplete, why: "stalled", err: e.Complete(ctx, c, 0), definite: true})
	b2 := take("b")
	answer(b2, verbComplete, e.Complete(ctx, b2, 2))
	c2 := take("c")
	answer(c2, verbComplete, e.Complete(ctx, c2, 3))

	enqueue := func(tasks ...*engine.Task) {
		t.Helper()
		if err := e.EnqueueBatch(ctx, tasks); err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			h.enqueueDone([]string{task.ID}, enqueueAcked)
		}
	}
	now := clock.Now()
	enqueue(&engine.Task{ID: "d", Func: "f"}, &engine.Task{ID: "e", Func: "f", DependsOn: []string{"d"}},
		&engine.Task{ID: "f", Func: funcDoom}, &engine.Task{ID: "g", Func: "f", DependsOn: []string{"f"}},
		&engine.Task{ID: "x", Func: "f", QueueName: queueIdle, TTL: time.Minute},
		&engine.Task{ID: "r", Func: "f", Schedule: &engine.Schedule{RunAt: now.Add(30 * time.Second)}},
		&engine.Task{ID: "k", Func: "f", QueueName: queueHold})
	h.expectEnd("f", failed)
	h.expectEnd("g", cancelled)
	h.expectEnd("x", expired)
	h.expectEnd("k", deleted)
	d := take("d")
	answer(d, verbComplete, e.Complete(ctx, d, nil))
	f := take("f")
	answer(f, verbFail, e.Fail(ctx, f, errors.New("doomed")))
	ee := take("e")
	answer(ee, verbComplete, e.Complete(ctx, ee, nil))
	if err := e.DeleteTask(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	h.deleted("k")
	clock.Advance(2 * time.Minute)
	if _, err := e.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	r := take("r")
	answer(r, verbComplete, e.Complete(ctx, r, nil))

	dir := t.TempDir()
	archive, err := audit.OpenFileArchive(filepath.Join(dir, "omniq-1.jsonl"), audit.FileArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Compact(ctx, clock.Now(), archive); err != nil {
		t.Fatal(err)
	}
	if err := archive.Close(); err != nil {
		t.Fatal(err)
	}

	if err := e.Enqueue(ctx, &engine.Task{ID: "sch", Func: "f", Schedule: &engine.Schedule{Interval: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	h.scheduleChanged("sch", events.TypeScheduleCreated)
	clock.Advance(time.Minute)
	if _, err := e.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	inst, err := e.Dequeue(ctx, "")
	if err != nil || inst == nil || inst.ScheduleID != "sch" {
		t.Fatalf("dequeue the schedule's instance: %v %+v", err, inst)
	}
	h.leased([]*engine.Task{inst})
	answer(inst, verbComplete, e.Complete(ctx, inst, nil))
	for _, op := range []struct {
		typ events.Type
		do  func(context.Context, string) error
	}{{events.TypeSchedulePaused, e.PauseSchedule}, {events.TypeScheduleResumed, e.ResumeSchedule}, {events.TypeScheduleDeleted, e.DeleteTask}} {
		if err := op.do(ctx, "sch"); err != nil {
			t.Fatal(err)
		}
		h.scheduleChanged("sch", op.typ)
	}
	return log, h, clock, dir
}

// TestCheckerCatches shows that each check can fail: the clean fixture
// passes every check, and each case breaks one property, in the history or
// in the log, and must be reported by that check.
func TestCheckerCatches(t *testing.T) {
	ctx := context.Background()
	forgeAt := func(t *testing.T, log *memory.Log, at time.Time, id string, p events.Payload) {
		t.Helper()
		if _, err := log.Append(ctx, []events.Event{events.New(id, at, p)}); err != nil {
			t.Fatal(err)
		}
	}
	forge := func(t *testing.T, log *memory.Log, clock *engine.ManualClock, id string, p events.Payload) {
		t.Helper()
		forgeAt(t, log, clock.Now(), id, p)
	}
	// completed returns the id of the task of the last completion in log,
	// failing the test when there is none.
	completed := func(t *testing.T, log *memory.Log) string {
		t.Helper()
		var done string
		if err := stores.ReadAll(ctx, log, 1, 100, func(ev events.Event) error {
			if _, ok := ev.Payload.(*events.TaskCompleted); ok {
				done = ev.TaskID
			}
			return nil
		}); err != nil || done == "" {
			t.Fatalf("no completion in the compacted log: %v", err)
		}
		return done
	}
	cases := []struct {
		name   string
		checks []string // the checks that must fail
		// breakIt changes the history or the log (the engine is closed).
		breakIt func(t *testing.T, log *memory.Log, h *history, clock *engine.ManualClock)
	}{
		{"clean", nil, func(*testing.T, *memory.Log, *history, *engine.ManualClock) {}},
		{"an acknowledged enqueue missing from the log", []string{checkAckedInLog}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.enqueueDone([]string{"ghost"}, enqueueAcked)
		}},
		{"a task left pending", []string{checkAllTerminal}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			forge(t, log, clock, "d", &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default"}})
		}},
		{"a lease handed out that the log lacks", []string{checkLeasesInLog}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.leases[lease{"a", 2}] = true
		}},
		{"an acknowledged heartbeat the log lacks", []string{checkAnswersInLog}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.answered(answer{lease: lease{"b", 2}, verb: verbHeartbeat, ok: true})
		}},
		{"a completion under a second lease in the log", []string{checkCompletedOnce, checkOneOutcome}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			forge(t, log, clock, "a", &events.TaskCompleted{Attempt: 2})
		}},
		{"two acknowledged completions", []string{checkCompletedOnce, checkAnswersInLog, checkOneOutcome}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.answered(answer{lease: lease{"b", 1}, verb: verbComplete, ok: true})
		}},
		{"a stale complete accepted", []string{checkStaleRejected}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.staleTried(staleTry{lease: lease{"c", 1}, verb: verbComplete, why: "stalled", definite: true})
		}},
		{"a stale heartbeat without a definite answer", []string{checkStaleRejected}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.staleTried(staleTry{lease: lease{"c", 1}, verb: verbHeartbeat, why: "stalled", err: errors.New("connection refused")})
		}},
		{"a stalled lease that never expired", []string{checkStalledReissued}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.stalledLease(lease{"a", 1}, false)
		}},
		{"a stalled task never handed out again", []string{checkStalledReissued}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			delete(h.leases, lease{"c", 2})
		}},
		{"a pending task at a start never handed out again", []string{checkPendingReissued}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			// b was pending at the second start; pretend no client got b's leases.
			delete(h.leases, lease{"b", 1})
			delete(h.leases, lease{"b", 2})
		}},
		{"a start past the end of the log", []string{checkPendingReissued}, func(t *testing.T, log *memory.Log, h *history, _ *engine.ManualClock) {
			head, _ := log.Head(ctx)
			h.started(head + 5)
		}},
		{"a task that ended in a state its workload does not allow", []string{checkAllowedEnd}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.expectEnd("a", failed, deleted)
		}},
		{"an acknowledged enqueue of a schedule missing from the log", []string{checkAckedInLog}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.scheduleChanged("sch-ghost", events.TypeScheduleCreated)
		}},
		{"a lease of a task whose dependency has not completed", []string{checkDepsFirst}, func(t *testing.T, log *memory.Log, h *history, clock *engine.ManualClock) {
			// w waits on z, and is leased anyway (the fold ignores the
			// lease; the engine must not have written it); then z is
			// deleted, which cancels w.
			forge(t, log, clock, "z", &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default"}})
			forge(t, log, clock, "w", &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default", DependsOn: []string{"z"}}})
			forge(t, log, clock, "w", &events.TaskLeased{Attempt: 1, Deadline: events.At(clock.Now().Add(time.Minute))})
			forge(t, log, clock, "z", &events.TaskDeleted{})
			forge(t, log, clock, "w", &events.TaskCancelled{Reason: events.CancelDependencyDeleted, Dependency: "z"})
			h.expectEnd("z", deleted)
			h.expectEnd("w", cancelled)
		}},
		{"a lease before the task's run_at", []string{checkTimingKept}, func(t *testing.T, log *memory.Log, h *history, clock *engine.ManualClock) {
			forge(t, log, clock, "q", &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default", RunAt: events.At(clock.Now().Add(time.Hour))}})
			forge(t, log, clock, "q", &events.TaskLeased{Attempt: 1, Deadline: events.At(clock.Now().Add(time.Minute))})
			forge(t, log, clock, "q", &events.TaskCompleted{Attempt: 1})
		}},
		{"a lease after the task's TTL ran out", []string{checkTimingKept}, func(t *testing.T, log *memory.Log, h *history, clock *engine.ManualClock) {
			forge(t, log, clock, "u", &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default", TTL: time.Second}})
			later := clock.Now().Add(2 * time.Second)
			forgeAt(t, log, later, "u", &events.TaskLeased{Attempt: 1, Deadline: events.At(later.Add(time.Minute))})
			forgeAt(t, log, later, "u", &events.TaskCompleted{Attempt: 1})
		}},
		{"a lease of a deleted task", []string{checkDeletedStays}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			forge(t, log, clock, "k", &events.TaskLeased{Attempt: 1, Deadline: events.At(clock.Now().Add(time.Minute))})
		}},
		{"an acknowledged delete the log lacks", []string{checkDeletedStays}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.deleted("r")
		}},
		{"a fire of a deleted schedule", []string{checkScheduleKept}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			// A slot not fired yet: only the delete makes the fire wrong.
			forge(t, log, clock, "sch", &events.ScheduleFired{FireTime: events.At(clock.Now().Add(time.Minute)), Instance: "sch-late", NextFire: events.At(clock.Now().Add(2 * time.Minute))})
		}},
		{"a failure of a task already completed", []string{checkOneOutcome}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			// The fold ignores it; a second decision on a's outcome was
			// written all the same.
			forge(t, log, clock, "a", &events.TaskFailed{Attempt: 1, Error: "late"})
		}},
		{"a task enqueued again once compaction dropped it, and run twice", []string{checkOneOutcome}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			// a completed before the fixture's compaction, which dropped it;
			// a retried enqueue of a (its first try's answer lost) is then
			// a new task, and a runs again.
			now := clock.Now()
			forge(t, log, clock, "a", &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default", Retries: 3}})
			forge(t, log, clock, "a", &events.TaskLeased{Attempt: 1, Deadline: events.At(now.Add(time.Minute))})
			forge(t, log, clock, "a", &events.TaskCompleted{Attempt: 1})
		}},
		{"a complete and a fail of one lease both acknowledged", []string{checkOneOutcome, checkAnswersInLog}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.answered(answer{lease: lease{"d", 1}, verb: verbFail, ok: true})
		}},
		{"a schedule slot fired twice", []string{checkSlotOnce}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			// Two nodes' timers both fired the slot at +1m of a live
			// schedule (the fold applies both); then it is deleted.
			now := clock.Now()
			forge(t, log, clock, "sch2", &events.ScheduleCreated{Template: events.TaskSpec{Func: "f", Queue: "default"}, Interval: time.Minute, NextFire: events.At(now.Add(time.Minute))})
			slot := events.At(now.Add(time.Minute))
			forgeAt(t, log, now.Add(time.Minute), "sch2", &events.ScheduleFired{FireTime: slot, Instance: "sch2-a", NextFire: events.At(now.Add(2 * time.Minute))})
			forgeAt(t, log, now.Add(time.Minute), "sch2", &events.ScheduleFired{FireTime: slot, Instance: "sch2-b", NextFire: events.At(now.Add(2 * time.Minute))})
			forgeAt(t, log, now.Add(time.Minute), "sch2", &events.ScheduleDeleted{})
		}},
		{"a lease expired twice", []string{checkTimerOnce}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			// c's first lease expired in the fixture; a second node's timer
			// expires it again (the fold ignores it: c moved on).
			forge(t, log, clock, "c", &events.TaskLeaseExpired{Attempt: 1})
		}},
		{"a lease expired before its heartbeat's deadline", []string{checkTimerOnce}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			// v's lease runs to +1m, a heartbeat through another node moves
			// it to +2m, and a timer that missed the heartbeat expires it
			// at +90s (the fold applies it); v is retried and completes.
			now := clock.Now()
			forge(t, log, clock, "v", &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default", Retries: 3}})
			forgeAt(t, log, now, "v", &events.TaskLeased{Attempt: 1, Deadline: events.At(now.Add(time.Minute)), Worker: "node-a"})
			forgeAt(t, log, now.Add(30*time.Second), "v", &events.TaskHeartbeat{Attempt: 1, Deadline: events.At(now.Add(2 * time.Minute))})
			at := now.Add(90 * time.Second)
			forgeAt(t, log, at, "v", &events.TaskLeaseExpired{Attempt: 1})
			forgeAt(t, log, at, "v", &events.TaskRetryScheduled{Attempt: 1, Error: "lease expired", RetryAt: events.At(at)})
			forgeAt(t, log, at, "v", &events.TaskLeased{Attempt: 2, Deadline: events.At(at.Add(time.Minute)), Worker: "node-b"})
			forgeAt(t, log, at, "v", &events.TaskCompleted{Attempt: 2})
		}},
		{"an abandoned lease whose task was never handed out again", []string{checkStalledReissued}, func(t *testing.T, log *memory.Log, h *history, clock *engine.ManualClock) {
			// A worker died with its node holding e's only lease; no one
			// else got e (the history says so; the log has it completed).
			h.abandonedLease(lease{"e", 1})
		}},
		{"an acknowledged pause the log lacks", []string{checkScheduleKept}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
			h.scheduleChanged("sch-other", events.TypeSchedulePaused)
		}},
		{"a checkpoint that is not the compaction of the events before it", []string{checkReplayEqual}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			// The state of the head, filed as a checkpoint one position
			// late: the fold ignores it, the checker compares it.
			st, err := engine.Replay(ctx, log, 0)
			if err != nil {
				t.Fatal(err)
			}
			ev := events.New("zz", clock.Now(), &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default"}})
			ev.Position = st.Position() + 1
			if err := st.Apply(ev); err != nil {
				t.Fatal(err)
			}
			data, _ := st.Snapshot()
			forge(t, log, clock, "", &events.LogCheckpoint{State: data, Before: events.At(clock.Now())})
		}},
		{"a snapshot that disagrees with the events", []string{checkReplayEqual}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			// The state before the head's event, plus an event the log does
			// not hold at the head's position: a snapshot of a history that
			// did not happen, filed under the head.
			head, _ := log.Head(ctx)
			other, err := engine.Replay(ctx, log, head-1)
			if err != nil {
				t.Fatal(err)
			}
			ev := events.New("zz", clock.Now(), &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default"}})
			ev.Position = head
			if err := other.Apply(ev); err != nil {
				t.Fatal(err)
			}
			data, _ := other.Snapshot()
			if err := log.SaveSnapshot(ctx, head, data); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, h, clock, dir := fixture(t)
			tc.breakIt(t, log, h, clock)
			r, err := check(ctx, log, dir, h)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range r.checks {
				for _, f := range c.failures {
					t.Logf("%s: %s", c.name, f)
				}
			}
			if r.checkpoints == 0 || r.archived == 0 {
				t.Errorf("the fixture's history: %d checkpoints, %d events from the archive; want some of each", r.checkpoints, r.archived)
			}
			for _, c := range r.checks {
				if c.checked == 0 {
					t.Errorf("check %s looked at nothing", c.name)
				}
				if want := slices.Contains(tc.checks, c.name); (c.failed > 0) != want {
					t.Errorf("check %s: failed=%d, want failing=%v\n%s", c.name, c.failed, want, r)
				}
			}
		})
	}

	// The verify check runs `omniqd verify`, which is audit.Verify: on the
	// log with a second completion of a task it still holds (the schedule's
	// instance, completed after the compaction) it must report a breach.
	t.Run("verify sees a second completion", func(t *testing.T) {
		log, _, clock, _ := fixture(t)
		if rep, err := audit.Verify(ctx, log, audit.Options{}); err != nil || !rep.OK() {
			t.Fatalf("clean fixture: %v %v", err, rep.Err())
		}
		done := completed(t, log)
		forge(t, log, clock, done, &events.TaskCompleted{Attempt: 2})
		rep, err := audit.Verify(ctx, log, audit.Options{})
		if err != nil || rep.OK() || !rep.Has(audit.RuleCompletedTwoLeases) {
			t.Fatalf("verify after a forged completion of %s: %v %+v", done, err, rep)
		}
	})

	// The cluster runs verify with --strict: an event the fold ignores is a
	// breach there, since every event of a shared log was validated against
	// the events before it. A heartbeat of a lease that had ended already
	// (a node validating on a stale state) passes plain verify, as a
	// warning, and fails the strict one.
	t.Run("verify --strict sees an ignored event", func(t *testing.T) {
		log, _, clock, _ := fixture(t)
		if rep, err := audit.Verify(ctx, log, audit.Options{Strict: true}); err != nil || !rep.OK() {
			t.Fatalf("clean fixture, strict: %v %v", err, rep.Err())
		}
		done := completed(t, log)
		forge(t, log, clock, done, &events.TaskHeartbeat{Attempt: 1, Deadline: events.At(clock.Now().Add(time.Minute))})
		if rep, err := audit.Verify(ctx, log, audit.Options{}); err != nil || !rep.OK() || len(rep.Warnings) == 0 {
			t.Fatalf("plain verify of a late heartbeat of %s: want a warning, no breach: %v %+v", done, err, rep)
		}
		rep, err := audit.Verify(ctx, log, audit.Options{Strict: true})
		if err != nil || rep.OK() || !rep.Has(audit.RuleIgnoredEvent) {
			t.Fatalf("strict verify of a late heartbeat of %s: %v %+v", done, err, rep)
		}
	})

	// same_state asks each node (GET /v1/cluster, GET /v1/stats) and the
	// log's head: here three fake nodes over the fixture's log.
	t.Run("same_state sees a node behind and a node apart", func(t *testing.T) {
		log, _, _, _ := fixture(t)
		head, err := log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stats := fmt.Sprintf(`{"position":%d,"queues":{"default":{"completed":9}},"schedules":0}`, head)
		type fake struct {
			position uint64
			stats    string
		}
		serve := func(nodes []fake) []string {
			var urls []string
			for i, n := range nodes {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch r.URL.Path {
					case "/v1/cluster":
						json.NewEncoder(w).Encode(engine.ClusterStatus{Node: fmt.Sprintf("node%d", i), Shared: true, Position: n.position})
					case "/v1/stats":
						io.WriteString(w, n.stats+"\n")
					default:
						http.NotFound(w, r)
					}
				}))
				t.Cleanup(srv.Close)
				urls = append(urls, srv.URL)
			}
			return urls
		}
		for _, tc := range []struct {
			name  string
			nodes []fake
			fails bool
		}{
			{"agree", []fake{{head, stats}, {head, stats}, {head, stats}}, false},
			{"a node behind the head", []fake{{head, stats}, {head - 1, stats}, {head, stats}}, true},
			{"a node with other counts", []fake{{head, stats}, {head, stats}, {head, strings.Replace(stats, "9", "8", 1)}}, true},
		} {
			c, _ := sameState(ctx, log, serve(tc.nodes), 300*time.Millisecond)
			if c.checked != 3 || (c.failed > 0) != tc.fails {
				t.Errorf("%s: same_state checked %d, failed %d %v; want failing=%v", tc.name, c.checked, c.failed, c.failures, tc.fails)
			}
			for _, f := range c.failures {
				t.Logf("%s: %s", tc.name, f)
			}
		}
		// A node that does not answer.
		urls := serve([]fake{{head, stats}, {head, stats}})
		c, _ := sameState(ctx, log, append(urls, "http://127.0.0.1:1"), 300*time.Millisecond)
		if c.failed == 0 {
			t.Errorf("a node that does not answer: same_state passed")
		}
	})

	// others_answer: after a kill or a pause a live node acknowledged an
	// enqueue within the failover bound.
	t.Run("others_answer sees the others wait for the node hit", func(t *testing.T) {
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		ok := &clusterFault{Kind: "pause", Node: 1, Began: at, Back: at.Add(4 * time.Second), Live: 30 * time.Millisecond, LiveWhileDown: true}
		if c := othersAnswer([]*clusterFault{ok}); c.checked != 1 || c.failed != 0 {
			t.Errorf("a live node answered at once: %+v", c)
		}
		late := &clusterFault{Kind: "pause", Node: 2, Began: at, Back: at.Add(6 * time.Second), Live: failoverBound + 100*time.Millisecond}
		none := &clusterFault{Kind: "kill", Node: 0, Began: at, Back: at.Add(2 * time.Second), Live: time.Minute, LiveErr: "no live node acknowledged the probe"}
		c := othersAnswer([]*clusterFault{ok, late, none})
		if c.checked != 3 || c.failed != 2 {
			t.Errorf("the others answered only once the node was back, or never: %+v", c)
		}
	})
}
