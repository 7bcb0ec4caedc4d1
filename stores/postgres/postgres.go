package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// Log is a stores.Log in PostgreSQL. It is safe for concurrent use, and any
// number of Log values, in any number of processes, may share one log.
type Log struct {
	pool      *pgxpool.Pool
	listenCfg *pgx.ConnConfig // for the dedicated LISTEN connection
	name      string
	t         tables
	q         queries
	poll      time.Duration // how often Wait polls while LISTEN is down

	closed atomic.Bool // set once, under mu, before the pool closes

	mu         sync.Mutex
	known      uint64             // highest head known to be committed. Lock: mu.
	wake       chan struct{}      // closed and replaced when known rises or the listener's state changes; closed for good by Close. Lock: mu.
	listening  bool               // the LISTEN connection is up. Lock: mu.
	epoch      uint64             // counts LISTENs that took effect. Lock: mu.
	checked    uint64             // the latest epoch in which a Wait read the head after LISTEN took effect (Head noted it in known). Lock: mu.
	stopListen context.CancelFunc // nil until the first Wait. Lock: mu.
	listenDone sync.WaitGroup
}

var _ stores.Shared = (*Log)(nil)

// queries are the statements of one log, built once from its table names.
type queries struct {
	append, appendAt, read, head, first, truncate, listen string
	appendInPieces, appendAtInPieces                      string // the batch from stageTable (pieces.go)
	saveSnapshot, loadSnapshot, dropPieces, loadPieces    string // snapshot.go
}

func queriesFor(t tables) queries {
	return queries{
		// One statement, one implicit transaction. The UPDATE locks the head
		// row until commit: that serializes appends, so positions are
		// assigned and committed in the same order. NOTIFY is delivered at
		// commit, never for a rolled-back append.
		append: appendQuery(t, "", `$2::bytea`),
		// The same, only when the head is $3. Under READ COMMITTED an UPDATE
		// that waited for another append's lock re-checks its WHERE against
		// the row that append committed, so the head compared is the head
		// the batch goes after: when it moved, no row is updated and nothing
		// is inserted. It always returns one row: the first position (NULL
		// when nothing was appended) and whether the head row is there, so
		// that a conflict is told from a missing head row without a second
		// round trip.
		appendAt: appendAtQuery(t, ` WHERE head = $3::bigint`, `$2::bytea`),
		// The same two with the batch put together by the server.
		appendInPieces:   appendQuery(t, "", stagedData),
		appendAtInPieces: appendAtQuery(t, ` WHERE head = $2::bigint`, stagedData),
		// The batch holding $1 (the greatest first_pos <= $1), or the first
		// batch when none starts at or before $1 (a truncated log), and the
		// batches after it that start before the reading position + $2
		// events (capped so the sum cannot overflow). Each bound is an
		// InitPlan, so the rows come from one index range scan.
		read: `WITH lo AS (SELECT COALESCE(
				(SELECT first_pos FROM ` + t.batches + ` WHERE first_pos <= $1::bigint ORDER BY first_pos DESC LIMIT 1),
				(SELECT MIN(first_pos) FROM ` + t.batches + `)) AS pos)
			SELECT first_pos, n, data FROM ` + t.batches + `
			WHERE first_pos >= (SELECT pos FROM lo)
			AND first_pos < LEAST(GREATEST($1::bigint, (SELECT pos FROM lo)), 9223372036854775807 - $2::bigint) + $2::bigint
			ORDER BY first_pos`,
		head:  `SELECT head FROM ` + t.head,
		first: `SELECT COALESCE((SELECT MIN(first_pos) FROM ` + t.batches + `), (SELECT head FROM ` + t.head + `) + 1)`,
		// The batches that end before $1: at most up to the one holding $1
		// (an index range), each wholly below $1.
		truncate: `DELETE FROM ` + t.batches + `
			WHERE first_pos <= (SELECT first_pos FROM ` + t.batches + ` WHERE first_pos <= $1::bigint ORDER BY first_pos DESC LIMIT 1)
			AND first_pos + n <= $1::bigint`,
		saveSnapshot: `INSERT INTO ` + t.snapshot + ` (one, position, data, size, saved_at) VALUES (true, $1, $2, $3, now())
			ON CONFLICT (one) DO UPDATE SET position = EXCLUDED.position, data = EXCLUDED.data, size = EXCLUDED.size, saved_at = EXCLUDED.saved_at`,
		loadSnapshot: `SELECT position, size, data FROM ` + t.snapshot,
		dropPieces:   `DELETE FROM ` + t.snapPieces,
		loadPieces:   `SELECT seq, data FROM ` + t.snapPieces + ` ORDER BY seq`,
		listen:       `LISTEN ` + pgx.Identifier{t.channel}.Sanitize(),
	}
}

// appendQuery is the append statement of the batch data (an expression),
// updating the head row only where where (empty: always) allows.
func appendQuery(t tables, where, data string) string {
	return appendCTEs(t, where, data) + `
		SELECT first_pos, ` + notify(t) + ` FROM b`
}

// appendAtQuery is appendQuery that always returns one row: the first
// position, NULL when where left the head alone, and whether the head row
// exists.
func appendAtQuery(t tables, where, data string) string {
	return appendCTEs(t, where, data) + `, n AS (
			SELECT first_pos, ` + notify(t) + ` FROM b
		)
		SELECT (SELECT first_pos FROM n), EXISTS (SELECT 1 FROM ` + t.head + `)`
}

// appendCTEs moves the head (h) and inserts the batch after it (b).
func appendCTEs(t tables, where, data string) string {
	return `WITH h AS (
			UPDATE ` + t.head + ` SET head = head + $1::bigint` + where + ` RETURNING head
		), b AS (
			INSERT INTO ` + t.batches + ` (first_pos, n, data)
			SELECT head - $1::bigint + 1, $1::int, ` + data + ` FROM h
			RETURNING first_pos
		)`
}

// notify is the NOTIFY of an appended batch's last position, delivered at
// commit.
func notify(t tables) string {
	return `pg_notify('` + t.channel + `', (first_pos + $1::bigint - 1)::text)`
}

// Option configures Open.
type Option func(*options)

type options struct {
	name string
	poll time.Duration
}

// WithName selects the log: its tables are named name_batches, name_head and
// so on. Logs with different names in one database are independent. name
// must be lowercase letters, digits and underscores, not starting with a
// digit, at most MaxNameLen bytes; otherwise Open returns ErrInvalidName. The
// default is "omniq".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithPollInterval sets how often a Wait re-reads the head while the LISTEN
// connection is down (default 1s). With LISTEN up, Wait does not poll.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.poll = d
		}
	}
}

// Open connects to the database at dsn (a libpq URL or key=value string, with
// pgxpool's pool_* parameters) and returns the log, creating or migrating its
// tables first. Errors: ErrInvalidName; an error wrapping
// stores.ErrUnavailable when the server cannot be reached; a parse error for
// a bad dsn. The pool reconnects by itself: after an outage the same Log works
// again once the server is back. Connections carry application_name=omniq
// unless the dsn sets one.
func Open(ctx context.Context, dsn string, opts ...Option) (*Log, error) {
	o := options{name: "omniq", poll: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if err := validateName(o.name); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "omniq"
	}
	listenCfg := cfg.ConnConfig.Copy()
	// The LISTEN connection is idle for long stretches; probe it so that a
	// silently dropped peer is noticed in about 30s, not after the kernel's
	// default two hours.
	listenCfg.DialFunc = (&net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3,
	}}).DialContext
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	t := tablesFor(o.name)
	l := &Log{
		pool:      pool,
		listenCfg: listenCfg,
		name:      o.name,
		t:         t,
		q:         queriesFor(t),
		poll:      o.poll,
		wake:      make(chan struct{}),
	}
	if err := l.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return l, nil
}

// Append implements stores.Log. The batch is one row, committed (and durable
// as the package doc describes) before Append returns; a batch encoded in
// more than pieceSize bytes travels in pieces (pieces.go). Errors: ErrEmptyBatch,
// ErrClosed, an encoding error (nothing written), ErrUnavailable (outcome
// unknown when the connection broke during the commit).
func (l *Log) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	return l.append(ctx, batch, false, 0)
}

// AppendAt implements stores.Conditional: Append, in the same one statement,
// which updates the head row only where the head is after. Errors: those of
// Append, and ErrConflict when the head is not after (nothing written).
func (l *Log) AppendAt(ctx context.Context, after uint64, batch []events.Event) (uint64, error) {
	return l.append(ctx, batch, true, after)
}

// append appends batch after the head; when cond is set, only if the head is
// after.
func (l *Log) append(ctx context.Context, batch []events.Event, cond bool, after uint64) (uint64, error) {
	op, data, err := stores.PrepareAppend("postgres", batch, cond, after, func(op string) error {
		if l.closed.Load() {
			return fmt.Errorf("postgres: %s: %w", op, stores.ErrClosed)
		}
		if len(batch) > math.MaxInt32 {
			return fmt.Errorf("postgres: %s: %d events in one batch is more than a row can count", op, len(batch))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if cond && after > math.MaxInt64 {
		// The head is a BIGINT: it cannot be after.
		return 0, fmt.Errorf("postgres: %s: %w", op, stores.ErrConflict)
	}
	var first int64
	switch {
	case len(data) > pieceSize:
		first, err = l.appendInPieces(ctx, len(batch), data, cond, int64(after))
	case cond:
		first, err = scanAppendAt(l.pool.QueryRow(ctx, l.q.appendAt, len(batch), data, int64(after)))
	default:
		err = l.pool.QueryRow(ctx, l.q.append, len(batch), data).Scan(&first, nil)
	}
	switch {
	case errors.Is(err, errConflict):
		return 0, fmt.Errorf("postgres: %s: %w", op, stores.ErrConflict)
	case errors.Is(err, pgx.ErrNoRows), errors.Is(err, errNoHeadRow):
		return 0, fmt.Errorf("postgres: %s: %w: head row of %q missing", op, stores.ErrCorrupt, l.name)
	case err != nil:
		return 0, l.interpretError(op, err)
	}
	l.noteHead(uint64(first) + uint64(len(batch)) - 1)
	return uint64(first), nil
}

// Outcomes of a conditional append that appended nothing (scanAppendAt).
var (
	errConflict  = errors.New("the head was elsewhere")
	errNoHeadRow = errors.New("no head row")
)

// scanAppendAt reads the row of an appendAtQuery: the first position, or
// errConflict when the head was not the one expected, or errNoHeadRow.
func scanAppendAt(row pgx.Row) (int64, error) {
	var first *int64
	var headRow bool
	if err := row.Scan(&first, &headRow); err != nil {
		return 0, err
	}
	switch {
	case first != nil:
		return *first, nil
	case headRow:
		return 0, errConflict
	}
	return 0, errNoHeadRow
}

// Read implements stores.Log. It reads from one snapshot of the database, so
// the events returned are a gap-free run; a position before First reads from
// First. Errors: ErrClosed, ErrCorrupt, ErrUnavailable.
func (l *Log) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	if l.closed.Load() {
		return nil, fmt.Errorf("postgres: read: %w", stores.ErrClosed)
	}
	return stores.ReadBatches("postgres", from, max, func(from, max int64, run *stores.BatchRun) error {
		rows, err := l.pool.Query(ctx, l.q.read, from, max)
		if err != nil {
			return err
		}
		defer rows.Close()
		return run.AddRows(rows)
	}, func(err error) error { return l.interpretError("read", err) })
}

// Head implements stores.Log. Errors: ErrClosed, ErrUnavailable.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	if l.closed.Load() {
		return 0, fmt.Errorf("postgres: head: %w", stores.ErrClosed)
	}
	var head int64
	if err := l.pool.QueryRow(ctx, l.q.head).Scan(&head); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("postgres: head: %w: head row of %q missing", stores.ErrCorrupt, l.name)
		}
		return 0, l.interpretError("head", err)
	}
	l.noteHead(uint64(head))
	return uint64(head), nil
}

// Close implements stores.Log. It stops the LISTEN connection, waits for
// calls in flight to give back their connections and closes the pool. Waits
// return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return nil
	}
	l.closed.Store(true)
	close(l.wake)
	stop := l.stopListen
	l.mu.Unlock()
	if stop != nil {
		stop()
	}
	l.listenDone.Wait()
	l.pool.Close()
	return nil
}
