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

// Replay rebuilds the state of log at until. For a position it starts from
// the log's snapshot when one is usable (engine.Replay); for a time it folds
// the whole log from the start, since timestamps need not grow with
// positions (a clock set back, several writers). Events the projection
// ignores are skipped as on every replica. Errors: ErrPastHead, errors
// wrapping stores.ErrCorrupt for a log that cannot be folded, and the
// store's own.
func Replay(ctx context.Context, log stores.Log, until Until, opts ReplayOptions) (*Point, error) {
	head, err := log.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: replay: head: %w", err)
	}
	if until.Position == 0 && until.Time.IsZero() {
		return nil, fmt.Errorf("%w: nothing given", ErrBadUntil)
	}
	if until.Position != 0 {
		return replayToPosition(ctx, log, until.Position, head, opts)
	}
	return replayToTime(ctx, log, until.Time, head, opts)
}

func replayToPosition(ctx context.Context, log stores.Log, pos, head uint64, opts ReplayOptions) (*Point, error) {
	if pos > head {
		return nil, fmt.Errorf("%w: %d > head %d", ErrPastHead, pos, head)
	}
	st, err := engine.Replay(ctx, withProgress(log, head, opts.Progress), pos)
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
func replayToTime(ctx context.Context, log stores.Log, t time.Time, head uint64, opts ReplayOptions) (*Point, error) {
	st := projections.New()
	p := &Point{State: st, Head: head}
	apply := func(ev events.Event) error {
		if err := st.Apply(ev); errors.Is(err, projections.ErrGap) {
			return fmt.Errorf("audit: replay: %w: %w", stores.ErrCorrupt, err)
		}
		return nil
	}
	var pos uint64
	err := stores.ReadAll(ctx, log, 1, 4096, func(ev events.Event) error {
		pos = ev.Position
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
		if opts.Progress != nil && ev.Position%4096 == 0 {
			opts.Progress(ev.Position, head)
		}
		return nil
	})
	if err != nil {
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

// withProgress returns log, reporting each read's last position to fn, and
// keeping log's snapshot store visible so that engine.Replay can use it.
func withProgress(log stores.Log, head uint64, fn func(position, head uint64)) stores.Log {
	if fn == nil {
		return log
	}
	pl := progressLog{Log: log, head: head, fn: fn}
	if ss, ok := log.(stores.SnapshotStore); ok {
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
