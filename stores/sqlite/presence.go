package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/omniq/omniq/stores"
)

var _ stores.Presence = (*Log)(nil)

// The presence records of a log named N live in table N_members, one row per
// node, created by the first Announce (not by a migration, so a build that
// predates it still opens the file). Expiry is in Unix milliseconds by the
// local clock, which every process sharing the file shares too.

// membersTable is the quoted name of the log's presence table.
func (l *Log) membersTable() string { return `"` + l.name + `_members"` }

// Announce implements stores.Presence. Records expired for other nodes are
// deleted in the same transaction. Errors: ErrClosed, ErrReadOnly,
// ErrUnavailable, as for Append.
func (l *Log) Announce(ctx context.Context, node string, info []byte, ttl time.Duration) error {
	if err := stores.CheckAnnounce(node, info, ttl); err != nil {
		return err
	}
	if err := l.writable("announce"); err != nil {
		return err
	}
	if info == nil {
		info = []byte{} // the column is NOT NULL
	}
	now := time.Now()
	l.wmu.Lock()
	err := l.announceTx(ctx, node, info, now.UnixMilli(), now.Add(ttl).UnixMilli())
	l.wmu.Unlock()
	if err != nil {
		return l.writeError("announce", err)
	}
	return nil
}

// announceTx writes node's row and deletes the rows expired at now.
// REQUIRES: wmu held.
func (l *Log) announceTx(ctx context.Context, node string, info []byte, now, expires int64) error {
	t := l.membersTable()
	tx, err := l.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsn
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+t+` (
			node    TEXT    PRIMARY KEY,
			info    BLOB    NOT NULL,
			expires INTEGER NOT NULL
		) STRICT`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE expires <= ? AND node <> ?`, now, node); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+t+` (node, info, expires) VALUES (?, ?, ?)
			ON CONFLICT (node) DO UPDATE SET info = excluded.info, expires = excluded.expires`,
		node, info, expires); err != nil {
		return err
	}
	return tx.Commit()
}

// Members implements stores.Presence. Errors: ErrClosed, ErrUnavailable.
func (l *Log) Members(ctx context.Context) ([]stores.Member, error) {
	if l.closed.Load() {
		return nil, fmt.Errorf("sqlite: members: %w", stores.ErrClosed)
	}
	rows, err := l.db.QueryContext(ctx, `SELECT node, info, expires FROM `+l.membersTable()+`
		WHERE expires > ? ORDER BY node`, time.Now().UnixMilli())
	if err != nil {
		if missing, err2 := l.noMembersTable(ctx); err2 == nil && missing {
			return []stores.Member{}, nil // nobody announced yet
		}
		return nil, l.interpretError("members", false, err)
	}
	defer rows.Close()
	out := []stores.Member{}
	for rows.Next() {
		var m stores.Member
		var expires int64
		if err := rows.Scan(&m.Node, &m.Info, &expires); err != nil {
			return nil, l.interpretError("members", false, err)
		}
		m.Expires = time.UnixMilli(expires)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, l.interpretError("members", false, err)
	}
	return out, nil
}

// noMembersTable reports whether the presence table does not exist yet.
func (l *Log) noMembersTable(ctx context.Context) (bool, error) {
	var n int
	err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`,
		l.name+"_members").Scan(&n)
	return n == 0, err
}

// Leave implements stores.Presence. Errors: ErrClosed, ErrReadOnly,
// ErrUnavailable, as for Append.
func (l *Log) Leave(ctx context.Context, node string) error {
	if err := stores.CheckNode(node); err != nil {
		return err
	}
	if err := l.writable("leave"); err != nil {
		return err
	}
	l.wmu.Lock()
	_, err := l.db.ExecContext(ctx, `DELETE FROM `+l.membersTable()+` WHERE node = ?`, node)
	l.wmu.Unlock()
	if err != nil {
		if missing, err2 := l.noMembersTable(ctx); err2 == nil && missing {
			return nil // nobody announced yet
		}
		return l.writeError("leave", err)
	}
	return nil
}
