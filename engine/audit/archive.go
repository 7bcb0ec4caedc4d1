package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/oklog/ulid/v2"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
	"github.com/omniq/omniq/stores"
)

// ErrArchiveMismatch: the archive does not continue the log being
// compacted. It ends with an event the log holds with another id (it is
// another log's archive), or it ends before the compaction's first event
// (the events between were archived somewhere else).
var ErrArchiveMismatch = errors.New("audit: the archive does not continue this log")

// The archives below are engine.Archives.
var (
	_ engine.Archive = (*FileArchive)(nil)
	_ engine.Archive = (*LogArchive)(nil)
)

// FileArchive is an engine.Archive appending JSON Lines to a file: one
// events/eventjson record per event, with the event's original log
// position, the form `omniqd export` writes. An archive file followed by the
// export of the compacted log is the log's whole history, which `omniqd
// import` reads back.
//
// One file takes any number of compactions, each appending after the last.
// Events it already holds are skipped: a store that removes whole segments
// only (the file store) keeps some archived events and hands them to the
// next compaction again, and the file still holds each event once, in
// position order. Write refuses, with ErrArchiveMismatch, an event at the
// file's last position with another id, and a first new event that does not
// follow the file's last one.
//
// Sync flushes and fsyncs the file (and its directory, for a file it
// created): compaction removes nothing from the log before that. A crash
// before Sync can leave a torn last line; OpenFileArchive drops it, since
// the compaction that wrote it removed nothing from the log.
//
// Not safe for concurrent use (engine.Compact calls it from one goroutine).
type FileArchive struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	created bool
	synced  bool   // the directory entry of a created file is durable
	floor   uint64 // events at or below it are skipped
	last    uint64 // position of the last event the file holds (0: none)
	lastID  ulid.ULID
	written int
	dropped int64
	line    []byte
}

// FileArchiveOptions tunes OpenFileArchive.
type FileArchiveOptions struct {
	// After: events at or below this position are archived already (in an
	// earlier file of a series, say) and are skipped.
	After uint64
}

// OpenFileArchive opens the JSON Lines archive at path for appending,
// creating it if needed. Only the file's last record is read (to learn
// where it ends): the rest is trusted as written. A torn last line that is
// not a whole record is cut off (Dropped says how many bytes). Errors: the
// file system's, and errors wrapping eventjson.ErrSyntax when the last line
// is not a record (the file is not an archive).
func OpenFileArchive(path string, opts FileArchiveOptions) (*FileArchive, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("audit: archive %s: %w", path, err)
	}
	_, statErr := os.Stat(abs)
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("audit: archive: %w", err)
	}
	a := &FileArchive{path: abs, f: f, created: errors.Is(statErr, os.ErrNotExist), floor: opts.After}
	keep, last, torn, err := lastRecord(f, true)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit: archive %s: %w", abs, err)
	}
	if torn > 0 {
		if err := f.Truncate(keep); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("audit: archive %s: cut the torn last line: %w", abs, err)
		}
		a.dropped = torn
	}
	if _, err := f.Seek(keep, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit: archive %s: %w", abs, err)
	}
	if last != nil {
		a.last, a.lastID = last.Position, last.ID
		a.floor = max(a.floor, last.Position)
	}
	a.w = bufio.NewWriterSize(f, 1<<16)
	return a, nil
}

// Write implements engine.Archive: it appends the events the file does not
// hold yet (see FileArchive). Errors: ErrArchiveMismatch, errors wrapping
// eventjson.ErrUnrepresentable (an event JSON cannot hold exactly: archive to
// a store instead), the file system's.
func (a *FileArchive) Write(ctx context.Context, evs []events.Event) error {
	if a.f == nil {
		return fmt.Errorf("audit: archive %s: %w", a.path, os.ErrClosed)
	}
	for _, ev := range evs {
		if ev.Position <= a.floor {
			if ev.Position == a.last && a.lastID != (ulid.ULID{}) && ev.ID != a.lastID {
				return fmt.Errorf("%w: %s ends with event #%d %s, but this log's #%d is %s", ErrArchiveMismatch,
					a.path, a.last, a.lastID, ev.Position, ev.ID)
			}
			continue
		}
		if a.last != 0 && ev.Position != a.last+1 {
			return fmt.Errorf("%w: %s ends at #%d, but the next event to archive is #%d (were the events between archived elsewhere? "+
				"start a new archive file)", ErrArchiveMismatch, a.path, a.last, ev.Position)
		}
		var err error
		if a.line, err = eventjson.Marshal(a.line[:0], ev); err != nil {
			return fmt.Errorf("audit: archive event #%d: %w", ev.Position, err)
		}
		if _, err := a.w.Write(a.line); err != nil {
			return fmt.Errorf("audit: archive %s: %w", a.path, err)
		}
		a.last, a.lastID, a.floor = ev.Position, ev.ID, ev.Position
		a.written++
	}
	return ctx.Err()
}

// Sync implements engine.Archive: flush, fsync the file, and fsync its
// directory once if the archive created the file.
func (a *FileArchive) Sync(ctx context.Context) error {
	if a.f == nil {
		return fmt.Errorf("audit: archive %s: %w", a.path, os.ErrClosed)
	}
	if err := a.w.Flush(); err != nil {
		return fmt.Errorf("audit: archive %s: %w", a.path, err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("audit: archive %s: fsync: %w", a.path, err)
	}
	if a.created && !a.synced {
		if err := syncDir(filepath.Dir(a.path)); err != nil {
			return fmt.Errorf("audit: archive %s: %w", a.path, err)
		}
		a.synced = true
	}
	return nil
}

// String implements engine.Archive: the file's absolute path.
func (a *FileArchive) String() string { return a.path }

// Written returns how many events this FileArchive appended (not counting
// those it skipped as held already).
func (a *FileArchive) Written() int { return a.written }

// Last returns the position of the last event the file holds (0: none).
func (a *FileArchive) Last() uint64 { return a.last }

// Dropped returns how many bytes of a torn last line OpenFileArchive cut off.
func (a *FileArchive) Dropped() int64 { return a.dropped }

// Close flushes and closes the file; it does not fsync (call Sync). Close is
// idempotent.
func (a *FileArchive) Close() error {
	if a.f == nil {
		return nil
	}
	err := a.w.Flush()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	a.f = nil
	return err
}

// ArchiveLast returns the position of the last record in the JSON Lines
// archive at path (0 for an empty file), reading only the file's end. A torn
// last line is ignored. Errors: the file system's, and errors wrapping
// eventjson.ErrSyntax when the last whole line is not a record.
func ArchiveLast(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("audit: archive: %w", err)
	}
	defer f.Close()
	_, last, _, err := lastRecord(f, false)
	if err != nil {
		return 0, fmt.Errorf("audit: archive %s: %w", path, err)
	}
	if last == nil {
		return 0, nil
	}
	return last.Position, nil
}

// lastRecord finds the last record of a JSON Lines file. keep is the length
// of the file without a torn tail (a last line that lacks its newline and is
// not a whole record), torn the length of that tail; last is nil when the
// file holds no record. With repair, a whole last record that only lacks
// its newline gets it.
func lastRecord(f *os.File, repair bool) (keep int64, last *events.Event, torn int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, 0, err
	}
	size := fi.Size()
	keep = size
	for end := size; end > 0; {
		start, err := lineStart(f, end)
		if err != nil {
			return 0, nil, 0, err
		}
		b := make([]byte, end-start)
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, nil, 0, err
		}
		whole := b[len(b)-1] == '\n'
		if len(bytes.TrimSpace(b)) == 0 {
			end = start
			continue
		}
		ev, perr := eventjson.Unmarshal(b)
		switch {
		case perr == nil && !whole:
			// A whole record that lost only its newline: keep it, and
			// end it before the next record.
			if repair {
				if _, err := f.WriteAt([]byte{'\n'}, end); err != nil {
					return 0, nil, 0, err
				}
				keep = end + 1
			}
			return keep, &ev, 0, nil
		case perr == nil:
			return keep, &ev, torn, nil
		case !whole && end == size:
			// A torn tail: cut it, and look at the line before it.
			torn, keep, end = end-start, start, start
		default:
			return 0, nil, 0, fmt.Errorf("the last line (at byte %d) is not an event record: %w", start, perr)
		}
	}
	return keep, nil, torn, nil
}

// lineStart returns the offset where the line that ends at end (exclusive,
// its newline included) begins.
func lineStart(f *os.File, end int64) (int64, error) {
	const chunk = 64 << 10
	pos := end
	if pos > 0 {
		pos-- // the line's own newline, if any
	}
	buf := make([]byte, chunk)
	for pos > 0 {
		n := min(int64(chunk), pos)
		if _, err := f.ReadAt(buf[:n], pos-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos - n + int64(i) + 1, nil
		}
		pos -= n
	}
	return 0, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// LogArchive is an engine.Archive appending to another stores.Log, the
// archive store, so that the archive store holds the compacted log's prefix
// at the same positions: event #n of the log is event #n of the archive
// store. The archive store followed by the compacted log is then the whole
// history (`omniqd export` of each, concatenated, imports as the original
// log), and `omniqd replay`, `verify` and `export` work on the archive store
// as on any log.
//
// One archive store takes any number of compactions, each appending after
// its head; events it holds already are skipped (the one at its head is
// checked by id). Write refuses, with ErrArchiveMismatch, an archive store
// whose head event is another event than the log's, or whose head is not
// right before the first event to archive — an empty archive store for a log
// compacted before to somewhere else, say: import that earlier archive into
// it first, or archive to a file.
//
// Appends are as durable as the archive store makes them (see the README's
// table), so Sync has nothing left to do. The archive store must have no
// other writer. Not safe for concurrent use.
type LogArchive struct {
	out     appender // to the archive store
	name    string
	start   uint64 // the archive store's head when opened
	checked bool   // the event at out.head was compared with the log's
}

// NewLogArchive returns an archive appending to log, which String names as
// name (say, its URL without a password: the checkpoint event records it).
// Errors: the store's, reading its head.
func NewLogArchive(ctx context.Context, log stores.Log, name string) (*LogArchive, error) {
	head, err := log.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: archive store %s: head: %w", name, err)
	}
	a := &LogArchive{name: name, start: head, checked: head == 0}
	a.out = appender{log: log, size: logArchiveBatch, head: head, misplaced: ErrArchiveMismatch, appended: func() { a.checked = true }}
	return a, nil
}

// logArchiveBatch is how many events one Append to the archive store
// carries at most.
const logArchiveBatch = 1000

// Write implements engine.Archive (see LogArchive). Errors:
// ErrArchiveMismatch, the archive store's.
func (a *LogArchive) Write(ctx context.Context, evs []events.Event) error {
	for _, ev := range evs {
		next := a.out.next()
		if ev.Position < next {
			if ev.Position == a.out.head && !a.checked {
				if err := a.checkHead(ctx, ev); err != nil {
					return err
				}
			}
			continue
		}
		if ev.Position != next {
			if a.out.head == 0 {
				return fmt.Errorf("%w: the archive store %s is empty, but the log starts at #%d: a store archive holds the log "+
					"from #1 (import the earlier archive into it first, or archive to a .jsonl file)", ErrArchiveMismatch, a.name, ev.Position)
			}
			return fmt.Errorf("%w: the archive store %s ends at #%d, but the next event to archive is #%d", ErrArchiveMismatch,
				a.name, a.out.head, ev.Position)
		}
		if err := a.out.add(ctx, ev); err != nil {
			return fmt.Errorf("audit: archive store %s: %w", a.name, err)
		}
	}
	if err := a.out.flush(ctx); err != nil {
		return fmt.Errorf("audit: archive store %s: %w", a.name, err)
	}
	return nil
}

// checkHead compares the archive store's event at its head with ev, the
// log's event at that position.
func (a *LogArchive) checkHead(ctx context.Context, ev events.Event) error {
	got, err := a.out.log.Read(ctx, a.out.head, 1)
	if err != nil {
		return fmt.Errorf("audit: archive store %s: read #%d: %w", a.name, a.out.head, err)
	}
	if len(got) != 1 || got[0].Position != a.out.head || got[0].ID != ev.ID {
		return fmt.Errorf("%w: the archive store %s holds another event at #%d than this log (is it another log's archive?)",
			ErrArchiveMismatch, a.name, a.out.head)
	}
	a.checked = true
	return nil
}

// Sync implements engine.Archive. Each Write has appended its events, as
// durably as the archive store appends.
func (a *LogArchive) Sync(ctx context.Context) error { return ctx.Err() }

// String implements engine.Archive: the name NewLogArchive was given.
func (a *LogArchive) String() string { return a.name }

// Written returns how many events this LogArchive appended.
func (a *LogArchive) Written() int { return int(a.out.head - a.start) }
