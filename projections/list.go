package projections

import (
	"slices"
	"strings"
)

// TasksAfter calls fn for every task whose id sorts after after, in id
// order, until fn returns false: Tasks from a cursor, for paging through
// the state. The tasks before the cursor cost little: hot ones are not
// sorted, and the records of cold ones are not decoded.
func (s *State) TasksAfter(after string, fn func(*Task) bool) {
	hot := make([]*Task, 0, len(s.tasks))
	for id, t := range s.tasks {
		if id > after {
			hot = append(hot, t)
		}
	}
	slices.SortFunc(hot, func(a, b *Task) int { return strings.Compare(a.ID, b.ID) })
	recent := s.recent.sorted(keepAll)
	if i, _ := slices.BinarySearchFunc(recent, after, func(ref uint64, id string) int {
		return strings.Compare(string(recordID(s.recent.record(ref))), id)
	}); i < len(recent) {
		recent = recent[i:]
	} else {
		recent = nil
	}
	stop := false
	_ = s.walkTerminal(hot, recent, keepAll, func(t *Task, rec []byte, kinds []*taskKind) {
		if stop {
			return
		}
		if t == nil {
			if string(recordID(rec)) <= after {
				return
			}
			var err error
			if t, err = decodeRecord(rec, kinds); err != nil {
				return // reads as absent, as in Task
			}
		}
		stop = !fn(t)
	})
}
