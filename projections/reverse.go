package projections

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"

	"github.com/omniq/omniq/events"
)

// The reverse index of the dependency graph: for every task the state
// holds, each id its DependsOn names maps to it. It serves graph queries
// only (DependantsOf): releasing and cancelling dependants is the business
// of State.dependants, which holds waiting tasks alone and is emptied as
// tasks end; this index keeps an edge whatever either end's status, hot or
// cold.
//
// INVARIANT: s.reverse[dep] lists, in enqueue order and once each, the
// tasks of the state whose DependsOn names dep. The fold keeps it: an
// enqueue appends (events come in enqueue order), a retry changes nothing
// (its DependsOn is the same), and a task leaves the state only through a
// checkpoint or an archived one, which restores the state from a snapshot
// that no longer holds it. A task without dependencies costs nothing here.
//
// A snapshot keeps the index as Restore cannot rebuild it without decoding
// cold records: the edges of tasks in the hot section come back from their
// records; those of terminal tasks (the cold section) come from an
// optional edges section (see the format in snapshot.go), which names each
// such task and its dependencies. Restore never decodes a cold record for
// it: it reads a record's head for its enqueue position, to merge the two
// in enqueue order. A snapshot written before the section existed restores
// without the edges of its terminal tasks: their dependencies still show
// upstream, but those tasks are missing from the downstream of what they
// depend on until the log is replayed from its start.

// addEdges records the dependencies of t, just enqueued.
func (s *State) addEdges(t *Task) {
	deps := t.DependsOn()
	for i, dep := range deps {
		if slices.Index(deps, dep) < i {
			continue // named twice: one edge
		}
		if s.reverse == nil {
			s.reverse = map[string][]string{}
		}
		s.reverse[dep] = append(s.reverse[dep], t.ID)
	}
}

// DependantsOf returns the tasks that name id in their DependsOn, in
// enqueue order, whatever their status and id's: the downstream of id one
// level deep. The slice is the caller's.
func (s *State) DependantsOf(id string) []string {
	return slices.Clone(s.reverse[id])
}

// Edges yields the reverse index, dependency ids in sorted order, each with
// the tasks that depend on it (as DependantsOf). Two states folded from the
// same events yield the same edges; a test compares them.
func (s *State) Edges() iter.Seq2[string, []string] {
	return func(yield func(string, []string) bool) {
		for _, dep := range slices.Sorted(maps.Keys(s.reverse)) {
			if !yield(dep, slices.Clone(s.reverse[dep])) {
				return
			}
		}
	}
}

// edgeEntry is a terminal task with dependencies, as the edges section of a
// snapshot holds it.
type edgeEntry struct {
	id   string
	pos  uint64   // enqueue position
	deps []string // sorted, unique
}

// terminalEdges returns the terminal tasks that a snapshot keeping the
// tasks that ended at or after before holds, with their dependencies, in
// enqueue order: the edges section's entries.
func (s *State) terminalEdges(before events.Timestamp) ([]edgeEntry, error) {
	if len(s.reverse) == 0 {
		return nil, nil
	}
	byID := map[string]*edgeEntry{}
	var out []*edgeEntry
	for dep, ids := range s.reverse {
		for _, id := range ids {
			e, seen := byID[id]
			if !seen {
				pos, keep, err := s.keptTerminal(id, before)
				if err != nil {
					return nil, err
				}
				if keep {
					e = &edgeEntry{id: id, pos: pos}
					out = append(out, e)
				}
				byID[id] = e
			}
			if e != nil {
				e.deps = append(e.deps, dep)
			}
		}
	}
	slices.SortFunc(out, func(a, b *edgeEntry) int { return cmp.Compare(a.pos, b.pos) })
	entries := make([]edgeEntry, len(out))
	for i, e := range out {
		slices.Sort(e.deps)
		entries[i] = *e
	}
	return entries, nil
}

// keptTerminal reports whether task id is terminal and ended at or after
// before (so that a snapshot keeping those holds it in its cold section),
// and its enqueue position. A cold task's record is read only to its head.
func (s *State) keptTerminal(id string, before events.Timestamp) (uint64, bool, error) {
	if t := s.hot(id); t != nil {
		return t.EnqueuedPos, t.Status.Terminal() && (before == keepAll || t.UpdatedAt >= before), nil
	}
	var rec []byte
	if i := s.cold.lookup(id); i >= 0 {
		rec = s.cold.record(i)
	} else if rec = s.recent.lookup(id); rec == nil {
		return 0, false, nil // not in the state: left by the index's INVARIANT
	}
	updated, pos, err := recordEnqueue(rec)
	if err != nil {
		return 0, false, err
	}
	return pos, before == keepAll || updated >= before, nil
}

// recordEnqueue returns the UpdatedAt and EnqueuedPos of a cold record,
// reading no more of it than it must.
func recordEnqueue(rec []byte) (events.Timestamp, uint64, error) {
	_, _, _, so, err := recordHead(rec)
	if err != nil {
		return 0, 0, err
	}
	r := reader{b: rec, off: so + 2} // status, parts
	for range 5 {                    // attempt, priority, retries, ready at, lease deadline
		r.varint()
	}
	created := events.Timestamp(r.varint())
	updated := created + events.Timestamp(r.varint())
	pos := r.uvarint()
	if r.err == nil && pos == 0 {
		r.err = errors.New("enqueue position 0")
	}
	if r.err != nil {
		return 0, 0, fmt.Errorf("task %s: %w", recordID(rec), r.err)
	}
	return updated, pos, nil
}

// appendEdges appends the edges section of a snapshot (see the format in
// snapshot.go): entries, from terminalEdges, in enqueue order.
func appendEdges(b []byte, entries []edgeEntry) []byte {
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = appendString(b, e.id)
		b = binary.AppendUvarint(b, uint64(len(e.deps)))
		for _, d := range e.deps {
			b = appendString(b, d)
		}
	}
	return b
}

// readEdges reads the edges section into entries, checking that each names
// a cold task of s, in increasing enqueue position, with at least one
// dependency, sorted and unique.
func (r *reader) readEdges(s *State) ([]edgeEntry, error) {
	n := r.count(3)
	if r.err == nil && n == 0 {
		return nil, errors.New("empty edges section")
	}
	entries := make([]edgeEntry, 0, n)
	var prev uint64
	for range n {
		id := r.string()
		nd := r.count(1)
		if r.err != nil {
			return nil, r.err
		}
		i := s.cold.lookup(id)
		if i < 0 || nd == 0 {
			return nil, fmt.Errorf("edges of task %q: not a terminal task with dependencies", id)
		}
		_, pos, err := recordEnqueue(s.cold.record(i))
		if err != nil {
			return nil, err
		}
		if pos <= prev {
			return nil, fmt.Errorf("edges of task %s out of enqueue order", id)
		}
		prev = pos
		e := edgeEntry{id: id, pos: pos, deps: make([]string, nd)}
		for j := range e.deps {
			e.deps[j] = r.string()
			if j > 0 && e.deps[j] <= e.deps[j-1] && r.err == nil {
				return nil, fmt.Errorf("edges of task %s: dependencies not sorted", id)
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// rebuildEdges builds the reverse index of a restored state: the hot
// tasks' dependencies from their records (s.order, in enqueue order) and
// the terminal ones' from the edges section, merged in enqueue order.
func (s *State) rebuildEdges(cold []edgeEntry) {
	add := func(id string, deps []string) {
		for i, dep := range deps {
			if slices.Index(deps, dep) < i {
				continue
			}
			if s.reverse == nil {
				s.reverse = map[string][]string{}
			}
			// Keys from the snapshot's bytes share the first copy.
			s.reverse[dep] = append(s.reverse[dep], id)
		}
	}
	for _, t := range s.order {
		if len(t.DependsOn()) == 0 {
			continue
		}
		for len(cold) > 0 && cold[0].pos < t.EnqueuedPos {
			add(cold[0].id, cold[0].deps)
			cold = cold[1:]
		}
		add(t.ID, t.DependsOn())
	}
	for _, e := range cold {
		add(e.id, e.deps)
	}
}
