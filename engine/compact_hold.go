package engine

import (
	"time"

	"github.com/omniq/omniq/events"
)

// Compacting a shared log. A checkpoint is validated against the state at
// the log's head and appended conditionally on that head (shared.go), like
// any batch. But it takes long to make: the whole kept state is encoded
// (seconds at millions of tasks) and, over 256 MiB, appended in several
// runs that must follow each other with nothing between them (runs.go).
// Under load, another engine appends within that time, every time: the
// checkpoint lost the race again at each try and the compaction never
// ended, so the log and the state grew without bound.
//
// So the compacting engine first appends a log.compacting notice. Every
// other engine that folds it holds its appends back (its commands are
// still prepared and wait in its next batch) until it folds the
// checkpoint that follows, or until the notice's Hold has passed since the
// last event of the compaction it folded (the notice, or a part: each run
// renews it), which is how a compactor that died or froze part-way stops
// holding the cluster up. The checkpoint then loses at most to the batches
// that were already on their way when the notice landed.
//
// The hold is advisory: safety still comes from the conditional append
// alone. An engine that holds on too long only waits; an engine that does
// not hold (it missed the notice) only makes the checkpoint try again. A
// checkpoint that loses checkpointTries times in a row gives up, and the
// compaction reports errCompactionContended.

// Hold bounds. The notice asks the others to wait twice as long as this
// engine's last checkpoint took from notice to landing (or to giving up),
// and at least a microsecond per task the state holds (encoding runs at
// about 3 million tasks a second), within these. The floor is what a
// compactor that dies right after its notice costs the others: their
// writes wait that long, on top of the failover they see anyway.
const (
	minCompactHold  = time.Second
	maxCompactHold  = 2 * time.Minute
	holdPerTask     = time.Microsecond
	checkpointTries = 4
)

// compactHold is how long the others should hold for this engine's next
// checkpoint. REQUIRES: e.mu held.
func (e *Engine) compactHold() time.Duration {
	if e.cfg.compactHold > 0 {
		return e.cfg.compactHold
	}
	est := max(2*e.lastCompactTook, time.Duration(e.state.Len())*holdPerTask)
	return min(max(est, minCompactHold), maxCompactHold)
}

// holding is another engine's compaction this engine holds its appends
// back for. Guarded by e.mu.
type holding struct {
	until time.Time     // zero: no hold
	renew time.Duration // the notice's Hold: how far each of its events moves until
	ended chan struct{} // closed when the hold ends before until (its checkpoint was folded)
}

// noteCompaction follows another engine's compaction through the events
// the state folds in from the log. REQUIRES: e.mu held.
func (e *Engine) noteCompaction(ev events.Event) {
	h := &e.hold
	switch p := ev.Payload.(type) {
	case *events.LogCompacting:
		if p.Node == e.cfg.workerID {
			return // this engine's own notice, read back from the log
		}
		h.renew = p.Hold
		h.until = time.Now().Add(p.Hold)
		if h.ended == nil {
			h.ended = make(chan struct{})
		}
	case *events.LogCheckpointPart:
		if !h.until.IsZero() {
			h.until = time.Now().Add(h.renew)
		}
	case *events.LogCheckpoint:
		e.endHold()
	}
}

// endHold ends the hold, waking the appender. REQUIRES: e.mu held.
func (e *Engine) endHold() {
	if e.hold.ended != nil {
		close(e.hold.ended)
	}
	e.hold = holding{}
}

// waitHold waits, before an append, while this engine holds its appends
// back for another engine's compaction. It returns at once when there is
// no hold, and when the engine closes.
func (e *Engine) waitHold() {
	if e.cond == nil {
		return // only a shared log carries other engines' notices
	}
	for {
		e.mu.Lock()
		until, ended := e.hold.until, e.hold.ended
		if !until.IsZero() && !time.Now().Before(until) {
			// The compactor went quiet for a whole Hold: go on without it.
			e.cfg.logger.Warn("another node's compaction went quiet; appending again")
			e.endHold()
			until = time.Time{}
		}
		e.mu.Unlock()
		if until.IsZero() {
			return
		}
		t := time.NewTimer(time.Until(until))
		select {
		case <-ended:
		case <-t.C:
		case <-e.quit:
			t.Stop()
			return
		}
		t.Stop()
	}
}
