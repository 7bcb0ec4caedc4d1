package stores

import (
	"errors"
	"fmt"
	"math"

	"github.com/omniq/omniq/events"
)

// BatchRun assembles what Read returns from batches kept whole, each stored
// at its first position with its count of events and its encoding
// (events.MarshalBatch), as the SQL backends keep them. Fed the batches from
// the one holding from onward, in position order, it checks that each
// starts where the one before ended, decodes them and keeps the events at
// from or later, up to max. When the first batch starts after from, the
// positions before it were truncated: the run starts there, as a Read from
// before First starts at First.
type BatchRun struct {
	from uint64 // the first position to keep
	next uint64 // the position the next batch must start at, once seen
	seen bool   // a batch was added
	max  int
	out  []events.Event
}

// NewBatchRun starts the run of a Read from position from (at least 1) of at
// most max (at least 1) events.
func NewBatchRun(from uint64, max int) *BatchRun {
	return &BatchRun{from: from, next: from, max: max, out: make([]events.Event, 0, min(max, 1024))}
}

// Add takes the batch of n events stored at first, encoded in data. Its
// errors wrap ErrCorrupt; their text ("read: …", "read batch at N: …") is
// meant to follow the backend's name.
func (r *BatchRun) Add(first uint64, n int64, data []byte) error {
	switch {
	case !r.seen && first > r.from:
		// No batch starts at or before from: the positions before first
		// were truncated, and the read starts at First.
		r.from = first
	case r.seen && first != r.next:
		return fmt.Errorf("read: %w: batch at %d, want %d", ErrCorrupt, first, r.next)
	}
	r.seen = true
	r.next = first + uint64(n)
	if r.next <= r.from {
		return nil // the batch before from; from is past the head
	}
	evs, err := events.UnmarshalBatch(data, first)
	if err != nil {
		return fmt.Errorf("read batch at %d: %w: %w", first, ErrCorrupt, err)
	}
	if int64(len(evs)) != n {
		return fmt.Errorf("read batch at %d: %w: %d events, row says %d", first, ErrCorrupt, len(evs), n)
	}
	for _, e := range evs {
		if e.Position >= r.from && len(r.out) < r.max {
			r.out = append(r.out, e)
		}
	}
	return nil
}

// Events returns the events the run kept.
func (r *BatchRun) Events() []events.Event { return r.out }

// Rows is what AddRows needs of the result of a query: database/sql's
// *sql.Rows and pgx's Rows both have it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// AddRows adds the batches of rows, each row a batch's first position, its
// count of events and its encoding, in that order. An error of rows (a
// failed Scan, or Err) is returned as it is, for the backend to map onto
// the sentinels; one of Add wraps ErrCorrupt, and its text is meant to
// follow the backend's name.
func (r *BatchRun) AddRows(rows Rows) error {
	for rows.Next() {
		var first, n int64
		var data []byte
		if err := rows.Scan(&first, &n, &data); err != nil {
			return err
		}
		if err := r.Add(uint64(first), n, data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ReadBatches is Read for a backend keeping whole batches as rows. A from
// of 0 reads from 1; a max below 1, or a from no signed 64-bit column
// holds, reads nothing. Else read runs the backend's query for the batches
// from the one holding from onward, up to max events, and feeds its rows
// to run (BatchRun.AddRows). An error of read wrapping ErrCorrupt reads
// "BACKEND: …"; interpret maps every other.
func ReadBatches(backend string, from uint64, max int, read func(from, max int64, run *BatchRun) error, interpret func(error) error) ([]events.Event, error) {
	if from == 0 {
		from = 1
	}
	if max <= 0 || from > math.MaxInt64 {
		return []events.Event{}, nil
	}
	run := NewBatchRun(from, max)
	if err := read(int64(from), int64(max), run); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("%s: %w", backend, err)
		}
		return nil, interpret(err)
	}
	return run.Events(), nil
}
