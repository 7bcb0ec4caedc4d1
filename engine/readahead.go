package engine

import (
	"context"
	"fmt"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// pageSize is how many events one log Read asks for.
const pageSize = 4096

// pageLen is how many events to ask for from position from when the read
// stops at to: a page, or fewer near the end, so that the log does not
// decode events past to only for them to be cut off (a compaction reads up
// to the checkpoint it just wrote, whose parts hold the whole state).
func pageLen(from, to uint64) int {
	return int(min(pageSize, to-from+1))
}

// readAhead is how many decoded pages may wait for the caller of readPages.
// Two keep the reader busy while the caller folds one page; more only hold
// memory (a page's Event values alone take about 360 KB).
const readAhead = 2

// page is one Read's events (read from position from), or the error that
// ended the reading.
type page struct {
	evs  []events.Event
	from uint64
	err  error
}

// errSkippedPast: the log's next event lies past the position the read was
// to stop at. On a shared log that is another node's compaction: between
// the head the caller read and its read, the log was truncated before a
// newer checkpoint. Callers that want the whole log read the head again.
var errSkippedPast = fmt.Errorf("the log skips past the end of the read: %w", stores.ErrCorrupt)

// readPages calls fn with the log's events from position from through to,
// a page at a time (never empty), in position order; events past to that a
// Read returned are cut off. A page starts after the position that follows
// the previous one only where the log does (a compacted log starts at its
// First; see stores.Truncater): callers that care compare page[0].Position
// with what they expect. A log whose next event lies past to is an error
// wrapping stores.ErrCorrupt.
//
// Reading and decoding run on a separate goroutine, up to readAhead pages
// ahead of fn, so that a fold on one core overlaps decoding on another. fn
// runs on the calling goroutine. With recycle set, fn must not keep a page
// (or a slice of it) after it returns: a log that is a stores.PageReader
// reads later pages into the same memory. Without it, fn may keep them.
//
// readPages returns fn's first error, or the reader's: the log's (wrapped
// with the position read), ctx.Err() once ctx is done, or an error wrapping
// stores.ErrCorrupt when the log returns nothing below to (errSkippedPast
// when it returns events past to). The reader
// goroutine has exited when readPages returns.
func readPages(ctx context.Context, log stores.Log, from, to uint64, recycle bool, fn func([]events.Event) error) error {
	if from > to {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan page, readAhead)
	// free holds pages fn is done with. At most readAhead+2 pages exist:
	// those in pages, the one fn has and the one being read.
	var free chan []events.Event
	pr, _ := log.(stores.PageReader)
	if recycle && pr != nil {
		free = make(chan []events.Event, readAhead+2)
	}
	go func() {
		defer close(pages)
		for from <= to {
			// Checked here as well as by the log: a log that ignores ctx
			// would otherwise be read to the end after the caller gave up.
			if err := ctx.Err(); err != nil {
				pages <- page{err: err}
				return
			}
			var evs []events.Event
			var err error
			if free != nil {
				var buf []events.Event
				select {
				case buf = <-free:
				default:
				}
				evs, err = pr.ReadInto(ctx, buf, from, pageLen(from, to))
			} else {
				evs, err = log.Read(ctx, from, pageLen(from, to))
			}
			switch {
			case err != nil:
				err = fmt.Errorf("read from %d: %w", from, err)
			case len(evs) == 0:
				err = fmt.Errorf("the log ends at %d, want %d: %w", from-1, to, stores.ErrCorrupt)
			}
			if err != nil {
				pages <- page{err: err}
				return
			}
			// INVARIANT: evs is not touched once sent: fn may be done with
			// it, and it may be read into again, before this send returns.
			read := from
			from = evs[len(evs)-1].Position + 1
			pages <- page{evs: evs, from: read}
		}
	}()
	// The reader waits only in Read and on sending to pages. pages is
	// drained until closed, and the reader checks ctx before each Read, so
	// this returns once the Read in progress, if any, does.
	defer func() {
		cancel()
		for range pages {
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		n := len(p.evs)
		for n > 0 && p.evs[n-1].Position > to {
			n--
		}
		if n == 0 {
			return fmt.Errorf("read from %d gave %d, past %d: %w", p.from, p.evs[0].Position, to, errSkippedPast)
		}
		if err := fn(p.evs[:n]); err != nil {
			return err
		}
		if free != nil {
			select {
			case free <- p.evs:
			default:
			}
		}
	}
	return nil
}
