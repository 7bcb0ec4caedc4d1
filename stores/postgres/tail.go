package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omniq/omniq/stores"
)

// Backoff between attempts to re-establish the LISTEN connection.
const (
	minListenBackoff = 100 * time.Millisecond
	maxListenBackoff = 5 * time.Second
)

// Wait implements stores.Tailer. It wakes on appends through this Log at
// once, and on appends by other processes through LISTEN/NOTIFY on a
// dedicated connection, opened by the first Wait and kept until Close.
//
// Whenever LISTEN (re)takes effect, Wait re-reads the head, so an append that
// committed before this Log was listening is not missed; while the LISTEN
// connection is down it polls the head (WithPollInterval). A server outage
// does not end a Wait: it keeps polling until the head passes after, ctx is
// done (ctx.Err()) or the log is closed (ErrClosed).
func (l *Log) Wait(ctx context.Context, after uint64) (uint64, error) {
	l.startListener()
	for {
		l.mu.Lock()
		closed, wake, known, listening, epoch, checked := l.closed.Load(), l.wake, l.known, l.listening, l.epoch, l.checked
		l.mu.Unlock()
		if closed {
			return 0, fmt.Errorf("postgres: wait: %w", stores.ErrClosed)
		}
		if known > after {
			return known, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		poll := !listening
		// INVARIANT: while listening in epoch e, every append that commits
		// after LISTEN took effect is notified; one head read after that
		// covers the appends before it. That read is made once per epoch,
		// by whichever Wait comes first: the tail of a busy log calls Wait
		// after every append, and a head query each time would cost a
		// round trip per append.
		if !listening || epoch != checked {
			head, err := l.Head(ctx)
			switch {
			case err == nil:
				if head > after {
					return head, nil
				}
				if listening {
					l.mu.Lock()
					l.checked = max(l.checked, epoch)
					l.mu.Unlock()
				}
			case errors.Is(err, stores.ErrClosed):
				return 0, err
			case ctx.Err() != nil:
				return 0, ctx.Err()
			case errors.Is(err, stores.ErrUnavailable):
				poll = true
			default:
				return 0, err
			}
		}
		var tick <-chan time.Time
		var timer *time.Timer
		if poll {
			timer = time.NewTimer(l.poll)
			tick = timer.C
		}
		select {
		case <-wake:
		case <-tick:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// noteHead records that head is committed and wakes waiters if it is news.
func (l *Log) noteHead(head uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if head > l.known {
		l.known = head
		l.broadcastLocked()
	}
}

// setListening records the LISTEN connection's state and wakes waiters so
// they re-read the head (after LISTEN took effect) or start polling.
func (l *Log) setListening(up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listening = up
	if up {
		l.epoch++
	}
	l.broadcastLocked()
}

// Lock should be held.
func (l *Log) broadcastLocked() {
	if l.closed.Load() {
		return // Close closed wake for good
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

// startListener starts the LISTEN goroutine unless it runs or the log is
// closed.
func (l *Log) startListener() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopListen != nil || l.closed.Load() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.stopListen = cancel
	l.listenDone.Add(1)
	go l.listen(ctx)
}

// listen keeps a LISTEN connection up until ctx is cancelled (by Close),
// reconnecting with backoff.
func (l *Log) listen(ctx context.Context) {
	defer l.listenDone.Done()
	backoff := minListenBackoff
	for {
		if l.listenOnce(ctx) {
			backoff = minListenBackoff
		}
		l.setListening(false)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxListenBackoff)
	}
}

// listenOnce connects, listens and delivers notifications until the
// connection fails or ctx is cancelled. It reports whether LISTEN took
// effect.
func (l *Log) listenOnce(ctx context.Context) (listened bool) {
	conn, err := pgx.ConnectConfig(ctx, l.listenCfg)
	if err != nil {
		return false
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, l.q.listen); err != nil {
		return false
	}
	l.setListening(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		head, err := strconv.ParseUint(n.Payload, 10, 64)
		if err != nil {
			// Not one of ours (anyone may NOTIFY the channel): make waiters
			// re-read the head rather than trust it.
			l.setListening(true)
			continue
		}
		l.noteHead(head)
	}
}
