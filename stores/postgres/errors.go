package postgres

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/omniq/omniq/stores"
)

// interpretError is the one place pgx and server errors become the stores
// sentinels. op names the failed operation for the message. It never looks at
// error text.
//
//   - after Close (pgxpool then reports its closed pool): stores.ErrClosed;
//   - the server or the network cannot be reached now: stores.ErrUnavailable,
//     still wrapping the cause (so errors.Is(err, context.DeadlineExceeded)
//     keeps working for a timeout);
//   - anything else: the cause, wrapped with the operation.
func (l *Log) interpretError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case l.closed.Load():
		// The pool's "closed pool" error is not exported by pgxpool; the flag is
		// set before the pool is closed, so it is the reliable test.
		return fmt.Errorf("postgres: %s: %w", op, stores.ErrClosed)
	case unavailable(err):
		return fmt.Errorf("postgres: %s: %w: %w", op, stores.ErrUnavailable, err)
	default:
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
}

// unavailable reports whether err means the server cannot be reached or
// refuses work for now, so the same call may succeed later.
func unavailable(err error) bool {
	// An error the server reported is decisive: its SQLSTATE says whether the
	// connection was the problem. A ConnectError wrapping, say, a bad
	// password (28P01) is a configuration error, not an outage.
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return unavailableCode(pgErr.Code)
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) || // failed before anything reached the server, e.g. a dead pooled connection
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// unavailableCode reports whether a SQLSTATE means the server is going away,
// not accepting connections yet, or the connection broke.
func unavailableCode(code string) bool {
	switch code {
	case "57P01", // admin_shutdown: server stopping, or the backend was terminated
		"57P02", // crash_shutdown: another backend crashed, server restarting
		"57P03", // cannot_connect_now: server starting up or in recovery
		"53300": // too_many_connections
		return true
	}
	return strings.HasPrefix(code, "08") // class 08: connection exception
}
