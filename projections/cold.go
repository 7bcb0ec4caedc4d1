package projections

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/omniq/omniq/events"
)

// coldTasks holds the terminal tasks of a restored snapshot as the snapshot
// encoded them, so that Restore neither decodes them nor puts them on the
// heap: a terminal task changes only by a delete, and most are only ever
// counted or looked up. A record costs its encoded bytes plus one offset
// (see the cold section in snapshot.go); body aliases the snapshot, so the
// state keeps the whole snapshot buffer alive, of which the cold section is
// most when most tasks have ended.
//
// Lookups decode a fresh *Task on each call and never cache it: Task is
// called under the engine's read lock by concurrent readers, so a lookup must
// not write to the state, and a cache would bring the records back onto the
// heap. An event that changes a cold task thaws it (State.thaw): the decoded
// record joins the hot table and the cold one is marked superseded.
//
// INVARIANT (checked by Restore): records are sorted by id, ids are unique
// and not in the hot table, every record starts with a well-formed id, a kind
// index below len(kinds) and a terminal status. The rest of a record is
// checked when it is decoded; one that does not decode reads as absent.
type coldTasks struct {
	body   []byte      // the records, back to back
	offs   []byte      // n record starts in body, width bytes each, little-endian
	width  int         // 4 or 8
	n      int         // records, thawed ones included
	kinds  []*taskKind // the snapshot's kind table, for decoding
	thawed []uint64    // bit i: record i is superseded by a hot record; nil until a thaw
	nthaw  int
	// oldestEnd is the earliest end of a record (0: none), for
	// State.OldestEnd.
	oldestEnd events.Timestamp
}

// start returns where record i begins in body.
func (c *coldTasks) start(i int) int {
	if c.width == 4 {
		return int(binary.LittleEndian.Uint32(c.offs[i*4:]))
	}
	return int(binary.LittleEndian.Uint64(c.offs[i*8:]))
}

// record returns the bytes of record i.
func (c *coldTasks) record(i int) []byte {
	end := len(c.body)
	if i+1 < c.n {
		end = c.start(i + 1)
	}
	return c.body[c.start(i):end:end]
}

// recordHead parses the start of a record: its id and kind index, and where the
// kind index and the status byte sit.
func recordHead(rec []byte) (id []byte, kind uint64, kindOff, statusOff int, err error) {
	n, w := binary.Uvarint(rec)
	if w <= 0 || n == 0 || n > uint64(len(rec)-w) {
		return nil, 0, 0, 0, errors.New("bad task id")
	}
	kindOff = w + int(n)
	id = rec[w:kindOff]
	kind, w = binary.Uvarint(rec[kindOff:])
	if w <= 0 || kindOff+w >= len(rec) {
		return nil, 0, 0, 0, fmt.Errorf("task %s: truncated", id)
	}
	return id, kind, kindOff, kindOff + w, nil
}

// id returns the id of record i. REQUIRES: the record passed Restore's checks.
func (c *coldTasks) id(i int) []byte {
	rec := c.record(i)
	n, w := binary.Uvarint(rec)
	return rec[w : w+int(n)]
}

// status returns the status of record i.
func (c *coldTasks) status(i int) Status {
	rec := c.record(i)
	_, _, _, so, _ := recordHead(rec)
	return Status(rec[so])
}

// find returns the index of the record of id, thawed or not, or -1.
func (c *coldTasks) find(id string) int {
	if c == nil || c.n == 0 || string(c.id(0)) > id || string(c.id(c.n-1)) < id {
		return -1 // new ids (ULIDs) sort after every cold one: no search
	}
	i := sort.Search(c.n, func(i int) bool { return string(c.id(i)) >= id })
	if i < c.n && string(c.id(i)) == id {
		return i
	}
	return -1
}

// lookup returns the index of the live (not thawed) record of id, or -1.
func (c *coldTasks) lookup(id string) int {
	i := c.find(id)
	if i < 0 || c.isThawed(i) {
		return -1
	}
	return i
}

func (c *coldTasks) isThawed(i int) bool {
	return c.thawed != nil && c.thawed[i/64]&(1<<(i%64)) != 0
}

func (c *coldTasks) setThawed(i int) {
	if c.thawed == nil {
		c.thawed = make([]uint64, (c.n+63)/64)
	}
	c.thawed[i/64] |= 1 << (i % 64)
	c.nthaw++
}

// count returns how many records there are, thawed ones included.
func (c *coldTasks) count() int {
	if c == nil {
		return 0
	}
	return c.n
}

// live returns how many records are not thawed.
func (c *coldTasks) live() int {
	if c == nil {
		return 0
	}
	return c.n - c.nthaw
}

// decode returns a new *Task holding record i. It writes nothing to the
// state, so that readers may call it concurrently; worker names are not
// interned.
func (c *coldTasks) decode(i int) (*Task, error) {
	return decodeRecord(c.record(i), c.kinds)
}

// decodeRecord returns a new *Task holding a cold record whose kind indexes
// kinds.
func decodeRecord(rec []byte, kinds []*taskKind) (*Task, error) {
	n, w := binary.Uvarint(rec)
	t := &Task{}
	t.init(string(rec[w : w+int(n)]))
	r := reader{b: rec, off: w + int(n)}
	d := taskDecoder{kinds: kinds}
	if err := d.fields(&r, t, 0, 0); err != nil {
		return nil, err
	}
	if r.off != len(rec) {
		return nil, fmt.Errorf("task %s: %d trailing bytes", t.ID, len(rec)-r.off)
	}
	return t, nil
}

// updatedAt returns the UpdatedAt of record i.
func (c *coldTasks) updatedAt(i int) (events.Timestamp, error) {
	return recordUpdatedAt(c.record(i))
}

// recordUpdatedAt returns the UpdatedAt of a cold record, reading no more
// of it than it must.
func recordUpdatedAt(rec []byte) (events.Timestamp, error) {
	_, _, _, so, err := recordHead(rec)
	if err != nil {
		return 0, err
	}
	r := reader{b: rec, off: so + 2} // status, parts
	for range 5 {                    // attempt, priority, retries, ready at, lease deadline
		r.varint()
	}
	created := events.Timestamp(r.varint())
	updated := created + events.Timestamp(r.varint())
	if r.err != nil {
		return 0, fmt.Errorf("task %s: %w", recordID(rec), r.err)
	}
	return updated, nil
}

// restoreCold checks the cold section's records (see the INVARIANT on
// coldTasks) and counts them into their queues. It reads the head of each
// record once and allocates nothing per record.
func restoreCold(body, offs []byte, width, n int, kinds []*taskKind) (*coldTasks, error) {
	c := &coldTasks{body: body, offs: offs, width: width, n: n, kinds: kinds}
	if n == 0 {
		if len(body) != 0 {
			return nil, errors.New("cold records without offsets")
		}
		return c, nil
	}
	if c.start(0) != 0 {
		return nil, errors.New("first cold record does not start the section")
	}
	var prev []byte
	for i := range n {
		start, end := c.start(i), len(body)
		if i+1 < n {
			end = c.start(i + 1)
		}
		if start < 0 || start >= end || end > len(body) {
			return nil, fmt.Errorf("cold record %d: bad offsets %d..%d of %d", i, start, end, len(body))
		}
		rec := body[start:end]
		id, kind, _, so, err := recordHead(rec)
		if err != nil {
			return nil, fmt.Errorf("cold record %d: %w", i, err)
		}
		if i > 0 && string(id) <= string(prev) {
			return nil, fmt.Errorf("cold record %d: task %s out of order", i, id)
		}
		st := Status(rec[so])
		if kind >= uint64(len(kinds)) || !st.Terminal() || st >= statusEnd {
			return nil, fmt.Errorf("cold record %d: task %s: bad kind or status", i, id)
		}
		kinds[kind].q.counts[st]++
		prev = id
		if at, err := recordUpdatedAt(rec); err == nil && (c.oldestEnd == 0 || at < c.oldestEnd) {
			c.oldestEnd = at
		}
	}
	return c, nil
}
