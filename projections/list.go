package projections

import (
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/omniq/omniq/events"
)

// This file holds listing: paging through the tasks in id order from a
// cursor. The cursor is sought in the id indexes (idindex.go) and the
// restored cold section, whose ids are sorted, and the three are merged.
// A record that does not pass the scan's cheap tests (queue, func, status,
// enqueue time: read from the head of a cold record, never decoding it) is
// passed over, and so are the index blocks that hold no task of the
// scan's queue or func (see the block summaries in idindex.go); the work
// of a page is bounded by Scan.Budget.

// Scan says which tasks a listing passes to its callback: those whose id
// sorts after After and that match every set field.
type Scan struct {
	After       string
	Queue, Func string
	// Statuses has bit 1<<st set for each status st wanted (0: every
	// status but StatusDeleted). Deleted tasks are passed only when asked
	// for.
	Statuses uint16
	// CreatedFrom and CreatedTo bound CreatedAt: at or after CreatedFrom,
	// before CreatedTo (0: unbounded).
	CreatedFrom, CreatedTo events.Timestamp
	// Budget is the most records examined, matching or not (<= 0: no
	// bound).
	Budget int
}

// StatusBit returns the Scan.Statuses bit of st.
func StatusBit(st Status) uint16 { return 1 << st }

func (sc *Scan) wants(queue, fn string, st Status, created events.Timestamp) bool {
	if sc.Statuses == 0 {
		if st == StatusDeleted {
			return false
		}
	} else if sc.Statuses&StatusBit(st) == 0 {
		return false
	}
	return (sc.Queue == "" || queue == sc.Queue) && (sc.Func == "" || fn == sc.Func) &&
		(sc.CreatedFrom == 0 || created >= sc.CreatedFrom) && (sc.CreatedTo == 0 || created < sc.CreatedTo)
}

// liveStatuses are the statuses of tasks that have not ended (hotIDs).
const liveStatuses = 1<<StatusWaiting | 1<<StatusPending | 1<<StatusRunning

// ScanTasks calls fn, in id order, for every task that sc passes, until fn
// returns false or sc.Budget records were examined. It returns the id of
// the last record examined ("" when none was) and whether records may be
// left past it (false only when the scan reached the end). Cold records
// are decoded only for fn, and one that does not decode reads as absent,
// as in Task. The seek costs O(log n); the rest, the records examined.
// A scan only of statuses that have not ended examines no ended task, and
// the reverse; a scan only of running tasks examines only them; a scan of
// a queue or a func skips the index blocks whose summary shows none of its
// tasks, without examining them.
func (s *State) ScanTasks(sc Scan, fn func(*Task) bool) (last string, more bool) {
	live, ended := true, true
	if sc.Statuses != 0 {
		live, ended = sc.Statuses&liveStatuses != 0, sc.Statuses&^liveStatuses != 0
	}
	// Blocks whose summary lacks the queue's or the func's bit hold none
	// of their tasks: the iterators skip them unread.
	var want uint64
	if sc.Queue != "" {
		want |= kindSum(sc.Queue, "") & 0xffffffff
	}
	if sc.Func != "" {
		want |= kindSum("", sc.Func) &^ 0xffffffff
	}
	var srcs [2]listIter[*Task] // hot: not ended, ended
	var recent listIter[uint64]
	if live {
		srcs[0] = s.hotIDs.from(sc.After, want)
		if sc.Statuses == StatusBit(StatusRunning) {
			srcs[0] = s.runningIDs().from(sc.After, want)
		}
	}
	c, ci := s.cold, s.cold.count()
	if ended {
		srcs[1] = s.endedIDs.from(sc.After, want)
		recent = s.recentIDs.from(sc.After, want)
		if c != nil {
			ci = sort.Search(c.n, func(i int) bool { return string(c.id(i)) > sc.After })
		}
	}
	examined := 0
	for {
		for ci < c.count() && c.isThawed(ci) {
			ci++
		}
		var hot *Task
		src := -1 // 0, 1: srcs; 2: recent, 3: cold
		for i := range srcs {
			if t, ok := srcs[i].peek(); ok && (hot == nil || t.ID < hot.ID) {
				hot, src = t, i
			}
		}
		var rec []byte
		var kinds []*taskKind
		if ref, ok := recent.peek(); ok {
			if r := s.recent.record(ref); src < 0 || string(recordID(r)) < hot.ID {
				rec, kinds, src = r, s.recent.kinds, 2
			}
		}
		if ci < c.count() {
			if id := c.id(ci); src < 0 || src < 2 && string(id) < hot.ID || src == 2 && string(id) < string(recordID(rec)) {
				rec, kinds, src = c.record(ci), c.kinds, 3
			}
		}
		if src < 0 {
			return last, false
		}
		if sc.Budget > 0 && examined == sc.Budget {
			return last, true
		}
		examined++
		var t *Task
		switch src {
		case 0, 1:
			srcs[src].next()
			last = hot.ID
			if sc.wants(hot.Queue(), hot.Func(), hot.Status, hot.CreatedAt) {
				t = hot
			}
		default:
			if src == 2 {
				recent.next()
			} else {
				ci++
			}
			last = string(recordID(rec))
			kd, st, created, err := recordScanHead(rec, kinds)
			if err != nil || !sc.wants(kd.queue, kd.fn, st, created) {
				continue
			}
			if t, err = decodeRecord(rec, kinds); err != nil {
				continue // reads as absent, as in Task
			}
		}
		if t != nil && !fn(t) {
			return last, true
		}
	}
}

// listIter walks an idList from a place, skipping the blocks whose
// summary lacks the bits of want (the zero value walks nothing).
type listIter[E comparable] struct {
	l    *idList[E]
	b, i int
	want uint64
}

// from returns an iterator at the first entry whose id sorts after id.
func (l *idList[E]) from(id string, want uint64) listIter[E] {
	b, i := l.seek(id)
	return listIter[E]{l: l, b: b, i: i, want: want}
}

// peek returns the entry the iterator is at; false at the end.
func (it *listIter[E]) peek() (E, bool) {
	if it.l == nil {
		var zero E
		return zero, false
	}
	for it.b < len(it.l.blocks) && it.l.sums[it.b]&it.want != it.want {
		it.b, it.i = it.b+1, 0
	}
	if it.b == len(it.l.blocks) {
		var zero E
		return zero, false
	}
	return it.l.blocks[it.b][it.i], true
}

// next moves past the entry peek returned.
func (it *listIter[E]) next() {
	if it.i++; it.i == len(it.l.blocks[it.b]) {
		it.b, it.i = it.b+1, 0
	}
}

// runningIDs returns the running tasks in id order: those of the lease
// timer, which holds every running task (a few per worker), so that a
// listing of running tasks does not pass over every pending one.
func (s *State) runningIDs() *idList[*Task] {
	l := newHotIDs()
	running := make([]*Task, 0, s.leases.Len())
	for _, t := range s.leases.items {
		if t.Status == StatusRunning {
			running = append(running, t)
		}
	}
	slices.SortFunc(running, func(a, b *Task) int { return strings.Compare(a.ID, b.ID) })
	if len(running) > 0 {
		l.blocks, l.sums, l.n = [][]*Task{running}, []uint64{l.blockSum(running)}, len(running)
	}
	return l
}

var errBadKind = errors.New("bad kind index")

// recordScanHead reads what a scan tests from the head of a cold record:
// its kind, status and CreatedAt (see recordUpdatedAt for the layout).
func recordScanHead(rec []byte, kinds []*taskKind) (*taskKind, Status, events.Timestamp, error) {
	_, k, _, so, err := recordHead(rec)
	if err != nil {
		return nil, 0, 0, err
	}
	if k >= uint64(len(kinds)) {
		return nil, 0, 0, errBadKind
	}
	r := reader{b: rec, off: so + 2} // status, parts
	for range 5 {                    // attempt, priority, retries, ready at, lease deadline
		r.varint()
	}
	created := events.Timestamp(r.varint())
	if r.err != nil {
		return nil, 0, 0, r.err
	}
	return kinds[k], Status(rec[so]), created, nil
}

// TasksAfter calls fn for every task whose id sorts after after, in id
// order, until fn returns false: Tasks from a cursor, for paging through
// the state (ScanTasks without a filter or a bound).
func (s *State) TasksAfter(after string, fn func(*Task) bool) {
	s.ScanTasks(Scan{After: after, Statuses: ^uint16(0)}, fn)
}
