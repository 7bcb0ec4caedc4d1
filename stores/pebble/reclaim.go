package pebble

import (
	"context"
	"sync"

	pdb "github.com/cockroachdb/pebble/v2"
)

// reclaimAfter is how many bytes of tables the events truncated since the
// last forced flush must hold before the reclaimer forces another. It is the
// default memtable size: a log that appends that much flushes anyway.
const reclaimAfter = 4 << 20

// reclaimer makes sure the space of truncated events comes back whatever the
// write rate. A range deletion frees nothing while it sits in the memtable,
// and the memtable is flushed only once it fills: a log that truncates most
// of its history and then appends slowly would keep the space until later
// appends fill the memtable. Once the deletion is in a table, Pebble's own
// compactions take over, and they suffice (TestTruncationSpacePlateaus): a
// delete-only compaction drops the tables it covers whole, and the picker
// favours the tables with much data under range deletions. So after a
// truncation the reclaimer estimates the table bytes of the events
// truncated since its last flush and, past reclaimAfter, flushes the
// memtable (TestTruncationReclaimsWithoutWrites).
//
// It does not compact the span itself (pdb.DB.Compact): tried, that
// rewrote the tables beside the span at every level, and under steady
// appends one call ran for most of a test run while the directory grew
// past what Pebble alone kept.
//
// The work is done in one goroutine, started when needed: one flush at a
// time, and truncations made meanwhile are coalesced into the next look.
// The goroutine uses the database without Log.life, so Close must call stop
// before it closes the database.
type reclaimer struct {
	db     *pdb.DB
	logger pdb.Logger
	ctx    context.Context // cancelled by stop; ends the wait for a flush
	cancel context.CancelFunc

	mu sync.Mutex
	// The events below from are truncated and flushed; those below to are
	// truncated. Lock: mu.
	from, to uint64
	// running is closed when the goroutine ends; nil when none runs. Lock: mu.
	running chan struct{}
	stopped bool // Lock: mu.
}

// newReclaimer returns a reclaimer for db whose log starts at first. The
// events below first may still hold space (the WAL replay put their
// deletion back in the memtable), so it looks at them at once.
func newReclaimer(db *pdb.DB, logger pdb.Logger, first uint64) *reclaimer {
	ctx, cancel := context.WithCancel(context.Background())
	r := &reclaimer{db: db, logger: logger, ctx: ctx, cancel: cancel, from: 1, to: 1}
	r.truncated(first)
	return r
}

// truncated records that the events below pos are gone and starts the
// goroutine unless it runs or the reclaimer is stopped.
func (r *reclaimer) truncated(pos uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.to = max(r.to, pos)
	if r.stopped || r.running != nil || r.from >= r.to {
		return
	}
	r.running = make(chan struct{})
	go r.run(r.running)
}

// run flushes until the truncated events left in tables are too few to be
// worth it, then ends.
func (r *reclaimer) run(done chan struct{}) {
	defer close(done)
	for {
		r.mu.Lock()
		from, to := r.from, r.to
		if r.stopped || from >= to {
			r.running = nil
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()

		size, err := r.db.EstimateDiskUsage(eventKey(from), eventKey(to))
		if err == nil && size < reclaimAfter {
			r.mu.Lock()
			r.running = nil
			r.mu.Unlock()
			return
		}
		if err == nil {
			err = r.flush()
		}
		if err != nil {
			if r.ctx.Err() == nil {
				r.logger.Errorf("flush after truncating positions %d..%d: %v", from, to-1, err)
			}
			// The next truncation tries again, from the same from.
			r.mu.Lock()
			r.running = nil
			r.mu.Unlock()
			return
		}
		r.mu.Lock()
		r.from = to
		r.mu.Unlock()
	}
}

// flush flushes the memtable and waits for it, or for stop.
func (r *reclaimer) flush() error {
	flushed, err := r.db.AsyncFlush()
	if err != nil {
		return err
	}
	select {
	case <-flushed:
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// wait returns once the goroutine has ended.
func (r *reclaimer) wait() {
	r.mu.Lock()
	running := r.running
	r.mu.Unlock()
	if running != nil {
		<-running
	}
}

// stop ends the goroutine and starts no other. A flush it asked for goes on
// (closing the database waits for it). stop is idempotent.
func (r *reclaimer) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
	r.wait()
}
