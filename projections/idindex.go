package projections

import "slices"

// This file holds the id-ordered indexes that let a listing seek its cursor
// in O(log n) instead of sorting the state (see list.go). A task lives in
// one of three places (see State), and each is kept in id order:
//
//   - hot tasks: State.hotIDs those that have not ended, State.endedIDs
//     those that have (a few thousand: see freeze), their *Task in id
//     order, so that a listing of ended tasks does not pass over every
//     pending one, nor the reverse;
//   - recent cold records: State.recentIDs, their refs in id order;
//   - the restored cold section: sorted by id already (coldTasks).
//
// Each index costs one 8-byte word per task plus the slack of its blocks
// (and a summary word per block),
// and nothing per task beyond it: the ids it orders by are those the
// records hold. Ids mostly arrive in order (ULIDs), and a full block splits
// where the new id goes, so blocks stay nearly full: about 8.2 bytes a task
// (BenchmarkIDIndexBytes); ids in random order leave blocks half to fully
// used (8 to 16 bytes).
//
// INVARIANT: hotIDs holds exactly the tasks of State.tasks whose status is
// not terminal, endedIDs those whose status is, recentIDs exactly the live
// records of State.recent, each in strictly increasing id order. The hooks
// that keep it: applyEnqueued (a new hot task), setStatus (a task ends, or
// a retry revives it: moveIDs), freeze (ended to recent), thaw (recent to
// ended), Restore (rebuilt).

// Each block carries a summary of the kinds (queue, func) of its entries,
// so that a listing of one queue or one func skips the blocks that hold
// none of its tasks without reading their records: a 64-bit mask, the
// queue's hash picking one of its low 32 bits and the func's one of its
// high 32 (kindSum). INVARIANT: a block's summary has the bits of every
// entry in it (it may have more: a removal leaves them, a split recomputes
// them).

// idBlockMax is the most entries a block holds: inserting into a block
// moves at most that many words, and a seek compares O(log(n/idBlockMax))
// block ends then O(log idBlockMax) entries.
const idBlockMax = 512

// idList is a sorted list of entries split into blocks, each sorted and
// every entry of a block sorting before those of the next.
type idList[E comparable] struct {
	blocks [][]E
	sums   []uint64 // per block, the kindSum bits of its entries; nil: no summaries
	// cmp compares an entry's id with id (negative: the entry sorts first).
	cmp func(e E, id string) int
	sum func(e E) uint64 // the entry's kindSum
	n   int
}

func newIDList[E comparable](cmp func(E, string) int, sum func(E) uint64) *idList[E] {
	return &idList[E]{cmp: cmp, sum: sum, sums: []uint64{}}
}

// kindSum is the summary bits of a task of queue and func fn.
func kindSum(queue, fn string) uint64 {
	return 1<<(fnv32(queue)%32) | 1<<(32+fnv32(fn)%32)
}

// fnv32 is FNV-1a.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// blockSum returns the summary of blk, computed anew.
func (l *idList[E]) blockSum(blk []E) uint64 {
	var m uint64
	for _, e := range blk {
		m |= l.sum(e)
	}
	return m
}

// len returns the number of entries.
func (l *idList[E]) len() int { return l.n }

// seek returns the place of the first entry whose id sorts after id
// (block len(l.blocks) when none does).
func (l *idList[E]) seek(id string) (int, int) {
	b, _ := slices.BinarySearchFunc(l.blocks, id, func(blk []E, id string) int {
		if l.cmp(blk[len(blk)-1], id) <= 0 {
			return -1
		}
		return 1
	})
	if b == len(l.blocks) {
		return b, 0
	}
	blk := l.blocks[b]
	i, _ := slices.BinarySearchFunc(blk, id, func(e E, id string) int {
		if l.cmp(e, id) <= 0 {
			return -1
		}
		return 1
	})
	return b, i
}

// insert adds e, whose id is id. REQUIRES: no entry has that id.
func (l *idList[E]) insert(e E, id string) {
	l.n++
	if len(l.blocks) == 0 {
		l.blocks = append(l.blocks, append(make([]E, 0, 16), e))
		l.sums = append(l.sums, l.sum(e))
		return
	}
	// New ids (ULIDs) sort after every other: append to the last block.
	b, i := len(l.blocks)-1, 0
	if last := l.blocks[b]; l.cmp(last[len(last)-1], id) < 0 {
		i = len(last)
	} else if b, i = l.seek(id); b == len(l.blocks) {
		b, i = b-1, len(l.blocks[b-1])
	}
	blk := l.blocks[b]
	if len(blk) < idBlockMax {
		l.blocks[b] = slices.Insert(blk, i, e)
		l.sums[b] |= l.sum(e)
		return
	}
	// A full block splits at the insertion point, or in half when that
	// comes first: ids that arrive in order (most do) fill each block to
	// the brim, and the block before the point is never written again.
	p := max(i, len(blk)/2)
	left, right := blk[:p], append(make([]E, 0, idBlockMax), blk[p:]...)
	clear(blk[p:])
	if i < p {
		left = slices.Insert(left, i, e)
	} else {
		right = slices.Insert(right, i-p, e)
	}
	l.blocks[b] = left
	l.blocks = slices.Insert(l.blocks, b+1, right)
	l.sums[b] = l.blockSum(left)
	l.sums = slices.Insert(l.sums, b+1, l.blockSum(right))
}

// remove takes out the entry e whose id is id; false when it is not there.
func (l *idList[E]) remove(e E, id string) bool {
	b, i := l.seek(id)
	// seek lands after id: the entry, when there, is the one before.
	if i == 0 {
		if b == 0 {
			return false
		}
		b, i = b-1, len(l.blocks[b-1])
	}
	blk := l.blocks[b]
	if blk[i-1] != e {
		return false
	}
	blk = slices.Delete(blk, i-1, i)
	l.n--
	switch {
	case len(blk) == 0:
		l.blocks = slices.Delete(l.blocks, b, b+1)
		l.sums = slices.Delete(l.sums, b, b+1)
	case len(blk) < cap(blk)/4:
		// Hot tasks leave the index as they end: a block whose tasks
		// mostly ended shrinks, so the list stays about 8-16 bytes a task.
		l.blocks[b] = append(make([]E, 0, 2*len(blk)), blk...)
	default:
		l.blocks[b] = blk
	}
	return true
}

// bytes returns the memory the list holds (its blocks and their headers).
func (l *idList[E]) bytes(entry int) int {
	n := cap(l.blocks)*24 + cap(l.sums)*8
	for _, b := range l.blocks {
		n += cap(b) * entry
	}
	return n
}

// compareID compares a record's id with id without copying it.
func compareID(rid []byte, id string) int {
	switch {
	case string(rid) < id:
		return -1
	case string(rid) == id:
		return 0
	}
	return 1
}

// newHotIDs returns the index of hot tasks.
func newHotIDs() *idList[*Task] {
	return newIDList(func(t *Task, id string) int {
		switch {
		case t.ID < id:
			return -1
		case t.ID == id:
			return 0
		}
		return 1
	}, func(t *Task) uint64 { return kindSum(t.kind.queue, t.kind.fn) })
}

// newRecentIDs returns the index of c's live records.
func newRecentIDs(c *recentCold) *idList[uint64] {
	return newIDList(func(ref uint64, id string) int { return compareID(recordID(c.record(ref)), id) },
		func(ref uint64) uint64 {
			// A record this state encoded always reads back.
			if _, k, _, _, err := recordHead(c.record(ref)); err == nil && k < uint64(len(c.kinds)) {
				return kindSum(c.kinds[k].queue, c.kinds[k].fn)
			}
			return ^uint64(0)
		})
}

// rebuildIDs builds both indexes from the state's tasks (after Restore, or
// for a state built without them).
func (s *State) rebuildIDs() {
	hot := slices.AppendSeq(make([]*Task, 0, s.tasks.len()), s.hotTasks)
	slices.SortFunc(hot, func(a, b *Task) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID == b.ID:
			return 0
		}
		return 1
	})
	var live, ended []*Task
	for _, t := range hot {
		if t.Status.Terminal() {
			ended = append(ended, t)
		} else {
			live = append(live, t)
		}
	}
	s.hotIDs, s.endedIDs = newHotIDs(), newHotIDs()
	s.hotIDs.fill(live)
	s.endedIDs.fill(ended)
	s.recentIDs = newRecentIDs(s.recent)
	s.recentIDs.fill(s.recent.sorted(keepAll))
}

// fill sets the list's entries to those of sorted, copied into blocks
// three quarters full.
func (l *idList[E]) fill(sorted []E) {
	l.blocks, l.sums, l.n = nil, nil, len(sorted)
	const per = idBlockMax * 3 / 4
	for len(sorted) > 0 {
		k := min(per, len(sorted))
		l.blocks = append(l.blocks, append(make([]E, 0, idBlockMax), sorted[:k]...))
		l.sums = append(l.sums, l.blockSum(sorted[:k]))
		sorted = sorted[k:]
	}
}

// moveIDs moves hot task t between hotIDs and endedIDs: to endedIDs when
// it ends, back when a retry revives it.
func (s *State) moveIDs(t *Task, ended bool) {
	from, to := s.hotIDs, s.endedIDs
	if !ended {
		from, to = to, from
	}
	if from.remove(t, t.ID) {
		to.insert(t, t.ID)
	}
}

// IndexBytes returns the memory the id indexes hold, for measuring what
// they cost a task.
func (s *State) IndexBytes() int {
	return s.hotIDs.bytes(8) + s.endedIDs.bytes(8) + s.recentIDs.bytes(8)
}
