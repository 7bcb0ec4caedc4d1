package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
)

// Errors of Replay and ParseUntil. Match them with errors.Is.
var (
	// ErrBadUntil: the point to replay to is neither a position nor an RFC
	// 3339 time.
	ErrBadUntil = errors.New("audit: --until must be a log position (1, 2, …) or an RFC 3339 time")
	// ErrPastHead: the position to replay to is beyond the log's head.
	ErrPastHead = errors.New("audit: position is beyond the log's head")
	// ErrUnknownTask: the task or schedule did not exist at that point.
	ErrUnknownTask = errors.New("audit: no such task at that point")
	// ErrCompacted: that point is older than the log's first checkpoint; the
	// events before it were removed (their history is in the archive the
	// checkpoint names).
	ErrCompacted = errors.New("audit: that point of history was compacted away")
)

// Until names a point of a log's history: exactly one of its fields is set.
type Until struct {
	// Position: the state after the event at Position.
	Position uint64
	// Time: the state after the last event (the one at the highest
	// position) whose timestamp is at or before Time.
	Time time.Time
}

// ParseUntil reads a point: a positive integer is a position, anything else
// must be an RFC 3339 time (with or without fractional seconds). Errors wrap
// ErrBadUntil.
func ParseUntil(s string) (Until, error) {
	s = strings.TrimSpace(s)
	if s != "" && s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:T") {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return Until{}, fmt.Errorf("%w: %q is not a position (positions start at 1)", ErrBadUntil, s)
		}
		return Until{Position: n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Until{}, fmt.Errorf("%w: %q: %v", ErrBadUntil, s, err)
	}
	return Until{Time: t.UTC()}, nil
}

func (u Until) String() string {
	if u.Position != 0 {
		return "position " + strconv.FormatUint(u.Position, 10)
	}
	return u.Time.Format(time.RFC3339Nano)
}

// ReplayOptions tunes Replay.
type ReplayOptions struct {
	// UseSnapshot lets a replay to a position start from the snapshot kept
	// beside the log (stores.SnapshotStore) when it is at or before that
	// position. Off by default: an audit folds the events themselves rather
	// than trust a cache (Verify checks the snapshot against them).
	UseSnapshot bool
	// Progress, when set, is called now and then with the position reached
	// and the head.
	Progress func(position, head uint64)
}

// Point is the state of a log at one point of its history.
type Point struct {
	State *projections.State
	// Position is the last event folded (0: none, the empty state); Time is
	// its timestamp.
	Position uint64
	Time     time.Time
	// Head is the log's head when the replay started.
	Head uint64
}

// Replay rebuilds the state of log at until, folding its events from the
// start (engine.Replay; with UseSnapshot, a replay to a position starts from
// the log's snapshot when one is usable). A replay to a time reads the whole
// log, since timestamps need not grow with positions (a clock set back,
// several writers). Events the projection
// ignores are skipped as on every replica. A compacted log (see
// stores.Truncater) is folded from its first log.checkpoint. Errors:
// ErrPastHead, ErrCompacted, errors wrapping stores.ErrCorrupt for a log that
// cannot be folded, and the store's own.
func Replay(ctx context.Context, log stores.Log, until Until, opts ReplayOptions) (*Point, error) {
	head, err := log.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: replay: head: %w", err)
	}
	if until.Position == 0 && until.Time.IsZero() {
		return nil, fmt.Errorf("%w: nothing given", ErrBadUntil)
	}
	first, err := firstPosition(ctx, log)
	if err != nil {
		return nil, err
	}
	if until.Position != 0 {
		return replayToPosition(ctx, log, until.Position, first, head, opts)
	}
	return replayToTime(ctx, log, until.Time, first, head, opts)
}

// firstPosition returns the position of the log's oldest event: 1, or later
// for a compacted log.
func firstPosition(ctx context.Context, log stores.Log) (uint64, error) {
	tr, ok := log.(stores.Truncater)
	if !ok {
		return 1, nil
	}
	first, err := tr.First(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: first position: %w", err)
	}
	return max(first, 1), nil
}

func replayToPosition(ctx context.Context, log stores.Log, pos, first, head uint64, opts ReplayOptions) (*Point, error) {
	if pos > head {
		return nil, fmt.Errorf("%w: %d > head %d", ErrPastHead, pos, head)
	}
	if pos < first {
		return nil, fmt.Errorf("%w: position %d; the log starts at %d", ErrCompacted, pos, first)
	}
	st, err := engine.Replay(ctx, wrap(log, head, opts), pos)
	if err != nil && first > 1 && errors.Is(err, stores.ErrCorrupt) {
		return nil, fmt.Errorf("%w: position %d is not after the log's first checkpoint: %w", ErrCompacted, pos, err)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: replay: %w", err)
	}
	if st.Position() != pos {
		return nil, fmt.Errorf("audit: replay: %w: reached position %d, want %d", stores.ErrCorrupt, st.Position(), pos)
	}
	evs, err := log.Read(ctx, pos, 1)
	if err != nil {
		return nil, fmt.Errorf("audit: replay: read %d: %w", pos, err)
	}
	if len(evs) != 1 || evs[0].Position != pos {
		return nil, fmt.Errorf("audit: replay: %w: position %d cannot be read back", stores.ErrCorrupt, pos)
	}
	return &Point{State: st, Position: pos, Time: evs[0].Time, Head: head}, nil
}

// replayToTime folds events up to the last one at or before t. Events after
// t are held back; when a later event is at or before t again, the held-back
// ones are read again and folded first, so that no event is kept in memory.
func replayToTime(ctx context.Context, log stores.Log, t time.Time, first, head uint64, opts ReplayOptions) (*Point, error) {
	st := projections.New()
	p := &Point{State: st, Head: head}
	apply := func(ev events.Event) error {
		if err := st.Apply(ev); errors.Is(err, projections.ErrGap) {
			return fmt.Errorf("%w: %w", stores.ErrCorrupt, err)
		}
		return nil
	}
	seeking := first > 1 // compacted: the fold starts at the first checkpoint
	var pos uint64
	err := stores.ReadAll(ctx, log, first, 4096, func(ev events.Event) error {
		pos = ev.Position
		if opts.Progress != nil && ev.Position%4096 == 0 {
			opts.Progress(ev.Position, head)
		}
		if seeking {
			if !projections.StartsCheckpoint(ev) {
				return nil
			}
			if ev.Time.After(t) {
				return fmt.Errorf("%w: %s is before the log's first checkpoint (#%d at %s)", ErrCompacted,
					t.Format(time.RFC3339Nano), ev.Position, ev.Time.Format(time.RFC3339Nano))
			}
			if err := st.Apply(ev); err != nil {
				return fmt.Errorf("%w: the first checkpoint (#%d) cannot be applied: %w", stores.ErrCorrupt, ev.Position, err)
			}
			seeking = false
			p.Position, p.Time = ev.Position, ev.Time
			return nil
		}
		if ev.Time.After(t) {
			return nil
		}
		if st.Position()+1 < ev.Position {
			// Fold the events held back, then this one.
			err := stores.ReadAll(ctx, capped{log, ev.Position - 1}, st.Position()+1, 4096, apply)
			if err != nil {
				return err
			}
		}
		if err := apply(ev); err != nil {
			return err
		}
		p.Position, p.Time = ev.Position, ev.Time
		return nil
	})
	if err == nil && seeking {
		err = fmt.Errorf("%w: the log starts at %d and holds no checkpoint", stores.ErrCorrupt, first)
	}
	if err != nil {
		if errors.Is(err, ErrCompacted) {
			return nil, err
		}
		return nil, fmt.Errorf("audit: replay: %w", err)
	}
	if opts.Progress != nil {
		opts.Progress(pos, head)
	}
	if st.Position() != p.Position {
		return nil, fmt.Errorf("audit: replay: %w: folded to %d, want %d", stores.ErrCorrupt, st.Position(), p.Position)
	}
	return p, nil
}

// capped is a log whose head is at most max, to read a range with ReadAll.
type capped struct {
	stores.Log
	max uint64
}

func (c capped) Head(ctx context.Context) (uint64, error) {
	h, err := c.Log.Head(ctx)
	return min(h, c.max), err
}

// wrap returns log as engine.Replay should see it: reporting each read's
// last position to opts.Progress, and showing its snapshot store only when
// opts.UseSnapshot is set.
func wrap(log stores.Log, head uint64, opts ReplayOptions) stores.Log {
	fn := opts.Progress
	if fn == nil {
		fn = func(uint64, uint64) {}
	}
	pl := progressLog{Log: log, head: head, fn: fn}
	if ss, ok := log.(stores.SnapshotStore); ok && opts.UseSnapshot {
		return progressSnapshotLog{pl, ss}
	}
	return pl
}

type progressLog struct {
	stores.Log
	head uint64
	fn   func(position, head uint64)
}

func (l progressLog) Read(ctx context.Context, from uint64, max int) ([]events.Event, error) {
	evs, err := l.Log.Read(ctx, from, max)
	if len(evs) > 0 {
		l.fn(evs[len(evs)-1].Position, l.head)
	}
	return evs, err
}

type progressSnapshotLog struct {
	progressLog
	stores.SnapshotStore
}
