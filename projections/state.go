package projections

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/omniq/omniq/events"
)

// Errors Apply returns for an event it does not apply. The state is unchanged
// except for its position: the event is in the log and stays there.
var (
	// ErrGap: the event's position is not the next one.
	ErrGap = errors.New("projections: event out of order")
	// ErrStale: the event does not fit the task's current state (a stale
	// fencing token, a task already terminal, an unknown task or schedule).
	// The log decides conflicts (docs/design.md, invariant 3): such events
	// are ignored the same way on every replica.
	ErrStale = errors.New("projections: event does not apply")
)

// State is the fold of the log up to Position.
type State struct {
	position uint64
	// A task is either hot, a record in tasks and order, or cold, a live
	// record of cold or of recent (never two of these). tasks indexes
	// order's records by id (hottable.go).
	tasks hotTable
	// order holds every hot task. INVARIANT: unless unsorted is set, its
	// tasks that are not terminal are in enqueue (EnqueuedPos) order; a
	// thawed task, terminal, is appended out of it. A retried task (thawed,
	// or ended and thawed before) is not terminal any more: the retry sets
	// unsorted, and the snapshot sorts its hot section (see hotInOrder).
	order    []*Task
	unsorted bool
	frozen   int // tasks of order that went cold (flagFrozen), not yet swept out
	// ended holds hot tasks that ended, oldest first; past keepEnded of
	// them, the oldest go cold (see freeze).
	ended     []*Task
	keepEnded int
	// oldestEnd is at or before the end of every ended task the state
	// holds (0: none ended); retention reads it to know whether a
	// compaction would drop anything.
	oldestEnd events.Timestamp
	// parts holds the log.checkpoint_part events of the checkpoint being
	// folded (see applyCheckpointPart); partsFrom is the first one's position.
	parts     [][]byte
	partsFrom uint64
	cold      *coldTasks  // terminal tasks restored from a snapshot; nil: none
	recent    *recentCold // terminal tasks that went cold since
	schedules map[string]*Schedule
	// paused holds the queues a queue.paused event paused and no
	// queue.resumed resumed since. TakeReady and HasReady see nothing
	// ready in them; every other timer and fold goes on as usual.
	paused map[string]struct{}

	// Derived structures, rebuilt by Restore.
	queues     map[string]*queueState // per queue: ready heap and counts
	delayed    indexedHeap[*Task]     // pending with a ReadyAt, not yet promoted
	leases     indexedHeap[*Task]     // running, by lease deadline
	ttls       indexedHeap[*Task]     // not yet started, with a TTL
	fires      indexedHeap[*Schedule] // active schedules, by next fire
	dependants map[string][]string    // task id -> waiting tasks that depend on it
	reverse    map[string][]string    // task id -> every task that depends on it (reverse.go)
	kinds      map[kindKey]*taskKind  // interned func and queue pairs
	names      map[string]string      // interned worker names
	hotIDs     *idList[*Task]         // hot tasks not ended, in id order (idindex.go)
	endedIDs   *idList[*Task]         // hot tasks ended, in id order
	recentIDs  *idList[uint64]        // recent's live records, in id order
}

type kindKey struct{ fn, queue string }

// maxInterned bounds the interned kinds and names: past it, each task keeps
// its own copy.
const maxInterned = 4096

// kindOf returns the shared kind of (fn, queue), so that a million tasks of a
// few kinds do not hold a million copies of the same strings.
func (s *State) kindOf(fn, queue string) *taskKind {
	k := kindKey{fn, queue}
	if kd, ok := s.kinds[k]; ok {
		return kd
	}
	kd := &taskKind{fn: fn, queue: queue, q: s.queue(queue)}
	if len(s.kinds) < maxInterned {
		s.kinds[k] = kd
	}
	return kd
}

// queue returns the state of queue q, creating it on first use.
func (s *State) queue(q string) *queueState {
	qs := s.queues[q]
	if qs == nil {
		qs = &queueState{ready: indexedHeap[*Task]{less: readyLess, idx: func(t *Task) *int32 { return &t.readyIdx }}}
		s.queues[q] = qs
	}
	return qs
}

// intern returns one shared copy of a worker name.
func (s *State) intern(name string) string {
	if v, ok := s.names[name]; ok {
		return v
	}
	if len(s.names) < maxInterned {
		s.names[name] = name
	}
	return name
}

// New returns the empty state (position 0).
func New() *State {
	return newSized(0)
}

// newSized returns the empty state with room for n tasks.
func newSized(n int) *State {
	s := &State{
		order:      make([]*Task, 0, n),
		schedules:  map[string]*Schedule{},
		paused:     map[string]struct{}{},
		queues:     map[string]*queueState{},
		dependants: map[string][]string{},
		kinds:      map[kindKey]*taskKind{},
		names:      map[string]string{},
		recent:     newRecentCold(),
		keepEnded:  defaultKeepEnded,
	}
	s.tasks.reserve(n)
	s.hotIDs, s.endedIDs, s.recentIDs = newHotIDs(), newHotIDs(), newRecentIDs(s.recent)
	s.delayed = indexedHeap[*Task]{
		less: func(a, b *Task) bool {
			return a.ReadyAt < b.ReadyAt || (a.ReadyAt == b.ReadyAt && a.ReadySeq < b.ReadySeq)
		},
		idx: func(t *Task) *int32 { return &t.delayIdx },
	}
	s.leases = indexedHeap[*Task]{
		less: func(a, b *Task) bool {
			return a.LeaseDeadline < b.LeaseDeadline || (a.LeaseDeadline == b.LeaseDeadline && a.ID < b.ID)
		},
		idx: func(t *Task) *int32 { return &t.leaseIdx },
	}
	// INVARIANT: only tasks with a TTL enter ttls, and they have a spec
	// record (see removeTTL).
	s.ttls = indexedHeap[*Task]{
		less: func(a, b *Task) bool {
			da, db := a.TTLDeadline(), b.TTLDeadline()
			return da < db || (da == db && a.ID < b.ID)
		},
		idx: func(t *Task) *int32 { return &t.spec.ttlIdx },
	}
	s.fires = indexedHeap[*Schedule]{
		less: func(a, b *Schedule) bool {
			return a.NextFire < b.NextFire || (a.NextFire == b.NextFire && a.ID < b.ID)
		},
		idx: func(sc *Schedule) *int32 { return &sc.fireIdx },
	}
	return s
}

// readyLess orders a queue: higher priority first, then first-in first-out.
func readyLess(a, b *Task) bool {
	if a.priority != b.priority || (a.flags|b.flags)&flagWidePriority != 0 {
		if pa, pb := a.Priority(), b.Priority(); pa != pb {
			return pa > pb
		}
	}
	return a.ReadySeq < b.ReadySeq
}

func (s *State) readyHeap(queue string) *indexedHeap[*Task] {
	if qs := s.queues[queue]; qs != nil {
		return &qs.ready
	}
	return nil
}

// Position returns the position of the last applied event.
func (s *State) Position() uint64 { return s.position }

// Apply folds one event into the state. Events must come in log order:
// ev.Position must be Position()+1 (ErrGap otherwise, and nothing changes),
// except for a log.checkpoint, which replaces the whole state and so may
// follow a gap (the events before it may have been removed by compaction).
// An event that does not fit the current state advances the position and
// returns an error wrapping ErrStale.
func (s *State) Apply(ev events.Event) error {
	err := s.apply(ev)
	if len(s.ended) > s.keepEnded {
		s.freezeEnded()
	}
	return err
}

func (s *State) apply(ev events.Event) error {
	if cp, ok := ev.Payload.(*events.LogCheckpoint); ok && ev.Position > s.position {
		return s.applyCheckpoint(ev, cp)
	}
	if p, ok := ev.Payload.(*events.LogCheckpointPart); ok && ev.Position > s.position {
		if p.Data == nil && ev.Position == s.position+1 {
			s.position = ev.Position // archived: see LogCheckpoint.Elided
			return nil
		}
		return s.applyCheckpointPart(ev, p)
	}
	if len(s.parts) > 0 {
		// INVARIANT: nothing comes between a checkpoint's parts and the
		// checkpoint in a log (one batch, or consecutive runs: see the
		// engine's appendRuns). Parts that another event follows belong to
		// a checkpoint that failed part-way: they change nothing.
		s.parts, s.partsFrom = nil, 0
	}
	if ev.Position != s.position+1 {
		return fmt.Errorf("%w: got position %d after %d", ErrGap, ev.Position, s.position)
	}
	s.position = ev.Position
	now := events.At(ev.Time)
	switch p := ev.Payload.(type) {
	case *events.TaskEnqueued:
		return s.applyEnqueued(ev, p, now)
	case *events.TaskLeased:
		t, err := s.taskIn(ev.TaskID, p.Attempt-1, StatusPending)
		if err != nil {
			return err
		}
		s.unqueue(t)
		s.removeTTL(t)
		t.Attempt, t.LeaseDeadline = p.Attempt, p.Deadline
		if p.Worker != "" || t.out != nil {
			t.setOutcome().worker = s.intern(p.Worker)
		}
		s.setStatus(t, StatusRunning, now)
		s.leases.push(t)
	case *events.TaskHeartbeat:
		t, err := s.taskIn(ev.TaskID, p.Attempt, StatusRunning)
		if err != nil {
			return err
		}
		t.LeaseDeadline, t.UpdatedAt = p.Deadline, now
		s.leases.fix(t)
	case *events.TaskCompleted:
		t, err := s.endAttempt(ev.TaskID, p.Attempt)
		if err != nil {
			return err
		}
		if p.Result != nil || t.out != nil {
			t.setOutcome().result = p.Result
		}
		t.LeaseDeadline = 0
		s.setStatus(t, StatusCompleted, now)
		s.releaseDependants(t, ev.Position, now)
	case *events.TaskRetryScheduled:
		t, err := s.endAttempt(ev.TaskID, p.Attempt)
		if err != nil {
			return err
		}
		if p.Error != "" || t.out != nil {
			o := t.setOutcome()
			o.err, o.worker = p.Error, ""
		}
		t.ReadyAt, t.LeaseDeadline = p.RetryAt, 0
		s.makePending(t, ev.Position, now)
	case *events.TaskLeaseExpired:
		// The task stays running until the retry or failure that follows in
		// the same batch; it only leaves the lease timer.
		t, err := s.endAttempt(ev.TaskID, p.Attempt)
		if err != nil {
			return err
		}
		t.UpdatedAt = now
	case *events.TaskFailed:
		t, err := s.endAttempt(ev.TaskID, p.Attempt)
		if err != nil {
			return err
		}
		if p.Error != "" || t.out != nil {
			t.setOutcome().err = p.Error
		}
		t.LeaseDeadline = 0
		s.setStatus(t, StatusFailed, now)
	case *events.TaskExpired:
		// INVARIANT: TTL only applies before the first attempt starts.
		t, err := s.taskIn(ev.TaskID, 0, StatusWaiting, StatusPending)
		if err != nil {
			return err
		}
		s.unqueue(t)
		s.removeTTL(t)
		s.setStatus(t, StatusExpired, now)
	case *events.TaskCancelled:
		t, err := s.taskIn(ev.TaskID, -1, StatusWaiting, StatusPending)
		if err != nil {
			return err
		}
		s.unqueue(t)
		s.removeTTL(t)
		if p.Reason != "" || p.Dependency != "" || t.out != nil {
			o := t.setOutcome()
			o.cancelReason, o.cancelledBy = p.Reason, p.Dependency
		}
		s.setStatus(t, StatusCancelled, now)
	case *events.TaskDeleted:
		t := s.hot(ev.TaskID)
		if t == nil && s.statusOf(ev.TaskID) != StatusDeleted {
			t = s.thaw(ev.TaskID)
		}
		if t == nil || t.Status == StatusDeleted {
			return fmt.Errorf("%w: delete of unknown task %s", ErrStale, ev.TaskID)
		}
		s.unqueue(t)
		s.removeTTL(t)
		s.leases.remove(t)
		t.LeaseDeadline = 0
		s.setStatus(t, StatusDeleted, now)
	case *events.ScheduleCreated:
		return s.applyScheduleCreated(ev, p, now)
	case *events.ScheduleFired:
		sc, err := s.activeSchedule(ev.TaskID)
		if err != nil {
			return err
		}
		sc.NextFire, sc.LastInstance, sc.UpdatedAt = p.NextFire, p.Instance, now
		sc.Fires++
		s.fires.fix(sc)
	case *events.SchedulePaused:
		return s.applyPause(ev.TaskID, now)
	case *events.ScheduleResumed:
		return s.applyResume(ev.TaskID, p, ev.Position, now)
	case *events.TaskRetried:
		return s.applyRetried(ev, p, now)
	case *events.QueuePaused:
		if _, ok := s.paused[p.Queue]; ok {
			return fmt.Errorf("%w: queue %q is already paused", ErrStale, p.Queue)
		}
		s.paused[p.Queue] = struct{}{}
	case *events.QueueResumed:
		if _, ok := s.paused[p.Queue]; !ok {
			return fmt.Errorf("%w: queue %q is not paused", ErrStale, p.Queue)
		}
		delete(s.paused, p.Queue)
	case *events.ScheduleDeleted:
		sc := s.schedules[ev.TaskID]
		if sc == nil || sc.Deleted {
			return fmt.Errorf("%w: delete of unknown schedule %s", ErrStale, ev.TaskID)
		}
		sc.Deleted, sc.UpdatedAt = true, now
		s.fires.remove(sc)
	case *events.LogCompacting:
		// A notice to the other engines on a shared log (they hold their
		// appends back while its checkpoint goes in): the state is the same.
	default:
		return fmt.Errorf("%w: no fold for %s", ErrStale, ev.Type())
	}
	return nil
}

// applyCheckpoint replaces the state with the checkpoint's, made of its
// parts' bytes (when it has parts) and its own.
// INVARIANT: the checkpoint's state is the fold of every event before it, or
// before its first part (minus compacted terminal tasks), so its position is
// that event's.
func (s *State) applyCheckpoint(ev events.Event, cp *events.LogCheckpoint) error {
	if cp.Elided {
		return s.applyElided(ev, cp)
	}
	data, at, err := s.checkpointState(ev, cp)
	s.parts, s.partsFrom = nil, 0
	return s.replaceWith(ev, "checkpoint", data, at, err)
}

// replaceWith replaces the state with the one data encodes, which must be
// at position at, as of ev; err, when set, is why there is none, and the
// event is then ignored.
func (s *State) replaceWith(ev events.Event, what string, data []byte, at uint64, err error) error {
	var restored *State
	if err == nil {
		restored, err = Restore(data)
	}
	if err == nil && restored.Position() != at {
		err = fmt.Errorf("%s state is at position %d, want %d", what, restored.Position(), at)
	}
	if err != nil {
		s.position = ev.Position
		return fmt.Errorf("%w: %s at %d: %v", ErrStale, what, ev.Position, err)
	}
	restored.keepEnded = s.keepEnded
	*s = *restored
	s.position = ev.Position
	return nil
}

// applyElided folds an archived checkpoint, whose state was left out: it
// is the compaction of this state, which holds every event before it.
func (s *State) applyElided(ev events.Event, cp *events.LogCheckpoint) error {
	if ev.Position != s.position+1 {
		return fmt.Errorf("%w: got position %d after %d", ErrGap, ev.Position, s.position)
	}
	data, _, err := s.CompactedSnapshot(cp.Before)
	return s.replaceWith(ev, "archived checkpoint", data, s.position, err)
}

// checkpointState returns the whole state a checkpoint carries and the
// position that state is at.
func (s *State) checkpointState(ev events.Event, cp *events.LogCheckpoint) ([]byte, uint64, error) {
	if cp.Parts == 0 {
		return cp.State, ev.Position - 1, nil
	}
	if len(s.parts) != cp.Parts || s.partsFrom+uint64(cp.Parts) != ev.Position {
		return nil, 0, fmt.Errorf("%d parts before it, want %d", len(s.parts), cp.Parts)
	}
	if whole, ok := adjacent(append(s.parts[:len(s.parts):len(s.parts)], cp.State)); ok {
		return whole, s.partsFrom - 1, nil
	}
	n := len(cp.State)
	for _, p := range s.parts {
		n += len(p)
	}
	data := make([]byte, 0, n)
	for _, p := range s.parts {
		data = append(data, p...)
	}
	return append(data, cp.State...), s.partsFrom - 1, nil
}

// adjacent returns the pieces as one slice when each starts where the one
// before it ends in the same array (the engine applying the checkpoint it
// just wrote: its parts are slices of the state it encoded), so that a
// state of hundreds of megabytes is not copied once more.
func adjacent(pieces [][]byte) ([]byte, bool) {
	whole := pieces[0]
	for _, p := range pieces[1:] {
		n := len(whole)
		if len(p) == 0 || cap(whole) < n+len(p) || &whole[:n+1][n] != &p[0] {
			return nil, false
		}
		whole = whole[:n+len(p)]
	}
	return whole, true
}

// CheckpointState returns the whole state of cp, the event at ev, when ev
// is the next event to fold: its parts' bytes, which the state has
// collected, then its own. An audit compares it with the fold's compaction.
func (s *State) CheckpointState(ev events.Event, cp *events.LogCheckpoint) ([]byte, error) {
	if ev.Position != s.position+1 && cp.Parts > 0 {
		return nil, fmt.Errorf("checkpoint at %d: not the next event", ev.Position)
	}
	data, _, err := s.checkpointState(ev, cp)
	return data, err
}

// applyCheckpointPart keeps a part of the checkpoint that follows. The first
// part (index 0) may follow a gap, as a checkpoint may; a later part must
// follow the part before it. The state is otherwise unchanged.
func (s *State) applyCheckpointPart(ev events.Event, p *events.LogCheckpointPart) error {
	switch {
	case p.Index == 0:
		s.parts, s.partsFrom = [][]byte{p.Data}, ev.Position
	case ev.Position == s.position+1 && len(s.parts) == p.Index:
		s.parts = append(s.parts, p.Data)
	default:
		// A part whose first ones were removed (a log compacted in whole
		// segments may start in the middle of an older checkpoint).
		s.parts, s.partsFrom = nil, 0
		s.position = ev.Position
		return fmt.Errorf("%w: checkpoint part %d at %d without the parts before it", ErrStale, p.Index, ev.Position)
	}
	s.position = ev.Position
	return nil
}

// StartsCheckpoint reports whether ev begins a checkpoint: a log.checkpoint
// without parts, or the first log.checkpoint_part. A fold of a compacted log
// starts at the first event that does.
func StartsCheckpoint(ev events.Event) bool {
	switch p := ev.Payload.(type) {
	case *events.LogCheckpoint:
		return p.Parts == 0
	case *events.LogCheckpointPart:
		return p.Index == 0
	}
	return false
}

func (s *State) applyEnqueued(ev events.Event, p *events.TaskEnqueued, now events.Timestamp) error {
	if s.hasTask(ev.TaskID) || s.schedules[ev.TaskID] != nil {
		return fmt.Errorf("%w: task %s already exists", ErrStale, ev.TaskID)
	}
	t := &Task{}
	t.init(ev.TaskID)
	t.setSpec(&p.Spec)
	t.kind = s.kindOf(p.Spec.Func, p.Spec.Queue)
	t.CreatedAt, t.EnqueuedPos, t.Paused, t.ReadyAt = now, ev.Position, p.Spec.Paused, p.Spec.RunAt
	s.addHot(t)
	s.hotIDs.insert(t, t.ID)
	s.addEdges(t)
	for _, dep := range p.Spec.DependsOn {
		if s.statusOf(dep) == StatusCompleted {
			continue
		}
		t.spec.unmet++ // INVARIANT: a task with dependencies has a spec record.
		s.dependants[dep] = append(s.dependants[dep], t.ID)
	}
	t.kind.q.counts[StatusWaiting]++
	t.Status, t.UpdatedAt = StatusWaiting, now
	if t.TTLDeadline() != 0 {
		s.ttls.push(t)
	}
	if t.Unmet() == 0 {
		s.makePending(t, ev.Position, now)
	}
	return nil
}

func (s *State) applyScheduleCreated(ev events.Event, p *events.ScheduleCreated, now events.Timestamp) error {
	if s.hasTask(ev.TaskID) || s.schedules[ev.TaskID] != nil {
		return fmt.Errorf("%w: schedule %s already exists", ErrStale, ev.TaskID)
	}
	sc := &Schedule{
		ID: ev.TaskID, Template: p.Template, Cron: p.Cron, Interval: int64(p.Interval),
		NextFire: p.NextFire, Paused: p.Paused, CreatedAt: now, UpdatedAt: now, fireIdx: -1,
	}
	s.schedules[sc.ID] = sc
	if !sc.Paused {
		s.fires.push(sc)
	}
	return nil
}

func (s *State) applyPause(id string, now events.Timestamp) error {
	if sc := s.schedules[id]; sc != nil {
		if sc.Deleted || sc.Paused {
			return fmt.Errorf("%w: schedule %s is not active", ErrStale, id)
		}
		sc.Paused, sc.UpdatedAt = true, now
		s.fires.remove(sc)
		return nil
	}
	t := s.hot(id)
	if t == nil || t.Status.Terminal() || t.Paused {
		return fmt.Errorf("%w: task %s cannot be paused", ErrStale, id)
	}
	t.Paused, t.UpdatedAt = true, now
	if t.Status == StatusPending {
		s.unqueue(t)
		s.setStatus(t, StatusWaiting, now)
	}
	return nil
}

func (s *State) applyResume(id string, p *events.ScheduleResumed, pos uint64, now events.Timestamp) error {
	if sc := s.schedules[id]; sc != nil {
		if sc.Deleted || !sc.Paused {
			return fmt.Errorf("%w: schedule %s is not paused", ErrStale, id)
		}
		sc.Paused, sc.NextFire, sc.UpdatedAt = false, p.NextFire, now
		s.fires.push(sc)
		return nil
	}
	t := s.hot(id)
	if t == nil || t.Status.Terminal() || !t.Paused {
		return fmt.Errorf("%w: task %s is not paused", ErrStale, id)
	}
	t.Paused, t.UpdatedAt = false, now
	if t.Status == StatusWaiting && t.Unmet() == 0 {
		s.makePending(t, pos, now)
	}
	return nil
}

// Retryable reports whether a task in status st may be retried
// (task.retried): it ended failed, expired or cancelled.
func Retryable(st Status) bool {
	return st == StatusFailed || st == StatusExpired || st == StatusCancelled
}

// applyRetried makes a failed, expired or cancelled task pending again (or
// waiting, for its unmet dependencies or its own pause), as a hot record
// with every field it had. Its retries count afresh from the retry
// (RetryBase), its TTL no longer applies, its attempt counter goes on; the
// error of its last attempt stays, its worker and cancel cause go. The
// tasks its end cancelled stay cancelled.
func (s *State) applyRetried(ev events.Event, p *events.TaskRetried, now events.Timestamp) error {
	t := s.hot(ev.TaskID)
	if t == nil && Retryable(s.statusOf(ev.TaskID)) {
		t = s.thaw(ev.TaskID)
	}
	if t == nil {
		if st := s.statusOf(ev.TaskID); st != 0 {
			return fmt.Errorf("%w: retry of task %s, which is %s", ErrStale, ev.TaskID, st)
		}
		return fmt.Errorf("%w: retry of unknown task %s", ErrStale, ev.TaskID)
	}
	if !Retryable(t.Status) {
		return fmt.Errorf("%w: retry of task %s, which is %s", ErrStale, ev.TaskID, t.Status)
	}
	if t.Attempt != p.Attempt {
		return fmt.Errorf("%w: task %s is at attempt %d, retry names %d", ErrStale, ev.TaskID, t.Attempt, p.Attempt)
	}
	if t.spec == nil {
		t.spec = &taskSpecExtra{ttlIdx: -1}
	}
	x := t.spec
	x.retried, x.retryBase = true, t.Attempt
	if o := t.out; o != nil {
		o.worker, o.cancelReason, o.cancelledBy = "", "", ""
	}
	t.ReadyAt, t.LeaseDeadline = 0, 0
	// Dependencies are counted again: those that completed are met; any
	// other is waited for (the engine refuses a retry while one ended
	// otherwise).
	x.unmet = 0
	for i, dep := range x.dependsOn {
		if s.statusOf(dep) == StatusCompleted || slices.Index(x.dependsOn, dep) < i {
			continue
		}
		// A dependency named n times counts n times, as at enqueue.
		n := 0
		for _, d := range x.dependsOn {
			if d == dep {
				n++
			}
		}
		x.unmet += int32(n)
		s.addDependant(dep, t, n)
	}
	s.unsorted = true
	s.setStatus(t, StatusWaiting, now)
	if t.Unmet() == 0 {
		s.makePending(t, ev.Position, now)
	}
	return nil
}

// addDependant records that t waits on dep n times (once per time its
// spec names dep), counting the entries an earlier life of t left.
// INVARIANT: a list of dependants is in enqueue order, as a restore
// rebuilds it (its cold entries, which no query returns, aside): the
// engine cancels them, and releaseDependants makes them ready, in that
// order.
func (s *State) addDependant(dep string, t *Task, n int) {
	list := s.dependants[dep]
	for _, id := range list {
		if id == t.ID {
			n--
		}
	}
	if n <= 0 {
		return
	}
	i := slices.IndexFunc(list, func(id string) bool {
		d := s.hot(id)
		return d != nil && d.EnqueuedPos > t.EnqueuedPos
	})
	if i < 0 {
		i = len(list)
	}
	for range n {
		list = slices.Insert(list, i, t.ID)
	}
	s.dependants[dep] = list
}

// QueuePaused reports whether queue q is paused (queue.paused).
func (s *State) QueuePaused(q string) bool {
	_, ok := s.paused[q]
	return ok
}

// PausedQueues returns the paused queues, sorted.
func (s *State) PausedQueues() []string {
	if len(s.paused) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(s.paused))
}

// taskIn returns the task if it is in one of the statuses and, when attempt
// >= 0, its current attempt is attempt. REQUIRES: the statuses are not
// terminal, so that a cold task never matches.
func (s *State) taskIn(id string, attempt int, statuses ...Status) (*Task, error) {
	t := s.hot(id)
	if t == nil {
		if st := s.statusOf(id); st != 0 {
			return nil, fmt.Errorf("%w: task %s is %s", ErrStale, id, st)
		}
		return nil, fmt.Errorf("%w: unknown task %s", ErrStale, id)
	}
	for _, st := range statuses {
		if t.Status == st {
			if attempt >= 0 && t.Attempt != attempt {
				return nil, fmt.Errorf("%w: task %s is at attempt %d, event names %d", ErrStale, id, t.Attempt, attempt)
			}
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: task %s is %s", ErrStale, id, t.Status)
}

// endAttempt is the start of every event that ends a running attempt: it
// returns the task id, running at attempt, taken off the lease timer.
// Errors: those of taskIn.
func (s *State) endAttempt(id string, attempt int) (*Task, error) {
	t, err := s.taskIn(id, attempt, StatusRunning)
	if err != nil {
		return nil, err
	}
	s.leases.remove(t)
	return t, nil
}

func (s *State) activeSchedule(id string) (*Schedule, error) {
	sc := s.schedules[id]
	if sc == nil || sc.Deleted || sc.Paused {
		return nil, fmt.Errorf("%w: schedule %s is not active", ErrStale, id)
	}
	return sc, nil
}

// makePending moves t to pending (or waiting, when paused) and queues it.
func (s *State) makePending(t *Task, seq uint64, now events.Timestamp) {
	if t.Paused {
		s.setStatus(t, StatusWaiting, now)
		return
	}
	t.ReadySeq = seq
	s.setStatus(t, StatusPending, now)
	s.enqueueReady(t)
}

func (s *State) enqueueReady(t *Task) {
	if t.ReadyAt != 0 {
		s.delayed.push(t)
	} else {
		t.kind.q.ready.push(t)
	}
}

// unqueue takes t out of its ready queue or the delayed heap.
func (s *State) unqueue(t *Task) {
	t.kind.q.ready.remove(t)
	s.delayed.remove(t)
}

// removeTTL takes t out of the TTL timer.
func (s *State) removeTTL(t *Task) {
	if t.spec != nil {
		s.ttls.remove(t)
	}
}

func (s *State) releaseDependants(t *Task, pos uint64, now events.Timestamp) {
	if len(s.dependants) == 0 {
		return
	}
	for _, id := range s.dependants[t.ID] {
		d := s.hot(id)
		if d == nil || d.Status != StatusWaiting || d.Unmet() == 0 {
			continue
		}
		d.spec.unmet--
		if d.spec.unmet == 0 {
			s.makePending(d, pos, now)
		}
	}
	delete(s.dependants, t.ID)
}

func (s *State) setStatus(t *Task, st Status, now events.Timestamp) {
	c := &t.kind.q.counts
	c[t.Status]--
	c[st]++
	if st.Terminal() != t.Status.Terminal() {
		s.moveIDs(t, st.Terminal())
	}
	if st.Terminal() && !t.Status.Terminal() || st == StatusDeleted {
		s.ended = append(s.ended, t)
		if s.oldestEnd == 0 || now < s.oldestEnd {
			s.oldestEnd = now
		}
	}
	t.Status, t.UpdatedAt = st, now
}

// hasTask reports whether task id is known, hot or cold.
func (s *State) hasTask(id string) bool {
	return s.hot(id) != nil || s.cold.lookup(id) >= 0 || s.recent.find(id) >= 0
}

// statusOf returns the status of task id, hot or cold (0: unknown), without
// decoding a cold record.
func (s *State) statusOf(id string) Status {
	if t := s.hot(id); t != nil {
		return t.Status
	}
	if i := s.cold.lookup(id); i >= 0 {
		return s.cold.status(i)
	}
	if rec := s.recent.lookup(id); rec != nil {
		_, _, _, so, _ := recordHead(rec)
		return Status(rec[so])
	}
	return 0
}

// thaw makes cold task id hot, for an event that changes it, and returns it;
// nil when id is not cold or its record does not decode. Its counts do not
// move: they were counted where it stands.
func (s *State) thaw(id string) *Task {
	var t *Task
	var err error
	if i := s.cold.lookup(id); i >= 0 {
		if t, err = s.cold.decode(i); err != nil {
			return nil
		}
		s.cold.setThawed(i)
	} else if j := s.recent.find(id); j >= 0 {
		if t, err = s.recent.decode(s.recent.record(slotRef(s.recent.slots[j]))); err != nil {
			return nil
		}
		s.recentIDs.remove(slotRef(s.recent.slots[j]), id)
		s.recent.remove(j)
	} else {
		return nil
	}
	if t.out != nil {
		t.out.worker = s.intern(t.out.worker)
	}
	s.addHot(t)
	s.endedIDs.insert(t, id)
	return t
}
