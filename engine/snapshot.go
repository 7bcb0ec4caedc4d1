package engine

import (
	"context"
	"fmt"

	"github.com/omniq/omniq/stores"
)

// saveSnapshot writes the current state when the log keeps snapshots and the
// state moved since the last one. REQUIRES: no background write is in flight
// (Close calls it once snapWrites is done).
func (e *Engine) saveSnapshot(ctx context.Context) error {
	ss, ok := e.log.(stores.SnapshotStore)
	if !ok {
		return nil
	}
	pos, n, data, err := e.encodeSnapshot()
	if err != nil || data == nil {
		return err
	}
	return e.writeSnapshot(ctx, ss, pos, n, data)
}

// encodeSnapshot encodes the state under the read lock, and says how many
// tasks it holds; data is nil when the state has not moved since the last
// snapshot written.
func (e *Engine) encodeSnapshot() (pos uint64, n int, data []byte, err error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	pos = e.state.Position()
	if pos == e.snapshotAt {
		return pos, 0, nil, nil
	}
	data, err = e.state.Snapshot()
	if err != nil {
		return pos, 0, nil, fmt.Errorf("engine: snapshot at %d: %w", pos, err)
	}
	return pos, e.state.Len(), data, nil
}

func (e *Engine) writeSnapshot(ctx context.Context, ss stores.SnapshotStore, pos uint64, n int, data []byte) error {
	if err := ss.SaveSnapshot(ctx, pos, data); err != nil {
		return fmt.Errorf("engine: save snapshot at %d: %w", pos, err)
	}
	e.mu.Lock()
	if pos > e.snapshotAt {
		e.snapshotAt, e.snapshotN = pos, n
	}
	e.mu.Unlock()
	e.cfg.logger.Debug("snapshot saved", "position", pos, "bytes", len(data))
	return nil
}

// snapshotDue reports whether a periodic snapshot is due: at least
// snapshotEvery events since the last one, and at least as many as it held
// tasks. A snapshot encodes every task the state holds, so the second bound
// keeps the work of snapshots at about one task's encoding per event however
// large the state grows (retention keeps millions of ended tasks for days);
// without it, a state of three million tasks was encoded whole every few
// seconds at full load. Open then replays at most about as many events as
// the snapshot it starts from holds tasks, and a state that only grows is
// saved at doubling positions. REQUIRES: e.mu held.
func (e *Engine) snapshotDue() bool {
	if e.cfg.snapshotEvery == 0 {
		return false
	}
	since := e.state.Position() - e.snapshotAt
	return since >= e.cfg.snapshotEvery && since >= uint64(e.snapshotN)
}

// startSnapshot encodes the state and hands the bytes to a background write,
// so that the committer does not wait for the store. At most one write is in
// flight: while one is, a due snapshot is skipped (the next batch finds it
// due again once the write is done). Called by the committer only.
func (e *Engine) startSnapshot() {
	ss, ok := e.log.(stores.SnapshotStore)
	if !ok || !e.snapBusy.CompareAndSwap(false, true) {
		return
	}
	pos, n, data, err := e.encodeSnapshot()
	if err != nil || data == nil {
		e.snapBusy.Store(false)
		if err != nil {
			e.snapshotFailed(pos, err)
		}
		return
	}
	e.snapWrites.Add(1)
	go func() {
		defer e.snapWrites.Done()
		defer e.snapBusy.Store(false)
		if err := e.writeSnapshot(context.Background(), ss, pos, n, data); err != nil {
			e.snapshotFailed(pos, err)
		}
	}()
}

// snapshotFailed logs a periodic snapshot that could not be made and puts
// the next try one interval later: otherwise every batch would encode the
// whole state again while the store keeps refusing it. The snapshot is a
// cache; Close tries again if the state moved.
func (e *Engine) snapshotFailed(pos uint64, err error) {
	e.cfg.logger.Warn("periodic snapshot failed; the next one is due an interval later", "position", pos, "err", err)
	e.mu.Lock()
	if pos > e.snapshotAt {
		e.snapshotAt = pos
	}
	e.mu.Unlock()
}
