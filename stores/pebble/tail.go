package pebble

import (
	"context"
	"fmt"

	"github.com/omniq/omniq/stores"
)

// errWaitClosed is Wait's error once the log is closed.
var errWaitClosed = fmt.Errorf("pebble: wait: %w", stores.ErrClosed)

// Wait implements stores.Tailer. It wakes on appends made through this Log;
// no other process can append, since Open locks the directory. Errors:
// stores.ErrClosed when the log is or becomes closed; ctx.Err().
func (l *Log) Wait(ctx context.Context, after uint64) (uint64, error) {
	return stores.WaitGrowth(ctx, after, &l.tailMu, errWaitClosed, func() (uint64, <-chan struct{}, bool) {
		// grew is taken before head is loaded: an append that stores a head
		// we miss closes this grew afterwards, so the wait wakes.
		grew := l.grew
		return l.head.Load(), grew, l.tailClosed
	})
}
