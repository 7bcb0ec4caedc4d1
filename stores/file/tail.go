package file

import (
	"context"

	"github.com/omniq/omniq/stores"
)

// Wait implements stores.Tailer for appends made through this Log (the
// directory lock rules out other writers). It returns the head once it is
// greater than after; ctx.Err() when ctx ends first; stores.ErrClosed when
// the log is closed first. Appends wake it only after they are durable.
func (l *Log) Wait(ctx context.Context, after uint64) (uint64, error) {
	return stores.WaitGrowth(ctx, after, l.mu.RLocker(), stores.ErrClosed, func() (uint64, <-chan struct{}, bool) {
		return l.head, l.grew, l.closed
	})
}
