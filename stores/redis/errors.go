package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	goredis "github.com/redis/go-redis/v9"

	"github.com/omniq/omniq/stores"
)

var (
	// ErrNotDurable is returned by Open when Options.RequireAOF is set and the
	// server does not run with appendonly yes.
	ErrNotDurable = errors.New("redis: server does not persist appends (appendonly is not yes)")

	// errNil is a nil reply (a missing key, or an XREAD that timed out).
	errNil = errors.New("redis: nil reply")
)

// interpretError maps go-redis errors onto the stores sentinels. It is the only
// place that knows go-redis's error values; every error leaving this package
// for a server call passes through it.
func interpretError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	// A deadline on ctx becomes a socket deadline inside go-redis and surfaces
	// as an i/o timeout, so the caller's context decides first.
	if ctxErr := stores.ContextDone(ctx); ctxErr != nil {
		return fmt.Errorf("redis: %s: %w", op, ctxErr)
	}
	var netErr net.Error
	switch {
	case errors.Is(err, goredis.Nil):
		return fmt.Errorf("redis: %s: %w", op, errNil)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("redis: %s: %w", op, err)
	case errors.Is(err, goredis.ErrClosed):
		return fmt.Errorf("redis: %s: %w", op, stores.ErrClosed)
	case errors.Is(err, goredis.ErrPoolTimeout),
		errors.Is(err, goredis.ErrPoolExhausted),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr),
		goredis.IsLoadingError(err),
		goredis.IsReadOnlyError(err),
		goredis.IsMasterDownError(err),
		goredis.IsClusterDownError(err),
		goredis.IsTryAgainError(err),
		goredis.IsMaxClientsError(err),
		goredis.IsOOMError(err):
		return fmt.Errorf("redis: %s: %w: %w", op, stores.ErrUnavailable, err)
	default:
		return fmt.Errorf("redis: %s: %w", op, err)
	}
}
