package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// maxParallelGets bounds the direct gets one Read has in flight.
const maxParallelGets = 32

// rawMsg is a fetched, undecoded log message.
type rawMsg struct {
	span
	data []byte
	blob string
}

// Read implements stores.Log; a position before First reads from First.
// Errors: stores.ErrClosed, stores.ErrCorrupt, stores.ErrUnavailable.
//
// A message found missing may have been purged by a truncation this Log did
// not know of (another process's, or one that ran during the read). Read
// then learns the first message held from the server: if the missing one is
// below it, Read starts again from there (or, when it has events already,
// returns them, a gap-free run); otherwise the log is corrupt.
//
// Read retries for as long as truncations explain what it finds missing,
// however many run meanwhile: an attempt reads only messages above the floor
// it starts from, and a retry needs the floor to have passed the missing one,
// so every retry starts strictly higher, and the newest message is never
// purged. A fixed number of attempts failed a reader that trailed a
// truncation at the head with a false ErrCorrupt.
func (l *Log) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	if l.closed.Load() {
		return nil, stores.ErrClosed
	}
	if max <= 0 {
		return nil, nil
	}
	for {
		out, err := l.read(ctx, from, max)
		if err == nil {
			return out, nil
		}
		if perr := l.purgedSince(ctx, err); perr != nil {
			return nil, perr
		}
		if len(out) > 0 {
			return out, nil
		}
	}
}

// purgedSince tells whether err, from reading the log, is explained by a
// truncation: it returns nil when err is a *missingError for a message the
// floor, asked of the server now, has passed, and otherwise an error to
// return (err itself, or the failure to ask, or ctx's).
func (l *Log) purgedSince(ctx context.Context, err error) error {
	var gone *missingError
	if !errors.As(err, &gone) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return interpretError(ctx, "read", cerr)
	}
	floor, _, ferr := l.refreshFloor(ctx)
	if ferr != nil {
		return ferr
	}
	if gone.seq > floor.seq {
		return err
	}
	return nil
}

// read is one attempt of Read. With a *missingError it may return the events
// it read before the missing message.
func (l *Log) read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	l.mu.Lock()
	if from < l.floor.first {
		from = l.floor.first
	}
	l.mu.Unlock()
	last, known := l.newest()
	if !known || from > last.end() {
		var err error
		if last, err = l.fetchNewest(ctx); err != nil {
			return nil, err
		}
		if from > last.end() {
			return nil, nil
		}
	}
	m, err := l.locate(ctx, from, last)
	if err != nil {
		return nil, err
	}
	evs, err := l.decode(ctx, m)
	if err != nil {
		return nil, err
	}
	out := evs[from-m.first:]
	next, per, refreshed := m.span, int(m.n), false
	for len(out) < max {
		if next.seq >= last.seq {
			// The newest message known when the read began has been read;
			// look once for messages appended since.
			if refreshed {
				break
			}
			if last, err = l.fetchNewest(ctx); err != nil {
				return nil, err
			}
			refreshed = true
			if next.seq >= last.seq {
				break
			}
		}
		k := min((max-len(out))/per+1, maxParallelGets, int(last.seq-next.seq))
		msgs, err := l.getRange(ctx, next.seq+1, k)
		if err != nil {
			return out, err
		}
		for _, m := range msgs {
			if m.first != next.end()+1 {
				return nil, fmt.Errorf("nats: message %d starts at position %d, want %d: %w", m.seq, m.first, next.end()+1, stores.ErrCorrupt)
			}
			evs, err := l.decode(ctx, m)
			if err != nil {
				return nil, err
			}
			out = append(out, evs...)
			next, per = m.span, int(m.n)
			if len(out) >= max {
				break
			}
		}
		l.learn(next)
	}
	return out[:min(len(out), max)], nil
}

// locate fetches the message holding position from, which must be <= last.end().
//
// REQUIRES: 1 <= from <= last.end().
func (l *Log) locate(ctx context.Context, from uint64, last span) (rawMsg, error) {
	lo, hi := l.bounds(from, last)
	for probe := 0; ; probe++ {
		// INVARIANT: lo.end() < from <= hi.end(), so lo.seq < target <= hi.seq.
		var seq uint64
		switch {
		case hi.first <= from:
			seq = hi.seq
		case lo.end()+1 == from:
			seq = lo.seq + 1
		default:
			// Every message holds at least one event, which bounds the target.
			next := lo.end() + 1
			least := max(lo.seq+1, hi.seq-(hi.first-from))
			most := min(hi.seq-1, lo.seq+1+(from-next))
			if probe < 2 {
				// Interpolate: batches tend to have similar sizes.
				frac := float64(from-next) / float64(hi.first-next)
				seq = lo.seq + 1 + uint64(frac*float64(hi.seq-lo.seq-1))
			} else {
				seq = least + (most-least)/2
			}
			seq = min(max(seq, least), most)
		}
		m, err := l.getMsg(ctx, seq)
		if err != nil {
			return rawMsg{}, err
		}
		l.learn(m.span)
		switch {
		case m.first <= from && from <= m.end():
			return m, nil
		case m.end() < from && m.seq > lo.seq:
			lo = m.span
		case m.first > from && m.seq < hi.seq:
			hi = m.span
		default:
			return rawMsg{}, fmt.Errorf("nats: message %d (positions %d-%d) contradicts its neighbours: %w", m.seq, m.first, m.end(), stores.ErrCorrupt)
		}
	}
}

// bounds returns the closest known messages before and at-or-after position
// from: lo.end() < from <= hi.end().
//
// REQUIRES: from > floor.end(), as Read ensures.
func (l *Log) bounds(from uint64, last span) (lo, hi span) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lo, hi = l.floor, last
	i, _ := slices.BinarySearchFunc(l.anchors, from, func(a span, pos uint64) int {
		if a.end() < pos {
			return -1
		}
		return 1
	})
	if i < len(l.anchors) && l.anchors[i].seq < hi.seq {
		hi = l.anchors[i]
	}
	if i > 0 && l.anchors[i-1].seq > lo.seq {
		lo = l.anchors[i-1]
	}
	return lo, hi
}

// missingError: the message at seq is not in the stream. It is corruption
// unless a truncation purged it.
type missingError struct{ seq uint64 }

func (e *missingError) Error() string {
	return fmt.Sprintf("nats: message %d is missing: %v", e.seq, stores.ErrCorrupt)
}

func (e *missingError) Unwrap() error { return stores.ErrCorrupt }

// getMsg fetches the log message at stream sequence seq. Errors: a
// *missingError when there is none.
func (l *Log) getMsg(ctx context.Context, seq uint64) (rawMsg, error) {
	m, err := l.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return rawMsg{}, &missingError{seq: seq}
	}
	if err != nil {
		return rawMsg{}, interpretError(ctx, "read", err)
	}
	s, err := spanOf(m.Sequence, m.Header)
	if err != nil {
		return rawMsg{}, err
	}
	return rawMsg{span: s, data: m.Data, blob: m.Header.Get(hdrBlob)}, nil
}

// getRange fetches messages first..first+k-1 concurrently, in order.
func (l *Log) getRange(ctx context.Context, first uint64, k int) ([]rawMsg, error) {
	msgs := make([]rawMsg, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() { msgs[i], errs[i] = l.getMsg(ctx, first+uint64(i)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// decode returns the events of m, fetching its object when the batch is large.
func (l *Log) decode(ctx context.Context, m rawMsg) ([]events.Event, error) {
	data := m.data
	if m.blob != "" {
		var err error
		data, err = l.obs.GetBytes(ctx, m.blob)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil, fmt.Errorf("nats: message %d: object %s is missing: %w", m.seq, m.blob, stores.ErrCorrupt)
		}
		if err != nil {
			return nil, interpretError(ctx, "read large batch", err)
		}
	}
	evs, err := events.UnmarshalBatch(data, m.first)
	if err != nil {
		return nil, fmt.Errorf("nats: message %d: %w: %w", m.seq, stores.ErrCorrupt, err)
	}
	if uint64(len(evs)) != m.n {
		return nil, fmt.Errorf("nats: message %d holds %d events, says %d: %w", m.seq, len(evs), m.n, stores.ErrCorrupt)
	}
	return evs, nil
}
