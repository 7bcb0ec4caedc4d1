package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/stores"
)

// ErrPurgeDenied is returned by TruncateBefore when the log's stream denies
// purges. Streams created by versions of this package without truncation
// were created so, and JetStream refuses to lift deny_purge on an existing
// stream; such a log keeps every event.
var ErrPurgeDenied = errors.New("nats: the log's stream denies purges (created before truncation was supported), so it cannot be truncated")

// blobPrefix starts the names of the objects that hold large batches.
const blobPrefix = "batch-"

// TruncateBefore implements stores.Truncater by whole messages: it purges
// the stream below the message holding pos, which stays whole (up to one
// batch of older events stays), and then deletes the objects of the large
// batches purged. The newest message always stays, even when pos is past the
// head: it is what the head is read from. A pos at or below First does
// nothing. Purging keeps every later sequence number, so positions and
// concurrent appends are unaffected.
//
// A crash between the purge and the object deletions leaves those objects
// behind as garbage; the log is whole. Errors: stores.ErrClosed,
// ErrPurgeDenied, stores.ErrUnavailable (the purge may or may not have
// happened), stores.ErrCorrupt.
func (l *Log) TruncateBefore(ctx context.Context, pos uint64) error {
	if l.closed.Load() {
		return stores.ErrClosed
	}
	for {
		// A missing message another truncation explains: look again, from
		// a floor strictly higher (see Read).
		err := l.truncate(ctx, pos)
		if err == nil {
			return nil
		}
		if perr := l.purgedSince(ctx, err); perr != nil {
			return perr
		}
	}
}

func (l *Log) truncate(ctx context.Context, pos uint64) error {
	floor, info, err := l.refreshFloor(ctx)
	if err != nil {
		return err
	}
	if info.Config.DenyPurge {
		return fmt.Errorf("nats: truncate stream %s: %w", info.Config.Name, ErrPurgeDenied)
	}
	last, err := l.fetchNewest(ctx)
	if err != nil {
		return err
	}
	if last.seq == 0 || pos <= floor.first {
		return nil
	}
	keep := last
	if pos <= last.end() {
		m, err := l.locate(ctx, pos, last)
		if err != nil {
			return err
		}
		keep = m.span
	}
	if keep.seq <= floor.seq+1 {
		return nil // nothing before it is held
	}
	blobs, err := l.blobsBetween(ctx, floor.seq+1, keep.seq)
	if err != nil {
		return err
	}
	if err := l.stream.Purge(ctx, jetstream.WithPurgeSequence(keep.seq)); err != nil {
		return interpretError(ctx, "truncate: purge", err)
	}
	l.learnFloor(span{seq: keep.seq - 1, first: keep.first})
	// Only now: until the purge, messages named these objects.
	var errs []error
	for _, b := range blobs {
		if err := l.obs.Delete(ctx, b); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return interpretError(ctx, "truncate: delete large batches purged (the log is truncated; they are garbage now)", err)
	}
	return nil
}

// First implements stores.Truncater: it asks the server for the first
// message held and returns its first position (1 for an empty log; the
// newest message is never purged, so a log with a head holds a message).
// Errors: stores.ErrClosed, stores.ErrCorrupt, stores.ErrUnavailable.
func (l *Log) First(ctx context.Context) (uint64, error) {
	if l.closed.Load() {
		return 0, stores.ErrClosed
	}
	floor, _, err := l.refreshFloor(ctx)
	if err != nil {
		return 0, err
	}
	return floor.first, nil
}

// refreshFloor asks the server for the first message held, learns it and
// returns the floor afterwards, with the stream info it read. When that
// message is purged between the two requests it asks again: the stream's
// first sequence only grows, and the newest message is never purged.
func (l *Log) refreshFloor(ctx context.Context) (span, *jetstream.StreamInfo, error) {
	for {
		info, err := l.stream.Info(ctx)
		if err != nil {
			return span{}, nil, interpretError(ctx, "read first message", err)
		}
		st := info.State
		switch {
		case st.Msgs == 0 && st.LastSeq > 0:
			return span{}, nil, fmt.Errorf("nats: stream %s holds no message but has stored %d: it was purged entirely: %w",
				info.Config.Name, st.LastSeq, stores.ErrCorrupt)
		case st.Msgs == 0 || st.FirstSeq <= 1:
			return l.currentFloor(), info, nil
		}
		m, err := l.getMsg(ctx, st.FirstSeq)
		var gone *missingError
		if errors.As(err, &gone) && ctx.Err() == nil {
			continue // purged since Info
		}
		if err != nil {
			return span{}, nil, err
		}
		l.learnFloor(span{seq: m.seq - 1, first: m.first})
		return l.currentFloor(), info, nil
	}
}

func (l *Log) currentFloor() span {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.floor
}

// learnFloor records that every message up to f.seq is purged and the first
// held starts at f.first, forgetting anchors at or below f.seq.
func (l *Log) learnFloor(f span) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f.seq <= l.floor.seq {
		return
	}
	l.floor = span{seq: f.seq, first: f.first}
	i := sort.Search(len(l.anchors), func(i int) bool { return l.anchors[i].seq > f.seq })
	l.anchors = slices.Delete(l.anchors, 0, i)
}

// blobsBetween returns the objects named by the messages at sequences
// from..to-1. It reads headers only, through an ordered consumer, and not at
// all when the bucket holds no large batch.
func (l *Log) blobsBetween(ctx context.Context, from, to uint64) ([]string, error) {
	objs, err := l.obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, interpretError(ctx, "truncate: list large batches", err)
	}
	if !slices.ContainsFunc(objs, func(o *jetstream.ObjectInfo) bool { return strings.HasPrefix(o.Name, blobPrefix) }) {
		return nil, nil
	}
	cons, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
		HeadersOnly:   true,
	})
	if err != nil {
		return nil, interpretError(ctx, "truncate: scan headers", err)
	}
	defer func() {
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = l.stream.DeleteConsumer(dctx, info.Name)
			cancel()
		}
	}()
	var blobs []string
	for next := from; next < to; {
		batch, err := cons.Fetch(int(min(to-next, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, interpretError(ctx, "truncate: scan headers", err)
		}
		got := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			if seq := md.Sequence.Stream; seq < to {
				if b := m.Headers().Get(hdrBlob); b != "" {
					blobs = append(blobs, b)
				}
				next = seq + 1
				got++
			}
		}
		if err := batch.Error(); err != nil {
			return nil, interpretError(ctx, "truncate: scan headers", err)
		}
		if got == 0 {
			break // purged meanwhile, or past the newest message
		}
	}
	return blobs, nil
}
