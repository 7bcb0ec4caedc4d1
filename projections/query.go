package projections

import (
	"slices"
	"sort"
	"strings"

	"github.com/omniq/omniq/events"
)

// Task returns the record of task id, or nil. A task that is not terminal
// has one record, which belongs to the state: callers copy what they need
// while holding the engine's lock. A terminal task restored from a snapshot
// is decoded anew on each call (see coldTasks): callers must not expect two
// calls to return the same pointer, nor one to see later changes. Task
// writes nothing to the state, so concurrent calls are safe when nothing
// applies events meanwhile.
func (s *State) Task(id string) *Task {
	if t := s.hot(id); t != nil {
		return t
	}
	if i := s.cold.lookup(id); i >= 0 {
		if t, err := s.cold.decode(i); err == nil {
			return t
		}
	}
	if rec := s.recent.lookup(id); rec != nil {
		if t, err := s.recent.decode(rec); err == nil {
			return t
		}
	}
	return nil
}

// Schedule returns the record of schedule id, or nil.
func (s *State) Schedule(id string) *Schedule { return s.schedules[id] }

// Promote moves delayed tasks whose ReadyAt is at or before now into their
// ready queues. It changes no logical state (a pending task is due or not by
// its ReadyAt alone), only where the task sits.
func (s *State) Promote(now events.Timestamp) {
	for s.delayed.Len() > 0 && s.delayed.peek().ReadyAt <= now {
		t := s.delayed.pop()
		t.kind.q.ready.push(t)
	}
}

// TakeReady removes and returns the next task to hand out from queue at time
// now — highest priority, then oldest — or nil. Tasks whose TTL passed are
// skipped (left for their task.expired event). The caller either appends a
// task.leased event for it (whose Apply finds it already out of the queue) or
// gives it back with ReturnReady.
// A paused queue has nothing to hand out.
func (s *State) TakeReady(queue string, now events.Timestamp) *Task {
	s.Promote(now)
	if s.QueuePaused(queue) {
		return nil
	}
	h := s.readyHeap(queue)
	for h != nil && h.Len() > 0 {
		t := h.pop()
		if d := t.TTLDeadline(); d != 0 && d <= now {
			continue // INVARIANT: a task past its TTL is never handed out.
		}
		return t
	}
	return nil
}

// ReturnReady puts back a task taken with TakeReady whose lease was not written.
func (s *State) ReturnReady(t *Task) {
	if t.Status == StatusPending {
		s.enqueueReady(t)
	}
}

// HasReady reports whether queue has a task that TakeReady could return at
// now: never while queue is paused.
func (s *State) HasReady(queue string, now events.Timestamp) bool {
	s.Promote(now)
	if s.QueuePaused(queue) {
		return false
	}
	h := s.readyHeap(queue)
	return h != nil && h.Len() > 0
}

// Due lists what the engine must act on at now: running tasks whose lease
// deadline passed, unstarted tasks whose TTL passed, and schedules whose next
// fire is due, each in deadline order and at most limit of each.
func (s *State) Due(now events.Timestamp, limit int) (leases, ttls []*Task, fires []*Schedule) {
	leases = dueItems(&s.leases, limit, func(t *Task) bool { return t.LeaseDeadline <= now })
	ttls = dueItems(&s.ttls, limit, func(t *Task) bool { return t.TTLDeadline() <= now })
	fires = dueItems(&s.fires, limit, func(sc *Schedule) bool { return sc.NextFire <= now })
	return leases, ttls, fires
}

func dueItems[T any](h *indexedHeap[T], limit int, due func(T) bool) []T {
	var out []T
	for h.Len() > 0 && len(out) < limit && due(h.peek()) {
		out = append(out, h.pop())
	}
	for _, x := range out {
		h.push(x)
	}
	return out
}

// NextWake returns the earliest time at which something becomes due: a
// delayed task, a lease deadline, a TTL or a schedule fire (0: nothing).
func (s *State) NextWake() events.Timestamp {
	var next events.Timestamp
	consider := func(ts events.Timestamp) {
		if ts != 0 && (next == 0 || ts < next) {
			next = ts
		}
	}
	if s.delayed.Len() > 0 {
		consider(s.delayed.peek().ReadyAt)
	}
	if s.leases.Len() > 0 {
		consider(s.leases.peek().LeaseDeadline)
	}
	if s.ttls.Len() > 0 {
		consider(s.ttls.peek().TTLDeadline())
	}
	if s.fires.Len() > 0 {
		consider(s.fires.peek().NextFire)
	}
	return next
}

// Dependant is a waiting task that must be cancelled when Via ends badly.
type Dependant struct {
	Task *Task
	Via  string // the task it depends on directly
}

// Dependants returns every waiting task that depends on id, directly or
// through other waiting tasks, in a deterministic order (breadth first).
func (s *State) Dependants(id string) []Dependant {
	var out []Dependant
	seen := map[string]bool{id: true}
	queue := []string{id}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, d := range s.dependants[cur] {
			t := s.hot(d) // INVARIANT: a cold task is terminal: it is not a dependant to cancel.
			if seen[d] || t == nil || t.Status.Terminal() {
				continue
			}
			seen[d] = true
			out = append(out, Dependant{Task: t, Via: cur})
			queue = append(queue, d)
		}
	}
	return out
}

// QueueCounts is how many tasks a queue holds in each status.
type QueueCounts map[Status]int

// Counts returns, per queue, the number of tasks in each status (statuses with
// no task are left out).
func (s *State) Counts() map[string]QueueCounts {
	out := make(map[string]QueueCounts, len(s.queues))
	for q, qs := range s.queues {
		c := &qs.counts
		qc := QueueCounts{}
		for st := Status(1); st < statusEnd; st++ {
			if c[st] != 0 {
				qc[st] = c[st]
			}
		}
		out[q] = qc
	}
	return out
}

// DelayedCounts promotes what is due at now and returns, per queue, how many
// pending tasks still wait for their ReadyAt (run-at or retry backoff).
func (s *State) DelayedCounts(now events.Timestamp) map[string]int {
	s.Promote(now)
	out := map[string]int{}
	for _, t := range s.delayed.items {
		out[t.kind.queue]++
	}
	return out
}

// Tasks calls fn for every task in id order until fn returns false. The
// records of cold tasks are decoded for the call, as by Task.
func (s *State) Tasks(fn func(*Task) bool) {
	hot := slices.AppendSeq(make([]*Task, 0, s.tasks.len()), s.hotTasks)
	slices.SortFunc(hot, func(a, b *Task) int { return strings.Compare(a.ID, b.ID) })
	stop := false
	// walkTerminal merges the hot records (any status) with the cold ones.
	_ = s.walkTerminal(hot, s.recent.sorted(keepAll), keepAll, func(t *Task, rec []byte, kinds []*taskKind) {
		if stop {
			return
		}
		if t == nil {
			var err error
			if t, err = decodeRecord(rec, kinds); err != nil {
				return // reads as absent, as in Task
			}
		}
		stop = !fn(t)
	})
}

// Schedules calls fn for every schedule in id order until fn returns false.
func (s *State) Schedules(fn func(*Schedule) bool) {
	ids := make([]string, 0, len(s.schedules))
	for id := range s.schedules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !fn(s.schedules[id]) {
			return
		}
	}
}

// Len returns the number of tasks the state knows, in any status.
func (s *State) Len() int {
	hot, cold := s.Residency()
	return hot + cold
}

// Residency returns how many tasks the state holds as full records (hot:
// every task that has not ended, and ended ones not yet made compact) and
// how many as compact records (cold: ended tasks, decoded on lookup).
func (s *State) Residency() (hot, cold int) {
	return s.tasks.len(), s.cold.live() + s.recent.live()
}

// OldestEnd returns a time at or before which the oldest ended task the
// state holds ended (0: no task has ended). It may be older than that
// task's end when the task that ended then was deleted since, or dropped
// by a checkpoint; a state restored from a snapshot has the exact time.
func (s *State) OldestEnd() events.Timestamp { return s.oldestEnd }
