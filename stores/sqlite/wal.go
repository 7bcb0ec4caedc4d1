package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// walKeep bounds the WAL file at steady load. SQLite copies the WAL into the
// database after every commit that leaves it past 1000 pages
// (wal_autocheckpoint, on by default), and the next writer starts it over
// from its first byte once a checkpoint has copied all of it and no reader
// still reads from it. Readers that always overlap (a busy tail, several
// processes) keep that restart from happening, and the WAL then grows with
// every append: two readers in a loop took it to 115 MB beside a 4 MB
// database. So the WAL file is cut back to walKeep whenever SQLite restarts
// it (journal_size_limit, set on every connection by dsn), and
// TruncateBefore forces a restart when the WAL file is larger than walKeep.
const walKeep = 8 << 20

// restartWait is how long TruncateBefore's checkpoint waits for readers of
// the WAL to finish. Writers wait as long meanwhile; when readers remain,
// the next truncation tries again.
const restartWait = 100 * time.Millisecond

// restartWAL checkpoints the WAL and empties it (PRAGMA
// wal_checkpoint(TRUNCATE)) when its file is larger than walKeep, waiting up
// to restartWait for its readers. A WAL that stays busy is not an error.
// REQUIRES: wmu held, so that this Log's appends wait on wmu, not in SQLite.
func (l *Log) restartWAL(ctx context.Context) (err error) {
	var path string
	if err := l.db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		return err
	}
	info, err := os.Stat(path + "-wal")
	if errors.Is(err, fs.ErrNotExist) || (err == nil && info.Size() <= walKeep) {
		return nil
	}
	if err != nil {
		return err
	}
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var timeout int64
	if err := conn.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, restartWait.Milliseconds())); err != nil {
		return err
	}
	defer func() {
		if _, rerr := conn.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA busy_timeout = %d`, timeout)); rerr != nil {
			// A pooled connection with the short timeout would fail
			// writes early: have the pool discard it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, rerr)
		}
	}()
	var busy, frames, copied int64
	return conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied)
}
