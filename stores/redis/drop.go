package redis

import (
	"context"

	"github.com/omniq/omniq/stores"
)

var _ stores.Dropper = (*Log)(nil)

// Drop implements stores.Dropper: it deletes the log's keys and those of its
// presence records (PresenceKeys).
func (l *Log) Drop(ctx context.Context) error {
	if err := l.rdb.Del(ctx, append(l.Keys(), l.PresenceKeys()...)...).Err(); err != nil {
		return interpretError(ctx, "drop", err)
	}
	return nil
}
