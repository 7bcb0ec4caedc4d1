package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omniq/omniq/stores"
)

// errWaitClosed is Wait's error once the log is closed.
var errWaitClosed = fmt.Errorf("sqlite: wait: %w", stores.ErrClosed)

// Wait implements stores.Tailer. Appends through this Log wake it at once;
// appends by other connections or processes are noticed by the head poller,
// which runs while any Wait is blocked (see the package doc). A transient
// failure to read the head (a busy or unreachable file) does not end a Wait:
// it returns when the head passes after, ctx is done (ctx.Err()) or the log
// is closed (ErrClosed).
func (l *Log) Wait(ctx context.Context, after uint64) (uint64, error) {
	if !l.addWaiter() {
		return 0, errWaitClosed
	}
	defer l.removeWaiter()
	// Read the head once now: the poller's first read is an interval away,
	// and an append by another process may already be there.
	if head, err := l.Head(ctx); err != nil {
		switch {
		case errors.Is(err, stores.ErrClosed):
			return 0, err
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case !errors.Is(err, stores.ErrUnavailable):
			return 0, err
		}
	} else if head > after {
		return head, nil
	}
	return stores.WaitGrowth(ctx, after, &l.mu, errWaitClosed, func() (uint64, <-chan struct{}, bool) {
		return l.known, l.wake, l.closed.Load()
	})
}

// noteHead records that head is committed and wakes waiters if it is news.
func (l *Log) noteHead(head uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if head > l.known && !l.closed.Load() {
		l.known = head
		close(l.wake)
		l.wake = make(chan struct{})
	}
}

// addWaiter counts a Wait in and starts the poller if none runs. It reports
// false when the log is closed.
func (l *Log) addWaiter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return false
	}
	l.waiters++
	if !l.polling {
		l.polling = true
		l.pollDone.Add(1)
		go l.pollHead()
	}
	return true
}

func (l *Log) removeWaiter() {
	l.mu.Lock()
	l.waiters--
	l.mu.Unlock()
}

// pollHead re-reads the head every poll interval until no Wait is left or
// the log closes. Read errors are retried at the next tick.
func (l *Log) pollHead() {
	defer l.pollDone.Done()
	tick := time.NewTicker(l.poll)
	defer tick.Stop()
	for {
		select {
		case <-l.pollCtx.Done():
			return
		case <-tick.C:
		}
		l.mu.Lock()
		if l.waiters == 0 {
			l.polling = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		_, _ = l.Head(l.pollCtx) // Head notes a new head and wakes waiters
	}
}
