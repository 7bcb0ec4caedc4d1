package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
)

// Options tunes Verify.
type Options struct {
	// Strict makes every event the projection ignored a breach
	// (RuleIgnoredEvent), for logs with a single writer.
	Strict bool
	// MaxBreaches bounds how many breaches the report lists (default 1000);
	// Report.BreachCount counts on.
	MaxBreaches int
	// PageSize is how many events one Read asks for (default 4096).
	PageSize int
	// Progress, when set, is called after each page with the position
	// reached and the head.
	Progress func(position, head uint64)
}

// Verify reads log from its first position (1, unless the log was compacted
// through stores.Truncater) to its head, folds it into a fresh projection
// and checks the invariants listed in the package doc. Breaches
// are in the report; the error is for what stopped the check itself (the log
// is unavailable or closed, ctx ended). It does not write to the log.
func Verify(ctx context.Context, log stores.Log, opts Options) (*Report, error) {
	if opts.MaxBreaches <= 0 {
		opts.MaxBreaches = 1000
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 4096
	}
	// The snapshot first: the log only grows, so it is at or below the head
	// read next even while a live engine saves new ones.
	snap, err := loadSnapshot(ctx, log)
	if err != nil {
		return nil, err
	}
	head, err := log.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: head: %w", err)
	}
	v := &verifier{
		opts:    opts,
		st:      projections.New(),
		folding: true,
		report:  &Report{Head: head, Types: map[string]uint64{}, Breaches: []Breach{}, Warnings: []Warning{}},
		leases:  map[leaseKey]uint64{},
		warns:   map[[2]string]*Warning{},
		doneAt:  map[string]int{},
		dropped: map[string]bool{},
	}
	first, err := firstPosition(ctx, log)
	if err != nil {
		return nil, err
	}
	v.report.First = first
	// A compacted log is folded from its first log.checkpoint, which holds
	// the state the removed events made.
	v.seeking = first > 1
	v.useSnapshot(snap, head)
	if err := v.read(ctx, log, first, head); err != nil {
		return nil, err
	}
	v.finish()
	return v.report, nil
}

type leaseKey struct {
	task    string
	attempt int
}

// verifier holds the state of one Verify pass.
type verifier struct {
	opts    Options
	st      *projections.State
	folding bool // false once a gap or an unreadable event stopped the fold
	// seeking: the log was compacted and its first log.checkpoint, where the
	// fold starts, is not reached yet.
	seeking bool
	inParts bool // the fold holds the parts of the checkpoint that follows
	// dropped holds the ids a checkpoint left out (compaction); droppedUnseen
	// is set when a checkpoint left out records this pass never saw.
	dropped       map[string]bool
	droppedUnseen bool
	report        *Report
	// leases holds every task.leased not yet ended: its position.
	leases map[leaseKey]uint64
	// doneAt holds the completing attempt of tasks completed and then deleted
	// (a completed task that is still completed shows it in the state).
	doneAt map[string]int
	// follow is the event whose same-batch follow-up the next event must be
	// (a task.lease_expired or a schedule.fired), if any.
	follow *events.Event
	warns  map[[2]string]*Warning
	// snap is the stored snapshot still to compare, if any.
	snap    []byte
	snapPos uint64
	pending bool
}

func (v *verifier) breach(rule Rule, pos uint64, task, format string, args ...any) {
	v.report.BreachCount++
	if len(v.report.Breaches) < v.opts.MaxBreaches {
		v.report.Breaches = append(v.report.Breaches, Breach{Rule: rule, Position: pos, TaskID: task, Message: fmt.Sprintf(format, args...)})
	}
}

func (v *verifier) warn(ev events.Event, reason string, err error) {
	key := [2]string{ev.Type().String(), reason}
	w := v.warns[key]
	if w == nil {
		w = &Warning{Type: key[0], Reason: reason, First: ev.Position, TaskID: ev.TaskID, Example: err.Error()}
		v.warns[key] = w
	}
	w.Count++
}

// stop ends the checks that need the state: the event at pos cannot be
// folded, and neither can anything after it.
func (v *verifier) stop(pos uint64) {
	if v.folding {
		v.folding = false
		v.report.StateStoppedAt = pos
		v.follow = nil
	}
}

// stored is what LoadSnapshot gave: a snapshot, or why it cannot be read.
type stored struct {
	pos     uint64
	data    []byte
	corrupt error
}

// loadSnapshot returns the log's snapshot, or nil when it keeps none.
func loadSnapshot(ctx context.Context, log stores.Log) (*stored, error) {
	ss, ok := log.(stores.SnapshotStore)
	if !ok {
		return nil, nil
	}
	pos, data, err := ss.LoadSnapshot(ctx)
	switch {
	case errors.Is(err, stores.ErrNoSnapshot):
		return nil, nil
	case errors.Is(err, stores.ErrCorrupt):
		return &stored{corrupt: err}, nil
	case err != nil:
		return nil, fmt.Errorf("audit: verify: load snapshot: %w", err)
	}
	return &stored{pos: pos, data: data}, nil
}

// useSnapshot sets up the comparison of the stored snapshot with the state
// rebuilt at its position.
func (v *verifier) useSnapshot(s *stored, head uint64) {
	switch {
	case s == nil:
		return
	case s.corrupt != nil:
		v.breach(RuleSnapshotMismatch, 0, "", "the stored snapshot cannot be read: %v", s.corrupt)
		return
	}
	v.report.Snapshot = &SnapshotCheck{Position: s.pos, Bytes: len(s.data)}
	if s.pos > head {
		v.breach(RuleSnapshotMismatch, s.pos, "", "the snapshot covers position %d, beyond the log's head %d", s.pos, head)
		return
	}
	v.snap, v.snapPos, v.pending = s.data, s.pos, true
	v.checkSnapshot() // a snapshot at position 0 is the empty state
}

// read walks the log, page by page; after a page fails to decode it reads
// one event at a time for a page's length, to find the positions at fault
// and fold the events around them.
func (v *verifier) read(ctx context.Context, log stores.Log, first, head uint64) error {
	next := first   // the position the next event must have
	single := 0     // events left to read one at a time
	var bad *badRun // the run of unreadable positions being reported
	flushBad := func() {
		switch {
		case bad == nil:
		case bad.first == bad.last:
			v.breach(RuleDecode, bad.first, "", "the event at position %d cannot be read: %v", bad.first, bad.err)
		default:
			v.breach(RuleDecode, bad.first, "", "the events at positions %d..%d cannot be read; the first: %v", bad.first, bad.last, bad.err)
		}
		bad = nil
	}
	for next <= head {
		max := v.opts.PageSize
		if single > 0 {
			max = 1
		}
		page, err := log.Read(ctx, next, max)
		if err != nil {
			if !isCorrupt(err) {
				return fmt.Errorf("audit: verify: read from %d: %w", next, err)
			}
			if max > 1 {
				single = v.opts.PageSize
				continue
			}
			// The event at next cannot be read: no replica can fold past it.
			if bad == nil {
				bad = &badRun{first: next, err: err}
			}
			bad.last = next
			v.stop(next)
			next++
			single--
			continue
		}
		flushBad()
		if single > 0 {
			single--
		}
		if len(page) == 0 {
			v.breach(RulePositions, next, "", "the log's head is %d but reading from %d returns nothing", head, next)
			v.stop(next)
			break
		}
		advanced := false
		for _, ev := range page {
			if ev.Position > head {
				if !advanced {
					v.breach(RulePositions, next, "", "positions %d..%d are missing: the next event read is at %d, beyond the head", next, head, ev.Position)
					v.stop(next)
					return nil
				}
				break
			}
			switch {
			case ev.Position < next:
				v.breach(RulePositions, ev.Position, ev.TaskID, "position %d comes again after %d (%s)", ev.Position, next-1, ev.Type())
				continue
			case ev.Position > next:
				v.breach(RulePositions, next, "", "positions %d..%d are missing: the next event read is at %d", next, ev.Position-1, ev.Position)
				v.stop(next)
			}
			next = ev.Position + 1
			advanced = true
			v.event(ev)
		}
		if !advanced {
			v.breach(RulePositions, next, "", "reading from %d returns only earlier positions", next)
			v.stop(next)
			break
		}
		if v.opts.Progress != nil {
			v.opts.Progress(next-1, head)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	flushBad()
	return nil
}

// badRun is a run of consecutive positions that cannot be read.
type badRun struct {
	first, last uint64
	err         error // the first one's
}

// isCorrupt reports whether a read error means the stored data is bad (a
// breach) rather than that the store cannot answer now (a failed check).
func isCorrupt(err error) bool {
	return errors.Is(err, stores.ErrCorrupt) || errors.Is(err, events.ErrCorrupt) ||
		errors.Is(err, events.ErrUnknownType) || errors.Is(err, events.ErrNewerVersion)
}

// event checks and folds one event, at the position it should have.
func (v *verifier) event(ev events.Event) {
	v.report.Events++
	v.report.Types[ev.Type().String()]++
	if !v.folding {
		return
	}
	if cp, ok := ev.Payload.(*events.LogCheckpoint); ok {
		v.checkpoint(ev, cp)
		return
	}
	if p, ok := ev.Payload.(*events.LogCheckpointPart); ok {
		// A part is kept by the fold until its checkpoint, the next event
		// but its other parts, which checkpoint checks whole.
		if v.seeking && p.Index != 0 && !v.inParts {
			return // a part of a checkpoint whose first parts were removed
		}
		v.inParts = true
		if !v.seeking {
			v.checkFollowUp(ev)
		}
		if err := v.st.Apply(ev); err != nil {
			v.breach(RuleCheckpointMismatch, ev.Position, "", "every replica ignores the checkpoint part: %v", err)
			v.report.Ignored++
			return
		}
		v.report.Applied++
		return
	}
	if v.seeking {
		return
	}
	v.checkFollowUp(ev)
	pre := v.before(ev)
	v.checkAction(ev, pre)
	err := v.st.Apply(ev)
	switch {
	case err == nil:
		v.report.Applied++
		v.applied(ev, pre)
	case errors.Is(err, projections.ErrStale):
		v.report.Ignored++
		v.ignored(ev, err)
	default: // ErrGap cannot happen: positions were checked
		v.breach(RulePositions, ev.Position, ev.TaskID, "the projection refuses the event: %v", err)
		v.stop(ev.Position)
		return
	}
	v.checkUnchanged(ev, pre, err == nil)
	v.trackLeases(ev)
	if v.pending && v.st.Position() == v.snapPos {
		v.checkSnapshot()
	}
}

// checkpoint checks and folds a log.checkpoint: its state must be the
// compacted state of the events before it.
func (v *verifier) checkpoint(ev events.Event, cp *events.LogCheckpoint) {
	v.report.Checkpoints++
	v.inParts = false
	if !v.seeking && !cp.Elided {
		v.checkFollowUp(ev)
		want, dropped, err := v.st.CompactedSnapshot(cp.Before)
		got, gerr := v.st.CheckpointState(ev, cp)
		if err == nil && gerr == nil && !bytes.Equal(want, got) {
			// A checkpoint written before snapshots held the edges of
			// the dependency graph (or by an engine restored from such a
			// snapshot) carries the state without them.
			if legacy, _, lerr := v.st.CompactedSnapshotWithoutEdges(cp.Before); lerr == nil && bytes.Equal(legacy, got) {
				want = legacy
			}
		}
		switch {
		case err != nil:
			v.breach(RuleCheckpointMismatch, ev.Position, "", "the rebuilt state does not encode: %v", err)
		case gerr != nil:
			v.breach(RuleCheckpointMismatch, ev.Position, "", "the checkpoint's state cannot be assembled: %v", gerr)
		case !bytes.Equal(want, got):
			task, msg := "", "it cannot be compared"
			if ws, err := projections.Restore(want); err == nil {
				task, msg = diffSnapshot(ws, got)
			}
			v.breach(RuleCheckpointMismatch, ev.Position, task, "the checkpoint's state differs from the state rebuilt from the events before it (compacted before %s): %s",
				describeTime(cp.Before), msg)
		case dropped != cp.Dropped:
			v.breach(RuleCheckpointMismatch, ev.Position, "", "the checkpoint says it left out %d records; the state rebuilt from the events before it leaves out %d", cp.Dropped, dropped)
		}
		v.recordDropped(cp.Before)
	}
	if err := v.st.Apply(ev); err != nil {
		v.breach(RuleCheckpointMismatch, ev.Position, "", "every replica ignores the checkpoint: %v", err)
		v.report.Ignored++
		if v.seeking {
			v.stop(ev.Position)
		}
		return
	}
	v.report.Applied++
	if v.seeking {
		v.seeking = false
		v.droppedUnseen = v.droppedUnseen || cp.Dropped > 0
	}
	if v.pending && v.st.Position() == v.snapPos {
		v.checkSnapshot()
	}
}

// recordDropped notes the records a checkpoint compacted before `before`
// leaves out, so that later events naming them are understood.
func (v *verifier) recordDropped(before events.Timestamp) {
	v.st.Tasks(func(t *projections.Task) bool {
		if t.Status.Terminal() && t.FinishedAt() < before {
			v.dropped[t.ID] = true
			if t.Status == projections.StatusCompleted {
				v.doneAt[t.ID] = t.Attempt
			}
		}
		return true
	})
	v.st.Schedules(func(sc *projections.Schedule) bool {
		if sc.Deleted && sc.UpdatedAt < before {
			v.dropped[sc.ID] = true
		}
		return true
	})
}

// checkFollowUp enforces the same-batch pairs: task.lease_expired then its
// retry or failure, schedule.fired then its instance's task.enqueued.
func (v *verifier) checkFollowUp(ev events.Event) {
	if f := v.follow; f != nil {
		v.follow = nil
		switch p := f.Payload.(type) {
		case *events.TaskLeaseExpired:
			ok := ev.TaskID == f.TaskID && ev.Time.Equal(f.Time)
			switch q := ev.Payload.(type) {
			case *events.TaskRetryScheduled:
				ok = ok && q.Attempt == p.Attempt
			case *events.TaskFailed:
				ok = ok && q.Attempt == p.Attempt
			default:
				ok = false
			}
			if !ok {
				v.breach(RuleLeaseExpiredFollow, f.Position, f.TaskID,
					"task.lease_expired of attempt %d is followed by %s, not by the retry or failure of that attempt in the same batch", p.Attempt, ev)
			}
		case *events.ScheduleFired:
			q, isEnq := ev.Payload.(*events.TaskEnqueued)
			if !isEnq || ev.TaskID != p.Instance || q.Spec.ScheduleID != f.TaskID || !ev.Time.Equal(f.Time) {
				v.breach(RuleScheduleFiredFollow, f.Position, f.TaskID,
					"schedule.fired naming instance %s is followed by %s, not by that instance's task.enqueued in the same batch", p.Instance, ev)
			}
		}
	}
	switch ev.Payload.(type) {
	case *events.TaskLeaseExpired, *events.ScheduleFired:
		e := ev
		v.follow = &e
	}
}

// prior is what an event's task or schedule looked like before it.
type prior struct {
	task     *projections.Task
	status   projections.Status
	attempt  int
	ttl      events.Timestamp // TTL deadline (0: none)
	terminal *recordView      // set when the task or schedule had ended
}

func (v *verifier) before(ev events.Event) prior {
	var p prior
	if t := v.st.Task(ev.TaskID); t != nil {
		p.task, p.status, p.attempt, p.ttl = t, t.Status, t.Attempt, t.TTLDeadline()
		if t.Status.Terminal() {
			view := taskView(t)
			p.terminal = &view
		}
	} else if sc := v.st.Schedule(ev.TaskID); sc != nil && sc.Deleted {
		view := scheduleView(sc)
		p.terminal = &view
	}
	return p
}

// checkAction checks, before the fold, the rules of the operator actions:
// a task.retried retries a task that ended failed, expired or cancelled,
// at its latest attempt; no task.leased leases from a paused queue.
func (v *verifier) checkAction(ev events.Event, pre prior) {
	switch p := ev.Payload.(type) {
	case *events.TaskRetried:
		switch {
		case pre.task == nil:
			if !v.dropped[ev.TaskID] && !v.droppedUnseen {
				v.breach(RuleRetryNotEnded, ev.Position, ev.TaskID, "task.retried names a task the log never created")
			}
		case !projections.Retryable(pre.status):
			v.breach(RuleRetryNotEnded, ev.Position, ev.TaskID, "task.retried of a task that is %s, not failed, expired or cancelled", pre.status)
		case p.Attempt != pre.attempt:
			v.breach(RuleRetryNotEnded, ev.Position, ev.TaskID, "task.retried names attempt %d; the task's latest attempt is %d", p.Attempt, pre.attempt)
		}
	case *events.TaskLeased:
		if pre.task != nil && v.st.QueuePaused(pre.task.Queue()) {
			v.breach(RuleLeasePausedQueue, ev.Position, ev.TaskID, "task.leased of a task of queue %q, which is paused", pre.task.Queue())
		}
	}
}

// applied checks an event the projection applied.
func (v *verifier) applied(ev events.Event, pre prior) {
	switch p := ev.Payload.(type) {
	case *events.TaskDeleted:
		if pre.status == projections.StatusCompleted {
			v.doneAt[ev.TaskID] = pre.attempt
		}
	case *events.TaskExpired:
		if pre.ttl == 0 || events.At(ev.Time) < pre.ttl {
			v.breach(RuleExpiredBeforeTTL, ev.Position, ev.TaskID, "task.expired at %s, but the task's TTL deadline is %s",
				ev.Time.Format(timeFormat), describeDeadline(pre.ttl))
		}
	case *events.TaskCancelled:
		t := v.st.Task(ev.TaskID)
		dep := v.st.Task(p.Dependency)
		switch {
		case p.Reason == events.CancelRequested:
			if p.Dependency != "" {
				v.breach(RuleCancelCause, ev.Position, ev.TaskID, "cancelled on request, yet naming dependency %q", p.Dependency)
			}
		case !contains(t.DependsOn(), p.Dependency):
			v.breach(RuleCancelCause, ev.Position, ev.TaskID, "cancelled because of %q, which is not one of its dependencies %v", p.Dependency, t.DependsOn())
		case dep == nil || !dep.Status.Terminal() || dep.Status == projections.StatusCompleted:
			status := "unknown"
			if dep != nil {
				status = dep.Status.String()
			}
			v.breach(RuleCancelCause, ev.Position, ev.TaskID, "cancelled because of dependency %q, which is %s", p.Dependency, status)
		}
	}
}

// ignored classifies an event the projection ignored (see the package doc).
func (v *verifier) ignored(ev events.Event, err error) {
	if p, ok := ev.Payload.(*events.TaskCompleted); ok {
		if first, done := v.completedAttempt(ev.TaskID); done {
			rule, how := RuleCompletedTwoLeases, fmt.Sprintf("under attempt %d after attempt %d", p.Attempt, first)
			if first == p.Attempt {
				rule, how = RuleCompletedTwice, fmt.Sprintf("twice under attempt %d", p.Attempt)
			}
			v.breach(rule, ev.Position, ev.TaskID, "task completed %s", how)
			return
		}
	}
	reason, why := classify(v.st, ev)
	if why != "" && v.st.Task(ev.TaskID) == nil && v.st.Schedule(ev.TaskID) == nil && (v.dropped[ev.TaskID] || v.droppedUnseen) {
		// A writer that had not seen the checkpoint could still name a
		// task the checkpoint left out.
		reason, why = ReasonCompacted, ""
	}
	switch {
	case why != "":
		v.breach(RuleImpossibleEvent, ev.Position, ev.TaskID, "%s %s (%v)", ev.Type(), why, err)
	case v.opts.Strict:
		v.breach(RuleIgnoredEvent, ev.Position, ev.TaskID, "%s ignored (%s): %v", ev.Type(), reason, err)
	default:
		v.warn(ev, reason, err)
	}
}

// completedAttempt returns the attempt that completed task id, if it did.
func (v *verifier) completedAttempt(id string) (int, bool) {
	if t := v.st.Task(id); t != nil && t.Status == projections.StatusCompleted {
		return t.Attempt, true
	}
	a, ok := v.doneAt[id]
	return a, ok
}

// classify says why a race explains an ignored event (reason), or why no
// writer could have appended it (why, non-empty). The state is as before the
// event: an ignored event changes nothing.
func classify(st *projections.State, ev events.Event) (reason, why string) {
	id := ev.TaskID
	switch ev.Payload.(type) {
	case *events.TaskEnqueued, *events.ScheduleCreated:
		return ReasonDuplicateID, ""
	case *events.ScheduleFired:
		sc := st.Schedule(id)
		if sc == nil {
			return "", "names a schedule the log never created"
		}
		return ReasonScheduleInactive, ""
	case *events.ScheduleDeleted:
		if st.Schedule(id) == nil {
			return "", "names a schedule the log never created"
		}
		return ReasonAlreadyDeleted, ""
	case *events.QueuePaused:
		return "", "pauses a queue that is paused already"
	case *events.QueueResumed:
		return "", "resumes a queue that is not paused"
	case *events.TaskRetried:
		// Breached already (checkAction); no writer appends it.
		return ReasonTaskMovedOn, ""
	case *events.SchedulePaused, *events.ScheduleResumed:
		if st.Schedule(id) != nil {
			return ReasonScheduleInactive, ""
		}
		if st.Task(id) == nil {
			return "", "names a task or schedule the log never created"
		}
		return ReasonTaskMovedOn, ""
	}
	t := st.Task(id)
	if t == nil {
		if st.Schedule(id) != nil {
			return "", "is a task event naming a schedule"
		}
		return "", "names a task the log never created"
	}
	switch p := ev.Payload.(type) {
	case *events.TaskLeased:
		switch a := p.Attempt; {
		case a < 1:
			return "", fmt.Sprintf("names attempt %d; attempts start at 1", a)
		case a == t.Attempt && t.Status == projections.StatusRunning:
			return ReasonDuplicateLease, ""
		case a <= t.Attempt:
			return ReasonStaleLease, ""
		case a == t.Attempt+1 && t.Status == projections.StatusRunning:
			return "", fmt.Sprintf("names attempt %d while attempt %d holds the lease", a, t.Attempt)
		case a == t.Attempt+1:
			return ReasonTaskMovedOn, ""
		default:
			return "", fmt.Sprintf("names attempt %d; the task's latest attempt is %d", a, t.Attempt)
		}
	case *events.TaskHeartbeat:
		return tokenClass(t, p.Attempt)
	case *events.TaskCompleted:
		return tokenClass(t, p.Attempt)
	case *events.TaskFailed:
		return tokenClass(t, p.Attempt)
	case *events.TaskRetryScheduled:
		return tokenClass(t, p.Attempt)
	case *events.TaskLeaseExpired:
		return tokenClass(t, p.Attempt)
	case *events.TaskExpired, *events.TaskCancelled:
		return ReasonTaskMovedOn, ""
	case *events.TaskDeleted:
		return ReasonAlreadyDeleted, ""
	}
	return "", "has no fold"
}

// tokenClass classifies an ignored event that names lease attempt a.
func tokenClass(t *projections.Task, a int) (reason, why string) {
	if a < 1 || a > t.Attempt {
		return "", fmt.Sprintf("names attempt %d, which no lease held (the task's latest attempt is %d)", a, t.Attempt)
	}
	return ReasonStaleLease, ""
}

// checkUnchanged enforces that an ended task or a deleted schedule does not
// change, except by the deletion of a task.
func (v *verifier) checkUnchanged(ev events.Event, pre prior, applied bool) {
	if pre.terminal == nil {
		return
	}
	if _, del := ev.Payload.(*events.TaskDeleted); del && applied && pre.task != nil && pre.status != projections.StatusDeleted {
		return
	}
	if _, retry := ev.Payload.(*events.TaskRetried); retry && applied {
		return // a failed, expired or cancelled task may be retried
	}
	var now recordView
	if pre.task != nil {
		now = taskView(pre.task)
	} else {
		now = scheduleView(v.st.Schedule(ev.TaskID))
	}
	if applied || !now.equal(pre.terminal) {
		what := "task"
		if pre.task == nil {
			what = "deleted schedule"
		} else {
			what = pre.status.String() + " task"
		}
		v.breach(RuleTerminalChanged, ev.Position, ev.TaskID, "%s changed by %s", what, ev.Type())
	}
}

// trackLeases opens a lease at each task.leased and ends it at the events
// that end it, whether the projection applied them or not.
func (v *verifier) trackLeases(ev events.Event) {
	end := func(a int) { delete(v.leases, leaseKey{ev.TaskID, a}) }
	switch p := ev.Payload.(type) {
	case *events.TaskLeased:
		k := leaseKey{ev.TaskID, p.Attempt}
		if _, open := v.leases[k]; !open {
			v.leases[k] = ev.Position
		}
	case *events.TaskCompleted:
		end(p.Attempt)
	case *events.TaskFailed:
		end(p.Attempt)
	case *events.TaskRetryScheduled:
		end(p.Attempt)
	case *events.TaskLeaseExpired:
		end(p.Attempt)
	case *events.TaskDeleted:
		for k := range v.leases {
			if k.task == ev.TaskID {
				delete(v.leases, k)
			}
		}
	}
}

// finish runs the checks that need the whole log.
func (v *verifier) finish() {
	if v.seeking && v.folding {
		v.breach(RulePositions, v.report.First, "", "the log starts at position %d (compacted) but holds no log.checkpoint to replay from", v.report.First)
		v.stop(v.report.First)
	}
	if !v.folding {
		if v.pending {
			v.report.Snapshot.Checked = false
		}
		v.collectWarnings()
		return
	}
	if f := v.follow; f != nil {
		rule := RuleLeaseExpiredFollow
		if f.Type() == events.TypeScheduleFired {
			rule = RuleScheduleFiredFollow
		}
		v.breach(rule, f.Position, f.TaskID, "the log ends after %s without its same-batch follow-up", f.Type())
	}
	var open []Breach
	for k, pos := range v.leases {
		t := v.st.Task(k.task)
		if t != nil && t.Status == projections.StatusRunning && t.Attempt == k.attempt {
			continue // the current lease
		}
		state := "unknown"
		if t != nil {
			state = fmt.Sprintf("%s at attempt %d", t.Status, t.Attempt)
		}
		open = append(open, Breach{Rule: RuleUnendedLease, Position: pos, TaskID: k.task,
			Message: fmt.Sprintf("lease of attempt %d was never ended and is not current (the task is %s)", k.attempt, state)})
	}
	sort.Slice(open, func(i, j int) bool { return open[i].Position < open[j].Position })
	for _, b := range open {
		v.breach(b.Rule, b.Position, b.TaskID, "%s", b.Message)
	}
	v.checkDeterminism()
	v.collectWarnings()
}

func (v *verifier) collectWarnings() {
	for _, w := range v.warns {
		v.report.Warnings = append(v.report.Warnings, *w)
	}
	sort.Slice(v.report.Warnings, func(i, j int) bool { return v.report.Warnings[i].First < v.report.Warnings[j].First })
}

// checkSnapshot compares the stored snapshot with the state now at its position.
func (v *verifier) checkSnapshot() {
	if !v.pending || v.st.Position() != v.snapPos {
		return
	}
	v.pending = false
	c := v.report.Snapshot
	c.Checked = true
	rebuilt, err := v.st.Snapshot()
	if err != nil {
		v.breach(RuleSnapshotMismatch, v.snapPos, "", "the rebuilt state does not encode: %v", err)
		return
	}
	if bytes.Equal(rebuilt, v.snap) {
		c.Equal = true
		return
	}
	task, msg := diffSnapshot(v.st, v.snap)
	v.breach(RuleSnapshotMismatch, v.snapPos, task, "the stored snapshot differs from the state rebuilt from events 1..%d: %s", v.snapPos, msg)
}

// checkDeterminism checks that the final state survives a Restore: its
// snapshot, restored and encoded again, gives the same bytes.
func (v *verifier) checkDeterminism() {
	pos := v.st.Position()
	a, err := v.st.Snapshot()
	if err != nil {
		v.breach(RuleNondeterministic, pos, "", "the rebuilt state does not encode: %v", err)
		return
	}
	restored, err := projections.Restore(a)
	if err != nil {
		v.breach(RuleNondeterministic, pos, "", "the rebuilt state's snapshot does not restore: %v", err)
		return
	}
	b, err := restored.Snapshot()
	if err != nil || !bytes.Equal(a, b) {
		task, msg := diffSnapshot(restored, a)
		v.breach(RuleNondeterministic, pos, task, "snapshot → restore → snapshot changes the bytes: %s", msg)
	}
}
