package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/omniq/omniq/engine/archive"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// DefaultRetention is how long an ended task stays in the live state and the
// log before retention archives it: a week, long enough to inspect last
// week's failures, short enough that a busy queue's memory and log level off.
const DefaultRetention = 7 * 24 * time.Hour

// KeepEverything, as Retention.Age, turns retention off: every ended task
// stays in the state (as a compact record) and every event in the log.
const KeepEverything time.Duration = -1

// DefaultArchiveDir is the retention archive of a log that has no local
// place (PostgreSQL, Redis, NATS, memory), relative to the working directory.
const DefaultArchiveDir = "omniq-archive"

// Retention says how long ended tasks are kept before they are compacted
// out of the live state and the log into an archive (see Engine.Compact).
// The zero value is the default: DefaultRetention, into the default archive.
//
// An ended task stays between Age and Age×5/4: retention compacts once the
// oldest ended task is Age×5/4 old, dropping everything older than Age, so
// that each compaction (which writes the whole retained state into the
// log) removes a quarter of what it keeps, not a sliver.
type Retention struct {
	// Age: a task that ended (completed, failed, expired, cancelled or
	// deleted) more than Age ago is archived, and so is a deleted
	// schedule. 0 means DefaultRetention; KeepEverything (negative) turns
	// retention off.
	Age time.Duration
	// Every is how often the engine looks; 0 means Age/20, at least a
	// second and at most a minute.
	Every time.Duration
	// Archive receives the events retention removes from the log. nil
	// means an archive.Dir (compressed JSON Lines) beside the data: the
	// log's place with ".archive" appended when the log implements
	// stores.Placed, else DefaultArchiveDir. The directory is created when
	// retention first archives something.
	Archive Archive
}

// WithRetention sets the retention (default: Retention{}, a week, archived
// beside the data). Retention needs a log that implements
// stores.Truncater; on another it is off.
func WithRetention(r Retention) Option {
	return func(c *config) { c.retention = r }
}

// ArchiveLookup is implemented by archives that can answer for a task
// that left the live state (archive.Dir does). GetTask answers ErrArchived
// for a task the archive holds, and History adds its archived events.
type ArchiveLookup interface {
	Contains(ctx context.Context, id string) (bool, error)
	History(ctx context.Context, id string) ([]events.Event, error)
}

// retainer is the engine's retention: its settings and archive.
type retainer struct {
	age, every time.Duration
	place      string     // where the default archive goes
	pass       sync.Mutex // one pass at a time (Retain)

	mu       sync.Mutex // guards the fields below; never held while compacting
	archive  Archive    // nil until opened
	err      error      // the last pass's error, for RetentionStatus
	runs     int
	archived int
}

// newRetainer returns the retention for log, or nil when it is off.
func newRetainer(r Retention, log stores.Log) *retainer {
	if r.Age < 0 {
		return nil
	}
	if _, ok := log.(stores.Truncater); !ok {
		return nil
	}
	rt := &retainer{age: r.Age, every: r.Every, archive: r.Archive}
	if rt.age == 0 {
		rt.age = DefaultRetention
	}
	if rt.every <= 0 {
		rt.every = min(max(rt.age/20, time.Second), time.Minute)
	}
	rt.place = DefaultArchiveDir
	if p, ok := log.(stores.Placed); ok && p.Place() != "" {
		rt.place = p.Place() + ".archive"
	}
	if rt.archive == nil {
		// Opening reads only the directory's file names; an existing
		// directory is picked up now so that lookups find what it holds.
		if d, err := archive.Open(rt.place); err == nil {
			rt.archive = d
		} else {
			rt.err = err
		}
	}
	return rt
}

// retentionLoop runs a retention pass every r.every until Close.
func (e *Engine) retentionLoop() {
	defer e.done.Done()
	t := time.NewTicker(e.retain.every)
	defer t.Stop()
	// A pass under way when Close is called ends at its next command
	// (ErrClosed); Close waits for it.
	ctx := context.Background()
	for {
		select {
		case <-e.quit:
			return
		case <-t.C:
			if _, err := e.Retain(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
				e.cfg.logger.Error("retention pass failed", "err", err)
			}
		}
	}
}

// Retain runs one retention pass now: when the oldest ended task is older
// than Age×5/4, it compacts every task that ended more than Age ago into
// the archive (see Compact). It reports what the compaction did (a zero
// result when there was nothing to do). With retention off it does nothing.
func (e *Engine) Retain(ctx context.Context) (CompactResult, error) {
	r := e.retain
	if r == nil {
		return CompactResult{}, nil
	}
	now := e.now()
	e.mu.RLock()
	oldest := e.state.OldestEnd()
	e.mu.RUnlock()
	if oldest == 0 || !oldest.Time().Before(now.Add(-r.age-r.age/4)) {
		return CompactResult{}, nil
	}
	r.pass.Lock()
	defer r.pass.Unlock()
	r.mu.Lock()
	if r.archive == nil {
		d, err := archive.Open(r.place)
		if err != nil {
			r.err = err
			r.mu.Unlock()
			return CompactResult{}, fmt.Errorf("engine: retention: %w", err)
		}
		r.archive = d
	}
	a := r.archive
	r.mu.Unlock()
	// Checked again where the checkpoint is validated: another engine on
	// a shared log may have compacted since the look above.
	limit := events.At(now.Add(-r.age - r.age/4))
	due := func() bool {
		oldest := e.state.OldestEnd()
		return oldest != 0 && oldest < limit
	}
	res, err := e.compact(ctx, now.Add(-r.age), a, due)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
	if err == nil && res.Checkpoint != 0 {
		r.runs++
		r.archived += res.Archived
	}
	return res, err
}

// RetentionStatus says how retention is set and what it did.
type RetentionStatus struct {
	On       bool
	Age      time.Duration
	Every    time.Duration
	Archive  string // where archived events go
	Runs     int    // compactions retention ran in this process
	Archived int    // events they archived
	Err      error  // the last pass's error (nil: it succeeded or did nothing)
}

// RetentionStatus returns the retention's settings and counts.
func (e *Engine) RetentionStatus() RetentionStatus {
	r := e.retain
	if r == nil {
		return RetentionStatus{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RetentionStatus{On: true, Age: r.age, Every: r.every, Archive: r.place, Runs: r.runs, Archived: r.archived, Err: r.err}
	if r.archive != nil {
		st.Archive = r.archive.String()
	}
	return st
}

// archiveLookup returns the archive retention writes to when it can answer
// for archived tasks.
func (e *Engine) archiveLookup() ArchiveLookup {
	if e.retain == nil {
		return nil
	}
	e.retain.mu.Lock()
	a := e.retain.archive
	e.retain.mu.Unlock()
	l, _ := a.(ArchiveLookup)
	return l
}

// archived returns ErrArchived for taskID when the archive holds it, else
// the ErrNotFound that GetTask gives.
func (e *Engine) archived(ctx context.Context, taskID string) error {
	if l := e.archiveLookup(); l != nil {
		if ok, err := l.Contains(ctx, taskID); err == nil && ok {
			return fmt.Errorf("%w: task %q ended more than %v ago; its history is in %s", ErrArchived, taskID, e.retain.age, archiveName(l))
		}
	}
	return fmt.Errorf("%w: task %q", ErrNotFound, taskID)
}

func archiveName(l ArchiveLookup) string {
	if s, ok := l.(fmt.Stringer); ok {
		return s.String()
	}
	return "the archive"
}
