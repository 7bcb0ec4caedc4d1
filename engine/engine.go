package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/stores"
)

// Engine is an event-sourced task queue over a stores.Log. It is safe for
// concurrent use.
type Engine struct {
	log stores.Log
	cfg config

	fires fireMemos // RecentFires' answers, kept between calls

	// mu guards state and the fields below it. The committer holds it while
	// preparing and applying a batch, never while appending.
	mu         sync.RWMutex
	state      *projections.State
	reserved   map[string]bool // task ids touched by commands in the batch being written
	parked     []*command      // waiting dequeues, oldest first (waiters.go); guarded by mu
	snapshotAt uint64          // position of the last snapshot written
	snapshotN  int             // tasks the state held then (see snapshotDue)
	snapBusy   atomic.Bool     // a snapshot is being written in the background
	snapWrites sync.WaitGroup  // the background snapshot write
	inflight   uint64          // events in the batch being appended (0: none)
	// drainFor is a command (a compaction) that needs nothing in flight:
	// while it is set, the preparer defers every other command, so that
	// the reservations drain instead of being renewed by a steady load.
	drainFor  *command
	wantDrain bool // set by a prepare that returns errConflict to drain
	compacted int  // tasks and schedules compactions dropped from the state since Open
	// lastCheckpoint holds the events of the last checkpoint this engine
	// wrote, elided (archive.Elide), with their positions: the next
	// compaction archives them without reading the state back.
	lastCheckpoint []events.Event
	needSync       bool // an append's outcome is unknown: read the log before validating

	// Sharing the log with other writers (shared.go). cond is the log's
	// conditional append, nil for a log only this engine writes.
	cond       stores.Conditional
	epoch      uint64        // moves whenever the state folds in events this engine did not write, or a batch is undone
	redo       []*command    // commands of batches not written, prepared again first
	remoteHead uint64        // the log's head as last learned from the store
	moved      chan struct{} // closed when the state advances; made by a waiting read
	tailKick   chan struct{} // the tail loop or a read asks the committer to catch up
	hold       holding       // another engine's compaction this one waits for (compact_hold.go)
	// lastCompactTook: how long this engine's last checkpoint on the
	// shared log took from its log.compacting notice to landing.
	lastCompactTook time.Duration
	cluster         clusterCounters
	started         time.Time // when Open returned, for the presence record

	cmds       chan *command
	timerKick  chan struct{}
	timerArmed atomic.Int64  // the deadline the timer loop sleeps until (0: none)
	spare      chan *pending // written batches kept for reuse (commit.go)
	quit       chan struct{} // closed by Close
	stopped    chan struct{} // closed when the committer has exited
	done       sync.WaitGroup
	closeMu    sync.Mutex
	closed     bool
	handlers   queue.Handlers
	retain     *retainer // nil: retention is off
}

// Open replays log into a new engine and starts its committer and timer
// loop. When log implements stores.SnapshotStore, Open starts from the
// latest readable snapshot and replays only what follows it.
func Open(ctx context.Context, log stores.Log, opts ...Option) (*Engine, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.workerID == "" {
		host, _ := os.Hostname()
		cfg.workerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	began := time.Now()
	st, snapAt, err := replay(ctx, log, 0)
	if err != nil {
		return nil, err
	}
	cfg.observer.Replayed(st.Position(), time.Since(began))
	e := &Engine{
		log:      log,
		cfg:      cfg,
		state:    st,
		reserved: map[string]bool{},
		// The snapshot actually used, not the state's position: when the
		// stored one was missing or unreadable (an older format), the next
		// Close or periodic pass writes a fresh one instead of leaving every
		// restart to replay the whole log.
		snapshotAt: snapAt,
		snapshotN:  st.Len(),
		cmds:       make(chan *command, cfg.maxBatch),
		timerKick:  make(chan struct{}, 1),
		spare:      make(chan *pending, spareBatches),
		quit:       make(chan struct{}),
		stopped:    make(chan struct{}),
		tailKick:   make(chan struct{}, 1),
		started:    time.Now().UTC(),
	}
	e.cond, _ = log.(stores.Conditional)
	e.done.Add(2)
	go e.commitLoop()
	go e.timerLoop()
	if e.cond != nil {
		e.done.Add(1)
		go e.tailLoop()
		if p, ok := log.(stores.Presence); ok {
			e.done.Add(1)
			go e.presenceLoop(p)
		}
	}
	if e.retain = newRetainer(cfg.retention, log); e.retain != nil {
		e.done.Add(1)
		go e.retentionLoop()
	}
	return e, nil
}

// Replay rebuilds the projection from log as it stood at position until
// (0: the whole log). It starts from the log's snapshot when there is a
// usable one (position <= until and <= head); a missing or unreadable snapshot
// only means a longer replay. Events that do not apply are skipped the same
// way on every replay: the fold is deterministic.
func Replay(ctx context.Context, log stores.Log, until uint64) (*projections.State, error) {
	st, _, err := replay(ctx, log, until)
	return st, err
}

// replay is Replay that also reports the position of the snapshot it
// started from (0: none).
func replay(ctx context.Context, log stores.Log, until uint64) (*projections.State, uint64, error) {
	head, err := log.Head(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("engine: replay: %w", err)
	}
	toHead := until == 0 || until >= head
	if toHead {
		until = head
	}
	st := projections.New()
	var snapAt uint64
	if ss, ok := log.(stores.SnapshotStore); ok {
		if pos, data, err := ss.LoadSnapshot(ctx); err == nil && pos <= until {
			if restored, err := projections.Restore(data); err == nil && restored.Position() == pos {
				st, snapAt = restored, pos
			}
		} else if err != nil && !errors.Is(err, stores.ErrNoSnapshot) && !errors.Is(err, stores.ErrCorrupt) {
			return nil, 0, fmt.Errorf("engine: load snapshot: %w", err)
		}
	}
	// When the log starts after the state's position (it was compacted),
	// events up to the next log.checkpoint are skipped: the checkpoint
	// replaces everything before it.
	f := folder{st: st, next: st.Position() + 1}
	for {
		err = readPages(ctx, log, max(f.next, st.Position()+1), until, true, func(page []events.Event) error {
			return f.page(page, nil)
		})
		if !errors.Is(err, errSkippedPast) || !toHead {
			break
		}
		// Another process sharing the log compacted it past the head
		// read above: replay to its head now.
		if until, err = log.Head(ctx); err != nil {
			break
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("engine: replay: %w", err)
	}
	if f.seeking {
		return nil, 0, fmt.Errorf("engine: replay: the log starts after position %d with no checkpoint: %w", st.Position(), stores.ErrCorrupt)
	}
	return st, snapAt, nil
}

// Close stops the engine: new commands fail with ErrClosed, commands already
// accepted are written and answered, the timer loop stops and, when snapshots
// are on (WithSnapshotEvery) and the log supports them, a snapshot is saved.
// Close does not close the log; the caller may close it once Close returns.
// Close is idempotent.
func (e *Engine) Close() error {
	e.closeMu.Lock()
	if e.closed {
		e.closeMu.Unlock()
		return nil
	}
	e.closed = true
	close(e.quit)
	e.closeMu.Unlock()
	e.done.Wait()
	e.snapWrites.Wait()
	if e.cfg.snapshotEvery == 0 {
		return nil
	}
	return e.saveSnapshot(context.Background())
}

// GetTask implements TaskQueue.
func (e *Engine) GetTask(ctx context.Context, taskID string) (*Task, error) {
	if err := e.syncRead(ctx); err != nil {
		return nil, err
	}
	now := events.At(e.cfg.clock.Now())
	e.mu.RLock()
	defer e.mu.RUnlock()
	r := e.state.Task(taskID)
	if r != nil && r.Status != projections.StatusDeleted {
		return taskFromRecord(r, now), nil
	}
	sc := e.state.Schedule(taskID)
	if sc != nil && !sc.Deleted {
		return taskFromSchedule(sc), nil
	}
	if r != nil || sc != nil {
		return nil, fmt.Errorf("%w: task %q", ErrNotFound, taskID) // deleted
	}
	return nil, e.archived(ctx, taskID)
}

// Stats returns task counts per queue and state. As in GetTask, a pending
// task whose run-at time or retry backoff has not passed counts as waiting.
// It does not fail: on a shared log whose head cannot be read it answers
// from the state as it is (Stats.Position says which); the error is there
// for the Queue interface, which a remote client implements too.
func (e *Engine) Stats(ctx context.Context) (Stats, error) {
	// On a shared log, counts as of the head (a read that cannot reach it
	// answers from the state as it is: Stats.Position says which).
	_ = e.syncRead(ctx)
	now := events.At(e.now())
	e.mu.Lock() // DelayedCounts moves due tasks into their queues
	defer e.mu.Unlock()
	s := statsOf(e.state, now)
	s.Waiting = len(e.parked)
	s.Compacted = e.compacted
	return s, nil
}

// statsOf counts st's tasks as Stats does (the live state, or a past one):
// a pending task whose run-at or backoff is after now counts as waiting.
// REQUIRES: st is not being changed (DelayedCounts moves due tasks).
func statsOf(st *projections.State, now events.Timestamp) Stats {
	s := Stats{Position: st.Position(), Queues: map[string]map[State]int{}}
	s.HotTasks, s.ColdTasks = st.Residency()
	s.PausedQueues = st.PausedQueues()
	delayed := st.DelayedCounts(now)
	for q, counts := range st.Counts() {
		m := map[State]int{}
		for status, n := range counts {
			if status == projections.StatusDeleted {
				continue
			}
			m[State(status.String())] = n
		}
		if d := delayed[q]; d > 0 {
			m[StatePending] -= d
			m[StateWaiting] += d
			if m[StatePending] == 0 {
				delete(m, StatePending)
			}
		}
		s.Queues[q] = m
	}
	st.Schedules(func(sc *projections.Schedule) bool {
		if !sc.Deleted {
			s.Schedules++
		}
		return true
	})
	return s
}

// Position returns the log position the engine's state reflects.
func (e *Engine) Position() uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.state.Position()
}

// Snapshot encodes the engine's current state (see projections.State.Snapshot).
func (e *Engine) Snapshot() ([]byte, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.state.Snapshot()
}

func (e *Engine) isClosed() bool {
	select {
	case <-e.quit:
		return true
	default:
		return false
	}
}

func (e *Engine) now() time.Time { return e.cfg.clock.Now() }
