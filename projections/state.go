package projections

import (
	"errors"
	"fmt"

	"github.com/omniq/omniq/events"
)

// Errors Apply returns for an event it does not apply. The state is unchanged
// except for its position: the event is in the log and stays there.
var (
	// ErrGap: the event's position is not the next one.
	ErrGap = errors.New("projections: event out of order")
	// ErrStale: the event does not fit the task's current state (a stale
	// fencing token, a task already terminal, an unknown task or schedule).
	// The log decides conflicts (DESIGN.md invariant 3): such events are
	// ignored the same way on every replica.
	ErrStale = errors.New("projections: event does not apply")
)

// State is the fold of the log up to Position.
type State struct {
	position  uint64
	tasks     map[string]*Task
	schedules map[string]*Schedule

	// Derived structures, rebuilt by Restore.
	ready      map[string]*indexedHeap[*Task] // pending and due, per queue
	delayed    indexedHeap[*Task]             // pending with a ReadyAt, not yet promoted
	leases     indexedHeap[*Task]             // running, by lease deadline
	ttls       indexedHeap[*Task]             // not yet started, with a TTL
	fires      indexedHeap[*Schedule]         // active schedules, by next fire
	dependants map[string][]string            // task id -> waiting tasks that depend on it
	counts     map[string]*[statusEnd]int     // queue -> tasks per status
	names      map[string]string              // interned func and queue names
}

// maxInterned bounds the interned names: past it, names are kept as decoded.
const maxInterned = 4096

// intern returns one shared copy of a func or queue name, so that a million
// tasks of a few kinds do not hold a million copies of the same strings.
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
	s := &State{
		tasks:      map[string]*Task{},
		schedules:  map[string]*Schedule{},
		ready:      map[string]*indexedHeap[*Task]{},
		dependants: map[string][]string{},
		counts:     map[string]*[statusEnd]int{},
		names:      map[string]string{},
	}
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
	s.ttls = indexedHeap[*Task]{
		less: func(a, b *Task) bool {
			da, db := a.TTLDeadline(), b.TTLDeadline()
			return da < db || (da == db && a.ID < b.ID)
		},
		idx: func(t *Task) *int32 { return &t.ttlIdx },
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
	if a.Spec.Priority != b.Spec.Priority {
		return a.Spec.Priority > b.Spec.Priority
	}
	return a.ReadySeq < b.ReadySeq
}

func (s *State) readyHeap(queue string) *indexedHeap[*Task] {
	h := s.ready[queue]
	if h == nil {
		h = &indexedHeap[*Task]{less: readyLess, idx: func(t *Task) *int32 { return &t.readyIdx }}
		s.ready[queue] = h
	}
	return h
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
	if cp, ok := ev.Payload.(*events.LogCheckpoint); ok && ev.Position > s.position {
		return s.applyCheckpoint(ev, cp)
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
		s.ttls.remove(t)
		t.Attempt, t.LeaseDeadline, t.Worker = p.Attempt, p.Deadline, p.Worker
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
		t, err := s.taskIn(ev.TaskID, p.Attempt, StatusRunning)
		if err != nil {
			return err
		}
		s.leases.remove(t)
		t.Result, t.LeaseDeadline = p.Result, 0
		s.setStatus(t, StatusCompleted, now)
		s.releaseDependants(t, ev.Position, now)
	case *events.TaskRetryScheduled:
		t, err := s.taskIn(ev.TaskID, p.Attempt, StatusRunning)
		if err != nil {
			return err
		}
		s.leases.remove(t)
		t.Error, t.ReadyAt, t.LeaseDeadline, t.Worker = p.Error, p.RetryAt, 0, ""
		s.makePending(t, ev.Position, now)
	case *events.TaskLeaseExpired:
		t, err := s.taskIn(ev.TaskID, p.Attempt, StatusRunning)
		if err != nil {
			return err
		}
		// The task stays running until the retry or failure that follows in
		// the same batch; it only leaves the lease timer.
		s.leases.remove(t)
		t.UpdatedAt = now
	case *events.TaskFailed:
		t, err := s.taskIn(ev.TaskID, p.Attempt, StatusRunning)
		if err != nil {
			return err
		}
		s.leases.remove(t)
		t.Error, t.LeaseDeadline = p.Error, 0
		s.setStatus(t, StatusFailed, now)
	case *events.TaskExpired:
		// INVARIANT: TTL only applies before the first attempt starts.
		t, err := s.taskIn(ev.TaskID, 0, StatusWaiting, StatusPending)
		if err != nil {
			return err
		}
		s.unqueue(t)
		s.ttls.remove(t)
		s.setStatus(t, StatusExpired, now)
	case *events.TaskCancelled:
		t, err := s.taskIn(ev.TaskID, -1, StatusWaiting, StatusPending)
		if err != nil {
			return err
		}
		s.unqueue(t)
		s.ttls.remove(t)
		t.CancelReason, t.CancelledBy = p.Reason, p.Dependency
		s.setStatus(t, StatusCancelled, now)
	case *events.TaskDeleted:
		t := s.tasks[ev.TaskID]
		if t == nil || t.Status == StatusDeleted {
			return fmt.Errorf("%w: delete of unknown task %s", ErrStale, ev.TaskID)
		}
		s.unqueue(t)
		s.ttls.remove(t)
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
	case *events.ScheduleDeleted:
		sc := s.schedules[ev.TaskID]
		if sc == nil || sc.Deleted {
			return fmt.Errorf("%w: delete of unknown schedule %s", ErrStale, ev.TaskID)
		}
		sc.Deleted, sc.UpdatedAt = true, now
		s.fires.remove(sc)
	default:
		return fmt.Errorf("%w: no fold for %s", ErrStale, ev.Type())
	}
	return nil
}

// applyCheckpoint replaces the state with the checkpoint's.
// INVARIANT: the checkpoint's state is the fold of every event before it
// (minus compacted terminal tasks), so its position is ev.Position-1.
func (s *State) applyCheckpoint(ev events.Event, cp *events.LogCheckpoint) error {
	restored, err := Restore(cp.State)
	if err == nil && restored.Position() != ev.Position-1 {
		err = fmt.Errorf("checkpoint state is at position %d, want %d", restored.Position(), ev.Position-1)
	}
	if err != nil {
		s.position = ev.Position
		return fmt.Errorf("%w: checkpoint at %d: %v", ErrStale, ev.Position, err)
	}
	*s = *restored
	s.position = ev.Position
	return nil
}

func (s *State) applyEnqueued(ev events.Event, p *events.TaskEnqueued, now events.Timestamp) error {
	if s.tasks[ev.TaskID] != nil || s.schedules[ev.TaskID] != nil {
		return fmt.Errorf("%w: task %s already exists", ErrStale, ev.TaskID)
	}
	t := newTask(ev.TaskID)
	t.Spec = p.Spec
	t.Spec.Func, t.Spec.Queue = s.intern(p.Spec.Func), s.intern(p.Spec.Queue)
	t.CreatedAt, t.EnqueuedPos, t.Paused, t.ReadyAt = now, ev.Position, p.Spec.Paused, p.Spec.RunAt
	s.tasks[t.ID] = t
	for _, dep := range p.Spec.DependsOn {
		if d := s.tasks[dep]; d != nil && d.Status == StatusCompleted {
			continue
		}
		t.Unmet++
		s.dependants[dep] = append(s.dependants[dep], t.ID)
	}
	s.countStatus(t.Spec.Queue, t.Status, StatusWaiting)
	t.Status, t.UpdatedAt = StatusWaiting, now
	if t.TTLDeadline() != 0 {
		s.ttls.push(t)
	}
	if t.Unmet == 0 {
		s.makePending(t, ev.Position, now)
	}
	return nil
}

func (s *State) applyScheduleCreated(ev events.Event, p *events.ScheduleCreated, now events.Timestamp) error {
	if s.tasks[ev.TaskID] != nil || s.schedules[ev.TaskID] != nil {
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
	t := s.tasks[id]
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
	t := s.tasks[id]
	if t == nil || t.Status.Terminal() || !t.Paused {
		return fmt.Errorf("%w: task %s is not paused", ErrStale, id)
	}
	t.Paused, t.UpdatedAt = false, now
	if t.Status == StatusWaiting && t.Unmet == 0 {
		s.makePending(t, pos, now)
	}
	return nil
}

// taskIn returns the task if it is in one of the statuses and, when attempt
// >= 0, its current attempt is attempt.
func (s *State) taskIn(id string, attempt int, statuses ...Status) (*Task, error) {
	t := s.tasks[id]
	if t == nil {
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
		s.readyHeap(t.Spec.Queue).push(t)
	}
}

// unqueue takes t out of its ready queue or the delayed heap.
func (s *State) unqueue(t *Task) {
	if h := s.ready[t.Spec.Queue]; h != nil {
		h.remove(t)
	}
	s.delayed.remove(t)
}

func (s *State) releaseDependants(t *Task, pos uint64, now events.Timestamp) {
	for _, id := range s.dependants[t.ID] {
		d := s.tasks[id]
		if d == nil || d.Status != StatusWaiting || d.Unmet == 0 {
			continue
		}
		d.Unmet--
		if d.Unmet == 0 {
			s.makePending(d, pos, now)
		}
	}
	delete(s.dependants, t.ID)
}

func (s *State) setStatus(t *Task, st Status, now events.Timestamp) {
	s.countStatus(t.Spec.Queue, t.Status, st)
	t.Status, t.UpdatedAt = st, now
	if st.Terminal() {
		t.FinishedAt = now
	}
}

func (s *State) countStatus(queue string, from, to Status) {
	c := s.counts[queue]
	if c == nil {
		c = new([statusEnd]int)
		s.counts[queue] = c
	}
	if from != 0 {
		c[from]--
	}
	c[to]++
}
