package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/omniq/omniq/stores"
)

// SaveSnapshot implements stores.SnapshotStore: it replaces the snapshot key
// with position and data, synced like an Append (snapshots are rare, and a
// caller may rely on one to skip a replay). Errors: stores.ErrClosed,
// ctx.Err(), or a Pebble error via interpretError.
func (l *Log) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	l.life.RLock()
	defer l.life.RUnlock()
	if l.closed {
		return fmt.Errorf("pebble: save snapshot: %w", stores.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	v := make([]byte, 8+len(data))
	binary.BigEndian.PutUint64(v, position)
	copy(v[8:], data)
	return interpretError("save snapshot", l.db.Set(snapshotKey, v, pdb.Sync))
}

// LoadSnapshot implements stores.SnapshotStore. It returns a copy of the data.
// Errors: stores.ErrNoSnapshot, stores.ErrClosed, ctx.Err(), stores.ErrCorrupt
// when the stored value is too short to hold a position.
func (l *Log) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	l.life.RLock()
	defer l.life.RUnlock()
	if l.closed {
		return 0, nil, fmt.Errorf("pebble: load snapshot: %w", stores.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	v, closer, err := l.db.Get(snapshotKey)
	if err != nil {
		return 0, nil, interpretError("load snapshot", err)
	}
	defer closer.Close()
	if len(v) < 8 {
		return 0, nil, fmt.Errorf("pebble: load snapshot: %w: %d-byte value is shorter than a position", stores.ErrCorrupt, len(v))
	}
	// v belongs to Pebble only until closer.Close.
	return binary.BigEndian.Uint64(v), bytes.Clone(v[8:]), nil
}
