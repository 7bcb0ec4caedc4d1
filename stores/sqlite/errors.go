package sqlite

import (
	"errors"
	"fmt"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/omniq/omniq/stores"
)

// interpretError is the one place SQLite errors become the stores sentinels,
// by result code, never by message. op names the failed operation; write says
// whether it was a write, where an I/O error means the log must stop
// accepting writes (see the package doc).
//
//   - after Close: stores.ErrClosed;
//   - SQLITE_BUSY, SQLITE_LOCKED (the lock stayed taken past the busy
//     timeout), SQLITE_FULL (disk full): stores.ErrUnavailable;
//   - SQLITE_CORRUPT, SQLITE_NOTADB: stores.ErrCorrupt;
//   - SQLITE_IOERR on a write, SQLITE_READONLY: stores.ErrReadOnly;
//     SQLITE_IOERR on a read: stores.ErrUnavailable;
//   - anything else: the cause, wrapped with the operation.
//
// The cause stays wrapped in every case.
func (l *Log) interpretError(op string, write bool, err error) error {
	if err == nil {
		return nil
	}
	if l.closed.Load() {
		// database/sql's "database is closed" is not exported; the flag is
		// set before the database closes, so it is the reliable test.
		return fmt.Errorf("sqlite: %s: %w", op, stores.ErrClosed)
	}
	if sentinel := sentinelFor(err, write); sentinel != nil {
		return fmt.Errorf("sqlite: %s: %w: %w", op, sentinel, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// writable returns the error of a write op refused before it starts: ErrClosed
// after Close, ErrReadOnly once a write has failed (until reopened); nil
// when the write may go ahead.
func (l *Log) writable(op string) error {
	if l.closed.Load() {
		return fmt.Errorf("sqlite: %s: %w", op, stores.ErrClosed)
	}
	if l.readOnly.Load() {
		return fmt.Errorf("sqlite: %s: %w", op, stores.ErrReadOnly)
	}
	return nil
}

// writeError is interpretError for a write op. When the write failed in a
// way that makes the log read-only, it latches: every later write is
// refused with ErrReadOnly until the log is reopened.
func (l *Log) writeError(op string, err error) error {
	err = l.interpretError(op, true, err)
	if errors.Is(err, stores.ErrReadOnly) {
		l.readOnly.Store(true)
	}
	return err
}

// sentinelFor maps err's SQLite result code onto a stores sentinel, or nil.
func sentinelFor(err error, write bool) error {
	e, ok := errors.AsType[*msqlite.Error](err)
	if !ok {
		return nil
	}
	return sentinelForCode(e.Code(), write)
}

// isBusy reports whether err is SQLITE_BUSY (with any extended code).
func isBusy(err error) bool {
	e, ok := errors.AsType[*msqlite.Error](err)
	return ok && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// sentinelForCode maps a (possibly extended) SQLite result code.
func sentinelForCode(code int, write bool) error {
	switch code & 0xff { // the primary code; extended codes add bits above
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL:
		return stores.ErrUnavailable
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return stores.ErrCorrupt
	case sqlite3.SQLITE_READONLY:
		return stores.ErrReadOnly
	case sqlite3.SQLITE_IOERR:
		if write {
			return stores.ErrReadOnly
		}
		return stores.ErrUnavailable
	}
	return nil
}
