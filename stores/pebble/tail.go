package pebble

import (
	"context"
	"fmt"

	"github.com/omniq/omniq/stores"
)

// Wait implements stores.Tailer. It wakes on appends made through this Log;
// no other process can append, since Open locks the directory. Errors:
// stores.ErrClosed when the log is or becomes closed; ctx.Err().
func (l *Log) Wait(ctx context.Context, after uint64) (uint64, error) {
	for {
		// grew is taken before head is loaded: an append that stores a head
		// we miss closes this grew afterwards, so the select below wakes.
		l.tailMu.Lock()
		grew, closed := l.grew, l.tailClosed
		l.tailMu.Unlock()
		if closed {
			return 0, fmt.Errorf("pebble: wait: %w", stores.ErrClosed)
		}
		if head := l.head.Load(); head > after {
			return head, nil
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
