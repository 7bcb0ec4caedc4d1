package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// Message headers of a log message.
const (
	hdrFirst = "Omniq-First" // position of the batch's first event
	hdrCount = "Omniq-Count" // number of events in the batch
	hdrBlob  = "Omniq-Blob"  // object holding the batch when it is too large for a message
)

// payloadHeadroom is kept free below the server's max_payload for headers.
const payloadHeadroom = 4 << 10

// Log is a stores.Log in a JetStream stream. It is safe for concurrent use,
// and any number of Log values, in any number of processes, may share one log.
type Log struct {
	nc      *natsgo.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	obs     jetstream.ObjectStore
	name    string
	subject string

	closed atomic.Bool
	done   chan struct{} // closed by Close

	mu        sync.Mutex
	last      span          // newest message known. Lock: mu.
	lastKnown bool          // Lock: mu.
	grew      chan struct{} // closed and replaced when last advances. Lock: mu.
	anchors   []span        // known messages after floor, sorted by seq. Lock: mu.
	// floor stands just before the first message known to be held: floor.seq
	// is the last sequence known purged (0: none) and floor.first the first
	// position held; floor.n is 0. It only rises, as this Log learns of
	// truncations by any process. Lock: mu.
	floor span

	watchMu sync.Mutex
	watch   jetstream.ConsumeContext // tail consumer, started by Wait. Lock: watchMu.
}

var _ stores.Shared = (*Log)(nil)

// span is where one message sits: stream sequence seq holds positions
// first..first+n-1. The zero message, span{0, 1, 0}, stands before seq 1;
// after a truncation, span{s-1, f, 0} stands before the first message held,
// s, whose first position is f.
type span struct{ seq, first, n uint64 }

func (s span) end() uint64 { return s.first + s.n - 1 }

var beforeFirst = span{seq: 0, first: 1, n: 0}

// Open connects to servers (nats://host:port URLs; none means
// nats://127.0.0.1:4222) and opens the log, creating its stream and object
// store bucket when they do not exist. The connection reconnects by itself
// forever; calls made while it is down fail with stores.ErrUnavailable.
// Connecting is bounded by nats.go's connect timeout (2s unless set with
// WithConnOptions), not by ctx.
func Open(ctx context.Context, servers []string, opts ...Option) (*Log, error) {
	cfg := config{name: DefaultName, replicas: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if err := validateName(cfg.name); err != nil {
		return nil, err
	}
	if cfg.replicas < 1 || cfg.replicas > 5 {
		return nil, fmt.Errorf("nats: %d replicas: want 1 to 5", cfg.replicas)
	}
	if len(servers) == 0 {
		servers = []string{natsgo.DefaultURL}
	}
	connOpts := append([]natsgo.Option{
		natsgo.Name("omniq " + cfg.name),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(250 * time.Millisecond),
		// A publish buffered while reconnecting could be stored after its
		// Append reported failure; fail it at once instead.
		natsgo.ReconnectBufSize(-1),
	}, cfg.connOpts...)
	nc, err := natsgo.Connect(strings.Join(servers, ","), connOpts...)
	if err != nil {
		return nil, interpretError(ctx, "connect", err)
	}
	l, err := open(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return l, nil
}

func open(ctx context.Context, nc *natsgo.Conn, cfg config) (*Log, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, interpretError(ctx, "jetstream", err)
	}
	l := &Log{
		nc:      nc,
		js:      js,
		name:    cfg.name,
		subject: "omniq." + cfg.name + ".log",
		done:    make(chan struct{}),
		grew:    make(chan struct{}),
		floor:   beforeFirst,
	}
	scfg := jetstream.StreamConfig{
		Name:        StreamName(cfg.name),
		Description: "OmniQ event log " + cfg.name + ": one message per batch",
		Subjects:    []string{l.subject},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.replicas,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		MaxMsgSize:  -1,
		// INVARIANT: sequence s keeps its message until a purge removes
		// every sequence below some s' > s (TruncateBefore), so anchors and
		// positions never change meaning and messages go only from the
		// front. Streams created before truncation existed deny purges,
		// which JetStream never lets be undone: TruncateBefore answers
		// ErrPurgeDenied for them.
		DenyDelete: true,
		DenyPurge:  false,
		// Direct gets may be answered by any replica, which could lag behind
		// an acknowledged append; only a single replica makes them safe.
		AllowDirect: cfg.replicas == 1,
	}
	l.stream, err = js.Stream(ctx, scfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		l.stream, err = js.CreateStream(ctx, scfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			l.stream, err = js.Stream(ctx, scfg.Name) // created by a racing Open
		}
	}
	if err != nil {
		return nil, interpretError(ctx, "open stream "+scfg.Name, err)
	}
	if info := l.stream.CachedInfo(); !slices.Contains(info.Config.Subjects, l.subject) {
		return nil, fmt.Errorf("nats: stream %s exists without subject %s", scfg.Name, l.subject)
	}
	bucket := BucketName(cfg.name)
	l.obs, err = js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		l.obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      bucket,
			Description: "OmniQ log " + cfg.name + ": large batches and the snapshot",
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			l.obs, err = js.ObjectStore(ctx, bucket)
		}
	}
	if err != nil {
		return nil, interpretError(ctx, "open object store "+bucket, err)
	}
	return l, nil
}

// StreamName is the JetStream stream holding the log called name.
func StreamName(name string) string { return "OMNIQ_" + name }

// BucketName is the object store bucket beside the log called name.
func BucketName(name string) string { return "OMNIQ_" + name }

// Append implements stores.Log. Errors: stores.ErrEmptyBatch, stores.ErrClosed,
// stores.ErrUnavailable (the batch may or may not be stored), an encoding
// error (nothing stored).
func (l *Log) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	return l.append(ctx, batch, false, 0)
}

// AppendAt implements stores.Conditional: Append, published only after a
// message that ends at position after, with Nats-Expected-Last-Sequence set
// to that message's sequence, so the server stores it only if that message
// is still the newest. Errors: those of Append, and stores.ErrConflict when
// the head is not after (nothing stored).
func (l *Log) AppendAt(ctx context.Context, after uint64, batch []events.Event) (uint64, error) {
	return l.append(ctx, batch, true, after)
}

// append appends batch after the newest message; when cond is set, only if
// that message ends at position after.
func (l *Log) append(ctx context.Context, batch []events.Event, cond bool, after uint64) (uint64, error) {
	if len(batch) == 0 {
		return 0, stores.ErrEmptyBatch
	}
	if l.closed.Load() {
		return 0, stores.ErrClosed
	}
	data, err := events.MarshalBatch(nil, batch)
	if err != nil {
		return 0, fmt.Errorf("nats: append: %w", err)
	}
	n := uint64(len(batch))
	var blob string
	if int64(len(data)) > l.nc.MaxPayload()-payloadHeadroom {
		if cond {
			// Spare the upload when the head is already known to be
			// elsewhere.
			if _, err := l.expectedPrev(ctx, after); err != nil {
				return 0, err
			}
		}
		blob = blobPrefix + nuid.Next()
		if _, err := l.obs.PutBytes(ctx, blob, data); err != nil {
			return 0, interpretError(ctx, "append: store large batch", err)
		}
		data = nil
	}
	first, err := l.publish(ctx, n, data, blob, cond, after)
	var apiErr *jetstream.APIError
	if err != nil && blob != "" && (errors.As(err, &apiErr) || errors.Is(err, stores.ErrConflict)) {
		// The server refused the last publish, or a conflict stopped it
		// before it was sent, so no message names the object and it is
		// garbage. After any other failure (timeout, cancellation, lost
		// connection) the message may have been stored, so the object
		// stays.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = l.obs.Delete(dctx, blob)
		cancel()
	}
	return first, err
}

// publish stores one batch message after the newest message, retrying with a
// fresh newest message while other writers win the race. When cond is set,
// it stores it only after a message that ends at position after, and does
// not retry: a writer that won the race moved the head past after.
func (l *Log) publish(ctx context.Context, n uint64, data []byte, blob string, cond bool, after uint64) (uint64, error) {
	var prev span
	if cond {
		var err error
		if prev, err = l.expectedPrev(ctx, after); err != nil {
			return 0, err
		}
	} else {
		var known bool
		if prev, known = l.newest(); !known {
			var err error
			if prev, err = l.fetchNewest(ctx); err != nil {
				return 0, err
			}
		}
	}
	for {
		first := prev.end() + 1
		msg := natsgo.NewMsg(l.subject)
		msg.Data = data
		msg.Header.Set(hdrFirst, strconv.FormatUint(first, 10))
		msg.Header.Set(hdrCount, strconv.FormatUint(n, 10))
		if blob != "" {
			msg.Header.Set(hdrBlob, blob)
		}
		ack, err := l.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequence(prev.seq))
		if isWrongLastSequence(err) {
			if cond {
				// A message after prev, which ends at after, is stored:
				// the head is past after.
				return 0, fmt.Errorf("nats: append at %d: %w (another writer appended after it): %w", after, stores.ErrConflict, err)
			}
			if prev, err = l.fetchNewest(ctx); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, interpretError(ctx, "append", err)
		}
		if ack.Sequence != prev.seq+1 {
			// The server ignored Nats-Expected-Last-Sequence (a pre-2.9
			// server, for 0): positions may now overlap.
			return 0, fmt.Errorf("nats: append: stored at sequence %d, expected %d (server does not enforce Nats-Expected-Last-Sequence?): %w",
				ack.Sequence, prev.seq+1, stores.ErrCorrupt)
		}
		l.learn(span{seq: ack.Sequence, first: first, n: n})
		return first, nil
	}
}

// expectedPrev returns the newest message when it ends at position after,
// and an error wrapping stores.ErrConflict when the head is elsewhere. It
// asks the server unless the newest message known already ends at or past
// after: a cached message that ends before after may be stale, one that
// ends past it is not (positions only grow).
func (l *Log) expectedPrev(ctx context.Context, after uint64) (span, error) {
	prev, known := l.newest()
	if !known || prev.end() < after {
		var err error
		if prev, err = l.fetchNewest(ctx); err != nil {
			return span{}, err
		}
	}
	if prev.end() != after {
		return span{}, fmt.Errorf("nats: append at %d: %w (head is %d)", after, stores.ErrConflict, prev.end())
	}
	return prev, nil
}

// Head implements stores.Log: it asks the server for the newest message.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	if l.closed.Load() {
		return 0, stores.ErrClosed
	}
	s, err := l.fetchNewest(ctx)
	if err != nil {
		return 0, err
	}
	return s.end(), nil
}

// newest returns the newest message this Log knows of, without I/O.
func (l *Log) newest() (span, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, l.lastKnown
}

// fetchNewest asks the server for the newest message and learns it. It returns
// the newest message known afterwards.
func (l *Log) fetchNewest(ctx context.Context) (span, error) {
	for attempt := 0; ; attempt++ {
		m, err := l.stream.GetLastMsgForSubject(ctx, l.subject)
		s := beforeFirst
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			// An empty stream; unless it held messages once and a purge
			// took them all, which TruncateBefore never does (it keeps the
			// newest message): the positions are lost, and appending at 1
			// would reuse them.
			info, err := l.stream.Info(ctx)
			if err != nil {
				return span{}, interpretError(ctx, "head", err)
			}
			if info.State.Msgs > 0 && attempt < 3 {
				continue // appended meanwhile
			}
			if info.State.LastSeq > 0 {
				return span{}, fmt.Errorf("nats: stream %s holds no message but has stored %d: it was purged entirely: %w",
					info.Config.Name, info.State.LastSeq, stores.ErrCorrupt)
			}
		case err != nil:
			return span{}, interpretError(ctx, "head", err)
		default:
			if s, err = spanOf(m.Sequence, m.Header); err != nil {
				return span{}, err
			}
		}
		l.learn(s)
		last, _ := l.newest()
		return last, nil
	}
}

// maxAnchors bounds the anchor cache.
const maxAnchors = 4096

// learn records that message s exists, advancing the newest message and
// waking waiters when s is newer.
func (l *Log) learn(s span) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lastKnown || s.seq > l.last.seq {
		l.last, l.lastKnown = s, true
		close(l.grew)
		l.grew = make(chan struct{})
	}
	if s.seq <= l.floor.seq {
		return
	}
	i, found := slices.BinarySearchFunc(l.anchors, s.seq, func(a span, seq uint64) int {
		switch {
		case a.seq < seq:
			return -1
		case a.seq > seq:
			return 1
		}
		return 0
	})
	if found {
		return
	}
	l.anchors = slices.Insert(l.anchors, i, s)
	if len(l.anchors) > maxAnchors {
		// Keep every other anchor: the cache stays spread over the log.
		kept := l.anchors[:0]
		for j := 0; j < len(l.anchors); j += 2 {
			kept = append(kept, l.anchors[j])
		}
		l.anchors = kept
	}
}

// spanOf reads a log message's headers.
func spanOf(seq uint64, h natsgo.Header) (span, error) {
	first, err1 := strconv.ParseUint(h.Get(hdrFirst), 10, 64)
	n, err2 := strconv.ParseUint(h.Get(hdrCount), 10, 64)
	if err := errors.Join(err1, err2); err != nil || first == 0 || n == 0 {
		return span{}, fmt.Errorf("nats: message %d: bad %s/%s headers: %w", seq, hdrFirst, hdrCount, stores.ErrCorrupt)
	}
	return span{seq: seq, first: first, n: n}, nil
}

// Close implements stores.Log. It stops the tail consumer and closes the
// connection; waiters return stores.ErrClosed. Appends that returned before
// Close were acknowledged by the server.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	close(l.done)
	l.watchMu.Lock()
	if l.watch != nil {
		l.watch.Stop()
		l.watch = nil
	}
	l.watchMu.Unlock()
	l.nc.Close()
	return nil
}
