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
	for {
		l.mu.RLock()
		head, grew, closed := l.head, l.grew, l.closed
		l.mu.RUnlock()
		if closed {
			return 0, stores.ErrClosed
		}
		if head > after {
			return head, nil
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
