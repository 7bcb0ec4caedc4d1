package engine

import (
	"context"
	"errors"
	"time"

	"github.com/omniq/omniq/engine/archive"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/stores"
)

// followPoll is how often Follow looks at the head of a log that cannot
// wait for growth (one that is not a stores.Tailer).
const followPoll = 100 * time.Millisecond

// Follow calls fn with every event of the log whose position is greater
// than after, in position order, then waits for the log to grow and goes
// on with the new events, until ctx ends (ctx.Err()), the engine closes
// (ErrClosed), the log fails, or fn returns an error (which Follow
// returns). after 0 is the log's beginning; after the engine's Position,
// only what is written from then on.
//
// Follow reads the log itself, not the state: it sees events written by
// other processes sharing the log too, possibly before this engine has
// folded them in. It waits through stores.Tailer when the log is one, and
// otherwise looks at the head every 100ms. A log compacted past after
// starts at its first event (stores.Truncater): the events removed are
// skipped, which fn sees as a gap in the positions. fn runs on the calling
// goroutine and may keep the events it is given.
func (e *Engine) Follow(ctx context.Context, after uint64, fn func(events.Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	tail, _ := e.log.(stores.Tailer)
	known, err := e.log.Head(ctx)
	for {
		if err != nil {
			return e.followErr(ctx, err)
		}
		if after < known {
			err = readPages(ctx, e.log, after+1, known, false, func(page []events.Event) error {
				for _, ev := range page {
					if ev.Position <= after {
						continue
					}
					if err := fn(ev); err != nil {
						return err
					}
					after = ev.Position
				}
				return nil
			})
			if errors.Is(err, errSkippedPast) {
				// Compacted past known meanwhile: read the head again.
				err = nil
			}
			if err != nil {
				if ctx.Err() != nil {
					return e.followErr(ctx, err)
				}
				return err
			}
			after = max(after, known)
		}
		if tail != nil {
			known, err = tail.Wait(ctx, known)
			continue
		}
		select {
		case <-ctx.Done():
			return e.followErr(ctx, ctx.Err())
		case <-time.After(followPoll):
		}
		known, err = e.log.Head(ctx)
	}
}

// EventFilter selects the events FollowViews passes on. Empty fields
// select every event.
type EventFilter struct {
	Task  string // only the events about this task or schedule
	Queue string // only the events about this queue's tasks
}

// queueCacheSize bounds the task → queue map FollowViews keeps for a
// queue filter; past it the map starts over.
const queueCacheSize = 10000

// FollowViews is Follow with each event in its History view (EventView),
// only the events that pass f. With a filter, events about no task (log
// checkpoints) do not pass. A checkpoint and its parts come without the
// state they carry (archive.Elide, as the archive keeps them): a stream
// would otherwise carry the whole kept state, hundreds of megabytes, at
// every compaction. A queue event (queue.paused, queue.resumed) passes a
// filter on its queue. Most events do not name their task's queue: it
// is read from the task.enqueued event when the stream saw it, else from
// the state, and remembered for the stream's life.
func (e *Engine) FollowViews(ctx context.Context, after uint64, f EventFilter, fn func(queue.Event) error) error {
	queues := map[string]string{}
	pass := func(ev events.Event) bool {
		if f.Task == "" && f.Queue == "" {
			return true
		}
		if q, ok := queueEventQueue(ev); ok {
			// A queue event is about no task: it passes a queue filter
			// naming its queue, and no task filter.
			return f.Task == "" && q == f.Queue
		}
		if ev.TaskID == "" || f.Task != "" && ev.TaskID != f.Task {
			return false
		}
		if f.Queue == "" {
			return true
		}
		qn, ok := queues[ev.TaskID]
		if !ok {
			if enq, isEnq := ev.Payload.(*events.TaskEnqueued); isEnq {
				qn = enq.Spec.Queue
			} else {
				qn = e.queueOf(ev.TaskID)
			}
			if len(queues) >= queueCacheSize {
				clear(queues)
			}
			queues[ev.TaskID] = qn
		}
		return qn == f.Queue
	}
	return e.Follow(ctx, after, func(ev events.Event) error {
		if !pass(ev) {
			return nil
		}
		return fn(EventView(archive.Elide(ev)))
	})
}

// queueEventQueue returns the queue a queue.paused or queue.resumed event
// names; ok is false for any other event.
func queueEventQueue(ev events.Event) (q string, ok bool) {
	switch p := ev.Payload.(type) {
	case *events.QueuePaused:
		return p.Queue, true
	case *events.QueueResumed:
		return p.Queue, true
	}
	return "", false
}

// queueOf returns the queue of task (or schedule) id, "" when the state
// does not hold it.
func (e *Engine) queueOf(id string) string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if r := e.state.Task(id); r != nil {
		return r.Queue()
	}
	if sc := e.state.Schedule(id); sc != nil {
		return sc.Template.Queue
	}
	return ""
}

// followErr is what Follow returns when its reading or waiting failed
// with err: ErrClosed once the engine (or its log) has closed, ctx's error
// once the caller's context ended, else err.
func (e *Engine) followErr(ctx context.Context, err error) error {
	if e.isClosed() || errors.Is(err, stores.ErrClosed) {
		return ErrClosed
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
