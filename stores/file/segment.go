package file

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

const segmentSuffix = ".seg"

// segmentName is the file name of the segment whose first event is at
// position first. Zero-padding makes names sort in position order.
func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

// parseSegmentName returns the first position a segment file name carries,
// and false for any name segmentName does not make.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	return first, err == nil
}

// segment is one file of the log: the records of consecutive batches, the
// first of which holds position first.
//
// Lock: size, next and batches are written with both Log.appendMu and Log.mu
// held, so holding either one is enough to read them.
type segment struct {
	first uint64
	path  string
	f     segmentFile

	// INVARIANT: bytes [0, size) of the file are exactly the records listed
	// in batches, all checksummed and fsynced; the next record goes at size.
	size int64
	// next is the position after the last event in the segment (first when
	// the segment is empty). INVARIANT: the next segment, if any, starts at next.
	next uint64
	// batches indexes the records in file order.
	// INVARIANT: batches[i+1].first == batches[i].first + (its event count).
	batches []batchRef
}

// batchRef locates one record: the index entry from position to offset.
type batchRef struct {
	first uint64 // position of the batch's first event
	off   int64  // offset of the batch's record in the segment file
}

// batchNext is the position after the last event of batch i.
func (s *segment) batchNext(i int) uint64 {
	if i+1 < len(s.batches) {
		return s.batches[i+1].first
	}
	return s.next
}

// batchEnd is the offset just past the record of batch i.
func (s *segment) batchEnd(i int) int64 {
	if i+1 < len(s.batches) {
		return s.batches[i+1].off
	}
	return s.size
}

// write appends rec at the end of the segment and fsyncs it. It does not
// update the index; the caller publishes the record once write succeeds.
//
// On failure it cuts the file back to its last acknowledged size, so a
// reopen in this boot finds only batches whose Append returned nil. It does
// not fsync that cut: after a failed write or fsync the caller stops writing
// altogether (see the package doc), and the batch's fate is reported as
// unknown either way.
//
// Lock: Log.appendMu.
func (s *segment) write(rec []byte) error {
	if _, err := s.f.WriteAt(rec, s.size); err != nil {
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("write %s at offset %d: %w", s.path, s.size, err)
	}
	if err := s.f.Sync(); err != nil {
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("fsync %s: %w", s.path, err)
	}
	return nil
}

// read returns up to limit events with position >= from held in this
// segment, in position order. It reads every record it needs with one ReadAt.
//
// Lock: Log.mu (read), which also keeps Close from closing s.f meanwhile.
func (s *segment) read(from uint64, limit int) ([]events.Event, error) {
	if from >= s.next || limit <= 0 {
		return nil, nil
	}
	// The batch holding from: the last one that starts at or before it.
	lo := sort.Search(len(s.batches), func(i int) bool { return s.batches[i].first > from }) - 1
	if lo < 0 {
		lo = 0
	}
	// Take batches until they hold limit events at or after from.
	hi, have := lo, 0
	for hi < len(s.batches) && have < limit {
		have += int(s.batchNext(hi) - max(from, s.batches[hi].first))
		hi++
	}
	if hi == lo {
		return nil, nil
	}
	start, end := s.batches[lo].off, s.batchEnd(hi-1)
	buf := make([]byte, end-start)
	if _, err := s.f.ReadAt(buf, start); err != nil {
		return nil, s.readError(start, err)
	}

	out := make([]events.Event, 0, min(have, limit))
	for i := lo; i < hi; i++ {
		off := s.batches[i].off
		body, _, err := parseRecord(buf[off-start : s.batchEnd(i)-start])
		if err != nil {
			return nil, s.corrupt(off, err)
		}
		if first, _, _ := splitBody(body); first != s.batches[i].first {
			return nil, s.corrupt(off, fmt.Errorf("record holds position %d, index says %d", first, s.batches[i].first))
		}
		evs, err := decodeBody(body)
		if err != nil {
			return nil, s.corrupt(off, err)
		}
		for _, e := range evs {
			if e.Position >= from && len(out) < limit {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// readError maps an error from reading the segment onto the stores sentinels
// (the one place this backend does so for reads): a file shorter than its
// index says was cut by someone else and is corrupt; anything else is the
// disk failing now.
func (s *segment) readError(off int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return s.corrupt(off, fmt.Errorf("file ends before its indexed records: %w", err))
	}
	if errors.Is(err, os.ErrClosed) {
		return stores.ErrClosed
	}
	return fmt.Errorf("file: read %s at offset %d: %w: %w", s.path, off, stores.ErrUnavailable, err)
}

// corrupt reports damage at off in this segment.
func (s *segment) corrupt(off int64, err error) error {
	return corruptAt(s.path, off, err)
}

// corruptAt is the error for damage at offset off of the file at path.
func corruptAt(path string, off int64, err error) error {
	return fmt.Errorf("file: %s at offset %d: %w: %w", path, off, stores.ErrCorrupt, err)
}
