package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// command is one request to the committer.
type command struct {
	ctx context.Context
	// prepare validates the command against the state and stages its events
	// on tx. It runs on the committer with e.mu held. Returning errConflict
	// retries the command in the next batch; any other error answers it.
	prepare func(tx *txn) error
	// commit runs after the batch was appended and applied, with e.mu held,
	// to read results out of the state.
	commit func()
	done   chan error
	// park: set for a command that waits for ready tasks (DequeueWait); its
	// prepare may return errPark (see waiters.go).
	park *parkable
	// atLeast: on a shared log, an answer that wrote nothing is given from
	// a state at or past this position, a head of the log read after the
	// command arrived (shared.go, confirm). 0: not known yet.
	atLeast uint64
}

// txn collects one command's events and the undo steps to run if the batch
// holding them fails to append.
type txn struct {
	e        *Engine
	now      time.Time
	events   []events.Event
	reserve  reservations // task ids this command touches
	parent   *txn         // for a nested txn (see sub): its parent's reservations count as taken
	rollback []func()
}

func (tx *txn) add(taskID string, p events.Payload) {
	tx.events = append(tx.events, events.New(taskID, tx.now, p))
}

// touch reserves id for this command, or reports errConflict when another
// command of the batch holds it.
// INVARIANT: commands in one batch touch disjoint tasks, so each validates
// against the committed state alone.
func (tx *txn) touch(id string) error {
	if tx.e.reserved[id] || (tx.parent != nil && tx.parent.has(id)) {
		return errConflict
	}
	tx.hold(id)
	return nil
}

// hold reserves id without checking; for ids the caller knows are free.
func (tx *txn) hold(id string) { tx.reserve.add(id) }

func (tx *txn) has(id string) bool { return tx.reserve.has(id) }

// reservations is a set of task ids. Most commands touch one to three
// tasks: a short slice, searched linearly, costs no map per command; a set
// is built once a command holds more.
type reservations struct {
	ids []string
	set map[string]struct{}
}

const reservationsScan = 8

func (r *reservations) add(id string) {
	if r.has(id) {
		return
	}
	r.ids = append(r.ids, id)
	if r.set != nil {
		r.set[id] = struct{}{}
	} else if len(r.ids) > reservationsScan {
		r.set = make(map[string]struct{}, 2*len(r.ids))
		for _, x := range r.ids {
			r.set[x] = struct{}{}
		}
	}
}

func (r *reservations) has(id string) bool {
	if r.set != nil {
		_, ok := r.set[id]
		return ok
	}
	for _, x := range r.ids {
		if x == id {
			return true
		}
	}
	return false
}

// sub starts a nested transaction whose events and reservations join tx
// (merge) only if it stages without conflict.
func (tx *txn) sub() *txn { return &txn{e: tx.e, now: tx.now, parent: tx} }

func (tx *txn) merge(sub *txn) {
	tx.events = append(tx.events, sub.events...)
	for _, id := range sub.reserve.ids {
		tx.hold(id)
	}
}

// undo runs the rollback steps and releases the reservations.
// REQUIRES: e.mu held.
func (tx *txn) undo() {
	for i := len(tx.rollback) - 1; i >= 0; i-- {
		tx.rollback[i]()
	}
	tx.release()
}

func (tx *txn) release() {
	for _, id := range tx.reserve.ids {
		delete(tx.e.reserved, id)
	}
}

// commandPool recycles the commands of submit: one per call otherwise.
// INVARIANT: a command is put back only once its answer was received (or it
// never reached the committer), and the committer never touches a command
// after sending its answer.
var commandPool = sync.Pool{New: func() any { return &command{done: make(chan error, 1)} }}

func putCommand(cmd *command) {
	cmd.ctx, cmd.prepare, cmd.commit, cmd.park, cmd.atLeast = nil, nil, nil, nil, 0
	commandPool.Put(cmd)
}

// submit sends a command to the committer and waits for its answer. When ctx
// ends first, submit returns ctx.Err() and the command's outcome is unknown
// to the caller (it may still be written).
func (e *Engine) submit(ctx context.Context, prepare func(tx *txn) error, commit func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cmd := commandPool.Get().(*command)
	cmd.ctx, cmd.prepare, cmd.commit = ctx, prepare, commit
	select {
	case e.cmds <- cmd:
	case <-e.quit:
		putCommand(cmd)
		return ErrClosed
	case <-ctx.Done():
		putCommand(cmd)
		return ctx.Err()
	}
	select {
	case err := <-cmd.done:
		// Answered: the committer is done with cmd (see appendBatch).
		putCommand(cmd)
		return err
	case <-ctx.Done():
		// cmd stays with the committer, which may still answer it: it is
		// not reused.
		return ctx.Err()
	case <-e.stopped:
		// The committer is gone; it answered everything it took.
		select {
		case err := <-cmd.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// pending is a batch being built by the preparer and then written by the
// appender: the accepted commands, their transactions and their events.
type pending struct {
	cmds   []*command
	txns   []*txn
	events []events.Event
	// epoch is e.epoch when the batch's first command was prepared. A
	// batch whose epoch is older was validated against a state that has
	// since taken in events from elsewhere: it is never appended, its
	// commands are prepared again (see discard).
	epoch uint64
}

// spareBatches bounds the written batches kept for reuse: the preparer
// fills one while the appender writes another.
const spareBatches = 2

// newPending returns an empty batch, reusing a written one when there is.
func (e *Engine) newPending() *pending {
	select {
	case b := <-e.spare:
		return b
	default:
		return &pending{}
	}
}

// recycle keeps a written and answered batch for reuse. Its slices keep
// their capacity (up to a bound) and drop their contents, so the
// collector does not keep answered commands and their events alive.
// REQUIRES: nothing refers to b any more (appendBatch has returned).
func (e *Engine) recycle(b *pending) {
	if cap(b.events) > 1<<16 {
		return
	}
	clear(b.cmds)
	clear(b.txns)
	clear(b.events)
	b.cmds, b.txns, b.events = b.cmds[:0], b.txns[:0], b.events[:0]
	select {
	case e.spare <- b:
	default:
	}
}

// commitLoop is this engine's one writer (on a shared log, other engines
// write too, and conditional appends order their batches: shared.go), in
// two stages that overlap: the preparer (this goroutine) validates commands and stages
// their events into the next batch while the appender writes the previous
// one. At most one append is in flight, so log order is preparation order.
//
// INVARIANT: a command's reservations last until its batch is applied, so a
// command prepared while an earlier batch is in flight never touches a task
// that batch changes: it validates against a state that is already right for
// everything it touches.
func (e *Engine) commitLoop() {
	defer e.done.Done()
	toAppender := make(chan *pending)
	applied := make(chan struct{}, 1)
	appenderDone := make(chan struct{})
	go func() {
		defer close(appenderDone)
		for b := range toAppender {
			e.appendBatch(b)
			e.recycle(b)
			select {
			case applied <- struct{}{}:
			default:
			}
		}
	}()
	var next *pending
	var deferred []*command
	for {
		var out chan *pending // nil (blocks) unless there is a batch to hand over
		if next != nil {
			out = toAppender
		}
		in := e.cmds
		if next != nil && len(next.cmds) >= e.cfg.maxBatch {
			in = nil // full: wait for the appender
		}
		select {
		case out <- next:
			next = nil
		case cmd := <-in:
			cmds := []*command{cmd}
		fill:
			for len(cmds) < e.cfg.maxBatch {
				select {
				case c := <-e.cmds:
					cmds = append(cmds, c)
				default:
					break fill
				}
			}
			var d []*command
			next, d = e.prepare(next, cmds)
			deferred = append(deferred, d...)
		case <-applied:
			// Also when nothing was deferred: the applied batch may have
			// made tasks ready for parked commands.
			retry := deferred
			deferred = nil
			next, deferred = e.prepare(next, retry)
		case <-e.tailKick:
			// Another writer appended (shared.go): prepare folds its
			// events in, then tries what waited.
			retry := deferred
			deferred = nil
			next, deferred = e.prepare(next, retry)
		case <-e.quit:
			if next != nil {
				toAppender <- next
			}
			close(toAppender)
			<-appenderDone
			for _, cmd := range deferred {
				cmd.done <- ErrClosed
			}
			e.mu.Lock()
			e.answerParked(ErrClosed)
			e.mu.Unlock()
			e.drainClosed()
			close(e.stopped)
			return
		}
	}
}

// drainClosed answers commands still queued at Close with ErrClosed.
func (e *Engine) drainClosed() {
	for {
		select {
		case cmd := <-e.cmds:
			cmd.done <- ErrClosed
		default:
			return
		}
	}
}

// prepare validates cmds, and then the parked commands that may proceed,
// against the state and stages their events into b (a new batch when nil).
// Commands that conflict with a reservation are returned to be tried after
// the next apply; commands with nothing to do yet are parked; commands that
// fail validation, or stage nothing, are answered at once. It returns b, or
// nil while b holds no events.
func (e *Engine) prepare(b *pending, cmds []*command) (*pending, []*command) {
	var deferred, noop []*command
	var unsure []answer // answers without an event, on a shared log
	e.mu.Lock()
	if e.needSync || e.behind() {
		if e.inflight > 0 {
			e.mu.Unlock()
			return b, cmds // after the batch in flight is applied
		}
		// The batch being built was validated without the events the
		// sync folds in: its commands are prepared again after it.
		b, cmds = nil, e.discard(b, cmds)
		if err := e.resync(); err != nil {
			e.mu.Unlock()
			err = fmt.Errorf("engine: the log cannot be read to bring the state up to date: %w", err)
			for _, cmd := range cmds {
				cmd.done <- err
			}
			return nil, nil
		}
	}
	if b != nil && b.epoch != e.epoch {
		b, cmds = nil, e.discard(b, cmds)
	}
	if len(e.redo) > 0 {
		// Commands of a batch that lost a conditional append go first:
		// they were accepted before anything still queued.
		cmds = append(e.redo, cmds...)
		e.redo = nil
	}
	now := e.now()
	if !e.reserved[barrier] && e.drainFor == nil {
		// Parked commands first: they have waited longest.
		cmds = append(e.takeParked(events.At(now)), cmds...)
	}
	for _, cmd := range cmds {
		if err := cmd.ctx.Err(); err != nil {
			if cmd == e.drainFor {
				e.drainFor = nil
			}
			cmd.done <- err
			continue
		}
		if e.reserved[barrier] || (e.drainFor != nil && cmd != e.drainFor) {
			// A checkpoint must be the last event of its batch and be
			// applied before anything is validated after it.
			deferred = append(deferred, cmd)
			continue
		}
		tx := &txn{e: e, now: now}
		err := cmd.prepare(tx)
		if e.wantDrain {
			e.wantDrain = false
			if errors.Is(err, errConflict) && e.drainFor == nil {
				e.drainFor = cmd
			}
		}
		if cmd == e.drainFor && !errors.Is(err, errConflict) {
			e.drainFor = nil
		}
		if errors.Is(err, errConflict) {
			tx.rollbackOnly()
			deferred = append(deferred, cmd)
			continue
		}
		if errors.Is(err, errPark) {
			tx.rollbackOnly()
			e.parkOrAnswer(cmd)
			continue
		}
		if err != nil || len(tx.events) == 0 {
			tx.rollbackOnly()
			switch {
			case e.cond != nil && (cmd.atLeast == 0 || e.state.Position() < cmd.atLeast):
				unsure = append(unsure, answer{cmd, err}) // confirmed below
			case err != nil:
				cmd.done <- err
			default:
				noop = append(noop, cmd)
			}
			continue
		}
		for _, id := range tx.reserve.ids {
			e.reserved[id] = true
		}
		if b == nil {
			b = e.newPending()
			b.epoch = e.epoch
		}
		b.events = append(b.events, tx.events...)
		b.cmds = append(b.cmds, cmd)
		b.txns = append(b.txns, tx)
		e.handOff(b, tx)
	}
	if len(unsure) > 0 {
		var later []*command
		noop, later = e.confirm(unsure, noop)
		deferred = append(deferred, later...)
	}
	for _, cmd := range noop {
		if cmd.commit != nil {
			cmd.commit()
		}
	}
	e.mu.Unlock()
	for _, cmd := range noop {
		cmd.done <- nil
	}
	return b, deferred
}

// appendBatch writes one batch, applies it and answers its commands. On a
// shared log (e.cond set) the append is conditional on the head the batch
// was validated against; a batch that loses the race, or that went stale
// before its turn, is undone and its commands are prepared again after the
// state has caught up (prepare), so a command is answered only from a state
// that held every event before its own.
func (e *Engine) appendBatch(b *pending) {
	// Another engine's checkpoint is going in: wait for it (compact_hold.go).
	e.waitHold()
	e.mu.Lock()
	if b.epoch != e.epoch {
		e.redoBatch(b)
		e.mu.Unlock()
		return
	}
	// With nothing in flight before it, the state is exactly what b was
	// validated against: b's own earlier batches are applied, and a fold
	// of anyone else's events would have moved the epoch.
	after := e.state.Position()
	e.inflight = uint64(len(b.events)) // see prepare: no resync while a written batch may be unapplied
	e.mu.Unlock()
	// Appends use their own context: the batch belongs to many callers.
	began := time.Now()
	var first uint64
	var appendErr error
	written := 0 // runs in the log, of a checkpoint in runs
	runs := checkpointRuns(b.events, e.cfg.runs)
	switch {
	case runs != nil:
		first, written, appendErr = e.appendRuns(after, runs)
	case e.cond != nil:
		first, appendErr = e.cond.AppendAt(context.Background(), after, b.events)
	default:
		first, appendErr = e.log.Append(context.Background(), b.events)
	}
	e.cfg.observer.Appended(len(b.events), time.Since(began), appendErr)

	e.mu.Lock()
	e.inflight = 0
	if errors.Is(appendErr, stores.ErrConflict) && runs != nil && written == 0 {
		runs = nil // nothing of b was written: an ordinary conflict, below
	}
	if appendErr != nil && runs != nil {
		// Some runs may be in the log (inert parts), and the last one's
		// outcome may be unknown: fold the log before anything else. The
		// compaction that wrote them reports the error; the next one
		// starts afresh.
		e.needSync = true
		e.fail(b, fmt.Errorf("engine: append %d events in %d runs: %w", len(b.events), len(runs), appendErr))
		return
	}
	if errors.Is(appendErr, stores.ErrConflict) {
		// Another writer appended first: nothing of b was written.
		e.cluster.conflicts.Add(1)
		e.redoBatch(b)
		e.needSync = true
		e.mu.Unlock()
		return
	}
	if errors.Is(appendErr, events.ErrUnencodable) {
		// The store could not encode the batch, so wrote nothing: trying
		// again would fail the same way, for ever. Validation is meant to
		// refuse such values first; this is the backstop.
		e.fail(b, fmt.Errorf("engine: append %d events: %w", len(b.events), appendErr))
		return
	}
	if appendErr != nil && e.cond != nil {
		// A conditional append lands at after+1 or nowhere: one read
		// there tells which, with nothing folded in (the batch being
		// built still holds tasks it took from the ready queues).
		landed, err := e.landed(b, after)
		if err != nil {
			e.needSync = true
			e.fail(b, fmt.Errorf("engine: append %d events: %w (and reading the log back: %v)", len(b.events), appendErr, err))
			return
		}
		if !landed {
			e.redoBatch(b)
			e.needSync = true
			e.mu.Unlock()
			return
		}
		e.cfg.logger.Warn("append reported an error but was written; answering from the log", "err", appendErr)
		first, appendErr = after+1, nil
	}
	var applied map[ulid.ULID]error // the batch's events folded in by settle
	if appendErr != nil {
		written, errs, err := e.settle(b)
		if err != nil || !written {
			if err != nil {
				// Whether the batch was written is unknown until the log
				// can be read: no command is validated before then.
				e.needSync = true
			}
			e.fail(b, fmt.Errorf("engine: append %d events: %w", len(b.events), appendErr))
			return
		}
		e.cfg.logger.Warn("append reported an error but was written; answering from the log", "err", appendErr)
		applied = errs
	} else if first != e.state.Position()+1 {
		// The log holds events this state has not seen: an earlier append
		// of unknown outcome, or (on a shared server log) another writer.
		// The log is the truth: fold them in first.
		if err := e.catchUp(first - 1); err != nil {
			e.needSync = true
			e.fail(b, fmt.Errorf("engine: batch written at %d but the log before it could not be read: %w", first, err))
			return
		}
	}
	answers := make([]error, len(b.cmds))
	pos := first
	for i, tx := range b.txns {
		for j := range tx.events {
			var err error
			if applied != nil {
				err = applied[tx.events[j].ID]
			} else {
				tx.events[j].Position = pos
				pos++
				err = e.state.Apply(tx.events[j])
			}
			if err != nil && answers[i] == nil {
				// Validated against a state that missed events the log
				// holds (an append of unknown outcome, settled by
				// reading the log back): the log decided otherwise.
				answers[i] = fmt.Errorf("%w: %v", ErrLogChanged, err)
				e.cfg.logger.Warn("event did not fit the state", "event", tx.events[j].String(), "err", err)
			}
		}
	}
	for _, tx := range b.txns {
		tx.release()
	}
	for i, cmd := range b.cmds {
		if cmd.commit != nil && answers[i] == nil {
			cmd.commit()
		}
	}
	e.advanced()
	dueSnapshot := e.snapshotDue()
	kick := e.timerLate()
	e.mu.Unlock()
	for i, cmd := range b.cmds {
		cmd.done <- answers[i]
	}
	if kick {
		e.kickTimer()
	}
	if dueSnapshot {
		e.startSnapshot()
	}
}

// fail undoes a batch that did not take effect and answers its commands
// with err. REQUIRES: e.mu held; it is released.
func (e *Engine) fail(b *pending, err error) {
	for _, tx := range b.txns {
		tx.undo()
	}
	e.answerAll(b, err)
}

// answerAll answers every command of b with err. REQUIRES: e.mu held; it
// is released.
func (e *Engine) answerAll(b *pending, err error) {
	e.mu.Unlock()
	e.cfg.logger.Error("batch failed", "events", len(b.events), "err", err)
	for _, cmd := range b.cmds {
		cmd.done <- err
	}
}

// settle decides an append whose outcome is unknown (it reported an error,
// yet the server may have written it): it reads the log past the state's
// position, folds in whatever is there, and reports whether b is among it,
// with the fold's verdict on each of b's events. REQUIRES: e.mu held.
func (e *Engine) settle(b *pending) (written bool, applied map[ulid.ULID]error, err error) {
	ctx := context.Background()
	head, err := e.log.Head(ctx)
	if err != nil {
		return false, nil, err
	}
	ours := make(map[ulid.ULID]bool, len(b.events))
	for _, ev := range b.events {
		ours[ev.ID] = true
	}
	applied = map[ulid.ULID]error{}
	f := folder{st: e.state, next: e.state.Position() + 1}
	err = readPages(ctx, e.log, f.next, head, true, func(page []events.Event) error {
		return f.page(page, func(ev events.Event, aerr error) {
			if ours[ev.ID] {
				written = true
				applied[ev.ID] = aerr
			}
		})
	})
	if err != nil {
		return false, nil, err
	}
	return written, applied, nil
}

// resync folds in the log up to its head before commands are validated:
// after an append whose outcome could not be settled, and on a shared log
// whenever another writer appended. REQUIRES: e.mu held and no batch in
// flight.
func (e *Engine) resync() error {
	for {
		head, err := e.log.Head(context.Background())
		if err != nil {
			return err
		}
		err = e.catchUp(head)
		if errors.Is(err, errSkippedPast) && e.cond != nil {
			// Another node compacted past the head read: read it again.
			continue
		}
		if err != nil {
			return err
		}
		e.needSync = false
		return nil
	}
}

// catchUp applies the log's events after the state's position through to,
// and moves the epoch when there were any (batches being built were
// validated without them). After a gap another writer's compaction left,
// it goes on from the next checkpoint, which holds everything before it.
// REQUIRES: e.mu held.
func (e *Engine) catchUp(to uint64) error {
	from := e.state.Position() + 1
	if from > to {
		return nil
	}
	f := folder{st: e.state, next: from}
	err := readPages(context.Background(), e.log, from, to, true, func(page []events.Event) error {
		return f.page(page, func(ev events.Event, err error) {
			if err != nil {
				e.cfg.logger.Warn("caught-up event did not fit the state", "event", ev.String(), "err", err)
			}
			e.noteCompaction(ev)
		})
	})
	e.epoch++
	if err != nil {
		return err
	}
	if f.seeking {
		return fmt.Errorf("engine: the log starts after position %d with no checkpoint: %w", e.state.Position(), stores.ErrCorrupt)
	}
	n := e.state.Position() - (from - 1)
	e.cluster.caughtUp.Add(n)
	if e.cond == nil {
		e.cfg.logger.Warn("caught up with events the engine had not applied", "through", to)
	}
	e.advanced()
	if e.timerLate() {
		e.kickTimer()
	}
	return nil
}

// rollbackOnly undoes a command that was not accepted; it holds no
// reservation in e.reserved yet.
func (tx *txn) rollbackOnly() {
	for i := len(tx.rollback) - 1; i >= 0; i-- {
		tx.rollback[i]()
	}
}
