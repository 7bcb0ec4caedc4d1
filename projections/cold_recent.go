package projections

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"slices"

	"github.com/omniq/omniq/events"
)

// recentCold holds the tasks that ended while this state was folding events,
// as compact records: the same record a snapshot's cold section holds (see
// the format in snapshot.go), prefixed by its length, appended to chunks in
// the order the tasks ended. An open-addressing table indexes them by id.
// A task that ended costs its record (about 80 bytes for a small task) and
// a table slot (8 bytes at a load of 3/8 to 3/4), instead of its hot record,
// map entry and outcome (about 450 bytes).
//
// Records are never rewritten: a record superseded by a thaw (a delete of
// an ended task) stays in its chunk as garbage until the state is replaced
// by a checkpoint (retention) or rebuilt from a snapshot, both of which keep
// only the live records. Lookups decode a fresh *Task and write nothing, as
// for coldTasks.
//
// INVARIANT: an id has at most one live record here, and is then neither
// hot nor a live record of State.cold.
type recentCold struct {
	chunks  [][]byte // a chunk is never reallocated once records are in it
	slots   []uint64 // a live record's tag and ref+1 (see slotOf; 0: empty); len is a power of two
	n       int      // live records
	seed    maphash.Seed
	kinds   []*taskKind          // kind index -> kind, for decoding
	kindIx  map[*taskKind]uint64 // kind -> index in kinds
	scratch []byte               // the record being encoded
}

// recentChunk is the size of a record chunk: big enough that chunk headers
// cost nothing per record, small enough that a mostly empty last chunk
// costs nothing per state.
const recentChunk = 256 << 10

// A record's ref is its chunk's index over its offset in the chunk
// (offsetBits; a chunk's records start below recentChunk). A slot holds the
// ref plus one in its low refBits and, above them, the top bits of the id's
// hash as a tag: a probe compares tags and reads a record (a cache miss
// into the chunks) only when they match, so looking up an id that is not
// there (every new task's id is looked up) costs no record reads on
// average.
const (
	offsetBits = 24
	refBits    = 48
	refMask    = 1<<refBits - 1
)

// slotOf is the slot value of the record at ref whose id hashes to h.
func slotOf(h, ref uint64) uint64 { return h>>refBits<<refBits | (ref + 1) }

// slotRef is the ref a non-empty slot value points at.
func slotRef(v uint64) uint64 { return v&refMask - 1 }

func newRecentCold() *recentCold {
	return &recentCold{seed: maphash.MakeSeed(), kindIx: map[*taskKind]uint64{}}
}

// record returns the record that ref points at.
func (c *recentCold) record(ref uint64) []byte {
	ch := c.chunks[ref>>offsetBits]
	off := int(ref & (1<<offsetBits - 1))
	n, w := binary.Uvarint(ch[off:])
	return ch[off+w : off+w+int(n) : off+w+int(n)]
}

// kindIndex returns the index of kd in c's kind table, adding it on first use.
func (c *recentCold) kindIndex(kd *taskKind) uint64 {
	if i, ok := c.kindIx[kd]; ok {
		return i
	}
	i := uint64(len(c.kinds))
	c.kinds = append(c.kinds, kd)
	c.kindIx[kd] = i
	return i
}

// add encodes t, which has ended, as a record. It fails, and changes
// nothing, when t's values do not encode; the caller then keeps t hot.
// REQUIRES: t.ID has no live record here.
func (c *recentCold) add(t *Task) error {
	rec, err := appendFields(appendString(c.scratch[:0], t.ID), t, c.kindIndex(t.kind), 0, 0)
	if err != nil {
		return err
	}
	c.scratch = rec
	need := binary.MaxVarintLen64 + len(rec)
	if len(c.chunks) == 0 || cap(c.chunks[len(c.chunks)-1])-len(c.chunks[len(c.chunks)-1]) < need {
		c.chunks = append(c.chunks, make([]byte, 0, max(recentChunk, need)))
	}
	last := len(c.chunks) - 1
	ch := c.chunks[last]
	start := len(ch)
	ch = append(binary.AppendUvarint(ch, uint64(len(rec))), rec...)
	c.chunks[last] = ch
	c.insert(uint64(last)<<offsetBits | uint64(start))
	return nil
}

// find returns the slot of id's live record, or -1.
func (c *recentCold) find(id string) int {
	if c == nil || c.n == 0 {
		return -1
	}
	mask := uint64(len(c.slots) - 1)
	h := maphash.String(c.seed, id)
	for i := h & mask; ; i = (i + 1) & mask {
		v := c.slots[i]
		if v == 0 {
			return -1
		}
		if v>>refBits == h>>refBits && string(recordID(c.record(slotRef(v)))) == id {
			return int(i)
		}
	}
}

// lookup returns the record of id, or nil.
func (c *recentCold) lookup(id string) []byte {
	i := c.find(id)
	if i < 0 {
		return nil
	}
	return c.record(slotRef(c.slots[i]))
}

// insert indexes the record at ref.
func (c *recentCold) insert(ref uint64) {
	if (c.n+1)*4 > len(c.slots)*3 {
		c.grow()
	}
	mask := uint64(len(c.slots) - 1)
	h := maphash.Bytes(c.seed, recordID(c.record(ref)))
	i := h & mask
	for c.slots[i] != 0 {
		i = (i + 1) & mask
	}
	c.slots[i] = slotOf(h, ref)
	c.n++
}

func (c *recentCold) grow() {
	old := c.slots
	c.slots = make([]uint64, max(1024, 2*len(old)))
	c.n = 0
	for _, v := range old {
		if v != 0 {
			c.insert(slotRef(v))
		}
	}
}

// remove unindexes the record in slot i (backward-shift deletion, so that
// probes need no tombstones).
func (c *recentCold) remove(i int) {
	mask := uint64(len(c.slots) - 1)
	hole := uint64(i)
	for j := (hole + 1) & mask; c.slots[j] != 0; j = (j + 1) & mask {
		home := maphash.Bytes(c.seed, recordID(c.record(slotRef(c.slots[j])))) & mask
		// Move j into the hole when its home is not in (hole, j].
		if (j-home)&mask >= (j-hole)&mask {
			c.slots[hole] = c.slots[j]
			hole = j
		}
	}
	c.slots[hole] = 0
	c.n--
}

// live returns how many live records there are.
func (c *recentCold) live() int {
	if c == nil {
		return 0
	}
	return c.n
}

// sorted returns the references of the live records of the tasks that
// finished at or after before, sorted by id (8 bytes a record: a snapshot
// of millions of ended tasks sorts them all).
func (c *recentCold) sorted(before events.Timestamp) []uint64 {
	if c.live() == 0 {
		return nil
	}
	out := make([]uint64, 0, c.n)
	for _, v := range c.slots {
		if v == 0 {
			continue
		}
		if before != keepAll {
			// A record this state encoded always reads back.
			if at, err := recordUpdatedAt(c.record(slotRef(v))); err == nil && at < before {
				continue
			}
		}
		out = append(out, slotRef(v))
	}
	slices.SortFunc(out, func(a, b uint64) int { return bytes.Compare(recordID(c.record(a)), recordID(c.record(b))) })
	return out
}

// decode returns a new *Task holding rec, a record of c.
func (c *recentCold) decode(rec []byte) (*Task, error) {
	return decodeRecord(rec, c.kinds)
}

// recordID returns the id of a cold record. REQUIRES: rec was encoded by
// this process or passed Restore's checks.
func recordID(rec []byte) []byte {
	n, w := binary.Uvarint(rec)
	return rec[w : w+int(n)]
}
