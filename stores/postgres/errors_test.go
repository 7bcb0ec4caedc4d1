package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/omniq/omniq/stores"
)

func TestInterpretError(t *testing.T) {
	open, closed := &Log{}, &Log{}
	closed.closed.Store(true)
	cause := errors.New("something else")
	for _, c := range []struct {
		name string
		log  *Log
		err  error
		want error // sentinel the result must match; nil: none of ours
	}{
		{"nil", open, nil, nil},
		{"admin shutdown", open, &pgconn.PgError{Code: "57P01"}, stores.ErrUnavailable},
		{"crash shutdown", open, &pgconn.PgError{Code: "57P02"}, stores.ErrUnavailable},
		{"starting up", open, fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "57P03"}), stores.ErrUnavailable},
		{"connection failure", open, &pgconn.PgError{Code: "08006"}, stores.ErrUnavailable},
		{"too many connections", open, &pgconn.PgError{Code: "53300"}, stores.ErrUnavailable},
		{"refused", open, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, stores.ErrUnavailable},
		{"eof", open, io.ErrUnexpectedEOF, stores.ErrUnavailable},
		{"unique violation", open, &pgconn.PgError{Code: "23505"}, nil},
		{"bad password", open, &pgconn.PgError{Code: "28P01"}, nil},
		{"cancelled", open, context.Canceled, nil},
		{"other", open, cause, nil},
		{"closed pool", closed, cause, stores.ErrClosed},
		{"closed beats unavailable", closed, io.EOF, stores.ErrClosed},
	} {
		got := c.log.interpretError("op", c.err)
		if c.err == nil {
			if got != nil {
				t.Errorf("%s: %v, want nil", c.name, got)
			}
			continue
		}
		if !errors.Is(got, c.err) && c.want != stores.ErrClosed {
			t.Errorf("%s: %v does not wrap its cause", c.name, got)
		}
		for _, s := range []error{stores.ErrUnavailable, stores.ErrClosed} {
			if errors.Is(got, s) != (s == c.want) {
				t.Errorf("%s: %v: errors.Is(%v) = %t", c.name, got, s, errors.Is(got, s))
			}
		}
		if !strings.HasPrefix(got.Error(), "postgres: op: ") {
			t.Errorf("%s: %q lacks the prefix", c.name, got)
		}
	}
}
