package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
)

// This file holds the log seen through time: the state as it stood at a
// past position (StateAt, a PastState to query), the position the log had
// reached at an instant (PositionAt), and the log's events as the activity
// the dashboard's charts count (FollowActivity). The state at a point is
// rebuilt by replay, as Open does: from the store's snapshot when it is at
// or before the point, else from the log's start (or from a PastState
// already rebuilt at an earlier point, when the caller has one), then the
// events up to the point.

// ErrCompactedAway: the point asked for is older than what the log keeps;
// compaction removed the events before its first checkpoint (their history
// is in the archive). Errors that wrap it wrap ErrInvalidArgument too.
var ErrCompactedAway = errors.New("that point of the log was compacted away")

// PastState is the state as it stood after the event at a past position:
// a read-only view, safe for concurrent use. It holds a whole projection,
// as large as the engine's own state was then.
type PastState struct {
	// mu serializes reads: counting the tasks held back moves due ones
	// into their queues (projections.State.DelayedCounts).
	mu   sync.Mutex
	st   *projections.State
	at   time.Time        // the time of the event at the position (zero for position 0)
	now  events.Timestamp // the clock the view reads tasks with: at
	head uint64           // the log's head when it was rebuilt
}

// Position is the last event the view folds in (0: none, the empty log).
func (p *PastState) Position() uint64 { return p.st.Position() }

// Time is the time of the event at Position (zero for position 0).
func (p *PastState) Time() time.Time { return p.at }

// Head is the log's head when the view was rebuilt.
func (p *PastState) Head() uint64 { return p.head }

// StateAt rebuilds the state as it stood after the event at pos (0: before
// the first event, the empty state). base, when not nil, is a view this
// engine rebuilt earlier: when it is at or before pos the replay starts
// from a copy of it instead of the log's start or snapshot. Errors:
// ErrInvalidArgument for a position past the log's head, ErrCompactedAway
// for one before the log's first checkpoint, and the store's own.
func (e *Engine) StateAt(ctx context.Context, pos uint64, base *PastState) (*PastState, error) {
	head, first, err := e.bounds(ctx)
	if err != nil {
		return nil, err
	}
	if pos > head {
		return nil, fmt.Errorf("%w: position %d is past the log's head %d", ErrInvalidArgument, pos, head)
	}
	if pos > 0 && pos < first {
		return nil, compactedAway(pos, first)
	}
	var st *projections.State
	if base != nil && base.Position() <= pos && base.Position() >= first {
		// A copy of base: a snapshot of it, restored.
		base.mu.Lock()
		data, err := base.st.Snapshot()
		base.mu.Unlock()
		if err == nil {
			st, err = projections.Restore(data)
		}
		if err != nil {
			return nil, fmt.Errorf("engine: state at %d: copy the state at %d: %w", pos, base.Position(), err)
		}
		if st.Position() < pos {
			f := folder{st: st, next: st.Position() + 1}
			err = readPages(ctx, e.log, st.Position()+1, pos, false, func(page []events.Event) error { return f.page(page, nil) })
			if err == nil && f.seeking {
				err = fmt.Errorf("the log skips from %d with no checkpoint: %w", st.Position(), stores.ErrCorrupt)
			}
			if err != nil {
				st = nil // replay from the start below
			}
		}
	}
	if st == nil && pos > 0 {
		st, _, err = replay(ctx, e.log, pos)
		if err != nil {
			if first > 1 && errors.Is(err, stores.ErrCorrupt) {
				// Between the log's first event and its first checkpoint.
				return nil, compactedAway(pos, first)
			}
			return nil, fmt.Errorf("engine: state at %d: %w", pos, err)
		}
	}
	if st == nil {
		st = projections.New()
	}
	if st.Position() != pos {
		return nil, fmt.Errorf("engine: state at %d: the replay reached %d: %w", pos, st.Position(), stores.ErrCorrupt)
	}
	p := &PastState{st: st, head: head}
	if pos > 0 {
		ev, err := e.eventAt(ctx, pos)
		if err != nil {
			return nil, fmt.Errorf("engine: state at %d: %w", pos, err)
		}
		p.at = ev.Time
	}
	p.now = events.At(p.at)
	return p, nil
}

func compactedAway(pos, first uint64) error {
	return fmt.Errorf("%w: %w: position %d; the log now starts at %d (its first checkpoint holds everything before)",
		ErrInvalidArgument, ErrCompactedAway, pos, first)
}

// bounds returns the log's head and its first position (1 unless it was
// compacted).
func (e *Engine) bounds(ctx context.Context) (head, first uint64, err error) {
	if head, err = e.log.Head(ctx); err != nil {
		return 0, 0, fmt.Errorf("engine: head: %w", err)
	}
	first = 1
	if tr, ok := e.log.(stores.Truncater); ok {
		f, err := tr.First(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("engine: first position: %w", err)
		}
		first = max(f, 1)
	}
	return head, first, nil
}

// eventAt reads the event at pos.
func (e *Engine) eventAt(ctx context.Context, pos uint64) (events.Event, error) {
	evs, err := e.log.Read(ctx, pos, 1)
	if err != nil {
		return events.Event{}, fmt.Errorf("read %d: %w", pos, err)
	}
	if len(evs) != 1 || evs[0].Position != pos {
		return events.Event{}, fmt.Errorf("position %d cannot be read: %w", pos, ErrCompactedAway)
	}
	return evs[0], nil
}

// PositionAt returns the position the log had reached at instant t: the
// last event written at or before t (0 when the log was empty then). It
// searches by halves, reading one event per step, so it costs about 40
// reads however long the log: it assumes the events' times grow with their
// positions, which holds for one writer whose clock does not go back (for
// several writers, or a clock set back, the answer is a position at
// whose neighbours the time passes t). ErrCompactedAway when t is before
// the log's first retained event and events were removed before it.
func (e *Engine) PositionAt(ctx context.Context, t time.Time) (uint64, error) {
	head, first, err := e.bounds(ctx)
	if err != nil || head < first {
		return head, err
	}
	ev, err := e.eventAt(ctx, first)
	if err != nil {
		return 0, fmt.Errorf("engine: position at %s: %w", t.Format(time.RFC3339Nano), err)
	}
	if ev.Time.After(t) {
		if first > 1 {
			return 0, fmt.Errorf("%w: %w: %s is before the log's first retained event (#%d at %s)", ErrInvalidArgument, ErrCompactedAway,
				t.UTC().Format(time.RFC3339Nano), first, ev.Time.Format(time.RFC3339Nano))
		}
		return 0, nil
	}
	// INVARIANT: the event at lo is at or before t; every event past hi is after it.
	lo, hi := first, head
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		ev, err := e.eventAt(ctx, mid)
		if err != nil {
			return 0, fmt.Errorf("engine: position at %s: %w", t.Format(time.RFC3339Nano), err)
		}
		if ev.Time.After(t) {
			hi = mid - 1
		} else {
			lo = mid
		}
	}
	return lo, nil
}

// Stats is Engine.Stats at the view's point. Waiting (idle workers) is
// not known there and is 0; Compacted is 0.
func (p *PastState) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return statsOf(p.st, p.now)
}

// GetTask is Engine.GetTask at the view's point: ErrNotFound for a task
// that did not exist then, or had been deleted.
func (p *PastState) GetTask(id string) (*Task, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.st.Task(id); r != nil && r.Status != projections.StatusDeleted {
		return taskFromRecord(r, p.now), nil
	}
	if sc := p.st.Schedule(id); sc != nil && !sc.Deleted {
		return taskFromSchedule(sc), nil
	}
	return nil, fmt.Errorf("%w: task %q at position %d", ErrNotFound, id, p.st.Position())
}

// Graph is Engine.Graph at the view's point: the dependency graph of a
// task as it stood then, its tasks in the states they had then.
func (p *PastState) Graph(id string, depth, maxNodes int) (TaskGraph, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return graphOf(p.st, id, depth, maxNodes, p.now)
}

// ListTasks is Engine.ListTasks at the view's point: the tasks the state
// held then, in the states they had then, with the same filters and pages.
func (p *PastState) ListTasks(f TaskFilter) ([]*Task, string, error) {
	sc, q, err := listScan(&f)
	if err != nil || f.State == StateScheduled {
		return nil, "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return listTasks(p.st, f, sc, q, p.now)
}

// Timetable is Engine.Timetable at the view's point.
func (p *PastState) Timetable(limit int) (Timetable, error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 0 || limit > MaxTimetableDelayed {
		return Timetable{}, fmt.Errorf("%w: limit %d is not between 1 and %d", ErrInvalidArgument, limit, MaxTimetableDelayed)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return timetableOf(p.st, p.now, limit), nil
}

// Leases is Engine.Leases at the view's point.
func (p *PastState) Leases(n int) (Leases, error) {
	if n < 0 || n > MaxListLimit {
		return Leases{}, fmt.Errorf("%w: %d leases asked for, at most %d", ErrInvalidArgument, n, MaxListLimit)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return leasesOf(p.st, n), nil
}

// ActivityKind says what an Activity counts.
type ActivityKind uint8

// Kinds of Activity.
const (
	ActivityEnqueued  ActivityKind = iota + 1 // a task was enqueued (by a caller or a schedule's fire)
	ActivityStarted                           // a worker leased a task
	ActivityCompleted                         // a task completed
	ActivityFailed                            // a task failed for good
)

// Activity is one event of the log as a rate counts it.
type Activity struct {
	Kind     ActivityKind
	Position uint64
	Time     time.Time
	TaskID   string
	// ReadyAt, for ActivityEnqueued: the first time the task may start
	// (its run-at, else its enqueue time).
	ReadyAt time.Time
	// Attempt, for ActivityStarted: the attempt the lease starts (1 for
	// the first).
	Attempt int
}

// FollowActivity is Follow reduced to the events rates count: enqueues,
// leases, completions and failures, in position order. Every other event
// is read and passed over.
func (e *Engine) FollowActivity(ctx context.Context, after uint64, fn func(Activity) error) error {
	return e.Follow(ctx, after, func(ev events.Event) error { return activityOf(ev, fn) })
}

// ReadActivity is FollowActivity over the events after position after up
// to position upto, without waiting for more. A log compacted past after
// is read from its first event.
func (e *Engine) ReadActivity(ctx context.Context, after, upto uint64, fn func(Activity) error) error {
	if after >= upto {
		return nil
	}
	err := stores.ReadAll(ctx, capped(e.log, upto), after+1, fireScanPage, func(ev events.Event) error { return activityOf(ev, fn) })
	if err != nil {
		return fmt.Errorf("engine: activity from %d to %d: %w", after+1, upto, err)
	}
	return nil
}

// activityOf calls fn with ev as an Activity, when it is one.
func activityOf(ev events.Event, fn func(Activity) error) error {
	a := Activity{Position: ev.Position, Time: ev.Time, TaskID: ev.TaskID}
	switch p := ev.Payload.(type) {
	case *events.TaskEnqueued:
		a.Kind, a.ReadyAt = ActivityEnqueued, ev.Time
		if at := p.Spec.RunAt.Time(); p.Spec.RunAt != 0 && at.After(ev.Time) {
			a.ReadyAt = at
		}
	case *events.TaskLeased:
		a.Kind, a.Attempt = ActivityStarted, p.Attempt
	case *events.TaskCompleted:
		a.Kind = ActivityCompleted
	case *events.TaskFailed:
		a.Kind = ActivityFailed
	default:
		return nil
	}
	return fn(a)
}
