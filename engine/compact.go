package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	archivepkg "github.com/omniq/omniq/engine/archive"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// ErrCompactionUnsupported: the log cannot remove events (it does not
// implement stores.Truncater).
var ErrCompactionUnsupported = errors.New("engine: the log does not support compaction")

// errTruncatedElsewhere: while this engine archived the events before its
// checkpoint, another engine sharing the log removed some of them (after
// archiving them itself).
var errTruncatedElsewhere = errors.New("engine: the log was compacted by another engine meanwhile")

// errCompactionContended: on a shared log, the checkpoint lost the race for
// the log's head checkpointTries times in a row (see compact_hold.go).
var errCompactionContended = errors.New("engine: the checkpoint kept losing the log's head to other engines")

// checkpointPart is the most state bytes one checkpoint event carries.
const checkpointPart = 512 << 10

// barrier is a reservation that makes every other command wait (the
// preparer defers all commands while it is held): a checkpoint must be the
// last event of its batch, so that Compact's position for it is exact.
const barrier = "\x00checkpoint"

// Archive receives the events compaction removes from the log, in order. A
// checkpoint that this engine wrote comes without its state
// (events.LogCheckpoint.Elided): a fold of the archive recomputes it.
type Archive interface {
	// Write appends events to the archive.
	Write(ctx context.Context, evs []events.Event) error
	// Sync makes everything written durable; compaction removes nothing from
	// the log before Sync returns.
	Sync(ctx context.Context) error
	// String says where the archive is, for the checkpoint event (no secrets).
	String() string
}

// CompactResult says what a compaction did.
type CompactResult struct {
	Checkpoint uint64 // position of the log.checkpoint event
	Parts      int    // log.checkpoint_part events right before it (a large state)
	Archived   int    // events written to the archive and removed from the log
	Dropped    int    // terminal tasks and deleted schedules left out of the state
	First      uint64 // the log's first position afterwards
}

// Compact bounds the log's growth. It appends a log.checkpoint event holding
// the whole state minus the tasks that reached a terminal state (and the
// schedules deleted) before `before`, copies every event older than the
// checkpoint to archive, and then removes them from the log. Replaying the
// log afterwards gives the same live state. Tasks left out are forgotten:
// GetTask answers ErrNotFound (ErrArchived when archive implements
// ArchiveLookup) and a new task cannot depend on them; their history is in
// the archive. A state over 512 KiB goes in log.checkpoint_part events
// right before the checkpoint, in the same batch, or, over 256 MiB, in
// consecutive appends of at most 64 MiB (runs.go). The checkpoint needs
// nothing in flight: while the batches in flight finish, Compact holds new
// commands back. A crash part-way leaves the log whole (the checkpoint only
// makes older events unnecessary, and parts without their checkpoint
// change nothing); compacting again is safe.
func (e *Engine) Compact(ctx context.Context, before time.Time, archive Archive) (CompactResult, error) {
	return e.compact(ctx, before, archive, nil)
}

// compact is Compact, done only if due (when not nil) reports true on the
// state the checkpoint is validated against. On a shared log that is the
// state at the log's head: when several engines decide to compact at once,
// the first checkpoint makes the others' due false, and they write nothing.
func (e *Engine) compact(ctx context.Context, before time.Time, archive Archive, due func() bool) (CompactResult, error) {
	var res CompactResult
	var cp, prev []events.Event // this checkpoint's events and the last one's, elided
	tr, ok := e.log.(stores.Truncater)
	if !ok {
		return res, ErrCompactionUnsupported
	}
	skipped := false
	// A periodic snapshot being written holds an encoding of the whole
	// state until the store has it, and the checkpoint encodes the state
	// again: wait for that write to end, and start none until the
	// checkpoint is applied (which makes one unnecessary for a while), so
	// that the two encodings are never live together.
	if err := e.holdSnapshots(ctx); err != nil {
		return res, fmt.Errorf("engine: compact: %w", err)
	}
	held := true
	defer func() {
		if held {
			e.snapBusy.Store(false)
		}
	}()
	// A checkpoint allocates about twice the kept state (its bytes, and
	// the store's copy of them) while the old state is live. Collect
	// first, so that the garbage of the last cycle does not add to that
	// peak and the heap's goal starts from the state alone: the peak then
	// depends on the state, not on where the collector's cycle was.
	runtime.GC()
	noticed, err := e.noticeCompaction(ctx, due)
	if err != nil {
		return res, fmt.Errorf("engine: compact: %w", err)
	}
	if skipped = due != nil && noticed.IsZero() && e.cond != nil; skipped {
		return res, nil
	}
	tries := 0
	if !noticed.IsZero() {
		// A checkpoint that gave up asks for a longer hold next time.
		defer func() {
			if res.Checkpoint == 0 {
				e.mu.Lock()
				e.lastCompactTook = max(e.lastCompactTook, time.Since(noticed))
				e.mu.Unlock()
			}
		}()
	}
	err = e.submit(ctx, func(tx *txn) error {
		if skipped = due != nil && !due(); skipped {
			return nil
		}
		if len(e.reserved) > 0 {
			e.wantDrain = true // hold new commands back until nothing is in flight
			return errConflict
		}
		if tries++; tries > checkpointTries {
			return errCompactionContended
		}
		state, dropped, err := e.state.CompactedSnapshot(events.At(before))
		if err != nil {
			return err
		}
		tx.hold(barrier)
		res.Dropped = dropped
		// A state larger than a part goes in parts, each one log record
		// that every store takes (NATS's default max_payload is 1 MiB).
		// The parts stay slices of one array, which lets the fold take
		// them back without a copy (projections.State.checkpointState).
		parts := 0
		for ; len(state) > checkpointPart; parts++ {
			tx.add("", &events.LogCheckpointPart{Index: parts, Data: state[:checkpointPart]})
			state = state[checkpointPart:]
		}
		tx.add("", &events.LogCheckpoint{State: state, Before: events.At(before), Archive: archive.String(), Dropped: dropped, Parts: parts})
		res.Parts = parts
		cp = make([]events.Event, 0, parts+1)
		for _, ev := range tx.events[len(tx.events)-parts-1:] {
			cp = append(cp, archivepkg.Elide(ev))
		}
		return nil
	}, func() {
		if skipped {
			return
		}
		res.Checkpoint = e.state.Position()
		e.compacted += res.Dropped
		if !noticed.IsZero() {
			e.lastCompactTook = time.Since(noticed)
		}
		// The checkpoint is a snapshot in the log: a restart replays from
		// it, so the next periodic snapshot is due an interval after it,
		// not at once (each would encode the whole state again).
		if res.Checkpoint > e.snapshotAt {
			e.snapshotAt, e.snapshotN = res.Checkpoint, e.state.Len()
		}
		for i := range cp {
			cp[i].Position = res.Checkpoint - uint64(len(cp)-1-i)
		}
		prev, e.lastCheckpoint = e.lastCheckpoint, cp
	})
	e.snapBusy.Store(false)
	held = false
	if err != nil {
		return res, fmt.Errorf("engine: compact: checkpoint: %w", err)
	}
	if skipped {
		return res, nil
	}
	// The state before the checkpoint is garbage now, and it was live
	// beside the new one and the checkpoint's bytes: a collection that ran
	// during the checkpoint set the heap's goal at twice all of that.
	// Collect now, so that the goal follows the state that is left, not
	// the checkpoint's peak, while archiving goes on under full load.
	runtime.GC()
	first, err := tr.First(ctx)
	if err != nil {
		return res, fmt.Errorf("engine: compact: %w", err)
	}
	raced := false
	if err := e.archiveBefore(ctx, archive, first, res.Checkpoint-uint64(res.Parts), prev, &res); errors.Is(err, errTruncatedElsewhere) {
		// Another engine on the shared log compacted meanwhile and has
		// archived what it removed: keep what was written, remove nothing.
		raced = true
	} else if err != nil {
		// What was written is whole up to where it stopped; Sync keeps it
		// (the next compaction skips it) and lets the archive go.
		if serr := archive.Sync(ctx); serr != nil {
			err = errors.Join(err, serr)
		}
		return res, fmt.Errorf("engine: compact: %w", err)
	}
	if err := archive.Sync(ctx); err != nil {
		return res, fmt.Errorf("engine: compact: sync archive: %w", err)
	}
	if raced {
		res.First, err = tr.First(ctx)
		return res, err
	}
	// The checkpoint begins at its first part: nothing before it is needed.
	if err := tr.TruncateBefore(ctx, res.Checkpoint-uint64(res.Parts)); err != nil {
		return res, fmt.Errorf("engine: compact: truncate: %w", err)
	}
	if res.First, err = tr.First(ctx); err != nil {
		return res, fmt.Errorf("engine: compact: %w", err)
	}
	return res, nil
}

// archiveBefore writes the events from first up to (not including) end to
// archive. The last checkpoint this engine wrote (prev, elided, with its
// positions) is written as it is instead of being read back: its state is
// the bulk of the log, and the archive leaves it out anyway (archive.Elide).
func (e *Engine) archiveBefore(ctx context.Context, archive Archive, first, end uint64, prev []events.Event, res *CompactResult) error {
	next := first
	write := func(page []events.Event) error {
		if page[0].Position != next {
			return errTruncatedElsewhere
		}
		if err := archive.Write(ctx, page); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		next = page[len(page)-1].Position + 1
		res.Archived += len(page)
		return nil
	}
	// Pages are not recycled: an Archive may keep the events it is given.
	if len(prev) == 0 || prev[0].Position < first || prev[len(prev)-1].Position >= end {
		return readPages(ctx, e.log, first, end-1, false, write)
	}
	if prev[0].Position > first {
		if err := readPages(ctx, e.log, first, prev[0].Position-1, false, write); err != nil {
			return err
		}
	}
	if err := write(prev); err != nil {
		return err
	}
	if from := prev[len(prev)-1].Position + 1; from < end {
		return readPages(ctx, e.log, from, end-1, false, write)
	}
	return nil
}

// noticeCompaction appends a log.compacting notice on a shared log, so that
// the other engines hold their appends back while the checkpoint goes in
// (compact_hold.go), and returns when it landed. It appends nothing on a
// log only this engine writes (its barrier holds its own commands back), and
// nothing when due (not nil) reports false: the zero time then.
func (e *Engine) noticeCompaction(ctx context.Context, due func() bool) (time.Time, error) {
	if e.cond == nil {
		return time.Time{}, nil
	}
	wrote := false
	err := e.submit(ctx, func(tx *txn) error {
		if due != nil && !due() {
			return nil
		}
		tx.add("", &events.LogCompacting{Hold: e.compactHold(), Node: e.cfg.workerID})
		wrote = true
		return nil
	}, nil)
	if err != nil || !wrote {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// snapshotPoll is how often holdSnapshots looks whether a snapshot write
// has ended.
const snapshotPoll = 5 * time.Millisecond

// holdSnapshots waits until no periodic snapshot is being written and
// marks one as being written, so that none starts (startSnapshot skips a
// due snapshot while one is: the next batch finds it due again). The
// caller stores false in e.snapBusy when done. It returns ctx's error, or
// ErrClosed once the engine closes.
func (e *Engine) holdSnapshots(ctx context.Context) error {
	if e.snapBusy.CompareAndSwap(false, true) {
		return nil
	}
	t := time.NewTicker(snapshotPoll)
	defer t.Stop()
	for !e.snapBusy.CompareAndSwap(false, true) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.quit:
			return ErrClosed
		case <-t.C:
		}
	}
	return nil
}
