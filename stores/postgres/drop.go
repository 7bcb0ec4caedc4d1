package postgres

import (
	"context"
	"strings"

	"github.com/omniq/omniq/stores"
)

var _ stores.Dropper = (*Log)(nil)

// Drop implements stores.Dropper: it drops the log's tables, the presence
// table (N_members) included.
func (l *Log) Drop(ctx context.Context) error {
	if l.closed.Load() {
		return stores.ErrClosed
	}
	all := append(l.t.all(), membersTable(l.name))
	if _, err := l.pool.Exec(ctx, `DROP TABLE IF EXISTS `+strings.Join(all, ", ")); err != nil {
		return l.interpretError("drop", err)
	}
	return nil
}
