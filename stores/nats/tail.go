package nats

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/stores"
)

// pollInterval is how often Wait also asks the server for the newest message,
// in case the tail consumer missed something while it was being recreated.
const pollInterval = 5 * time.Second

// Wait implements stores.Tailer. The first call starts a headers-only ordered
// consumer on the stream that reports every stored message to this Log, so
// Wait wakes on appends by any process. It returns ctx.Err() when ctx ends
// and stores.ErrClosed when the log closes.
func (l *Log) Wait(ctx context.Context, after uint64) (uint64, error) {
	if l.closed.Load() {
		return 0, stores.ErrClosed
	}
	if last, known := l.newest(); known && last.end() > after {
		return last.end(), nil
	}
	if err := l.startWatch(ctx); err != nil {
		return 0, err
	}
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		l.mu.Lock()
		head, grew := l.last.end(), l.grew
		l.mu.Unlock()
		if l.closed.Load() {
			return 0, stores.ErrClosed
		}
		if head > after {
			return head, nil
		}
		select {
		case <-grew:
		case <-poll.C:
			if _, err := l.fetchNewest(ctx); err != nil && !errors.Is(err, stores.ErrUnavailable) {
				return 0, err
			}
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-l.done:
			return 0, stores.ErrClosed
		}
	}
}

// startWatch starts the tail consumer unless it runs. It learns the newest
// message first and starts the consumer right after it, so no append is
// missed in between.
func (l *Log) startWatch(ctx context.Context) error {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	if l.watch != nil {
		return nil
	}
	if l.closed.Load() {
		return stores.ErrClosed
	}
	last, err := l.fetchNewest(ctx)
	if err != nil {
		return err
	}
	cons, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   last.seq + 1,
		HeadersOnly:   true,
	})
	if err != nil {
		return interpretError(ctx, "start tail", err)
	}
	cc, err := cons.Consume(l.onTail,
		// The ordered consumer recreates itself after errors (server restart,
		// missed heartbeats); Wait's poll covers the gap.
		jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) {}))
	if err != nil {
		return interpretError(ctx, "start tail", err)
	}
	l.watch = cc
	return nil
}

// onTail learns each message the tail consumer delivers.
func (l *Log) onTail(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	s, err := spanOf(md.Sequence.Stream, m.Headers())
	if err != nil {
		return // a corrupt message; Read reports it
	}
	l.learn(s)
}
