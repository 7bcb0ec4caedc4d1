package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// Log is a stores.Log in a Redis stream. It is safe for concurrent use, and
// any number of Log values, in any number of processes, may share one log.
type Log struct {
	rdb  *goredis.Client
	opts Options

	streamKey, headKey, snapKey string

	closed atomic.Bool
	done   chan struct{} // closed by Close; wakes Wait
}

var _ stores.Shared = (*Log)(nil)

// appendScript appends one batch. KEYS: stream, head. ARGV: event count,
// batch and, for a conditional append, the head expected. It returns the
// batch's first position, or, when the head is not the one expected, a
// one-element array holding the head and writes nothing.
//
// INVARIANT: the stream entry holding positions first..first+n-1 has ID
// <first>-1, and head = first+n-1 of the newest entry. XADD runs before the
// head moves: Redis does not roll a script back, so if XADD fails nothing has
// been written. The head is compared as the decimal string the script
// stores, so no position is rounded through a Lua number.
var appendScript = goredis.NewScript(`
local raw = redis.call('GET', KEYS[2]) or '0'
if ARGV[3] and ARGV[3] ~= raw then
	return {raw}
end
local head = tonumber(raw)
local first = head + 1
redis.call('XADD', KEYS[1], string.format('%d-1', first), 'n', ARGV[1], 'b', ARGV[2])
redis.call('SET', KEYS[2], string.format('%d', head + tonumber(ARGV[1])))
return first
`)

// Open connects to the server in opts and returns the log opts.Name, creating
// nothing until the first append. It fails with stores.ErrUnavailable when the
// server cannot be reached, and with ErrNotDurable when opts.RequireAOF is set
// and the server runs without appendonly yes.
func Open(ctx context.Context, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if err := validateName(opts.Name); err != nil {
		return nil, err
	}
	rdb := goredis.NewClient(&goredis.Options{
		Addr:      opts.addr(),
		DB:        opts.DB,
		Username:  opts.Username,
		Password:  opts.Password,
		TLSConfig: opts.TLS,
		PoolSize:  opts.PoolSize,
		// A retried EVALSHA could append a batch twice; callers see
		// ErrUnavailable instead and decide.
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
		// Maintenance push notifications are a Redis Enterprise/8.x feature;
		// do not negotiate them.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	tag := "{" + opts.Name + "}"
	l := &Log{
		rdb:       rdb,
		opts:      opts,
		streamKey: tag + ":log",
		headKey:   tag + ":head",
		snapKey:   tag + ":snap",
		done:      make(chan struct{}),
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, interpretError(ctx, "open "+opts.addr(), err)
	}
	if opts.RequireAOF {
		d, err := l.Durability(ctx)
		if err != nil {
			_ = rdb.Close()
			return nil, err
		}
		if !d.AppendOnly {
			_ = rdb.Close()
			return nil, fmt.Errorf("%w (server %s: %s)", ErrNotDurable, opts.addr(), d)
		}
	}
	return l, nil
}

// Keys returns the Redis keys of the log: stream, head counter and snapshot.
// Deleting all three deletes the log.
func (l *Log) Keys() []string { return []string{l.streamKey, l.headKey, l.snapKey} }

// Append implements stores.Log: the batch becomes one stream entry, written
// atomically with the head by one script. Errors: stores.ErrEmptyBatch,
// stores.ErrClosed, stores.ErrUnavailable (the append may or may not have
// been applied), an encoding error (nothing written).
func (l *Log) Append(ctx context.Context, batch []events.Event) (uint64, error) {
	return l.append(ctx, batch, false, 0)
}

// AppendAt implements stores.Conditional: Append, by the same script, which
// compares the head with after before it writes anything. Errors: those of
// Append, and stores.ErrConflict when the head is not after (nothing
// written).
func (l *Log) AppendAt(ctx context.Context, after uint64, batch []events.Event) (uint64, error) {
	return l.append(ctx, batch, true, after)
}

// append appends batch after the head; when cond is set, only if the head is
// after.
func (l *Log) append(ctx context.Context, batch []events.Event, cond bool, after uint64) (uint64, error) {
	op, data, err := stores.PrepareAppend("redis", batch, cond, after, func(string) error {
		if l.closed.Load() {
			return stores.ErrClosed
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	args := []any{len(batch), data}
	if cond {
		args = append(args, strconv.FormatUint(after, 10))
	}
	res, err := appendScript.Run(ctx, l.rdb, []string{l.streamKey, l.headKey}, args...).Result()
	if err != nil {
		return 0, interpretError(ctx, op, err)
	}
	switch r := res.(type) {
	case int64:
		if r >= 1 {
			return uint64(r), nil
		}
	case []any:
		if len(r) == 1 && cond {
			return 0, fmt.Errorf("redis: %s: %w (head is %v)", op, stores.ErrConflict, r[0])
		}
	}
	return 0, fmt.Errorf("redis: %s: unexpected reply %v from the append script", op, res)
}

// Head implements stores.Log.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	if l.closed.Load() {
		return 0, stores.ErrClosed
	}
	s, err := l.rdb.Get(ctx, l.headKey).Result()
	if err != nil {
		if l.closed.Load() {
			return 0, stores.ErrClosed // closed while the read was under way
		}
		err = interpretError(ctx, "head", err)
		if errors.Is(err, errNil) {
			return 0, nil
		}
		return 0, err
	}
	head, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis: head %q: %w", s, stores.ErrCorrupt)
	}
	return head, nil
}

// maxPage bounds the entries one XRANGE asks for.
const maxPage = 256

// Read implements stores.Log; a position before First reads from First.
// Errors: stores.ErrClosed, stores.ErrCorrupt, stores.ErrUnavailable.
func (l *Log) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	if l.closed.Load() {
		return nil, stores.ErrClosed
	}
	if max <= 0 {
		return nil, nil
	}
	if from == 0 {
		from = 1
	}
	// The entry holding from is the last one whose first position is <= from.
	msgs, err := l.rdb.XRevRangeN(ctx, l.streamKey, entryID(from), "-", 1).Result()
	if err != nil {
		return nil, interpretError(ctx, "read", err)
	}
	if len(msgs) == 0 {
		// No entry starts at or before from: the log is empty, or it was
		// truncated after from and the read starts at its first entry.
		msgs, err = l.rdb.XRangeN(ctx, l.streamKey, "-", "+", 1).Result()
		if err != nil {
			return nil, interpretError(ctx, "read", err)
		}
		if len(msgs) == 0 {
			return nil, nil
		}
	}
	evs, err := decodeEntry(msgs[0])
	if err != nil {
		return nil, err
	}
	first := evs[0].Position
	if from < first {
		from = first
	}
	if from >= first+uint64(len(evs)) {
		return nil, nil // from is past the head
	}
	out := evs[from-first:]
	if len(out) >= max {
		return out[:max:max], nil
	}
	next, per := first+uint64(len(evs)), len(evs)
	for len(out) < max {
		count := min((max-len(out))/per+1, maxPage)
		msgs, err := l.rdb.XRangeN(ctx, l.streamKey, entryID(next), "+", int64(count)).Result()
		if err != nil {
			return nil, interpretError(ctx, "read", err)
		}
		for _, m := range msgs {
			evs, err := decodeEntry(m)
			if err != nil {
				return nil, err
			}
			if evs[0].Position != next {
				return l.readGap(ctx, out, m.ID, evs[0].Position, next)
			}
			out = append(out, evs...)
			next, per = next+uint64(len(evs)), len(evs)
			if len(out) >= max {
				break
			}
		}
		if len(msgs) < count {
			break
		}
	}
	return out[:min(len(out), max)], nil
}

// readGap decides what a read that found the entry at position got where
// position want belongs should return. A truncation since the read began
// removes entries from the front only, so if the entry at got is now the
// first, the read returns the run it has (out, up to want-1), and the caller
// continues from First. Any other gap is corruption.
func (l *Log) readGap(ctx context.Context, out []events.Event, id string, got, want uint64) ([]events.Event, error) {
	first, ok, err := l.firstEntry(ctx)
	if err != nil {
		return nil, err
	}
	if ok && first >= got {
		return out, nil
	}
	return nil, fmt.Errorf("redis: read: entry %s follows position %d: %w", id, want-1, stores.ErrCorrupt)
}

// entryID is the stream ID of the entry whose first position is pos.
func entryID(pos uint64) string { return strconv.FormatUint(pos, 10) + "-1" }

// decodeEntry decodes one stream entry into its events, positions set. It
// returns at least one event or an error wrapping stores.ErrCorrupt.
func decodeEntry(m goredis.XMessage) ([]events.Event, error) {
	corrupt := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("redis: entry %s: %s: %w: %w", m.ID, what, stores.ErrCorrupt, err)
		}
		return fmt.Errorf("redis: entry %s: %s: %w", m.ID, what, stores.ErrCorrupt)
	}
	firstStr, ok := strings.CutSuffix(m.ID, "-1")
	if !ok {
		return nil, corrupt("unexpected ID", nil)
	}
	first, err := strconv.ParseUint(firstStr, 10, 64)
	if err != nil || first == 0 {
		return nil, corrupt("unexpected ID", err)
	}
	nStr, ok1 := m.Values["n"].(string)
	data, ok2 := m.Values["b"].(string)
	if !ok1 || !ok2 {
		return nil, corrupt("missing fields", nil)
	}
	n, err := strconv.ParseUint(nStr, 10, 64)
	if err != nil || n == 0 {
		return nil, corrupt("bad event count", err)
	}
	evs, err := events.UnmarshalBatch([]byte(data), first)
	if err != nil {
		return nil, corrupt("decode batch", err)
	}
	if uint64(len(evs)) != n {
		return nil, corrupt(fmt.Sprintf("holds %d events, says %d", len(evs), n), nil)
	}
	return evs, nil
}

// Close implements stores.Log. It closes the connection pool; waiters return
// stores.ErrClosed. Appends that returned before Close are as durable as the
// server makes them.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	close(l.done)
	if err := l.rdb.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}
