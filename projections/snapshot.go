package projections

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/omniq/omniq/events"
)

// ErrBadSnapshot: the bytes are not a snapshot this build can read. A snapshot
// is a cache (docs/design.md, invariant 5): on this error, replay from the
// log.
var ErrBadSnapshot = errors.New("projections: unreadable snapshot")

// The snapshot format. Versions 1 and 2 are no longer read: a snapshot is a
// cache, and the log replays without it.
//
//	+-----+---+----------+--------+-------+-----+------+-----------+
//	| OQS | 3 | position | nkinds | kinds | hot | cold | schedules |
//	+-----+---+----------+--------+-------+-----+------+-----------+
//	  3 B  1 B  uvarint    uvarint
//
// kinds: nkinds × (func, queue), strings as uvarint length + bytes, numbered
// by first use in the hot section, then in the cold section.
//
// hot: the tasks that are not terminal, in enqueue order (EnqueuedPos
// strictly increasing), decoded by Restore into the state's map and heaps:
//
//	+------+---------+-----+------------------+
//	| nhot | idbytes | ids | nhot hot records |
//	+------+---------+-----+------------------+
//	 uvarint uvarint
//
// ids: the hot tasks' ids, concatenated in task order (idbytes bytes in all).
// A hot record is a uvarint id length (its bytes are the next ones in ids)
// and the fields, with created at and enqueued position stored as the
// difference from the previous hot record's.
//
// cold: the terminal tasks, sorted by id, which Restore keeps as bytes (see
// coldTasks): a lookup finds a record by binary search over the offsets and
// decodes only that one.
//
//	+-------+----------+-------------------+-------+----------------+
//	| ncold | body len | ncold records     | width | ncold offsets  |
//	+-------+----------+-------------------+-------+----------------+
//	 uvarint  8 B LE                         1 B     width B LE each
//
// A cold record is a uvarint id length, the id bytes and the fields, with
// created at and enqueued position stored whole. Offset i is where record i
// starts in the body (offset 0 is 0); it ends where the next one starts.
// width is 4 when the body is shorter than 4 GiB, 8 otherwise.
//
// fields (a hot and a cold record alike):
//
//	uvarint  kind index
//	byte     status
//	byte     parts: taskPaused | taskHasArgs | taskHasSpec | taskHasOutcome | taskHasMeta
//	varint   attempt, priority, retries, ready at, lease deadline
//	varint   created at − base (hot: the previous record's; cold: 0)
//	varint   updated at − created at
//	uvarint  enqueued position − base (≥ 1)
//	uvarint  ready seq
//	[args]    uvarint count, values (value.go)
//	[spec]    kwargs value, uvarint n + n dependency ids, schedule id, varint ttl,
//	          varint run at, varint max retries, byte spec paused, varint unmet
//	[meta]    uvarint n, n × (key, value) in key order
//	[retried] uvarint retry base
//	[outcome] worker, result value, error, cancel reason, cancelled by
//
// taskHasMeta is set only with taskHasSpec (the meta lives with the rest of
// the spec); snapshots written before tasks had meta never set it, so they
// restore as they did, and a state without meta encodes as it did then.
// taskRetried (a task.retried revived the task: its TTL no longer applies
// and its retries count from the retry base) is likewise set only with
// taskHasSpec, and never by snapshots written before tasks could be retried.
//
// schedules: uvarint length + events.MarshalValue([]*Schedule) (length 0: none).
//
// paused queues, only when some queue is paused or edges follow: uvarint
// n, then n queue names in sorted order (n is 0 only when edges follow).
// Snapshots written before queues could be paused end after the
// schedules, and restore with no queue paused; a state with none encodes
// as they did.
//
// edges, only when a terminal task the snapshot holds has dependencies:
// uvarint n, then n × (task id, uvarint k, k dependency ids sorted), the
// tasks in enqueue order; each is in the cold section. Restore rebuilds
// the reverse index of the dependency graph (reverse.go) from them and
// from the hot records. Snapshots written before the section existed
// restore without the edges of their terminal tasks; a state whose
// terminal tasks have no dependencies encodes as they did.
//
// Integers are encoding/binary varints. Two states folded from the same
// events encode to the same bytes (docs/design.md, invariant 2), whichever of their
// tasks are hot or cold: which section a task goes to depends only on its
// status, the order in each section only on the tasks' logical fields, kinds
// are numbered by first use, map keys are sorted, and a cold record is copied
// as it is but for its kind index, since decoding a record and encoding it
// again gives the same bytes.
const (
	snapshotMagic   = "OQS"
	snapshotVersion = 3
)

// Task record parts.
const (
	taskPaused byte = 1 << iota
	taskHasArgs
	taskHasSpec
	taskHasOutcome
	taskHasMeta
	taskRetried
)

// minTaskRecord is the fewest bytes a task record takes (one per field and a
// one-byte id): Restore sizes nothing from a count that the remaining bytes
// cannot hold.
const minTaskRecord = 14

// keepAll is the `before` of a snapshot that compacts nothing: no task
// finished before it.
const keepAll = events.Timestamp(math.MinInt64)

// Snapshot encodes the whole logical state. Two states built from the same
// events give the same bytes.
func (s *State) Snapshot() ([]byte, error) {
	b, _, err := s.snapshot(keepAll, true)
	return b, err
}

// CompactedSnapshot is Snapshot without the tasks that reached a terminal
// state (and the schedules deleted) before `before`; it reports how many
// records it left out. A log.checkpoint carries it. It fails when a cold
// task's record does not decode.
func (s *State) CompactedSnapshot(before events.Timestamp) ([]byte, int, error) {
	return s.snapshot(before, true)
}

// CompactedSnapshotWithoutEdges is CompactedSnapshot as it was encoded
// before snapshots held the edges section: a log.checkpoint written then
// carries it. The edges only serve graph queries (reverse.go), so an
// audit accepts an older checkpoint that equals it.
func (s *State) CompactedSnapshotWithoutEdges(before events.Timestamp) ([]byte, int, error) {
	return s.snapshot(before, false)
}

// walkTerminal calls fn, in id order, for every task of done (hot records,
// sorted by id) and every cold task that finished at or after before: the
// live records of cold, and recent (recent's live records finished at or
// after before, sorted by id: see recentCold.sorted). A hot task comes as t
// (rec nil); a cold one as its record and the kind table its kind index
// refers to (t nil).
// recent holds references to its records (recentCold.record).
// INVARIANT: no id is in two of them, so the merge needs no tie rule.
func (s *State) walkTerminal(done []*Task, recent []uint64, before events.Timestamp, fn func(t *Task, rec []byte, kinds []*taskKind)) error {
	c, ci := s.cold, 0
	// nextCold moves ci to the next live cold record finished at or after before.
	nextCold := func() error {
		for ; ci < c.count(); ci++ {
			if c.isThawed(ci) {
				continue
			}
			if before == keepAll {
				return nil
			}
			at, err := c.updatedAt(ci)
			if err != nil {
				return err
			}
			if at >= before {
				return nil
			}
		}
		return nil
	}
	for {
		if err := nextCold(); err != nil {
			return err
		}
		var id []byte
		src := -1 // 0: cold, 1: recent, 2: done
		if ci < c.count() {
			id, src = c.id(ci), 0
		}
		if len(recent) > 0 {
			if rid := recordID(s.recent.record(recent[0])); src < 0 || bytes.Compare(rid, id) < 0 {
				id, src = rid, 1
			}
		}
		if len(done) > 0 && (src < 0 || done[0].ID < string(id)) {
			src = 2
		}
		switch src {
		case -1:
			return nil
		case 0:
			fn(nil, c.record(ci), c.kinds)
			ci++
		case 1:
			fn(nil, s.recent.record(recent[0]), s.recent.kinds)
			recent = recent[1:]
		case 2:
			fn(done[0], nil, nil)
			done = done[1:]
		}
	}
}

func (s *State) snapshot(before events.Timestamp, withEdges bool) ([]byte, int, error) {
	c := s.cold
	// Pass 1: split the hot tasks, number the kinds by first use, and size
	// the sections.
	var done []*Task
	nhot, idBytes, size := 0, 0, 64
	for _, t := range s.order {
		switch {
		case t.flags&flagFrozen != 0:
		case !t.Status.Terminal():
			nhot++
			idBytes += len(t.ID)
		case t.UpdatedAt >= before:
			done = append(done, t)
		}
	}
	slices.SortFunc(done, func(a, b *Task) int { return strings.Compare(a.ID, b.ID) })
	kindIdx := map[kindKey]uint64{}
	var kinds []kindKey
	number := func(kd *taskKind) uint64 {
		k := kindKey{kd.fn, kd.queue}
		i, ok := kindIdx[k]
		if !ok {
			i = uint64(len(kinds))
			kindIdx[k] = i
			kinds = append(kinds, k)
		}
		return i
	}
	// kindOf caches the last kind seen: tasks come in runs of one kind.
	var lastKind *taskKind
	var lastIdx uint64
	kindOf := func(kd *taskKind) uint64 {
		if kd != lastKind {
			lastKind, lastIdx = kd, number(kd)
		}
		return lastIdx
	}
	hot := s.hotInOrder()
	for t := range hot {
		kindOf(t.kind)
		size += 48
	}
	recent := s.recent.sorted(before)
	// The cold section is sized exactly: its records are copied (a cold
	// record with its kind renumbered) or, for the few ended tasks still
	// hot, encoded here once. Growing the buffer by append near its end
	// would copy the whole state once more, at the peak.
	nterm, coldSize := 0, 0
	var doneRecs []byte
	var doneEnds []int
	var encErr error
	err := s.walkTerminal(done, recent, before, func(t *Task, rec []byte, kinds []*taskKind) {
		nterm++
		if t != nil {
			if encErr == nil {
				doneRecs, encErr = appendFields(appendString(doneRecs, t.ID), t, kindOf(t.kind), 0, 0)
				if encErr != nil {
					encErr = fmt.Errorf("task %s: %w", t.ID, encErr)
				}
			}
			doneEnds = append(doneEnds, len(doneRecs))
			return
		}
		_, k, ko, so, _ := recordHead(rec)
		coldSize += len(rec) - (so - ko) + uvarintLen(kindOf(kinds[k]))
	})
	if err == nil {
		err = encErr
	}
	if err != nil {
		return nil, 0, fmt.Errorf("projections: snapshot: %w", err)
	}
	coldSize += len(doneRecs)
	dropped := len(s.order) - s.frozen + c.live() + s.recent.live() - nhot - nterm
	var scheds []*Schedule
	s.Schedules(func(sc *Schedule) bool {
		if sc.Deleted && sc.UpdatedAt < before {
			dropped++
		} else {
			scheds = append(scheds, sc)
		}
		return true
	})
	var rawScheds []byte
	if len(scheds) > 0 {
		if rawScheds, err = events.MarshalValue(scheds); err != nil {
			return nil, 0, fmt.Errorf("projections: snapshot: schedules: %w", err)
		}
	}
	var edges []edgeEntry
	if withEdges {
		var err error
		if edges, err = s.terminalEdges(before); err != nil {
			return nil, 0, fmt.Errorf("projections: snapshot: edges: %w", err)
		}
	}
	tail := optionalSections(s.PausedQueues(), edges)
	width := 4
	if coldSize > math.MaxUint32 {
		width = 8
	}
	b := make([]byte, 0, size+idBytes)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	// Checkpoint parts change nothing until their checkpoint: a state
	// holding some is the state before them, which replays them again.
	pos := s.position
	if len(s.parts) > 0 {
		pos = s.partsFrom - 1
	}
	b = binary.AppendUvarint(b, pos)
	b = binary.AppendUvarint(b, uint64(len(kinds)))
	for _, k := range kinds {
		b = appendString(appendString(b, k.fn), k.queue)
	}
	// Pass 2: the hot section.
	b = binary.AppendUvarint(b, uint64(nhot))
	b = binary.AppendUvarint(b, uint64(idBytes))
	for t := range hot {
		b = append(b, t.ID...)
	}
	var prevCreated events.Timestamp
	var prevPos uint64
	for t := range hot {
		b = binary.AppendUvarint(b, uint64(len(t.ID)))
		if b, err = appendFields(b, t, kindOf(t.kind), prevCreated, prevPos); err != nil {
			return nil, 0, fmt.Errorf("projections: snapshot: task %s: %w", t.ID, err)
		}
		prevCreated, prevPos = t.CreatedAt, t.EnqueuedPos
	}
	// The cold section: its count and byte length, the records, then the
	// table of where each starts (written in place as the records go in).
	b = binary.AppendUvarint(b, uint64(nterm))
	b = binary.LittleEndian.AppendUint64(b, uint64(coldSize))
	tabLen := 1 + width*nterm
	b = slices.Grow(b, coldSize+tabLen+binary.MaxVarintLen64+len(rawScheds)+len(tail))
	body := len(b)
	tab := b[body+coldSize : body+coldSize+tabLen]
	tab[0] = byte(width)
	i, doneStart := 0, 0
	err = s.walkTerminal(done, recent, before, func(t *Task, rec []byte, kinds []*taskKind) {
		if off := len(b) - body; width == 4 {
			binary.LittleEndian.PutUint32(tab[1+4*i:], uint32(off))
		} else {
			binary.LittleEndian.PutUint64(tab[1+8*i:], uint64(off))
		}
		i++
		if t != nil {
			b = append(b, doneRecs[doneStart:doneEnds[0]]...)
			doneStart, doneEnds = doneEnds[0], doneEnds[1:]
			return
		}
		_, k, ko, so, _ := recordHead(rec)
		b = append(b, rec[:ko]...)
		b = binary.AppendUvarint(b, kindOf(kinds[k]))
		b = append(b, rec[so:]...)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("projections: snapshot: %w", err)
	}
	if len(b)-body != coldSize || i != nterm {
		return nil, 0, fmt.Errorf("projections: snapshot: cold section of %d bytes and %d records, sized for %d and %d", len(b)-body, i, coldSize, nterm)
	}
	b = b[:len(b)+tabLen]
	b = binary.AppendUvarint(b, uint64(len(rawScheds)))
	b = append(b, rawScheds...)
	return append(b, tail...), dropped, nil
}

// optionalSections encodes the sections a snapshot has only when they hold
// something: the paused queues, then the edges (see the format). When
// there are edges and no paused queue, the paused queues' count is 0.
func optionalSections(paused []string, edges []edgeEntry) []byte {
	if len(paused) == 0 && len(edges) == 0 {
		return nil
	}
	b := binary.AppendUvarint(nil, uint64(len(paused)))
	for _, q := range paused {
		b = appendString(b, q)
	}
	if len(edges) > 0 {
		b = appendEdges(b, edges)
	}
	return b
}

// hotInOrder yields the tasks of order that are not terminal, in enqueue
// order: order itself, filtered, or, after a retry put a task back out of
// place (s.unsorted), a sorted copy. It changes nothing in s.
func (s *State) hotInOrder() iter.Seq[*Task] {
	if !s.unsorted {
		return func(yield func(*Task) bool) {
			for _, t := range s.order {
				if !t.Status.Terminal() && !yield(t) {
					return
				}
			}
		}
	}
	var hot []*Task
	for _, t := range s.order {
		if !t.Status.Terminal() {
			hot = append(hot, t)
		}
	}
	slices.SortFunc(hot, func(a, b *Task) int { return cmp.Compare(a.EnqueuedPos, b.EnqueuedPos) })
	return slices.Values(hot)
}

// appendFields appends a task record's fields (everything after the id).
func appendFields(b []byte, t *Task, kind uint64, prevCreated events.Timestamp, prevPos uint64) ([]byte, error) {
	var parts byte
	if t.Paused {
		parts |= taskPaused
	}
	if t.argn > 0 {
		parts |= taskHasArgs
	}
	if t.spec != nil {
		parts |= taskHasSpec
		if len(t.spec.meta) > 0 {
			parts |= taskHasMeta
		}
		if t.spec.retried {
			parts |= taskRetried
		}
	}
	if t.out != nil {
		parts |= taskHasOutcome
	}
	b = binary.AppendUvarint(b, kind)
	b = append(b, byte(t.Status), parts)
	b = binary.AppendVarint(b, int64(t.Attempt))
	b = binary.AppendVarint(b, int64(t.Priority()))
	b = binary.AppendVarint(b, int64(t.Retries()))
	b = binary.AppendVarint(b, int64(t.ReadyAt))
	b = binary.AppendVarint(b, int64(t.LeaseDeadline))
	b = binary.AppendVarint(b, int64(t.CreatedAt-prevCreated))
	b = binary.AppendVarint(b, int64(t.UpdatedAt-t.CreatedAt))
	b = binary.AppendUvarint(b, t.EnqueuedPos-prevPos)
	b = binary.AppendUvarint(b, t.ReadySeq)
	var err error
	if parts&taskHasArgs != 0 {
		b = binary.AppendUvarint(b, uint64(t.argn))
		for _, v := range t.Args() {
			if b, err = appendValue(b, v, 1); err != nil {
				return nil, fmt.Errorf("args: %w", err)
			}
		}
	}
	if x := t.spec; x != nil {
		if b, err = appendValue(b, x.kwargs, 0); err != nil {
			return nil, fmt.Errorf("kwargs: %w", err)
		}
		b = binary.AppendUvarint(b, uint64(len(x.dependsOn)))
		for _, d := range x.dependsOn {
			b = appendString(b, d)
		}
		b = appendString(b, x.scheduleID)
		b = binary.AppendVarint(b, int64(x.ttl))
		b = binary.AppendVarint(b, int64(x.runAt))
		b = binary.AppendVarint(b, int64(x.maxRetries))
		b = append(b, boolByte(x.paused))
		b = binary.AppendVarint(b, int64(x.unmet))
		if parts&taskHasMeta != 0 {
			b = binary.AppendUvarint(b, uint64(len(x.meta)))
			for _, k := range slices.Sorted(maps.Keys(x.meta)) {
				b = appendString(appendString(b, k), x.meta[k])
			}
		}
		if x.retried {
			b = binary.AppendUvarint(b, uint64(x.retryBase))
		}
	}
	if o := t.out; o != nil {
		b = appendString(b, o.worker)
		if b, err = appendValue(b, o.result, 0); err != nil {
			return nil, fmt.Errorf("result: %w", err)
		}
		b = appendString(b, o.err)
		b = appendString(b, string(o.cancelReason))
		b = appendString(b, o.cancelledBy)
	}
	return b, nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// taskSlab is how many task records Restore allocates at once.
const taskSlab = 4096

// Restore decodes a snapshot made by Snapshot into a new State. Errors wrap
// ErrBadSnapshot. It never panics, and it allocates in proportion to len(b):
// every count is checked against the bytes left before anything is sized by
// it. The terminal tasks stay in b (see coldTasks): Restore checks their
// order and the head of each record, and a record whose rest does not decode
// reads as absent.
//
// REQUIRES: b is not modified afterwards; the state keeps it.
func Restore(b []byte) (*State, error) {
	if len(b) < 4 || string(b[:3]) != snapshotMagic {
		return nil, fmt.Errorf("%w: no snapshot header", ErrBadSnapshot)
	}
	if b[3] != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrBadSnapshot, b[3], snapshotVersion)
	}
	r := &reader{b: b, off: 4}
	s, err := r.restore()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	s.rebuildIDs()
	return s, nil
}

func (r *reader) restore() (*State, error) {
	position := r.uvarint()
	nkinds := r.count(2)
	kinds := make([]kindKey, 0, nkinds)
	for range nkinds {
		kinds = append(kinds, kindKey{r.string(), r.string()})
	}
	nhot := r.count(minTaskRecord)
	ids := string(r.bytes())
	if r.err != nil {
		return nil, r.err
	}
	s := newSized(nhot)
	s.position = position
	// Kinds are interned in table order, which depends only on the
	// snapshot's bytes.
	taskKinds := make([]*taskKind, len(kinds))
	for i, k := range kinds {
		taskKinds[i] = s.kindOf(k.fn, k.queue)
	}
	d := taskDecoder{kinds: taskKinds, s: s}
	var slab []Task
	var prevCreated events.Timestamp
	var prevPos uint64
	idOff := 0
	for range nhot {
		if len(slab) == 0 {
			slab = make([]Task, min(taskSlab, nhot-len(s.order)))
		}
		t := &slab[0]
		slab = slab[1:]
		n := r.uvarint()
		if n == 0 || n > uint64(len(ids)-idOff) {
			return nil, errors.New("bad task id length")
		}
		t.init(ids[idOff : idOff+int(n)])
		idOff += int(n)
		if err := d.fields(r, t, prevCreated, prevPos); err != nil {
			return nil, err
		}
		if t.Status.Terminal() {
			return nil, fmt.Errorf("task %s: %s in the hot section", t.ID, t.Status)
		}
		prevCreated, prevPos = t.CreatedAt, t.EnqueuedPos
		s.order = append(s.order, t)
		if !s.tasks.insert(s.order, len(s.order)-1) {
			return nil, fmt.Errorf("task %s: twice", t.ID)
		}
		t.kind.q.counts[t.Status]++
	}
	if idOff != len(ids) {
		return nil, errors.New("task ids do not fill the id table")
	}
	if err := r.restoreCold(s, taskKinds); err != nil {
		return nil, err
	}
	if raw := r.bytes(); len(raw) > 0 && r.err == nil {
		var scheds []*Schedule
		if err := events.UnmarshalValue(raw, &scheds); err != nil {
			return nil, err
		}
		for _, sc := range scheds {
			if sc == nil || sc.ID == "" || s.schedules[sc.ID] != nil {
				return nil, errors.New("bad schedule record")
			}
			sc.fireIdx = -1
			s.schedules[sc.ID] = sc
			if !sc.Deleted && !sc.Paused {
				s.fires.push(sc)
			}
		}
	}
	var edges []edgeEntry
	if r.err == nil && r.off < len(r.b) {
		prev := ""
		n := r.count(1)
		if r.err == nil && n == 0 && r.off == len(r.b) {
			return nil, errors.New("empty paused queues section")
		}
		for i := 0; i < n && r.err == nil; i++ {
			q := r.string()
			if i > 0 && q <= prev {
				return nil, errors.New("paused queues not sorted")
			}
			s.paused[q], prev = struct{}{}, q
		}
	}
	if r.err == nil && r.off < len(r.b) {
		var err error
		if edges, err = r.readEdges(s); err != nil {
			return nil, err
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(r.b) {
		return nil, fmt.Errorf("%d trailing bytes", len(r.b)-r.off)
	}
	s.rebuild()
	s.rebuildEdges(edges)
	return s, nil
}

// restoreCold reads the cold section into s.cold (nil when it is empty).
func (r *reader) restoreCold(s *State, kinds []*taskKind) error {
	n := r.count(minTaskRecord)
	bodyLen := r.fixed64()
	if r.err == nil && bodyLen > uint64(len(r.b)-r.off) {
		r.err = errTruncated
	}
	if r.err != nil {
		return r.err
	}
	body := r.b[r.off : r.off+int(bodyLen) : r.off+int(bodyLen)]
	r.off += int(bodyLen)
	width := int(r.byte())
	if r.err == nil && width != 4 && width != 8 {
		return fmt.Errorf("cold offsets %d bytes wide", width)
	}
	if r.err == nil && n > (len(r.b)-r.off)/width {
		r.err = errTruncated
	}
	if r.err != nil {
		return r.err
	}
	offs := r.b[r.off : r.off+n*width : r.off+n*width]
	r.off += n * width
	c, err := restoreCold(body, offs, width, n, kinds)
	if err != nil || n == 0 {
		return err
	}
	for _, t := range s.order {
		if c.find(t.ID) >= 0 {
			return fmt.Errorf("task %s: twice", t.ID)
		}
	}
	s.cold = c
	s.oldestEnd = c.oldestEnd
	return nil
}

// taskDecoder decodes the fields of task records.
type taskDecoder struct {
	kinds []*taskKind
	// s interns worker names and lends its records argument slabs; nil:
	// the decoder writes nothing to a state and sizes args exactly.
	s       *State
	argSlab []any
}

// fields reads a record's fields (see the format) into t, whose ID is set.
func (d *taskDecoder) fields(r *reader, t *Task, prevCreated events.Timestamp, prevPos uint64) error {
	k := r.uvarint()
	if r.err == nil && k >= uint64(len(d.kinds)) {
		return fmt.Errorf("task %s: kind %d of %d", t.ID, k, len(d.kinds))
	}
	if r.err == nil {
		t.kind = d.kinds[k]
	}
	t.Status = Status(r.byte())
	parts := r.byte()
	t.Paused = parts&taskPaused != 0
	t.Attempt = int(r.varint())
	priority, retries := int(r.varint()), int(r.varint())
	t.ReadyAt = events.Timestamp(r.varint())
	t.LeaseDeadline = events.Timestamp(r.varint())
	t.CreatedAt = prevCreated + events.Timestamp(r.varint())
	t.UpdatedAt = t.CreatedAt + events.Timestamp(r.varint())
	dpos := r.uvarint()
	t.EnqueuedPos = prevPos + dpos
	t.ReadySeq = r.uvarint()
	if r.err != nil {
		return r.err
	}
	if t.Status == 0 || t.Status >= statusEnd || dpos == 0 || t.EnqueuedPos < prevPos {
		return fmt.Errorf("task %s: bad record", t.ID)
	}
	spec := events.TaskSpec{Priority: priority, Retries: retries}
	if parts&taskHasArgs != 0 {
		n := r.count(1)
		if n == 0 {
			return fmt.Errorf("task %s: empty args", t.ID)
		}
		if d.s == nil {
			spec.Args = make([]any, n)
		} else {
			if n > len(d.argSlab) {
				d.argSlab = make([]any, max(n, taskSlab))
			}
			spec.Args = d.argSlab[:n:n]
			d.argSlab = d.argSlab[n:]
		}
		for i := range spec.Args {
			spec.Args[i] = r.readValue(1)
		}
	}
	var unmet int64
	if parts&taskHasSpec != 0 {
		r.readSpec(&spec)
		unmet = r.varint()
		if parts&taskHasMeta != 0 {
			spec.Meta = r.readMeta()
		}
	} else if parts&(taskHasMeta|taskRetried) != 0 {
		return fmt.Errorf("task %s: meta or retry without spec", t.ID)
	}
	var retryBase uint64
	if parts&taskRetried != 0 {
		retryBase = r.uvarint()
		if r.err == nil && retryBase > uint64(max(t.Attempt, 0)) {
			return fmt.Errorf("task %s: retry base %d past attempt %d", t.ID, retryBase, t.Attempt)
		}
	}
	t.setSpec(&spec)
	if parts&taskHasSpec != 0 {
		if t.spec == nil {
			t.spec = &taskSpecExtra{ttlIdx: -1}
		}
		if unmet < 0 || unmet > int64(len(spec.DependsOn)) {
			return fmt.Errorf("task %s: %d unmet of %d dependencies", t.ID, unmet, len(spec.DependsOn))
		}
		t.spec.unmet = int32(unmet)
		t.spec.retried, t.spec.retryBase = parts&taskRetried != 0, int(retryBase)
	}
	if parts&taskHasOutcome != 0 {
		o := &taskOutcome{}
		if d.s != nil {
			o.worker = r.internedString(d.s)
		} else {
			o.worker = r.string()
		}
		o.result = r.readValue(0)
		o.err = r.string()
		o.cancelReason = events.CancelReason(r.string())
		o.cancelledBy = r.string()
		t.out = o
	}
	return r.err
}

// readSpec reads the spec part of a task record into sp.
func (r *reader) readSpec(sp *events.TaskSpec) {
	switch kw := r.readValue(0).(type) {
	case nil:
	case map[string]any:
		sp.Kwargs = kw
	default:
		r.fail("kwargs are not a map")
	}
	if n := r.count(1); n > 0 {
		sp.DependsOn = make([]string, n)
		for i := range sp.DependsOn {
			sp.DependsOn[i] = r.string()
		}
	}
	sp.ScheduleID = r.string()
	sp.TTL = timeDuration(r.varint())
	sp.RunAt = events.Timestamp(r.varint())
	sp.MaxRetries = int(r.varint())
	sp.Paused = r.byte() != 0
}

// readMeta reads the meta part of a task record: at least one entry, keys
// strictly increasing.
func (r *reader) readMeta() map[string]string {
	n := r.count(2)
	if n == 0 {
		r.fail("empty meta")
		return nil
	}
	m := make(map[string]string, n)
	prev := ""
	for i := range n {
		k, v := r.string(), r.string()
		if r.err != nil {
			return nil
		}
		if i > 0 && k <= prev {
			r.fail("meta keys out of order")
			return nil
		}
		m[k], prev = v, k
	}
	return m
}

// rebuild derives the heaps and the dependency graph from the task records,
// in enqueue order, so that ties in the heaps break the same way as in the
// live state.
func (s *State) rebuild() {
	for _, t := range s.order {
		switch t.Status {
		case StatusPending:
			s.enqueueReady(t)
		case StatusRunning:
			if t.LeaseDeadline != 0 {
				s.leases.push(t)
			}
		}
		if (t.Status == StatusPending || t.Status == StatusWaiting) && t.TTLDeadline() != 0 {
			s.ttls.push(t)
		}
		if t.Status == StatusWaiting && t.spec != nil {
			for _, dep := range t.spec.dependsOn {
				if s.statusOf(dep) != StatusCompleted {
					s.dependants[dep] = append(s.dependants[dep], t.ID)
				}
			}
		}
	}
}

// uvarintLen is the length of binary.AppendUvarint's encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}
