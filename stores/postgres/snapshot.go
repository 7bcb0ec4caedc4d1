package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/omniq/omniq/stores"
)

// SaveSnapshot implements stores.SnapshotStore: the snapshot row is replaced
// in one statement, so a reader sees the old snapshot or the new one, never a
// mix. Errors: ErrClosed, ErrUnavailable.
func (l *Log) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	if l.closed.Load() {
		return fmt.Errorf("postgres: save snapshot: %w", stores.ErrClosed)
	}
	if position > math.MaxInt64 {
		return fmt.Errorf("postgres: save snapshot: position %d out of range", position)
	}
	if data == nil {
		data = []byte{} // the column is NOT NULL; an empty snapshot is still a snapshot
	}
	if _, err := l.pool.Exec(ctx, l.q.saveSnapshot, int64(position), data); err != nil {
		return l.interpretError("save snapshot", err)
	}
	return nil
}

// LoadSnapshot implements stores.SnapshotStore. Errors: ErrNoSnapshot,
// ErrClosed, ErrUnavailable.
func (l *Log) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	if l.closed.Load() {
		return 0, nil, fmt.Errorf("postgres: load snapshot: %w", stores.ErrClosed)
	}
	var pos int64
	var data []byte
	if err := l.pool.QueryRow(ctx, l.q.loadSnapshot).Scan(&pos, &data); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, fmt.Errorf("postgres: load snapshot: %w", stores.ErrNoSnapshot)
		}
		return 0, nil, l.interpretError("load snapshot", err)
	}
	if data == nil {
		data = []byte{}
	}
	return uint64(pos), data, nil
}
