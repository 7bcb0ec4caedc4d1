package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// ErrReadOnly: a Joined log refuses appends.
var ErrReadOnly = errors.New("archive: a joined history is read-only")

// Joined is the whole history of a compacted log as one read-only
// stores.Log: the events of the archive directory, then the log's events
// after the archive's last. The audit commands (replay, verify, export)
// read it like any log. Reads in position order stream each archive file
// once; a read elsewhere reopens the file that holds it. Where archive
// files overlap (see the package comment), each position is read from the
// first file that holds it, by first position. Safe for concurrent use by
// one reader at a time (the audit commands read from one goroutine); Close
// closes the log too.
type Joined struct {
	log  stores.Log
	dir  *Dir
	segs []segment

	cur *cursor // the open archive file
}

var _ stores.Log = (*Joined)(nil)

// segment is where Joined reads positions from..s.last: the file pair s,
// after the positions (s.first up to from) an earlier file holds too.
type segment struct {
	s    span
	from uint64
}

// Join returns the history of log preceded by the archive in directory dir.
// Errors: ErrCorrupt when the archive's files do not start at position 1,
// or leave a gap between them (files that overlap are read once).
func Join(log stores.Log, dir string) (*Joined, error) {
	d, err := open(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	var covered uint64 // every position up to covered is in a segment
	for _, s := range d.files {
		if s.first > covered+1 {
			return nil, fmt.Errorf("%w: %s starts at #%d, want #%d (events missing from the archive)", ErrCorrupt, s.name(dataSuffix), s.first, covered+1)
		}
		if s.last <= covered {
			continue // every position of s is in an earlier file
		}
		segs = append(segs, segment{s: s, from: covered + 1})
		covered = s.last
	}
	return &Joined{log: log, dir: d, segs: segs}, nil
}

// Archived returns the position of the last archived event (0: none).
func (j *Joined) Archived() uint64 { return j.dir.last }

// Append implements stores.Log: ErrReadOnly.
func (j *Joined) Append(context.Context, []events.Event) (uint64, error) { return 0, ErrReadOnly }

// Head implements stores.Log: the log's head, or the archive's last event
// when the log holds none after it.
func (j *Joined) Head(ctx context.Context) (uint64, error) {
	h, err := j.log.Head(ctx)
	return max(h, j.dir.last), err
}

// Close implements stores.Log: it closes the log.
func (j *Joined) Close() error {
	j.closeCursor()
	return j.log.Close()
}

// Read implements stores.Log.
func (j *Joined) Read(ctx context.Context, from uint64, n int) ([]events.Event, error) {
	from = max(from, 1)
	if from > j.dir.last || n < 1 {
		evs, err := j.log.Read(ctx, max(from, j.dir.last+1), n)
		return evs, err
	}
	var out []events.Event
	for len(out) < n && from <= j.dir.last {
		if err := j.seek(from); err != nil {
			return nil, err
		}
		ev, err := j.cur.read() // never io.EOF: seek keeps pos within the file
		if err != nil {
			name := j.cur.f.Name()
			j.closeCursor()
			return nil, fmt.Errorf("%w: archive %s at #%d: %v", stores.ErrCorrupt, name, from, err)
		}
		out = append(out, ev)
		from++
	}
	return out, ctx.Err()
}

// seek makes the cursor's next event the one at pos.
func (j *Joined) seek(pos uint64) error {
	if j.cur != nil && j.cur.next == pos && pos <= j.cur.s.last {
		return nil
	}
	j.closeCursor()
	i, _ := slices.BinarySearchFunc(j.segs, pos, func(g segment, pos uint64) int { return cmpU64(g.s.last, pos) })
	if i == len(j.segs) || pos < j.segs[i].from {
		return fmt.Errorf("%w: no archive file holds #%d", ErrCorrupt, pos)
	}
	c, err := openCursor(j.dir.path, j.segs[i].s)
	if err != nil {
		return err
	}
	j.cur = c
	for j.cur.next < pos { // skip to pos
		if _, err := j.cur.read(); err != nil {
			j.closeCursor()
			return err
		}
	}
	return nil
}

func (j *Joined) closeCursor() {
	if j.cur != nil {
		j.cur.close()
		j.cur = nil
	}
}
