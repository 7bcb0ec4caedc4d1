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
// is the compaction of the events before it, which a fold recomputes. The
// .ids file is the sorted set of task and schedule ids named by the file's
// events:
//
//	+------+---+--------------------+-----------+
//	| OQI1 | n | n end offsets (u32)| ids bytes |
//	+------+---+--------------------+-----------+
//	  4 B   u32 LE
//
// Several processes may archive into one directory (engines compacting one
// shared log, each with its own Dir on the same path). The files this
// package writes do not overlap: a writer holds an exclusive flock on
// DIR/.lock from the first Write of a compaction to its Sync, reads the
// directory's file names again when it takes the lock, and skips the events
// at or below the last position the directory then holds (a store that
// removes whole segments, or another process that archived the same events
// first, hands it some archived events again). Readers do not rely on that:
// a directory merged by hand from several archives, or written by several
// processes before the lock existed, may hold files that overlap. Where the
// overlapping files hold the same events (by ID) at the same positions, every
// read gives each position once, in order; files that disagree about an
// event are ErrCorrupt. A gap between files (events never archived) is read
// over by Read and History, and refused by Join.
//
// A file pair is written under temporary names unique to the writer
// (omniq-<first>.jsonl.gz.<pid>-<random>.tmp) and renamed, .ids first, then
// the directory is synced, when the compaction calls Sync: a crash before
// that leaves only temporary files (the compaction that wrote them removed
// nothing from the log). Those are removed once they are older than
// staleTmp, by Open when no writer holds the lock and by a writer when it
// takes the lock; a live writer's temporary files are never removed.
package archive

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
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
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/sys/unix"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
)

// ErrCorrupt: a file of the directory is not what this package writes, or
// two files disagree about the event at a position.
var ErrCorrupt = errors.New("archive: corrupt file")

const (
	filePrefix = "omniq-"
	dataSuffix = ".jsonl.gz"
	idsSuffix  = ".ids"
	tmpSuffix  = ".tmp"
	idsMagic   = "OQI1"
	lockName   = ".lock"
)

// staleTmp is the age (by modification time) past which a temporary file is
// taken for a crashed writer's. A writer that holds the lock is never
// removed from under, whatever the age of its files; the age only guards the
// files of a writer that does not take the lock (an older version).
const staleTmp = 15 * time.Minute

// idleLimit is how long a compaction may hold the directory's lock without
// a Write or a Sync before it is abandoned (its temporary file removed, the
// lock released), so that a compaction that failed without calling Sync
// does not keep other processes from archiving. A var for tests.
var idleLimit = staleTmp

// Dir is a retention archive directory. It implements engine.Archive
// (Write, Sync, String) and the lookups the engine uses for tasks that left
// the live state (Contains, History). Safe for concurrent use: lookups run
// while a compaction writes. One compaction at a time writes through a Dir
// (a Write, then more, then Sync); Dir values in other processes, or in
// this one, on the same directory wait for its Sync.
type Dir struct {
	path string

	mu      sync.Mutex // guards files, last, scanned, settled
	files   []span     // committed file pairs, by first position, then longest first
	last    uint64     // last archived position (0: none)
	scanned time.Time  // the directory's modification time at the last scan
	settled bool       // scanned was well before the scan

	wmu     sync.Mutex // serializes Write, Sync and the idle check; guards what follows
	cur     *pending   // the file pair being written (nil: none)
	lock    *os.File   // DIR/.lock, flocked, from a compaction's first Write to its Sync
	gen     uint64     // counts lock acquisitions: an idle check of an earlier one does nothing
	touched time.Time  // the last Write while the lock is held
	idle    *time.Timer
	lost    error // why a compaction was abandoned, for its next Write or Sync
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
// files. The directory is created only when something is archived. When the
// directory exists and no writer holds it, temporary files older than
// staleTmp (a crashed writer's) are removed.
func Open(path string) (*Dir, error) {
	d, err := open(path)
	if err != nil {
		return nil, err
	}
	d.cleanIfIdle()
	return d, nil
}

// open is Open without removing anything (for readers).
func open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	d := &Dir{path: abs}
	if err := d.scan(false); err != nil {
		return nil, err
	}
	return d, nil
}

// cleanIfIdle removes stale temporary files when no writer holds the lock.
// Best effort: a read-only directory keeps them.
func (d *Dir) cleanIfIdle() {
	f, err := os.OpenFile(filepath.Join(d.path, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // a writer is at work: it cleans when it next takes the lock
	}
	removeStale(d.path, time.Now())
}

// removeStale removes the temporary files in dir older than staleTmp.
func removeStale(dir string, now time.Time) {
	tmps, _ := filepath.Glob(filepath.Join(dir, filePrefix+"*"+tmpSuffix))
	for _, t := range tmps {
		if fi, err := os.Lstat(t); err == nil && now.Sub(fi.ModTime()) > staleTmp {
			_ = os.Remove(t)
		}
	}
}

// scan reads the committed file pairs. Files may overlap (see the package
// comment); d.last is the highest position any holds. With ifChanged it
// reads them only when the directory changed since the last scan (another
// process committed a file pair). REQUIRES: d.mu held or d unshared.
func (d *Dir) scan(ifChanged bool) error {
	fi, err := os.Stat(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if ifChanged && d.settled && fi.ModTime().Equal(d.scanned) {
		return nil
	}
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	var files []span
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, filePrefix) || !strings.HasSuffix(name, dataSuffix) {
			continue
		}
		first, last, ok := parseName(strings.TrimSuffix(strings.TrimPrefix(name, filePrefix), dataSuffix))
		if !ok {
			continue
		}
		files = append(files, span{first, last})
	}
	slices.SortFunc(files, cmpSpan)
	// A change within the file system's timestamp granularity of the scan
	// may leave the modification time as it was: until the time is older
	// than that, a scan ifChanged reads the names again.
	d.files, d.last, d.scanned = files, 0, fi.ModTime()
	d.settled = time.Since(d.scanned) > 2*time.Second
	for _, s := range files {
		d.last = max(d.last, s.last)
	}
	return nil
}

// cmpSpan orders spans by first position, the longer of two that start
// together first.
func cmpSpan(a, b span) int {
	if c := cmpU64(a.first, b.first); c != 0 {
		return c
	}
	return cmpU64(b.last, a.last)
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

// Last returns the position of the last event archived (0: none), by this
// Dir or, as far as the directory shows it, by another process.
func (d *Dir) Last() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	_ = d.scan(true) // on an error, what the last scan saw
	return d.last
}

// Write implements engine.Archive: it appends evs, in position order, to
// the file pair being written, skipping the events the directory holds
// already. The first Write of a compaction takes the directory's lock (it
// waits for another process's compaction to Sync, or for ctx), which Sync
// releases. A Write that fails abandons the compaction's file pair and
// releases the lock. Errors: the file system's, ctx's, and refusals of an
// event that does not follow the last one.
func (d *Dir) Write(ctx context.Context, evs []events.Event) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if err := d.lost; err != nil {
		d.lost = nil
		return err
	}
	if d.lock == nil {
		if err := d.acquire(ctx); err != nil {
			return err
		}
	}
	err := d.write(evs)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		d.abort()
		return err
	}
	d.touched = time.Now()
	return nil
}

// write is Write's loop. REQUIRES: d.wmu and the directory's lock held.
func (d *Dir) write(evs []events.Event) error {
	// While the lock is held no other writer that takes it commits a file,
	// so d.last (scanned when the lock was taken) is the directory's last.
	d.mu.Lock()
	last := d.last
	d.mu.Unlock()
	for _, ev := range evs {
		if ev.Position <= last || (d.cur != nil && ev.Position <= d.cur.last) {
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
	return nil
}

// acquire takes the directory's lock, creating the directory if need be,
// then removes stale temporary files and reads the directory's file names
// again: other processes may have committed files since the last scan.
// REQUIRES: d.wmu held, d.lock nil.
func (d *Dir) acquire(ctx context.Context) error {
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(d.path, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("archive: lock: %w", err)
	}
	// flock belongs to the open file: a second Dir in this process on the
	// same directory, with its own open file, waits too. LOCK_NB and a poll,
	// so that the wait ends with ctx.
	wait := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return fmt.Errorf("archive: lock %s: %w", f.Name(), err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
	d.lock = f
	d.gen++
	d.touched = time.Now()
	gen := d.gen
	d.idle = time.AfterFunc(idleLimit, func() { d.checkIdle(gen) })
	removeStale(d.path, time.Now())
	d.mu.Lock()
	err = d.scan(false)
	d.mu.Unlock()
	if err != nil {
		d.release()
		return err
	}
	return nil
}

// checkIdle abandons the compaction that took the lock as acquisition gen
// if it has not written for idleLimit; the next Write or Sync through d
// reports it, so that the compaction, if it goes on, fails instead of
// leaving a gap in the archive.
func (d *Dir) checkIdle(gen uint64) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.lock == nil || d.gen != gen {
		return
	}
	if rest := idleLimit - time.Since(d.touched); rest > 0 {
		d.idle = time.AfterFunc(rest, func() { d.checkIdle(gen) })
		return
	}
	d.abort()
	d.lost = fmt.Errorf("archive: %s: compaction abandoned after %v without a Write or Sync", d.path, idleLimit)
}

// abort drops the file pair being written and releases the lock.
// REQUIRES: d.wmu held.
func (d *Dir) abort() {
	if p := d.cur; p != nil {
		d.cur = nil
		p.f.Close()
		os.Remove(p.f.Name())
	}
	d.release()
}

// release releases the directory's lock, if held. REQUIRES: d.wmu held.
func (d *Dir) release() {
	if d.idle != nil {
		d.idle.Stop()
		d.idle = nil
	}
	if d.lock != nil {
		d.lock.Close() // closing the last descriptor of the open file unlocks it
		d.lock = nil
	}
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

// createTmp creates a temporary file in dir for the final name name, unique
// to this writer: other processes write into the same directory.
func createTmp(dir, name string) (*os.File, error) {
	for range 8 {
		var r [6]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%s.%d-%s%s", name, os.Getpid(), hex.EncodeToString(r[:]), tmpSuffix)),
			os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("archive: no unused temporary name for %s", name)
}

// begin starts a file pair at position first. REQUIRES: d.wmu and the lock
// held.
func (d *Dir) begin(first uint64) error {
	f, err := createTmp(d.path, fmt.Sprintf("%s%020d%s", filePrefix, first, dataSuffix))
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
// (gzip trailer, id index, fsync, rename, directory fsync), and releases the
// directory's lock whatever the outcome. Compaction removes nothing from the
// log before Sync returns. Nothing written: no commit, and the lock is
// released.
func (d *Dir) Sync(ctx context.Context) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	defer d.release()
	if err := d.lost; err != nil {
		d.lost = nil
		return err
	}
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
	if err := writeIDs(d.path, s.name(idsSuffix), p.ids); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.path, s.name(dataSuffix))); err != nil {
		return fail(err)
	}
	if err := syncDir(d.path); err != nil {
		return fmt.Errorf("archive: %s: %w", d.path, err)
	}
	d.mu.Lock()
	if i, found := slices.BinarySearchFunc(d.files, s, cmpSpan); !found {
		d.files = slices.Insert(d.files, i, s)
	}
	d.last = max(d.last, s.last)
	d.mu.Unlock()
	return ctx.Err()
}

// writeIDs writes the sorted id index under a temporary name in dir,
// fsyncs it and renames it to name.
func writeIDs(dir, name string, ids map[string]struct{}) error {
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
	f, err := createTmp(dir, name)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
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
// file first, and keeps nothing in memory. Files other processes committed
// since the last look are included.
func (d *Dir) Contains(ctx context.Context, id string) (bool, error) {
	spans, err := d.spans()
	if err != nil {
		return false, err
	}
	for i := len(spans) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		found, err := idsContain(filepath.Join(d.path, spans[i].name(idsSuffix)), id)
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// spans returns the committed file pairs in position order, scanning the
// directory again first if it changed.
func (d *Dir) spans() ([]span, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.scan(true); err != nil {
		return nil, err
	}
	return slices.Clone(d.files), nil
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
// each position once (files may overlap), reading only the files whose id
// index holds it.
func (d *Dir) History(ctx context.Context, id string) ([]events.Event, error) {
	spans, err := d.spans()
	if err != nil {
		return nil, err
	}
	var out []events.Event
	for _, s := range spans {
		found, err := idsContain(filepath.Join(d.path, s.name(idsSuffix)), id)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		err = readFile(ctx, d.path, s, func(ev events.Event) error {
			if ev.TaskID == id {
				out = append(out, ev)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// Files come by first position, and each holds consecutive positions:
	// only where files overlap does an event come twice, or out of order.
	slices.SortStableFunc(out, func(a, b events.Event) int { return cmpU64(a.Position, b.Position) })
	k := 0
	for _, ev := range out {
		if k > 0 && out[k-1].Position == ev.Position {
			if out[k-1].ID != ev.ID {
				return nil, fmt.Errorf("%w: %s: two archive files hold different events at #%d", ErrCorrupt, d.path, ev.Position)
			}
			continue
		}
		out[k] = ev
		k++
	}
	return out[:k], nil
}

// Read calls fn for every event archived in directory path, in position
// order, each position once (none when the directory does not exist). Where
// files overlap, the events at a position are compared (ErrCorrupt when they
// differ) and fn gets the first. A gap between files is read over. It stops
// at fn's first error and returns it.
func Read(ctx context.Context, path string, fn func(events.Event) error) error {
	d, err := open(path)
	if err != nil {
		return err
	}
	return readSpans(ctx, d.path, d.files, fn)
}

// readSpans calls fn for each event of files (in cmpSpan order), each
// position once, checking that files that overlap agree.
func readSpans(ctx context.Context, dir string, files []span, fn func(events.Event) error) error {
	var done uint64                  // the last position delivered
	shared := map[uint64]ulid.ULID{} // delivered events at positions a later file holds too
	for i, s := range files {
		for p := range shared {
			if p < s.first {
				delete(shared, p)
			}
		}
		// Where the later files overlap s: those positions are recorded
		// as they are delivered, to be compared when the later file is read.
		later := overlaps(s, files[i+1:])
		err := readFile(ctx, dir, s, func(ev events.Event) error {
			if ev.Position <= done {
				if shared[ev.Position] != ev.ID {
					return fmt.Errorf("%w: %s: event #%d differs from the one an earlier file holds", ErrCorrupt, filepath.Join(dir, s.name(dataSuffix)), ev.Position)
				}
				return nil
			}
			for len(later) > 0 && later[0].last < ev.Position {
				later = later[1:]
			}
			if len(later) > 0 && later[0].first <= ev.Position {
				shared[ev.Position] = ev.ID
			}
			done = ev.Position
			return fn(ev)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// overlaps returns the union of the positions of later (in cmpSpan order,
// none starting before s) that s holds, as disjoint spans in order.
func overlaps(s span, later []span) []span {
	var out []span
	for _, l := range later {
		if l.first > s.last {
			break
		}
		l.last = min(l.last, s.last)
		if n := len(out); n > 0 && l.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, l.last)
			continue
		}
		out = append(out, l)
	}
	return out
}

// readFile calls fn for each event of the file pair s in dir, checking that
// it holds the positions its name says, each once, in order.
func readFile(ctx context.Context, dir string, s span, fn func(events.Event) error) error {
	c, err := openCursor(dir, s)
	if err != nil {
		return err
	}
	defer c.close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ev, err := c.read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// cursor reads the events of one file pair in order. INVARIANT: the events
// it returned are s.first..next-1, consecutive, as the file's name says.
type cursor struct {
	f    *os.File
	dec  *eventjson.Decoder
	s    span
	next uint64 // position of the next event read returns
}

// openCursor opens the data file of the file pair s in dir at its first
// event.
func openCursor(dir string, s span) (*cursor, error) {
	f, err := os.Open(filepath.Join(dir, s.name(dataSuffix)))
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Name(), err)
	}
	return &cursor{f: f, dec: eventjson.NewDecoder(gz), s: s, next: s.first}, nil
}

// read returns the file's next event, or io.EOF after its last. Errors wrap
// ErrCorrupt: a record that does not decode, an event at another position
// than the next, a file that ends before the last position its name says.
func (c *cursor) read() (events.Event, error) {
	ev, err := c.dec.Decode()
	if err == io.EOF {
		if c.next != c.s.last+1 {
			return events.Event{}, fmt.Errorf("%w: %s: ends before #%d", ErrCorrupt, c.f.Name(), c.next)
		}
		return events.Event{}, io.EOF
	}
	if err != nil {
		return events.Event{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, c.f.Name(), err)
	}
	if ev.Position != c.next || c.next > c.s.last {
		return events.Event{}, fmt.Errorf("%w: %s: event #%d where #%d is due", ErrCorrupt, c.f.Name(), ev.Position, c.next)
	}
	c.next++
	return ev, nil
}

func (c *cursor) close() { c.f.Close() }
