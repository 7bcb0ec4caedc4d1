package stores

import (
	"context"
	"sync"
)

// WaitGrowth is the loop of a Tailer whose appends close a channel and put a
// new one in its place. state, called with mu held, reports the head, the
// channel that the next append past that head closes, and whether the log
// is closed (closing it closes the channel too). WaitGrowth returns the
// head once it is greater than after, closedErr once the log is closed, or
// ctx.Err() when ctx ends first.
//
// INVARIANT (state's): the channel is read no later than the head, and
// appends replace it under mu, so an append that the head misses closes
// that very channel and the wait wakes.
func WaitGrowth(ctx context.Context, after uint64, mu sync.Locker, closedErr error, state func() (head uint64, grew <-chan struct{}, closed bool)) (uint64, error) {
	for {
		mu.Lock()
		head, grew, closed := state()
		mu.Unlock()
		if closed {
			return 0, closedErr
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
