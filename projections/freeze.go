package projections

// keepEnded is how many ended tasks stay hot before the oldest go cold: the
// engine reads the tasks a batch ended right after applying it (to answer
// its commands), and a batch holds at most a few thousand commands, so
// those reads find a hot record instead of decoding a cold one.
const defaultKeepEnded = 8192

// freezeEnded makes all but the newest keepEnded/2 ended tasks cold.
// Which tasks are hot or cold changes no answer and no snapshot byte
// (see the snapshot format): it only bounds the memory an ended task costs.
func (s *State) freezeEnded() {
	n := len(s.ended) - s.keepEnded/2
	for _, t := range s.ended[:n] {
		s.freeze(t)
	}
	rest := copy(s.ended, s.ended[n:])
	clear(s.ended[rest:])
	s.ended = s.ended[:rest]
	if s.frozen > 1024 && s.frozen*2 > len(s.order) {
		s.sweepOrder()
	}
}

// freeze moves t, which ended, from the hot records to recent. A task that
// is no longer hot under its id (frozen already, or thawed again as another
// record) or has not ended is left alone, and so is one whose values do not
// encode.
func (s *State) freeze(t *Task) {
	p := s.tasks.find(s.order, t.ID)
	if p < 0 || s.tasks.at(s.order, p) != t || !t.Status.Terminal() {
		return
	}
	if err := s.recent.add(t); err != nil {
		return
	}
	s.tasks.remove(p)
	s.endedIDs.remove(t, t.ID)
	s.recentIDs.insert(slotRef(s.recent.slots[s.recent.find(t.ID)]), t.ID)
	// An ended task releases no dependant any more: completion released
	// them, and any other end cancelled them in its own batch.
	delete(s.dependants, t.ID)
	t.flags |= flagFrozen
	s.frozen++
}

// sweepOrder drops the frozen tasks from order, keeping the others in
// their order, and points the hot table at their new places.
func (s *State) sweepOrder() {
	to := make([]uint32, len(s.order))
	kept := s.order[:0]
	for i, t := range s.order {
		if t.flags&flagFrozen == 0 {
			to[i] = uint32(len(kept))
			kept = append(kept, t)
		}
	}
	clear(s.order[len(kept):])
	s.order = kept
	s.frozen = 0
	s.tasks.renumber(to)
}
