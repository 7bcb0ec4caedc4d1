package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// Log is a stores.Log in a SQLite file. It is safe for concurrent use, and
// any number of Log values, in any number of processes, may share one file.
type Log struct {
	db    *sql.DB
	place string // the database file ("" for an in-memory or URI database)
	name  string
	t     tables
	q     queries
	poll  time.Duration

	wmu sync.Mutex // serializes this Log's writes, so they queue here and not in SQLite's busy handler

	closed   atomic.Bool // set once, under mu, before db closes
	readOnly atomic.Bool // set after a failed write; see the package doc

	mu       sync.Mutex
	known    uint64        // highest head known to be committed. Lock: mu.
	wake     chan struct{} // closed and replaced when known rises; closed for good by Close. Lock: mu.
	waiters  int           // Waits in progress. Lock: mu.
	polling  bool          // the head poller runs. Lock: mu.
	pollCtx  context.Context
	stopPoll context.CancelFunc
	pollDone sync.WaitGroup
}

var _ stores.Shared = (*Log)(nil)

// queries are the statements of one log, built once from its table names.
type queries struct {
	head, insert, read, first, truncate, saveSnapshot, loadSnapshot string
}

func queriesFor(t tables) queries {
	return queries{
		head:   `SELECT first_pos + n - 1 FROM ` + t.batches + ` ORDER BY first_pos DESC LIMIT 1`,
		insert: `INSERT INTO ` + t.batches + ` (first_pos, n, data) VALUES (?, ?, ?)`,
		// The batch holding ?1 (the greatest first_pos <= ?1), or the first
		// batch when none starts at or before ?1 (a truncated log), and the
		// batches after it that start before the reading position + ?2
		// events (capped so the sum cannot overflow).
		read: `WITH lo AS (SELECT COALESCE(
				(SELECT first_pos FROM ` + t.batches + ` WHERE first_pos <= ?1 ORDER BY first_pos DESC LIMIT 1),
				(SELECT MIN(first_pos) FROM ` + t.batches + `)) AS pos)
			SELECT first_pos, n, data FROM ` + t.batches + `
			WHERE first_pos >= (SELECT pos FROM lo)
			AND first_pos < MIN(MAX(?1, (SELECT pos FROM lo)), 9223372036854775807 - ?2) + ?2
			ORDER BY first_pos`,
		first: `SELECT COALESCE(MIN(first_pos), 1) FROM ` + t.batches,
		// The batches before the one holding ?1, or before the last batch
		// when ?1 is past the head: the last batch always stays, since the
		// head is read from it.
		truncate: `DELETE FROM ` + t.batches + ` WHERE first_pos <
			(SELECT first_pos FROM ` + t.batches + ` WHERE first_pos <= ?1 ORDER BY first_pos DESC LIMIT 1)`,
		saveSnapshot: `INSERT INTO ` + t.snapshot + ` (one, position, data, saved_at)
			VALUES (1, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
			ON CONFLICT (one) DO UPDATE SET position = excluded.position, data = excluded.data, saved_at = excluded.saved_at`,
		loadSnapshot: `SELECT position, data FROM ` + t.snapshot + ` WHERE one = 1`,
	}
}

// Sync is the PRAGMA synchronous level of the log's connections; see the
// package doc for what each promises.
type Sync int

const (
	// SyncFull: every commit is fsynced; appends survive power loss. The default.
	SyncFull Sync = iota
	// SyncNormal: commits are not fsynced in WAL mode; appends survive a
	// process crash but the latest may be lost in a power loss or OS crash.
	SyncNormal
)

// Option configures Open.
type Option func(*options)

type options struct {
	name        string
	sync        Sync
	busyTimeout time.Duration
	poll        time.Duration
}

// WithName selects the log within the file: its tables are named
// name_batches and so on. name must be lowercase letters, digits and
// underscores, not starting with a digit, at most MaxNameLen bytes; otherwise
// Open returns ErrInvalidName. The default is "omniq".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithSync chooses the durability level (default SyncFull).
func WithSync(s Sync) Option { return func(o *options) { o.sync = s } }

// WithBusyTimeout sets how long a write waits for another connection's write
// lock before failing with stores.ErrUnavailable (default 5s).
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.busyTimeout = d
		}
	}
}

// WithPollInterval sets how often a blocked Wait re-reads the head to notice
// appends by other connections or processes (default 25ms).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.poll = d
		}
	}
}

// Open opens (creating if needed) the SQLite database at databasePath, a
// file system path, and returns the log, creating or migrating its tables
// first. Errors: ErrInvalidName, an error for a path that is not a plain
// file path (":memory:", "file:" URIs, '?'), stores.ErrCorrupt when the
// file is not a SQLite database, stores.ErrUnavailable when it is locked
// past the busy timeout.
func Open(databasePath string, opts ...Option) (*Log, error) {
	o := options{name: "omniq", sync: SyncFull, busyTimeout: 5 * time.Second, poll: 25 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	if err := validateName(o.name); err != nil {
		return nil, err
	}
	if o.sync != SyncFull && o.sync != SyncNormal {
		return nil, fmt.Errorf("sqlite: open: unknown Sync %d", o.sync)
	}
	if databasePath == "" || databasePath == ":memory:" || strings.HasPrefix(databasePath, "file:") || strings.ContainsRune(databasePath, '?') {
		// Each pooled connection would get its own private database, or the
		// driver would read part of the path as parameters.
		return nil, fmt.Errorf("sqlite: open: %q is not a plain file path", databasePath)
	}
	db, err := sql.Open("sqlite", dsn(databasePath, o))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// Readers run concurrently in WAL mode; writers queue on wmu. Keep the
	// connections (each a full SQLite instance with its page cache) around.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	t := tablesFor(o.name)
	pollCtx, stopPoll := context.WithCancel(context.Background())
	l := &Log{
		db:       db,
		place:    filePlace(databasePath),
		name:     o.name,
		t:        t,
		q:        queriesFor(t),
		poll:     o.poll,
		wake:     make(chan struct{}),
		pollCtx:  pollCtx,
		stopPoll: stopPoll,
	}
	ctx := context.Background()
	if err := l.checkWAL(ctx, o.busyTimeout); err != nil {
		stopPoll()
		db.Close()
		return nil, err
	}
	if err := l.migrate(ctx); err != nil {
		stopPoll()
		db.Close()
		return nil, err
	}
	return l, nil
}

// dsn builds the driver's data source name: the path, then parameters the
// driver applies to every new connection.
func dsn(path string, o options) string {
	v := url.Values{}
	v.Set("_busy_timeout", fmt.Sprint(o.busyTimeout.Milliseconds()))
	v.Set("_journal_mode", "WAL")
	v.Set("_txlock", "immediate") // BeginTx takes the write lock at once
	v.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walKeep))
	switch o.sync {
	case SyncFull:
		v.Set("_synchronous", "FULL")
		if runtime.GOOS == "darwin" {
			v.Add("_pragma", "fullfsync(1)")
		}
	case SyncNormal:
		v.Set("_synchronous", "NORMAL")
	}
	return path + "?" + v.Encode()
}

// checkWAL fails unless the database is in WAL mode, which the durability
// statements and concurrent readers rely on (a file system without shared
// memory support leaves it in rollback mode).
//
// Its query opens the first connection, which switches a new database to WAL
// (see dsn). SQLite takes the lock for that switch without calling the busy
// handler, so when other connections or processes open the same new file at
// once, all but one get SQLITE_BUSY at once: checkWAL tries again, for up to
// wait, as the busy timeout would have waited.
func (l *Log) checkWAL(ctx context.Context, wait time.Duration) error {
	var mode string
	deadline := time.Now().Add(wait)
	for {
		err := l.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
		if err == nil {
			break
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return l.interpretError("open", false, err)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return l.interpretError("open", false, err)
		}
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: open: journal mode is %q, not WAL", mode)
	}
	return nil
}

// Append implements stores.Log. The batch is one row, committed (and durable
// as the package doc describes) before Append returns. Errors: ErrEmptyBatch,
// ErrClosed, ErrReadOnly, an encoding error (nothing written), ErrUnavailable
// (the write lock stayed busy; nothing written).
func (l *Log) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	return l.append(ctx, batch, false, 0)
}

// AppendAt implements stores.Conditional: Append, whose transaction, holding
// the database's write lock from its BEGIN IMMEDIATE, reads the head and
// inserts the batch only if the head is after. Errors: those of Append, and
// ErrConflict when the head is not after (nothing written).
func (l *Log) AppendAt(ctx context.Context, after uint64, batch []events.Event) (uint64, error) {
	return l.append(ctx, batch, true, after)
}

// append appends batch after the head; when cond is set, only if the head is
// after.
func (l *Log) append(ctx context.Context, batch []events.Event, cond bool, after uint64) (uint64, error) {
	op, data, err := stores.PrepareAppend("sqlite", batch, cond, after, l.writable)
	if err != nil {
		return 0, err
	}
	l.wmu.Lock()
	first, err := l.appendTx(ctx, len(batch), data, cond, after)
	l.wmu.Unlock()
	if err != nil {
		return 0, l.writeError(op, err)
	}
	l.noteHead(first + uint64(len(batch)) - 1)
	return first, nil
}

// appendTx writes one batch after the current head; when cond is set, only
// if the head is after (else it returns an error wrapping ErrConflict).
// REQUIRES: wmu held.
func (l *Log) appendTx(ctx context.Context, n int, data []byte, cond bool, after uint64) (uint64, error) {
	tx, err := l.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsn
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	var head int64
	if err := tx.QueryRowContext(ctx, l.q.head).Scan(&head); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if cond && uint64(head) != after {
		return 0, fmt.Errorf("%w (head is %d)", stores.ErrConflict, head)
	}
	if _, err := tx.ExecContext(ctx, l.q.insert, head+1, n, data); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return uint64(head) + 1, nil
}

// Read implements stores.Log. It reads from one snapshot of the database, so
// the events returned are a gap-free run; a position before First reads from
// First. Errors: ErrClosed, ErrCorrupt, ErrUnavailable.
func (l *Log) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	if l.closed.Load() {
		return nil, fmt.Errorf("sqlite: read: %w", stores.ErrClosed)
	}
	return stores.ReadBatches("sqlite", from, max, func(from, max int64, run *stores.BatchRun) error {
		rows, err := l.db.QueryContext(ctx, l.q.read, from, max)
		if err != nil {
			return err
		}
		defer rows.Close()
		return run.AddRows(rows)
	}, func(err error) error { return l.interpretError("read", false, err) })
}

// Head implements stores.Log. Errors: ErrClosed, ErrUnavailable.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	if l.closed.Load() {
		return 0, fmt.Errorf("sqlite: head: %w", stores.ErrClosed)
	}
	var head int64
	if err := l.db.QueryRowContext(ctx, l.q.head).Scan(&head); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, l.interpretError("head", false, err)
	}
	l.noteHead(uint64(head))
	return uint64(head), nil
}

// Close implements stores.Log. It stops the head poller, waits for calls in
// flight and closes the database. Waits return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return nil
	}
	l.closed.Store(true)
	close(l.wake)
	l.mu.Unlock()
	l.stopPoll()
	l.pollDone.Wait()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}
