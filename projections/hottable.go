package projections

import (
	"hash/maphash"
	"math"
)

// hotTable indexes the hot tasks by id (State.tasks): an open-addressing
// table of 8-byte slots, each holding a task's place in State.order and 32
// bits of its id's hash, as a compact dictionary does (State.order is the
// entries array). A task costs a slot at a load of 7/16 to 7/8 (9 to 18
// bytes) instead of a map entry (a 16-byte key header, its 8-byte value and
// the map's control bytes and slack: about 35 bytes a task at 200,000), and the table
// holds no pointers for the collector to scan: the ids it matches are those
// the records hold.
//
// The table uses linear probing with Robin Hood placement: an entry's
// distance from its home slot (its tag's low bits) never exceeds that of
// the entry before it in the same run, so a probe for an id that is not
// there (every new task's id is looked up) stops at the first entry closer
// to home than the probe, and removal shifts the run back instead of
// leaving tombstones. The tag also gives each slot's home, so growing
// rehashes no id, and a probe reads a record (a cache miss into the task)
// only when the tag matches: the tag's bits above the home bits differ
// for all but one id in 2^(32-log2(len(slots))).
//
// INVARIANT: the table holds exactly one slot for each task of State.order
// that has not gone cold (flagFrozen), pointing at its place in order; ids
// are distinct. Hooks: applyEnqueued and thaw (insert), freeze (remove),
// sweepOrder (renumber), Restore (insert).
type hotTable struct {
	// slots: an entry's tag (low 32 bits of its id's hash) in the low 32
	// bits, its place in order plus one in the high 32 (0: empty). len is
	// 0 or a power of two of at most 2^32.
	slots []uint64
	n     int
	seed  maphash.Seed
}

// hotTableMin is the size of a table's first slot array.
const hotTableMin = 16

// len returns the number of hot tasks.
func (h *hotTable) len() int { return h.n }

// sizeFor returns the smallest slot array that holds n entries.
func (h *hotTable) sizeFor(n int) int {
	size := hotTableMin
	for size*7 < n*8 {
		size *= 2
	}
	return size
}

// reserve sizes an empty table for n tasks.
func (h *hotTable) reserve(n int) { h.resize(h.sizeFor(n)) }

func (h *hotTable) tag(id string) uint32 { return uint32(maphash.String(h.seed, id)) }

// dist is how far slot p, holding v, is from v's home.
func (h *hotTable) dist(p int, v uint64) int { return (p - int(uint32(v))) & (len(h.slots) - 1) }

// find returns the slot of the task whose id is id, or -1.
func (h *hotTable) find(order []*Task, id string) int {
	if h.n == 0 {
		return -1
	}
	if p, ok := h.probe(order, id, h.tag(id)); ok {
		return p
	}
	return -1
}

// probe walks id's run from its home: it returns the slot of the task
// whose id is id (tag is id's) and true, or the slot where that task would
// go in Robin Hood order and false. REQUIRES: the table has an empty slot.
func (h *hotTable) probe(order []*Task, id string, tag uint32) (int, bool) {
	mask := len(h.slots) - 1
	p := int(tag) & mask
	for d := 0; ; d++ {
		v := h.slots[p]
		// Past the end of id's run: an empty slot, or an entry that
		// Robin Hood placement would have put after id.
		if v == 0 || h.dist(p, v) < d {
			return p, false
		}
		if uint32(v) == tag && order[v>>32-1].ID == id {
			return p, true
		}
		p = (p + 1) & mask
	}
}

// at returns the task of slot p, which is not empty.
func (h *hotTable) at(order []*Task, p int) *Task { return order[h.slots[p]>>32-1] }

// get returns the hot task whose id is id, or nil.
func (h *hotTable) get(order []*Task, id string) *Task {
	if p := h.find(order, id); p >= 0 {
		return h.at(order, p)
	}
	return nil
}

// insert indexes order[i] under its id; false, and nothing changes, when
// a task with that id is there already.
func (h *hotTable) insert(order []*Task, i int) bool {
	if i >= math.MaxUint32 {
		panic("projections: too many hot tasks")
	}
	if (h.n+1)*8 > len(h.slots)*7 {
		h.resize(max(hotTableMin, 2*len(h.slots)))
	}
	id := order[i].ID
	tag := h.tag(id)
	p, found := h.probe(order, id, tag)
	if found {
		return false
	}
	h.place(p, uint64(i+1)<<32|uint64(tag))
	h.n++
	return true
}

// place puts v in slot p, which Robin Hood order gives it, shifting the
// entries from p on along their run (each moves one slot further from its
// home) up to the first empty slot.
func (h *hotTable) place(p int, v uint64) {
	mask := len(h.slots) - 1
	for v != 0 {
		h.slots[p], v = v, h.slots[p]
		p = (p + 1) & mask
	}
}

// remove empties slot p, shifting back the entries after it that are not
// at home (backward-shift deletion, so that probes need no tombstones).
func (h *hotTable) remove(p int) {
	mask := len(h.slots) - 1
	for {
		q := (p + 1) & mask
		v := h.slots[q]
		if v == 0 || h.dist(q, v) == 0 {
			break
		}
		h.slots[p] = v
		p = q
	}
	h.slots[p] = 0
	h.n--
}

// resize moves the entries into a slot array of size slots, by their tags.
func (h *hotTable) resize(size int) {
	if h.seed == (maphash.Seed{}) {
		h.seed = maphash.MakeSeed()
	}
	old := h.slots
	h.slots = make([]uint64, size)
	mask := size - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		// Robin Hood insertion: take the slot of the first entry closer
		// to its home than v would be.
		p := int(uint32(v)) & mask
		for d := 0; h.slots[p] != 0 && h.dist(p, h.slots[p]) >= d; d++ {
			p = (p + 1) & mask
		}
		h.place(p, v)
	}
}

// renumber points every entry at its new place in order: to, indexed by
// its old place (see sweepOrder). A table left mostly empty (a backlog
// drained: it never shrinks otherwise) moves to one sized for twice its
// entries, so that the next renumber costs what the hot tasks are, not
// what they were.
func (h *hotTable) renumber(to []uint32) {
	for p, v := range h.slots {
		if v != 0 {
			h.slots[p] = (uint64(to[v>>32-1])+1)<<32 | uint64(uint32(v))
		}
	}
	if size := h.sizeFor(2 * h.n); size < len(h.slots)/2 {
		h.resize(size)
	}
}

// hot returns the hot task whose id is id, or nil.
func (s *State) hot(id string) *Task { return s.tasks.get(s.order, id) }

// addHot makes t, which no hot task shares an id with, hot: in order and in
// the table.
func (s *State) addHot(t *Task) {
	s.order = append(s.order, t)
	s.tasks.insert(s.order, len(s.order)-1)
}

// hotTasks yields the hot tasks, in order's order.
func (s *State) hotTasks(yield func(*Task) bool) {
	for _, t := range s.order {
		if t.flags&flagFrozen == 0 && !yield(t) {
			return
		}
	}
}
