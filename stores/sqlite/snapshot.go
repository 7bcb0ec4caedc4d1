package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/omniq/omniq/stores"
)

// SaveSnapshot implements stores.SnapshotStore: the snapshot row is replaced
// in one statement, so a reader sees the old snapshot or the new one, never a
// mix. It is as durable as an append. Errors: ErrClosed, ErrReadOnly,
// ErrUnavailable.
func (l *Log) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	if err := l.writable("save snapshot"); err != nil {
		return err
	}
	if position > math.MaxInt64 {
		return fmt.Errorf("sqlite: save snapshot: position %d out of range", position)
	}
	if data == nil {
		data = []byte{} // the column is NOT NULL; an empty snapshot is still a snapshot
	}
	l.wmu.Lock()
	_, err := l.db.ExecContext(ctx, l.q.saveSnapshot, int64(position), data)
	l.wmu.Unlock()
	if err != nil {
		return l.writeError("save snapshot", err)
	}
	return nil
}

// LoadSnapshot implements stores.SnapshotStore. Errors: ErrNoSnapshot,
// ErrClosed, ErrUnavailable.
func (l *Log) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	if l.closed.Load() {
		return 0, nil, fmt.Errorf("sqlite: load snapshot: %w", stores.ErrClosed)
	}
	var pos int64
	var data []byte
	if err := l.db.QueryRowContext(ctx, l.q.loadSnapshot).Scan(&pos, &data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, fmt.Errorf("sqlite: load snapshot: %w", stores.ErrNoSnapshot)
		}
		return 0, nil, l.interpretError("load snapshot", false, err)
	}
	if data == nil {
		data = []byte{}
	}
	return uint64(pos), data, nil
}
