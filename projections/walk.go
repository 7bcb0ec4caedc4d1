package projections

// Walks over the derived heaps, for read-only views (the dashboard's
// schedules and leases). They visit the heap's items in no particular
// order, change nothing (no promotion of due tasks), and are safe under
// the engine's read lock. fn must not keep the records past the lock.

// DelayedTasks calls fn for every pending task held back by a ReadyAt (a
// run-at time or a retry backoff) that has not been moved into its ready
// queue yet, until fn returns false. A task whose ReadyAt has passed but
// that no Promote moved yet is among them.
func (s *State) DelayedTasks(fn func(*Task) bool) {
	for _, t := range s.delayed.items {
		if !fn(t) {
			return
		}
	}
}

// DelayedLen returns how many tasks DelayedTasks visits.
func (s *State) DelayedLen() int { return s.delayed.Len() }

// LeasedTasks calls fn for every running task (each holds a lease) until
// fn returns false.
func (s *State) LeasedTasks(fn func(*Task) bool) {
	for _, t := range s.leases.items {
		if !fn(t) {
			return
		}
	}
}

// LeasedLen returns how many tasks hold a lease.
func (s *State) LeasedLen() int { return s.leases.Len() }
