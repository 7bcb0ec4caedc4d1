package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/omniq/omniq/stores"
)

var _ stores.Presence = (*Log)(nil)

// The presence records of a log named N live in table N_members, one row per
// node, created by the first Announce (not by a migration, so a build that
// predates it still opens the log). Expiry is by the server's clock: expires
// is set from now() and compared with now().

// membersTable is the quoted name of the presence table of the log called name.
func membersTable(name string) string { return pgx.Identifier{name + "_members"}.Sanitize() }

// Announce implements stores.Presence: one upsert. Errors: ErrClosed,
// ErrUnavailable.
func (l *Log) Announce(ctx context.Context, node string, info []byte, ttl time.Duration) error {
	if err := stores.CheckAnnounce(node, info, ttl); err != nil {
		return err
	}
	if l.closed.Load() {
		return fmt.Errorf("postgres: announce: %w", stores.ErrClosed)
	}
	if info == nil {
		info = []byte{} // the column is NOT NULL
	}
	q := `INSERT INTO ` + membersTable(l.name) + ` (node, info, expires)
		VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (node) DO UPDATE SET info = EXCLUDED.info, expires = EXCLUDED.expires`
	_, err := l.pool.Exec(ctx, q, node, info, ttl.Microseconds())
	if isUndefinedTable(err) {
		if err := l.createMembers(ctx); err != nil {
			return err
		}
		_, err = l.pool.Exec(ctx, q, node, info, ttl.Microseconds())
	}
	if err != nil {
		return l.interpretError("announce", err)
	}
	return nil
}

// createMembers creates the presence table. Its transaction holds an advisory
// lock on the name, since concurrent CREATE TABLE IF NOT EXISTS can still
// collide.
func (l *Log) createMembers(ctx context.Context) error {
	return l.lockedTx(ctx, "members", "announce", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+membersTable(l.name)+` (
			node    TEXT COLLATE "C" PRIMARY KEY,
			info    BYTEA            NOT NULL,
			expires TIMESTAMPTZ      NOT NULL
		)`); err != nil {
			return l.interpretError("announce: create members table", err)
		}
		return nil
	})
}

// Members implements stores.Presence. The same statement deletes the
// expired rows, skipping those another transaction holds (an Announce
// renewing one), so it never waits on a lock. Errors: ErrClosed,
// ErrUnavailable.
func (l *Log) Members(ctx context.Context) ([]stores.Member, error) {
	if l.closed.Load() {
		return nil, fmt.Errorf("postgres: members: %w", stores.ErrClosed)
	}
	t := membersTable(l.name)
	rows, err := l.pool.Query(ctx, `WITH gone AS (
			DELETE FROM `+t+` WHERE node IN (SELECT node FROM `+t+` WHERE expires <= now() FOR UPDATE SKIP LOCKED)
		)
		SELECT node, info, expires FROM `+t+` WHERE expires > now() ORDER BY node`)
	var out []stores.Member
	if err == nil {
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (stores.Member, error) {
			var m stores.Member
			err := r.Scan(&m.Node, &m.Info, &m.Expires)
			return m, err
		})
	}
	switch {
	case isUndefinedTable(err):
		return []stores.Member{}, nil // nobody announced yet
	case err != nil:
		return nil, l.interpretError("members", err)
	}
	return out, nil
}

// Leave implements stores.Presence. Errors: ErrClosed, ErrUnavailable.
func (l *Log) Leave(ctx context.Context, node string) error {
	if err := stores.CheckNode(node); err != nil {
		return err
	}
	if l.closed.Load() {
		return fmt.Errorf("postgres: leave: %w", stores.ErrClosed)
	}
	_, err := l.pool.Exec(ctx, `DELETE FROM `+membersTable(l.name)+` WHERE node = $1`, node)
	if err != nil && !isUndefinedTable(err) {
		return l.interpretError("leave", err)
	}
	return nil
}

// isUndefinedTable reports SQLSTATE 42P01: the presence table does not exist
// (nobody announced yet).
func isUndefinedTable(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == "42P01"
}
