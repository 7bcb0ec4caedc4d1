package file

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// recoverSegments opens every segment in l.dir, checks every record and
// builds the index, truncating a torn tail off the last segment (see
// "Recovery" in the package doc). It leaves the log with at least one
// segment and everything it holds fsynced. Segments it opened stay in l.segs
// even when it fails, so the caller can close them.
//
// REQUIRES: l holds the directory lock and is not yet shared.
func (l *Log) recoverSegments() error {
	firsts, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	firsts, err = l.dropTruncated(firsts)
	if err != nil {
		return err
	}
	want := uint64(1) // the position the next segment or record must start at
	if len(firsts) > 0 {
		want = firsts[0] // dropTruncated vouched for it
	}
	for i, first := range firsts {
		path := filepath.Join(l.dir, segmentName(first))
		if first != want {
			return corruptAt(path, 0, fmt.Errorf("segment starts at position %d, but the log continues at %d", first, want))
		}
		f, err := l.opts.openFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("file: open segment: %w", err)
		}
		seg := &segment{first: first, path: path, f: f, next: first}
		l.segs = append(l.segs, seg)

		data, err := readSegment(f)
		if err != nil {
			return fmt.Errorf("file: read segment %s: %w", path, err)
		}
		scan := scanSegment(data, first)
		seg.batches, seg.next, seg.size = scan.batches, scan.next, scan.end
		if scan.err != nil {
			if i != len(firsts)-1 || !scan.torn {
				return corruptAt(path, scan.end, scan.err)
			}
			// A torn write from a crash during Append: that batch was never
			// acknowledged, so dropping it loses nothing anyone was promised.
			if err := f.Truncate(scan.end); err != nil {
				return fmt.Errorf("file: truncate torn tail of %s: %w", path, err)
			}
		}
		want = seg.next
	}

	if len(l.segs) == 0 {
		seg, err := l.createSegment(1)
		if err != nil {
			return fmt.Errorf("file: %w", err)
		}
		l.segs = append(l.segs, seg)
	} else {
		// A process that crashed before its fsync may have left a batch in
		// the page cache that is readable now but not yet on disk. Make it
		// durable before anyone reads it (durable before visible), and make a
		// torn-tail truncation durable before appends land after it.
		if err := l.segs[len(l.segs)-1].f.Sync(); err != nil {
			return fmt.Errorf("file: fsync last segment: %w", err)
		}
		if err := l.opts.syncDir(l.dir); err != nil {
			return fmt.Errorf("file: fsync %s: %w", l.dir, err)
		}
	}
	l.head = want - 1
	return nil
}

// dropTruncated applies FIRST (see "Truncation" in the package doc) to the
// segment names firsts: without FIRST the log must start at position 1; with
// FIRST = f it must have a segment starting at f, and the segments before it
// are what a crash left of a truncation that had already recorded f: Open
// removes them, fsyncs the directory and returns the segments from f on.
// Segments before f are not read: FIRST says nobody needs them.
//
// REQUIRES: firsts sorted; l holds the directory lock.
func (l *Log) dropTruncated(firsts []uint64) ([]uint64, error) {
	first, ok, err := readFirst(l.dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		first = 1
	}
	i, found := slices.BinarySearch(firsts, first)
	switch {
	case found:
	case len(firsts) == 0 && !ok:
		return nil, nil // a new log
	case len(firsts) == 0:
		return nil, corruptAt(filepath.Join(l.dir, firstName), 0, fmt.Errorf("the log starts at position %d, but there is no segment", first))
	case !ok:
		path := filepath.Join(l.dir, segmentName(firsts[0]))
		return nil, corruptAt(path, 0, fmt.Errorf("segment starts at position %d, but the log starts at 1 (no %s file records a truncation)", firsts[0], firstName))
	default:
		path := filepath.Join(l.dir, segmentName(firsts[min(i, len(firsts)-1)]))
		return nil, corruptAt(path, 0, fmt.Errorf("%s says the log starts at position %d, but no segment starts there", firstName, first))
	}
	if i == 0 {
		return firsts, nil
	}
	for _, f := range firsts[:i] {
		if err := os.Remove(filepath.Join(l.dir, segmentName(f))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("file: remove truncated segment: %w", err)
		}
	}
	if err := l.opts.syncDir(l.dir); err != nil {
		return nil, fmt.Errorf("file: fsync %s: %w", l.dir, err)
	}
	return firsts[i:], nil
}

// listSegments returns the first positions named by the segment files in
// dir, in order. Files with other names are not segments and are ignored.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("file: list %s: %w", dir, err)
	}
	var firsts []uint64
	for _, e := range entries {
		if first, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			firsts = append(firsts, first)
		}
	}
	slices.Sort(firsts)
	return firsts, nil
}

// readSegment reads a whole segment file. Recovery holds one segment in
// memory at a time, so its cost is the segment size plus at most one batch.
func readSegment(f segmentFile) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, fi.Size()), data); err != nil {
		return nil, err
	}
	return data, nil
}

// scanResult is what scanSegment found in one segment.
type scanResult struct {
	batches []batchRef
	next    uint64 // position after the last good record's events
	end     int64  // offset just past the last good record
	err     error  // why the scan stopped before the end; nil when it did not
	// torn: the damage at end may be a torn write, because it is a damaged
	// record with no valid record anywhere after it. False for a record that
	// is intact but does not fit, which no crash can produce.
	torn bool
}

// scanSegment checks the records in data, the whole of a segment file whose
// first event should be at position want. It never panics.
func scanSegment(data []byte, want uint64) scanResult {
	r := scanResult{next: want}
	for int(r.end) < len(data) {
		off := int(r.end)
		body, n, err := parseRecord(data[off:])
		if err != nil {
			r.err = err
			r.torn = !validRecordAfter(data, off+1)
			return r
		}
		first, count, _ := splitBody(body)
		if first != r.next || count == 0 {
			r.err = fmt.Errorf("record holds %d events from position %d, but the log continues at %d", count, first, r.next)
			return r
		}
		r.batches = append(r.batches, batchRef{first: first, off: r.end})
		r.next = first + uint64(count)
		r.end += int64(n)
	}
	return r
}

// validRecordAfter reports whether a checksummed record starts at any offset
// from off on. It tells a torn tail (nothing valid follows) from damage in
// the middle (later records survive), whatever the damaged header claims.
// A torn tail is at most one record long and real damage is followed by a
// record boundary within one record, so the search is short in practice.
func validRecordAfter(data []byte, off int) bool {
	for p := off; p+headerLen <= len(data); p++ {
		if _, _, err := parseRecord(data[p:]); err == nil {
			return true
		}
	}
	return false
}
