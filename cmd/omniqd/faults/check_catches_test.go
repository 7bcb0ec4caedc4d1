package faults

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores/memory"
)

// fixture runs a small clean history on an embedded engine over a memory
// log, recording it as the harness would: three acknowledged tasks; a
// completes, b fails once and completes on its retry, c's lease stalls,
// expires (a stale complete is refused) and c completes on its retry.
func fixture(t *testing.T) (*memory.Log, *history, *engine.ManualClock) {
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
	return log, h, clock
}

// TestCheckerCatches shows that each check can fail: the clean fixture
// passes every check, and each case breaks one property, in the history or
// in the log, and must be reported by that check.
func TestCheckerCatches(t *testing.T) {
	ctx := context.Background()
	forge := func(t *testing.T, log *memory.Log, clock *engine.ManualClock, id string, p events.Payload) {
		t.Helper()
		if _, err := log.Append(ctx, []events.Event{events.New(id, clock.Now(), p)}); err != nil {
			t.Fatal(err)
		}
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
		{"a completion under a second lease in the log", []string{checkCompletedOnce}, func(t *testing.T, log *memory.Log, _ *history, clock *engine.ManualClock) {
			forge(t, log, clock, "a", &events.TaskCompleted{Attempt: 2})
		}},
		{"two acknowledged completions", []string{checkCompletedOnce, checkAnswersInLog}, func(t *testing.T, _ *memory.Log, h *history, _ *engine.ManualClock) {
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
			log, h, clock := fixture(t)
			tc.breakIt(t, log, h, clock)
			r, err := check(ctx, log, h)
			if err != nil {
				t.Fatal(err)
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
	// log with a second completion it must report a breach (exit 1).
	t.Run("verify sees a second completion", func(t *testing.T) {
		log, _, clock := fixture(t)
		if rep, err := audit.Verify(ctx, log, audit.Options{}); err != nil || !rep.OK() {
			t.Fatalf("clean fixture: %v %v", err, rep.Err())
		}
		forge(t, log, clock, "a", &events.TaskCompleted{Attempt: 2})
		rep, err := audit.Verify(ctx, log, audit.Options{})
		if err != nil || rep.OK() || !rep.Has(audit.RuleCompletedTwoLeases) {
			t.Fatalf("verify after a forged completion: %v %+v", err, rep)
		}
	})
}
