package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/omniq/omniq/stores"
)

// Wait implements stores.Tailer. It blocks in XREAD on the stream, in rounds
// of at most Options.TailBlock, so it wakes on an append by any process.
// It returns ctx.Err() when ctx ends and stores.ErrClosed when the log closes,
// both without waiting for the round in flight.
func (l *Log) Wait(ctx context.Context, after uint64) (uint64, error) {
	for {
		head, err := l.Head(ctx)
		if err != nil {
			return 0, err
		}
		if head > after {
			return head, nil
		}
		if err := l.block(ctx, head); err != nil {
			return 0, err
		}
	}
}

// block waits until an entry newer than the one ending at head exists, the
// round's block time passes, ctx ends or the log closes.
func (l *Log) block(ctx context.Context, head uint64) error {
	d := l.opts.TailBlock
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	// BLOCK 0 would block forever; a round is at least a millisecond.
	d = max(d, time.Millisecond)
	// Entries after head have IDs >= <head+1>-1, greater than <head>-1.
	id := entryID(head)
	res := make(chan error, 1)
	go func() {
		res <- l.rdb.XRead(ctx, &goredis.XReadArgs{
			Streams: []string{l.streamKey, id},
			Count:   1,
			Block:   d,
		}).Err()
	}()
	select {
	case err := <-res:
		if err != nil && l.closed.Load() {
			// Close closed the connection under the read: the log is closed,
			// whichever of the two the select saw first.
			return stores.ErrClosed
		}
		if err = interpretError(ctx, "wait", err); err != nil && !errors.Is(err, errNil) {
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return stores.ErrClosed
	}
}
