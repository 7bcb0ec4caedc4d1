package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// ErrCompactionUnsupported: the log cannot remove events (it does not
// implement stores.Truncater).
var ErrCompactionUnsupported = errors.New("engine: the log does not support compaction")

// barrier is a reservation that makes every other command wait (the
// preparer defers all commands while it is held): a checkpoint must be the
// last event of its batch, so that Compact's position for it is exact.
const barrier = "\x00checkpoint"

// Archive receives the events compaction removes from the log, in order.
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
	Archived   int    // events written to the archive and removed from the log
	Dropped    int    // terminal tasks and deleted schedules left out of the state
	First      uint64 // the log's first position afterwards
}

// Compact bounds the log's growth. It appends a log.checkpoint event holding
// the whole state minus the tasks that reached a terminal state (and the
// schedules deleted) before `before`, copies every event older than the
// checkpoint to archive, and then removes them from the log. Replaying the
// log afterwards gives the same live state. Tasks left out are forgotten:
// GetTask answers ErrNotFound and a new task cannot depend on them; their
// history is in the archive. A crash part-way leaves the log whole (the
// checkpoint only makes older events unnecessary); compacting again is safe.
func (e *Engine) Compact(ctx context.Context, before time.Time, archive Archive) (CompactResult, error) {
	var res CompactResult
	tr, ok := e.log.(stores.Truncater)
	if !ok {
		return res, ErrCompactionUnsupported
	}
	err := e.submit(ctx, func(tx *txn) error {
		if len(e.reserved) > 0 {
			return errConflict // wait until nothing is in flight
		}
		state, dropped, err := e.state.CompactedSnapshot(events.At(before))
		if err != nil {
			return err
		}
		tx.hold(barrier)
		res.Dropped = dropped
		tx.add("", &events.LogCheckpoint{State: state, Before: events.At(before), Archive: archive.String(), Dropped: dropped})
		return nil
	}, func() { res.Checkpoint = e.state.Position() })
	if err != nil {
		return res, fmt.Errorf("engine: compact: checkpoint: %w", err)
	}
	first, err := tr.First(ctx)
	if err != nil {
		return res, fmt.Errorf("engine: compact: %w", err)
	}
	// Pages are not recycled: an Archive may keep the events it is given.
	err = readPages(ctx, e.log, first, res.Checkpoint-1, false, func(page []events.Event) error {
		if err := archive.Write(ctx, page); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		res.Archived += len(page)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("engine: compact: %w", err)
	}
	if err := archive.Sync(ctx); err != nil {
		return res, fmt.Errorf("engine: compact: sync archive: %w", err)
	}
	if err := tr.TruncateBefore(ctx, res.Checkpoint); err != nil {
		return res, fmt.Errorf("engine: compact: truncate: %w", err)
	}
	if res.First, err = tr.First(ctx); err != nil {
		return res, fmt.Errorf("engine: compact: %w", err)
	}
	return res, nil
}
