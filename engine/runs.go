package engine

import (
	"context"
	"fmt"

	"github.com/omniq/omniq/events"
)

// A checkpoint carries the whole kept state: at a long retention, gigabytes.
// No store takes that as one record (a PostgreSQL bytea and a SQLite blob
// hold at most 1 GB, a Redis string 512 MB, a file-store record 1 GiB), and
// a store that encodes a batch before writing it holds a second copy of
// the state meanwhile. So a checkpoint batch larger than 256 MiB is
// appended as several runs of whole events, each run one store append of
// at most 64 MiB of state, the checkpoint event in the last one.
//
// INVARIANT: nothing comes between the runs of a checkpoint in the log
// when it succeeds: on a single-writer log the engine holds every other
// command back (the barrier); on a shared log each run is appended only
// right after the one before it (AppendAt), so another writer's append in
// between fails the next run. A checkpoint that fails part-way leaves
// parts in the log that no checkpoint follows; a fold drops them at the
// next other event (projections.State), verify accepts them, the archive
// elides them, and the next compaction's truncation removes them.
type runSizes struct {
	above int // a checkpoint batch larger than this goes in runs
	run   int // of at most this much state each
}

var defaultRuns = runSizes{above: 256 << 20, run: 64 << 20}

// checkpointRuns splits evs into runs when it is a batch of checkpoint
// events (parts, then their log.checkpoint) larger than sz.above, each run
// holding at most sz.run of state (and at least one event). It
// returns nil for any other batch, which is appended whole: splitting
// ordinary events would break the atomicity their commands rely on.
func checkpointRuns(evs []events.Event, sz runSizes) [][]events.Event {
	if events.EncodedSizeHint(evs) <= sz.above {
		return nil
	}
	for i, ev := range evs {
		switch ev.Payload.(type) {
		case *events.LogCheckpointPart:
		case *events.LogCheckpoint:
			if i != len(evs)-1 {
				return nil
			}
		default:
			return nil
		}
	}
	var runs [][]events.Event
	start, size := 0, 0
	for i := range evs {
		n := events.EncodedSizeHint(evs[i : i+1])
		if i > start && size+n > sz.run {
			runs = append(runs, evs[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(runs, evs[start:])
}

// appendRuns appends the runs one after the other, the first after
// position after, and returns the position of the first event and how many
// runs are in the log. On a shared log each run is conditional on the run
// before it ending the log. An error leaves the runs before the failed one
// in the log (inert parts, see checkpointRuns); the caller folds the log
// again before anything else.
func (e *Engine) appendRuns(after uint64, runs [][]events.Event) (first uint64, written int, err error) {
	ctx := context.Background()
	next := after
	for i, run := range runs {
		var at uint64
		if e.cond != nil {
			at, err = e.cond.AppendAt(ctx, next, run)
		} else {
			at, err = e.log.Append(ctx, run)
		}
		if err != nil {
			return 0, i, fmt.Errorf("run %d of %d: %w", i+1, len(runs), err)
		}
		if at != next+1 {
			return 0, i + 1, fmt.Errorf("run %d of %d written at %d, not right after %d", i+1, len(runs), at, next)
		}
		next += uint64(len(run))
	}
	return after + 1, len(runs), nil
}
