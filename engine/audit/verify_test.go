package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// TestVerifyCatchesHandMadeBreaches appends events straight to a log, past
// the engine, and checks that Verify names the breach, where and on what.
func TestVerifyCatchesHandMadeBreaches(t *testing.T) {
	sec := time.Second
	cases := []struct {
		name  string
		build func(r *rawLog) stores.Log
		rule  audit.Rule
		pos   uint64
		task  string
	}{
		{"completed under two leases", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{Retries: 1}))
			r.at(sec).add("t", lease(1))
			r.at(2*sec).add("t", &events.TaskCompleted{Attempt: 1})
			r.at(3*sec).add("t", lease(2))
			r.at(4*sec).add("t", &events.TaskCompleted{Attempt: 2}) // #5
			return r.log
		}, audit.RuleCompletedTwoLeases, 5, "t"},
		{"completed twice under one lease", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{}))
			r.add("t", lease(1))
			r.add("t", &events.TaskCompleted{Attempt: 1})
			r.add("t", &events.TaskCompleted{Attempt: 1}) // #4
			return r.log
		}, audit.RuleCompletedTwice, 4, "t"},
		{"completed again after deletion", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{Retries: 2}))
			r.add("t", lease(1))
			r.add("t", &events.TaskCompleted{Attempt: 1})
			r.add("t", &events.TaskDeleted{})
			r.add("t", &events.TaskCompleted{Attempt: 1}) // #5
			return r.log
		}, audit.RuleCompletedTwice, 5, "t"},
		{"lease never ended", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{TTL: sec}))
			r.at(2*sec).add("t", &events.TaskExpired{})
			r.at(2*sec).add("t", lease(1)) // #3: a race would explain it, but nobody ended it
			return r.log
		}, audit.RuleUnendedLease, 3, "t"},
		{"lease_expired without its retry", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{Retries: 1}))
			r.add("t", lease(1))
			r.at(time.Hour).add("t", &events.TaskLeaseExpired{Attempt: 1}) // #3
			r.at(time.Hour).add("u", enq(events.TaskSpec{}))
			return r.log
		}, audit.RuleLeaseExpiredFollow, 3, "t"},
		{"lease_expired at the end of the log", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{}))
			r.add("t", lease(1))
			r.at(time.Hour).add("t", &events.TaskLeaseExpired{Attempt: 1}) // #3
			return r.log
		}, audit.RuleLeaseExpiredFollow, 3, "t"},
		{"retry of another batch", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{Retries: 1}))
			r.add("t", lease(1))
			r.at(time.Hour).add("t", &events.TaskLeaseExpired{Attempt: 1}) // #3
			r.at(time.Hour+sec).add("t", &events.TaskRetryScheduled{Attempt: 1, Error: "late"})
			return r.log
		}, audit.RuleLeaseExpiredFollow, 3, "t"},
		{"schedule fired without its instance", func(r *rawLog) stores.Log {
			r.add("s", &events.ScheduleCreated{Template: events.TaskSpec{Func: "f", Queue: "default"}, Interval: time.Minute, NextFire: events.At(start.Add(time.Minute))})
			r.at(time.Minute).add("s", &events.ScheduleFired{FireTime: events.At(start.Add(time.Minute)), Instance: "i1", NextFire: events.At(start.Add(2 * time.Minute))}) // #2
			r.at(time.Minute).add("other", enq(events.TaskSpec{}))
			return r.log
		}, audit.RuleScheduleFiredFollow, 2, "s"},
		{"event about a task never created", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{}))
			r.add("ghost", &events.TaskFailed{Attempt: 1, Error: "x"}) // #2
			return r.log
		}, audit.RuleImpossibleEvent, 2, "ghost"},
		{"completion naming a lease never handed out", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{}))
			r.add("t", lease(1))
			r.add("t", &events.TaskHeartbeat{Attempt: 3}) // #3
			return r.log
		}, audit.RuleImpossibleEvent, 3, "t"},
		{"lease of the next attempt while one is held", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{Retries: 3}))
			r.add("t", lease(1))
			r.add("t", lease(2)) // #3
			return r.log
		}, audit.RuleImpossibleEvent, 3, "t"},
		{"expired before its TTL", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{TTL: time.Hour}))
			r.at(time.Minute).add("t", &events.TaskExpired{}) // #2: the projection applies it
			return r.log
		}, audit.RuleExpiredBeforeTTL, 2, "t"},
		{"cancelled while its dependency runs", func(r *rawLog) stores.Log {
			r.add("a", enq(events.TaskSpec{}))
			r.add("b", enq(events.TaskSpec{DependsOn: []string{"a"}}))
			r.add("b", &events.TaskCancelled{Reason: events.CancelDependencyFailed, Dependency: "a"}) // #3
			return r.log
		}, audit.RuleCancelCause, 3, "b"},
		{"retry of a completed task", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{}))
			r.add("t", lease(1))
			r.add("t", &events.TaskCompleted{Attempt: 1})
			r.add("t", &events.TaskRetried{Attempt: 1}) // #4
			return r.log
		}, audit.RuleRetryNotEnded, 4, "t"},
		{"retry of a pending task", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{}))
			r.add("t", &events.TaskRetried{}) // #2
			return r.log
		}, audit.RuleRetryNotEnded, 2, "t"},
		{"retry naming an old attempt", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{}))
			r.add("t", lease(1))
			r.add("t", &events.TaskFailed{Attempt: 1, Error: "x"})
			r.add("t", &events.TaskRetried{Attempt: 0}) // #4
			return r.log
		}, audit.RuleRetryNotEnded, 4, "t"},
		{"lease from a paused queue", func(r *rawLog) stores.Log {
			r.add("t", enq(events.TaskSpec{Queue: "q"}))
			r.add("", &events.QueuePaused{Queue: "q"})
			r.add("t", lease(1)) // #3
			r.add("t", &events.TaskCompleted{Attempt: 1})
			return r.log
		}, audit.RuleLeasePausedQueue, 3, "t"},
		{"pause of a paused queue", func(r *rawLog) stores.Log {
			r.add("", &events.QueuePaused{Queue: "q"})
			r.add("", &events.QueuePaused{Queue: "q"}) // #2
			return r.log
		}, audit.RuleImpossibleEvent, 2, ""},
		{"gap", func(r *rawLog) stores.Log {
			r.add("a", enq(events.TaskSpec{}), "b", enq(events.TaskSpec{}), "c", enq(events.TaskSpec{}), "d", enq(events.TaskSpec{}))
			return gapLog{r.log, 3}
		}, audit.RulePositions, 3, ""},
		{"undecodable event", func(r *rawLog) stores.Log {
			r.add("a", enq(events.TaskSpec{}), "b", enq(events.TaskSpec{}), "c", enq(events.TaskSpec{}))
			return badLog{r.log, 2}
		}, audit.RuleDecode, 2, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := c.build(newRawLog(t))
			rep := verify(t, log, audit.Options{})
			if rep.OK() || !errors.Is(rep.Err(), audit.ErrBreach) {
				t.Fatalf("no breach found:\n%s", describe(rep))
			}
			b := rep.Breaches[0]
			if b.Rule != c.rule || b.Position != c.pos || b.TaskID != c.task {
				t.Fatalf("first breach = %s, want %s at #%d task %q\n%s", b, c.rule, c.pos, c.task, describe(rep))
			}
		})
	}
}

// TestVerifyAfterAGapOrBadEvent: positions are still checked to the end,
// but the state checks stop where no replica could fold on.
func TestVerifyAfterAGapOrBadEvent(t *testing.T) {
	r := newRawLog(t)
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		r.add(id, enq(events.TaskSpec{}))
	}
	rep := verify(t, gapLog{badLog{r.log, 5}, 2}, audit.Options{PageSize: 2})
	if rep.StateStoppedAt != 2 || rep.BreachCount != 2 || !rep.Has(audit.RulePositions) || !rep.Has(audit.RuleDecode) {
		t.Fatalf("want a gap at 2 and an unreadable event at 5, state stopped at 2:\n%s", describe(rep))
	}
	if rep.Breaches[1].Position != 5 || rep.Events != 4 {
		t.Fatalf("want 4 events read and the bad one at 5:\n%s", describe(rep))
	}
}

// TestRacesAreWarnings: events a race between two writers explains are
// counted as warnings, not breaches — unless Strict.
func TestRacesAreWarnings(t *testing.T) {
	r := newRawLog(t)
	r.add("t", enq(events.TaskSpec{Retries: 2, TTL: time.Hour}))
	r.at(1*time.Second).add("t", lease(1))
	r.at(1*time.Second).add("t", lease(1))            // #3 a second node dequeued the same attempt
	r.at(2*time.Hour).add("t", &events.TaskExpired{}) // #4 a node that had not seen the lease
	r.at(2*time.Hour).add("t", &events.TaskLeaseExpired{Attempt: 1}, "t", &events.TaskRetryScheduled{Attempt: 1, Error: "lease expired"})
	r.at(2*time.Hour+time.Second).add("t", &events.TaskCompleted{Attempt: 1, Result: "late"}) // #7 the first holder, too late
	r.add("t", lease(2))
	r.add("t", &events.TaskCompleted{Attempt: 2, Result: "ok"})
	r.add("t", &events.TaskDeleted{})
	r.add("t", &events.TaskDeleted{})             // #11 two deletes raced
	r.add("t", enq(events.TaskSpec{Func: "dup"})) // #12 two nodes took the same id

	rep := verify(t, r.log, audit.Options{})
	if !rep.OK() {
		t.Fatalf("races reported as breaches:\n%s", describe(rep))
	}
	want := map[[2]string]uint64{
		{"task.leased", audit.ReasonDuplicateLease}:  3,
		{"task.completed", audit.ReasonStaleLease}:   7,
		{"task.expired", audit.ReasonTaskMovedOn}:    4,
		{"task.deleted", audit.ReasonAlreadyDeleted}: 11,
		{"task.enqueued", audit.ReasonDuplicateID}:   12,
	}
	if len(rep.Warnings) != len(want) || rep.Ignored != uint64(len(want)) {
		t.Fatalf("want %d warnings:\n%s", len(want), describe(rep))
	}
	for _, w := range rep.Warnings {
		if pos, ok := want[[2]string{w.Type, w.Reason}]; !ok || w.First != pos || w.Count != 1 || w.TaskID != "t" {
			t.Errorf("unexpected warning %+v", w)
		}
	}
	if rep.Applied+rep.Ignored != rep.Events || rep.Events != 12 {
		t.Fatalf("counts do not add up:\n%s", describe(rep))
	}

	strict := verify(t, r.log, audit.Options{Strict: true})
	if strict.BreachCount != len(want) || !strict.Has(audit.RuleIgnoredEvent) {
		t.Fatalf("strict: want every ignored event as a breach:\n%s", describe(strict))
	}
}

// TestVerifySnapshot: a snapshot kept beside the log must equal the state
// rebuilt from the events it covers.
func TestVerifySnapshot(t *testing.T) {
	ctx := context.Background()
	build := func(t *testing.T) *rawLog {
		r := newRawLog(t)
		r.add("a", enq(events.TaskSpec{}), "b", enq(events.TaskSpec{}))
		r.at(time.Second).add("a", lease(1))
		r.at(2*time.Second).add("a", &events.TaskCompleted{Attempt: 1, Result: int64(3)})
		return r
	}
	stateAt := func(t *testing.T, r *rawLog, pos uint64, mutate func(ev *events.Event)) []byte {
		evs, err := r.log.Read(ctx, 1, int(pos))
		if err != nil {
			t.Fatal(err)
		}
		folded := make([]events.Event, 0, len(evs))
		for _, ev := range evs {
			if mutate != nil {
				mutate(&ev)
			}
			folded = append(folded, ev)
		}
		return stateOf(t, folded)
	}

	t.Run("equal", func(t *testing.T) {
		r := build(t)
		if err := r.log.SaveSnapshot(ctx, 3, stateAt(t, r, 3, nil)); err != nil {
			t.Fatal(err)
		}
		rep := verify(t, r.log, audit.Options{Strict: true})
		if !rep.OK() || rep.Snapshot == nil || !rep.Snapshot.Checked || !rep.Snapshot.Equal || rep.Snapshot.Position != 3 {
			t.Fatalf("a true snapshot is reported wrong: %+v\n%s", rep.Snapshot, describe(rep))
		}
	})
	t.Run("disagrees", func(t *testing.T) {
		r := build(t)
		wrong := stateAt(t, r, 4, func(ev *events.Event) {
			if p, ok := ev.Payload.(*events.TaskCompleted); ok {
				ev.Payload = &events.TaskCompleted{Attempt: p.Attempt, Result: int64(4)}
			}
		})
		if err := r.log.SaveSnapshot(ctx, 4, wrong); err != nil {
			t.Fatal(err)
		}
		rep := verify(t, r.log, audit.Options{})
		b := rep.Breaches
		if len(b) != 1 || b[0].Rule != audit.RuleSnapshotMismatch || b[0].Position != 4 || b[0].TaskID != "a" || rep.Snapshot.Equal {
			t.Fatalf("want a snapshot mismatch at 4 naming task a:\n%s", describe(rep))
		}
	})
	t.Run("garbage", func(t *testing.T) {
		r := build(t)
		if err := r.log.SaveSnapshot(ctx, 2, []byte("OQS\x01garbage")); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, r.log, audit.Options{}); !rep.Has(audit.RuleSnapshotMismatch) {
			t.Fatalf("an unreadable snapshot is not reported:\n%s", describe(rep))
		}
	})
	t.Run("beyond the head", func(t *testing.T) {
		r := build(t)
		if err := r.log.SaveSnapshot(ctx, 9, stateAt(t, r, 4, nil)); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, r.log, audit.Options{}); !rep.Has(audit.RuleSnapshotMismatch) {
			t.Fatalf("a snapshot beyond the head is not reported:\n%s", describe(rep))
		}
	})
}

// TestVerifyMissingTail: a log whose last positions are missing below its
// head (a store that lost them) is a positions breach, not a hang.
func TestVerifyMissingTail(t *testing.T) {
	r := newRawLog(t)
	r.add("a", enq(events.TaskSpec{}), "b", enq(events.TaskSpec{}), "c", enq(events.TaskSpec{}))
	rep := verify(t, gapLog{r.log, 3}, audit.Options{})
	if rep.BreachCount != 1 || rep.Breaches[0].Rule != audit.RulePositions || rep.Breaches[0].Position != 3 || rep.Events != 2 {
		t.Fatalf("want position 3 reported missing:\n%s", describe(rep))
	}
}

// TestVerifyAcceptsOperatorActions: retries, cancels on request and queue
// pauses as the engine writes them are no breach.
func TestVerifyAcceptsOperatorActions(t *testing.T) {
	sec := time.Second
	r := newRawLog(t)
	r.add("a", enq(events.TaskSpec{Queue: "q"}))
	r.add("b", enq(events.TaskSpec{Queue: "q", DependsOn: []string{"a"}}))
	r.at(sec).add("a", lease(1))
	r.at(2*sec).add("a", &events.TaskFailed{Attempt: 1, Error: "x"}, "b", &events.TaskCancelled{Reason: events.CancelDependencyFailed, Dependency: "a"})
	r.at(3*sec).add("", &events.QueuePaused{Queue: "q"})
	r.at(4*sec).add("a", &events.TaskRetried{Attempt: 1}, "b", &events.TaskRetried{})
	r.at(5*sec).add("", &events.QueueResumed{Queue: "q"})
	r.at(6*sec).add("a", lease(2))
	r.at(7*sec).add("a", &events.TaskCompleted{Attempt: 2})
	r.at(8*sec).add("b", &events.TaskCancelled{Reason: events.CancelRequested})
	rep := verify(t, r.log, audit.Options{Strict: true})
	if !rep.OK() {
		t.Fatalf("a log of operator actions has breaches:\n%s", describe(rep))
	}
}
