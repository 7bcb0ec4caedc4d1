package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
)

// A shared log is one that several engines — omniqd nodes, app replicas
// embedding the engine — append to at once. The engine treats every log
// that implements stores.Conditional as possibly shared:
//
//   - Every batch is appended with AppendAt at the position its commands
//     were validated against. A batch that loses the race writes nothing;
//     its staged changes are undone, the state folds in the winner's events,
//     and the commands are prepared again (commit.go). So every event in the
//     log was validated against exactly the events before it, whichever
//     engine wrote it, and each engine's fold of the log is the same.
//   - A tail goroutine waits for other writers' appends (stores.Tailer) and
//     has the committer fold them in, so an idle engine stays current and
//     its timers and waiting dequeues see other engines' tasks.
//   - Reads (GetTask, History, Stats) first bring the state up to the log's
//     head, so a client that wrote through one engine and reads through
//     another sees its write.
//
// No engine leads and none holds a lease: when one dies, the others go on,
// and its workers' leases expire through anyone's timers. A timer firing on
// several engines at once writes once: the losers' commands are prepared
// again on the winner's state, where there is nothing left to do. A process
// that wakes from a long pause holds a stale state, and its first append
// fails for that reason alone.

// clusterCounters count what sharing the log cost this engine.
type clusterCounters struct {
	conflicts atomic.Uint64 // batches that lost a conditional append
	caughtUp  atomic.Uint64 // events folded in that this engine did not write
	synced    atomic.Uint64 // reads that waited for the state to reach the log's head
}

// ClusterCounters reports how this engine shares its log from what it
// holds in memory, without reading the store: Nodes is nil and Head is the
// head as last learned. Metrics scrapes use it.
func (e *Engine) ClusterCounters() ClusterStatus {
	e.mu.RLock()
	s := ClusterStatus{Node: e.cfg.workerID, Shared: e.cond != nil, Position: e.state.Position()}
	s.Head = max(e.remoteHead, s.Position)
	e.mu.RUnlock()
	s.Lag = s.Head - s.Position
	s.Conflicts = e.cluster.conflicts.Load()
	s.CaughtUp = e.cluster.caughtUp.Load()
	s.SyncedReads = e.cluster.synced.Load()
	return s
}

// Cluster reports how this engine shares its log and, when the log keeps
// presence records, the nodes sharing it (read from the store). It does
// not fail: when the records cannot be read, NodesErr says why.
func (e *Engine) Cluster(ctx context.Context) (ClusterStatus, error) {
	s := e.ClusterCounters()
	s.Nodes = []NodeInfo{}
	if p, ok := e.log.(stores.Presence); ok && e.cond != nil {
		nodes, err := e.members(ctx, p)
		if err != nil {
			s.NodesErr = err.Error()
		}
		s.Nodes = nodes
	}
	self := e.nodeInfo()
	self.Self = true
	i := slices.IndexFunc(s.Nodes, func(n NodeInfo) bool { return n.Node == self.Node })
	if i < 0 {
		s.Nodes = append(s.Nodes, self)
		slices.SortFunc(s.Nodes, func(a, b NodeInfo) int { return strings.Compare(a.Node, b.Node) })
	} else {
		s.Nodes[i] = self
	}
	// Another node's record may show a head this engine has not learned.
	for i := range s.Nodes {
		s.Head = max(s.Head, s.Nodes[i].Position)
	}
	for i := range s.Nodes {
		s.Nodes[i].Lag = s.Head - min(s.Head, s.Nodes[i].Position)
	}
	s.Lag = s.Head - s.Position
	return s, nil
}

// behind reports whether the log holds events of another writer that the
// state has not folded in (beyond what the batch in flight explains).
// REQUIRES: e.mu held.
func (e *Engine) behind() bool {
	return e.cond != nil && e.remoteHead > e.state.Position()+e.inflight
}

// discard undoes a batch that was prepared but not appended and returns
// its commands followed by cmds, to be prepared again. REQUIRES: e.mu
// held; b is not in flight.
func (e *Engine) discard(b *pending, cmds []*command) []*command {
	if b == nil {
		return cmds
	}
	for i := len(b.txns) - 1; i >= 0; i-- {
		b.txns[i].undo()
	}
	out := make([]*command, 0, len(b.cmds)+len(cmds))
	out = append(append(out, b.cmds...), cmds...)
	e.recycle(b)
	return out
}

// redoBatch undoes a batch that was not written and queues its commands to
// be prepared again, first. The epoch moves: a batch built meanwhile may
// rely on b's reservations having been written. REQUIRES: e.mu held.
func (e *Engine) redoBatch(b *pending) {
	for i := len(b.txns) - 1; i >= 0; i-- {
		b.txns[i].undo()
	}
	e.redo = append(e.redo, b.cmds...)
	e.epoch++
}

// landed tells whether a conditional append of b at after, whose answer was
// an error, was written: it would be at after+1, beginning with b's first
// event. REQUIRES: e.mu held (the log is read under it; nothing is folded).
func (e *Engine) landed(b *pending, after uint64) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var evs []events.Event
	var err error
	for attempt := 0; ; attempt++ {
		if evs, err = e.log.Read(ctx, after+1, 1); err == nil || attempt == 20 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	switch {
	case err != nil:
		return false, err
	case len(evs) == 0:
		return false, nil
	case evs[0].Position != after+1:
		return false, fmt.Errorf("position %d was compacted away before it could be checked", after+1)
	}
	return evs[0].ID == b.events[0].ID, nil
}

// advanced wakes the reads waiting for the state to reach a position.
// REQUIRES: e.mu held.
func (e *Engine) advanced() {
	if e.moved != nil {
		close(e.moved)
		e.moved = nil
	}
}

// noteHead records a head of the log learned from the store and wakes the
// committer when the state is behind it.
func (e *Engine) noteHead(head uint64) {
	e.mu.Lock()
	if head > e.remoteHead {
		e.remoteHead = head
	}
	behind := e.behind()
	e.mu.Unlock()
	if behind {
		select {
		case e.tailKick <- struct{}{}:
		default:
		}
	}
}

// tailLoop follows the log's head as other writers move it.
func (e *Engine) tailLoop() {
	defer e.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-e.quit
		cancel()
	}()
	t, _ := e.log.(stores.Tailer)
	known := e.Position()
	for {
		var head uint64
		var err error
		if t != nil {
			head, err = t.Wait(ctx, known)
		} else {
			// No way to wait: look at the head often enough to keep
			// reads and timers current.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			head, err = e.log.Head(ctx)
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, stores.ErrClosed) {
				return
			}
			e.cfg.logger.Warn("following the shared log failed; trying again", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		known = max(known, head)
		e.noteHead(head)
	}
}

// syncRead brings the state up to the log's head at the time of the call,
// on a shared log: a read answered after it reflects every write
// acknowledged before it, by any engine.
func (e *Engine) syncRead(ctx context.Context) error {
	if e.cond == nil {
		return nil
	}
	head, err := e.log.Head(ctx)
	if err != nil {
		return fmt.Errorf("engine: read the log's head: %w", err)
	}
	waited := false
	for {
		e.mu.Lock()
		if e.state.Position() >= head {
			e.mu.Unlock()
			if waited {
				e.cluster.synced.Add(1)
			}
			return nil
		}
		if head > e.remoteHead {
			e.remoteHead = head
		}
		if e.moved == nil {
			e.moved = make(chan struct{})
		}
		moved := e.moved
		e.mu.Unlock()
		waited = true
		select {
		case e.tailKick <- struct{}{}:
		default:
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.quit:
			return ErrClosed
		}
	}
}

// folder applies a run of the log to a state. After a gap that compaction
// left (the log starts later than the state's next position), it skips to
// the next checkpoint, which holds everything before it.
type folder struct {
	st      *projections.State
	next    uint64
	seeking bool
}

// page applies page, calling applied (when not nil) with each event applied
// and the fold's verdict on it. A gap in positions is corruption.
func (f *folder) page(page []events.Event, applied func(events.Event, error)) error {
	if page[0].Position > f.next {
		f.seeking = true
	}
	f.next = page[len(page)-1].Position + 1
	for _, ev := range page {
		if f.seeking {
			if !projections.StartsCheckpoint(ev) {
				continue
			}
			f.seeking = false
		}
		err := f.st.Apply(ev)
		if errors.Is(err, projections.ErrGap) {
			return fmt.Errorf("%w: %w", stores.ErrCorrupt, err)
		}
		if applied != nil {
			applied(ev, err)
		}
	}
	return nil
}

// answer is a command's answer that wrote nothing (an error, or nothing to
// do), not yet given.
type answer struct {
	cmd *command
	err error
}

// confirm gives the answers that wrote nothing on a shared log, once the
// log's head shows that the state they came from was current: "not found",
// "stale lease" or "nothing ready" from a state that missed another
// writer's events would be wrong. Answers from a state that is behind are
// prepared again once it has caught up (returned to be deferred, or queued
// in e.redo). It returns noop with the commands to answer with nil added.
// REQUIRES: e.mu held.
func (e *Engine) confirm(unsure []answer, noop []*command) ([]*command, []*command) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	head, err := e.log.Head(ctx)
	cancel()
	pos := e.state.Position()
	var later []*command
	switch {
	case err != nil:
		err = fmt.Errorf("engine: the answer cannot be checked against the shared log: %w", err)
		for _, a := range unsure {
			a.cmd.done <- err
		}
	case head <= pos:
		for _, a := range unsure {
			if a.err != nil {
				a.cmd.done <- a.err
			} else {
				noop = append(noop, a.cmd)
			}
		}
	case e.inflight > 0 && head <= pos+e.inflight:
		// The batch in flight, or another writer's in its place: which
		// is known once it is applied.
		for _, a := range unsure {
			a.cmd.atLeast = head
			later = append(later, a.cmd)
		}
	default:
		// Prepared again on a state at or past head, the answer stands
		// without asking for the head again: under a steady stream of
		// other writers' events, asking again could go on forever.
		e.remoteHead = max(e.remoteHead, head)
		for _, a := range unsure {
			a.cmd.atLeast = head
			e.redo = append(e.redo, a.cmd)
		}
		select {
		case e.tailKick <- struct{}{}:
		default:
		}
	}
	return noop, later
}
