package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omniq/omniq/events"
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
}

// txn collects one command's events and the undo steps to run if the batch
// holding them fails to append.
type txn struct {
	e        *Engine
	now      time.Time
	events   []events.Event
	reserve  map[string]bool // task ids this command touches
	parent   *txn            // for a nested txn (see sub): its parent's reservations count as taken
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
func (tx *txn) hold(id string) {
	if tx.reserve == nil {
		tx.reserve = map[string]bool{}
	}
	tx.reserve[id] = true
}

func (tx *txn) has(id string) bool { return tx.reserve[id] }

// sub starts a nested transaction whose events and reservations join tx
// (merge) only if it stages without conflict.
func (tx *txn) sub() *txn { return &txn{e: tx.e, now: tx.now, parent: tx} }

func (tx *txn) merge(sub *txn) {
	tx.events = append(tx.events, sub.events...)
	for id := range sub.reserve {
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
	for id := range tx.reserve {
		delete(tx.e.reserved, id)
	}
}

// submit sends a command to the committer and waits for its answer. When ctx
// ends first, submit returns ctx.Err() and the command's outcome is unknown
// to the caller (it may still be written).
func (e *Engine) submit(ctx context.Context, prepare func(tx *txn) error, commit func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cmd := &command{ctx: ctx, prepare: prepare, commit: commit, done: make(chan error, 1)}
	select {
	case e.cmds <- cmd:
	case <-e.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-cmd.done:
		return err
	case <-ctx.Done():
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

// commitLoop is the single writer (DESIGN.md invariant 4).
func (e *Engine) commitLoop() {
	defer e.done.Done()
	var deferred []*command
	for {
		var batch []*command
		if len(deferred) > 0 {
			batch, deferred = deferred, nil
		} else {
			select {
			case cmd := <-e.cmds:
				batch = append(batch, cmd)
			case <-e.quit:
				e.drainClosed()
				close(e.stopped)
				return
			}
		}
	fill:
		for len(batch) < e.cfg.maxBatch {
			select {
			case cmd := <-e.cmds:
				batch = append(batch, cmd)
			default:
				break fill
			}
		}
		deferred = e.runBatch(batch)
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

// runBatch prepares, appends and applies one batch, answering its commands.
// It returns the commands that conflicted and must go into the next batch.
func (e *Engine) runBatch(batch []*command) (deferred []*command) {
	e.mu.Lock()
	now := e.now()
	var (
		staged   []events.Event
		accepted []*command
		txns     []*txn
	)
	for _, cmd := range batch {
		if err := cmd.ctx.Err(); err != nil {
			cmd.done <- err
			continue
		}
		tx := &txn{e: e, now: now}
		err := cmd.prepare(tx)
		if errors.Is(err, errConflict) {
			tx.rollbackOnly()
			deferred = append(deferred, cmd)
			continue
		}
		if err != nil {
			tx.rollbackOnly()
			cmd.done <- err
			continue
		}
		for id := range tx.reserve {
			e.reserved[id] = true
		}
		staged = append(staged, tx.events...)
		accepted = append(accepted, cmd)
		txns = append(txns, tx)
	}
	e.mu.Unlock()
	if len(staged) == 0 {
		for _, cmd := range accepted {
			e.finish(cmd, nil)
		}
		return deferred
	}

	// Appends use their own context: the batch belongs to many callers.
	began := time.Now()
	first, appendErr := e.log.Append(context.Background(), staged)
	e.cfg.observer.Appended(len(staged), time.Since(began), appendErr)

	e.mu.Lock()
	if appendErr != nil {
		for _, tx := range txns {
			tx.undo()
		}
		e.mu.Unlock()
		err := fmt.Errorf("engine: append %d events: %w", len(staged), appendErr)
		e.cfg.logger.Error("append failed", "events", len(staged), "err", appendErr)
		for _, cmd := range accepted {
			cmd.done <- err
		}
		return deferred
	}
	for i := range staged {
		staged[i].Position = first + uint64(i)
		if err := e.state.Apply(staged[i]); err != nil {
			// The committer validated every event against this state, so a
			// rejected event is a bug; the log still decides, as on replay.
			e.cfg.logger.Error("applied event did not fit the state", "event", staged[i].String(), "err", err)
		}
	}
	for _, tx := range txns {
		tx.release()
	}
	for _, cmd := range accepted {
		if cmd.commit != nil {
			cmd.commit()
		}
	}
	e.signalReady()
	dueSnapshot := e.cfg.snapshotEvery > 0 && e.state.Position()-e.snapshotAt >= e.cfg.snapshotEvery
	e.mu.Unlock()
	for _, cmd := range accepted {
		cmd.done <- nil
	}
	e.kickTimer()
	if dueSnapshot {
		if err := e.saveSnapshot(context.Background()); err != nil {
			e.cfg.logger.Warn("periodic snapshot failed", "err", err)
		}
	}
	return deferred
}

// finish answers a command that staged no events.
func (e *Engine) finish(cmd *command, err error) {
	if err == nil && cmd.commit != nil {
		e.mu.Lock()
		cmd.commit()
		e.mu.Unlock()
	}
	cmd.done <- err
}

// rollbackOnly undoes a command that was not accepted; it holds no
// reservation in e.reserved yet.
func (tx *txn) rollbackOnly() {
	for i := len(tx.rollback) - 1; i >= 0; i-- {
		tx.rollback[i]()
	}
}
