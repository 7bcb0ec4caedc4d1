// Package archive is the directory retention archives into: the events
// compaction removes from a log, as compressed JSON Lines, with an index of
// the task ids each file holds so that a lookup of a task that left the live
// state can say it was archived, and give its history back.
//
// A directory holds one file pair per compaction, named by the positions of
// its first and last event:
//
//	DIR/omniq-00000000000000000001-00000000000000052311.jsonl.gz
//	DIR/omniq-00000000000000000001-00000000000000052311.ids
//
// The .jsonl.gz file is gzip over the lines `omniqd export` writes (one
// events/eventjson record per event, with its original position), so `zcat
// DIR/*.jsonl.gz` followed by an export of the log is the whole history,
// except that a checkpoint's state is left out (LogCheckpoint.Elided): it
// is the compaction of the events before it, which a fold recomputes.
// Files never overlap: events at or below the last position already in the
// directory are skipped (a store that removes whole segments hands some
// archived events to the next compaction again). The .ids file is the
// sorted set of task and schedule ids named by the file's events:
//
//	+------+---+--------------------+-----------+
//	| OQI1 | n | n end offsets (u32)| ids bytes |
//	+------+---+--------------------+-----------+
//	  4 B   u32 LE
//
// A file pair is written under temporary names and renamed, .ids first,
// then the directory is synced, when the compaction calls Sync: a crash
// before that leaves only temporary files, which the next Open removes
// (the compaction that wrote them removed nothing from the log).
package archive

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
)

// ErrCorrupt: a file of the directory is not what this package writes.
var ErrCorrupt = errors.New("archive: corrupt file")

const (
	filePrefix = "omniq-"
	dataSuffix = ".jsonl.gz"
	idsSuffix  = ".ids"
	tmpSuffix  = ".tmp"
	idsMagic   = "OQI1"
)

// Dir is a retention archive directory. It implements engine.Archive
// (Write, Sync, String) and the lookups the engine uses for tasks that left
// the live state (Contains, History). Safe for concurrent use: lookups run
// while a compaction writes.
type Dir struct {
	path string

	mu     sync.Mutex
	files  []span // committed file pairs, in position order
	last   uint64 // last archived position (0: none)
	cur    *pending
	opened bool // the directory exists and temporary files were removed
}

// span is one committed file pair.
type span struct{ first, last uint64 }

func (s span) name(suffix string) string {
	return fmt.Sprintf("%s%020d-%020d%s", filePrefix, s.first, s.last, suffix)
}

// pending is the file pair a compaction is writing.
type pending struct {
	f     *os.File
	gz    *gzip.Writer
	w     *bufio.Writer
	ids   map[string]struct{}
	first uint64
	last  uint64
	line  []byte
}

// Open returns the archive in directory path, reading the names of its
// files. The directory is created only when something is archived.
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	d := &Dir{path: abs}
	if err := d.scan(); err != nil {
		return nil, err
	}
	return d, nil
}

// scan reads the committed file pairs. REQUIRES: d.mu held or d unshared.
func (d *Dir) scan() error {
	ents, err := os.ReadDir(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	d.files = d.files[:0]
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, filePrefix) || !strings.HasSuffix(name, dataSuffix) {
			continue
		}
		first, last, ok := parseName(strings.TrimSuffix(strings.TrimPrefix(name, filePrefix), dataSuffix))
		if !ok {
			continue
		}
		d.files = append(d.files, span{first, last})
	}
	slices.SortFunc(d.files, func(a, b span) int { return cmpU64(a.first, b.first) })
	for i, s := range d.files {
		if i > 0 && s.first <= d.files[i-1].last {
			return fmt.Errorf("%w: %s overlaps %s", ErrCorrupt, s.name(dataSuffix), d.files[i-1].name(dataSuffix))
		}
		d.last = s.last
	}
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func parseName(s string) (first, last uint64, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseUint(a, 10, 64)
	last, err2 := strconv.ParseUint(b, 10, 64)
	return first, last, err1 == nil && err2 == nil && first >= 1 && first <= last
}

// String implements engine.Archive: the directory's absolute path.
func (d *Dir) String() string { return d.path }

// Last returns the position of the last event archived (0: none).
func (d *Dir) Last() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// Write implements engine.Archive: it appends evs, in position order, to
// the file pair being written, skipping the events the directory holds
// already. Errors: the file system's, and ErrCorrupt-free refusals of an
// event that does not follow the last one.
func (d *Dir) Write(ctx context.Context, evs []events.Event) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ev := range evs {
		if ev.Position <= d.last || (d.cur != nil && ev.Position <= d.cur.last) {
			continue
		}
		if d.cur == nil {
			if err := d.begin(ev.Position); err != nil {
				return err
			}
		} else if ev.Position != d.cur.last+1 {
			return fmt.Errorf("archive: %s: event #%d does not follow #%d", d.path, ev.Position, d.cur.last)
		}
		var err error
		if d.cur.line, err = eventjson.Marshal(d.cur.line[:0], Elide(ev)); err != nil {
			return fmt.Errorf("archive: event #%d: %w", ev.Position, err)
		}
		if _, err := d.cur.w.Write(d.cur.line); err != nil {
			return fmt.Errorf("archive: %s: %w", d.path, err)
		}
		d.cur.ids[ev.TaskID] = struct{}{}
		d.cur.last = ev.Position
	}
	return ctx.Err()
}

// Elide returns ev without the state a checkpoint (or its part) carries,
// and any other event as it is: an archive holds every event before the
// checkpoint, whose compaction that state is, so a fold of the archive
// computes it (events.LogCheckpoint.Elided) instead of the archive holding
// a copy of the whole state per compaction.
func Elide(ev events.Event) events.Event {
	switch p := ev.Payload.(type) {
	case *events.LogCheckpoint:
		c := *p
		c.State, c.Parts, c.Elided = nil, 0, true
		ev.Payload = &c
	case *events.LogCheckpointPart:
		ev.Payload = &events.LogCheckpointPart{Index: p.Index}
	}
	return ev
}

// begin starts a file pair at position first. REQUIRES: d.mu held.
func (d *Dir) begin(first uint64) error {
	if !d.opened {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		// Temporary files are what a crash before a Sync left.
		tmps, _ := filepath.Glob(filepath.Join(d.path, filePrefix+"*"+tmpSuffix))
		for _, t := range tmps {
			_ = os.Remove(t)
		}
		d.opened = true
	}
	f, err := os.Create(filepath.Join(d.path, fmt.Sprintf("%s%020d%s%s", filePrefix, first, dataSuffix, tmpSuffix)))
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	// BestSpeed: the archive is written as fast as tasks end; level 1 costs a
	// fraction of the default's CPU for slightly larger files.
	gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	d.cur = &pending{f: f, gz: gz, w: bufio.NewWriterSize(gz, 1<<16), ids: map[string]struct{}{}, first: first, last: first - 1}
	return nil
}

// Sync implements engine.Archive: it completes the file pair being written
// (gzip trailer, id index, fsync, rename, directory fsync). Compaction
// removes nothing from the log before Sync returns. Nothing written: no-op.
func (d *Dir) Sync(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.cur
	if p == nil {
		return ctx.Err()
	}
	d.cur = nil
	tmp := p.f.Name()
	fail := func(err error) error {
		p.f.Close()
		os.Remove(tmp)
		return fmt.Errorf("archive: %s: %w", d.path, err)
	}
	if err := p.w.Flush(); err != nil {
		return fail(err)
	}
	if err := p.gz.Close(); err != nil {
		return fail(err)
	}
	if err := p.f.Sync(); err != nil {
		return fail(err)
	}
	if err := p.f.Close(); err != nil {
		return fail(err)
	}
	s := span{p.first, p.last}
	if err := writeIDs(filepath.Join(d.path, s.name(idsSuffix)), p.ids); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("archive: %s: %w", d.path, err)
	}
	if err := os.Rename(tmp, filepath.Join(d.path, s.name(dataSuffix))); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("archive: %s: %w", d.path, err)
	}
	if err := syncDir(d.path); err != nil {
		return fmt.Errorf("archive: %s: %w", d.path, err)
	}
	d.files = append(d.files, s)
	d.last = s.last
	return ctx.Err()
}

// writeIDs writes the sorted id index and fsyncs it.
func writeIDs(path string, ids map[string]struct{}) error {
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	b := append([]byte(idsMagic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(sorted)))
	end := 0
	for _, id := range sorted {
		end += len(id)
		b = binary.LittleEndian.AppendUint32(b, uint32(end))
	}
	for _, id := range sorted {
		b = append(b, id...)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Contains reports whether an archived event names id (a task or a
// schedule). It reads each file's id index with a binary search, newest
// file first, and keeps nothing in memory.
func (d *Dir) Contains(ctx context.Context, id string) (bool, error) {
	for _, s := range d.spans() {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		found, err := idsContain(filepath.Join(d.path, s.name(idsSuffix)), id)
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// spans returns the committed file pairs, newest first.
func (d *Dir) spans() []span {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.files)
	slices.Reverse(out)
	return out
}

// idsContain binary-searches the id index at path.
func idsContain(path, id string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	var head [8]byte
	if _, err := f.ReadAt(head[:], 0); err != nil || string(head[:4]) != idsMagic {
		return false, fmt.Errorf("%w: %s: no id index header", ErrCorrupt, path)
	}
	n := int64(binary.LittleEndian.Uint32(head[4:]))
	base := 8 + 4*n
	end := func(i int64) (int64, error) {
		if i < 0 {
			return 0, nil
		}
		var b [4]byte
		if _, err := f.ReadAt(b[:], 8+4*i); err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		return int64(binary.LittleEndian.Uint32(b[:])), nil
	}
	var ferr error
	buf := make([]byte, 0, 64)
	idAt := func(i int64) string {
		lo, err1 := end(i - 1)
		hi, err2 := end(i)
		if err := errors.Join(err1, err2); err != nil || hi < lo {
			ferr = cmpErr(ferr, err, path)
			return ""
		}
		buf = slices.Grow(buf[:0], int(hi-lo))[:hi-lo]
		if _, err := f.ReadAt(buf, base+lo); err != nil {
			ferr = cmpErr(ferr, err, path)
			return ""
		}
		return string(buf)
	}
	i := sort.Search(int(n), func(i int) bool { return idAt(int64(i)) >= id })
	if ferr != nil {
		return false, ferr
	}
	return int64(i) < n && idAt(int64(i)) == id, ferr
}

func cmpErr(prev, err error, path string) error {
	if prev != nil {
		return prev
	}
	if err == nil {
		err = errors.New("bad offsets")
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
}

// History returns every archived event that names id, in position order,
// reading only the files whose id index holds it.
func (d *Dir) History(ctx context.Context, id string) ([]events.Event, error) {
	spans := d.spans()
	slices.Reverse(spans)
	var out []events.Event
	for _, s := range spans {
		found, err := idsContain(filepath.Join(d.path, s.name(idsSuffix)), id)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		err = readFile(ctx, filepath.Join(d.path, s.name(dataSuffix)), func(ev events.Event) error {
			if ev.TaskID == id {
				out = append(out, ev)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Read calls fn for every event archived in directory path, in position
// order (none when the directory does not exist). It stops at fn's first
// error and returns it.
func Read(ctx context.Context, path string, fn func(events.Event) error) error {
	d, err := Open(path)
	if err != nil {
		return err
	}
	for _, s := range d.files {
		if err := readFile(ctx, filepath.Join(d.path, s.name(dataSuffix)), fn); err != nil {
			return err
		}
	}
	return nil
}

// readFile calls fn for each event of one compressed file.
func readFile(ctx context.Context, path string, fn func(events.Event) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	dec := eventjson.NewDecoder(gz)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ev, err := dec.Decode()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}
