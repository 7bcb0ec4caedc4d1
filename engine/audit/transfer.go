package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
	"github.com/omniq/omniq/stores"
)

// Errors of Export and Import. Match them with errors.Is.
var (
	// ErrNotEmpty: Import refuses a target log that already holds events.
	ErrNotEmpty = errors.New("audit: import needs an empty target log")
	// ErrPositions: the input's positions are not 1, 2, 3, …, or the target
	// gave an event another position than the input had.
	ErrPositions = errors.New("audit: positions do not line up")
	// ErrBadRange: Export's From is after its Until or beyond the head.
	ErrBadRange = errors.New("audit: bad export range")
)

// ExportOptions tunes Export.
type ExportOptions struct {
	// From and Until bound the positions written, both included (0: from the
	// log's first position, 1 unless it was compacted; 0: to the head).
	From, Until uint64
	// Progress, when set, is called now and then with the events written
	// and the number to write.
	Progress func(done, total uint64)
}

// Export writes the events From..Until of log to w as JSON Lines, one
// record per event (events/eventjson), in position order, and returns how
// many it wrote. Errors: ErrBadRange, errors wrapping
// eventjson.ErrUnrepresentable (an event the format cannot write exactly; the
// events before it are written), the store's and w's.
func Export(ctx context.Context, log stores.Log, w io.Writer, opts ExportOptions) (uint64, error) {
	head, err := log.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: export: head: %w", err)
	}
	first, err := firstPosition(ctx, log)
	if err != nil {
		return 0, err
	}
	if opts.From != 0 && opts.From < first {
		return 0, fmt.Errorf("%w: from %d, but the log was compacted and starts at %d", ErrBadRange, opts.From, first)
	}
	from, until := max(opts.From, first), opts.Until
	if until == 0 || until > head {
		until = head
	}
	if opts.Until != 0 && opts.Until > head {
		return 0, fmt.Errorf("%w: --until %d is beyond the head %d", ErrBadRange, opts.Until, head)
	}
	if from > until {
		if from == head+1 && opts.From == 0 && opts.Until == 0 {
			return 0, nil // an empty log exports as an empty file
		}
		return 0, fmt.Errorf("%w: from %d to %d (head %d)", ErrBadRange, from, until, head)
	}
	total := until - from + 1
	bw := bufio.NewWriterSize(w, 1<<16)
	var n uint64
	var line []byte
	err = stores.ReadAll(ctx, capped{log, until}, from, 4096, func(ev events.Event) error {
		if ev.Position != from+n {
			return fmt.Errorf("%w: read position %d, want %d", stores.ErrCorrupt, ev.Position, from+n)
		}
		var err error
		if line, err = eventjson.Marshal(line[:0], ev); err != nil {
			return err
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
		n++
		if opts.Progress != nil && n%4096 == 0 {
			opts.Progress(n, total)
		}
		return nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if opts.Progress != nil {
		opts.Progress(n, total)
	}
	if err != nil {
		return n, fmt.Errorf("audit: export: %w", err)
	}
	return n, nil
}

// ImportOptions tunes Import.
type ImportOptions struct {
	// BatchSize is how many events one Append writes (default 1000). A batch
	// never ends right after a task.lease_expired or a schedule.fired: their
	// follow-ups stay in the same batch, as the engine wrote them.
	BatchSize int
	// Progress, when set, is called after each append with the events
	// imported so far.
	Progress func(done uint64)
}

// Import appends the JSON Lines records read from r to log, which must be
// empty, without events or snapshot (ErrNotEmpty), keeping their order, ids, times and payloads, and
// returns how many it appended. The records' positions must be 1, 2, 3, …
// and the log must give each event the position it had (ErrPositions).
//
// A record may repeat a position read before if it is the same event (the
// same id): a compaction archive followed by the export of the compacted log
// repeats the archived events a store kept (the file store removes whole
// segments only). Repeats are skipped; a repeat that is another event is
// ErrPositions. An import that fails leaves the events appended so far in log.
func Import(ctx context.Context, log stores.Log, r io.Reader, opts ImportOptions) (uint64, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	head, err := log.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: import: head: %w", err)
	}
	if head != 0 {
		return 0, fmt.Errorf("%w: it holds %d events", ErrNotEmpty, head)
	}
	if ss, ok := log.(stores.SnapshotStore); ok {
		// A snapshot left from another history would be taken for this one's.
		if pos, _, err := ss.LoadSnapshot(ctx); err == nil {
			return 0, fmt.Errorf("%w: it holds a snapshot (at position %d)", ErrNotEmpty, pos)
		}
	}
	dec := eventjson.NewDecoder(r)
	seen := &imported{log: log}
	out := &appender{log: log, size: opts.BatchSize, batch: make([]events.Event, 0, opts.BatchSize+1), misplaced: ErrPositions}
	if opts.Progress != nil {
		out.appended = func() { opts.Progress(out.head) }
	}
	for {
		ev, err := dec.Decode()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out.head, fmt.Errorf("audit: import: %w", err)
		}
		want := out.next()
		if ev.Position != 0 && ev.Position < want {
			if err := seen.check(ctx, ev, out.head, out.batch); err != nil {
				return out.head, fmt.Errorf("audit: import: line %d: %w", dec.Line(), err)
			}
			continue
		}
		if ev.Position != want {
			return out.head, fmt.Errorf("audit: import: line %d: %w: position %d, want %d (the input must be a whole log, from position 1, "+
				"without gaps; for a compacted log, put its archive first)", dec.Line(), ErrPositions, ev.Position, want)
		}
		if err := out.add(ctx, ev); err != nil {
			return out.head, fmt.Errorf("audit: import: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return out.head, err
		}
	}
	if err := out.flush(ctx); err != nil {
		return out.head, fmt.Errorf("audit: import: %w", err)
	}
	n := out.head
	if head, err := log.Head(ctx); err != nil {
		return n, fmt.Errorf("audit: import: head: %w", err)
	} else if head != n {
		return n, fmt.Errorf("audit: import: %w: the target's head is %d after appending %d events", ErrPositions, head, n)
	}
	return n, nil
}

// appender appends events to a log at the positions they carry, in batches
// of size events or more that never end between an event and its
// same-batch follow-up (needsFollowUp). INVARIANT: head is the log's head,
// and batch holds the events head+1, head+2, … not appended yet.
type appender struct {
	log   stores.Log
	size  int
	head  uint64
	batch []events.Event
	// misplaced is the error for a log that puts a batch at other positions
	// (it has another writer); appended, when set, is called after each
	// append.
	misplaced error
	appended  func()
}

// next returns the position the next event added must carry.
func (a *appender) next() uint64 { return a.head + uint64(len(a.batch)) + 1 }

// add adds ev, at position next(), and appends the batch once it is full.
func (a *appender) add(ctx context.Context, ev events.Event) error {
	a.batch = append(a.batch, ev)
	if len(a.batch) >= a.size && !needsFollowUp(ev) {
		return a.flush(ctx)
	}
	return nil
}

// flush appends the batch, if any.
func (a *appender) flush(ctx context.Context) error {
	if len(a.batch) == 0 {
		return nil
	}
	from, to := a.batch[0].Position, a.batch[len(a.batch)-1].Position
	first, err := a.log.Append(ctx, a.batch)
	if err != nil {
		return fmt.Errorf("append #%d..#%d: %w", from, to, err)
	}
	if first != from {
		return fmt.Errorf("%w: #%d..#%d were put at #%d (has the log another writer?)", a.misplaced, from, to, first)
	}
	a.head += uint64(len(a.batch))
	a.batch = a.batch[:0]
	if a.appended != nil {
		a.appended()
	}
	return nil
}

// needsFollowUp reports whether the engine always writes another event in
// the same batch after ev.
func needsFollowUp(ev events.Event) bool {
	switch ev.Type() {
	case events.TypeTaskLeaseExpired, events.TypeScheduleFired:
		return true
	}
	return false
}

// imported checks a record that repeats a position Import has read before
// against the event read there first, which is in the pending batch or was
// appended to the target (read back a page at a time).
type imported struct {
	log  stores.Log
	page []events.Event
}

// check compares ev with the event Import took at its position; n events
// were appended so far and batch holds those read since.
func (s *imported) check(ctx context.Context, ev events.Event, n uint64, batch []events.Event) error {
	var first events.Event
	if ev.Position > n {
		first = batch[ev.Position-n-1]
	} else {
		if len(s.page) == 0 || ev.Position < s.page[0].Position || ev.Position > s.page[len(s.page)-1].Position {
			page, err := s.log.Read(ctx, ev.Position, 4096)
			if err != nil {
				return fmt.Errorf("read back #%d: %w", ev.Position, err)
			}
			if len(page) == 0 || page[0].Position != ev.Position {
				return fmt.Errorf("%w: #%d cannot be read back from the target", ErrPositions, ev.Position)
			}
			s.page = page
		}
		first = s.page[ev.Position-s.page[0].Position]
	}
	if first.ID != ev.ID {
		return fmt.Errorf("%w: position %d comes again with another event (id %s; the first was %s)", ErrPositions, ev.Position, ev.ID, first.ID)
	}
	return nil
}
