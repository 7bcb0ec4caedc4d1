package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/engine/archive"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
)

// The checks, in the order they are reported (see the package doc).
//
// Each can fail: TestCheckerCatches breaks each property in a small real
// history or its log and requires that check, and only it, to fail (verify
// through audit.Verify, which `omniqd verify` runs). The harness was also
// run against omniqd binaries broken on purpose in a scratch copy of the
// tree (-omniqd): enqueues answered 201 before they were written failed
// acked_in_log; stale completes answered 200 failed stale_rejected; a replay
// dropping ready tasks failed all_terminal and pending_reissued; a projection
// ignoring dependencies failed deps_first; one handing out delayed tasks at
// once failed timing_kept; and a real lost-acknowledgement race fails verify
// (docs/reliability.md).
const (
	checkAckedInLog      = "acked_in_log"
	checkAllTerminal     = "all_terminal"
	checkLeasesInLog     = "leases_in_log"
	checkAnswersInLog    = "answers_in_log"
	checkCompletedOnce   = "completed_once"
	checkStaleRejected   = "stale_rejected"
	checkStalledReissued = "stalled_reissued"
	checkPendingReissued = "pending_reissued"
	checkReplayEqual     = "replay_equal"
	checkAllowedEnd      = "allowed_end"
	checkDepsFirst       = "deps_first"
	checkTimingKept      = "timing_kept"
	checkDeletedStays    = "deleted_not_started"
	checkScheduleKept    = "schedule_kept"
	checkRecovered       = "recovered"
	checkCleanShutdown   = "clean_shutdown"
	checkVerify          = "verify"

	// Checks of every run that matter most on a shared log (TestCheckerCatches
	// breaks each too).
	checkOneOutcome = "one_outcome"
	checkSlotOnce   = "slot_once"
	checkTimerOnce  = "timer_once"
	// Checks of the cluster schedule alone (cluster_test.go).
	checkSameState    = "same_state"
	checkOthersAnswer = "others_answer"
)

// clockSlack is how far apart two omniqd processes' clock reads may be: a
// lease expiry stamped up to this much before the deadline it enforces is
// not counted as early. The nodes run on one machine, and each anchors its
// clock to the machine's wall clock when it starts (engine/clock.go).
const clockSlack = 100 * time.Millisecond

// maxListed bounds the failures listed per check (all are counted).
const maxListed = 20

// checkResult is one property: how many items it looked at, and which broke it.
type checkResult struct {
	name     string
	checked  int
	failed   int
	failures []string
}

func (c *checkResult) fail(format string, args ...any) {
	c.failed++
	if len(c.failures) < maxListed {
		c.failures = append(c.failures, fmt.Sprintf(format, args...))
	}
}

// report is what the checker found in one store's log.
type report struct {
	checks []*checkResult

	head        uint64 // log head
	tasks       int    // tasks in the log
	completed   int    // tasks completed
	failed      int    // tasks failed for good
	leaseEvents int    // applied task.leased events
	lostLeases  int    // applied leases no client received (answer lost in a kill)
	expiries    int    // applied task.lease_expired events
	ignored     int    // events the projection ignored (races the log decided)
	atStarts    int    // pending or running tasks checked at omniqd starts
	checkpoints int    // log.checkpoint events (compactions)
	archived    int    // events read from the compaction archive files
	ends        map[projections.Status]int
}

func (r *report) check(name string) *checkResult {
	for _, c := range r.checks {
		if c.name == name {
			return c
		}
	}
	c := &checkResult{name: name}
	r.checks = append(r.checks, c)
	return c
}

// ok reports whether every check passed.
func (r *report) ok() bool {
	for _, c := range r.checks {
		if c.failed > 0 {
			return false
		}
	}
	return true
}

// String lists the checks, one a line, with their failures.
func (r *report) String() string {
	var b strings.Builder
	for _, c := range r.checks {
		status := "ok"
		if c.failed > 0 {
			status = fmt.Sprintf("FAILED %d", c.failed)
		}
		fmt.Fprintf(&b, "  %-17s %-10s checked %d\n", c.name, status, c.checked)
		for _, f := range c.failures {
			fmt.Fprintf(&b, "      %s\n", f)
		}
		if c.failed > len(c.failures) {
			fmt.Fprintf(&b, "      … and %d more\n", c.failed-len(c.failures))
		}
	}
	return b.String()
}

// appliedKey is an event the projection applied that answers lease l.
type appliedKey struct {
	verb verb
	lease
}

// atStart is a task that was pending or running when omniqd started.
type atStart struct {
	id      string
	status  projections.Status
	attempt int
	pos     uint64
}

// check folds the whole history — the compaction archive files in dir
// ("" for none), then the log past them — and checks h against it. It reads
// only; the caller has stopped omniqd. The returned error is for a history
// that cannot be read (that is not a check failing).
func check(ctx context.Context, log stores.Log, archiveDir string, h *history) (*report, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &report{ends: map[projections.Status]int{}}
	for _, name := range []string{checkAckedInLog, checkAllTerminal, checkAllowedEnd, checkLeasesInLog, checkAnswersInLog,
		checkCompletedOnce, checkOneOutcome, checkSlotOnce, checkTimerOnce, checkDepsFirst, checkTimingKept, checkDeletedStays,
		checkScheduleKept, checkStaleRejected, checkStalledReissued, checkPendingReissued, checkReplayEqual} {
		r.check(name)
	}

	starts := slices.Clone(h.starts)
	slices.Sort(starts)
	starts = slices.Compact(starts)
	st := projections.New()
	var pending []atStart
	capture := func(pos uint64) {
		st.Tasks(func(t *projections.Task) bool {
			if !t.Status.Terminal() {
				pending = append(pending, atStart{t.ID, t.Status, t.Attempt, pos})
			}
			return true
		})
	}
	next := 0
	for next < len(starts) && starts[next] == 0 {
		capture(0)
		next++
	}
	completions := map[string]map[int]int{} // task → attempt → task.completed events (applied or not)
	applied := map[appliedKey]bool{}
	expired := map[lease]bool{} // an applied task.lease_expired: the retry or failure after it is not a worker's fail
	// gone: the ended tasks a checkpoint left out of the state, as they were.
	gone := map[string]*projections.Task{}
	seen := map[string]bool{}        // ids of applied task.enqueued and schedule.created events
	leasedAt := map[lease]uint64{}   // applied task.leased → its position
	deletedAt := map[string]uint64{} // applied task.deleted → its position
	completed := map[string]bool{}   // tasks with an applied task.completed (a later delete does not undo it)
	type schedState struct{ paused, deleted bool }
	schedules := map[string]*schedState{}
	schedOps := map[scheduleOp]bool{} // applied pauses, resumes and deletes of schedules
	status := func(id string) (projections.Status, bool) {
		if t := st.Task(id); t != nil {
			return t.Status, true
		}
		if t := gone[id]; t != nil {
			return t.Status, true
		}
		return 0, false
	}
	replayEqual, depsFirst, timing := r.check(checkReplayEqual), r.check(checkDepsFirst), r.check(checkTimingKept)
	deletedStays, scheduleKept := r.check(checkDeletedStays), r.check(checkScheduleKept)
	timerOnce := r.check(checkTimerOnce)
	// outcomes: per task, every task.completed and task.failed event of the
	// log, applied or not ("task.completed of attempt 2 @1234").
	outcomes := map[string][]string{}
	type slot struct {
		id string
		at events.Timestamp
	}
	fires := map[slot][]uint64{}             // schedule.fired events per schedule and FireTime, applied or not
	expiries := map[lease][]uint64{}         // task.lease_expired events per lease, applied or not
	deadline := map[lease]events.Timestamp{} // the deadline of the last applied task.leased or task.heartbeat
	enqueuedAt := map[string][]uint64{}      // applied task.enqueued events per task (two: a compaction had forgotten it)
	err := readHistory(ctx, log, archiveDir, &r.archived, func(ev events.Event) error {
		switch p := ev.Payload.(type) {
		case *events.TaskCompleted:
			outcomes[ev.TaskID] = append(outcomes[ev.TaskID], fmt.Sprintf("task.completed of attempt %d @%d", p.Attempt, ev.Position))
		case *events.TaskFailed:
			outcomes[ev.TaskID] = append(outcomes[ev.TaskID], fmt.Sprintf("task.failed of attempt %d @%d", p.Attempt, ev.Position))
		case *events.ScheduleFired:
			k := slot{ev.TaskID, p.FireTime}
			fires[k] = append(fires[k], ev.Position)
		case *events.TaskLeaseExpired:
			l := lease{ev.TaskID, p.Attempt}
			expiries[l] = append(expiries[l], ev.Position)
		}
		// Before the fold: what the event is checked against.
		switch p := ev.Payload.(type) {
		case *events.LogCheckpoint:
			// A checkpoint holds the state of the events before it minus
			// the tasks that ended before p.Before: the fold's compaction.
			r.checkpoints++
			replayEqual.checked++
			if st.Position() == ev.Position-1 && !p.Elided {
				want, _, err := st.CompactedSnapshot(p.Before)
				got, gerr := st.CheckpointState(ev, p)
				if err = errors.Join(err, gerr); err != nil || !bytes.Equal(want, got) {
					replayEqual.fail("the log.checkpoint at %d differs from the compacted fold of the events before it (%v)", ev.Position, err)
				}
			}
			st.Tasks(func(t *projections.Task) bool {
				if t.Status.Terminal() {
					gone[t.ID] = t // the checkpoint replaces the state: t is not changed again
				}
				return true
			})
		case *events.TaskLeased:
			// Every lease the log holds, applied or not, is one the
			// engine chose to write: none may start a task early.
			t := st.Task(ev.TaskID)
			if at, ok := deletedAt[ev.TaskID]; ok {
				deletedStays.fail("task %s: task.leased at %d, after its task.deleted at %d", ev.TaskID, ev.Position, at)
			}
			if t == nil || t.Status.Terminal() || t.Status == projections.StatusRunning {
				break // a duplicate of a lease the log already applied, or a lease of an ended task (ignored)
			}
			spec := t.Spec()
			if len(spec.DependsOn) > 0 {
				depsFirst.checked++
				for _, dep := range spec.DependsOn {
					if !completed[dep] {
						s, _ := status(dep)
						depsFirst.fail("task %s: leased (attempt %d, position %d) while its dependency %s is %s", ev.TaskID, p.Attempt, ev.Position, dep, s)
					}
				}
			}
			if p.Attempt == 1 && (spec.RunAt != 0 || spec.TTL > 0) {
				timing.checked++
				now := events.At(ev.Time)
				if spec.RunAt != 0 && now < spec.RunAt {
					timing.fail("task %s: leased at %s, before its run_at %s", ev.TaskID, ev.Time.Format(time.RFC3339Nano), spec.RunAt.Time().Format(time.RFC3339Nano))
				}
				if d := t.TTLDeadline(); d != 0 && now >= d {
					timing.fail("task %s: leased at %s, after its TTL ran out at %s", ev.TaskID, ev.Time.Format(time.RFC3339Nano), d.Time().Format(time.RFC3339Nano))
				}
			}
		case *events.TaskCompleted, *events.TaskHeartbeat:
			if at, ok := deletedAt[ev.TaskID]; ok {
				deletedStays.fail("task %s: %s at %d, after its task.deleted at %d", ev.TaskID, ev.Type(), ev.Position, at)
			}
		case *events.ScheduleFired:
			if sc := schedules[ev.TaskID]; sc != nil {
				scheduleKept.checked++
				if sc.paused || sc.deleted {
					scheduleKept.fail("schedule %s: schedule.fired at %d while it is paused (%v) or deleted (%v)", ev.TaskID, ev.Position, sc.paused, sc.deleted)
				}
			}
		}
		aerr := st.Apply(ev)
		if errors.Is(aerr, projections.ErrGap) {
			return aerr
		}
		if aerr != nil {
			r.ignored++
		}
		ok := aerr == nil
		switch p := ev.Payload.(type) {
		case *events.TaskEnqueued:
			if ok {
				seen[ev.TaskID] = true
				enqueuedAt[ev.TaskID] = append(enqueuedAt[ev.TaskID], ev.Position)
			}
		case *events.ScheduleCreated:
			if ok {
				seen[ev.TaskID] = true
				schedules[ev.TaskID] = &schedState{paused: p.Paused}
			}
		case *events.SchedulePaused, *events.ScheduleResumed, *events.ScheduleDeleted:
			if sc := schedules[ev.TaskID]; ok && sc != nil {
				switch ev.Payload.(type) {
				case *events.SchedulePaused:
					sc.paused = true
				case *events.ScheduleResumed:
					sc.paused = false
				default:
					sc.deleted = true
				}
				schedOps[scheduleOp{ev.TaskID, ev.Type()}] = true
			}
		case *events.TaskDeleted:
			if ok {
				deletedAt[ev.TaskID] = ev.Position
			}
		case *events.TaskLeased:
			if ok {
				applied[appliedKey{"leased", lease{ev.TaskID, p.Attempt}}] = true
				leasedAt[lease{ev.TaskID, p.Attempt}] = ev.Position
				deadline[lease{ev.TaskID, p.Attempt}] = p.Deadline
				r.leaseEvents++
			}
		case *events.TaskHeartbeat:
			if ok {
				applied[appliedKey{verbHeartbeat, lease{ev.TaskID, p.Attempt}}] = true
				deadline[lease{ev.TaskID, p.Attempt}] = p.Deadline
			}
		case *events.TaskCompleted:
			if completions[ev.TaskID] == nil {
				completions[ev.TaskID] = map[int]int{}
			}
			completions[ev.TaskID][p.Attempt]++
			if ok {
				applied[appliedKey{verbComplete, lease{ev.TaskID, p.Attempt}}] = true
				completed[ev.TaskID] = true
			}
		case *events.TaskLeaseExpired:
			if ok {
				l := lease{ev.TaskID, p.Attempt}
				expired[l] = true
				r.expiries++
				// An expiry is decided on a state that holds every
				// heartbeat before it: the deadline had passed.
				if dl, known := deadline[l]; known && ev.Time.Add(clockSlack).Before(dl.Time()) {
					timerOnce.fail("task %s: task.lease_expired of attempt %d at %d stamped %s, %v before the deadline %s of its last lease or heartbeat",
						ev.TaskID, p.Attempt, ev.Position, ev.Time.Format(time.RFC3339Nano), dl.Time().Sub(ev.Time).Round(time.Millisecond), dl.Time().Format(time.RFC3339Nano))
				}
			}
		case *events.TaskRetryScheduled:
			if l := (lease{ev.TaskID, p.Attempt}); ok && !expired[l] {
				applied[appliedKey{verbFail, l}] = true
			}
		case *events.TaskFailed:
			if l := (lease{ev.TaskID, p.Attempt}); ok && !expired[l] {
				applied[appliedKey{verbFail, l}] = true
			}
		}
		for next < len(starts) && starts[next] == ev.Position {
			capture(ev.Position)
			next++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the history: %w", err)
	}
	r.head = st.Position()
	final := func(id string) *projections.Task {
		if t := st.Task(id); t != nil {
			return t
		}
		return gone[id]
	}

	// Every acknowledged enqueue is in the log; every task in it ended, in
	// a state the workload allows it.
	c := r.check(checkAckedInLog)
	for id, o := range h.enqueued {
		if o == enqueueUnknown {
			continue
		}
		c.checked++
		if !seen[id] {
			c.fail("task %s: enqueue acknowledged (%s) but not in the log", id, outcomeName(o))
		}
	}
	for _, id := range h.schedules {
		c.checked++
		if !seen[id] {
			c.fail("schedule %s: creation acknowledged but not in the log", id)
		}
	}
	c = r.check(checkAllTerminal)
	ends := r.check(checkAllowedEnd)
	endOf := func(t *projections.Task) {
		c.checked++
		r.tasks++
		r.ends[t.Status]++
		switch {
		case t.Status == projections.StatusCompleted:
			r.completed++
		case t.Status == projections.StatusFailed:
			r.failed++
		}
		if !t.Status.Terminal() {
			c.fail("task %s is %s (attempt %d) after the drain", t.ID, t.Status, t.Attempt)
			return
		}
		ends.checked++
		allowed, ok := h.ends[t.ID]
		if !ok {
			allowed = []projections.Status{projections.StatusCompleted}
		}
		if !slices.Contains(allowed, t.Status) {
			by := ""
			if t.CancelledBy() != "" {
				by = " by " + t.CancelledBy()
			}
			ends.fail("task %s ended %s%s (attempt %d), allowed: %v", t.ID, t.Status, by, t.Attempt, allowed)
		}
	}
	st.Tasks(func(t *projections.Task) bool {
		endOf(t)
		return true
	})
	for id, t := range gone {
		if st.Task(id) == nil {
			endOf(t)
		}
	}

	// A deleted task is never started again; an acknowledged delete is in
	// the log, and so is each acknowledged change of a schedule.
	for _, id := range h.deletes {
		deletedStays.checked++
		if _, ok := deletedAt[id]; !ok {
			deletedStays.fail("task %s: delete acknowledged but no applied task.deleted", id)
		}
	}
	for l := range h.leases {
		if at, ok := deletedAt[l.id]; ok && leasedAt[l] > at {
			deletedStays.fail("task %s: attempt %d handed out at %d, after its task.deleted at %d", l.id, l.attempt, leasedAt[l], at)
		}
	}
	for _, op := range h.scheduleOps {
		scheduleKept.checked++
		if !schedOps[op] {
			scheduleKept.fail("schedule %s: %s acknowledged but not an applied event", op.id, op.op)
		}
	}

	// Durable before visible: every lease and acknowledged answer is in the log.
	c = r.check(checkLeasesInLog)
	maxLease := map[string]int{}
	for l := range h.leases {
		c.checked++
		maxLease[l.id] = max(maxLease[l.id], l.attempt)
		if !applied[appliedKey{"leased", l}] {
			c.fail("task %s: attempt %d was handed out but is not an applied task.leased", l.id, l.attempt)
		}
	}
	for k := range applied {
		if k.verb == "leased" && !h.leases[k.lease] {
			r.lostLeases++
		}
	}
	c = r.check(checkAnswersInLog)
	okCompletes := map[string][]int{}
	for _, a := range h.answers {
		if !a.ok {
			continue
		}
		c.checked++
		if !applied[appliedKey{a.verb, a.lease}] {
			c.fail("task %s: %s of attempt %d was acknowledged but is not an applied event", a.id, a.verb, a.attempt)
		}
		if a.verb == verbComplete && !slices.Contains(okCompletes[a.id], a.attempt) {
			okCompletes[a.id] = append(okCompletes[a.id], a.attempt)
		}
	}

	// No task completed under two leases: not in the log (applied or
	// ignored task.completed events), not in what clients were told.
	c = r.check(checkCompletedOnce)
	for id, byAttempt := range completions {
		c.checked++
		if len(byAttempt) > 1 {
			c.fail("task %s: task.completed events name attempts %v", id, keys(byAttempt))
		}
	}
	for id, attempts := range okCompletes {
		if len(attempts) > 1 {
			c.fail("task %s: completes of attempts %v were all acknowledged", id, attempts)
		}
		if t := final(id); t != nil && t.Status == projections.StatusCompleted && t.Attempt != attempts[0] {
			c.fail("task %s: completed under attempt %d, but the complete of attempt %d was acknowledged", id, t.Attempt, attempts[0])
		}
	}

	// One accepted outcome per task: the log holds at most one task.completed
	// or task.failed event for it (applied or not: on a log whose every
	// event was validated against the events before it, a second one is a
	// second decision), and clients were not told of two (completes of two
	// attempts, or a complete and a fail of one lease, or a complete of a
	// task that failed for good).
	c = r.check(checkOneOutcome)
	for id, evs := range outcomes {
		c.checked++
		if len(evs) > 1 {
			again := ""
			if at := enqueuedAt[id]; len(at) > 1 {
				again = fmt.Sprintf(" (its task.enqueued was applied at positions %v: a compaction had dropped the task when the later one came)", at)
			}
			c.fail("task %s: %d outcomes in the log: %s%s", id, len(evs), strings.Join(evs, ", "), again)
		}
	}
	okFinal := map[lease]map[verb]bool{}
	for _, a := range h.answers {
		if !a.ok || a.verb == verbHeartbeat {
			continue
		}
		c.checked++
		if okFinal[a.lease] == nil {
			okFinal[a.lease] = map[verb]bool{}
		}
		okFinal[a.lease][a.verb] = true
	}
	for l, vs := range okFinal {
		if vs[verbComplete] && vs[verbFail] {
			c.fail("task %s: both a complete and a fail of attempt %d were acknowledged", l.id, l.attempt)
		}
	}
	for id, attempts := range okCompletes {
		if len(attempts) > 1 {
			c.fail("task %s: completes of attempts %v were all acknowledged", id, attempts)
		}
		for _, o := range outcomes[id] {
			if strings.HasPrefix(o, "task.failed") {
				c.fail("task %s: a complete of attempt %d was acknowledged, and the log holds %s", id, attempts[0], o)
			}
		}
	}

	// Each schedule slot fired once; each lease expired at most once.
	c = r.check(checkSlotOnce)
	for k, at := range fires {
		c.checked++
		if len(at) > 1 {
			c.fail("schedule %s: the slot %s fired %d times, at positions %v", k.id, k.at.Time().Format(time.RFC3339Nano), len(at), at)
		}
	}
	for l, at := range expiries {
		timerOnce.checked++
		if len(at) > 1 {
			timerOnce.fail("task %s: attempt %d expired %d times, at positions %v", l.id, l.attempt, len(at), at)
		}
	}

	// Fencing: a stale answer is refused and changes nothing.
	c = r.check(checkStaleRejected)
	for _, s := range h.stale {
		c.checked++
		switch {
		case !s.definite:
			c.fail("task %s: stale %s of attempt %d (%s) got no definite answer: %v", s.id, s.verb, s.attempt, s.why, s.err)
		case s.err == nil:
			c.fail("task %s: stale %s of attempt %d (%s) was accepted", s.id, s.verb, s.attempt, s.why)
		case errors.Is(s.err, engine.ErrNotFound) && gone[s.id] != nil:
			// Refused: the task ended and compaction forgot it.
		case !errors.Is(s.err, engine.ErrStaleLease):
			c.fail("task %s: stale %s of attempt %d (%s) got %v, want stale_lease", s.id, s.verb, s.attempt, s.why, s.err)
		}
	}
	c = r.check(checkStalledReissued)
	for _, l := range h.neverUp {
		c.checked++
		c.fail("task %s: attempt %d was held past its deadline but never stopped being the current lease", l.id, l.attempt)
	}
	// reissued checks a lease that no answer ended: no outcome of it was
	// applied, and the task was handed out again, unless it ended (but
	// not completed) under that attempt. The messages call the attempt
	// how ("the stalled attempt") and say what became of it.
	reissued := func(c *checkResult, l lease, how, what string) {
		c.checked++
		for _, v := range []verb{verbComplete, verbFail} {
			if applied[appliedKey{v, l}] {
				c.fail("task %s: the %s attempt %d has an applied %s", l.id, how, l.attempt, v)
			}
		}
		t := final(l.id)
		endedThen := t != nil && t.Status.Terminal() && t.Status != projections.StatusCompleted && t.Attempt == l.attempt
		if maxLease[l.id] <= l.attempt && !endedThen {
			c.fail("task %s: attempt %d %s and the task was not handed out again", l.id, l.attempt, what)
		}
	}
	for _, l := range h.stalled {
		reissued(c, l, "stalled", "stalled")
	}
	// A lease its worker dropped when it died with its node is answered by
	// no one: it runs out and the task is handed out again (or ends).
	for _, l := range h.abandoned {
		reissued(c, l, "abandoned", "was abandoned (its worker died with its node)")
	}

	// What the log shows pending or running when omniqd starts is handed
	// out again, or ends by the lease it held then.
	c = r.check(checkPendingReissued)
	if next < len(starts) {
		c.fail("omniqd started at log position %d but the log ends at %d", starts[next], r.head)
	}
	for _, p := range pending {
		c.checked++
		r.atStarts++
		if maxLease[p.id] > p.attempt {
			continue
		}
		t := final(p.id)
		if p.status == projections.StatusRunning && t != nil && t.Status.Terminal() && t.Attempt == p.attempt {
			continue
		}
		if t != nil && (t.Status == projections.StatusExpired || t.Status == projections.StatusCancelled || t.Status == projections.StatusDeleted) {
			continue // it ended without a lease (allowed_end checks that it may)
		}
		status := "gone"
		if t != nil {
			status = fmt.Sprintf("%s at attempt %d", t.Status, t.Attempt)
		}
		c.fail("task %s: %s at attempt %d when omniqd started at position %d, never handed out again (now %s)",
			p.id, p.status, p.attempt, p.pos, status)
	}

	// The engine's own replay (snapshot plus tail) gives the state of a
	// fold from position 1.
	c = r.check(checkReplayEqual)
	c.checked++
	rebuilt, err := engine.Replay(ctx, log, 0)
	if err != nil {
		c.fail("engine.Replay: %v", err)
	} else {
		a, errA := st.Snapshot()
		b, errB := rebuilt.Snapshot()
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			c.fail("engine.Replay's state differs from a fold of the whole log (%v, %v)", errA, errB)
		}
	}
	return r, nil
}

func outcomeName(o enqueueOutcome) string {
	switch o {
	case enqueueAcked:
		return "201"
	case enqueueWritten:
		return "a retry found it written"
	}
	return "unknown"
}

func keys(m map[int]int) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// readHistory calls fn with every event of the history in order: those of
// the archive in dir (retention's compressed directory, read by
// engine/archive, or the periodic compactor's JSON Lines files, read in name
// order), then those of log past them. A torn last line of a file (a compaction
// killed before it synced, which removed nothing from the log) is skipped,
// and so is an event a file holds again. *archived counts the events read
// from the files.
func readHistory(ctx context.Context, log stores.Log, dir string, archived *int, fn func(events.Event) error) error {
	var last uint64
	// Retention's archive: compressed files that engine/archive reads.
	var gz []string
	if dir != "" {
		var err error
		if gz, err = filepath.Glob(filepath.Join(dir, "*.jsonl.gz")); err != nil {
			return err
		}
	}
	if len(gz) > 0 {
		err := archive.Read(ctx, dir, func(ev events.Event) error {
			if ev.Position <= last {
				return nil
			}
			last = ev.Position
			*archived++
			return fn(ev)
		})
		if err != nil {
			return err
		}
		dir = "" // the log follows
	}
	if dir != "" {
		names, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		if err != nil {
			return err
		}
		slices.Sort(names)
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			lines := bytes.SplitAfter(data, []byte("\n"))
			for i, line := range lines {
				if len(bytes.TrimSpace(line)) == 0 {
					continue
				}
				ev, err := eventjson.Unmarshal(line)
				if err != nil {
					if i == len(lines)-1 && !bytes.HasSuffix(line, []byte("\n")) {
						break // a torn last line
					}
					return fmt.Errorf("archive %s line %d: %w", name, i+1, err)
				}
				if ev.Position <= last {
					continue
				}
				last = ev.Position
				*archived++
				if err := fn(ev); err != nil {
					return err
				}
			}
		}
	}
	return stores.ReadAll(ctx, log, last+1, 4096, func(ev events.Event) error {
		if ev.Position <= last {
			return nil
		}
		return fn(ev)
	})
}
