package stores

import (
	"context"
	"time"
)

// ContextDone returns ctx's error, counting a deadline that has passed as
// context.DeadlineExceeded even before ctx's own timer has fired: a socket
// deadline set from it can expire first. A backend whose client library
// turns the caller's deadline into a socket deadline asks it first when
// mapping a failed call, so that a timeout the caller set is reported as
// the caller's, not as an unreachable server.
func ContextDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
