package redis

import (
	"context"
	"fmt"
	"strconv"

	"github.com/omniq/omniq/stores"
)

// SaveSnapshot implements stores.SnapshotStore: one HSET replaces position and
// data together.
func (l *Log) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	if l.closed.Load() {
		return stores.ErrClosed
	}
	if data == nil {
		data = []byte{}
	}
	err := l.rdb.HSet(ctx, l.snapKey, "pos", strconv.FormatUint(position, 10), "data", data).Err()
	return interpretError(ctx, "save snapshot", err)
}

// LoadSnapshot implements stores.SnapshotStore. Errors: stores.ErrNoSnapshot,
// stores.ErrClosed, stores.ErrCorrupt, stores.ErrUnavailable.
func (l *Log) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	if l.closed.Load() {
		return 0, nil, stores.ErrClosed
	}
	vals, err := l.rdb.HMGet(ctx, l.snapKey, "pos", "data").Result()
	if err != nil {
		return 0, nil, interpretError(ctx, "load snapshot", err)
	}
	if len(vals) != 2 || vals[0] == nil {
		return 0, nil, stores.ErrNoSnapshot
	}
	posStr, ok1 := vals[0].(string)
	data, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return 0, nil, fmt.Errorf("redis: load snapshot: %w: missing field", stores.ErrCorrupt)
	}
	pos, err := strconv.ParseUint(posStr, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("redis: load snapshot: position %q: %w", posStr, stores.ErrCorrupt)
	}
	return pos, []byte(data), nil
}
